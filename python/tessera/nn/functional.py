"""tessera.nn.functional: PyTorch's functional names over the C++ ops and losses."""
from .. import _tessera as _C
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
    return _apply(input, lambda x: where(x > 0, x, x * negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return _apply(input, lambda x: where(x > 0, x, x.expm1() * alpha), inplace)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input divided by its p-norm along dim (at least eps)."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _apply(input, lambda x: x.clamp(min_val, max_val), inplace)


def relu6(input, inplace=False):
    """ReLU capped at 6: min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input):
    """Piecewise-linear sigmoid: relu6(x + 3) / 6."""
    return (input + 3).clamp(0.0, 6.0) / 6


def hardswish(input):
    """x * relu6(x + 3) / 6."""
    return input * hardsigmoid(input)


def mish(input):
    """x * tanh(softplus(x))."""
    return input * softplus(input).tanh()


def prelu(input, weight):
    """x, or weight * x below 0 (weight broadcasts: one value, or one per channel shaped to dim 1)."""
    return where(input > 0, input, input * weight)


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
    if mode != "nearest":
        raise ValueError(f"interpolate: mode '{mode}' is not supported (only 'nearest')")
    if input.dim() != 4:
        raise ValueError(f"interpolate: expected [N, C, H, W], got shape {tuple(input.shape)}")
    n, c, h, w = input.shape
    if size is not None:
        sh, sw = (size, size) if isinstance(size, int) else size
        if sh % h or sw % w:
            raise ValueError(f"interpolate: size {tuple((sh, sw))} is not an integer multiple of {(h, w)}")
        fh, fw = sh // h, sw // w
    elif scale_factor is not None:
        fh, fw = (scale_factor, scale_factor) if not isinstance(scale_factor, (tuple, list)) else scale_factor
        if fh != int(fh) or fw != int(fw) or fh < 1 or fw < 1:
            raise ValueError(f"interpolate: scale_factor must be a positive integer, got {scale_factor}")
        fh, fw = int(fh), int(fw)
    else:
        raise ValueError("interpolate: give size or scale_factor")
    out = input.reshape(n, c, h, 1, w, 1).expand(n, c, h, fh, w, fw)
    return out.reshape(n, c, h * fh, w * fw)


def _pool1d(pool2d, input, kernel_size, stride, padding, **kw):
    if input.dim() != 3:
        raise ValueError(f"{pool2d.__name__.replace('2d', '1d')}: expected [N, C, L], got shape {tuple(input.shape)}")
    stride = kernel_size if stride is None else stride
    out = pool2d(input.unsqueeze(2), (1, kernel_size), (1, stride), (0, padding), **kw)
    if isinstance(out, tuple):
        return out[0].squeeze(2), out[1].squeeze(2)
    return out.squeeze(2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over [N, C, L]."""
    return _pool1d(max_pool2d, input, kernel_size, stride, padding, dilation=(1, dilation), ceil_mode=ceil_mode,
                   return_indices=return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over [N, C, L]."""
    return _pool1d(avg_pool2d, input, kernel_size, stride, padding, ceil_mode=ceil_mode,
                   count_include_pad=count_include_pad)


def adaptive_avg_pool1d(input, output_size):
    """1-D average pooling of [N, C, L] to a given length."""
    if input.dim() != 3:
        raise ValueError(f"adaptive_avg_pool1d: expected [N, C, L], got shape {tuple(input.shape)}")
    return adaptive_avg_pool2d(input.unsqueeze(2), (1, output_size)).squeeze(2)
