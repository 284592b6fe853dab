"""Every op of tessera's Python API against PyTorch's on fresh random inputs: outputs, and
gradients of sum(out * w) for a random w, in float32 and float64, for several shapes, with
broadcasting and non-contiguous (transposed) inputs.

A case is fn(L, *tensors) written once for both libraries (L is `tessera` or `torch`): the
names are the same, which is what this suite checks.
"""
import numpy as np
import seeds
import pytest
import tessera as ts

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("on_device")  # every case on each device (conftest.py)
RNG = seeds.rng()
FLOATS = [pytest.param(np.float32, 2e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def lib_tensor(L, a, requires_grad):
    if L is ts:
        t = ts.tensor(a, dtype={np.float32: ts.float32, np.float64: ts.float64}.get(a.dtype.type, None))
    else:
        t = torch.tensor(a)
    if requires_grad:
        t.requires_grad_()
    return t


def leaves(L, arrays, transposed, grad):
    out = []
    for a in arrays:
        if transposed and a.ndim >= 2:  # stored transposed; the op sees a non-contiguous view
            t = lib_tensor(L, np.ascontiguousarray(np.swapaxes(a, -1, -2)), grad and a.dtype.kind == "f")
            out.append((t, t.transpose(-1, -2)))
        else:
            t = lib_tensor(L, a, grad and a.dtype.kind == "f")
            out.append((t, t))
    return out


def to_np(t):
    return t.detach().cpu().numpy()


def compare(o_t, o_p, tol, what):
    a, b = to_np(o_t), to_np(o_p)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    if b.dtype.kind in "biu":
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol * 20, atol=tol * 20,
                                   err_msg=what)


def flat_outputs(o):
    return list(o) if isinstance(o, (tuple, list)) else [o]


def run(fn, arrays, tol, transposed=False, grad=True):
    lt, lp = leaves(ts, arrays, transposed, grad), leaves(torch, arrays, transposed, grad)
    out_t = flat_outputs(fn(ts, *[v for _, v in lt]))
    out_p = flat_outputs(fn(torch, *[v for _, v in lp]))
    assert len(out_t) == len(out_p)
    for i, (a, b) in enumerate(zip(out_t, out_p)):
        compare(a, b, tol, f"output {i}")
    if not grad:
        return
    diff = [(a, b) for a, b in zip(out_t, out_p) if b.requires_grad]
    if not diff:
        return
    loss_t, loss_p = 0, 0
    for a, b in diff:
        w = RNG.standard_normal(tuple(b.shape)).astype(np.float64)
        loss_t = loss_t + (a * ts.tensor(w, dtype=a.dtype)).sum()
        loss_p = loss_p + (b * torch.tensor(w, dtype=b.dtype)).sum()
    loss_t.backward()
    loss_p.backward()
    for i, ((t, _), (p, _)) in enumerate(zip(lt, lp)):
        assert (t.grad is None) == (p.grad is None), f"grad {i}: {t.grad} vs torch {p.grad}"
        if p.grad is not None:
            compare(t.grad, p.grad, tol * 10, f"grad of input {i}")


def randn(*shape, dt=np.float64):
    return RNG.standard_normal(shape).astype(dt)


def uniform(lo, hi, *shape, dt=np.float64):
    return RNG.uniform(lo, hi, shape).astype(dt)


# --- elementwise --------------------------------------------------------------------------------
UNARY = {  # name: domain
    "abs": (-2, 2), "neg": (-2, 2), "exp": (-2, 2), "expm1": (-2, 2), "log": (0.2, 3), "log1p": (-0.5, 2),
    "sqrt": (0.2, 3), "rsqrt": (0.2, 3), "sin": (-3, 3), "cos": (-3, 3), "tanh": (-2, 2), "sigmoid": (-3, 3),
    "relu": (-2, 2), "erf": (-2, 2), "reciprocal": (0.5, 2), "square": (-2, 2), "floor": (-3, 3),
    "ceil": (-3, 3), "round": (-3, 3), "sign": (-3, 3),
}
SHAPES = [(7,), (3, 4), (2, 3, 5)]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dt,tol", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary(name, dt, tol, shape):
    lo, hi = UNARY[name]
    a = uniform(lo, hi, *shape, dt=dt)
    run(lambda L, x: getattr(L, name)(x), [a], tol, transposed=len(shape) > 1)
    run(lambda L, x: getattr(x, name)(), [a], tol)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_activations_with_options(dt, tol):
    a = uniform(-3, 3, 4, 6, dt=dt)
    F = lambda L: L.nn.functional  # noqa: E731
    run(lambda L, x: F(L).silu(x), [a], tol, transposed=True)
    run(lambda L, x: F(L).gelu(x), [a], tol)
    run(lambda L, x: F(L).gelu(x, approximate="tanh"), [a], tol)
    run(lambda L, x: F(L).softplus(x, beta=2.0, threshold=3.0), [a], tol)
    run(lambda L, x: F(L).leaky_relu(x, 0.1), [a], tol)
    run(lambda L, x: F(L).elu(x, 0.7), [a], tol)
    run(lambda L, x: F(L).relu6(x), [a * 3], tol)
    run(lambda L, x: F(L).hardtanh(x, -0.5, 2.0), [a], tol)
    run(lambda L, x: x.clamp(-0.5, 1.0), [a], tol)
    run(lambda L, x: L.clamp(x, min=0.2), [a], tol)
    run(lambda L, x: x.clip(max=0.3), [a], tol)
    run(lambda L, x: F(L).normalize(x, dim=1), [a], tol)


BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "atan2", "pow"]
BCAST = [((3, 4), (3, 4)), ((3, 1, 4), (2, 4)), ((4,), (3, 4)), ((2, 3), ())]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dt,tol", FLOATS)
@pytest.mark.parametrize("shapes", BCAST, ids=str)
def test_binary(name, dt, tol, shapes):
    a, b = uniform(0.5, 2, *shapes[0], dt=dt), uniform(0.5, 2, *shapes[1], dt=dt)
    run(lambda L, x, y: getattr(L, name)(x, y), [a, b], tol)
    run(lambda L, x, y: getattr(x, name)(y), [a, b], tol, transposed=True)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_binary_with_numbers_and_operators(dt, tol):
    a, b = uniform(0.5, 2, 3, 4, dt=dt), uniform(0.5, 2, 4, dt=dt)
    run(lambda L, x, y: L.add(x, y, alpha=2.5), [a, b], tol)
    run(lambda L, x, y: L.sub(x, y, alpha=-1.5), [a, b], tol)
    run(lambda L, x, y: x + y * 2 - 1 / y + x ** 2 + 2 ** y - (3 - x) / (x @ L.ones_like(x).T).sum(), [a, b], tol)
    run(lambda L, x: L.pow(x, 3), [a], tol)
    run(lambda L, x: L.mul(x, 0.5) + L.div(x, 4), [a], tol)
    run(lambda L, x, y: L.fmod(x * 3, y), [a, b], tol, grad=False)
    run(lambda L, x, y, z: L.where(x > 1, y, z), [a, b, uniform(0, 1, 3, 1, dt=dt)], tol)
    run(lambda L, x: L.where(x > 1, x, 0.0), [a], tol)


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"])
def test_comparisons_and_logic(op):
    a = RNG.integers(0, 3, (3, 4)).astype(np.float32)
    b = RNG.integers(0, 3, (4,)).astype(np.float32)
    run(lambda L, x, y: getattr(L, op)(x, y), [a, b], 0, grad=False)
    if not op.startswith("logical"):  # (torch 1.13 takes no numbers in the logical ops)
        run(lambda L, x: getattr(x, op)(1.0), [a], 0, grad=False)
    run(lambda L, x: L.logical_not(x), [a], 0, grad=False)
    run(lambda L, x: (L.isnan(x / x), L.isinf(1 / x)), [a], 0, grad=False)


@pytest.mark.parametrize("dt", [np.int8, np.uint8, np.int32, np.int64, np.bool_])
def test_bitwise_ops_and_operators_match_pytorch(dt):
    lo, hi = (0, 2) if dt == np.bool_ else (0, 200) if dt == np.uint8 else (-100, 100)
    a = RNG.integers(lo, hi, (3, 4)).astype(dt)
    b = RNG.integers(lo, hi, (4,)).astype(dt)
    for op in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        np.testing.assert_array_equal(getattr(ts, op)(ts.tensor(a), ts.tensor(b)).cpu().numpy(),
                                      getattr(torch, op)(torch.tensor(a), torch.tensor(b)).numpy(), err_msg=op)
    x, y, tx, ty = ts.tensor(a), ts.tensor(b), torch.tensor(a), torch.tensor(b)
    for got, want in [(x & y, tx & ty), (x | y, tx | ty), (x ^ y, tx ^ ty), (~x, ~tx), (ts.bitwise_not(x), ~tx)]:
        assert str(got.dtype).replace("tessera.", "") == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
    with pytest.raises(TypeError, match="bitwise_and"):
        ts.bitwise_and(ts.tensor([1.0]), ts.tensor([2.0]))


def test_fma_and_closeness():
    a, b, c = randn(3, 4), randn(4), randn(3, 1)
    x, y, z = (ts.tensor(v) for v in (a, b, c))
    np.testing.assert_allclose(ts.fma(x, y, z).cpu().numpy(), a * b + c, rtol=1e-12)
    assert ts.equal(x, x.clone()) and not ts.equal(x, x + 1)
    assert ts.allclose(x, x + 1e-9) and not ts.allclose(x, x + 1e-3)
    np.testing.assert_array_equal(ts.isclose(x, x + 1e-3, atol=1e-2).cpu().numpy(),
                                  torch.isclose(torch.tensor(a), torch.tensor(a) + 1e-3, atol=1e-2).numpy())


# --- reductions -------------------------------------------------------------------------------------
REDUCTIONS = [
    ("sum()", lambda L, x: x.sum()),
    ("sum(1)", lambda L, x: L.sum(x, 1)),
    ("sum((0,2),keepdim)", lambda L, x: x.sum((0, 2), keepdim=True)),
    ("mean(-1)", lambda L, x: L.mean(x, -1)),
    ("mean()", lambda L, x: x.mean()),
    ("prod(1)", lambda L, x: x.prod(1)),
    ("amax(2)", lambda L, x: L.amax(x, 2)),
    ("amin((0,1))", lambda L, x: x.amin((0, 1))),
    ("max(1)", lambda L, x: L.max(x, 1)),
    ("min(2,keepdim)", lambda L, x: x.min(2, keepdim=True)),
    ("max()", lambda L, x: x.max()),
    ("var(1)", lambda L, x: x.var(1)),
    ("var(correction=0)", lambda L, x: L.var(x, 1, correction=0)),
    ("std((0,2))", lambda L, x: x.std((0, 2))),
    ("norm()", lambda L, x: x.norm()),
    ("norm(1,dim=1)", lambda L, x: L.norm(x, 1, dim=1)),
    ("logsumexp(1)", lambda L, x: L.logsumexp(x, 1)),
    ("cumsum(2)", lambda L, x: L.cumsum(x, 2)),
    ("softmax(-1)", lambda L, x: L.softmax(x, -1)),
    ("log_softmax(1)", lambda L, x: x.log_softmax(1)),
    ("sort(-1)", lambda L, x: L.sort(x, -1)),
    ("sort(1,desc)", lambda L, x: x.sort(1, descending=True)),
    ("topk(2)", lambda L, x: L.topk(x, 2)),
    ("topk(2,dim=1,smallest)", lambda L, x: x.topk(2, dim=1, largest=False)),
]


@pytest.mark.parametrize("name,fn", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_reductions(name, fn, dt, tol):
    a = randn(3, 4, 5, dt=dt)  # continuous values: no ties for max/sort
    run(fn, [a], tol)
    run(fn, [a], tol, transposed=True)


def test_index_reductions_and_bool():
    a = randn(3, 4, 5)
    run(lambda L, x: (L.argmax(x), x.argmax(1), L.argmin(x, 2, keepdim=True), x.argsort(1)), [a], 0, grad=False)
    b = a > 0
    run(lambda L, x: (L.all(x), x.any(1), L.all(x, 2, keepdim=True)), [b], 0, grad=False)
    i = RNG.integers(-5, 5, (4, 6))
    run(lambda L, x: (x.sum(), x.sum(1), L.cumsum(x, 0), x.prod(0), x.amax(1)), [i], 0, grad=False)
    run(lambda L, x: x.sum(dtype=L.float64), [a.astype(np.float32)], 1e-6)


# --- shape, movement and views ------------------------------------------------------------------
MOVEMENT = [
    ("cat", lambda L, x, y: L.cat([x, y, x], 1)),
    ("stack", lambda L, x, y: L.stack([x, y], 2)),
    ("split", lambda L, x, y: L.split(x, 2, 1)),
    ("split sizes", lambda L, x, y: x.split([1, 3], 1)),
    ("chunk", lambda L, x, y: L.chunk(y, 2, 0)),
    ("unbind", lambda L, x, y: L.unbind(x, 1)),
    ("split partly used", lambda L, x, y: L.split(x, 3, 1)[1] * 2),
    ("flip", lambda L, x, y: L.flip(x, [0, 1])),
    ("roll", lambda L, x, y: L.roll(x, [1, -2], [0, 1])),
    ("repeat", lambda L, x, y: x.repeat(2, 1, 3)),
    ("tril", lambda L, x, y: L.tril(x, -1)),
    ("triu", lambda L, x, y: x.triu(1)),
    ("pad constant", lambda L, x, y: L.nn.functional.pad(x, [1, 2, 0, 1], value=0.5)),
    ("pad reflect", lambda L, x, y: L.nn.functional.pad(x.unsqueeze(0), [2, 1], mode="reflect")),
    ("pad replicate", lambda L, x, y: L.nn.functional.pad(x.unsqueeze(0), [1, 2], mode="replicate")),
    ("view", lambda L, x, y: x.reshape(2, 3, 2).view(6, 2)),
    ("permute", lambda L, x, y: x.unsqueeze(0).permute(2, 0, 1)),
    ("transpose", lambda L, x, y: x.unsqueeze(1).transpose(0, 2)),
    ("expand", lambda L, x, y: x.unsqueeze(0).expand(2, 3, 4)),
    ("squeeze", lambda L, x, y: x.unsqueeze(1).squeeze(1).squeeze()),
    ("narrow/select", lambda L, x, y: x.narrow(1, 1, 2).select(0, 2)),
    ("flatten", lambda L, x, y: x.unsqueeze(2).flatten(1)),
    ("T/t", lambda L, x, y: x.T * 2 + x.t()),
    ("getitem", lambda L, x, y: x[1:, ::2] * 2 + x[-1, None, 1:3].sum()),
    ("advanced index", lambda L, x, y: x[L.tensor([2, 0, 2])][:, L.tensor([1, 3])]),
    ("bool index", lambda L, x, y: x[x > 0]),
]


@pytest.mark.parametrize("name,fn", MOVEMENT, ids=[m[0] for m in MOVEMENT])
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_movement(name, fn, dt, tol):
    a, b = randn(3, 4, dt=dt), randn(3, 4, dt=dt)
    run(fn, [a, b], tol)
    run(fn, [a, b], tol, transposed=True)


def test_as_strided():
    a = randn(12)
    run(lambda L, x: L.as_strided(x.detach(), (3, 3), (3, 1), 1) * 2, [a], 1e-12, grad=False)


# --- indexing ops -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_indexing_ops(dt, tol):
    a, src = randn(4, 5, dt=dt), randn(4, 5, dt=dt)
    idx = RNG.integers(0, 4, (3, 5))
    perm = RNG.permutation(4)[:3]
    I = lambda L, v: L.tensor(v)  # noqa: E731
    run(lambda L, x: L.index_select(x, 0, I(L, perm)), [a], tol)
    run(lambda L, x: x.gather(0, I(L, idx)), [a], tol)
    unique_rows = np.stack([RNG.permutation(4)[:3] for _ in range(5)], 1)  # scatter: no duplicate targets
    run(lambda L, x, s: L.scatter(x, 0, I(L, unique_rows), s[:3]), [a, src], tol)
    run(lambda L, x, s: x.scatter_add(0, I(L, idx), s[:3]), [a, src], tol)
    run(lambda L, x, s: L.index_add(x, 0, I(L, perm), s[:3]), [a, src], tol)
    run(lambda L, x, s: x.index_copy(0, I(L, perm), s[:3]), [a, src], tol)
    run(lambda L, x: x.masked_fill(x > 0, -1.5), [a], tol)
    run(lambda L, x: L.masked_select(x, x > 0), [a], tol)
    run(lambda L, x: L.nonzero(x > 0), [a], 0, grad=False)
    run(lambda L, x: L.nn.functional.one_hot(I(L, idx[0]), 6), [a], 0, grad=False)


def test_inplace_index_writes_under_autograd():
    a, v = randn(4, 5), randn(2, 5)

    def fn(L, x, val):
        y = x * 1
        y[L.tensor([0, 2])] = val
        y[1, 1:3] = 7.0
        y.index_add_(0, L.tensor([3]), val[:1])
        return y * x

    run(fn, [a, v], 1e-12)


# --- linear algebra and neural-network ops ------------------------------------------------------------
@pytest.mark.parametrize("dt,tol", FLOATS)
@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                                    ((4,), (4,))], ids=str)
def test_matmul(dt, tol, shapes):
    a, b = randn(*shapes[0], dt=dt), randn(*shapes[1], dt=dt)
    run(lambda L, x, y: L.matmul(x, y), [a, b], tol)
    run(lambda L, x, y: x @ y, [a, b], tol, transposed=True)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_mm_bmm_linear(dt, tol):
    run(lambda L, x, y: L.mm(x, y), [randn(3, 4, dt=dt), randn(4, 2, dt=dt)], tol)
    run(lambda L, x, y: x.bmm(y), [randn(2, 3, 4, dt=dt), randn(2, 4, 2, dt=dt)], tol)
    run(lambda L, x, w, b: L.nn.functional.linear(x, w, b), [randn(2, 3, 4, dt=dt), randn(5, 4, dt=dt),
                                                             randn(5, dt=dt)], tol, transposed=True)
    run(lambda L, x, w: L.nn.functional.linear(x, w), [randn(3, 4, dt=dt), randn(5, 4, dt=dt)], tol)


CONV2D = [dict(), dict(stride=2), dict(padding=1), dict(padding=(2, 1), stride=(1, 2)), dict(dilation=2),
          dict(groups=2, padding=1)]


@pytest.mark.parametrize("kw", CONV2D, ids=str)
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_conv2d(kw, dt, tol):
    x, w, b = randn(2, 4, 7, 6, dt=dt), randn(6, 4 // kw.get("groups", 1), 3, 3, dt=dt) * 0.3, randn(6, dt=dt)
    run(lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, **kw), [x, w, b], tol * 10)
    run(lambda L, x, w: L.conv2d(x, w, **kw), [x, w], tol * 10, transposed=True)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_conv1d_and_transpose(dt, tol):
    run(lambda L, x, w, b: L.nn.functional.conv1d(x, w, b, stride=2, padding=1),
        [randn(2, 3, 9, dt=dt), randn(4, 3, 3, dt=dt), randn(4, dt=dt)], tol * 10)
    for kw in (dict(), dict(stride=2, padding=1, output_padding=1), dict(stride=(2, 1), groups=2)):
        g = kw.get("groups", 1)
        run(lambda L, x, w, b: L.nn.functional.conv_transpose2d(x, w, b, **kw),
            [randn(2, 4, 5, 5, dt=dt), randn(4, 6 // g, 3, 3, dt=dt), randn(6, dt=dt)], tol * 10)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_pooling(dt, tol):
    x = randn(2, 3, 9, 8, dt=dt)
    F = lambda L: L.nn.functional  # noqa: E731
    run(lambda L, x: F(L).max_pool2d(x, 2), [x], tol)
    run(lambda L, x: F(L).max_pool2d(x, 3, stride=2, padding=1), [x], tol, transposed=True)
    run(lambda L, x: F(L).max_pool2d(x, (2, 3), stride=(1, 2), ceil_mode=True), [x], tol)
    run(lambda L, x: F(L).max_pool2d(x, 2, dilation=2), [x], tol)
    run(lambda L, x: F(L).max_pool2d(x, 2, return_indices=True), [x], tol)
    run(lambda L, x: F(L).avg_pool2d(x, 2), [x], tol)
    run(lambda L, x: F(L).avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False), [x], tol)
    run(lambda L, x: F(L).avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), [x], tol)
    run(lambda L, x: F(L).adaptive_avg_pool2d(x, (3, 2)), [x], tol)
    run(lambda L, x: F(L).adaptive_avg_pool2d(x, 1), [x], tol, transposed=True)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_normalization(dt, tol):
    x, w, b = randn(4, 3, 5, 2, dt=dt), randn(3, dt=dt), randn(3, dt=dt)
    F = lambda L: L.nn.functional  # noqa: E731
    for training in (True, False):
        rm, rv = uniform(-1, 1, 3, dt=dt), uniform(0.5, 2, 3, dt=dt)
        stats = {}

        def bn(L, x, w, b):
            m, v = L.tensor(rm), L.tensor(rv)
            stats[L.__name__] = (m, v)
            return F(L).batch_norm(x, m, v, w, b, training=training, momentum=0.2, eps=1e-3)

        run(bn, [x, w, b], tol * 10)
        compare(stats["tessera"][0], stats["torch"][0], tol, "running_mean")
        compare(stats["tessera"][1], stats["torch"][1], tol, "running_var")
    run(lambda L, x: F(L).batch_norm(x, None, None, training=True), [x], tol * 10)
    run(lambda L, x, w, b: F(L).layer_norm(x, [5, 2], w.reshape(1, 3)[:, :1].expand(5, 2) * 1, None),
        [x, w, b], tol * 10)
    run(lambda L, x, w, b: F(L).layer_norm(x, [2]), [x, w, b], tol * 10)
    run(lambda L, x, w, b: F(L).group_norm(x.reshape(2, 6, 5, 2), 3, w.repeat(2), b.repeat(2), eps=1e-4),
        [x, w, b], tol * 10)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_embedding_dropout(dt, tol):
    w = randn(7, 3, dt=dt)
    idx = RNG.integers(0, 7, (2, 5))
    run(lambda L, w: L.nn.functional.embedding(L.tensor(idx), w), [w], tol)
    run(lambda L, x: L.nn.functional.dropout(x, 0.5, training=False), [w], tol)
    run(lambda L, x: L.nn.functional.dropout(x, 0.0), [w], tol)
    y = ts.nn.functional.dropout(ts.ones(1000, 100), 0.3)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.7) < 0.01 and abs(y.sum().item() / 1e5 - 1) < 0.02


# --- losses ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("red", ["mean", "sum", "none"])
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_losses(red, dt, tol):
    F = lambda L: L.nn.functional  # noqa: E731
    x, y, w = randn(6, 4, dt=dt), RNG.integers(0, 4, 6), uniform(0.5, 2, 4, dt=dt)
    y[2] = 1
    run(lambda L, x: F(L).cross_entropy(x, L.tensor(y), reduction=red), [x], tol)
    run(lambda L, x: F(L).cross_entropy(x, L.tensor(y), weight=L.tensor(w), reduction=red), [x], tol)
    run(lambda L, x: F(L).cross_entropy(x, L.tensor(np.where(y == 1, -100, y)), reduction=red), [x], tol)
    run(lambda L, x: F(L).cross_entropy(x, L.tensor(y), label_smoothing=0.1, reduction=red), [x], tol)
    run(lambda L, x: F(L).cross_entropy(x.unsqueeze(2).expand(6, 4, 3) * 1, L.tensor(np.tile(y[:, None], 3)),
                                        reduction=red), [x], tol)
    run(lambda L, x: F(L).nll_loss(x.log_softmax(1), L.tensor(y), L.tensor(w), reduction=red), [x], tol)
    t = randn(6, 4, dt=dt)
    run(lambda L, x, t: F(L).mse_loss(x, t, reduction=red), [x, t], tol)
    run(lambda L, x, t: F(L).l1_loss(x, t, reduction=red), [x, t], tol)
    run(lambda L, x, t: F(L).smooth_l1_loss(x, t, reduction=red, beta=0.5), [x, t], tol)
    p, q = uniform(0.05, 0.95, 6, 4, dt=dt), uniform(0, 1, 6, 4, dt=dt)
    run(lambda L, p, q: F(L).binary_cross_entropy(p, q, reduction=red), [p, q], tol)
    run(lambda L, x, q: F(L).binary_cross_entropy_with_logits(x, q, reduction=red, pos_weight=L.tensor(w)), [x, q], tol)
    run(lambda L, x, q: F(L).binary_cross_entropy_with_logits(x, q, weight=L.tensor(w), reduction=red), [x, q], tol)
    run(lambda L, x, q: F(L).kl_div(x.log_softmax(1), q.softmax(1), reduction=red), [x, q], tol)
    run(lambda L, x, q: F(L).kl_div(x.log_softmax(1), q.log_softmax(1), reduction=red, log_target=True), [x, q], tol)


# --- errors are Python exceptions with the C++ message -------------------------------------------------
def test_errors_name_the_op():
    with pytest.raises(ValueError, match="conv2d"):
        ts.conv2d(ts.randn(1, 3, 5, 5), ts.randn(4, 2, 3, 3))
    with pytest.raises(IndexError):
        ts.randn(3).gather(0, ts.tensor([5]))
    with pytest.raises(TypeError):
        ts.add(ts.randn(2), "x")
    with pytest.raises(ValueError, match="cat"):
        ts.cat([ts.randn(2, 3), ts.randn(3, 2)], 0)


# --- in-place ops on views under autograd (PyTorch's CopySlices semantics) ------------------------
def _slice_scale(L, x, z):
    y = x * 2
    y[:, 1] *= 3                 # getitem, in-place multiply on the view, setitem
    y[0, 1:3] += z[:2]
    y[3].exp_()
    return y.sin()


def _sibling_and_base(L, x, z):
    y = x * 1
    row = y[2]                   # a view made before the writes
    y.t()[1].mul_(z[:4])         # a write through a transposed view
    y.mul_(0.5)                  # a write to the base itself
    return row * 3 + y.sum(0)


def _buffer_filled_by_rows(L, x, z):
    buf = L.zeros(4, 5, dtype=x.dtype)  # does not require grad until written
    buf[1].copy_(z)
    buf[2:].add_(x[:2] * x[:2])
    buf[0, :].masked_fill_(z > 0, 1.0)
    return buf * x


@pytest.mark.parametrize("fn", [_slice_scale, _sibling_and_base, _buffer_filled_by_rows],
                         ids=["slice_scale", "sibling_and_base", "buffer_rows"])
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_inplace_on_views_matches_pytorch(fn, dt, tol):
    run(fn, [randn(4, 5, dt=dt), randn(5, dt=dt)], tol)


def test_inplace_on_views_errors_like_pytorch():
    w = ts.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf tensor that requires grad"):
        w[0].add_(1.0)
    y = ts.randn(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="expanded view"):
        y.expand(2, 3).add_(1.0)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_every_target_ignored(smoothing):
    # The mean over no rows: NaN loss, and zero gradients (not NaN), as in PyTorch.
    run(lambda L, x: L.nn.functional.cross_entropy(x, L.tensor([-100] * 5), label_smoothing=smoothing),
        [randn(5, 3)], 1e-10)


# --- composite ops: einsum, %, // ------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij,ij->", [(3, 4), (3, 4)]),
    ("i,j->ij", [(3,), (4,)]), ("ij->ji", [(3, 4)]), ("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("ij->", [(3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]), ("ij,kj", [(3, 4), (5, 4)]),
    ("bi,bi->b", [(4, 5), (4, 5)]), ("i,i", [(5,), (5,)]), ("abc->cb", [(2, 3, 4)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM, ids=[e[0] for e in EINSUM])
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_einsum(eq, shapes, dt, tol):
    run(lambda L, *xs: L.einsum(eq, *xs), [randn(*s, dt=dt) for s in shapes], tol)


def test_einsum_errors():
    with pytest.raises(ValueError, match="einsum"):
        ts.einsum("ij,jk->ik", ts.ones(2, 3))
    with pytest.raises(ValueError, match="einsum"):
        ts.einsum("ij->ik", ts.ones(2, 3))
    with pytest.raises(ValueError):
        ts.einsum("ij,jk->ik", ts.ones(2, 3), ts.ones(4, 5))


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_remainder_and_floor_divide(dt, tol):
    a, b = uniform(-5, 5, 3, 4, dt=dt), uniform(0.5, 2, 4, dt=dt) * np.where(np.arange(4) % 2, 1, -1)
    # (torch 1.13 has no gradient for the divisor: the divisor is a constant here)
    run(lambda L, x: L.remainder(x, L.tensor(b)), [a], tol)
    run(lambda L, x: x % L.tensor(b) + x % 1.5, [a], tol)
    run(lambda L, x: 7.5 % x, [b], tol, grad=False)
    run(lambda L, x, y: L.floor_divide(x, y), [a, b], tol, grad=False)
    run(lambda L, x: (x // 0.7, 3 // x), [a], tol, grad=False)
    i, j = RNG.integers(-20, 20, (3, 4)), RNG.integers(1, 6, 4) * np.where(np.arange(4) % 2, 1, -1)
    run(lambda L, x, y: (x % y, x // y, x % 3, x // -4, 17 // y), [i, j], 0, grad=False)


COMPOSITE_UNARY = {"tan": (-1.2, 1.2), "atan": (-3, 3), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "sinh": (-2, 2),
                   "cosh": (-2, 2), "log2": (0.2, 3), "log10": (0.2, 3), "exp2": (-2, 2)}


@pytest.mark.parametrize("name", sorted(COMPOSITE_UNARY))
@pytest.mark.parametrize("dt,tol", FLOATS)
def test_composite_unary(name, dt, tol):
    a = uniform(*COMPOSITE_UNARY[name], 3, 4, dt=dt)
    run(lambda L, x: getattr(L, name)(x), [a], tol, transposed=True)
    run(lambda L, x: getattr(x, name)(), [a], tol)


@pytest.mark.parametrize("dt,tol", FLOATS)
def test_lerp_outer_diag_trace_meshgrid(dt, tol):
    run(lambda L, x, y: L.lerp(x, y, 0.3), [randn(3, 4, dt=dt), randn(4, dt=dt)], tol)
    run(lambda L, x, y: L.outer(x, y), [randn(3, dt=dt), randn(4, dt=dt)], tol)
    for d in (-2, 0, 1):
        run(lambda L, x: L.diag(x, d), [randn(3, dt=dt)], tol)
        run(lambda L, x: L.diag(x, d), [randn(4, 5, dt=dt)], tol, transposed=True)
    run(lambda L, x: L.trace(x), [randn(4, 4, dt=dt)], tol)
    for ix in ("ij", "xy"):
        run(lambda L, x, y, z: L.meshgrid(x, y, z, indexing=ix), [randn(3, dt=dt), randn(2, dt=dt), randn(4, dt=dt)],
            tol)
    with pytest.raises(ValueError, match="outer"):
        ts.outer(ts.ones(2, 2), ts.ones(2))
