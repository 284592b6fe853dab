#!/usr/bin/env python3
"""DistributedDataParallel with and without gradient buckets (issue 16): two processes on this
machine over gloo, the same model and data; time per training step (forward, backward with the
gradient averaging, SGD step) with bucket_cap_mb=0 (each gradient averaged when it arrives, on
the backward thread) and with buckets (averaged on a communication thread while backward goes
on), and a check that both end with the same parameters.

  python -m tessera.distributed.run --nproc-per-node 2 --master-port 0 bench/ddp_overlap.py [--threads 1]
"""
import argparse
import statistics
import time

import tessera as ts
import tessera.distributed as dist
from tessera import nn

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--steps", type=int, default=12)
args = ap.parse_args()
ts.set_num_threads(args.threads)
dist.init_process_group("gloo")
rank = dist.get_rank()


def run(cap):
    ts.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(),
                          nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=cap)
    opt = ts.optim.SGD(ddp.parameters(), lr=0.01)
    ts.manual_seed(1 + rank)
    x, y = ts.randn(64, 512), ts.randint(0, 10, (64,))
    times = []
    for _ in range(args.steps):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:]) * 1e3, [p.clone() for p in model.parameters()]


results = {}
for cap in (0, 25, 0, 25):  # alternating rounds
    ms, params = run(cap)
    results.setdefault(cap, []).append(ms)
    results.setdefault(f"params{cap}", params)
same = all(ts.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(results["params0"], results["params25"]))
if rank == 0:
    a, b = min(results[0]), min(results[25])
    print(f"model 9.5M parameters (38 MB of gradients), batch 64 per rank, {args.threads} thread(s) per rank")
    print(f"| DDP | ms per step (median, best of 2 rounds) |\n|---|---:|")
    print(f"| bucket_cap_mb=0 (each gradient averaged on arrival) | {a:.1f} |")
    print(f"| bucket_cap_mb=25 (buckets on a communication thread) | {b:.1f} |")
    print(f"ratio {b / a:.2f}; same parameters after the steps: {same}")
assert same
