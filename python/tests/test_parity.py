"""tessera against PyTorch (python3-torch) on random inputs: outputs and gradients."""
import numpy as np
import seeds
import pytest
import tessera as ts

torch = pytest.importorskip("torch")

RNG = seeds.rng()
DTYPES = [(np.float32, ts.float32, torch.float32, 1e-5), (np.float64, ts.float64, torch.float64, 1e-10)]


def pair(a, requires_grad=True):
    """The same values as a tessera and a torch tensor (leaves)."""
    t = ts.tensor(a, dtype=ts.float64 if a.dtype == np.float64 else ts.float32, requires_grad=requires_grad)
    p = torch.tensor(a, requires_grad=requires_grad)
    return t, p


def close(t, p, tol):
    np.testing.assert_allclose(np.asarray(t.detach().cpu().numpy(), dtype=np.float64),
                               p.detach().numpy().astype(np.float64), rtol=tol * 10, atol=tol)


def check(fn_ts, fn_torch, arrays, tol):
    """Runs both, compares outputs, then backward of sum(out * w) and compares the gradients."""
    tts, tps = zip(*[pair(a) for a in arrays])
    out_t, out_p = fn_ts(*tts), fn_torch(*tps)
    close(out_t, out_p, tol)
    w = RNG.standard_normal(out_p.shape).astype(arrays[0].dtype)
    (out_t * ts.tensor(w, dtype=out_t.dtype)).sum().backward()
    (out_p * torch.tensor(w)).sum().backward()
    for t, p in zip(tts, tps):
        assert (t.grad is None) == (p.grad is None)
        if p.grad is not None:
            close(t.grad, p.grad, tol * 10)


UNARY = ["exp", "tanh", "sigmoid", "relu", "sin", "cos", "abs", "square", "erf", "silu"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("np_dt,ts_dt,torch_dt,tol", DTYPES)
def test_unary(name, np_dt, ts_dt, torch_dt, tol, on_device):
    a = RNG.uniform(-2, 2, (4, 5)).astype(np_dt)
    ref = getattr(torch, name, None) or getattr(torch.nn.functional, name)
    check(lambda x: getattr(ts, name)(x.T), lambda x: ref(x.T), [a], tol)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow", "maximum"])
@pytest.mark.parametrize("np_dt,ts_dt,torch_dt,tol", DTYPES)
def test_binary_broadcasting(op, np_dt, ts_dt, torch_dt, tol, on_device):
    a = RNG.uniform(0.5, 2, (3, 1, 4)).astype(np_dt)
    b = RNG.uniform(0.5, 2, (2, 4)).astype(np_dt)
    if op == "maximum":
        check(ts.maximum, torch.maximum, [a, b], tol)
    else:
        f = getattr(__import__("operator"), op)
        check(f, f, [a, b], tol)


@pytest.mark.parametrize("np_dt,ts_dt,torch_dt,tol", DTYPES)
def test_reductions(np_dt, ts_dt, torch_dt, tol, on_device):
    a = RNG.uniform(-1, 1, (3, 4, 5)).astype(np_dt)
    check(lambda x: x.sum(1), lambda x: x.sum(1), [a], tol)
    check(lambda x: x.mean((0, 2), keepdim=True), lambda x: x.mean((0, 2), keepdim=True), [a], tol)
    check(lambda x: x.var(1), lambda x: x.var(1), [a], tol)
    check(lambda x: x.std(), lambda x: x.std(), [a], tol)
    check(lambda x: x.amax(2), lambda x: x.amax(2), [a], tol)
    check(lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), [a], tol)
    check(lambda x: x.cumsum(2), lambda x: x.cumsum(2), [a], tol)
    check(lambda x: x.softmax(-1), lambda x: x.softmax(-1), [a], tol)
    check(lambda x: x.log_softmax(0), lambda x: x.log_softmax(0), [a], tol)
    check(lambda x: x.norm(), lambda x: x.norm(), [a], tol)


@pytest.mark.parametrize("np_dt,ts_dt,torch_dt,tol", DTYPES)
def test_nn_ops(np_dt, ts_dt, torch_dt, tol, on_device):
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np_dt)
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np_dt) * 0.2
    b = RNG.standard_normal(4).astype(np_dt)
    check(lambda x, w, b: ts.conv2d(x, w, b, stride=2, padding=1), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, 2, 1),
          [x, w, b], tol * 10)
    check(lambda x: ts.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2), [x], tol)
    m, k = RNG.standard_normal((5, 7)).astype(np_dt), RNG.standard_normal((7, 3)).astype(np_dt)
    check(lambda a, b: a @ b, lambda a, b: a @ b, [m, k], tol * 10)
    check(lambda a, b: ts.linear(a, b.T), lambda a, b: torch.nn.functional.linear(a, b.T), [m, k], tol * 10)
    logits = RNG.standard_normal((6, 4)).astype(np_dt)
    target = RNG.integers(0, 4, 6)
    check(lambda z: ts.cross_entropy(z, ts.tensor(target), label_smoothing=0.1),
          lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(target), label_smoothing=0.1), [logits], tol)


def test_indexing_matches_numpy():
    a = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    t = ts.from_numpy(a)
    for key in [1, -1, (slice(None), 2), (Ellipsis, slice(1, 5, 2)), (None, 0, slice(None, None, 3)),
                ([0, 2, 2], slice(None), [1, 3, 5]), (slice(None), [4, 0]), (a[:, 0, 0] > 0,)]:
        got = t[tuple(ts.tensor(k) if isinstance(k, np.ndarray) else k for k in key) if isinstance(key, tuple) else key]
        np.testing.assert_array_equal(got.numpy(), a[key], err_msg=str(key))
    b = ts.zeros(3, 4)
    b[1] = 2.0
    b[:, 0] = ts.tensor([7.0, 8.0, 9.0])
    expected = np.zeros((3, 4), np.float32)
    expected[1] = 2
    expected[:, 0] = [7, 8, 9]
    np.testing.assert_array_equal(b.numpy(), expected)


def test_numpy_interop_shares_memory():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = ts.from_numpy(a)
    a[0, 0] = -5
    assert t[0, 0].item() == -5
    back = t.numpy()
    back[1, 1] = 42
    assert a[1, 1] == 42
    assert ts.from_numpy(a[::-1]).tolist() == a[::-1].tolist()  # negative strides are copied
    assert np.asarray(ts.tensor([1, 2])).dtype == np.int64


def test_printing_and_dtypes_match_pytorch():
    assert repr(ts.tensor([1.0, 2.5])) == repr(torch.tensor([1.0, 2.5]))
    assert repr(ts.tensor([[1, 2], [3, 4]])) == repr(torch.tensor([[1, 2], [3, 4]]))
    assert ts.tensor([1.0]).dtype == ts.float32 and ts.tensor([1]).dtype == ts.int64
    assert (ts.tensor([1, 2]) / 2).dtype == ts.float32
    assert str(ts.float64) == "tessera.float64"


def test_errors_are_python_exceptions():
    with pytest.raises(ValueError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x4 and 5x6\)"):
        ts.ones(3, 4) @ ts.ones(5, 6)
    with pytest.raises(IndexError, match="out of bounds"):
        ts.ones(3)[5]
    with pytest.raises(TypeError):
        ts.ones(2, dtype=ts.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="does not require grad"):
        ts.ones(2).sum().backward()


def test_autograd_api():
    x = ts.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    (gx,) = ts.grad([(x ** 3).sum()], [x], create_graph=True)
    (ggx,) = ts.grad([gx.sum()], [x])
    assert ggx.tolist() == [6.0, 12.0, 18.0]

    @ts.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with ts.no_grad():
        assert not (x + 1).requires_grad
    assert (x + 1).requires_grad
    assert (x * 2).grad_fn == "mulBackward"


def test_type_stubs_describe_the_module():
    import pathlib
    stubs = pathlib.Path(ts._tessera.__file__).with_name("_tessera")
    text = (stubs / "__init__.pyi").read_text()
    for needle in ("class Tensor:", "def matmul(", "def backward(self", "def from_numpy(", "class dtype"):
        assert needle in text, needle
    assert "class DataLoader:" in (stubs / "data" / "__init__.pyi").read_text()
    assert "def fit(" in (stubs / "train" / "__init__.pyi").read_text()
    assert "Matrix product with NumPy semantics" in text  # the docstrings travel with the stubs
    assert pathlib.Path(ts.__file__).with_name("py.typed").exists()


def test_dlpack_moves_tensors_to_and_from_pytorch_without_copies():
    p = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # non-contiguous
    t = ts.from_dlpack(p)
    assert t.shape == (4, 3) and t.tolist() == p.tolist()
    p[0, 0] = -1.0
    assert t[0, 0].item() == -1.0  # shared memory
    x = ts.tensor([[1.5, 2.0], [3.0, 4.0]], dtype=ts.float64)[:, 1]  # a strided view with an offset
    q = torch.from_dlpack(x)
    assert q.dtype == torch.float64 and q.tolist() == [2.0, 4.0]
    x[0] = 7.0
    assert q[0].item() == 7.0
    assert x.__dlpack_device__() == (1, 0)
    # Round trips of the other dtypes (PyTorch 1.13's DLPack has no bool).
    for dt in (torch.int64, torch.int32, torch.int8, torch.uint8, torch.bfloat16, torch.float16):
        src = torch.tensor([1, 0, 3]).to(dt)
        mid = ts.from_dlpack(src)
        assert str(mid.dtype) == "tessera." + str(dt).split(".")[1]
        assert torch.from_dlpack(mid).equal(src)
    del p, q  # the owners may go in any order


def test_setitem_is_differentiable_like_pytorch():
    a = RNG.standard_normal((3, 4)).astype(np.float64)
    v = RNG.standard_normal(4).astype(np.float64)
    xt, vt = ts.tensor(a, dtype=ts.float64, requires_grad=True), ts.tensor(v, dtype=ts.float64, requires_grad=True)
    xp, vp = torch.tensor(a, requires_grad=True), torch.tensor(v, requires_grad=True)
    yt, yp = xt * 2, xp * 2
    yt[1] = vt
    yp[1] = vp
    w = RNG.standard_normal((3, 4))
    (yt * ts.tensor(w, dtype=ts.float64)).sum().backward()
    (yp * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xp.grad.numpy())
    np.testing.assert_allclose(vt.grad.numpy(), vp.grad.numpy())


def test_buffer_protocol_shares_memory():
    t = ts.arange(6).reshape(2, 3)
    m = memoryview(t)
    assert m.shape == (2, 3) and m.strides == (24, 8) and m.format == "q" and m.tolist() == t.tolist()
    u = ts.arange(6, dtype=ts.float32).reshape(2, 3).T  # non-contiguous: strides in bytes
    view = memoryview(u)
    assert view.strides == (4, 12) and not view.c_contiguous
    np.asarray(view)[0, 1] = 42.0  # writable, no copy
    assert u[0, 1].item() == 42.0
    assert bytes(ts.tensor([1, 2], dtype=ts.uint8)) == b"\x01\x02"
    assert np.frombuffer(ts.ones(3), dtype=np.float32).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(BufferError, match="bfloat16"):
        memoryview(ts.ones(2, dtype=ts.bfloat16))
    del m, view


def test_numpy_dtypes_tessera_lacks():
    assert ts.tensor(np.array([1, -2], np.int16)).dtype == ts.int32
    assert ts.tensor(np.array([7], np.uint32)).tolist() == [7] and ts.tensor(np.array([7], np.uint32)).dtype == ts.int64
    with pytest.raises(TypeError, match="unsupported array dtype int16"):
        ts.from_numpy(np.zeros(2, np.int16))  # from_numpy shares memory, so it cannot widen
    with pytest.raises(TypeError, match="unsupported array dtype complex64"):
        ts.tensor(np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="expected a numpy array, got list"):
        ts.from_numpy([1, 2])


def test_factories_refuse_non_numbers():
    with pytest.raises(TypeError):
        ts.full((2,), "a")
