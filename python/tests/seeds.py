"""The tests' random inputs come from one seed: fixed by default, so that a run (CI's above all)
can be repeated exactly; TESSERA_TEST_SEED=N draws others (the seed is printed in pytest's
header)."""
import os

import numpy as np

SEED = int(os.environ.get("TESSERA_TEST_SEED", "0"))


def rng():
    return np.random.default_rng(SEED)
