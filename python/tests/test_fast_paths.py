"""One-pass paths of the training step, checked against PyTorch and against the ops they replace:
add_/sub_ with alpha as one multiply-add pass (and the two-op path wherever that one does not
apply: autograd, aliasing views, broadcasting, mixed dtypes), SGD's momentum update, dropout's
scaled mask, and the weight gradient of a linear layer coming back row-major like its weight."""
import numpy as np
import pytest
import torch

import tessera as ts


def pair(shape, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["add_", "sub_"])
def test_add_with_alpha_in_place_matches_pytorch(dtype, op):
    a, b = pair((37, 129), 1, dtype)
    for alpha in (0.5, -3.0, 1.0, 2):
        t, u = torch.tensor(a), torch.tensor(b)
        getattr(t, op)(u, alpha=alpha)
        x = ts.tensor(a)
        getattr(x, op)(ts.tensor(b), alpha=alpha)
        np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-15, atol=1e-6)
    # Non-contiguous operands, a broadcast operand, an integer tensor: the same results.
    x, t = ts.tensor(a).t(), torch.tensor(a).t()
    x.add_(ts.tensor(b).t(), alpha=0.25)
    t.add_(torch.tensor(b).t(), alpha=0.25)
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)
    x, t = ts.tensor(a), torch.tensor(a)
    x.add_(ts.tensor(b[0]), alpha=0.25)
    t.add_(torch.tensor(b[0]), alpha=0.25)
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)
    i = ts.tensor(np.arange(6))
    i.add_(ts.tensor(np.ones(6, np.int64)), alpha=3)
    assert i.tolist() == [3, 4, 5, 6, 7, 8]


def test_add_with_alpha_on_overlapping_views_reads_the_old_values():
    """x[1:] += 2 * x[:-1]: the other operand is read before it is overwritten, as two ops do."""
    v = np.arange(8, dtype=np.float32)
    x, t = ts.tensor(v), torch.tensor(v)
    x[1:].add_(x[:-1], alpha=2.0)
    t[1:].add_(t[:-1].clone(), alpha=2.0)
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    y = ts.tensor(v)
    y.add_(y, alpha=0.5)  # the same view: each element reads itself
    np.testing.assert_array_equal(y.numpy(), v * 1.5)


def test_add_with_alpha_under_autograd_records_the_gradient():
    a, b = pair((5, 4), 2)
    x = ts.tensor(a, requires_grad=True)
    y = x * 1.0
    y.add_(ts.tensor(b), alpha=3.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((5, 4), np.float32))
    w = ts.tensor(b, requires_grad=True)
    z = ts.tensor(a).add(w, alpha=3.0)
    z.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((5, 4), 3.0, np.float32))


@pytest.mark.parametrize("nesterov,dampening", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_sgd_momentum_matches_pytorch(nesterov, dampening):
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((64, 33)).astype(np.float32)
    grads = [rng.standard_normal((64, 33)).astype(np.float32) for _ in range(4)]
    pt = torch.nn.Parameter(torch.tensor(w0))
    po = ts.nn.Parameter(ts.tensor(w0))
    opt_t = torch.optim.SGD([pt], lr=0.05, momentum=0.9, nesterov=nesterov, dampening=dampening, weight_decay=0.01)
    opt_o = ts.optim.SGD([po], lr=0.05, momentum=0.9, nesterov=nesterov, dampening=dampening, weight_decay=0.01)
    for g in grads:
        pt.grad, po.grad = torch.tensor(g), ts.tensor(g)
        opt_t.step()
        opt_o.step()
    np.testing.assert_allclose(po.detach().numpy(), pt.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_linear_weight_gradient_is_row_major_and_right():
    """linear is x @ weight.t(): the weight's gradient comes back contiguous like the weight (so
    optimizers read it in order), for 2-D and 3-D inputs, with PyTorch's values."""
    rng = np.random.default_rng(4)
    w, b = rng.standard_normal((7, 11)).astype(np.float32), rng.standard_normal(7).astype(np.float32)
    for shape in [(5, 11), (3, 4, 11)]:
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape[:-1] + (7,)).astype(np.float32)
        lin = ts.nn.Linear(11, 7)
        lin.weight.data.copy_(ts.tensor(w))
        lin.bias.data.copy_(ts.tensor(b))
        xo = ts.tensor(x, requires_grad=True)
        lin(xo).backward(ts.tensor(g))
        tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(g))
        assert lin.weight.grad.is_contiguous()
        np.testing.assert_allclose(lin.weight.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(lin.bias.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(xo.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_matmul_gradients_through_a_transposed_matrix_in_float64():
    """The transposed product against finite differences in float64."""
    rng = np.random.default_rng(5)
    a = ts.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = ts.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    assert ts.autograd.gradcheck(lambda a, w: ts.matmul(a, w.t()), (a, w))
    assert ts.autograd.gradcheck(lambda a, w: ts.matmul(a, w.t().contiguous()), (a, w))


@pytest.mark.parametrize("channels_last", [False, True])
def test_dropout_scales_the_kept_values_and_their_gradient(channels_last):
    x = ts.randn(8, 6, 5, 5)
    if channels_last:
        x = x.contiguous(memory_format=ts.channels_last)
    x.requires_grad_()
    ts.manual_seed(7)
    y = ts.nn.functional.dropout(x, 0.25, training=True)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / 0.75, rtol=1e-6)
    assert 0.6 < kept.mean() < 0.9
    assert y.is_contiguous(memory_format=ts.channels_last) == channels_last
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / np.float32(0.75), rtol=1e-6)
