"""ONNX operators added for ONNX's conformance suite, checked on PyTorch's own exports: outputs,
and parameter gradients in float64, against PyTorch (the conformance cases check the forward
values against ONNX's reference; tests/onnx_conformance)."""
import numpy as np
import pytest
import tessera as ts
import torch
from tessera.nn import functional as F

RNG = np.random.default_rng(14)


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
    params = dict(net.named_parameters())
    for name, p in tnet.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name)


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
