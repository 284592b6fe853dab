"""Pickling (and copy.deepcopy) that keeps a tensor shared between objects shared, as PyTorch's
does: a model and its optimizer pickled together come back with the optimizer updating the
rebuilt model's parameters, whichever of the two comes first.

Every Python handle on one tensor pickles the same _TensorKey (found by the tensor's _impl_id)
beside its values, so pickle's memo gives the unpickled handles one key, and the key gives them
one tensor (the first occurrence's). A C++ layer is rebuilt from its constructor and loads its
values (tessera.nn), so its parameters are new tensors: the rebuild hands them to the keys, and
optimizers already unpickled with stand-ins are rebound to them. (Each occurrence carries the
values: a pickle made inside another one, or in another thread, never depends on the outer one.)
"""
import weakref

from ._tessera import Tensor

_keys = weakref.WeakValueDictionary()  # _impl_id -> the key of a tensor being pickled


class _TensorKey:
    """One tensor within one pickle (or deepcopy)."""
    __slots__ = ("tensor", "optimizers", "__weakref__")

    def __init__(self):
        self.tensor = None      # (unpickling) the tensor the handles come back as
        self.optimizers = []    # (unpickling) optimizers holding self.tensor

    def __reduce__(self):
        return (_TensorKey, ())


def key_of(t):
    """The key of tensor t while something (a pickler's memo) holds it."""
    k = _keys.get(t._impl_id)
    if k is None:
        k = _keys[t._impl_id] = _TensorKey()
    return k


def _rebuild_tensor(key, state):
    if key.tensor is None:
        t = Tensor.__new__(Tensor)
        t.__setstate__(state)
        key.tensor = t
    return key.tensor


def _reduce_tensor(t, protocol=2):
    return (_rebuild_tensor, (key_of(t), t.__getstate__()))


def adopt(key, tensor):
    """A rebuilt layer's own tensor becomes the one key stands for; optimizers unpickled earlier
    with the stand-in switch to it (keeping their state)."""
    old = key.tensor
    if old is not None and old is not tensor:
        for opt in key.optimizers:
            opt._replace_param(old, tensor)
    key.tensor = tensor


Tensor.__reduce_ex__ = _reduce_tensor


def record_construction(cls, drop_params=False):
    """Makes cls's instances remember how they were built (self._ctor: the class, its arguments;
    for an optimizer, drop_params: the arguments besides the parameters), for pickling."""
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if "_ctor" not in self.__dict__:  # (the most derived C++ class's arguments)
            if drop_params:
                args, kwargs = args[1:], {k: v for k, v in kwargs.items() if k != "params"}
            self.__dict__["_ctor"] = (cls, args, kwargs)
    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__


def recipe(obj):
    """How obj was built (record_construction), or a TypeError saying why it cannot be pickled."""
    ctor = obj.__dict__.get("_ctor")
    if ctor is None:
        raise TypeError(f"cannot pickle this {type(obj).__name__}: it was built inside C++ (by an ONNX import or "
                        "another C++ object), so there is no recipe to rebuild it; pickle its state_dict() instead")
    return ctor
