"""The PyTorch idioms a ported script uses, beyond the ops: devices, inplace activations,
formatting, new_* factories, function forms, grad-mode helpers."""
import numpy as np
import pytest
import tessera as ts

torch = pytest.importorskip("torch")


def test_device_objects():
    dev = ts.device("cuda" if ts.cuda.is_available() else "cpu")
    assert dev.type in ("cpu", "cuda")
    assert repr(ts.device("cuda", 1)) == "device(type='cuda', index=1)" == repr(torch.device("cuda", 1))
    assert repr(ts.device("cpu")) == repr(torch.device("cpu"))
    assert ts.device("cuda:2").index == 2 and ts.device("cpu").index is None
    x = ts.ones(2).to(ts.device("cpu"))
    assert isinstance(x.device, ts.device) and x.device == "cpu" and x.device.type == "cpu" and not x.is_cuda
    with pytest.raises(ValueError, match="device"):
        ts.device("tpu")
    model = ts.nn.Linear(2, 2).to(ts.device("cpu"))
    assert model(x).shape == (2,)
    if not ts.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            x.cuda()


def check_inplace(apply):
    """apply(L, y) overwrites y (a non-leaf) on both sides: the values, the overwritten input and the
    gradients reaching the leaf must match PyTorch's."""
    a = np.random.default_rng(0).standard_normal((3, 4))
    results = []
    for L in (ts, torch):
        x = L.tensor(a, requires_grad=True)
        y = x * 2
        out = apply(L, y)
        (out * out).sum().backward()
        results.append((y.detach().numpy().copy(), out.detach().numpy(), x.grad.numpy()))
    (y_t, out_t, g_t), (y_p, out_p, g_p) = results
    np.testing.assert_allclose(y_t, out_t)  # the input itself was overwritten
    np.testing.assert_allclose(out_t, out_p, rtol=1e-6)
    np.testing.assert_allclose(g_t, g_p, rtol=1e-6)


@pytest.mark.parametrize("name,args", [("ReLU", ()), ("SiLU", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,))])
def test_inplace_activations_write_into_their_input(name, args):
    for L in (ts, torch):
        assert "inplace=True" in repr(getattr(L.nn, name)(*args, inplace=True))
    check_inplace(lambda L, y: getattr(L.nn, name)(*args, inplace=True)(y))


def test_functional_inplace_and_dropout():
    x = ts.randn(4, 5) * 1
    ts.nn.functional.relu(x, inplace=True)
    assert (x >= 0).all()
    d = ts.ones(1000)
    out = ts.nn.functional.dropout(d, 0.5, training=True, inplace=True)
    assert out is d or ts.equal(out, d)
    assert ts.nn.functional.dropout(ts.ones(3), 0.5, training=False).tolist() == [1.0, 1.0, 1.0]
    m = ts.nn.Dropout(0.5, inplace=True).eval()
    assert m(ts.ones(3)).tolist() == [1.0, 1.0, 1.0]


def test_formatting_and_factories():
    loss = ts.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and f"{ts.tensor(7):d}" == "7"
    x = ts.randn(2, 3, dtype=ts.float64)
    assert x.new_zeros(4).dtype == ts.float64 and x.new_ones(2, 2).shape == (2, 2)
    assert x.new_full((3,), 2.0).tolist() == [2.0] * 3 and x.new_tensor([1, 2]).dtype == ts.float64
    assert ts.randn_like(x).shape == (2, 3) and ts.rand_like(x).dtype == ts.float64
    assert ts.full_like(x, 5).tolist() == [[5.0] * 3] * 2 and ts.empty_like(x).shape == (2, 3)
    w = ts.empty(100, 10).uniform_(-0.1, 0.1)
    assert w.abs().max().item() <= 0.1
    assert abs(ts.empty(10000).normal_(1.0, 0.5).mean().item() - 1.0) < 0.05


def test_function_forms():
    x = ts.arange(24).reshape(2, 3, 4)
    p = torch.arange(24).reshape(2, 3, 4)
    for fn, args in [("flatten", (1,)), ("reshape", ((4, 6),)), ("transpose", (0, 2)), ("permute", ((2, 0, 1),)),
                     ("unsqueeze", (1,)), ("narrow", (2, 1, 2)), ("select", (1, 0)), ("clone", ())]:
        assert getattr(ts, fn)(x, *args).tolist() == getattr(torch, fn)(p, *args).tolist(), fn
    assert ts.squeeze(ts.ones(1, 3, 1)).shape == (3,)
    assert ts.t(ts.ones(2, 3)).shape == (3, 2) and ts.numel(x) == 24 and ts.is_tensor(x) and not ts.is_tensor(1)
    assert [u.tolist() for u in ts.unbind(x, 1)] == [u.tolist() for u in torch.unbind(p, 1)]


def test_grad_mode_helpers():
    assert ts.is_grad_enabled()
    with ts.set_grad_enabled(False):
        assert not ts.is_grad_enabled()
        assert not (ts.ones(2, requires_grad=True) * 2).requires_grad
    assert ts.is_grad_enabled()
    ts.set_grad_enabled(False)
    assert not ts.is_grad_enabled()
    ts.set_grad_enabled(True)
    with ts.inference_mode():
        assert not ts.is_grad_enabled()

    @ts.inference_mode()
    def f():
        return ts.is_grad_enabled()
    assert f() is False and ts.is_grad_enabled()


@pytest.mark.parametrize("fn,args", [("leaky_relu", (0.1,)), ("elu", (0.5,)), ("relu", ()), ("silu", ())])
def test_functional_inplace_gradients_match_pytorch(fn, args):
    check_inplace(lambda L, y: getattr(L.nn.functional, fn)(y, *args, inplace=True))


def test_numpy_scalars_on_the_left_keep_tensors():
    x = ts.ones(2, requires_grad=True)
    y = np.float32(3) * x + np.float64(1) - np.int64(2)
    assert isinstance(y, ts.Tensor) and y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_values_and_indices_by_name():
    x = ts.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    p = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    for name, args in [("max", (1,)), ("min", (0,)), ("sort", (1,)), ("topk", (2,))]:
        ours, theirs = getattr(ts, name)(x, *args), getattr(torch, name)(p, *args)
        assert ours.values.tolist() == theirs.values.tolist() and ours.indices.tolist() == theirs.indices.tolist()
        v, i = getattr(x, name)(*args)  # still a pair
        assert v.tolist() == theirs[0].tolist() and i.tolist() == theirs[1].tolist()
    assert ts.max(x).item() == 5.0 and ts.max(x, ts.zeros(2, 3)).shape == (2, 3)


def test_forward_hooks_on_python_and_cpp_modules():
    class Net(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = ts.nn.Linear(3, 4)
            self.out = ts.nn.Linear(4, 2)

        def forward(self, x):
            return self.out(self.fc(x).relu())

    net = Net()
    seen = {}
    h1 = net.fc.register_forward_hook(lambda m, inp, out: seen.update(fc=tuple(out.shape)))
    h2 = net.register_forward_hook(lambda m, inp, out: out * 0)  # replaces the output
    h3 = net.out.register_forward_pre_hook(lambda m, inp: (inp[0] * 2,))
    x = ts.randn(5, 3)
    assert net(x).abs().sum().item() == 0 and seen["fc"] == (5, 4)
    h2.remove()
    doubled = net(x)
    h1.remove()
    h3.remove()
    np.testing.assert_allclose(doubled.detach().numpy(), net.out(net.fc(x).relu() * 2).detach().numpy(), rtol=1e-6)
    mha = ts.nn.MultiheadAttention(4, 2)
    mha.register_forward_hook(lambda m, inp, out: seen.update(mha=len(inp)))
    mha(ts.ones(3, 1, 4), ts.ones(3, 1, 4), ts.ones(3, 1, 4))
    assert seen["mha"] == 3


def test_hooks_on_layers_inside_cpp_containers_and_zoo_models():
    """A hook on a C++ layer fires when a C++ container or a zoo model calls it (C++ runs it), once
    per call (Python's own calls run it in Python, not twice), and its handle removes it; hooks
    leave no reference cycle through C++ (nanobind reports no leaked instances at exit)."""
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent("""
        import tessera as ts
        net = ts.zoo.resnet18()
        shapes, handles = [], []

        def walk(m):
            for name, c in m.named_children():
                if type(c).__name__ == "Conv2d":
                    handles.append(c.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(out.shape))))
                walk(c)
        walk(net)
        net.eval()
        net(ts.randn(1, 3, 32, 32))
        assert len(shapes) == 20 and shapes[0] == (1, 64, 32, 32), shapes
        for h in handles:
            h.remove()
        net(ts.randn(1, 3, 32, 32))
        assert len(shapes) == 20
        seq = ts.nn.Sequential(ts.nn.Linear(3, 4), ts.nn.ReLU(), ts.nn.Linear(4, 2))
        calls = []
        seq[0].register_forward_hook(lambda m, i, o: calls.append("post"))
        seq[2].register_forward_pre_hook(lambda m, i: (i[0] * 0,))  # the last layer sees zeros
        y = seq(ts.randn(5, 3))
        assert calls == ["post"] and ts.allclose(y, seq[2].bias.expand(5, 2))
        seq[0](ts.randn(2, 3))  # called from Python: the hook runs once, in Python
        assert calls == ["post", "post"]
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
    assert "leaked" not in p.stderr, p.stderr
