"""ONNX operators added for ONNX's conformance suite, checked on PyTorch's own exports: outputs,
and parameter gradients in float64, against PyTorch (the conformance cases check the forward
values against ONNX's reference; tests/onnx_conformance)."""
from typing import List

import numpy as np
import pytest
import tessera as ts
import torch
from tessera.nn import functional as F

from onnx_checks import assert_same_grads

RNG = np.random.default_rng(14)


def scripted_export(tmp_path, tnet, example, name):
    """tnet scripted (loops and branches kept), exported at opset 13 with inputs x and n, loaded back."""
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(torch.jit.script(tnet), example, str(path), opset_version=13, input_names=["x", "n"])
    return ts.onnx.load(path)


class Decoder(torch.nn.Module):
    """Upsampling, instance norm, PReLU and a log-softmax head."""

    def __init__(self, mode, align_corners):
        super().__init__()
        self.mode, self.align_corners = mode, align_corners
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.norm = torch.nn.InstanceNorm2d(4, affine=True)
        self.act = torch.nn.PReLU(4)
        self.head = torch.nn.Conv2d(4, 5, 1)

    def forward(self, x):
        x = torch.nn.functional.interpolate(x, scale_factor=2, mode=self.mode, align_corners=self.align_corners)
        x = self.act(self.norm(self.conv(x)))
        x = torch.nn.functional.interpolate(x, size=(5, 7), mode=self.mode, align_corners=self.align_corners)
        return torch.log_softmax(self.head(x), dim=1)


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("bilinear", False), ("bilinear", True),
                                                ("bicubic", False), ("bicubic", True)])
def test_resize_and_normalizations_match_pytorch_with_gradients(tmp_path, mode, align_corners):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = Decoder(mode, align_corners).double()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    target = torch.randint(0, 5, (2, 5, 7))
    path = tmp_path / "decoder.onnx"
    torch.onnx.export(tnet.eval(), (x,), str(path), opset_version=13, do_constant_folding=False)
    net = ts.onnx.load(path)
    assert "Resize" in net.op_types and "InstanceNormalization" in net.op_types and "PRelu" in net.op_types
    loss = torch.nn.functional.nll_loss(tnet(x), target)
    loss.backward()
    out = net(ts.tensor(x.numpy()))
    np.testing.assert_allclose(out.detach().numpy(), tnet(x).detach().numpy(), rtol=1e-9, atol=1e-10)
    tl = F.nll_loss(out, ts.tensor(target.numpy()))
    tl.backward()
    np.testing.assert_allclose(tl.item(), loss.item(), rtol=1e-9)
    assert_same_grads(net, tnet, rtol=1e-7, atol=1e-10)


def test_losses_and_gathers_match_pytorch(tmp_path):
    class Head(torch.nn.Module):
        def forward(self, scores, target, idx):
            ce = torch.nn.functional.cross_entropy(scores, target, ignore_index=1)
            picked = scores.gather(1, idx)
            return ce, picked.cumsum(1), torch.triu(scores[:, :3, :3], 1)

    scores = torch.randn(4, 6, 3, dtype=torch.float64)
    target = torch.tensor([[0, 1, 5], [2, 3, 1], [4, 4, 0], [5, 1, 2]])
    idx = torch.randint(0, 6, (4, 2, 3))
    path = tmp_path / "head.onnx"
    torch.onnx.export(Head(), (scores, target, idx), str(path), opset_version=14)
    net = ts.onnx.load(path)
    got = net.run([ts.tensor(scores.numpy()), ts.tensor(target.numpy()), ts.tensor(idx.numpy())])
    for g, w in zip(got, Head()(scores, target, idx)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_matches_pytorch_with_gradients(tmp_path, mode, padding, align_corners):
    class Sampler(torch.nn.Module):
        def forward(self, x, grid):
            return torch.nn.functional.grid_sample(x, grid, mode=mode, padding_mode=padding,
                                                   align_corners=align_corners)

    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    grid = (torch.rand(2, 4, 7, 2, dtype=torch.float64) * 2.6 - 1.3)  # some points outside [-1, 1]
    path = tmp_path / "grid.onnx"
    torch.onnx.export(Sampler(), (x, grid), str(path), opset_version=16, input_names=["x", "grid"])
    net = ts.onnx.load(path)
    xt = ts.tensor(x.detach().numpy(), requires_grad=True)
    got = net.run([xt, ts.tensor(grid.numpy())])[0]
    if mode == "bicubic" and padding == "border":
        # ONNX defines this one differently from PyTorch: an outside grid point is first clamped to
        # the border and then its 4x4 taps are read (PyTorch clamps only the taps). tessera follows
        # ONNX; its reference implementation is the check.
        import onnx
        from onnx.reference import ReferenceEvaluator
        model = onnx.load(str(path))  # the reference knows the mode by its opset-20 name only
        for node in model.graph.node:
            for a in node.attribute:
                if node.op_type == "GridSample" and a.name == "mode":
                    a.s = b"cubic"
        model.opset_import[0].version = 20
        want = ReferenceEvaluator(model).run(None, {"x": x.detach().numpy(), "grid": grid.numpy()})[0]
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-6, atol=1e-6)  # it works in float32
        return
    want = Sampler()(x, grid)
    want.sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    got.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), x.grad.numpy(), rtol=1e-10, atol=1e-12)


class Volumes(torch.nn.Module):
    """3-D convolutions and pooling, MaxPool's indices, a transposed convolution."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(4, 6, (3, 2, 3), stride=(2, 1, 1), padding=(1, 0, 2), dilation=(1, 2, 1), groups=2)
        self.pool = torch.nn.MaxPool3d(2, stride=(1, 2, 2), padding=1)
        self.avg = torch.nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.pool2 = torch.nn.MaxPool2d(2, return_indices=True)
        self.up = torch.nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        v = self.avg(self.pool(torch.relu(self.conv(x))))
        plane = v.sum(2)
        y, idx = self.pool2(plane)
        return v, self.up(y), idx


def test_volumes_pooling_indices_and_transposed_conv_match_pytorch_with_gradients(tmp_path):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = Volumes().double()
    x = torch.randn(2, 4, 7, 8, 9, dtype=torch.float64)
    path = tmp_path / "volumes.onnx"
    torch.onnx.export(tnet, (x,), str(path), opset_version=13)
    net = ts.onnx.load(path)
    assert {"Conv", "MaxPool", "AveragePool", "ConvTranspose"} <= set(net.op_types)
    want = tnet(x)
    (want[0].sum() + (want[1] ** 2).sum()).backward()
    got = net.run([ts.tensor(x.numpy())])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert got[2].dtype == ts.int64
    (got[0].sum() + (got[1] ** 2).sum()).backward()
    assert_same_grads(net, tnet, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kw", [dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 1)),
                                dict(stride=1, padding=0, dilation=(2, 1, 1), groups=2),
                                dict(stride=(3, 2, 1), padding=(0, 1, 0))])  # depths no input reaches
def test_3d_transposed_convolution_matches_pytorch_with_gradients(tmp_path, kw):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = torch.nn.ConvTranspose3d(4, 6, (2, 3, 3), **kw).double()
    x = torch.randn(2, 4, 3, 5, 4, dtype=torch.float64)
    path = tmp_path / "convt3d.onnx"
    torch.onnx.export(tnet, (x,), str(path), opset_version=13)
    net = ts.onnx.load(path)
    want = tnet(x)
    (want ** 2).sum().backward()
    got = net.run([ts.tensor(x.numpy())])[0]
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    (got ** 2).sum().backward()
    assert_same_grads(net, tnet, rtol=1e-8, atol=1e-10)


class Steps(torch.nn.Module):
    """A loop that reads outer-scope weights, then a branch on the data."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x, n: int):
        h = x
        for _ in range(n):
            h = torch.tanh(self.fc(h)) + h
        if bool(h.sum() > 0):
            y = self.out(h)
        else:
            y = self.out(-h) * 2.0
        return y


def test_loop_and_if_from_a_scripted_pytorch_model_run_and_train(tmp_path):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = Steps().double()
    net = scripted_export(tmp_path, tnet, (torch.randn(3, 4, dtype=torch.float64), 3), "steps")
    assert {"Loop", "If"} <= set(net.op_types)
    params = dict(net.named_parameters())
    for trips, sign in ((3, 1.0), (0, 1.0), (5, -1.0)):  # both branches, and a loop that never runs
        x = sign * (torch.rand(3, 4, dtype=torch.float64) + 0.5)
        tnet.zero_grad()
        for p in params.values():
            p.grad = None
        want = tnet(x, trips)
        (want ** 2).sum().backward()
        got = net.run([ts.tensor(x.numpy()), ts.tensor(np.array(trips, dtype=np.int64))])[0]
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
        (got ** 2).sum().backward()
        for name, p in tnet.named_parameters():
            mine = params[name].grad
            if mine is None:  # the loop did not run: fc took no part (torch's zero_grad left zeros)
                assert trips == 0 and name.startswith("fc") and not p.grad.numpy().any(), name
                continue
            np.testing.assert_allclose(mine.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} after {trips} iterations")


class Collect(torch.nn.Module):
    """A loop that appends to a list: ONNX sequences (SequenceEmpty, SequenceInsert, ConcatFromSequence)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 3)

    def forward(self, x, n: int):
        outs: List[torch.Tensor] = []
        h = x
        for _ in range(n):
            h = torch.tanh(self.fc(h))
            outs.append(h)
        return torch.stack(outs, 0), torch.cat(outs, 1)


def test_lists_built_in_a_scripted_loop_run_as_sequences_and_train(tmp_path):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = Collect().double()
    net = scripted_export(tmp_path, tnet, (torch.randn(2, 3, dtype=torch.float64), 4), "collect")
    assert {"SequenceEmpty", "Loop", "ConcatFromSequence"} <= set(net.op_types)
    x = torch.randn(2, 3, dtype=torch.float64)
    want = tnet(x, 4)
    (want[0].sum() + (want[1] ** 2).sum()).backward()
    got = net.run([ts.tensor(x.numpy()), ts.tensor(np.array(4))])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-12)
    (got[0].sum() + (got[1] ** 2).sum()).backward()
    assert_same_grads(net, tnet, rtol=1e-10)
