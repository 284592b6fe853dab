"""Winograd convolutions on the CPU (tessera.backends.mkldnn.allow_winograd): float32 3x3
convolutions of stride 1 with at least 32 channels run on oneDNN's Winograd kernels where those
are faster. Their forward and both backward passes agree with float64 references and with the
direct kernels to float32 rounding, whatever the batch is cut into (pieces of different sizes may
take different kernels), in both memory formats; the switch really selects the kernels (the bits
differ) where the CPU has them (AVX-512), and changes nothing where it has not; the inference
session keeps the direct kernels."""
import numpy as np
import pytest
import torch

import tessera as ts
from tessera import nn

F = ts.nn.functional


@pytest.fixture
def winograd():
    """Restores the switch (on by default) after the test."""
    saved = ts.backends.mkldnn.allow_winograd
    yield
    ts.backends.mkldnn.allow_winograd = saved


def conv_pass(x, w, b, allow, channels_last):
    """Output and the three gradients of sum(out * g) in float32, with Winograd allowed or not."""
    ts.backends.mkldnn.allow_winograd = allow
    xt = ts.tensor(x, requires_grad=True)
    src = xt.contiguous(memory_format=ts.channels_last) if channels_last else xt
    wt, bt = ts.tensor(w, requires_grad=True), ts.tensor(b, requires_grad=True)
    y = F.conv2d(src, wt, bt, padding=1)
    g = np.cos(np.arange(y.numel(), dtype=np.float32)).reshape(y.shape)
    (y * ts.tensor(g)).sum().backward()
    return [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()], g


def reference(x, w, b, g):
    """PyTorch 1.13 in float64: output, input, weight and bias gradients."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, bt, padding=1)
    (y * torch.tensor(g, dtype=torch.float64)).sum().backward()
    return [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]


def close(got, want, bound, rel):
    """|got - want| <= rel * bound elementwise; bound: the same sums over the terms' magnitudes
    (rounding errors grow with those, not with the result, which may cancel)."""
    for a, r, m in zip(got, want, bound):
        worst = (np.abs(a - r) / m).max()
        assert worst <= rel, worst


# (batch, channels in, channels out, size): the Rosetta CNN's layers; and 256 channels on 14x14,
# where one image is left to the direct kernels and two go to Winograd, so a batch of 5 or 12 is
# cut into pieces (1 and 2 images) that take different kernels, forward and backward.
@pytest.mark.parametrize("shape,channels_last", [(s, cl) for s in [(8, 50, 50, 32), (6, 50, 100, 16), (4, 100, 100, 16),
                                                                   (5, 256, 256, 14)] for cl in (False, True)] +
                         [((12, 256, 256, 14), False)])
def test_winograd_matches_float64_and_the_direct_kernels(winograd, shape, channels_last):
    n, c, o, h = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    wino, g = conv_pass(x, w, b, True, channels_last)
    direct, _ = conv_pass(x, w, b, False, channels_last)
    want, bound = reference(x, w, b, g), reference(np.abs(x), np.abs(w), np.abs(b), np.abs(g))
    close(direct, want, bound, 1e-6)
    close(wino, want, bound, 1e-5)
    # The switch selects the kernels: Winograd rounds differently, so the bits differ. (The weight
    # gradient of 5 images of 256 channels is summed over one-image pieces: all direct.) On CPUs
    # without oneDNN's Winograd kernels (no AVX-512) every layer stays direct: the same bits.
    if ts.backends.mkldnn.winograd_available:
        assert not np.array_equal(wino[0], direct[0])
        assert not np.array_equal(wino[1], direct[1])
        assert np.array_equal(wino[2], direct[2]) == (shape == (5, 256, 256, 14))
    else:
        for a, d in zip(wino, direct):
            np.testing.assert_array_equal(a, d)


def test_layers_winograd_does_not_suit_run_the_same_kernels_either_way(winograd):
    """Strided, dilated, grouped, 1x1, 5x5, few channels, float64: the switch changes nothing."""
    rng = np.random.default_rng(0)
    cases = [dict(w=(64, 64, 3, 3), stride=2), dict(w=(64, 64, 3, 3), dilation=2), dict(w=(64, 32, 3, 3), groups=2),
             dict(w=(64, 64, 1, 1)), dict(w=(64, 64, 5, 5)), dict(w=(16, 16, 3, 3)), dict(w=(3, 16, 3, 3))]
    for case in cases:
        shape = case.pop("w")
        cin = shape[1] * case.get("groups", 1)
        x = ts.tensor(rng.standard_normal((4, cin, 20, 20)).astype(np.float32))
        w = ts.tensor(rng.standard_normal(shape).astype(np.float32))
        ts.backends.mkldnn.allow_winograd = True
        a = F.conv2d(x, w, padding=1, **case).numpy()
        ts.backends.mkldnn.allow_winograd = False
        d = F.conv2d(x, w, padding=1, **case).numpy()
        np.testing.assert_array_equal(a, d, err_msg=str((shape, case)))


def test_winograd_trains_the_rosetta_cnn_as_the_direct_kernels_do(winograd):
    """A few SGD steps of the Rosetta CNN's convolutions: the same losses to float32 rounding."""
    losses = {}
    for allow in (True, False):
        ts.backends.mkldnn.allow_winograd = allow
        ts.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(), nn.Conv2d(50, 50, 3, padding=1),
                              nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(50, 100, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(100, 100, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(100, 10))
        opt = ts.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        x, y = ts.randn(16, 3, 32, 32), ts.randint(0, 10, (16,))
        run = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[allow] = run
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)
    assert losses[True][-1] < losses[True][0]


def test_the_inference_session_keeps_direct_kernels(winograd):
    """The session runs direct kernels whatever the switch says (Winograd measured no faster
    there: ResNet-50 at batch 1 and 8, 41.2 against 41.2 ms and 321 against 323): the same bits
    either way, matching eager float64 to float32 rounding."""
    ts.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.Conv2d(64, 64, 3, padding=1))
    model.eval()
    x = ts.randn(1, 64, 56, 56)
    want = model.to(ts.float64)(x.to(ts.float64)).numpy()
    model.to(ts.float32)
    outs = {}
    for allow in (True, False):
        ts.backends.mkldnn.allow_winograd = allow
        outs[allow] = ts.inference.InferenceSession(model, x)(x).numpy()
    np.testing.assert_array_equal(outs[True], outs[False])
    assert np.abs(outs[True] - want).max() <= 2e-6 * np.abs(want).max()


def test_the_switch_and_its_pytorch_names():
    m = ts.backends.mkldnn
    assert m.allow_winograd is True and m.is_available()
    with pytest.raises(AttributeError):
        m.allow_winogard = False  # a misspelt switch is an error
    # oneDNN has Winograd kernels for AVX-512 CPUs only; a read-only property.
    flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    assert m.winograd_available is ("avx512f" in flags)
    with pytest.raises(AttributeError):
        m.winograd_available = True
    saved = m.enabled
    try:
        m.enabled = False  # torch.backends.mkldnn.enabled: the fused (recurrent) kernels
        assert ts.backends.fused.enabled is False
    finally:
        m.enabled = saved
    assert ts.backends.fused.enabled is saved
