"""tessera.nn: Module (subclass it and define forward, as in PyTorch), the C++ layers, the
losses as modules, containers (Sequential, ModuleList, ModuleDict) and tessera.nn.init."""
from collections import OrderedDict

from .. import _pickle
from .. import _tessera as _C
from .._tessera import Tensor
from .._tessera import init  # noqa: F401
from . import functional  # noqa: F401
from . import utils  # noqa: F401

# The layers implemented in C++ (tessera::nn), usable alone or inside Python modules.
from .._tessera import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Bilinear, Conv1d,  # noqa: F401
                        Conv2d, ConvTranspose2d, Dropout, Dropout1d, Dropout2d, Dropout3d, ELU, Embedding, Flatten, GELU, GroupNorm, Identity,
                        LayerNorm, LeakyReLU, Linear, LogSoftmax, MaxPool2d, MultiheadAttention, ReLU, Sigmoid,
                        SiLU, Softmax, Tanh, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, Transformer,
                        TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
                        Softplus, Hardtanh, ReLU6, Hardsigmoid, Hardswish, Mish, PReLU, Unflatten, Upsample,
                        MaxPool1d, AvgPool1d, AdaptiveAvgPool1d)
# The losses as modules (torch.nn.*Loss), in C++ too.
from .._tessera import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,  # noqa: F401
                        SmoothL1Loss)


class RemovableHandle:
    """What register_forward_hook returns: remove() takes the hook off again."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


def _add_hook(module, table, hook, key):
    hooks = module.__dict__.setdefault(table, {})
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
             Embedding, PReLU, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, MultiheadAttention, Transformer,
             TransformerEncoderLayer, TransformerDecoderLayer):
    _with_factory_kwargs(_cls)
del _cls


# What every module has, C++ layers and Python modules alike (tessera.nn.Module is a subclass of
# the C++ nn::Module): the registration tables, the state dict, train/eval and to() live in C++;
# these are PyTorch's signatures over them (generators, prefixes).
_cpp_named_parameters = _C._Module.named_parameters
_cpp_named_buffers = _C._Module.named_buffers
_cpp_named_children = _C._Module.named_children
_cpp_state_dict = _C._Module.state_dict
_PARAMETER, _BUFFER, _CHILD = 1, 2, 3


def _named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
    """(name, parameter) pairs, this module's first, then each child's under "child." (a
    generator, as PyTorch's); a parameter shared by two submodules is listed once."""
    pre = prefix + ("." if prefix else "")
    if remove_duplicate:
        return ((pre + n, t) for n, t in _cpp_named_parameters(self, recurse))
    return _all_named_parameters(self, pre, recurse)


def _all_named_parameters(module, pre, recurse):
    yield from ((pre + n, t) for n, t in _cpp_named_parameters(module, False))
    if recurse:
        for name, m in _cpp_named_children(module):
            yield from _all_named_parameters(m, pre + name + ".", True)


def _parameters(self, recurse=True):
    """An iterator over the parameters (a generator, as in PyTorch: next(model.parameters())
    works; wrap it in list() to index or count)."""
    return (t for _, t in _cpp_named_parameters(self, recurse))


def _named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
    """(name, buffer) pairs, non-persistent buffers included (a generator)."""
    return ((prefix + ("." if prefix else "") + n, t) for n, t in _cpp_named_buffers(self, recurse))


def _buffers(self, recurse=True):
    return (t for _, t in _cpp_named_buffers(self, recurse))


def _named_children(self):
    return iter(_cpp_named_children(self))


def _children(self):
    return (m for _, m in _cpp_named_children(self))


def _named_modules(self, memo=None, prefix="", remove_duplicate=True):
    """This module and every descendant, depth first, as (dotted name, module); a module reached
    twice is listed once."""
    if memo is None:
        memo = set()
    if remove_duplicate:
        if id(self) in memo:
            return
        memo.add(id(self))
    yield prefix, self
    for name, m in _cpp_named_children(self):
        yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)


def _modules_iter(self):
    return (m for _, m in self.named_modules())


def _apply(self, fn):
    """Calls fn on every submodule, then on this module (torch's order); returns self."""
    for m in self.children():
        m.apply(fn)
    fn(self)
    return self


def _requires_grad_(self, requires_grad=True):
    for p in self.parameters():
        p.requires_grad_(requires_grad)
    return self


def _state_dict(self, *args, destination=None, prefix="", keep_vars=False):
    """The parameters and persistent buffers by dotted name, in PyTorch's order (an OrderedDict:
    each module's parameters, its buffers, then its children's)."""
    if args:  # (PyTorch's old positional form: destination, prefix, keep_vars)
        destination, prefix, keep_vars = (list(args) + [prefix, keep_vars])[:3]
    out = OrderedDict() if destination is None else destination
    for k, v in _cpp_state_dict(self).items():
        out[prefix + k] = v if keep_vars else v.detach()
    return out


def _module_setattr(self, name, value):
    """module.name = value, as in PyTorch: a tensor that requires grad (Parameter) becomes a
    parameter, a module a submodule; a value assigned to a registered name takes the old one's
    place (a tensor replaces a parameter or buffer), anything else assigned to it unregisters the
    name. The registration is the C++ module's (nn::Module), so C++ sees what Python does."""
    if not _C._Module._ready(self):
        raise AttributeError(f"cannot assign '{name}' before Module.__init__() call "
                             f"(call super().__init__() first in {type(self).__name__}.__init__)")
    kind = self._kind(name)
    if isinstance(value, Tensor):
        if kind == _PARAMETER:
            self._replace_parameter(name, value)
        elif kind == _BUFFER:
            self._replace_buffer(name, value)
        elif value.requires_grad and value.is_leaf:
            if kind:
                self._unregister(name)
            self._register_parameter(name, value)
        elif kind:
            self._unregister(name)
    elif isinstance(value, _C._Module):
        # (A Python module's __dict__ holds its children for the garbage collector; the C++ table
        # of a C++ layer owns them.)
        owning = not isinstance(self, Module)
        if kind == _CHILD:
            self._replace_module(name, value, owning)
        else:
            if kind:
                self._unregister(name)
            self._register_module(name, value, owning)
    elif value is None and kind == _PARAMETER:
        self._replace_parameter(name, None)
    elif value is None and kind == _BUFFER:
        self._replace_buffer(name, None)
    elif kind:
        self._unregister(name)
    object.__setattr__(self, name, value)


def _module_delattr(self, name):
    """del module.name: unregisters a parameter, buffer or submodule too."""
    registered = self._unregister(name)
    if name in self.__dict__ or not registered:
        object.__delattr__(self, name)


def _register_buffer(self, name, tensor, persistent=True):
    """A tensor kept with the module (moved by to(), saved in the state dict unless
    persistent=False) but not trained: running statistics, say. tensor may be None."""
    if self._kind(name) == _BUFFER:
        self._unregister(name)
    elif name in self.__dict__ and self._kind(name) == 0:
        raise KeyError(f"register_buffer: attribute '{name}' already exists")
    self._register_buffer(name, tensor, persistent)
    object.__setattr__(self, name, tensor)


def _register_parameter(self, name, param):
    """Registers param (a tensor; one that does not require grad is copied into a new parameter,
    as Parameter(param) would) or None under name."""
    if param is None:
        if self._kind(name) == _PARAMETER:
            self._replace_parameter(name, None)
        else:
            self._register_parameter(name, None)
        object.__setattr__(self, name, None)
    else:
        setattr(self, name, param if param.requires_grad and param.is_leaf else Parameter(param))


def _add_module(self, name, module):
    """Registers module as the submodule name (None unregisters it)."""
    setattr(self, name, module)


def _get_submodule(self, target):
    """The submodule at the dotted path target ("" is the module itself)."""
    m = self
    for part in target.split(".") if target else ():
        children = dict(m.named_children())
        if part not in children:
            raise AttributeError(f"{type(m).__name__} has no submodule '{part}' (looking for '{target}')")
        m = children[part]
    return m


for _name, _f in (("named_parameters", _named_parameters), ("parameters", _parameters),
                  ("named_buffers", _named_buffers), ("buffers", _buffers), ("named_children", _named_children),
                  ("children", _children), ("named_modules", _named_modules), ("modules", _modules_iter),
                  ("apply", _apply), ("requires_grad_", _requires_grad_), ("state_dict", _state_dict),
                  ("__setattr__", _module_setattr), ("__delattr__", _module_delattr),
                  ("register_buffer", _register_buffer), ("register_parameter", _register_parameter),
                  ("add_module", _add_module), ("register_module", _add_module), ("get_submodule", _get_submodule)):
    setattr(_C._Module, _name, _f)
del _name, _f


def _cpp_getattr(self, name):
    # The parameters, buffers and children a C++ layer registered, by name (lstm.weight_ih_l0).
    if not name.startswith("__") and _C._Module._ready(self):
        for table in (_cpp_named_parameters, _cpp_named_buffers):
            for n, t in table(self, False):
                if n == name:
                    return t
        for n, m in _cpp_named_children(self):
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
# A hook is kept in its module's __dict__ ("_forward_hooks", "_forward_pre_hooks"), where Python's
# calls run it and Python's garbage collector sees it (a hook whose closure reaches the module is
# no uncollectable cycle), and registered with the C++ module under a key, for the calls C++
# makes (containers, the trainer), which find it by that key. A module built inside C++ (a zoo
# model's layers) may be reached through a short-lived Python wrapper whose __dict__ goes with
# it: its hooks are kept in _cpp_hooks too, until removed.
_cpp_hooks = {}  # key -> hook, for modules whose Python object does not own the C++ module
_cpp_hook_keys = iter(range(1 << 62))


def _run_cpp_hook(key, kind, module, inp, out):
    """A Python hook called by C++: the hook sees and returns what it would in Python (a
    pre-hook's tuple gives its first element)."""
    table = module.__dict__.get("_forward_pre_hooks" if kind == "pre" else "_forward_hooks")
    hook = table.get(key) if table else None
    if hook is None:
        hook = _cpp_hooks.get(key)
    if hook is None:
        return None
    if kind == "pre":
        r = hook(module, (inp,))
        return r[0] if isinstance(r, tuple) else r
    return hook(module, (inp,), out)


class _BothHandles:
    """What register_forward_hook returns: remove() takes the hook off for Python's calls and
    C++'s."""

    def __init__(self, python_handle, cpp_handle, key):
        self._handles, self._key = (python_handle, cpp_handle), key

    def remove(self):
        for h in self._handles:
            h.remove()
        _cpp_hooks.pop(self._key, None)


def _register_both(module, table, hook, register_cpp):
    key = next(_cpp_hook_keys)
    if not _C._Module._owned_by_python(module):
        _cpp_hooks[key] = hook
    return _BothHandles(_add_hook(module, table, hook, key), register_cpp(key), key)


def _forward_hook(self, hook):
    """hook(module, inputs, output) runs after forward; a non-None result replaces the output."""
    return _register_both(self, "_forward_hooks", hook, self._register_cpp_forward_hook)


def _forward_pre_hook(self, hook):
    """hook(module, inputs) runs before forward; a non-None result replaces the inputs."""
    return _register_both(self, "_forward_pre_hooks", hook, self._register_cpp_forward_pre_hook)


_C._Module.register_forward_hook = _forward_hook
_C._Module.register_forward_pre_hook = _forward_pre_hook


def Parameter(data, requires_grad=True):
    """A leaf tensor that a Module registers when assigned as an attribute."""
    return data.detach().requires_grad_(requires_grad)


class Module(_C._Module):
    """Base class of models written in Python, as torch.nn.Module: subclass it, assign layers,
    parameters (tensors that require grad) and submodules as attributes in __init__, define
    forward. It is a subclass of the C++ nn::Module: registration, the state dict, train()/eval(),
    to() and the hooks are the C++ module's, so a Python module works wherever C++ takes a module
    (containers, the trainer, checkpoints), and C++ calls reach its forward."""

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}: Module.__init__() takes no arguments "
                            f"(got {len(args)} positional and {sorted(kwargs)} keyword)")
        _C._Module.__init__(self, type(self).__name__)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __reduce_ex__(self, protocol):
        # The instance's attributes and its registration (which of them are parameters, buffers
        # (with their persistence) and submodules, in order); __init__ is not run again.
        state = {"dict": dict(self.__dict__), "entries": self._entries(), "training": self.training}
        return (_new_module, (type(self),), state)

    def __setstate__(self, state):
        d = state["dict"]
        for name, kind, persistent in state["entries"]:
            if kind == _PARAMETER:
                self._register_parameter(name, d.get(name))
            elif kind == _BUFFER:
                self._register_buffer(name, d.get(name), persistent)
            else:
                self._register_module(name, d[name], False)
        self.__dict__.update(d)
        self.training = state["training"]


def _new_module(cls):
    """An initialized, empty instance of a tessera.nn.Module subclass (unpickling)."""
    m = cls.__new__(cls)
    _C._Module.__init__(m, cls.__name__)
    return m


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
        setattr(self, str(len(self)), module)
        return self

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self.children())[i]

    def __len__(self):
        return len(_cpp_named_children(self))


class ModuleList(Module):
    """A list of modules, registered under "0", "1", ... (torch.nn.ModuleList)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        return list(self.children())[i]

    def __len__(self):
        return len(_cpp_named_children(self))

    def __iter__(self):
        return self.children()


class ModuleDict(Module):
    """Modules by name (torch.nn.ModuleDict)."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            setattr(self, k, m)

    def __getitem__(self, key):
        for k, m in _cpp_named_children(self):
            if k == key:
                return m
        raise KeyError(key)

    def __setitem__(self, key, module):
        setattr(self, key, module)

    def __delitem__(self, key):
        if self._kind(key) != _CHILD:
            raise KeyError(key)
        delattr(self, key)

    def __contains__(self, key):
        return self._kind(key) == _CHILD

    def __len__(self):
        return len(_cpp_named_children(self))

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return [k for k, _ in _cpp_named_children(self)]

    def values(self):
        return [m for _, m in _cpp_named_children(self)]

    def items(self):
        return list(_cpp_named_children(self))


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
