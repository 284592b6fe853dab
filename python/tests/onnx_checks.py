"""Checks shared by the ONNX tests."""
import numpy as np


def assert_same_grads(net, tnet, rtol, atol=0.0):
    """Every parameter of the PyTorch module tnet has the gradient of its namesake in net (a tessera
    module imported from tnet's ONNX export)."""
    params = dict(net.named_parameters())
    for name, p in tnet.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
