"""Training functions the Distributor tests send to their processes (module level, so plain
pickle finds them by name; test_distributed.py runs them locally, tests_spark/ in Spark tasks)."""
import os

import numpy as np


def data(n=16):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, 3))
    return x, x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(n)


def train_linear(x, y, steps, distributed=True):
    """Full-batch SGD on a linear model: with distributed=True each rank trains on its half of
    (x, y) under DistributedDataParallel (float64), else one process on all of it. Returns the
    weights and what the process saw of its environment."""
    import tessera as ts
    import tessera.distributed as dist
    rank, world = 0, 1
    if distributed:
        dist.init_process_group("gloo", timeout=60)
        rank, world = dist.get_rank(), dist.get_world_size()
    n = len(x) // world
    xs, ys = ts.tensor(x[rank * n:(rank + 1) * n]), ts.tensor(y[rank * n:(rank + 1) * n])
    ts.manual_seed(0)
    model = ts.nn.Linear(3, 1).double()
    if distributed:
        model = dist.DistributedDataParallel(model)
    opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    for _ in range(steps):
        opt.zero_grad()
        ((model(xs).squeeze(1) - ys) ** 2).mean().backward()
        opt.step()
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    seen = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR")}
    if distributed:
        dist.destroy_process_group()
    return weights, seen


def fail_on_rank(rank_to_fail):
    import tessera.distributed as dist
    dist.init_process_group("gloo", timeout=30)
    if dist.get_rank() == rank_to_fail:
        raise ValueError(f"rank {rank_to_fail} gives up")
    import tessera as ts
    dist.all_reduce(ts.ones(1))  # the others wait here until the job is ended
    return "done"


def secondary_failure_first():
    """Rank 0 fails at once with what a collective says when a peer is gone; rank 1, the cause,
    fails a moment later: the Distributor must report rank 1."""
    import time
    if os.environ["RANK"] == "0":
        raise RuntimeError("dist.all_reduce (gloo, rank 0): Connection closed by peer (another process of the job "
                           "failed, or the timeout passed)")
    time.sleep(1.0)
    raise ValueError("the cause")
