"""tessera.nn.functional: PyTorch's functional names over the C++ ops."""
from .._tessera import (conv2d, cross_entropy, gelu, linear, log_softmax, max_pool2d, mse_loss,  # noqa: F401
                        relu, sigmoid, silu, softmax, tanh)
