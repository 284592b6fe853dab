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
        default, zero = cell(L.tensor(x)), cell(L.tensor(x), (L.zeros(2, 4, dtype=L.float64),) * 2
                                                if name == "LSTMCell" else L.zeros(2, 4, dtype=L.float64))
        for a, b in zip(default if isinstance(default, tuple) else (default,), zero if isinstance(zero, tuple) else (zero,)):
            assert L.equal(a, b)  # hx defaults to zeros
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


def copy_by_name(src, dst):
    theirs = dict(src.named_parameters())
    ours = dict(dst.named_parameters())
    assert list(ours) == list(theirs)
    for n, p in ours.items():
        with ts.no_grad():
            p.copy_(ts.tensor(theirs[n].detach().numpy()))


def run_both(make, call, inputs):
    theirs = make(torch).double()
    ours = make(ts).to(ts.float64)
    copy_by_name(theirs, ours)
    results = []
    for L, m in ((ts, ours), (torch, theirs)):
        xs = [L.tensor(a, requires_grad=a.dtype == np.float64) if isinstance(a, np.ndarray) else a for a in inputs]
        out = call(L, m, xs)
        (out * out).sum().backward()
        results.append([out.detach().numpy()] + [x.grad.numpy() for x in xs if hasattr(x, "grad") and x.grad is not None]
                       + [p.grad.numpy() for _, p in sorted(m.named_parameters())])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("norm_first,activation,batch_first", [(False, "relu", False), (True, "gelu", True)])
def test_transformer_layers_match_pytorch(norm_first, activation, batch_first):
    rng = np.random.default_rng(5)
    src = rng.standard_normal((5, 2, 8) if not batch_first else (2, 5, 8))
    tgt = rng.standard_normal((4, 2, 8) if not batch_first else (2, 4, 8))
    kw = dict(dim_feedforward=16, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    pad = np.array([[False, False, False, True, True], [False] * 5])
    run_both(lambda L: L.nn.TransformerEncoderLayer(8, 2, **kw),
             lambda L, m, xs: m(xs[0], src_key_padding_mask=L.tensor(pad)), [src])
    causal = np.triu(np.full((4, 4), -np.inf), 1)
    run_both(lambda L: L.nn.TransformerDecoderLayer(8, 2, **kw),
             lambda L, m, xs: m(xs[0], xs[1], tgt_mask=L.tensor(causal), memory_key_padding_mask=L.tensor(pad)),
             [tgt, src])
    run_both(lambda L: L.nn.TransformerEncoder(L.nn.TransformerEncoderLayer(8, 2, **kw), 2, norm=L.nn.LayerNorm(8)),
             lambda L, m, xs: m(xs[0], mask=L.tensor(np.triu(np.ones((5, 5), bool), 1))), [src])


def test_whole_transformer_matches_pytorch():
    rng = np.random.default_rng(6)
    src, tgt = rng.standard_normal((6, 3, 8)), rng.standard_normal((5, 3, 8))
    mask = ts.nn.Transformer.generate_square_subsequent_mask(5).numpy()
    np.testing.assert_array_equal(mask, torch.nn.Transformer.generate_square_subsequent_mask(5).numpy())
    run_both(lambda L: L.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                        dim_feedforward=12, dropout=0.0),
             lambda L, m, xs: m(xs[0], xs[1], tgt_mask=L.tensor(mask)), [src, tgt])
    m = ts.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1)
    names = [n for n, _ in m.named_parameters()]
    assert "encoder.layers.1.self_attn.in_proj_weight" in names and "decoder.norm.bias" in names
    enc = ts.nn.TransformerEncoder(ts.nn.TransformerEncoderLayer(8, 2), 3)
    w = [p for n, p in enc.named_parameters() if n.endswith("linear1.weight")]
    assert len(w) == 3 and all(ts.equal(w[0], x) for x in w)  # copies of one layer, as PyTorch's deepcopy
    with pytest.raises(ValueError, match="d_model"):
        ts.nn.TransformerEncoderLayer(10, 3)
    with pytest.raises(ValueError, match="activation"):
        ts.nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_scaled_dot_product_attention_against_its_formula():
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 2))

    def reference(mask_add):
        s = q @ np.swapaxes(k, -1, -2) / np.sqrt(5) + mask_add
        w = np.exp(s - s.max(-1, keepdims=True))
        return (w / w.sum(-1, keepdims=True)) @ v

    F = ts.nn.functional
    out = F.scaled_dot_product_attention(ts.tensor(q), ts.tensor(k), ts.tensor(v))
    np.testing.assert_allclose(out.numpy(), reference(0.0), rtol=1e-10)
    allowed = rng.random((4, 6)) > 0.3
    allowed[:, 0] = True
    out = F.scaled_dot_product_attention(ts.tensor(q), ts.tensor(k), ts.tensor(v), attn_mask=ts.tensor(allowed))
    np.testing.assert_allclose(out.numpy(), reference(np.where(allowed, 0.0, -np.inf)), rtol=1e-10)
    causal = F.scaled_dot_product_attention(ts.tensor(q), ts.tensor(k[:, :, :4]), ts.tensor(v[:, :, :4]),
                                            is_causal=True)
    k4, v4 = k[:, :, :4], v[:, :, :4]
    s = q @ np.swapaxes(k4, -1, -2) / np.sqrt(5) + np.triu(np.full((4, 4), -np.inf), 1)
    w = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(causal.numpy(), (w / w.sum(-1, keepdims=True)) @ v4, rtol=1e-10)
    x = ts.tensor(q, requires_grad=True)
    assert ts.autograd.gradcheck(lambda a: F.scaled_dot_product_attention(a, ts.tensor(k), ts.tensor(v), scale=0.3),
                                 (x,))
    with pytest.raises(ValueError, match="do not match"):
        F.scaled_dot_product_attention(ts.tensor(q), ts.tensor(k[..., :3]), ts.tensor(v))


def test_trainer_takes_names_and_says_which_call_failed(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    ds = ts.data.TensorDataset(ts.tensor(x), ts.tensor((x[:, 0] > 0).astype(np.int64)))
    model = ts.nn.Linear(4, 2)
    h = ts.train.fit(model, ts.data.DataLoader(ds, batch_size=16), epochs=3, optimizer="adam", loss="cross_entropy")
    assert h["epochs"][-1]["loss"] < h["epochs"][0]["loss"]
    reg = ts.data.TensorDataset(ts.tensor(x), ts.tensor(x[:, :1] * 2))
    ts.train.fit(ts.nn.Linear(4, 1), ts.data.DataLoader(reg, batch_size=16), optimizer="SGD", loss="mse", metrics=[])
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        ts.train.fit(model, ts.data.DataLoader(ds, batch_size=16), optimizer="adam", loss="hinge")
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        ts.train.fit(model, ts.data.DataLoader(ds, batch_size=16), optimizer="lion")
    with pytest.raises(ValueError, match="^evaluate: unknown metric 'f1'"):
        ts.train.evaluate(model, ts.data.DataLoader(ds, batch_size=16), metrics=["f1"])
    with pytest.raises(ValueError, match="^fit: unknown metric 'f1'"):
        ts.train.fit(model, ts.data.DataLoader(ds, batch_size=16), optimizer="adam", metrics=["f1"])
    with pytest.raises(ValueError, match="checkpoint: no metric 'val_accuracy'.*they have: accuracy, loss"):
        ts.train.fit(model, ts.data.DataLoader(ds, batch_size=16), optimizer="adam",
                     callbacks=[ts.train.checkpoint(str(tmp_path / "ck"), monitor="val_accuracy")])
    # the CSV lr column is the rate each epoch trained with, whatever order the callbacks run in
    for order in (0, 1):
        opt = ts.optim.SGD(model.parameters(), lr=0.1)
        sched = ts.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        csv = tmp_path / f"log{order}.csv"
        cbs = [ts.train.lr_scheduler(sched), ts.train.csv_logger(str(csv))]
        ts.train.fit(model, ts.data.DataLoader(ds, batch_size=16), epochs=3, optimizer=opt,
                     callbacks=cbs if order == 0 else cbs[::-1])
        rows = csv.read_text().splitlines()
        assert rows[0].startswith("epoch,step,lr")
        assert [float(r.split(",")[2]) for r in rows[1:]] == [0.1, 0.05, 0.025]


def test_load_names_other_formats_and_parallel_shims(tmp_path):
    import zipfile
    p = tmp_path / "model.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02" + b"x" * 200)
    with pytest.raises(OSError, match="not a safetensors file: it is a ZIP archive"):
        ts.load(str(p))
    q = tmp_path / "legacy.pt"
    q.write_bytes(b"\x80\x02" + b"\x00" * 64)
    with pytest.raises(OSError, match="a Python pickle"):
        ts.load(str(q))
    dp = ts.nn.DataParallel(ts.nn.Linear(2, 3))
    assert list(dp.state_dict()) == ["module.weight", "module.bias"] and dp(ts.ones(2)).shape == (3,)
    assert ts.nn.parallel.DataParallel is ts.nn.DataParallel
    assert ts.nn.parallel.DistributedDataParallel is ts.distributed.DistributedDataParallel
    ts.backends.cudnn.deterministic = True
    assert ts.backends.cudnn.deterministic and ts.backends.cudnn.enabled
    ts.backends.cudnn.deterministic = False
    with pytest.raises(ValueError, match="without cuDNN"):
        ts.backends.cudnn.enabled = False


class PicklableNet(ts.nn.Module):  # (module level: pickle finds classes by name, as in PyTorch)
    def __init__(self):
        super().__init__()
        self.conv = ts.nn.Conv2d(1, 2, 3, padding=1)
        self.lstm = ts.nn.LSTM(2, 3, batch_first=True, dtype=ts.float64)
        self.head = ts.nn.Sequential(ts.nn.Flatten(), ts.nn.Linear(2 * 4 * 4, 3))
        self.scale = ts.nn.Parameter(ts.ones(1))
        self.note = "kept"

    def forward(self, x):
        return self.head(self.conv(x)) * self.scale


def test_pickle_deepcopy_and_whole_model_save():
    import copy
    import io
    import pickle
    t = ts.randn(3, requires_grad=True)
    u = pickle.loads(pickle.dumps(t))
    assert u.requires_grad and u.is_leaf and ts.equal(u, t) and not (t * 2).is_leaf
    assert not pickle.loads(pickle.dumps(t * 2)).requires_grad  # data only, as PyTorch: no graph
    assert copy.deepcopy(ts.ones(2).to(ts.bfloat16)).dtype == ts.bfloat16

    net = PicklableNet().eval()
    twin = copy.deepcopy(net)
    assert not twin.training and not twin.conv.training and twin.note == "kept"
    x = ts.randn(2, 1, 4, 4)
    assert ts.equal(twin(x), net(x))
    with ts.no_grad():
        twin.conv.weight.add_(1)  # a copy, not shared storage
    assert not ts.equal(twin(x), net(x))
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in net.named_parameters()]
    ema = copy.deepcopy(ts.zoo.lenet5())
    assert sum(p.numel() for p in ema.parameters()) == sum(p.numel() for p in ts.zoo.lenet5().parameters())
    buf = io.BytesIO()
    ts.save({"model": net, "epoch": 7}, buf)
    buf.seek(0)
    loaded = ts.load(buf, weights_only=False)
    assert loaded["epoch"] == 7 and ts.equal(loaded["model"](x), net(x))

    class MyLinear(ts.nn.Linear):
        pass

    with pytest.raises(TypeError, match=r"Python subclass of the C\+\+ layer Linear"):
        pickle.dumps(MyLinear(2, 2))


@pytest.mark.parametrize("opt_name,kw", [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                                         ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "amsgrad": True}),
                                         ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True})])
@pytest.mark.parametrize("how", ["model first", "optimizer first", "deepcopy", "save"])
def test_pickled_model_and_optimizer_keep_training_together_as_in_pytorch(opt_name, kw, how):
    """A model and its optimizer pickled mid-training (whole objects, as torch.save({'model': ...,
    'optimizer': ...}) does) come back with the optimizer updating the rebuilt model's parameters,
    its state (momentum buffers, step counts) and per-group options intact: the losses after
    unpickling equal PyTorch's, step by step, from the same weights."""
    import copy
    import io
    import pickle
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    nets = {}
    for L in (ts, torch):
        net = L.nn.Sequential(L.nn.Linear(3, 5), L.nn.Tanh(), L.nn.Linear(5, 2)).double()
        nets[L] = net
    copy_params(nets[torch], nets[ts])
    losses = {}
    for L, net in nets.items():
        groups = [{"params": list(net[0].parameters()), "lr": kw["lr"] / 2}, {"params": list(net[2].parameters())}]
        opt = getattr(L.optim, opt_name)(groups, **kw)
        xs, ys = L.tensor(x), L.tensor(y)

        def step():
            opt.zero_grad()
            loss = ((net(xs) - ys) ** 2).mean()
            loss.backward()
            opt.step()
            return loss.item()
        first = [step() for _ in range(3)]
        if how == "model first":
            net, opt = pickle.loads(pickle.dumps((net, opt)))
        elif how == "optimizer first":
            opt, net = pickle.loads(pickle.dumps((opt, net)))
        elif how == "deepcopy":
            net, opt = copy.deepcopy((net, opt))
        else:
            buf = io.BytesIO()
            L.save({"model": net, "optimizer": opt}, buf)
            buf.seek(0)
            loaded = L.load(buf, weights_only=False)
            net, opt = loaded["model"], loaded["optimizer"]
        assert opt.param_groups[0]["lr"] == kw["lr"] / 2
        losses[L] = first + [step() for _ in range(4)]
    np.testing.assert_allclose(losses[ts], losses[torch], rtol=1e-10)


def test_optimizers_that_cannot_pickle_say_why():
    import pickle
    p = ts.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="cannot pickle LBFGS"):
        pickle.dumps(ts.optim.LBFGS([p]))


def test_tensors_shared_between_objects_stay_shared_after_pickling():
    import pickle
    t = ts.randn(3)
    a, b, c = pickle.loads(pickle.dumps(({"x": t}, [t, t.detach()], t)))
    assert a["x"] is b[0] is c  # one tensor, as in PyTorch
    assert b[1] is not c and ts.equal(b[1], c)  # (a detached view pickles as its own tensor)

    class PicklesInside:  # a pickle made while another one is being made stands on its own
        def __reduce__(self):
            return (pickle.loads, (pickle.dumps(t),))
    outer, inner = pickle.loads(pickle.dumps((t, PicklesInside())))
    assert ts.equal(outer, t) and ts.equal(inner, t)
