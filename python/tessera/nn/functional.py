"""tessera.nn.functional: PyTorch's functional names over the C++ ops and losses."""
from .._tessera import (adaptive_avg_pool2d, avg_pool2d, batch_norm, binary_cross_entropy,  # noqa: F401
                        binary_cross_entropy_with_logits, conv1d, conv2d, conv_transpose2d, cross_entropy, dropout,
                        embedding, gelu, group_norm, kl_div, l1_loss, layer_norm, linear, log_softmax, max_pool2d,
                        mse_loss, nll_loss, one_hot, pad, relu, sigmoid, silu, smooth_l1_loss, softmax, softplus,
                        tanh, where)


def leaky_relu(input, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    return where(input > 0, input, input * negative_slope)


def elu(input, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return where(input > 0, input, input.expm1() * alpha)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input divided by its p-norm along dim (at least eps)."""
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)
