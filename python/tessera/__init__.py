"""tessera: a deep-learning framework with a C++ core; this package is its Python API.

The names and behaviour follow PyTorch, so that `import tessera as torch`-style ports work for
the covered API: tensors, operators, indexing, autograd, numpy interop.
"""
import builtins as _builtins
import contextlib
import numbers as _numbers

import numpy as _np

from ._tessera import *  # noqa: F401,F403
del data, init, train  # noqa: F821 (the C++ submodules; tessera.data and .train are the packages below)
from ._tessera import Tensor, dtype, from_numpy
from . import _tessera
from . import data, nn, optim, train  # noqa: E402,F401
from ._tessera import zoo  # noqa: F401

bool_ = dtype.bool
uint8, int8, int32, int64 = dtype.uint8, dtype.int8, dtype.int32, dtype.int64
float16, bfloat16, float32, float64 = dtype.float16, dtype.bfloat16, dtype.float32, dtype.float64
float, double, half, long, int = float32, float64, float16, int64, int32  # noqa: A001 (PyTorch's aliases)

_NP_DTYPES = {dtype.bool: _np.bool_, dtype.uint8: _np.uint8, dtype.int8: _np.int8, dtype.int32: _np.int32,
              dtype.int64: _np.int64, dtype.float16: _np.float16, dtype.float32: _np.float32,
              dtype.float64: _np.float64}


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return list(size[0])
    return list(size)


def tensor(data, dtype=None, requires_grad=False):
    """A tensor holding a copy of data (nested lists, numbers, numpy arrays or tensors). Python
    floats give float32 and ints int64; numpy arrays keep their dtype, as in PyTorch."""
    if isinstance(data, Tensor):
        t = data.detach().clone()
    else:
        a = _np.array(data)
        if dtype is None and isinstance(data, (_np.ndarray, _np.generic)):
            pass  # numpy data keeps its dtype, as in torch.tensor
        elif dtype is None:
            if a.dtype.kind == "f":
                a = a.astype(_np.float32)
            elif a.dtype.kind in "iu" and a.dtype != _np.uint8:
                a = a.astype(_np.int64)
        elif dtype in _NP_DTYPES:
            a = a.astype(_NP_DTYPES[dtype])
        # (np.ascontiguousarray would make 0-d arrays 1-d)
        t = from_numpy(_np.require(a, requirements="C")).clone()
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_()
    return t


def as_tensor(data, dtype=None):
    """Like tensor(), but shares the memory of a numpy array when it can."""
    if isinstance(data, _np.ndarray) and dtype is None:
        return from_numpy(data)
    return tensor(data, dtype)


def zeros(*size, dtype=float32, requires_grad=False):
    """A tensor of zeros of the given size (ints or one sequence)."""
    return _tessera._zeros(_shape(size), dtype).requires_grad_(requires_grad)


def ones(*size, dtype=float32, requires_grad=False):
    """A tensor of ones of the given size."""
    return _tessera._ones(_shape(size), dtype).requires_grad_(requires_grad)


def empty(*size, dtype=float32):
    """An uninitialized tensor of the given size."""
    return _tessera._empty(_shape(size), dtype)


def full(size, fill_value, dtype=None):
    """A tensor of the given size filled with fill_value (its dtype follows the value)."""
    if dtype is None:
        dtype = bool_ if isinstance(fill_value, _builtins.bool) else (
            int64 if isinstance(fill_value, _numbers.Integral) else float32)
    return _tessera._full(list(size), fill_value, dtype)


def rand(*size, dtype=float32, requires_grad=False):
    """Uniform random values in [0, 1) from the default generator."""
    return _tessera._rand(_shape(size), dtype).requires_grad_(requires_grad)


def randn(*size, dtype=float32, requires_grad=False):
    """Standard normal random values from the default generator."""
    return _tessera._randn(_shape(size), dtype).requires_grad_(requires_grad)


def randint(low, high=None, size=(), dtype=int64):
    """Random integers in [low, high) of the given size."""
    if high is None:
        low, high = 0, low
    return _tessera._randint(low, high, list(size), dtype)


def arange(start, end=None, step=1, dtype=None):
    """Values from start to end (exclusive) by step; integers unless a float is given."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = float32 if _builtins.any(isinstance(v, _builtins.float) for v in (start, end, step)) else int64
    return _tessera._arange(start, end, step, dtype)


def linspace(start, end, steps, dtype=float32):
    """steps values evenly spaced from start to end (inclusive)."""
    return _tessera._linspace(start, end, steps, dtype)


def zeros_like(t, dtype=None):
    """Zeros of t's shape (and dtype unless given)."""
    return zeros(*t.shape, dtype=dtype or t.dtype)


def ones_like(t, dtype=None):
    """Ones of t's shape (and dtype unless given)."""
    return ones(*t.shape, dtype=dtype or t.dtype)


class _GradMode(contextlib.ContextDecorator):
    _mode = True

    def __enter__(self):
        self._prev = _tessera.is_grad_enabled()
        _tessera.set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _tessera.set_grad_enabled(self._prev)
        return False


class no_grad(_GradMode):
    """Disables gradient recording in its block, or in a decorated function (torch.no_grad)."""
    _mode = False


class enable_grad(_GradMode):
    """Enables gradient recording in its block (inside no_grad, say)."""
    _mode = True


def save(state, path, metadata=None):
    """Saves a dict of tensors (a state_dict) as safetensors."""
    _tessera.save_safetensors(str(path), list(state.items()), metadata or {})


def load(path):
    """The dict of tensors in a safetensors file."""
    tensors, _ = _tessera.load_safetensors(str(path))
    return dict(tensors)


