"""tessera.autograd (torch.autograd's names): grad and backward, custom Functions, gradcheck,
anomaly mode, grad-mode switches, and tessera.autograd.functional."""
import contextlib as _contextlib
import functools as _functools

from .. import _tessera as _C
from .._tessera import Tensor as _Tensor
from .._tessera._autograd import FunctionCtx  # noqa: F401
from . import functional  # noqa: F401

_A = _C._autograd


def _as_tuple(x):
    if x is None:
        return None
    return (x,) if isinstance(x, _Tensor) else tuple(x)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of outputs with respect to inputs (a tuple, one per input), as torch.autograd.grad.
    retain_graph defaults to create_graph; allow_unused gives None for inputs the outputs do not use
    (zeros with materialize_grads)."""
    if is_grads_batched:
        raise ValueError("grad: is_grads_batched=True is not supported; loop over the batch of grad_outputs")
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    gos = None
    if grad_outputs is not None:
        gos = list(_as_tuple(grad_outputs))
        if len(gos) != len(outputs):
            raise ValueError(f"grad: grad_outputs has {len(gos)} tensors but there are {len(outputs)} outputs")
        from .. import ones_like
        gos = [ones_like(o) if g is None else g for g, o in zip(gos, outputs)]
    retain = create_graph if retain_graph is None else retain_graph
    unused = bool(allow_unused) or materialize_grads
    res = _C.grad(list(outputs), list(inputs), gos, retain, create_graph, unused)
    if materialize_grads:
        from .. import zeros_like
        res = [zeros_like(x) if g is None else g for g, x in zip(res, inputs)]
    return tuple(res)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates the gradients of tensors into the leaves' .grad (or only into inputs' .grad), as
    torch.autograd.backward."""
    tensors = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors) or (None,) * len(tensors)
    if len(grads) != len(tensors):
        raise ValueError(f"backward: grad_tensors has {len(grads)} tensors but there are {len(tensors)} tensors")
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = _as_tuple(inputs)
        from .. import ones_like
        gs = grad(tensors, inputs, [ones_like(t) if g is None else g for g, t in zip(grads, tensors)],
                  retain_graph=retain, create_graph=create_graph, allow_unused=True)
        for x, g in zip(inputs, gs):
            if g is not None:
                x.grad = g if x.grad is None else x.grad + g
        return
    for k, (t, g) in enumerate(zip(tensors, grads)):
        t.backward(g, retain_graph=retain or k < len(tensors) - 1, create_graph=create_graph)


class Function:
    """Base of custom differentiable operations, as torch.autograd.Function: define the static methods
    forward(ctx, *args) and backward(ctx, *grad_outputs) (one gradient per forward argument, None
    where there is none) and call YourFunction.apply(*args). ctx.save_for_backward(*tensors) keeps
    tensors for backward (ctx.saved_tensors); ctx.needs_input_grad tells which arguments need a
    gradient; ctx.mark_dirty, ctx.mark_non_differentiable and ctx.set_materialize_grads as in PyTorch."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a custom Function must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a custom Function must define backward(ctx, *grad_outputs) to be differentiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply takes positional arguments only (as in PyTorch)")
        return _A.function_apply(cls, args)

    vjp = backward


def once_differentiable(backward):
    """Decorates a Function's backward that is not itself differentiable: it runs without recording."""
    @_functools.wraps(backward)
    def wrapper(ctx, *args):
        from .. import no_grad
        with no_grad():
            return backward(ctx, *args)
    return wrapper


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **ignored):
    """Compares func's gradients with central finite differences (inputs that require grad must be
    float64); True when they agree, else an error (or False with raise_exception=False)."""
    return _A.gradcheck(func, inputs, eps, atol, rtol, raise_exception, False)


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  **ignored):
    """gradcheck for second derivatives (the gradient of a random projection of func's gradients)."""
    return _A.gradcheck(func, inputs, eps, atol, rtol, raise_exception, True)


class detect_anomaly(_contextlib.ContextDecorator):
    """Anomaly mode in its block (or a decorated function): nodes remember where they were created,
    and a backward that produces NaN or Inf raises naming the op and that place."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = _A.is_anomaly_enabled()
        _A.set_detect_anomaly(self.check_nan)
        return self

    def __exit__(self, *exc):
        _A.set_detect_anomaly(self._prev)
        return False


class set_detect_anomaly(detect_anomaly):
    """Turns anomaly mode on or off at once, and back when used as a context manager exits."""

    def __init__(self, mode, check_nan=True):
        super().__init__(bool(mode))
        self._prev = _A.is_anomaly_enabled()
        _A.set_detect_anomaly(bool(mode))

    def __enter__(self):  # (already on or off since __init__; __exit__ restores the mode before)
        return self


def is_anomaly_enabled():
    """Whether anomaly mode is on."""
    return _A.is_anomaly_enabled()




def Variable(data, requires_grad=False, volatile=False):
    """The pre-0.4 PyTorch wrapper: today a tensor is its own Variable, so this returns data (set
    to require grad when asked)."""
    if requires_grad:
        data.requires_grad_(True)
    return data
