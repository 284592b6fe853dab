"""Autocast and GradScaler against torch.autocast (PyTorch's CPU autocast: bfloat16) and by
their definitions."""
import numpy as np
import pytest
import torch

import tessera as ts

rng = np.random.default_rng(5)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def to_np(t):
    return np.asarray(t.detach().float().numpy() if isinstance(t, torch.Tensor) else t.detach().float().numpy())


def test_output_types_and_values_match_torch_autocast_on_cpu():
    x, w, b = f32(2, 3, 6, 6), f32(4, 3, 3, 3), f32(4)
    a, m = f32(5, 7), f32(7, 3)
    y = np.array([0, 2, 1, 1, 0])
    outs = {}
    for name, L in (("ts", ts), ("torch", torch)):
        F = L.nn.functional
        T = (lambda v: L.tensor(v)) if L is ts else (lambda v: torch.from_numpy(v))
        with L.autocast("cpu", dtype=L.bfloat16):
            conv = F.conv2d(T(x), T(w), T(b), padding=1)
            mm = L.matmul(T(a), T(m))
            lin = F.linear(T(a), T(m).t().contiguous())
            sm = L.softmax(conv, 1)
            ce = F.cross_entropy(lin, T(y))
            mse = F.mse_loss(mm, T(f32(5, 3)))
            both = L.cat([mm, T(f32(1, 3))], 0)
            relu = L.relu(conv)
        outs[name] = dict(conv=conv, mm=mm, lin=lin, sm=sm, ce=ce, mse=mse, both=both, relu=relu)
    for k in outs["ts"]:
        ours, theirs = outs["ts"][k], outs["torch"][k]
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1], k
    # Values against float64 on the bfloat16-rounded operands (one rounding of the result away).
    # Not against PyTorch's: torch 1.13's bfloat16 convolution on CPUs without AVX512-BF16 rounds
    # its partial sums to bfloat16 (0.16 off at values near 9 on an AVX2 machine).
    r = lambda v: torch.from_numpy(v).bfloat16().double()
    F64 = torch.nn.functional
    conv64 = F64.conv2d(r(x), r(w), r(b), padding=1)
    exact = dict(conv=conv64, mm=r(a) @ r(m), lin=r(a) @ r(m), relu=torch.relu(conv64))
    for k, want in exact.items():
        np.testing.assert_allclose(to_np(outs["ts"][k]), want.numpy(), rtol=1e-2, atol=1e-2, err_msg=k)


def test_gradients_reach_float32_parameters_and_match_torch():
    net_ts = ts.nn.Sequential(ts.nn.Linear(6, 8), ts.nn.ReLU(), ts.nn.Linear(8, 3))
    net_t = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for (_, p), (_, q) in zip(net_ts.named_parameters(), net_t.named_parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    x, y = f32(16, 6), rng.integers(0, 3, 16)
    with ts.autocast("cpu"):
        loss_ts = ts.nn.functional.cross_entropy(net_ts(ts.tensor(x)), ts.tensor(y).to(ts.int64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_t = torch.nn.functional.cross_entropy(net_t(torch.from_numpy(x)), torch.from_numpy(y))
    loss_ts.backward()
    loss_t.backward()
    assert loss_ts.dtype == ts.float32
    np.testing.assert_allclose(loss_ts.item(), loss_t.item(), rtol=2e-2)
    for (_, p), (_, q) in zip(net_ts.named_parameters(), net_t.named_parameters()):
        assert p.grad.dtype == ts.float32
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=5e-2, atol=2e-2)


def test_bfloat16_products_and_their_gradients_round_once():
    """bfloat16 convolutions (strided, grouped, channels last) and matmuls with their input,
    weight and bias gradients: float32 accumulation rounded once to bfloat16, on CPUs with
    bfloat16 kernels (AVX512-BF16) and on those without, which widen the operands to float32."""
    r = lambda v: torch.from_numpy(v).bfloat16().double()
    b16 = lambda v: ts.tensor(v).to(ts.bfloat16).requires_grad_()
    for stride, groups, cl in ((1, 1, False), (2, 2, True)):
        x, w, b = f32(3, 4, 9, 9), f32(6, 4 // groups, 3, 3), f32(6)
        xt, wt, bt = b16(x), b16(w), b16(b)
        src = xt.contiguous(memory_format=ts.channels_last) if cl else xt
        y = ts.nn.functional.conv2d(src, wt, bt, stride=stride, padding=1, groups=groups)
        g = f32(*y.shape)
        (y.float() * ts.tensor(g)).sum().backward()
        xr, wr, br = (r(v).requires_grad_() for v in (x, w, b))
        yr = torch.nn.functional.conv2d(xr, wr, br, stride=stride, padding=1, groups=groups)
        (yr * r(g)).sum().backward()
        assert y.dtype == ts.bfloat16 and xt.grad.dtype == ts.bfloat16
        for got, want, what in ((y, yr, "out"), (xt.grad, xr.grad, "grad x"), (wt.grad, wr.grad, "grad w"),
                                (bt.grad, br.grad, "grad b")):
            want = want.detach().numpy()
            np.testing.assert_allclose(to_np(got), want, rtol=1e-2, atol=1e-2 * np.abs(want).max(), err_msg=what)
    a, m = f32(4, 5, 7), f32(7, 3)
    at, mt = b16(a), b16(m)
    out = ts.matmul(at, mt)
    out.float().sum().backward()
    ar, mr = r(a).requires_grad_(), r(m).requires_grad_()
    outr = ar @ mr
    outr.sum().backward()
    for got, want, what in ((out, outr, "matmul"), (at.grad, ar.grad, "grad a"), (mt.grad, mr.grad, "grad m")):
        want = want.detach().numpy()
        np.testing.assert_allclose(to_np(got), want, rtol=1e-2, atol=1e-2 * np.abs(want).max(), err_msg=what)


def test_context_manager_decorator_nesting_and_errors():
    assert not ts.is_autocast_enabled("cpu")
    lin = ts.nn.Linear(4, 4)
    x = ts.randn(2, 4)
    with ts.autocast("cpu") as ac:
        assert ts.is_autocast_enabled("cpu") and ac.fast_dtype == ts.bfloat16
        assert lin(x).dtype == ts.bfloat16
        with ts.autocast("cpu", enabled=False):
            assert lin(x).dtype == ts.float32
        with ts.autocast("cpu", dtype=ts.float16):
            assert lin(x).dtype == ts.float16
        assert ts.get_autocast_dtype("cpu") == ts.bfloat16
    assert not ts.is_autocast_enabled("cpu")

    @ts.autocast("cpu")
    def f(t):
        return lin(t)
    assert f(x).dtype == ts.bfloat16 and not ts.is_autocast_enabled("cpu")
    with pytest.raises(ValueError, match="device_type"):
        ts.autocast("tpu")
    with pytest.raises(TypeError, match="bfloat16 or float16"):
        with ts.autocast("cpu", dtype=ts.float32):
            pass
    assert not ts.is_autocast_enabled("cpu")  # the failed enter left nothing behind
    # An exception inside the region still leaves it.
    with pytest.raises(RuntimeError):
        with ts.autocast("cpu"):
            raise RuntimeError("boom")
    assert not ts.is_autocast_enabled("cpu")
    assert ts.amp.policy("cpu", "conv2d") == "lower_precision" and ts.amp.policy("cuda", "softmax") == "float32"
    assert "cross_entropy" in ts.amp.ops("cpu", "float32")


def test_grad_scaler_matches_torch():
    w_ts = ts.tensor([1.0, 2.0]).requires_grad_()
    w_t = torch.tensor([1.0, 2.0], requires_grad=True)
    opt_ts, opt_t = ts.optim.SGD([w_ts], lr=0.1), torch.optim.SGD([w_t], lr=0.1)
    s_ts = ts.amp.GradScaler(init_scale=256.0, growth_interval=2)
    s_t = torch.cuda.amp.GradScaler(init_scale=256.0, growth_interval=2, enabled=True) if torch.cuda.is_available() \
        else None
    scales = []
    for factor in (1.0, 1.0, float("inf"), 1.0):
        opt_ts.zero_grad()
        s_ts.scale((w_ts * w_ts * factor).sum()).backward()
        s_ts.step(opt_ts)
        s_ts.update()
        scales.append(s_ts.get_scale())
    # Two clean steps double the scale; the overflow halves it and skips its update.
    assert scales == [256.0, 512.0, 256.0, 256.0]
    # Reference: three SGD steps on w*w (the inf step skipped).
    w = np.array([1.0, 2.0])
    for _ in range(3):
        w = w - 0.1 * 2 * w
    np.testing.assert_allclose(w_ts.detach().numpy(), w, rtol=1e-6)
    st = s_ts.state_dict()
    assert st["scale"] == 256.0 and st["growth_interval"] == 2
    s2 = ts.amp.GradScaler()
    s2.load_state_dict(st)
    assert s2.get_scale() == 256.0
    assert s_t is None or s_t.get_scale() == 256.0


def test_fit_with_mixed_precision():
    ts.manual_seed(0)
    x = ts.randn(256, 2)
    y = (x[:, 0] > 0).to(ts.int64)
    model = ts.nn.Sequential(ts.nn.Linear(2, 16), ts.nn.ReLU(), ts.nn.Linear(16, 2))
    opt = ts.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    loader = ts.data.DataLoader(ts.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    h = ts.train.fit(model, loader, epochs=5, optimizer=opt, mixed_precision=ts.bfloat16)
    assert h["epochs"][-1]["accuracy"] > 0.9
    assert all(p.dtype == ts.float32 for p in model.parameters())


@pytest.mark.skipif(not ts.cuda.is_available(), reason="no CUDA device")
def test_autocast_cuda_float16_lists():
    lin = ts.nn.Linear(4, 4).cuda()
    x = ts.randn(2, 4, device="cuda")
    with ts.autocast("cuda"):
        h = lin(x)
        assert h.dtype == ts.float16
        assert ts.softmax(h, 1).dtype == ts.float32  # CUDA's float32 list
        assert ts.relu(h).dtype == ts.float16
    with ts.autocast("cuda"):
        assert ts.nn.Linear(4, 4)(ts.randn(2, 4)).dtype == ts.float32  # CPU ops untouched
