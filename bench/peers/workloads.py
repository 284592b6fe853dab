"""The workloads of the peer benchmark (shared/rosetta.md plus the small inference models), with
their data and weights made by numpy only, so every framework's worker (each in its own virtual
environment) reads the same inputs.

A workload is a name; `spec(name)` says whether it trains or infers, its batch, how many steps a
timing round runs, and which array files it reads from the data directory the orchestrator
fills with `write_data(dir, names)`."""
import os

import numpy as np

# Rosetta workload 1: the CIFAR-10 CNN (3,441,592 parameters), batch 64, SGD 0.01 momentum 0.9.
CNN_BATCH = 64
# Rosetta workload 3: IMDB sentiment GRU, vocabulary 30,000, 150 tokens, embedding 125, GRU 100,
# batch 64, Adam 1e-3.
GRU_VOCAB, GRU_LEN, GRU_EMBED, GRU_HIDDEN, GRU_BATCH = 30000, 150, 125, 100, 64
# Small models at batch 1: a 0.6 MB MobileNet-style classifier on 96x96 images (depthwise
# separable blocks, ReLU6, batch norm), and a keyword-spotting speech model: 49 frames of 40
# features, Conv1d 40->64 (k 3) + ReLU, LSTM 64, the last step -> 12 classes.
MOBILENET_BLOCKS = [(16, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1)]
KWS_FRAMES, KWS_FEATURES, KWS_CHANNELS, KWS_HIDDEN, KWS_CLASSES = 49, 40, 64, 64, 12

WORKLOADS = {
    # name: (kind, model, batch, steps per timing round)
    "cnn_train": ("train", "cnn", CNN_BATCH, 3),
    "gru_train": ("train", "gru", GRU_BATCH, 3),
    "resnet50_infer_b1": ("infer", "resnet50", 1, 5),
    "resnet50_infer_b8": ("infer", "resnet50", 8, 2),
    "mobilenet_infer_b1": ("infer", "mobilenet", 1, 200),
    "kws_infer_b1": ("infer", "kws", 1, 400),
}


def spec(name):
    if name not in WORKLOADS:
        raise SystemExit(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    kind, model, batch, steps = WORKLOADS[name]
    return {"kind": kind, "model": model, "batch": batch, "steps": steps}


# ---- data -------------------------------------------------------------------------------------

def inputs(name):
    """The input arrays of a workload: {"x": ..., "y": ...} (y only for training)."""
    s = spec(name)
    rng = np.random.default_rng(12345)
    b = s["batch"]
    if s["model"] == "cnn":
        return {"x": rng.random((b, 3, 32, 32), dtype=np.float32), "y": rng.integers(0, 10, b).astype(np.int64)}
    if s["model"] == "gru":
        return {"x": rng.integers(0, GRU_VOCAB, (b, GRU_LEN)).astype(np.int64), "y": rng.integers(0, 2, b).astype(np.int64)}
    if s["model"] == "resnet50":
        return {"x": rng.standard_normal((b, 3, 224, 224), dtype=np.float32)}
    if s["model"] == "mobilenet":
        return {"x": rng.standard_normal((b, 3, 96, 96), dtype=np.float32)}
    if s["model"] == "kws":
        return {"x": rng.standard_normal((b, KWS_FRAMES, KWS_FEATURES), dtype=np.float32)}
    raise AssertionError(s)


def _conv(rng, o, i, k):
    return (rng.standard_normal((o, i, k, k)) * np.sqrt(2.0 / (i * k * k))).astype(np.float32)


def _bn(rng, prefix, c, out):
    out[prefix + ".weight"] = rng.uniform(0.5, 1.0, c).astype(np.float32)
    out[prefix + ".bias"] = rng.uniform(-0.1, 0.1, c).astype(np.float32)
    out[prefix + ".running_mean"] = rng.uniform(-0.1, 0.1, c).astype(np.float32)
    out[prefix + ".running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)


def resnet50_weights(rng):
    """torchvision's ResNet-50 (v1.5) state dict names and shapes, He-normal convolutions."""
    w = {"conv1.weight": _conv(rng, 64, 3, 7)}
    _bn(rng, "bn1", 64, w)
    inplanes = 64
    for li, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            w[p + ".conv1.weight"] = _conv(rng, planes, inplanes, 1)
            _bn(rng, p + ".bn1", planes, w)
            w[p + ".conv2.weight"] = _conv(rng, planes, planes, 3)
            _bn(rng, p + ".bn2", planes, w)
            w[p + ".conv3.weight"] = _conv(rng, planes * 4, planes, 1)
            _bn(rng, p + ".bn3", planes * 4, w)
            if b == 0:
                w[p + ".downsample.0.weight"] = _conv(rng, planes * 4, inplanes, 1)
                _bn(rng, p + ".downsample.1", planes * 4, w)
            inplanes = planes * 4
    w["fc.weight"] = (rng.standard_normal((1000, 2048)) * 0.01).astype(np.float32)
    w["fc.bias"] = np.zeros(1000, np.float32)
    return w


def mobilenet_weights(rng):
    w = {"stem.weight": _conv(rng, 16, 3, 3)}
    _bn(rng, "stem_bn", 16, w)
    for i, (cin, cout, _) in enumerate(MOBILENET_BLOCKS):
        w[f"blocks.{i}.dw.weight"] = (rng.standard_normal((cin, 1, 3, 3)) * np.sqrt(2.0 / 9)).astype(np.float32)
        _bn(rng, f"blocks.{i}.dw_bn", cin, w)
        w[f"blocks.{i}.pw.weight"] = _conv(rng, cout, cin, 1)
        _bn(rng, f"blocks.{i}.pw_bn", cout, w)
    w["fc.weight"] = (rng.standard_normal((10, 256)) * 0.05).astype(np.float32)
    w["fc.bias"] = np.zeros(10, np.float32)
    return w


def kws_weights(rng):
    """PyTorch names and layouts: conv [out, in, k]; LSTM gates (input, forget, cell, output)."""
    h, c = KWS_HIDDEN, KWS_CHANNELS
    s = 1.0 / np.sqrt(h)
    return {
        "conv.weight": (rng.standard_normal((c, KWS_FEATURES, 3)) * np.sqrt(2.0 / (KWS_FEATURES * 3))).astype(np.float32),
        "conv.bias": np.zeros(c, np.float32),
        "lstm.weight_ih_l0": rng.uniform(-s, s, (4 * h, c)).astype(np.float32),
        "lstm.weight_hh_l0": rng.uniform(-s, s, (4 * h, h)).astype(np.float32),
        "lstm.bias_ih_l0": rng.uniform(-s, s, 4 * h).astype(np.float32),
        "lstm.bias_hh_l0": rng.uniform(-s, s, 4 * h).astype(np.float32),
        "fc.weight": rng.uniform(-s, s, (KWS_CLASSES, h)).astype(np.float32),
        "fc.bias": np.zeros(KWS_CLASSES, np.float32),
    }


def weights(model):
    """The inference models' weights (training workloads start from each framework's own init)."""
    rng = np.random.default_rng(2026)
    return {"resnet50": resnet50_weights, "mobilenet": mobilenet_weights, "kws": kws_weights}[model](rng)


def write_data(directory, names):
    """Writes each workload's inputs (NAME.inputs.npz) and its model's weights (MODEL.weights.npz)."""
    os.makedirs(directory, exist_ok=True)
    for name in names:
        np.savez(os.path.join(directory, name + ".inputs.npz"), **inputs(name))
        s = spec(name)
        path = os.path.join(directory, s["model"] + ".weights.npz")
        if s["kind"] == "infer" and not os.path.exists(path):
            np.savez(path, **weights(s["model"]))


def read_inputs(directory, name):
    with np.load(os.path.join(directory, name + ".inputs.npz")) as f:
        return {k: f[k] for k in f.files}


def read_weights(directory, model):
    with np.load(os.path.join(directory, model + ".weights.npz")) as f:
        return {k: f[k] for k in f.files}
