"""Every module, loss module, optimizer and LR schedule of tessera's Python API against
PyTorch's: the same initial weights (copied across), the same inputs, several steps; outputs,
gradients and updated weights must match within float32 tolerance (float64 where noted)."""
import numpy as np
import seeds
import pytest
import tessera as ts

torch = pytest.importorskip("torch")
RNG = seeds.rng()


def T(a, lib, grad=False):
    t = ts.tensor(a) if lib is ts else torch.tensor(a)
    return t.requires_grad_() if grad else t


def copy_state(ours, theirs):
    """Copies torch's parameters and buffers into ours, by name (the layouts are PyTorch's)."""
    sd = {k: ts.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd)
    ours.to(ts.get_default_device())  # the case's device (conftest.py's on_device)


def close(a, b, tol, what):
    a = a.detach().cpu().numpy() if isinstance(a, ts.Tensor) else a
    b = b.detach().numpy()
    assert a.shape == b.shape, f"{what}: {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def check_module(ours, theirs, inputs, tol=2e-5, train=True, steps=1):
    """Forward, backward of sum(out * w), and the gradients of input and parameters."""
    copy_state(ours, theirs)
    ours.train(train)
    theirs.train(train)
    for _ in range(steps):
        xt = [T(a, ts, a.dtype.kind == "f") for a in inputs]
        xp = [T(a, torch, a.dtype.kind == "f") for a in inputs]
        ot, op = ours(*xt), theirs(*xp)
        if isinstance(op, tuple):
            ot, op = ot[0], op[0]
        close(ot, op, tol, f"{type(ours).__name__} output")
        w = RNG.standard_normal(tuple(op.shape)).astype(np.float32)
        (ot * ts.tensor(w)).sum().backward()
        (op * torch.tensor(w)).sum().backward()
        for i, (a, b) in enumerate(zip(xt, xp)):
            if b.grad is not None:
                close(a.grad, b.grad, tol * 5, f"{type(ours).__name__} input grad {i}")
        mine = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            close(mine[name].grad, p.grad, tol * 5, f"{type(ours).__name__} grad of {name}")
            mine[name].grad = None
            p.grad = None
    for name, b in theirs.named_buffers():
        close(dict(ours.named_buffers())[name], b, tol, f"{type(ours).__name__} buffer {name}")


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


LAYERS = [
    ("Linear", lambda L: L.nn.Linear(5, 3), [(4, 5)]),
    ("Linear no bias", lambda L: L.nn.Linear(5, 3, bias=False), [(2, 4, 5)]),
    ("Bilinear", lambda L: L.nn.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    ("Conv1d", lambda L: L.nn.Conv1d(3, 4, 3, stride=2, padding=1), [(2, 3, 9)]),
    ("Conv2d", lambda L: L.nn.Conv2d(3, 4, 3, padding=1), [(2, 3, 6, 6)]),
    ("Conv2d strided grouped", lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), groups=2, dilation=(1, 2)),
     [(2, 4, 7, 7)]),
    ("ConvTranspose2d", lambda L: L.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
     [(2, 3, 4, 4)]),
    ("MaxPool2d", lambda L: L.nn.MaxPool2d(3, stride=2, padding=1), [(2, 3, 7, 7)]),
    ("AvgPool2d", lambda L: L.nn.AvgPool2d(2, ceil_mode=True), [(2, 3, 7, 7)]),
    ("AdaptiveAvgPool2d", lambda L: L.nn.AdaptiveAvgPool2d((2, 3)), [(2, 3, 7, 7)]),
    ("BatchNorm1d", lambda L: L.nn.BatchNorm1d(4), [(6, 4)]),
    ("BatchNorm1d 3-D", lambda L: L.nn.BatchNorm1d(4, momentum=0.3), [(6, 4, 5)]),
    ("BatchNorm2d", lambda L: L.nn.BatchNorm2d(3), [(4, 3, 5, 5)]),
    ("LayerNorm", lambda L: L.nn.LayerNorm([4, 5]), [(3, 4, 5)]),
    ("LayerNorm int", lambda L: L.nn.LayerNorm(5, elementwise_affine=False), [(3, 4, 5)]),
    ("GroupNorm", lambda L: L.nn.GroupNorm(2, 4), [(3, 4, 5, 5)]),
    ("Flatten", lambda L: L.nn.Flatten(), [(3, 4, 5)]),
    ("Identity", lambda L: L.nn.Identity(), [(3, 4)]),
    ("ReLU", lambda L: L.nn.ReLU(), [(3, 4)]),
    ("SiLU", lambda L: L.nn.SiLU(), [(3, 4)]),
    ("Tanh", lambda L: L.nn.Tanh(), [(3, 4)]),
    ("Sigmoid", lambda L: L.nn.Sigmoid(), [(3, 4)]),
    ("LeakyReLU", lambda L: L.nn.LeakyReLU(0.2), [(3, 4)]),
    ("ELU", lambda L: L.nn.ELU(0.5), [(3, 4)]),
    ("GELU", lambda L: L.nn.GELU(), [(3, 4)]),
    ("GELU tanh", lambda L: L.nn.GELU(approximate="tanh"), [(3, 4)]),
    ("Softmax", lambda L: L.nn.Softmax(dim=1), [(3, 4)]),
    ("LogSoftmax", lambda L: L.nn.LogSoftmax(dim=0), [(3, 4)]),
    ("Dropout eval", lambda L: L.nn.Dropout(0.5), [(3, 4)]),
    ("Softplus", lambda L: L.nn.Softplus(beta=2.0, threshold=3.0), [(3, 4)]),
    ("Hardtanh", lambda L: L.nn.Hardtanh(-0.5, 0.7), [(3, 4)]),
    ("ReLU6", lambda L: L.nn.ReLU6(), [(3, 4)]),
    ("Hardsigmoid", lambda L: L.nn.Hardsigmoid(), [(3, 4)]),
    ("Hardswish", lambda L: L.nn.Hardswish(), [(3, 4)]),
    ("Mish", lambda L: L.nn.Mish(), [(3, 4)]),
    ("PReLU", lambda L: L.nn.PReLU(), [(3, 4)]),
    ("PReLU per channel", lambda L: L.nn.PReLU(3, init=0.1), [(2, 3, 4, 4)]),
    ("Unflatten", lambda L: L.nn.Unflatten(1, (2, 6)), [(3, 12)]),
    ("Dropout2d eval", lambda L: L.nn.Dropout2d(0.5), [(2, 3, 4, 4)]),
    ("Upsample", lambda L: L.nn.Upsample(scale_factor=2), [(2, 3, 4, 5)]),
    ("MaxPool1d", lambda L: L.nn.MaxPool1d(3, stride=2, padding=1), [(2, 3, 9)]),
    ("AvgPool1d", lambda L: L.nn.AvgPool1d(2), [(2, 3, 9)]),
    ("AdaptiveAvgPool1d", lambda L: L.nn.AdaptiveAvgPool1d(4), [(2, 3, 9)]),
    ("MultiheadAttention", lambda L: L.nn.MultiheadAttention(8, 2), [(5, 2, 8), (6, 2, 8), (6, 2, 8)]),
    ("MultiheadAttention batch_first", lambda L: L.nn.MultiheadAttention(8, 4, batch_first=True),
     [(2, 5, 8), (2, 5, 8), (2, 5, 8)]),
]


@pytest.mark.parametrize("name,make,shapes", LAYERS, ids=[x[0] for x in LAYERS])
def test_layer(name, make, shapes, on_device):
    ours, theirs = make(ts), make(torch)
    train = not name.endswith("eval")
    check_module(ours, theirs, [f32(*s) for s in shapes], train=train, steps=2)


def test_embedding(on_device):
    for pad in (None, 2):
        ours, theirs = ts.nn.Embedding(7, 3, padding_idx=pad), torch.nn.Embedding(7, 3, padding_idx=pad)
        copy_state(ours, theirs)
        idx = RNG.integers(0, 7, (4, 5))
        ot, op = ours(ts.tensor(idx)), theirs(torch.tensor(idx))
        close(ot, op, 0, "embedding")
        w = f32(4, 5, 3)
        (ot * ts.tensor(w)).sum().backward()
        (op * torch.tensor(w)).sum().backward()
        close(ours.weight.grad, theirs.weight.grad, 1e-5, "embedding grad")


def test_batchnorm_eval_uses_running_stats(on_device):
    ours, theirs = ts.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = f32(4, 3, 5, 5)
    check_module(ours, theirs, [x], train=True, steps=3)
    check_module(ours, theirs, [x], train=False)


# --- containers and Python modules ---------------------------------------------------------------
def test_containers_and_state_dict_names(on_device):
    def build(L):
        class Net(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = L.nn.ModuleList([L.nn.Linear(4, 4) for _ in range(2)])
                self.heads = L.nn.ModuleDict({"a": L.nn.Linear(4, 2), "b": L.nn.Linear(4, 3)})
                self.seq = L.nn.Sequential(L.nn.Linear(4, 4), L.nn.ReLU())
                # (a buffer for the state-dict names; batch norm is checked on its own: the gradient of
                # a bias right before it is float32 noise by construction, as batch norm cancels shifts)
                self.register_buffer("scale", L.full((4,), 0.5))

            def forward(self, x):
                for b in self.blocks:
                    x = b(x).tanh()
                x = self.seq(x) * self.scale
                return L.cat([self.heads["a"](x), self.heads["b"](x)], 1)
        return Net()

    ours, theirs = build(ts), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    check_module(ours, theirs, [f32(6, 4)], steps=2)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]


# --- losses as modules -------------------------------------------------------------------------------
LOSSES = [
    ("CrossEntropyLoss", lambda L: L.nn.CrossEntropyLoss(label_smoothing=0.1), "class"),
    ("NLLLoss", lambda L: L.nn.NLLLoss(reduction="sum"), "logprob"),
    ("MSELoss", lambda L: L.nn.MSELoss(), "real"),
    ("L1Loss", lambda L: L.nn.L1Loss(reduction="sum"), "real"),
    ("SmoothL1Loss", lambda L: L.nn.SmoothL1Loss(beta=0.5), "real"),
    ("BCELoss", lambda L: L.nn.BCELoss(), "prob"),
    ("BCEWithLogitsLoss", lambda L: L.nn.BCEWithLogitsLoss(), "unit"),
    ("KLDivLoss", lambda L: L.nn.KLDivLoss(reduction="batchmean"), "dist"),
]


@pytest.mark.parametrize("name,make,kind", LOSSES, ids=[x[0] for x in LOSSES])
def test_loss_module(name, make, kind, on_device):
    x = f32(6, 4)
    if kind == "prob":
        x = RNG.uniform(0.05, 0.95, (6, 4)).astype(np.float32)
    target = {"class": RNG.integers(0, 4, 6), "logprob": RNG.integers(0, 4, 6), "real": f32(6, 4),
              "prob": RNG.uniform(0, 1, (6, 4)).astype(np.float32), "unit": RNG.uniform(0, 1, (6, 4)).astype(np.float32),
              "dist": RNG.dirichlet(np.ones(4), 6).astype(np.float32)}[kind]
    outs = []
    for L in (ts, torch):
        xi = T(x, L, True)
        inp = xi.log_softmax(1) if kind in ("logprob", "dist") else xi
        loss = make(L)(inp, T(target, L))
        loss.backward()
        outs.append((loss, xi.grad))
    close(outs[0][0], outs[1][0], 1e-5, name)
    close(outs[0][1], outs[1][1], 1e-5, name + " grad")


# --- optimizers ------------------------------------------------------------------------------------------
OPTIMIZERS = [
    ("SGD", lambda L, p: L.optim.SGD(p, lr=0.1)),
    ("SGD momentum wd", lambda L, p: L.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2, dampening=0.1)),
    ("SGD nesterov", lambda L, p: L.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", lambda L, p: L.optim.Adam(p, lr=1e-2)),
    ("Adam wd amsgrad", lambda L, p: L.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", lambda L, p: L.optim.AdamW(p, lr=1e-2, weight_decay=0.1)),
    ("RMSprop", lambda L, p: L.optim.RMSprop(p, lr=1e-2)),
    ("RMSprop centered momentum", lambda L, p: L.optim.RMSprop(p, lr=1e-2, momentum=0.9, centered=True,
                                                               weight_decay=1e-3)),
    ("Adagrad", lambda L, p: L.optim.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("Adadelta", lambda L, p: L.optim.Adadelta(p)),
    ("Adadelta wd", lambda L, p: L.optim.Adadelta(p, lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01)),
]


def small_net(L):
    return L.nn.Sequential(L.nn.Linear(4, 8), L.nn.Tanh(), L.nn.Linear(8, 3))


def step_both(ours, theirs, opt_t, opt_p, steps, name, dtype=np.float32, tol=2e-5):
    """steps optimizer steps on both sides from the same batch; the weights must agree after each."""
    x, y = f32(16, 4).astype(dtype), RNG.integers(0, 3, 16)
    for step in range(steps):
        for model, opt, L in ((ours, opt_t, ts), (theirs, opt_p, torch)):
            opt.zero_grad()
            L.nn.functional.cross_entropy(model(T(x, L)), T(y, L)).backward()
            opt.step()
        for (n, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
            close(a, b, tol, f"{name} step {step} {n}")


@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[x[0] for x in OPTIMIZERS])
def test_optimizer_steps(name, make, on_device):
    """In float64: RMSprop's and Adam's first steps divide a gradient by its own magnitude, so a
    gradient near zero turns float32 rounding into a different step; float64 keeps the comparison
    about the update rules."""
    ours, theirs = small_net(ts), small_net(torch).double()
    copy_state(ours, theirs)
    assert ours.double() is ours and all(p.dtype == ts.float64 for p in ours.parameters())
    step_both(ours, theirs, make(ts, ours.parameters()), make(torch, theirs.parameters()), 6, name,
              np.float64, 1e-9)


def test_parameter_groups_and_lr(on_device):
    ours, theirs = small_net(ts), small_net(torch)
    copy_state(ours, theirs)
    groups = lambda m: [{"params": m[0].parameters(), "lr": 0.01},  # noqa: E731
                        {"params": m[2].parameters(), "momentum": 0.5}]
    opt_t = ts.optim.SGD(groups(ours), lr=0.1)
    opt_p = torch.optim.SGD(groups(theirs), lr=0.1)
    assert [g["lr"] for g in opt_t.param_groups] == [g["lr"] for g in opt_p.param_groups]
    step_both(ours, theirs, opt_t, opt_p, 3, "parameter groups")
    with pytest.raises(ValueError):
        ts.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        ts.optim.SGD([1, 2], lr=0.1)


def test_clipping(on_device):
    grads = [f32(3, 4) * 5, f32(4) * 5]
    pt = [ts.zeros(3, 4, requires_grad=True), ts.zeros(4, requires_grad=True)]
    pp = [torch.zeros(3, 4, requires_grad=True), torch.zeros(4, requires_grad=True)]
    for p, g in zip(pt, grads):
        p.grad = ts.tensor(g)
    for p, g in zip(pp, grads):
        p.grad = torch.tensor(g)
    nt = ts.optim.clip_grad_norm_(pt, 1.5)
    n_p = torch.nn.utils.clip_grad_norm_(pp, 1.5)
    assert abs(nt - float(n_p)) < 1e-4
    for a, b in zip(pt, pp):
        close(a.grad, b.grad, 1e-6, "clip_grad_norm_")
    ts.optim.clip_grad_value_(pt, 0.1)
    torch.nn.utils.clip_grad_value_(pp, 0.1)
    for a, b in zip(pt, pp):
        close(a.grad, b.grad, 1e-6, "clip_grad_value_")


SCHEDULERS = [
    ("StepLR", lambda L, o: L.optim.lr_scheduler.StepLR(o, 3, gamma=0.5)),
    ("MultiStepLR", lambda L, o: L.optim.lr_scheduler.MultiStepLR(o, [2, 5], gamma=0.3)),
    ("ExponentialLR", lambda L, o: L.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    ("CosineAnnealingLR", lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, 10, eta_min=0.01)),
    ("OneCycleLR", lambda L, o: L.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=12)),
]


@pytest.mark.parametrize("name,make", SCHEDULERS, ids=[x[0] for x in SCHEDULERS])
def test_lr_schedules(name, make):
    p = [ts.zeros(2, requires_grad=True)]
    q = [torch.zeros(2, requires_grad=True)]
    opt_t, opt_p = ts.optim.SGD(p, lr=0.1, momentum=0.9), torch.optim.SGD(q, lr=0.1, momentum=0.9)
    st, sp = make(ts, opt_t), make(torch, opt_p)
    for epoch in range(11):
        assert abs(opt_t.lr - opt_p.param_groups[0]["lr"]) < 1e-9, f"{name} epoch {epoch}"
        assert np.allclose(st.get_last_lr(), sp.get_last_lr())
        opt_t.step()
        opt_p.step()
        st.step()
        sp.step()


def test_reduce_lr_on_plateau():
    opt_t = ts.optim.SGD([ts.zeros(2, requires_grad=True)], lr=1.0)
    opt_p = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
    st = ts.optim.lr_scheduler.ReduceLROnPlateau(opt_t, patience=1, factor=0.5)
    sp = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_p, patience=1, factor=0.5)
    for metric in [1.0, 0.9, 0.9, 0.9, 0.95, 0.5, 0.5, 0.5, 0.5]:
        st.step(metric)
        sp.step(metric)
        assert abs(opt_t.lr - opt_p.param_groups[0]["lr"]) < 1e-12
    with pytest.raises(ValueError, match="mode"):
        ts.optim.lr_scheduler.ReduceLROnPlateau(opt_t, mode="up")


def test_init_functions():
    w = ts.empty(64, 32)
    for fn, args in [("uniform_", (-0.5, 0.5)), ("normal_", (0.0, 0.1)), ("xavier_uniform_", ()),
                     ("xavier_normal_", ()), ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
                     ("orthogonal_", ())]:
        out = getattr(ts.nn.init, fn)(w, *args)
        assert out.shape == (64, 32)
    bound = np.sqrt(6 / 96)
    a = ts.nn.init.xavier_uniform_(ts.empty(64, 32)).numpy()
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
    q = ts.nn.init.orthogonal_(ts.empty(8, 16)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(8), atol=1e-5)
    assert ts.nn.init.constant_(ts.empty(3), 2.5).tolist() == [2.5] * 3
    assert ts.nn.init.calculate_gain("relu") == torch.nn.init.calculate_gain("relu")


def test_containers_from_ordered_dicts_and_non_persistent_buffers():
    from collections import OrderedDict
    ours = ts.nn.Sequential(OrderedDict(fc=ts.nn.Linear(3, 4), act=ts.nn.ReLU(), out=ts.nn.Linear(4, 2)))
    theirs = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(3, 4), act=torch.nn.ReLU(), out=torch.nn.Linear(4, 2)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    check_module(ours, theirs, [f32(5, 3)])

    class WithScratch(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("kept", ts.ones(2))
            self.register_buffer("scratch", ts.zeros(2), persistent=False)

    m = WithScratch()
    assert list(m.state_dict()) == ["kept"] and len(list(m.buffers())) == 2


def test_dropout2d_zeroes_whole_channels_and_interpolate_errors():
    x = ts.ones(8, 16, 5, 5)
    y = ts.nn.Dropout2d(0.5)(x)
    per_channel = y.sum((2, 3)).numpy()
    assert set(np.unique(per_channel)) <= {0.0, 50.0}  # each channel all zero or all 2 (1/(1-p))
    assert 0.3 < (per_channel > 0).mean() < 0.7
    with pytest.raises(ValueError, match="mode"):
        ts.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="integer"):
        ts.nn.functional.interpolate(x, scale_factor=1.5)


def test_nn_utils():
    ours, theirs = small_net(ts), small_net(torch)
    copy_state(ours, theirs)
    v_t = ts.nn.utils.parameters_to_vector(ours.parameters())
    v_p = torch.nn.utils.parameters_to_vector(theirs.parameters())
    close(v_t, v_p, 0, "parameters_to_vector")
    ts.nn.utils.vector_to_parameters(v_t * 2, ours.parameters())
    torch.nn.utils.vector_to_parameters(v_p * 2, theirs.parameters())
    for a, b in zip(ours.parameters(), theirs.parameters()):
        close(a, b, 0, "vector_to_parameters")
    assert ts.nn.utils.clip_grad_norm_ is ts.optim.clip_grad_norm_


def test_lambda_schedules_and_pretrained_embeddings():
    for kind in ("LambdaLR", "MultiplicativeLR"):
        p, q = [ts.zeros(2, requires_grad=True)], [torch.zeros(2, requires_grad=True)]
        o_t, o_p = ts.optim.SGD(p, lr=0.1), torch.optim.SGD(q, lr=0.1)
        s_t = getattr(ts.optim.lr_scheduler, kind)(o_t, lambda e: 0.9 ** e)
        s_p = getattr(torch.optim.lr_scheduler, kind)(o_p, lambda e: 0.9 ** e)
        for _ in range(5):
            assert abs(o_t.lr - o_p.param_groups[0]["lr"]) < 1e-12 and np.allclose(s_t.get_last_lr(), s_p.get_last_lr())
            o_t.step(), o_p.step(), s_t.step(), s_p.step()
    w = f32(5, 3)
    e = ts.nn.Embedding.from_pretrained(ts.tensor(w))
    assert not e.weight.requires_grad and np.allclose(e(ts.tensor([4, 0])).numpy(), w[[4, 0]])
    assert ts.nn.Embedding.from_pretrained(ts.tensor(w), freeze=False).weight.requires_grad


def test_python_schedulers_in_fit():
    model = small_net(ts)
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    sched = ts.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
    data = ts.data.TensorDataset(ts.randn(8, 4), ts.randint(0, 3, (8,)))
    ts.train.fit(model, ts.data.DataLoader(data, batch_size=4), epochs=3, optimizer=opt,
                 callbacks=[ts.train.lr_scheduler(sched)])
    assert abs(opt.lr - 0.1 * 0.5 ** 3) < 1e-12


RNNS = [("LSTM", {}), ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True)), ("GRU", {}),
        ("GRU", dict(num_layers=2, bias=False)), ("RNN", dict(nonlinearity="relu", bidirectional=True)),
        ("RNN", dict(num_layers=3))]


@pytest.fixture(params=[True, False], ids=["fused", "steps"])
def fused(request):
    """The recurrent layers with the backends' fused kernels, then as ops step by step."""
    ts.backends.fused.enabled = request.param
    yield request.param
    ts.backends.fused.enabled = True


@pytest.mark.parametrize("kind,kw", RNNS, ids=[f"{k}-{kw}" for k, kw in RNNS])
def test_recurrent_layers(kind, kw, on_device, fused):
    ours, theirs = getattr(ts.nn, kind)(3, 5, **kw), getattr(torch.nn, kind)(3, 5, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    copy_state(ours, theirs)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    x, h = f32(4, 6, 3), f32(layers, 6 if not kw.get("batch_first") else 4, 5)
    if kw.get("batch_first"):
        h = f32(layers, 4, 5)
    states = [h, f32(*h.shape)] if kind == "LSTM" else [h]
    grads = []
    for L, model in ((ts, ours), (torch, theirs)):
        xt = T(x, L, True)
        st = [T(s, L, True) for s in states]
        out, hn = model(xt, tuple(st) if kind == "LSTM" else st[0])
        finals = list(hn) if kind == "LSTM" else [hn]
        w = np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)).astype(np.float32)
        loss = (out * T(w, L)).sum() + sum((f * f).sum() for f in finals)
        loss.backward()
        grads.append([out, *finals, xt.grad, *[s.grad for s in st]] + [p.grad for _, p in model.named_parameters()])
    for i, (a, b) in enumerate(zip(*grads)):
        close(a, b, 1e-4, f"{kind} {kw}: tensor {i}")


def test_recurrent_defaults_and_unbatched(on_device):
    ours, theirs = ts.nn.GRU(3, 4), torch.nn.GRU(3, 4)
    copy_state(ours, theirs)
    x = f32(7, 3)  # unbatched
    (o1, h1), (o2, h2) = ours(T(x, ts)), theirs(T(x, torch))
    close(o1, o2, 1e-5, "unbatched output")
    close(h1, h2, 1e-5, "unbatched state")
    assert repr(ts.nn.LSTM(3, 4, num_layers=2, batch_first=True)) == repr(torch.nn.LSTM(3, 4, num_layers=2,
                                                                                      batch_first=True))


def test_channels_last_cnn_matches_torch():
    """The Rosetta-style CNN with channels-last inputs (memory_format=channels_last), as PyTorch
    users write it: outputs and gradients match PyTorch's, and the activations stay channels last."""
    def build(lib):
        nn = lib.nn
        return nn.Sequential(nn.Conv2d(3, 20, 3, padding=1), nn.ReLU(), nn.Conv2d(20, 20, 3, padding=1),
                             nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(20, 24, 3, padding=1, stride=2), nn.ReLU(),
                             nn.Flatten(), nn.Linear(24 * 4 * 4, 5))
    ours, theirs = build(ts), build(torch)
    copy_state(ours, theirs)
    ours.to(memory_format=ts.channels_last)
    theirs.to(memory_format=torch.channels_last)
    x = f32(4, 3, 16, 16)
    xt = ts.tensor(x).to(memory_format=ts.channels_last).requires_grad_()
    xp = torch.tensor(x).to(memory_format=torch.channels_last).requires_grad_()
    assert xt.is_contiguous(memory_format=ts.channels_last) and not xt.is_contiguous()
    feats = ours[2](ours[1](ours[0](xt)))
    assert feats.is_contiguous(memory_format=ts.channels_last)  # conv, ReLU, conv keep the layout
    ot, op = ours(xt), theirs(xp)
    close(ot, op, 1e-4, "channels-last output")
    ot.sum().backward()
    op.sum().backward()
    close(xt.grad.contiguous(), xp.grad.contiguous(), 1e-4, "input gradient")
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        close(mine[name].grad, p.grad.contiguous(), 1e-4, f"grad of {name}")


# --- the layers and losses that are C++ modules too: printing, state dicts, functional forms ------------
def test_layers_print_and_register_as_torch():
    # (Softplus() and Upsample print as PyTorch 2.x's do; torch 1.13, here, printed integers and mode
    # without quotes: those two are checked against 2.x's strings below)
    makes = [lambda L: L.nn.Softplus(beta=2.0, threshold=3.0), lambda L: L.nn.Hardtanh(),
             lambda L: L.nn.Hardtanh(-2.0, 2.0, inplace=True), lambda L: L.nn.ReLU6(), lambda L: L.nn.ReLU6(True),
             lambda L: L.nn.Hardsigmoid(), lambda L: L.nn.Hardswish(), lambda L: L.nn.Mish(), lambda L: L.nn.PReLU(3),
             lambda L: L.nn.Unflatten(1, (2, 6)), lambda L: L.nn.MaxPool1d(3, stride=2, padding=1),
             lambda L: L.nn.AvgPool1d(2), lambda L: L.nn.AdaptiveAvgPool1d(4), lambda L: L.nn.CrossEntropyLoss(),
             lambda L: L.nn.MSELoss(reduction="sum"),
             lambda L: L.nn.CrossEntropyLoss(weight=L.tensor([1.0, 2.0, 0.5])),
             lambda L: L.nn.NLLLoss(weight=L.tensor([1.0, 2.0])), lambda L: L.nn.BCELoss(weight=L.tensor([0.5])),
             lambda L: L.nn.BCEWithLogitsLoss(pos_weight=L.tensor([3.0, 1.0])), lambda L: L.nn.KLDivLoss(log_target=True)]
    for make in makes:
        ours, theirs = make(ts), make(torch)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict()), repr(theirs)
        for k, v in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())
    assert repr(ts.nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(ts.nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(ts.nn.Upsample(size=(4, 6))) == "Upsample(size=(4, 6), mode='nearest')"
    with pytest.raises(ValueError, match="min_val"):
        ts.nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="reduction"):
        ts.nn.MSELoss(reduction="average")


def test_weighted_loss_modules_match_torch(on_device):
    x, y = f32(6, 3), RNG.integers(0, 3, 6)
    w = np.array([1.0, 2.0, 0.5], np.float32)
    for make in (lambda L, w: L.nn.CrossEntropyLoss(weight=w, label_smoothing=0.05),
                 lambda L, w: L.nn.NLLLoss(weight=w, ignore_index=1)):
        outs = []
        for L in (ts, torch):
            xi = T(x, L, True)
            loss = make(L, T(w, L))(xi.log_softmax(1), T(y, L))
            loss.backward()
            outs.append((loss, xi.grad))
        close(outs[0][0], outs[1][0], 1e-5, "weighted loss")
        close(outs[0][1], outs[1][1], 1e-5, "weighted loss grad")


def test_functional_forms_match_torch():
    F, G = ts.nn.functional, torch.nn.functional
    x = f32(2, 3, 4, 5)
    cases = [(lambda M, t: M.prelu(t, T(np.array([0.1, 0.2, 0.3], np.float32), M is F and ts or torch)), "prelu"),
             (lambda M, t: M.hardswish(t), "hardswish"), (lambda M, t: M.mish(t), "mish"),
             (lambda M, t: M.hardsigmoid(t), "hardsigmoid"), (lambda M, t: M.elu(t, 0.5), "elu"),
             (lambda M, t: M.leaky_relu(t, 0.2), "leaky_relu"), (lambda M, t: M.normalize(t, 1.5, 2), "normalize"),
             (lambda M, t: M.interpolate(t, scale_factor=(2, 3)), "interpolate"),
             (lambda M, t: M.max_pool1d(t.flatten(2), 3, 2, 1), "max_pool1d"),
             (lambda M, t: M.avg_pool1d(t.flatten(2), 4, ceil_mode=True), "avg_pool1d")]
    for f, name in cases:
        a, b = T(x, ts, True), T(x, torch, True)
        oa, ob = f(F, a), f(G, b)
        close(oa, ob, 1e-5, name)
        oa.sum().backward()
        ob.sum().backward()
        close(a.grad, b.grad, 1e-5, name + " grad")
    out, idx = F.max_pool1d(T(x, ts).flatten(2), 3, return_indices=True)
    ref_out, ref_idx = G.max_pool1d(T(x, torch).flatten(2), 3, return_indices=True)
    close(out, ref_out, 0, "max_pool1d values")
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    with pytest.raises(ValueError, match="prelu.*shape"):
        F.prelu(T(x, ts), ts.ones(4))
