"""tessera.nn.functional: PyTorch's functional names over the C++ ops and losses."""
from .. import _tessera as _C
from .._tessera import (adaptive_avg_pool2d, avg_pool2d, batch_norm, binary_cross_entropy,  # noqa: F401
                        binary_cross_entropy_with_logits, conv1d, conv2d, conv_transpose2d, cross_entropy,
                        embedding, gelu, group_norm, kl_div, l1_loss, layer_norm, linear, log_softmax, max_pool2d,
                        mse_loss, nll_loss, one_hot, pad, sigmoid, smooth_l1_loss, softmax, softplus, tanh, where)


def _apply(input, fn, inplace):
    """fn(input), or (inplace=True, as PyTorch's) fn(input) written into input; under autograd
    input then takes the history of fn applied to its old value."""
    if not inplace:
        return fn(input)
    return input.copy_(fn(input.clone() if input.requires_grad else input))


def relu(input, inplace=False):
    """Rectified linear unit, max(x, 0); inplace=True writes into input."""
    return input.relu_() if inplace else _C.relu(input)


def silu(input, inplace=False):
    """x * sigmoid(x); inplace=True writes into input."""
    return input.silu_() if inplace else _C.silu(input)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes elements with probability p and scales the rest by 1/(1-p) when training."""
    if not training or p == 0:
        return input
    return _apply(input, lambda x: _C.dropout(x, p, training), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x > 0, else negative_slope * x."""
    return _apply(input, lambda x: where(x > 0, x, x * negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return _apply(input, lambda x: where(x > 0, x, x.expm1() * alpha), inplace)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input divided by its p-norm along dim (at least eps)."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)
