"""tessera.multiprocessing: Python's multiprocessing, with tensors shared between processes as
torch.multiprocessing shares them.

A tensor handed to another process (a Process's arguments under the spawn or forkserver start
methods, a Queue, a Pipe) travels by name: it is moved into shared memory first (as
``share_memory_()`` does) and the other process maps the same bytes, so writes on either side
are seen on both. With the fork start method (Linux's default) a process inherits every tensor;
those moved into shared memory before the fork (``model.share_memory()``) stay shared, the others
are the child's own copies. Hogwild training::

    model.share_memory()
    procs = [tessera.multiprocessing.Process(target=train, args=(model,)) for _ in range(2)]

Everything else is Python's own multiprocessing (Process, Queue, Pool, get_context,
set_start_method, ...).
"""
import multiprocessing as _mp
from multiprocessing import *  # noqa: F401,F403 (the same API as Python's module)
from multiprocessing.reduction import ForkingPickler as _ForkingPickler

from . import _tessera as _C

__all__ = list(_mp.__all__) + ["spawn"]


def _rebuild_shared(name, nbytes, offset, shape, strides, dtype, requires_grad):
    t = _C._from_shared(name, nbytes, offset, shape, strides, dtype)
    return t.requires_grad_() if requires_grad else t


def _reduce_tensor(t):
    if t.device.type != "cpu":
        raise RuntimeError(f"tessera.multiprocessing: a tensor on {t.device} cannot be shared between processes "
                           "(move it to the CPU first)")
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError("tessera.multiprocessing: refusing to send a non-leaf tensor that requires grad "
                           "(its graph cannot cross processes): send t.detach()")
    t.share_memory_()
    name, nbytes, offset = t._shared_location()
    return _rebuild_shared, (name, nbytes, offset, tuple(t.shape), t.stride(), t.dtype, t.requires_grad)


_ForkingPickler.register(_C.Tensor, _reduce_tensor)


class ProcessRaisedException(Exception):
    """A process started by spawn() failed; the message carries its traceback."""


def _wrap(fn, i, args, errors):
    try:
        fn(i, *args)
    except BaseException:  # noqa: BLE001 (reported to the parent)
        import traceback
        errors.put((i, traceback.format_exc()))
        raise SystemExit(1)


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Runs fn(i, *args) in nprocs new processes (i = 0 .. nprocs-1), as torch.multiprocessing.spawn.
    join=True waits for all and raises ProcessRaisedException with the first failure's
    traceback; join=False returns the processes."""
    ctx = _mp.get_context(start_method)
    errors = ctx.SimpleQueue()
    procs = [ctx.Process(target=_wrap, args=(fn, i, args, errors), daemon=daemon) for i in range(nprocs)]
    for p in procs:
        p.start()
    if not join:
        return procs
    for p in procs:
        p.join()
    if not errors.empty():
        i, tb = errors.get()
        raise ProcessRaisedException(f"process {i} of spawn() failed:\n{tb}")
    for i, p in enumerate(procs):
        if p.exitcode != 0:
            raise ProcessRaisedException(f"process {i} of spawn() exited with status {p.exitcode}")
    return None
