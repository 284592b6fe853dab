# examples/data_parallel.py: data-parallel training from Python. Run as torchrun would with
#   python -m tessera.distributed.run --nproc-per-node 2 examples/data_parallel.py
# (gloo over TCP), or with mpiexec -n 2 python examples/data_parallel.py (MPI; as root, with
# OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 set).
import os

import tessera as ts
import tessera.distributed as dist
from tessera import nn

dist.init_process_group("gloo" if "MASTER_ADDR" in os.environ else "mpi")  # the launcher sets MASTER_ADDR
rank, world = dist.get_rank(), dist.get_world_size()

ts.manual_seed(0)  # the same data on every rank; the loader takes this rank's shard
x = ts.randn(1024, 2)
y = (x[:, 0] * x[:, 1] > 0).long()
loader = ts.data.DataLoader(ts.data.TensorDataset(x, y), batch_size=32, shuffle=True, seed=1,
                            num_replicas=world, rank=rank)

model = dist.DistributedDataParallel(nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2)))
opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for epoch in range(10):
    correct = ts.zeros(1, dtype=ts.float64)
    for xb, yb in loader:
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()  # gradients are averaged over the ranks here
        opt.step()
        correct += (model(xb).argmax(1) == yb).sum().double()
    dist.all_reduce(correct)  # every rank's count
if rank == 0:
    print(f"{world} processes: accuracy in the last epoch {correct.item() / (len(loader) * 32 * world):.3f}")
