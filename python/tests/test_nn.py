"""tessera.nn and tessera.optim from Python, against PyTorch with the same weights and inputs."""
import numpy as np
import seeds
import pytest
import tessera as ts
from tessera import nn

torch = pytest.importorskip("torch")
RNG = seeds.rng()


def copy_weights(ours, theirs):
    with ts.no_grad():
        for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert n1 == n2 and tuple(p1.shape) == tuple(p2.shape)
            p1.copy_(ts.tensor(p2.detach().numpy()))


def test_python_module_subclass_registers_by_attribute():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(2, 8)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(8, 3)
            self.scale = ts.ones(1, requires_grad=True)
            self.note = ts.zeros(2)  # a plain tensor attribute is not a parameter

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x))) * self.scale

    m = Net()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert m.num_parameters() == 1 + 16 + 8 + 24 + 3
    assert list(m.state_dict()) == names
    m2 = Net()
    m2.load_state_dict(m.state_dict())
    x = ts.randn(4, 2)
    np.testing.assert_allclose(m(x).detach().numpy(), m2(x).detach().numpy())
    with pytest.raises(ValueError, match="missing key: scale"):
        m2.load_state_dict({k: v for k, v in m.state_dict().items() if k != "scale"})


def test_layers_and_sgd_match_pytorch():
    ours = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(64, 5))
    copy_weights(ours, theirs)
    opt_o = ts.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    for _ in range(5):
        x = RNG.standard_normal((6, 3, 8, 8)).astype(np.float32)
        y = RNG.integers(0, 5, 6)
        lo = ts.cross_entropy(ours(ts.tensor(x)), ts.tensor(y))
        lt = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-4)
        opt_o.zero_grad(), opt_t.zero_grad()
        lo.backward(), lt.backward()
        opt_o.step(), opt_t.step()
    for (n, p1), (_, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=n)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_and_adamw_match_pytorch(amsgrad):
    for ours_cls, theirs_cls in ((ts.optim.Adam, torch.optim.Adam), (ts.optim.AdamW, torch.optim.AdamW)):
        a = RNG.standard_normal((3, 4))
        p_o = ts.tensor(a, dtype=ts.float64, requires_grad=True)
        p_t = torch.tensor(a, requires_grad=True)
        o = ours_cls([p_o], lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, amsgrad=amsgrad)
        t = theirs_cls([p_t], lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, amsgrad=amsgrad)
        for step in range(6):
            g = RNG.standard_normal((3, 4))
            p_o.grad = ts.tensor(g, dtype=ts.float64)
            p_t.grad = torch.tensor(g)
            o.step()
            t.step()
        np.testing.assert_allclose(p_o.detach().numpy(), p_t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_rosetta_cnn_from_python():
    model = nn.Sequential(
        nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(), nn.Conv2d(50, 50, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
        nn.Dropout(0.25), nn.Conv2d(50, 100, 3, padding=1), nn.ReLU(), nn.Conv2d(100, 100, 3, padding=1),
        nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(0.25), nn.Flatten(), nn.Linear(6400, 512), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(512, 10))
    assert model.num_parameters() == 3441592
    out = model(ts.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)
    ts.cross_entropy(out, ts.tensor([1, 7])).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    x = ts.rand(1, 3, 32, 32)
    assert model(x).tolist() == model(x).tolist()  # dropout off in eval


def _rosetta(lib):
    n = lib.nn
    return n.Sequential(
        n.Conv2d(3, 50, 3, padding=1), n.ReLU(), n.Conv2d(50, 50, 3, padding=1), n.MaxPool2d(2), n.ReLU(),
        n.Dropout(0.25), n.Conv2d(50, 100, 3, padding=1), n.ReLU(), n.Conv2d(100, 100, 3, padding=1), n.MaxPool2d(2),
        n.ReLU(), n.Dropout(0.25), n.Flatten(), n.Linear(6400, 512), n.ReLU(), n.Dropout(0.5), n.Linear(512, 10))


def _lenet5(lib):
    n = lib.nn
    return n.Sequential(n.Conv2d(1, 6, 5, padding=2), n.ReLU(), n.MaxPool2d(2), n.Conv2d(6, 16, 5), n.ReLU(),
                        n.MaxPool2d(2), n.Flatten(), n.Linear(400, 120), n.ReLU(), n.Linear(120, 84), n.ReLU(),
                        n.Linear(84, 10))


@pytest.mark.parametrize("build,shape", [(_rosetta, (16, 3, 32, 32)), (_lenet5, (32, 1, 28, 28))])
def test_loss_curves_match_pytorch_for_20_steps(build, shape):
    # The same weights and batches; dropout is off on both sides (the frameworks draw different
    # masks), everything else is the training computation: forward, loss, backward, SGD momentum.
    ours, theirs = build(ts), build(torch)
    copy_weights(ours, theirs)
    ours.eval(), theirs.eval()
    opt_o = ts.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    curve_o, curve_t = [], []
    for _ in range(20):
        x = rng.random(shape, dtype=np.float32)
        y = rng.integers(0, 10, shape[0])
        lo = ts.cross_entropy(ours(ts.tensor(x)), ts.tensor(y))
        lt = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        opt_o.zero_grad(), opt_t.zero_grad()
        lo.backward(), lt.backward()
        opt_o.step(), opt_t.step()
        curve_o.append(lo.item())
        curve_t.append(lt.item())
    np.testing.assert_allclose(curve_o, curve_t, rtol=2e-3, atol=1e-4)


def test_every_public_callable_has_a_docstring():
    def documented(f):
        lines = [line for line in (getattr(f, "__doc__", None) or "").strip().splitlines() if line.strip()]
        # nanobind puts the signature first: a docstring is a further line
        return len(lines) >= 2 or (lines and "(" not in lines[0].split(" ")[0])

    missing = []
    for mod in [ts, ts.nn, ts.nn.functional, ts.nn.init, ts.optim, ts.optim.lr_scheduler, ts.data, ts.train, ts.zoo]:
        missing += [f"{mod.__name__}.{n}" for n in dir(mod)
                    if not n.startswith("_") and callable(getattr(mod, n)) and not documented(getattr(mod, n))]
    missing += [f"Tensor.{n}" for n in dir(ts.Tensor)
                if not n.startswith("_") and callable(getattr(ts.Tensor, n)) and not documented(getattr(ts.Tensor, n))]
    assert not missing, missing
