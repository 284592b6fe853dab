"""Data-parallel training over MPI, with torch.distributed's names:

    import tessera.distributed as dist
    dist.init_process_group("mpi")
    model = dist.DistributedDataParallel(model)
    loader = tessera.data.DataLoader(data, batch_size=64, shuffle=True,
                                     num_replicas=dist.get_world_size(), rank=dist.get_rank())

then `mpiexec -n 4 python train.py`. See docs/distributed.md.
"""
from . import _tessera
from . import nn as _nn

_D = _tessera._dist
built_with_mpi = _D.built_with_mpi
init_process_group = _D.init_process_group
is_initialized = _D.is_initialized
get_rank = _D.get_rank
get_world_size = _D.get_world_size
barrier = _D.barrier


class ReduceOp:
    SUM, AVG, MAX, MIN = "sum", "avg", "max", "min"


def all_reduce(tensor, op=ReduceOp.SUM):
    """In place on every rank: tensor becomes the reduction of every rank's tensor."""
    _D.all_reduce(tensor, op)


def broadcast(tensor, src=0):
    """In place: tensor becomes rank src's tensor on every rank."""
    _D.broadcast(tensor, src)


def all_gather(tensor_list, tensor):
    """Fills tensor_list (torch's form) with every rank's tensor, in rank order, and returns it."""
    parts = _D.all_gather(tensor)
    tensor_list[:] = parts
    return tensor_list


class DistributedDataParallel(_nn.Module):
    """Wraps module (Python or C++): copies rank 0's parameters and buffers to every rank, then
    averages each parameter's gradient over the group as backward produces it. Every rank must
    run the same model on its batch; state_dict keys are module.<name>, as in PyTorch."""

    def __init__(self, module):
        super().__init__()
        if not is_initialized():
            raise RuntimeError("DistributedDataParallel: call tessera.distributed.init_process_group first")
        self.module = module
        _D.broadcast_state(list(module.state_dict().items()))
        _D.average_gradients_in_backward([p for p in module.parameters()])

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
