"""tessera.nn: Module (subclass it and define forward, as in PyTorch) and the C++ layers."""
from collections import OrderedDict

from .. import _tessera as _C
from .._tessera import Tensor
from . import functional  # noqa: F401

Linear, Conv2d, MaxPool2d, BatchNorm2d = _C.Linear, _C.Conv2d, _C.MaxPool2d, _C.BatchNorm2d
Dropout, Flatten, ReLU, Tanh, Sigmoid = _C.Dropout, _C.Flatten, _C.ReLU, _C.Tanh, _C.Sigmoid
Embedding, LayerNorm = _C.Embedding, _C.LayerNorm


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

    def register_buffer(self, name, tensor):
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

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

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def children(self):
        return list(self._modules.values())

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
        for name, b in self._buffers.items():
            out[prefix + name] = b
        for mname, m in self._modules.items():
            if isinstance(m, _C._Module):
                for k, v in m.state_dict():
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
    """Runs its modules in order."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)
