"""Data-parallel training across processes, with torch.distributed's names. Over gloo (TCP),
started by ``tessera run`` / ``python -m tessera.distributed.run`` as by torchrun:

    import tessera.distributed as dist
    dist.init_process_group("gloo")           # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    model = dist.DistributedDataParallel(model)
    loader = tessera.data.DataLoader(data, batch_size=64, shuffle=True,
                                     num_replicas=dist.get_world_size(), rank=dist.get_rank())

then ``python -m tessera.distributed.run --nproc-per-node 4 train.py``; or over MPI
(``init_process_group("mpi")`` and ``mpiexec -n 4 python train.py``). See docs/distributed.md.
"""
import contextlib as _contextlib
import datetime as _datetime

from .. import _tessera
from .. import nn as _nn

_D = _tessera._dist
built_with_mpi = _D.built_with_mpi
built_with_gloo = _D.built_with_gloo
is_initialized = _D.is_initialized
get_rank = _D.get_rank
get_world_size = _D.get_world_size
barrier = _D.barrier
destroy_process_group = _D.destroy_process_group


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1, store=None):
    """Starts the default group, as torch.distributed.init_process_group: backend "gloo" (TCP;
    init_method "env://" (the default), "tcp://host:port" or "file:///folder") or "mpi" (the
    processes mpiexec started). timeout (a datetime.timedelta or seconds, 30 minutes by default)
    bounds the wait for the other processes: past it, an error says who is missing."""
    if store is not None:
        raise ValueError("init_process_group: store= is not supported; give init_method (env://, tcp:// or file://)")
    if isinstance(timeout, _datetime.timedelta):
        timeout = timeout.total_seconds()
    _D.init_process_group(backend, init_method or "", world_size, rank, 1800.0 if timeout is None else float(timeout))


def get_backend():
    """The default group's backend ("gloo" or "mpi")."""
    if not is_initialized():
        raise RuntimeError("get_backend: no process group; call init_process_group first")
    return _D.backend()


class ReduceOp:
    SUM, AVG, MAX, MIN = "sum", "avg", "max", "min"


def all_reduce(tensor, op=ReduceOp.SUM):
    """In place on every rank: tensor becomes the reduction of every rank's tensor."""
    _D.all_reduce(tensor, op)


def broadcast(tensor, src=0):
    """In place: tensor becomes rank src's tensor on every rank."""
    _D.broadcast(tensor, src)


def send(tensor, dst, tag=0):
    """Sends tensor to rank dst (blocks until it is sent), as torch.distributed.send."""
    _D.send(tensor, dst, tag)


def recv(tensor, src, tag=0):
    """Fills tensor (the sender's shape and dtype) from rank src; returns src. (src is required.)"""
    if src is None:
        raise ValueError("recv: src is required (receiving from any rank is not supported)")
    _D.recv(tensor, src, tag)
    return src


def reduce_scatter(output, input_list, op=ReduceOp.SUM):
    """output becomes the reduction over ranks of their input_list[rank] (one tensor per rank)."""
    _D.reduce_scatter(output, list(input_list), op)


def all_gather(tensor_list, tensor):
    """Fills tensor_list (torch's form) with every rank's tensor, in rank order, and returns it."""
    parts = _D.all_gather(tensor)
    tensor_list[:] = parts
    return tensor_list


class DistributedDataParallel(_nn.Module):
    """Wraps module (Python or C++): copies rank 0's parameters and buffers to every rank, then
    averages the gradients over the group during backward: in buckets of about bucket_cap_mb
    (parameters in reverse order), each averaged on a communication thread while backward goes
    on, as PyTorch's; bucket_cap_mb=0 averages each gradient when it arrives. Every rank must run
    the same model on its batch; with buckets, parameters that get no gradient need
    find_unused_parameters=True (those no rank used keep their .grad). state_dict keys are
    module.<name>, as in PyTorch."""

    def __init__(self, module, bucket_cap_mb=25, find_unused_parameters=False):
        super().__init__()
        if not is_initialized():
            raise RuntimeError("DistributedDataParallel: call tessera.distributed.init_process_group first")
        self.module = module
        _D.broadcast_state(list(module.state_dict().items()))
        object.__setattr__(self, "_sync", _D.average_gradients_in_backward(
            [p for p in module.parameters()], float(bucket_cap_mb), bool(find_unused_parameters)))
        object.__setattr__(self, "_find_unused", bool(find_unused_parameters))

    @_contextlib.contextmanager
    def no_sync(self):
        """Gradient accumulation, as PyTorch's: backward passes inside keep their gradients local;
        the first backward after it averages everything accumulated since over the ranks."""
        was = self._sync.enabled
        self._sync.enabled = False
        try:
            yield
        finally:
            self._sync.enabled = was

    def forward(self, *args, **kwargs):
        out = self.module(*args, **kwargs)
        if self._find_unused and self._sync.enabled and _tessera.is_grad_enabled():
            self._sync.prepare_for_backward(_tensors_in(out))
        return out


def _tensors_in(obj):
    """The tensors in a forward's output (a tensor, or nested tuples, lists and dicts)."""
    if isinstance(obj, _tessera.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors_in(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors_in(o)]
    return []
