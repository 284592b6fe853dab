"""torch.autograd.functional: vjp, jvp, jacobian, hessian, vhp, hvp of Python functions of
tensors (computed in C++, tessera/autograd/functional.h). Inputs and v are a tensor or a tuple of
them; results follow PyTorch's nesting (a tensor where the function takes or returns one tensor)."""
from .. import _tessera as _C
from .._tessera import Tensor as _Tensor

_A = _C._autograd


def _tup(x):
    return isinstance(x, tuple) or isinstance(x, list)


def _one(xs, is_tuple):
    return tuple(xs) if is_tuple else xs[0]


def _outputs_are_tuple(func, inputs):
    # Whether func returns a tuple: known from one call outside autograd's bookkeeping.
    from .. import no_grad
    with no_grad():
        r = func(*inputs) if _tup(inputs) else func(inputs)
    return _tup(r)


def _check(func, name):
    if not callable(func):
        raise TypeError(f"{name}: func must be callable, got {type(func).__name__}")


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product, one tensor per input."""
    _check(func, "vjp")
    outs, g = _A.vjp(func, inputs, v, create_graph, strict)
    return _one(outs, _outputs_are_tuple(func, inputs)), _one(g, _tup(inputs))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, one tensor per output."""
    _check(func, "jvp")
    outs, jv = _A.jvp(func, inputs, v, create_graph, strict)
    t = _outputs_are_tuple(func, inputs)
    return _one(outs, t), _one(jv, t)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """d func(inputs) / d inputs, each block of shape output.shape + input.shape; nested as PyTorch
    nests it (a tensor for one input and one output)."""
    _check(func, "jacobian")
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: strategy={strategy!r} is not supported (only 'reverse-mode')")
    J = _A.jacobian(func, inputs, create_graph, strict)
    rows = [_one(r, _tup(inputs)) for r in J]
    return _one(rows, _outputs_are_tuple(func, inputs))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The second derivatives of a function with one one-element output."""
    _check(func, "hessian")
    H = _A.hessian(func, inputs, create_graph, strict)
    rows = [_one(r, _tup(inputs)) for r in H]
    return _one(rows, _tup(inputs))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a function with one one-element output."""
    _check(func, "vhp")
    y, h = _A.vhp(func, inputs, v, create_graph, strict)
    return y, _one(h, _tup(inputs))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a function with one one-element output."""
    _check(func, "hvp")
    y, h = _A.hvp(func, inputs, v, create_graph, strict)
    return y, _one(h, _tup(inputs))


__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]
_ = _Tensor
