"""torch.autograd as ported scripts use it (custom Functions, grad/backward, gradcheck, anomaly
mode, the functional API), and the tensor idioms of pre-2.0 PyTorch code, each against PyTorch
1.13 on the same inputs."""
import warnings

import numpy as np
import pytest
import tessera as ts

torch = pytest.importorskip("torch")


def functions(L):
    """Custom Functions written once against either framework (only the import differs)."""
    class MulConstant(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, c):
            ctx.c = c
            return x * c

        @staticmethod
        def backward(ctx, g):
            return g * ctx.c, None

    class ExpSavesOutput(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class LinearFn(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return x.mm(w.t()) + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            gx = g.mm(w) if ctx.needs_input_grad[0] else None
            gw = g.t().mm(x) if ctx.needs_input_grad[1] else None
            gb = g.sum(0) if ctx.needs_input_grad[2] else None
            return gx, gw, gb

    class SortValues(L.autograd.Function):  # two outputs, one not differentiable
        @staticmethod
        def forward(ctx, x):
            v, i = x.sort(dim=-1)
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(i)
            return v, i

        @staticmethod
        @L.autograd.function.once_differentiable if hasattr(L.autograd, "function") else (lambda f: f)
        def backward(ctx, gv, gi):
            (i,) = ctx.saved_tensors
            out = L.zeros_like(gv)
            out.scatter_(-1, i, gv)
            return out

    class Square_(L.autograd.Function):  # in place, marked dirty
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x.clone())
            x.mul_(x)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    return MulConstant, ExpSavesOutput, LinearFn, SortValues, Square_


def run_functions(L, arrays):
    MulConstant, ExpSavesOutput, LinearFn, SortValues, Square_ = functions(L)
    x, w, b = (L.tensor(a, requires_grad=True) for a in arrays)
    h = LinearFn.apply(x, w, b)
    v, idx = SortValues.apply(ExpSavesOutput.apply(MulConstant.apply(h, 0.5)))
    sq = Square_.apply(v * 1.0)
    assert not idx.requires_grad and sq.requires_grad
    (sq.sum() + v.sum()).backward()
    return [t.detach().numpy() for t in (sq, idx, x.grad, w.grad, b.grad)]


def test_custom_functions_match_pytorch():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)]
    for o, t in zip(run_functions(ts, arrays), run_functions(torch, arrays)):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)


def test_custom_function_details():
    MulConstant, ExpSavesOutput, LinearFn, _, Square_ = functions(ts)
    x = ts.randn(3, dtype=ts.float64, requires_grad=True)
    assert MulConstant.apply(x, 2.0).grad_fn == "MulConstantBackward"
    with ts.no_grad():
        assert not MulConstant.apply(x, 2.0).requires_grad
    assert ts.autograd.gradcheck(ExpSavesOutput.apply, (x,))
    assert ts.autograd.gradgradcheck(ExpSavesOutput.apply, (x,))
    args = (ts.randn(2, 3, dtype=ts.float64, requires_grad=True), ts.randn(4, 3, dtype=ts.float64, requires_grad=True),
            ts.randn(4, dtype=ts.float64, requires_grad=True))
    assert ts.autograd.gradcheck(LinearFn.apply, args)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        Square_.apply(x)

    class WrongCount(ts.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(ValueError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        WrongCount.apply(x, x).sum().backward()

    class NoMaterialize(ts.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 1, a * 2

        @staticmethod
        def backward(ctx, g1, g2):
            assert g2 is None
            return g1

    a, _ = NoMaterialize.apply(x)
    a.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]

    class Broken(ts.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            raise KeyError("backward failed here")

    with pytest.raises(KeyError, match="backward failed here"):
        Broken.apply(x).sum().backward()


def test_grad_backward_and_functional_match_pytorch():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(3), rng.standard_normal(3)

    def f(L):
        return lambda x, y: (x * y.sin(), (x * x * y).sum())

    for name in ("jacobian", "vjp", "jvp"):
        got, ref = [], []
        for L, out in ((ts, got), (torch, ref)):
            x, y = L.tensor(a), L.tensor(b)
            fn = getattr(L.autograd.functional, name)
            if name == "jacobian":
                r = fn(f(L), (x, y))
                out.extend(blk.numpy() for row in r for blk in row)
            elif name == "vjp":
                _, r = fn(f(L), (x, y), (L.ones(3, dtype=L.float64), L.tensor(2.0, dtype=L.float64)))
                out.extend(t.numpy() for t in r)
            else:
                _, r = fn(f(L), (x, y), (L.ones(3, dtype=L.float64), L.ones(3, dtype=L.float64)))
                out.extend(t.numpy() for t in r)
        for o, t in zip(got, ref):
            np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12, err_msg=name)
    for name in ("hessian", "hvp", "vhp"):
        res = []
        for L in (ts, torch):
            x = L.tensor(a)
            g = (lambda z: (z ** 3).sum() * z.sum())
            fn = getattr(L.autograd.functional, name)
            r = fn(g, x) if name == "hessian" else fn(g, x, L.tensor(b))[1]
            res.append(r.numpy())
        np.testing.assert_allclose(res[0], res[1], rtol=1e-10, err_msg=name)
    assert isinstance(ts.autograd.functional.jacobian(lambda z: z * 2, ts.ones(2)), ts.Tensor)
    with pytest.raises(ValueError, match="does not depend on input 1"):
        ts.autograd.functional.jacobian(lambda p, q: p * 2, (ts.ones(2), ts.ones(2)), strict=True)

    for L in (ts, torch):
        x = L.tensor(a, requires_grad=True)
        y = L.tensor(b, requires_grad=True)
        out = (x * y).sum()
        (gx,) = L.autograd.grad(out, x, create_graph=True)
        assert gx.requires_grad
        assert L.autograd.grad(out, [x, L.ones(1, requires_grad=True)], allow_unused=True)[1] is None
        L.autograd.backward([(x * x).sum()], inputs=[x])
        np.testing.assert_allclose(x.grad.detach().numpy(), 2 * a)
        assert y.grad is None


def test_anomaly_mode_names_the_op_in_python_words():
    z = ts.tensor([0.0], requires_grad=True)
    with ts.autograd.detect_anomaly():
        assert ts.autograd.is_anomaly_enabled()
        with pytest.raises(ValueError, match="anomaly detected: sqrt"):
            ts.sqrt(z).sum().backward()
    assert not ts.autograd.is_anomaly_enabled()
    ts.autograd.set_detect_anomaly(True)
    assert ts.autograd.is_anomaly_enabled()
    ts.autograd.set_detect_anomaly(False)
    with ts.autograd.set_detect_anomaly(True):
        assert ts.autograd.is_anomaly_enabled()
    assert not ts.autograd.is_anomaly_enabled()

    @ts.autograd.detect_anomaly()
    def inside():
        return ts.autograd.is_anomaly_enabled()
    assert inside() and inside() and not ts.autograd.is_anomaly_enabled()
    y = (ts.ones(2, requires_grad=True) * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError) as e:
        y.backward()
    assert "retain_graph=True" in str(e.value) and "retain_graph=true" not in str(e.value)
    with pytest.raises(RuntimeError) as e:
        ts.ones(2, requires_grad=True).add_(1)
    assert "NoGradGuard" not in str(e.value) and "no_grad" in str(e.value)


def test_tensor_idioms_of_older_pytorch_code():
    for L in (ts, torch):
        t = L.Tensor(2, 3)
        assert tuple(t.shape) == (2, 3) and t.dtype == L.float32
        assert L.Tensor([1, 2]).tolist() == [1.0, 2.0] and L.FloatTensor([1, 2]).dtype == L.float32
        assert L.LongTensor([1, 2]).dtype == L.int64 and tuple(L.DoubleTensor(4).shape) == (4,)
        x = L.ones(2, 2)
        assert x.type() == ("tessera.FloatTensor" if L is ts else "torch.FloatTensor")
        assert x.type(L.float64).dtype == L.float64
        assert x.type("torch.DoubleTensor").dtype == L.float64
        lin = L.nn.Linear(2, 3)
        p = next(lin.parameters())
        assert p.shape == (3, 2) and not p.data.requires_grad
        p.data.mul_(0)  # the old in-place idiom reaches the parameter
        assert float(p.abs().sum()) == 0.0
        lin.weight.data = L.ones(3, 2)
        assert float(lin.weight.sum()) == 6.0 and lin.weight.requires_grad
        assert L.nn.Linear(2, 3, dtype=L.float64).weight.dtype == L.float64
        assert L.nn.Conv2d(1, 2, 3, device="cpu").weight.device.type == "cpu"
    a = np.arange(12).reshape(3, 4)
    for key in (range(2), np.int64(1), np.array([2, 0]), [True, False, True], (np.int32(1), range(1, 3)),
                np.array([True, False, True])):
        assert ts.tensor(a)[key].tolist() == torch.tensor(a)[key].tolist(), key
    ts.manual_seed(0)
    p1 = ts.randperm(10)
    ts.manual_seed(0)
    assert p1.tolist() == ts.randperm(10).tolist() and sorted(p1.tolist()) == list(range(10))
    assert ts.randperm(4, dtype=ts.float32).dtype == ts.float32 and ts.randperm(0).shape == (0,)
    with pytest.raises(TypeError, match="bfloat16"):
        ts.ones(2).to(ts.bfloat16).numpy()
    assert ts.autograd.Variable(ts.ones(2), requires_grad=True).requires_grad


def test_silent_divergences_are_gone():
    rng = np.random.default_rng(2)
    w, xin = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    steps = []
    for L in (ts, torch):
        lin = L.nn.Linear(3, 2, bias=False)
        with L.no_grad():
            lin.weight.copy_(L.tensor(w, dtype=L.float32))
        opt = L.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
        for group in opt.param_groups:
            group["lr"] = 0.01  # a hand-written decay: must take effect
        assert opt.param_groups[0]["lr"] == 0.01
        for _ in range(2):
            opt.zero_grad()
            lin(L.tensor(xin, dtype=L.float32)).pow(2).sum().backward()
            opt.step()
        steps.append(lin.weight.detach().numpy().copy())
    np.testing.assert_allclose(steps[0], steps[1], rtol=1e-5)
    emb = ts.nn.Embedding(5, 2)
    for bad in (-1, 5):
        with pytest.raises(IndexError, match=f"embedding: index {bad} is out of range for 5 embeddings"):
            emb(ts.tensor([0, bad]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = ts.nn.Dropout2d(0.5)(ts.ones(64, 8))  # 2-D input: PyTorch warns and drops whole rows
    assert any("dropout2d" in str(c.message) for c in caught)
    rows = y.numpy()
    assert all(set(r.tolist()) in ({0.0}, {2.0}) for r in rows)
    z = ts.nn.Dropout2d(0.5)(ts.ones(2, 16, 3, 3)).numpy()
    assert all(len(set(z[n, c].ravel().tolist())) == 1 for n in range(2) for c in range(16))
    with pytest.raises(ValueError, match="dropout1d: expected 2-D or 3-D input"):
        ts.nn.functional.dropout1d(ts.ones(2, 3, 4, 5))
