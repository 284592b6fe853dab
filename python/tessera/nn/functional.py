"""tessera.nn.functional: PyTorch's functional names over the C++ ops and losses."""
from .. import _tessera as _C
from .._tessera import _functional as _CF
from .._tessera import (adaptive_avg_pool2d, avg_pool2d, batch_norm, binary_cross_entropy,  # noqa: F401
                        binary_cross_entropy_with_logits, conv1d, conv2d, conv_transpose2d, cross_entropy,
                        embedding, gelu, group_norm, kl_div, l1_loss, layer_norm, linear, log_softmax, max_pool2d,
                        mse_loss, nll_loss, one_hot, pad, scaled_dot_product_attention, sigmoid, smooth_l1_loss, softmax,
                        softplus, tanh, where)


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
    return _apply(input, lambda x: _CF.leaky_relu(x, negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return _apply(input, lambda x: _CF.elu(x, alpha), inplace)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input divided by its p-norm along dim (at least eps)."""
    return _CF.normalize(input, p, dim, eps)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped to [min_val, max_val]."""
    if min_val > max_val:  # (checked before an in-place write touches input)
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _apply(input, lambda x: _CF.hardtanh(x, min_val, max_val), inplace)


def relu6(input, inplace=False):
    """ReLU capped at 6: min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    """Piecewise-linear sigmoid: relu6(x + 3) / 6."""
    return _apply(input, _CF.hardsigmoid, inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _apply(input, _CF.hardswish, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _apply(input, _CF.mish, inplace)


def prelu(input, weight):
    """x, or weight * x below 0; weight holds one slope, or one per channel (dim 1 of input)."""
    return _CF.prelu(input, weight)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of [N, C, L] (or [C, L]) with probability p when training, scaling the rest."""
    return _apply(input, lambda x: _C.dropout1d(x, p, training), inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of [N, C, H, W] (or [C, H, W]) with probability p when training, scaling the
    rest; other ranks warn and proceed as in PyTorch."""
    return _apply(input, lambda x: _C.dropout2d(x, p, training), inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of [N, C, D, H, W] (or [C, D, H, W]) with probability p when training."""
    return _apply(input, lambda x: _C.dropout3d(x, p, training), inplace)


def interpolate(input, size=None, scale_factor=None, mode="nearest"):
    """Nearest-neighbour resizing of [N, C, H, W] by integer scale factors (or to a size that is an
    integer multiple of the input's); other modes are not implemented."""
    size = [size] if isinstance(size, int) else size
    scale_factor = [scale_factor] if isinstance(scale_factor, (int, float)) else scale_factor
    return _CF.interpolate(input, size, scale_factor, mode)


def _single(v, name, what):
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{name}: {what} takes one number for 1-D pooling, got {tuple(v)}")
        return v[0]
    return v


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over [N, C, L]; return_indices also gives the positions of the maxima."""
    args = (input, _single(kernel_size, "max_pool1d", "kernel_size"),
            None if stride is None else _single(stride, "max_pool1d", "stride"), _single(padding, "max_pool1d", "padding"),
            _single(dilation, "max_pool1d", "dilation"), ceil_mode)
    return _CF.max_pool1d_with_indices(*args) if return_indices else _CF.max_pool1d(*args)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over [N, C, L]."""
    return _CF.avg_pool1d(input, _single(kernel_size, "avg_pool1d", "kernel_size"),
                          None if stride is None else _single(stride, "avg_pool1d", "stride"),
                          _single(padding, "avg_pool1d", "padding"), ceil_mode, count_include_pad)


def adaptive_avg_pool1d(input, output_size):
    """1-D average pooling of [N, C, L] to a given length."""
    return _CF.adaptive_avg_pool1d(input, _single(output_size, "adaptive_avg_pool1d", "output_size"))
