"""tessera.spark.Distributor in Spark (local[2]: two executor slots on this machine), as
TorchDistributor runs there: barrier-mode tasks that meet through the barrier context and train
over gloo. Needs PySpark and a Java runtime: `make test-spark` installs them (they are not part of
`make test`: PySpark's wheel alone is about 300 MB) and runs this file and
examples/spark_data_parallel.py."""
import os
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "tests")
sys.path.insert(0, TESTS)
# The Spark tasks run this interpreter, and import the jobs module as the driver does.
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYTHONPATH"] = os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])

from distributor_jobs import data, fail_on_rank, secondary_failure_first, train_linear  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from tessera.spark import Distributor  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    s = SparkSession.builder.master("local[2]").appName("tessera-tests").config("spark.ui.enabled", "false") \
        .getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def test_barrier_tasks_train_like_one_process(spark):
    x, y = data()
    (w, b), seen = Distributor(num_processes=2, local_mode=False, spark=spark).run(train_linear, x, y, 20)
    (w1, b1), _ = train_linear(x, y, 20, distributed=False)
    np.testing.assert_allclose(w, w1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, b1, rtol=1e-10, atol=1e-12)
    # torchrun's variables, from the barrier context (both tasks on this host: local ranks 0 and 1)
    assert seen["RANK"] == "0" and seen["WORLD_SIZE"] == "2" and seen["LOCAL_WORLD_SIZE"] == "2"


def test_closures_travel_with_cloudpickle(spark):
    offset = 5.0

    def job():
        import tessera as ts
        import tessera.distributed as dist
        dist.init_process_group("gloo", timeout=60)
        t = ts.tensor([float(dist.get_rank()) + offset])
        dist.all_reduce(t)
        return t.item()
    assert Distributor(num_processes=2, local_mode=False, spark=spark).run(job) == 11.0


def test_a_failing_task_names_its_rank(spark):
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="rank 1 of 2 failed: ValueError: rank 1 gives up"):
        Distributor(num_processes=2, local_mode=False, spark=spark).run(fail_on_rank, 1)
    assert time.monotonic() - t0 < 25  # the other task is ended with the stage, not left to its timeout


def test_the_failing_rank_is_reported_not_its_peers_echo(spark):
    with pytest.raises(RuntimeError, match="rank 1 of 2 failed: ValueError: the cause"):
        Distributor(num_processes=2, local_mode=False, spark=spark).run(secondary_failure_first)


def test_more_processes_than_slots_is_refused(spark):
    with pytest.raises(RuntimeError, match="3 processes need 3 task slots at once .* has 2"):
        Distributor(num_processes=3, local_mode=False, spark=spark).run(fail_on_rank, 9)
