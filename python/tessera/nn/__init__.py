"""tessera.nn: Module (subclass it and define forward, as in PyTorch), the C++ layers, the
losses as modules, containers (Sequential, ModuleList, ModuleDict) and tessera.nn.init."""
from collections import OrderedDict

from .. import _pickle
from .. import _tessera as _C
from .._tessera import Tensor
from .._tessera import init  # noqa: F401
from . import functional  # noqa: F401
from . import functional as F
from . import utils  # noqa: F401

# The layers implemented in C++ (tessera::nn), usable alone or inside Python modules.
from .._tessera import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Bilinear, Conv1d,  # noqa: F401
                        Conv2d, ConvTranspose2d, Dropout, Dropout1d, Dropout2d, Dropout3d, ELU, Embedding, Flatten, GELU, GroupNorm, Identity,
                        LayerNorm, LeakyReLU, Linear, LogSoftmax, MaxPool2d, MultiheadAttention, ReLU, Sigmoid,
                        SiLU, Softmax, Tanh, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, Transformer,
                        TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer)


class RemovableHandle:
    """What register_forward_hook returns: remove() takes the hook off again."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


def _add_hook(module, table, hook):
    hooks = module.__dict__.setdefault(table, {})
    key = object()
    hooks[key] = hook
    return RemovableHandle(hooks, key)


def _call_with_hooks(module, forward, args, kwargs):
    d = module.__dict__
    pre, post = d.get("_forward_pre_hooks"), d.get("_forward_hooks")
    if pre:
        for hook in list(pre.values()):
            r = hook(module, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
    out = forward(*args, **kwargs)
    if post:
        for hook in list(post.values()):
            r = hook(module, args, out)
            if r is not None:
                out = r
    return out


# Calling a C++ layer from Python: its forward, through the same hooks as Python modules.
def _cpp_call(self, *args, **kwargs):
    d = self.__dict__
    if "_forward_hooks" not in d and "_forward_pre_hooks" not in d:
        return type(self).forward(self, *args, **kwargs)
    return _call_with_hooks(self, lambda *a, **k: type(self).forward(self, *a, **k), args, kwargs)


_C._Module.__call__ = _cpp_call


# PyTorch's factory keywords on the layers that hold parameters: Linear(4, 2, device="cuda",
# dtype=tessera.float64) builds the layer, then moves it (the C++ layers take Module::to).
def _with_factory_kwargs(cls):
    init = cls.__init__

    def __init__(self, *args, device=None, dtype=None, **kwargs):
        init(self, *args, **kwargs)
        if dtype is not None:
            self.to(dtype)
        if device is not None:
            self.to(str(device))
    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__


for _cls in (Linear, Bilinear, Conv1d, Conv2d, ConvTranspose2d, BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm,
             Embedding, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, MultiheadAttention, Transformer,
             TransformerEncoderLayer, TransformerDecoderLayer):
    _with_factory_kwargs(_cls)
del _cls


# Iterators, as PyTorch's generators (the C++ binding returns lists).
def _iterating(f):
    def method(self, *args, **kwargs):
        return iter(f(self, *args, **kwargs))
    method.__name__, method.__doc__ = f.__name__, f.__doc__
    return method


for _name in ("parameters", "buffers", "named_parameters", "named_buffers", "named_children"):
    setattr(_C._Module, _name, _iterating(getattr(_C._Module, _name)))
del _name


def _cpp_getattr(self, name):
    # The parameters, buffers and children a C++ layer registered, by name (lstm.weight_ih_l0).
    if not name.startswith("__"):
        for table in ("named_parameters", "named_buffers"):
            for n, t in getattr(_C._Module, table)(self, False):
                if n == name:
                    return t
        for n, m in _C._Module.named_children(self):
            if n == name:
                return m
    raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


_C._Module.__getattr__ = _cpp_getattr


# pickle and copy.deepcopy of the C++ layers: a layer built from Python remembers how (its class
# and arguments, or the zoo function), and comes back as a new layer of that build with its state
# dict, mode and Python attributes. (Layers built inside C++, as an ONNX file's, cannot: pickle
# their state_dict instead.)

def _rebuild_cpp_module(ctor, state, training, extra):
    make, args, kwargs = ctor
    m = make(*args, **kwargs)
    m.load_state_dict({k: v.to(dtype=m.state_dict()[k].dtype) for k, (key, v) in state.items()})  # (checks keys, shapes)
    own = dict(m.named_parameters())
    own.update(m.named_buffers())
    for k, (key, v) in state.items():
        # Each tensor takes the pickled one's values, dtype and device (a layer converted with
        # .double() or .to(device) after construction comes back so). Tensors that arrive in shared
        # memory (tessera.multiprocessing) are used, not copied: the rebuilt module trains the
        # sender's weights (Hogwild under the spawn start method).
        own[k].data = v
        # The rebuilt layer's tensors are the ones every other pickled handle (an optimizer's)
        # comes back as.
        if key is not None:
            _pickle.adopt(key, own[k])
    m.train(training)
    m.__dict__.update(extra)
    return m


def _cpp_reduce(self, protocol=2):
    ctor = _pickle.recipe(self)
    if isinstance(ctor[0], type) and type(self) is not ctor[0]:
        raise TypeError(f"cannot pickle {type(self).__name__}, a Python subclass of the C++ layer "
                        f"{ctor[0].__name__}: subclass tessera.nn.Module and hold the layer as an attribute instead")
    extra = {k: v for k, v in self.__dict__.items() if k != "_ctor"}
    own = dict(self.named_parameters())
    own.update(self.named_buffers())
    # Each value with the key of the layer's own tensor (tessera._pickle), so that an optimizer
    # pickled with the layer comes back updating the rebuilt one. (A pickler that sends tensors its
    # own way, as tessera.multiprocessing's does for shared ones, gets them without keys.)
    state = {k: (_pickle.key_of(own[k]) if k in own else None, v.detach() if v.is_shared() else v.detach().clone())
             for k, v in self.state_dict().items()}
    return (_rebuild_cpp_module, (ctor, state, self.training, extra))


_C._Module.__reduce_ex__ = _cpp_reduce
for _cls in list(vars(_C).values()):
    if isinstance(_cls, type) and issubclass(_cls, _C._Module) and not _cls.__name__.startswith("_"):
        _pickle.record_construction(_cls)
del _cls
_cpp_hooks = {}  # key -> a Python hook that C++ runs (see _run_cpp_hook)
_cpp_hook_keys = iter(range(1 << 62))


def _run_cpp_hook(key, kind, module, inp, out):
    """A C++ layer's Python hook, called by C++ (a container calling its children): the hook
    sees and returns what it would in Python (a pre-hook's tuple gives its first element)."""
    hook = _cpp_hooks.get(key)
    if hook is None:
        return None
    if kind == "pre":
        r = hook(module, (inp,))
        return r[0] if isinstance(r, tuple) else r
    return hook(module, (inp,), out)


class _BothHandles:
    """A C++ layer's hook runs in Python for Python's calls and in C++ for the calls C++ makes:
    remove() takes off both."""

    def __init__(self, python_handle, cpp_handle, key):
        self._handles, self._key = (python_handle, cpp_handle), key

    def remove(self):
        for h in self._handles:
            h.remove()
        _cpp_hooks.pop(self._key, None)


def _register_both(module, table, hook, register_cpp):
    key = next(_cpp_hook_keys)
    _cpp_hooks[key] = hook
    return _BothHandles(_add_hook(module, table, hook), register_cpp(key), key)


_C._Module.register_forward_hook = lambda self, hook: _register_both(
    self, "_forward_hooks", hook, self._register_cpp_forward_hook)
_C._Module.register_forward_pre_hook = lambda self, hook: _register_both(
    self, "_forward_pre_hooks", hook, self._register_cpp_forward_pre_hook)


def Parameter(data, requires_grad=True):
    """A leaf tensor that a Module registers when assigned as an attribute."""
    return data.detach().requires_grad_(requires_grad)


class Module:
    """Base class of models written in Python. Tensors that require grad and modules (Python or
    C++) assigned as attributes are registered, in order, as in torch.nn.Module."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign before Module.__init__() call")
        for d in (self._parameters, self._modules):
            d.pop(name, None)
        if isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            self._parameters[name] = value
        elif isinstance(value, (Module, _C._Module)):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor kept with the module but not trained (running statistics, say); in the state
        dict unless persistent=False."""
        self._buffers[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name, param):
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param if param.requires_grad else Parameter(param))

    def add_module(self, name, module):
        setattr(self, name, module)

    def __delattr__(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return _call_with_hooks(self, self.forward, args, kwargs)

    def register_forward_hook(self, hook):
        """hook(module, inputs, output) runs after forward; a non-None result replaces the output."""
        return _add_hook(self, "_forward_hooks", hook)

    def register_forward_pre_hook(self, hook):
        """hook(module, inputs) runs before forward; a non-None result replaces the inputs."""
        return _add_hook(self, "_forward_pre_hooks", hook)

    def named_parameters(self, prefix=""):
        # Identity is the C++ tensor's (hash(t)), not id(): wrappers are created per access.
        seen = set()
        for name, p in self._parameters.items():
            if hash(p) not in seen:
                seen.add(hash(p))
                yield prefix + name, p
        for mname, m in self._modules.items():
            for name, p in m.named_parameters(*(() if isinstance(m, _C._Module) else (prefix + mname + ".",))):
                if isinstance(m, _C._Module):
                    name = prefix + mname + "." + name
                if hash(p) not in seen:
                    seen.add(hash(p))
                    yield name, p

    def parameters(self, recurse=True):
        """An iterator over the parameters (a generator, as in PyTorch: next(model.parameters())
        works; wrap it in list() to index or count)."""
        if not recurse:
            return iter(list(self._parameters.values()))
        return (p for _, p in self.named_parameters())

    def named_buffers(self, prefix=""):
        for name, b in self._buffers.items():
            yield prefix + name, b
        for mname, m in self._modules.items():
            if isinstance(m, _C._Module):
                for name, b in m.named_buffers():
                    yield prefix + mname + "." + name, b
            else:
                yield from m.named_buffers(prefix + mname + ".")

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def children(self):
        return iter(list(self._modules.values()))

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix=""):
        """This module and every descendant (Python and C++ modules at the top level of the C++ ones)."""
        yield prefix, self
        for name, m in self._modules.items():
            full = prefix + ("." if prefix else "") + name
            if isinstance(m, Module):
                yield from m.named_modules(full)
            else:
                yield full, m

    def modules(self):
        return (m for _, m in self.named_modules())

    def apply(self, fn):
        """Calls fn on every submodule, then on this module (torch's order); returns self."""
        for m in self._modules.values():
            m.apply(fn) if isinstance(m, Module) else fn(m)
        fn(self)
        return self

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, dtype_or_device=None, memory_format=None):
        """Converts (dtype) or moves (device) every parameter and buffer in place; returns self.
        memory_format (tessera.channels_last) is accepted as in PyTorch: the weights stay
        [O, I, kH, kW] and each layer's output takes its input's layout, so a channels-last input
        keeps the whole network channels last."""
        if dtype_or_device is None:
            return self
        for m in self._modules.values():
            m.to(dtype_or_device)
        for t in list(self._parameters.values()) + list(self._buffers.values()):
            if isinstance(dtype_or_device, str) or t.dtype in (_C.dtype.float16, _C.dtype.bfloat16,
                                                                _C.dtype.float32, _C.dtype.float64):
                g = t.grad
                t.data = t.detach().to(dtype_or_device)
                if g is not None:
                    t.grad = g.to(dtype_or_device)
        return self

    def float(self):
        return self.to(_C.dtype.float32)

    def double(self):
        return self.to(_C.dtype.float64)

    def half(self):
        return self.to(_C.dtype.float16)

    def bfloat16(self):
        return self.to(_C.dtype.bfloat16)

    def share_memory(self):
        """Moves every parameter, gradient and buffer into shared memory in place (Hogwild training
        with tessera.multiprocessing); returns self."""
        for m in self._modules.values():
            m.share_memory()
        for t in list(self._parameters.values()) + list(self._buffers.values()):
            t.share_memory_()
            if t.grad is not None:
                t.grad.share_memory_()
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        """Moves the module to a CUDA device (an error naming the reason when CUDA is not available)."""
        return self.to("cuda" if device is None else f"cuda:{device}")

    def train(self, mode=True):
        object.__setattr__(self, "training", mode)
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def state_dict(self, prefix=""):
        out = OrderedDict()
        for name, p in self._parameters.items():
            out[prefix + name] = p
        skip = self.__dict__.get("_non_persistent", ())
        for name, b in self._buffers.items():
            if name not in skip:
                out[prefix + name] = b
        for mname, m in self._modules.items():
            if isinstance(m, _C._Module):
                for k, v in m.state_dict().items():
                    out[prefix + mname + "." + k] = v
            else:
                out.update(m.state_dict(prefix + mname + "."))
        return out

    def load_state_dict(self, state_dict, strict=True):
        mine = self.state_dict()
        missing = [k for k in mine if k not in state_dict]
        unexpected = [k for k in state_dict if k not in mine]
        mismatched = [f"{k}: expected {tuple(v.shape)}, got {tuple(state_dict[k].shape)}" for k, v in mine.items()
                      if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
        if strict and (missing or unexpected or mismatched):
            raise ValueError("load_state_dict: " + "; ".join(
                [f"missing key: {k}" for k in missing] + [f"unexpected key: {k}" for k in unexpected] +
                [f"size mismatch: {k}" for k in mismatched]))
        from .. import no_grad
        with no_grad():
            for k, v in mine.items():
                if k in state_dict and tuple(state_dict[k].shape) == tuple(v.shape):
                    v.copy_(state_dict[k].to(v.dtype))
        return missing, unexpected

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        return "\n".join(lines) + ")" if self._modules else f"{type(self).__name__}()"


class Sequential(Module):
    """Runs its modules in order: Sequential(a, b, c), or Sequential(OrderedDict(name=module, ...))."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                setattr(self, name, m)
            return
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)


class ModuleList(Module):
    """A list of modules, registered under "0", "1", ... (torch.nn.ModuleList)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """Modules by name (torch.nn.ModuleDict)."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            setattr(self, k, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        setattr(self, key, module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


# --- losses as modules (torch.nn.*Loss), over the C++ functional losses -------------------------

class _Loss(Module):
    """The base of the loss modules: reduction is "mean", "sum" or "none"."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits and class indices (class weights, ignore_index, label smoothing)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities and class indices."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below beta, linear above (Huber-style)."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, computed stably (pos_weight for imbalance)."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of log-probabilities from a target distribution."""

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


# --- more layers, composed of the C++ ops ----------------------------------------------------------------

class Softplus(Module):
    """Smooth ReLU: log(1 + e^(beta x)) / beta, linear above threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class Hardtanh(Module):
    """x clamped to [min_val, max_val]."""

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        return x.clamp(self.min_val, self.max_val)


class ReLU6(Hardtanh):
    """ReLU capped at 6: min(max(x, 0), 6)."""

    def __init__(self):
        super().__init__(0.0, 6.0)


class Hardsigmoid(Module):
    """Piecewise-linear sigmoid: relu6(x + 3) / 6."""

    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(Module):
    """x * relu6(x + 3) / 6."""

    def forward(self, x):
        return F.hardswish(x)


class Mish(Module):
    """x * tanh(softplus(x))."""

    def forward(self, x):
        return F.mish(x)


class PReLU(Module):
    """x, or a * x below 0, with a learned a (one, or one per channel of dim 1)."""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(_C._full([num_parameters], init, _C.dtype.float32, "cpu"))

    def forward(self, x):
        a = self.weight
        if self.num_parameters > 1:
            a = a.reshape([1, -1] + [1] * (x.dim() - 2))
        return F.prelu(x, a)


class Unflatten(Module):
    """Splits dim into the given sizes."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.sizes = dim, list(unflattened_size)

    def forward(self, x):
        return x.unflatten(self.dim, self.sizes)


class Upsample(Module):
    """Nearest-neighbour upsampling of [N, C, H, W] by an integer scale factor."""

    def __init__(self, size=None, scale_factor=None, mode="nearest"):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode)


class MaxPool1d(Module):
    """1-D max pooling over [N, C, L]."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class AvgPool1d(Module):
    """1-D average pooling over [N, C, L]."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AdaptiveAvgPool1d(Module):
    """1-D average pooling of [N, C, L] to a given length."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool1d(x, self.output_size)


def _embedding_from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
    """An Embedding holding a copy of embeddings [num, dim]; trained unless freeze."""
    if embeddings.dim() != 2:
        raise ValueError(f"Embedding.from_pretrained: expected a 2-D tensor, got shape {tuple(embeddings.shape)}")
    e = cls(embeddings.shape[0], embeddings.shape[1], padding_idx)
    e.weight.data = embeddings.detach().clone().to(e.weight.dtype)
    e.weight.requires_grad_(not freeze)
    return e


Embedding.from_pretrained = classmethod(_embedding_from_pretrained)


from . import parallel  # noqa: E402,F401
from .parallel import DataParallel  # noqa: E402,F401
