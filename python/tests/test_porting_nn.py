"""Layers and optimizers ported scripts need beyond the core set: the recurrent cells and L-BFGS,
against PyTorch 1.13 from the same weights."""
import numpy as np
import pytest
import tessera as ts

torch = pytest.importorskip("torch")


def copy_params(src, dst):
    for (n, p), (m, q) in zip(src.named_parameters(), dst.named_parameters()):
        assert n == m
        with ts.no_grad():
            q.copy_(ts.tensor(p.detach().numpy()))


@pytest.mark.parametrize("name,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                     ("GRUCell", {}), ("GRUCell", {"bias": False}), ("LSTMCell", {"bias": False})])
def test_recurrent_cells_match_pytorch(name, kw):
    rng = np.random.default_rng(0)
    theirs = getattr(torch.nn, name)(3, 4, **kw).double()
    ours = getattr(ts.nn, name)(3, 4, dtype=ts.float64, **kw)
    copy_params(theirs, ours)
    assert repr(ours) == repr(theirs)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    results = []
    for L, cell in ((ts, ours), (torch, theirs)):
        xt = L.tensor(x, requires_grad=True)
        hx = (L.tensor(h), L.tensor(h) * 0.5) if name == "LSTMCell" else L.tensor(h)
        out = cell(xt, hx)
        outs = out if isinstance(out, tuple) else (out,)
        sum(o.sum() for o in outs).backward()
        unbatched = cell(L.tensor(x[0]))
        results.append([o.detach().numpy() for o in outs] + [xt.grad.numpy(), cell.weight_hh.grad.numpy(),
                       (unbatched[0] if isinstance(unbatched, tuple) else unbatched).detach().numpy()])
        assert cell(L.tensor(x)) is not None  # hx defaults to zeros
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=f"{name}: expected input"):
        ours(ts.ones(2, 5, dtype=ts.float64))


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_lbfgs_matches_pytorch_step_for_step(line_search):
    res = []
    for L in (ts, torch):
        w = L.tensor([-1.5, 2.0], dtype=L.float64, requires_grad=True)
        opt = L.optim.LBFGS([w], lr=1 if line_search else 0.1, max_iter=10, line_search_fn=line_search,
                            history_size=5)

        def closure():
            opt.zero_grad()
            loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
            loss.backward()
            return loss
        losses = [float(opt.step(closure)) for _ in range(5)]
        res.append((losses, w.detach().numpy().copy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-7)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-7)
    w = ts.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="needs a closure"):
        ts.optim.LBFGS([w]).step()
    with pytest.raises(ValueError, match="strong_wolfe"):
        ts.optim.LBFGS([w], line_search_fn="backtracking")
