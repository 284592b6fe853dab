"""One object model: tessera.nn.Module is a Python subclass of the C++ nn::Module. Registration,
the state dict, train/eval and hooks are the C++ module's; these tests hold them to PyTorch's
behaviour (Debian's torch 1.13 beside tessera) and check that C++ reaches the Python methods."""
import copy
import pickle

import numpy as np
import pytest
import torch

import tessera as ts
from tessera import _tessera as _C
from tessera import nn


def classes(lib):
    """The same module in tessera and in torch: own parameters and buffers (one not persistent),
    a C++ (or torch) layer, and a Python submodule holding a batch norm."""

    class Inner(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = lib.nn.BatchNorm1d(3)
            self.gain = lib.nn.Parameter(lib.ones(3))

        def forward(self, x):
            return self.bn(x) * self.gain

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(4, 3)
            self.scale = lib.nn.Parameter(lib.ones(1))
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("cache", lib.zeros(2), persistent=False)
            self.inner = Inner()
            self.note = "plain attribute"

        def forward(self, x):
            return self.inner(self.fc(x)) * self.scale

    return Inner, Net


Inner, Net = classes(ts)  # (at module level, so that pickle finds them)
Inner.__qualname__, Net.__qualname__ = "Inner", "Net"
TorchNet = classes(torch)[1]


def build(lib):
    return Net() if lib is ts else TorchNet()


def keys(it):
    return [k for k, _ in it]


def test_python_module_is_the_cpp_module_and_registers_as_torch():
    ours, theirs = build(ts), build(torch)
    assert isinstance(ours, _C._Module)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert keys(ours.named_parameters()) == keys(theirs.named_parameters())
    assert keys(ours.named_buffers()) == keys(theirs.named_buffers())
    assert keys(ours.named_modules()) == keys(theirs.named_modules())
    assert keys(ours.named_children()) == keys(theirs.named_children())
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert keys(ours.named_parameters(prefix="model")) == keys(theirs.named_parameters(prefix="model"))
    assert list(ours.state_dict(prefix="m.")) == list(theirs.state_dict(prefix="m."))
    assert ours.get_submodule("inner.bn") is ours.inner.bn
    # The C++ module sees what Python registered: the state dict is built in C++.
    assert list(_C._Module.state_dict(ours)) == list(theirs.state_dict())


def test_attribute_assignment_and_deletion_follow_torch():
    ours, theirs = build(ts), build(torch)

    def same():
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert keys(ours.named_parameters()) == keys(theirs.named_parameters())
        assert keys(ours.named_buffers()) == keys(theirs.named_buffers())

    # A new tensor for a registered parameter or buffer takes its place.
    new_scale = nn.Parameter(ts.full([1], 2.0))
    ours.scale = new_scale
    theirs.scale = torch.nn.Parameter(torch.full([1], 2.0))
    same()
    assert hash(ours.state_dict(keep_vars=True)["scale"]) == hash(new_scale)  # (the same tensor)
    assert hash(next(ours.parameters())) == hash(new_scale)
    ours.steps = ts.ones(1)
    theirs.steps = torch.ones(1)
    same()
    assert float(ours.state_dict()["steps"].item()) == 1.0
    # A new module for a registered child keeps its place.
    ours.fc = nn.Linear(4, 3, bias=False)
    theirs.fc = torch.nn.Linear(4, 3, bias=False)
    same()
    # Deleting unregisters; the names are free again and come back at the end.
    del ours.scale, ours.steps
    del theirs.scale, theirs.steps
    same()
    ours.scale = nn.Parameter(ts.ones(1))
    theirs.scale = torch.nn.Parameter(torch.ones(1))
    same()
    # None keeps a parameter's or buffer's name (left out of the state dict).
    ours.register_buffer("late", None)
    theirs.register_buffer("late", None)
    same()
    ours.late = ts.zeros(3)
    theirs.late = torch.zeros(3)
    same()
    ours.register_parameter("bias2", None)
    theirs.register_parameter("bias2", None)
    same()
    assert ours.bias2 is None
    # A tensor that does not require grad, under a new name, is a plain attribute.
    ours.table = ts.zeros(2)
    theirs.table = torch.zeros(2)
    same()
    # A module's name given something else is no longer a submodule.
    ours.inner = "gone"
    with pytest.raises(TypeError):
        theirs.inner = "gone"  # (torch refuses; tessera unregisters, as assigning None would)
    del theirs.inner
    same()
    with pytest.raises(AttributeError):
        del ours.never_set


def test_assigning_a_cpp_layers_weight_replaces_the_registered_parameter():
    lin = nn.Linear(3, 2)
    w = nn.Parameter(ts.ones(2, 3))
    lin.weight = w
    assert hash(next(lin.parameters())) == hash(w)
    assert hash(lin.state_dict(keep_vars=True)["weight"]) == hash(w)
    out = lin(ts.ones(1, 3))
    np.testing.assert_allclose(out.numpy(), (3 + lin.bias.detach()).numpy().reshape(1, 2), rtol=1e-6)
    out.sum().backward()
    assert w.grad is not None


def test_assignment_before_init_is_refused_by_name():
    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\).*Early"):
        Early()
    with pytest.raises(TypeError, match="takes no arguments"):
        nn.Module(3)


def test_cpp_calls_reach_python_forward_train_and_extra_repr():
    seen = []

    class Frozen(nn.Module):
        """Keeps its batch norm in eval mode whatever train() says (a common PyTorch override)."""

        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def train(self, mode=True):
            seen.append(mode)
            super().train(mode)
            self.bn.eval()
            return self

        def forward(self, x):
            return self.bn(x)

        def extra_repr(self):
            return "frozen=True"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Frozen()
            self.head = nn.Linear(2, 1)

        def forward(self, x):
            return self.head(self.body(x))

    net = Net()
    net.train()  # the C++ train() recursion calls the Python override
    assert seen == [True] and net.training and net.body.training and not net.body.bn.training
    net.eval()
    assert seen == [True, False] and not net.body.training
    assert repr(net) == ("Net(\n  (body): Frozen(frozen=True\n    (bn): BatchNorm1d(2, eps=1e-05, momentum=0.1)\n  )\n"
                         "  (head): Linear(in_features=2, out_features=1, bias=True)\n)")
    # C++ calls the Python forward: the module's own forward binding and the C++ trainer.
    x = ts.randn(4, 2)
    np.testing.assert_allclose(_C._Module.forward(net, x).numpy(), net(x).numpy(), rtol=1e-6)
    calls = []
    net.register_forward_hook(lambda m, inp, out: calls.append(tuple(out.shape)))
    loader = ts.data.DataLoader(ts.data.TensorDataset(ts.randn(8, 2), ts.randn(8, 1)), batch_size=4)
    preds = ts.train.predict(net, loader)
    assert calls == [(4, 1), (4, 1)]
    assert tuple(preds.shape) == (8, 1)
    # Setting .training sets this module's flag only, as in PyTorch.
    net.training = True
    assert net.training and not net.body.training


def test_python_module_pickles_with_its_registration():
    ours = build(ts)
    ours.fc.weight.requires_grad_(False)  # a frozen parameter stays a parameter
    ours.eval()
    for twin in (copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        assert type(twin).__name__ == "Net"
        assert list(twin.state_dict()) == list(ours.state_dict())
        assert keys(twin.named_buffers()) == keys(ours.named_buffers())  # "cache" still a buffer, not saved
        assert keys(twin.named_parameters()) == keys(ours.named_parameters())
        assert not twin.training and not twin.inner.bn.training
        assert twin.note == "plain attribute"
        for (k, a), (_, b) in zip(twin.state_dict().items(), ours.state_dict().items()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
        x = ts.randn(5, 4)
        np.testing.assert_allclose(twin(x).numpy(), ours(x).numpy(), rtol=1e-6)
        twin.scale.data = ts.full([1], 7.0)
        assert float(ours.scale.item()) == 1.0  # a copy, not the same tensors


def test_reference_cycles_through_modules_are_collected():
    """A Python module's children are held where Python's garbage collector sees them: a cycle
    through a hook's closure (the hook reaching the parent) is freed."""
    import gc
    import weakref

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
            self.seq[0].register_forward_hook(lambda m, i, o: self.calls.append(1))
            self.calls = []

        def forward(self, x):
            return self.seq(x)

    h = Holder()
    h(ts.randn(1, 2))
    assert h.calls == [1]
    gone = weakref.ref(h)
    del h
    gc.collect()
    assert gone() is None
