#!/usr/bin/env python3
"""Per-op overhead from Python: `a + b` on one-element tensors, tessera against PyTorch in the
same run (best of 5 rounds of 200k calls each). Prints one JSON line.

  PYTHONPATH=build/python .venv/bin/python bench/python_overhead.py
"""
import json
import timeit

import tessera as ts
import torch

torch.set_num_threads(1)
ts.set_num_threads(1)
a, b = ts.ones(1), ts.ones(1)
pa, pb = torch.ones(1), torch.ones(1)
n = 200_000
ours = min(timeit.repeat(lambda: a + b, number=n, repeat=5)) / n * 1e6
theirs = min(timeit.repeat(lambda: pa + pb, number=n, repeat=5)) / n * 1e6
print(json.dumps({"workload": "python_add_1elem", "tessera_us": round(ours, 3), "torch_us": round(theirs, 3),
                  "ratio": round(ours / theirs, 3), "torch": torch.__version__}))
