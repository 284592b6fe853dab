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
from . import amp, autograd, backends, data, distributed, inference, multiprocessing, nn, onnx, optim, train, utils  # noqa: E402,F401
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402,F401
from ._tessera import zoo  # noqa: F401


def _zoo_builder(fn):
    # Zoo models remember how they were built, so they pickle and deepcopy (see tessera.nn).
    def build(*args, **kwargs):
        m = fn(*args, **kwargs)
        if isinstance(m, _tessera._Module):
            m.__dict__["_ctor"] = (build, args, kwargs)
        return m
    build.__name__, build.__qualname__, build.__doc__ = fn.__name__, fn.__name__, fn.__doc__
    build.__module__ = "tessera.zoo"
    return build


for _name in dir(zoo):
    if not _name.startswith("_") and callable(getattr(zoo, _name)) and not isinstance(getattr(zoo, _name), type):
        setattr(zoo, _name, _zoo_builder(getattr(zoo, _name)))
del _name

__version__ = _tessera.__version__

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


def _widen(a):
    """A numpy array in a dtype tessera has: int16/uint16 become int32, uint32 becomes int64
    (lossless), uint64 int64 when its values fit."""
    if a.dtype in (_np.int16, _np.uint16):
        return a.astype(_np.int32)
    if a.dtype == _np.uint32:
        return a.astype(_np.int64)
    if a.dtype == _np.uint64:
        if a.size and a.max() > _np.iinfo(_np.int64).max:
            raise ValueError("tensor: uint64 values above the int64 range have no tessera dtype")
        return a.astype(_np.int64)
    return a


_default_device = "cpu"


def set_default_device(device):
    """The device factory functions (tensor, zeros, randn, ...) use when given none
    (torch.set_default_device). None restores the CPU."""
    global _default_device
    name = "cpu" if device is None else str(device)
    _tessera._empty([0], float32, name)  # checks the name and that the device is available
    _default_device = name


def get_default_device():
    """The device factory functions use when given none."""
    return device(_default_device)


def _dev(d):
    return _default_device if d is None else str(d)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A tensor holding a copy of data (nested lists, numbers, numpy arrays or tensors). Python
    floats give float32 and ints int64; numpy arrays keep their dtype, as in PyTorch."""
    if isinstance(data, Tensor):
        t = data.detach().clone()
    else:
        a = _np.array(data)
        if dtype is None and isinstance(data, (_np.ndarray, _np.generic)):
            a = _widen(a)  # numpy data keeps its dtype, as in torch.tensor, widened where tessera lacks it
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
    if isinstance(data, Tensor) and device is None:
        device = data.device  # a copy stays where its data is, as torch.tensor(t) does
    t = t.to(_dev(device))
    if requires_grad:
        t.requires_grad_()
    return t


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares the memory of a numpy array when it can."""
    if isinstance(data, _np.ndarray) and dtype is None and _dev(device) == "cpu":
        return from_numpy(data)
    return tensor(data, dtype, device)


def zeros(*size, dtype=float32, device=None, requires_grad=False):
    """A tensor of zeros of the given size (ints or one sequence)."""
    return _tessera._zeros(_shape(size), dtype, _dev(device)).requires_grad_(requires_grad)


def ones(*size, dtype=float32, device=None, requires_grad=False):
    """A tensor of ones of the given size."""
    return _tessera._ones(_shape(size), dtype, _dev(device)).requires_grad_(requires_grad)


def empty(*size, dtype=float32, device=None):
    """An uninitialized tensor of the given size."""
    return _tessera._empty(_shape(size), dtype, _dev(device))


def full(size, fill_value, dtype=None, device=None):
    """A tensor of the given size filled with fill_value (its dtype follows the value)."""
    if dtype is None:
        dtype = bool_ if isinstance(fill_value, _builtins.bool) else (
            int64 if isinstance(fill_value, _numbers.Integral) else float32)
    return _tessera._full(list(size), fill_value, dtype, _dev(device))


def rand(*size, dtype=float32, device=None, requires_grad=False):
    """Uniform random values in [0, 1) from the default generator."""
    return _tessera._rand(_shape(size), dtype, _dev(device)).requires_grad_(requires_grad)


def randn(*size, dtype=float32, device=None, requires_grad=False):
    """Standard normal random values from the default generator."""
    return _tessera._randn(_shape(size), dtype, _dev(device)).requires_grad_(requires_grad)


def randperm(n, *, generator=None, dtype=int64, device=None, requires_grad=False):
    """A random permutation of 0..n-1, from generator (or the default generator)."""
    return _tessera._randperm(n, dtype, _dev(device), generator).requires_grad_(requires_grad)


def _legacy(dt, name):
    def make(*args, device=None):
        if len(args) == 1 and not isinstance(args[0], _numbers.Integral):
            return tensor(args[0], dtype=dt, device=device)
        return empty(*args, dtype=dt, device=device) if args else empty(0, dtype=dt, device=device)
    make.__name__ = name
    make.__doc__ = (f"torch.{name}'s legacy constructor: {name}(*sizes) an uninitialized {dt} tensor, "
                    f"{name}(data) a {dt} tensor of data.")
    return make


FloatTensor, DoubleTensor, HalfTensor = _legacy(float32, "FloatTensor"), _legacy(float64, "DoubleTensor"), \
    _legacy(float16, "HalfTensor")
LongTensor, IntTensor, ByteTensor, BoolTensor = _legacy(int64, "LongTensor"), _legacy(int32, "IntTensor"), \
    _legacy(uint8, "ByteTensor"), _legacy(bool_, "BoolTensor")
BFloat16Tensor, CharTensor = _legacy(bfloat16, "BFloat16Tensor"), _legacy(int8, "CharTensor")


def randint(low, high=None, size=(), dtype=int64, device=None):
    """Random integers in [low, high) of the given size."""
    if high is None:
        low, high = 0, low
    return _tessera._randint(low, high, list(size), dtype, _dev(device))


def arange(start, end=None, step=1, dtype=None, device=None):
    """Values from start to end (exclusive) by step; integers unless a float is given."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = float32 if _builtins.any(isinstance(v, _builtins.float) for v in (start, end, step)) else int64
    return _tessera._arange(start, end, step, dtype, _dev(device))


def linspace(start, end, steps, dtype=float32, device=None):
    """steps values evenly spaced from start to end (inclusive)."""
    return _tessera._linspace(start, end, steps, dtype, _dev(device))


def eye(n, m=None, dtype=float32, device=None):
    """The n x m identity matrix."""
    return _tessera._eye(n, m, dtype, _dev(device))


def zeros_like(t, dtype=None, device=None):
    """Zeros of t's shape (and dtype and device unless given)."""
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def ones_like(t, dtype=None, device=None):
    """Ones of t's shape (and dtype and device unless given)."""
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


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


class inference_mode(_GradMode):
    """torch.inference_mode: here the same as no_grad (mode=False records as usual)."""

    def __init__(self, mode=True):
        self._mode = not mode


class set_grad_enabled(_GradMode):
    """Turns gradient recording on or off: at once when called, and back when used as a
    context manager or decorator exits (torch.set_grad_enabled)."""

    def __init__(self, mode):
        self._prev = _tessera.is_grad_enabled()
        self._mode = bool(mode)
        _tessera.set_grad_enabled(self._mode)

    def __enter__(self):
        _tessera.set_grad_enabled(self._mode)
        return self


autograd.no_grad, autograd.enable_grad = no_grad, enable_grad
autograd.set_grad_enabled, autograd.inference_mode = set_grad_enabled, inference_mode


# --- devices and PyTorch's convenience functions ---------------------------------------------------
_DEVICE_RE = __import__("re").compile(r"^(cpu|cuda)(:(\d+))?$")


class device(str):
    """A device, as torch.device: device("cpu"), device("cuda"), device("cuda", 1), device("cuda:1").
    It is a str, so it goes wherever tessera takes a device name (t.to(dev), model.to(dev))."""

    def __new__(cls, type, index=None):
        if isinstance(type, device) and index is None:
            return type
        text = str(type) if index is None else f"{type}:{_builtins.int(index)}"
        if not _DEVICE_RE.match(text):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got '{text}'")
        return super().__new__(cls, text)

    @property
    def type(self):
        return self.split(":")[0]

    @property
    def index(self):
        return _builtins.int(self.split(":")[1]) if ":" in self else None

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


_device_name = Tensor.device
Tensor.device = property(lambda self: device(_device_name.__get__(self)), doc="The device, as a tessera.device.")
Tensor.is_cuda = property(lambda self: self.device.type == "cuda", doc="True for tensors on a CUDA device.")


def _cuda(self, device=None, non_blocking=False):
    """The tensor on a CUDA device (an error naming the reason when CUDA is not available)."""
    return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, _builtins.int) else device,
                   non_blocking=non_blocking)


def _format(self, spec):
    return format(self.item(), spec) if self.dim() == 0 else format(str(self), spec)


def _new(factory):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return factory(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    method.__doc__ = f"A new tensor from {factory.__name__} with this tensor's dtype and device unless given."
    return method


def _new_full(self, size, fill_value, dtype=None, device=None):
    """A tensor of size filled with fill_value, with this tensor's dtype and device unless given."""
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)


def _new_tensor(self, data, dtype=None, device=None):
    """A tensor of data, with this tensor's dtype and device unless given."""
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device)


def _uniform_(self, a=0.0, b=1.0):
    """Fills with U(a, b), in place."""
    return nn.init.uniform_(self, a, b)


def _normal_(self, mean=0.0, std=1.0):
    """Fills with N(mean, std^2), in place."""
    return nn.init.normal_(self, mean, std)


Tensor.cuda, Tensor.__format__ = _cuda, _format


class _StreamContext:
    """Makes a stream current in its block, and the previous one after (torch.cuda.stream)."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        if self.stream is not None:
            self._prev = cuda.current_stream(self.stream.device_index)
            cuda.set_stream(self.stream)
        return self.stream

    def __exit__(self, *exc):
        if self.stream is not None:
            cuda.set_stream(self._prev)
        return False


def _stream(stream):
    """A context manager that makes stream current in its block (None: no change)."""
    return _StreamContext(stream)


cuda.stream = _stream
# numpy scalars on the left (np.float32(2) * t) defer to the tensor's operators instead of turning
# it into an array, as with torch.Tensor.
Tensor.__array_priority__ = 1000
Tensor.new_zeros, Tensor.new_ones = _new(zeros), _new(ones)
Tensor.new_full, Tensor.new_tensor = _new_full, _new_tensor
Tensor.uniform_, Tensor.normal_ = _uniform_, _normal_


class _ValuesIndices(tuple):
    """(values, indices), also as .values and .indices (torch.return_types)."""
    __slots__ = ()

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self):
        return f"return_types(values={self[0]!r},\nindices={self[1]!r})"


def _named_pair(fn):
    def wrapped(*args, **kwargs):
        r = fn(*args, **kwargs)
        return _ValuesIndices(r) if isinstance(r, tuple) else r
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


for _name in ("max", "min", "sort", "topk"):
    globals()[_name] = _named_pair(getattr(_tessera, _name))
    setattr(Tensor, _name, _named_pair(getattr(Tensor, _name)))
del _name


def is_tensor(obj):
    """True for a tessera.Tensor."""
    return isinstance(obj, Tensor)


def numel(input):
    """The number of elements of input."""
    return input.numel()


def _as_function(name, doc):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__, fn.__doc__ = name, doc
    return fn


flatten = _as_function("flatten", "Same as Tensor.flatten: merges dims start_dim..end_dim.")
reshape = _as_function("reshape", "Same as Tensor.reshape: another shape, a view when possible.")
transpose = _as_function("transpose", "Same as Tensor.transpose: a view with two dims swapped.")
permute = _as_function("permute", "Same as Tensor.permute: a view with the dims reordered.")
squeeze = _as_function("squeeze", "Same as Tensor.squeeze: removes dims of size 1.")
unsqueeze = _as_function("unsqueeze", "Same as Tensor.unsqueeze: inserts a dim of size 1.")
t = _as_function("t", "Same as Tensor.t: the transpose of a 2-D tensor.")
narrow = _as_function("narrow", "Same as Tensor.narrow: length elements from start along dim.")
select = _as_function("select", "Same as Tensor.select: one index along dim, the dim removed.")
clone = _as_function("clone", "Same as Tensor.clone: a copy with its own storage.")
detach = _as_function("detach", "Same as Tensor.detach: the data outside the autograd graph.")


def rand_like(t, dtype=None, device=None):
    """Uniform [0, 1) values of t's shape (and dtype and device unless given)."""
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t, dtype=None, device=None):
    """Standard normal values of t's shape (and dtype and device unless given)."""
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def full_like(t, fill_value, dtype=None, device=None):
    """fill_value in t's shape (and dtype and device unless given)."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device)


def empty_like(t, dtype=None, device=None):
    """An uninitialized tensor of t's shape (and dtype and device unless given)."""
    return empty(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


_TREE_KEY = "__tessera_tree__"
_PICKLED_KEY = "__tessera_pickled__"


def _open_target(f, mode):
    """(path or None, file object or None) of what save/load were given."""
    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        return __import__("os").fsdecode(f), None
    if hasattr(f, "write" if mode == "w" else "read"):
        return None, f
    raise TypeError(f"{'save' if mode == 'w' else 'load'}: expected a path or a binary file object, got "
                    f"{type(f).__name__}")


def save(obj, f, metadata=None, pickle_protocol=4):
    """Saves obj to f (a path, written to a temporary name and renamed, or a binary file object such as
    io.BytesIO) as a safetensors file.

    A state_dict (a flat dict of name -> tensor) is stored as it is, readable by any safetensors
    reader. Any other object works as with torch.save: nests of dicts, lists and tuples holding
    tensors, numpy arrays and plain values (numbers, strings, bools, None) are stored as tensors plus
    their structure in the file's metadata; anything else (a whole module, an optimizer, your own
    objects) is pickled into the metadata, and load() then needs weights_only=False."""
    path, fobj = _open_target(f, "w")
    if isinstance(obj, dict) and obj and _builtins.all(isinstance(k, str) and isinstance(v, Tensor)
                                                       for k, v in obj.items()):
        tensors, md = list(obj.items()), dict(metadata or {})
    else:
        tensors, used = [], set()

        def key_for(where):
            key = "/".join(where) or "tensor"
            while key in used:
                key += "'"
            used.add(key)
            return key

        def encode(x, where):
            if isinstance(x, Tensor):
                key = key_for(where)
                tensors.append((key, x))
                return {"__tensor__": key}
            if isinstance(x, _np.ndarray) and x.dtype.kind in "biuf":
                key = key_for(where)
                tensors.append((key, from_numpy(_widen(_np.ascontiguousarray(x))).clone()))
                return {"__ndarray__": key, "dtype": x.dtype.str}
            if isinstance(x, dict) and _builtins.all(isinstance(k, (str, _builtins.int)) and
                                                      not isinstance(k, _builtins.bool) for k in x):
                return {"__dict__": [[k, encode(v, where + [str(k)])] for k, v in x.items()]}
            if type(x) in (list, tuple):
                return {"__tuple__" if isinstance(x, tuple) else "__list__":
                        [encode(v, where + [str(i)]) for i, v in enumerate(x)]}
            if x is None or isinstance(x, (str, _builtins.bool, _builtins.int, _builtins.float)):
                return x
            if isinstance(x, _np.generic):
                return x.item()
            pickled.append((x, where))
            return {"__pickled__": len(pickled) - 1}

        # Objects that are not tensors, arrays, plain values or containers are pickled together, in
        # one pickle: a model and its optimizer stay tied (the optimizer updates the loaded model).
        pickled = []
        tree = encode(obj, [])
        md = dict(metadata or {})
        md[_TREE_KEY] = __import__("json").dumps(tree)
        if pickled:
            import base64
            import pickle
            try:
                data = pickle.dumps([x for x, _ in pickled], protocol=pickle_protocol)
            except Exception:
                for x, where in pickled:  # name the object that fails
                    try:
                        pickle.dumps(x, protocol=pickle_protocol)
                    except Exception as e:
                        raise TypeError(f"save: cannot store the {type(x).__name__} at '{'/'.join(where) or '<root>'}'"
                                        f": it is not a tensor, array, plain value or container, and pickling it "
                                        f"failed ({e})") from None
                raise
            md[_PICKLED_KEY] = base64.b64encode(data).decode("ascii")
    if path is not None:
        _tessera.save_safetensors(path, tensors, md)
    else:
        fobj.write(_tessera.safetensors_bytes(tensors, md))


def load(f, map_location=None, weights_only=True):
    """What save() stored, from a path or a binary file object: the dict of tensors of a safetensors
    file, or the object it was saved from. map_location (a device) places the tensors there, as in
    torch.load. As in PyTorch 2.6+, only tensors, arrays, containers and plain values load by
    default; objects that were pickled (whole modules, optimizers) need weights_only=False, since
    unpickling runs code from the file."""
    path, fobj = _open_target(f, "r")
    if path is not None:
        tensors, md = _tessera.load_safetensors(path)
        name = path
    else:
        name = getattr(fobj, "name", "<file object>")
        tensors, md = _tessera.load_safetensors_bytes(fobj.read(), str(name))
    by_name = {k: (v if map_location is None else v.to(str(map_location))) for k, v in tensors}
    if _TREE_KEY not in md:
        return by_name

    unpickled = []

    def refuse_pickles():
        import pickle
        if weights_only:
            raise pickle.UnpicklingError(
                f"load: {name} holds pickled Python objects (a whole module or optimizer, say); loading "
                "them runs code from the file, so it needs weights_only=False (only for files you trust). "
                "Saving state_dict() instead keeps files loadable with the default.")

    def decode(x):
        if isinstance(x, dict):
            if "__pickled__" in x:
                if not unpickled:
                    import base64
                    import pickle
                    refuse_pickles()
                    unpickled.extend(pickle.loads(base64.b64decode(md[_PICKLED_KEY])))
                return unpickled[x["__pickled__"]]
            if "__tensor__" in x:
                return by_name[x["__tensor__"]]
            if "__ndarray__" in x:
                return by_name[x["__ndarray__"]].cpu().numpy().astype(_np.dtype(x["dtype"]))
            if "__dict__" in x:
                return {k: decode(v) for k, v in x["__dict__"]}
            if "__list__" in x:
                return [decode(v) for v in x["__list__"]]
            if "__tuple__" in x:
                return tuple(decode(v) for v in x["__tuple__"])
            if "__pickle__" in x:  # (files written before objects were pickled together)
                import base64
                import pickle
                refuse_pickles()
                return pickle.loads(base64.b64decode(x["__pickle__"]))
            raise ValueError(f"load: {name}: malformed structure in its metadata")
        return x

    try:
        return decode(__import__("json").loads(md[_TREE_KEY]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"load: {name}: the structure in its metadata does not match its tensors ({e})") from None
