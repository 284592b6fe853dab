"""tessera.distributed from Python, run by ctest as `mpiexec -n 2 python dist_worker.py`: every
rank checks the collectives, the sharded DataLoader, and that DistributedDataParallel on half
batches takes the same steps as one process on the whole batch (float64)."""
import contextlib
import os

import numpy as np
import tessera as ts
import tessera.distributed as dist
from tessera import nn

dist.init_process_group(os.environ.get("TESSERA_TEST_DIST_BACKEND", "mpi"))
rank, world = dist.get_rank(), dist.get_world_size()
assert world == 2, f"run under mpiexec -n 2 (world size {world})"

t = ts.tensor([1.0 + rank, 10.0 * (rank + 1)], dtype=ts.float64)
dist.all_reduce(t)
assert t.tolist() == [3.0, 30.0], t
a = ts.tensor([1.0 + rank, 3.0])
dist.all_reduce(a, dist.ReduceOp.AVG)
assert a.tolist() == [1.5, 3.0], a
b = ts.full((2,), float(rank + 5))
dist.broadcast(b, src=1)
assert b.tolist() == [6.0, 6.0], b
parts = dist.all_gather([], ts.tensor([rank]))
assert [p.tolist() for p in parts] == [[0], [1]], parts
msg = ts.zeros(3, dtype=ts.float64)
if rank == 0:
    dist.send(ts.tensor([1.0, 2.0, 3.0], dtype=ts.float64), dst=1, tag=4)
else:
    assert dist.recv(msg, src=0, tag=4) == 0 and msg.tolist() == [1.0, 2.0, 3.0], msg
out = ts.zeros(2)
dist.reduce_scatter(out, [ts.full((2,), 1.0 + rank), ts.full((2,), 10.0 * (1 + rank))])
assert out.tolist() == ([3.0, 3.0] if rank == 0 else [30.0, 30.0]), out

x = ts.arange(10).float().reshape(10, 1)
loader = ts.data.DataLoader(ts.data.TensorDataset(x, ts.arange(10)), batch_size=2, shuffle=True, seed=3,
                            num_workers=0, num_replicas=world, rank=rank)
mine = [int(v) for _, yb in loader for v in yb.tolist()]
both = dist.all_gather([], ts.tensor(mine))
assert sorted(both[0].tolist() + both[1].tolist()) == list(range(10)), both


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(ts.tanh(self.fc1(x)))


ts.manual_seed(100 + rank)  # different starts: DDP must broadcast rank 0's weights
net = Net().double()
ddp = dist.DistributedDataParallel(net)
assert list(ddp.state_dict().keys())[0].startswith("module.")
ref = Net().double()
ref.load_state_dict(net.state_dict())
rng = np.random.default_rng(7)  # the same data on both ranks
xs = ts.tensor(rng.standard_normal((8, 6)))
ys = ts.tensor(rng.integers(0, 3, 8))


def steps_match(opt, ref_opt, steps, what):
    """steps on this rank's half batch (DDP) and on the whole batch (one process): equal weights."""
    for _ in range(steps):
        for o, model, xb, yb in ((opt, ddp, xs[4 * rank:4 * rank + 4], ys[4 * rank:4 * rank + 4]),
                                 (ref_opt, ref, xs, ys)):
            o.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            o.step()
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-10, atol=1e-12, err_msg=what + name)


steps_match(ts.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9), ts.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9),
            5, "")
for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
    hi, lo = p.clone(), p.clone()
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    assert (hi - lo).abs().max().item() == 0, name
# no_sync(): two micro-batches accumulated locally, the third synced = one process accumulating
# all three whole micro-batches.
for model in (ddp, ref):
    model.zero_grad()
for m in range(3):
    xm, ym = xs * (m + 1), ys  # three different micro-batches
    with ddp.no_sync() if m < 2 else contextlib.nullcontext():
        nn.functional.cross_entropy(ddp(xm[4 * rank:4 * rank + 4]), ym[4 * rank:4 * rank + 4]).backward()
    nn.functional.cross_entropy(ref(xm), ym).backward()
for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg="no_sync " + name)
# ZeRO-1 over the same model: equal to the unsharded optimizer, state consolidated.
from tessera.distributed.optim import ZeroRedundancyOptimizer  # noqa: E402

zero = ZeroRedundancyOptimizer(ddp.parameters(), ts.optim.Adam, lr=0.01)
plain = ts.optim.Adam(ref.parameters(), lr=0.01)
assert 0 < len([i for i in range(4) if zero.owner(i) == rank]) < 4
steps_match(zero, plain, 3, "ZeRO ")
zero.consolidate_state_dict()
got, want = zero.state_dict(), plain.state_dict()
assert sorted(got["state"]) == sorted(want["state"])
for i in want["state"]:
    for k, v in want["state"][i].items():
        g = got["state"][i][k]
        assert g == v if k == "step" else np.allclose(g.numpy(), v.numpy(), rtol=1e-10, atol=1e-12), (i, k)
zero.load_state_dict(want)
# find_unused_parameters: a layer the forward skips keeps no gradient; the others are averaged.


class Skips(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.skipped = nn.Linear(6, 3), nn.Linear(6, 3)

    def forward(self, x):
        return self.used(x)


skips = dist.DistributedDataParallel(Skips(), find_unused_parameters=True)
for _ in range(2):
    skips.zero_grad()
    skips(xs.float()[4 * rank:4 * rank + 4]).pow(2).sum().backward()
    assert skips.module.skipped.weight.grad is None
    g = skips.module.used.weight.grad.clone()
    hi, lo = g.clone(), g.clone()
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    assert (hi - lo).abs().max().item() == 0
print(f"rank {rank}: ok")
