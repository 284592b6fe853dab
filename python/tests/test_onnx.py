"""ONNX: tessera's exports checked by ONNX's own checker and run by onnxruntime beside tessera;
PyTorch's exports (torch.onnx.export) read by tessera and compared with PyTorch's outputs and
gradients, on random inputs and weights."""
import numpy as np
import seeds
import onnx
import onnxruntime as ort
import pytest
import tessera as ts
import torch
from tessera import nn
from tessera.nn import functional as F

from onnx_checks import assert_same_grads

RNG = seeds.rng()


def run_ort(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


class Net(nn.Module):
    """A Python model over C++ layers and functional ops."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)
        self.norm = nn.LayerNorm(32)
        self.fc = nn.Linear(32, 5)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        h = self.pool(F.relu(self.bn(self.conv(x))))
        h = torch_like_gelu(self.conv2(h))
        h = h.flatten(1)
        h = self.norm(h)
        return ts.softmax(self.fc(self.drop(h)), 1), h.mean(1)


def torch_like_gelu(x):
    return F.gelu(x) * 0.5 + ts.sigmoid(x) * ts.tanh(x)


def randomize_batch_norm(m):
    with ts.no_grad():
        m.bn.running_mean.copy_(ts.tensor(RNG.normal(0, 0.1, 8).astype(np.float32)))
        m.bn.running_var.copy_(ts.tensor(RNG.uniform(0.5, 1.5, 8).astype(np.float32)))


def test_python_model_runs_in_onnxruntime_at_any_batch(tmp_path):
    net = Net()
    randomize_batch_norm(net)
    x = ts.tensor(RNG.standard_normal((4, 3, 8, 8)).astype(np.float32))
    path = tmp_path / "net.onnx"
    ts.onnx.export(net, (x,), path, input_names=["images"], output_names=["probs", "features"],
                   dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}, "features": {0: "batch"}})
    assert net.training  # restored
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == ts.onnx.OPSET
    inits = {i.name for i in model.graph.initializer}  # the state_dict entries the graph reads
    assert {k for k, _ in net.named_parameters()} <= inits <= {k for k, _ in net.state_dict().items()}
    assert "bn.running_var" in inits
    net.eval()
    for batch in (4, 7):
        xb = RNG.standard_normal((batch, 3, 8, 8)).astype(np.float32)
        probs, feats = run_ort(path, {"images": xb})
        want_probs, want_feats = net(ts.tensor(xb))
        np.testing.assert_allclose(probs, want_probs.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(feats, want_feats.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, shape", [("lenet5", (3, 1, 28, 28)), ("resnet18", (2, 3, 32, 32)),
                                         ("cifar_cnn", (2, 3, 32, 32)), ("mlp", (3, 1, 28, 28))])
def test_zoo_models_run_in_onnxruntime(tmp_path, name, shape):
    net = ts.zoo.create(name, shape[1], 10)
    x = ts.tensor(RNG.standard_normal(shape).astype(np.float32))
    path = tmp_path / f"{name}.onnx"
    ts.onnx.export(net, x, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    (got,) = run_ort(path, {"input": x.numpy()})
    net.eval()
    np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-4, atol=1e-4)
    # And back into tessera.
    back = ts.onnx.load(path)
    np.testing.assert_allclose(back(x).numpy(), got, rtol=1e-4, atol=1e-4)


def test_functional_ops_match_onnxruntime(tmp_path):
    class Ops(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.gn = nn.GroupNorm(2, 4)

        def forward(self, x, idx):
            e = self.emb(idx).sum(1)                                     # [2, 4]
            h = ts.cat([x[:, :2], x[:, 2:] * 2 - 1], 1)                   # [2, 4]
            h = ts.where(h > 0, h, h.exp() - 1).clamp(-0.5, 3) + e
            img = self.gn(h.reshape(2, 4, 1, 1).expand(2, 4, 3, 3) * (x.reshape(2, 4, 1, 1) + 2))
            p = F.pad(img, (1, 1, 0, 2), mode="replicate")
            return (h.permute(1, 0).log_softmax(0), p.amax((2, 3)), h.argmax(1), h.square().sqrt().std(1),
                    F.avg_pool2d(p, 2, ceil_mode=False), ts.matmul(h, h.t()).tanh())

    m = Ops()
    x = ts.tensor(RNG.standard_normal((2, 4)).astype(np.float32))
    idx = ts.tensor(RNG.integers(0, 10, (2, 3)))
    path = tmp_path / "ops.onnx"
    ts.onnx.export(m, (x, idx), path, input_names=["x", "idx"])
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    got = run_ort(path, {"x": x.numpy(), "idx": idx.numpy()})
    want = m(x, idx)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)


def test_composite_ops_and_views_match_onnxruntime(tmp_path):
    """Ops built from traced ones (logsumexp, norm, var, stack, split, chunk, conv1d, adaptive
    pooling) and indexing views export as their parts."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(3, 4, 3, padding=1)
            self.ap = nn.AdaptiveAvgPool2d((2, 3))
            self.gp = nn.AdaptiveAvgPool2d(1)

        def forward(self, x, img):
            a, b = x.chunk(2, 1)
            s = ts.stack([a, b], 0).sum(0)
            p, q = ts.split(x, [1, 3], 1)
            return (ts.logsumexp(s, 1), x.norm(dim=1), s.var(0), self.c1(x.unsqueeze(1).expand(2, 3, 4)),
                    self.ap(img), self.gp(img), q - p, ts.zeros(2, 2) + x[:, 1:3], x[0], x[-1, ::2])

    m = M()
    x = ts.tensor(RNG.standard_normal((2, 4)).astype(np.float32))
    img = ts.tensor(RNG.standard_normal((2, 3, 7, 9)).astype(np.float32))
    path = tmp_path / "composite.onnx"
    ts.onnx.export(m, (x, img), path, input_names=["x", "img"])
    got = run_ort(path, {"x": x.numpy(), "img": img.numpy()})
    back = ts.onnx.load(path).run([x, img])
    want = m(x, img)
    assert len(got) == len(want) == len(back) == 10
    for g, b, w in zip(got, back, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.numpy(), w.numpy(), rtol=1e-5, atol=1e-6)


class TorchCNN(torch.nn.Module):
    def __init__(self, with_bn=True):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 5, padding=2)
        self.bn = torch.nn.BatchNorm2d(6) if with_bn else torch.nn.Identity()
        self.conv2 = torch.nn.Conv2d(6, 12, 3, stride=2)
        self.fc1 = torch.nn.Linear(12 * 3 * 3, 20)
        self.ln = torch.nn.LayerNorm(20)
        self.fc2 = torch.nn.Linear(20, 4)

    def forward(self, x):
        h = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv1(x))), 2)
        h = torch.nn.functional.avg_pool2d(torch.nn.functional.gelu(self.conv2(h)), 1)
        h = h.view(h.size(0), -1)  # exported as Shape/Gather/Unsqueeze/Concat/Reshape
        h = torch.nn.functional.leaky_relu(self.ln(self.fc1(h)), 0.1)
        return torch.log_softmax(self.fc2(torch.dropout(h, 0.5, False)), dim=1)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_pytorch_exports_load_and_match(tmp_path, opset):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = TorchCNN().eval()
    with torch.no_grad():
        tnet.bn.running_mean.normal_(0, 0.1)
        tnet.bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 16, 16)
    path = tmp_path / "torch.onnx"
    torch.onnx.export(tnet, (x,), str(path), opset_version=opset, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    net = ts.onnx.load(path)
    assert net.input_names == ["x"] and net.output_names == ["y"]
    assert net.input_shapes == [[-1, 3, 16, 16]]
    for batch in (2, 5):
        xb = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            want = tnet(xb).numpy()
        got = net(ts.tensor(xb.numpy())).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_pytorch_export_trains_with_pytorch_gradients(tmp_path):
    torch.manual_seed(int(RNG.integers(1 << 30)))
    tnet = TorchCNN(with_bn=False).double()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    y = torch.tensor([0, 3, 1])
    path = tmp_path / "train.onnx"
    torch.onnx.export(tnet.eval(), (x,), str(path), opset_version=17, do_constant_folding=False)
    net = ts.onnx.load(path)
    names = {k for k, _ in net.named_parameters()}
    assert {"conv1.weight", "fc2.bias", "ln.weight"} <= names
    loss = torch.nn.functional.nll_loss(tnet(x), y)
    loss.backward()
    out = net(ts.tensor(x.numpy()))
    tl = F.nll_loss(out, ts.tensor(y.numpy()))
    tl.backward()
    # (torch writes some constants of the float64 graph, such as 1/sqrt(2) in GELU, at float precision)
    np.testing.assert_allclose(tl.item(), loss.item(), rtol=1e-7)
    assert_same_grads(net, tnet, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_match_onnxruntime_and_pytorch(tmp_path, kind):
    """tessera's LSTM/GRU/RNN export as ONNX's operators (checked by onnxruntime, at another batch
    size); PyTorch's exports of the same layers load into tessera and match PyTorch."""
    kw = dict(num_layers=2, bidirectional=True, batch_first=True) if kind != "RNN" else dict(nonlinearity="relu")
    shape = (lambda n: (n, 6, 3)) if kind != "RNN" else (lambda n: (6, n, 3))
    layer = getattr(nn, kind)(3, 5, **kw)
    x = ts.tensor(RNG.standard_normal(shape(2)).astype(np.float32))
    path = tmp_path / "ours.onnx"
    ts.onnx.export(layer, x, path, dynamic_batch=kind != "RNN")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert kind in {n.op_type for n in model.graph.node}
    x2 = ts.tensor(RNG.standard_normal(shape(3 if kind != "RNN" else 2)).astype(np.float32))
    got = run_ort(path, {"input": x2.numpy()})
    want = _flat(layer(x2))
    assert len(got) == len(want) == (3 if kind == "LSTM" else 2)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)

    tlayer = getattr(torch.nn, kind)(3, 5, **kw).eval()
    tx = torch.from_numpy(x2.numpy())
    tpath = tmp_path / "torch.onnx"
    torch.onnx.export(tlayer, (tx,), str(tpath), opset_version=17)
    net = ts.onnx.load(tpath)
    assert kind in net.op_types
    with torch.no_grad():
        twant = _flat(tlayer(tx))
    tgot = net.run([x2])
    assert len(tgot) == len(twant)
    for g, w in zip(tgot, twant):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def test_older_opsets_attribute_forms_match_onnxruntime(tmp_path):
    """Opset 9 files: axes, splits, pads, bounds and slice ranges as attributes (later opsets
    take them as inputs)."""
    from onnx import TensorProto, helper
    nodes = [
        helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),                      # [1, 2, 3, 4]
        helper.make_node("Squeeze", ["u"], ["q"], axes=[0]),                        # [2, 3, 4]
        helper.make_node("ReduceSum", ["q"], ["r"], axes=[2], keepdims=1),          # [2, 3, 1]
        helper.make_node("Split", ["q"], ["s0", "s1"], axis=2, split=[1, 3]),      # [2,3,1], [2,3,3]
        helper.make_node("Pad", ["s1"], ["p"], pads=[0, 1, 0, 0, 0, 2], value=0.5),  # [2, 4, 5]
        helper.make_node("Clip", ["p"], ["c"], min=-0.2, max=0.7),
        helper.make_node("Slice", ["c"], ["y"], starts=[1, 0], ends=[4, -1], axes=[1, 2]),  # [2, 3, 4]
        helper.make_node("Add", ["r", "s0"], ["z"]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "old", [helper.make_tensor_value_info("x", f, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", f, [2, 3, 4]), helper.make_tensor_value_info("z", f, [2, 3, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 4
    onnx.checker.check_model(model)
    path = tmp_path / "old.onnx"
    onnx.save(model, str(path))
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    want = run_ort(path, {"x": x})
    got = ts.onnx.load(path).run([ts.tensor(x)])
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-6, atol=1e-6)


def test_errors_name_the_op_and_file(tmp_path):
    class Flip(nn.Module):
        def forward(self, x):
            return ts.flip(x, [1]) + 1

    x = ts.ones(2, 3)
    with pytest.raises(ValueError, match=r"export_onnx: add: reads a float32 tensor of shape \[2, 3\]"):
        ts.onnx.export(Flip(), x, tmp_path / "flip.onnx")
    assert not (tmp_path / "flip.onnx").exists()
    with pytest.raises(ValueError, match="opsets 17 to 21, not 11"):
        ts.onnx.export(Flip(), x, tmp_path / "f.onnx", opset_version=11)
    with pytest.raises(ValueError, match="only dim 0"):
        ts.onnx.export(Flip(), x, tmp_path / "f.onnx", dynamic_axes={"input": {1: "w"}})

    class TopK(torch.nn.Module):
        def forward(self, x):
            return torch.topk(x, 2).values

    path = tmp_path / "topk.onnx"
    torch.onnx.export(TopK(), (torch.randn(2, 5),), str(path), opset_version=17)
    with pytest.raises(ValueError, match=r"topk.onnx: node .*\(TopK\): op TopK \(opset 17\) is not supported"):
        ts.onnx.load(path)  # refused at load, not at the first run
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ts.onnx.OnnxError, match="junk.onnx"):
        ts.onnx.load(tmp_path / "junk.onnx")
    # one error type for every problem with the file, a ValueError
    assert issubclass(ts.onnx.OnnxError, ValueError)
    for bad in (path, tmp_path / "missing.onnx", tmp_path / "junk.onnx"):
        with pytest.raises(ts.onnx.OnnxError, match=bad.name):
            ts.onnx.load(bad)
    with pytest.raises(ts.onnx.OnnxError, match="missing.onnx"):
        ts.inference.InferenceSession(tmp_path / "missing.onnx")


def test_inference_session_matches_the_model_and_torch(tmp_path):
    """tessera.inference.InferenceSession: a Python module with ReLU6 (a Clip fused into the
    convolution), batch norms (folded) and a residual add, against the module itself, PyTorch
    and the same model as an ONNX file; fuse=False gives the same."""
    import torch

    def build(lib):
        nn = lib.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 32, 3, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(32)
                self.conv2 = nn.Conv2d(32, 32, 3, padding=1, groups=32)
                self.bn2 = nn.BatchNorm2d(32)
                self.act = nn.ReLU6()
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Linear(32, 5)

            def forward(self, x):
                h = self.act(self.bn1(self.conv1(x)))
                h = lib.relu(self.bn2(self.conv2(h)) + h)
                return self.fc(self.pool(h).flatten(1))
        return Net()

    ours, theirs = build(ts), build(torch)
    rng = np.random.default_rng(0)
    state = {}
    for k, v in theirs.state_dict().items():
        a = v.numpy()
        if "running_var" in k:
            a = rng.uniform(0.5, 1.5, a.shape).astype(np.float32)
        elif a.dtype == np.float32:
            a = rng.standard_normal(a.shape).astype(np.float32) * 0.3
        state[k] = a
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    ours.load_state_dict({k: ts.tensor(np.array(v)) for k, v in state.items()})
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 20, 20)).astype(np.float32)
    session = ts.inference.InferenceSession(ours, ts.tensor(x))
    steps = session.steps()
    assert "Conv+BatchNormalization+Clip" in steps and "Conv+BatchNormalization+Add+Relu" in steps, steps
    assert "BatchNormalization" not in steps
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    for s in (session, ts.inference.InferenceSession(ours, ts.tensor(x), fuse=False)):
        np.testing.assert_allclose(s(ts.tensor(x)).numpy(), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(session(ts.tensor(x[:1])).numpy(), want[:1], rtol=1e-4, atol=1e-4)  # another batch
    path = tmp_path / "net.onnx"
    ts.onnx.export(ours, ts.tensor(x), path, dynamic_batch=True)
    from_file = ts.inference.InferenceSession(path)
    np.testing.assert_allclose(from_file.run([ts.tensor(x)])[0].numpy(), want, rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match="example inputs"):
        ts.inference.InferenceSession(ours)
    with pytest.raises(ValueError, match="takes 1 inputs, got 2"):
        session.run([ts.tensor(x), ts.tensor(x)])


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_family_follows_the_files_opset(tmp_path, opset):
    """Before opset 13 Softmax, LogSoftmax and Hardmax flatten the input to 2-D at `axis` (default
    1); from 13 they work along `axis` (default -1). Checked against onnxruntime on files built
    with onnx.helper, with both defaults and explicit axes, and through the inference session."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Softmax", ["x"], ["a"]),
             helper.make_node("LogSoftmax", ["x"], ["b"], axis=2),
             helper.make_node("Hardmax", ["x"], ["c"], axis=1),
             helper.make_node("Softmax", ["x"], ["d"], axis=-1)]
    shape = [2, 5, 3, 4]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "abcd"]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    path = tmp_path / f"softmax{opset}.onnx"
    onnx.save(model, str(path))
    x = RNG.standard_normal(shape).astype(np.float32)
    x[0, 1, 0, 0] = x[0, 2, 0, 0] = 9.0  # a tie for Hardmax: the first maximum wins
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for runner in (ts.onnx.load(path).run, ts.inference.InferenceSession(path).run):
        got = runner([ts.tensor(x)])
        for g, w, name in zip(got, want, "abcd"):
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-6, err_msg=f"opset {opset} output {name}")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_pytorch_recurrent_exports_in_an_inference_session(kind, tmp_path):
    """PyTorch's bidirectional two-layer LSTM/GRU as ONNX (one node per layer, both directions in
    it): OnnxModel and InferenceSession (weights put in PyTorch's gate order once) match PyTorch at
    batch 1 and 2 (tessera's hand-written cell) and 6 (oneDNN)."""
    torch = pytest.importorskip("torch")
    layer = getattr(torch.nn, kind)(10, 16, num_layers=2, bidirectional=True, batch_first=True)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = layer

        def forward(self, x):
            return self.rnn(x)[0]

    net = Net().eval()
    path = tmp_path / f"{kind}.onnx"
    torch.onnx.export(net, torch.zeros(2, 7, 10), str(path), opset_version=14, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}})
    model, session = ts.onnx.load(path), ts.inference.InferenceSession(path)
    assert kind in session.steps()
    for n in (1, 2, 6):
        x = RNG.standard_normal((n, 7, 10)).astype(np.float32)
        with torch.no_grad():
            want = net(torch.tensor(x)).numpy()
        for run in (model.run, session.run):
            np.testing.assert_allclose(run([ts.tensor(x)])[0].numpy(), want, rtol=1e-4, atol=1e-5, err_msg=f"n={n}")


TORCH2_FILES = ["torch2_cnn_dynamo", "torch2_cnn_script18", "torch2_mlp_dynamo", "torch2_logmel_stft_script17",
                "torch2_logmel_stft_dynamo"]


@pytest.mark.parametrize("name", TORCH2_FILES)
def test_files_from_pytorch_2(name):
    """Files PyTorch 2.15 wrote with its default (dynamo) exporter (IR version 10, opset 20,
    weights in a .onnx.data file beside the model, reductions with axes as inputs, Gelu) and with
    its TorchScript exporter at opset 18, and a speech front end (torch.stft as ONNX's STFT, power,
    mel filters, log) from both exporters, against PyTorch's own outputs (tests/data/onnx, made by
    make_torch2_files.py there)."""
    import pathlib
    here = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "onnx"
    x, want = np.load(here / f"{name}_x.npy"), np.load(here / f"{name}_y.npy")
    path = here / f"{name}.onnx"
    for run in (ts.onnx.load(path).run, ts.inference.InferenceSession(path).run):
        np.testing.assert_allclose(run([ts.tensor(x)])[0].numpy(), want, rtol=1e-4, atol=1e-5)


def test_external_data_outside_the_folder_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../secret.bin"), ("offset", "0"), ("length", "8")):
        e = w.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ts.onnx.OnnxError, match=r"outside the model's folder"):
        ts.onnx.load(path)


@pytest.mark.parametrize("opset", [18, 19, 20, 21])
def test_export_at_newer_opsets_runs_in_onnxruntime(tmp_path, opset):
    """opset_version 18-21: the reductions take their axes as inputs (ReduceMean, ReduceMax, the
    group norm's means); the file passes the current onnx checker, runs in onnxruntime and loads
    back into tessera with the model's outputs."""
    import onnx
    import onnxruntime as ort

    class Net(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = ts.nn.Conv2d(3, 8, 3, padding=1)
            self.gn = ts.nn.GroupNorm(2, 8)
            self.fc = ts.nn.Linear(8, 4)

        def forward(self, x):
            h = ts.relu(self.gn(self.conv(x)))
            pooled = h.mean(dim=(2, 3)) + h.amax(dim=(2, 3)) * 0.5 - h.amin(dim=3).sum(dim=2) * 0.1
            return self.fc(pooled)

    net = Net().eval()
    x = ts.randn(2, 3, 8, 8)
    with ts.no_grad():
        want = net(x).numpy()
    path = tmp_path / f"net{opset}.onnx"
    ts.onnx.export(net, x, path, opset_version=opset, dynamic_batch=True)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ts.onnx.load(path)(x).numpy(), want, rtol=1e-4, atol=1e-5)


def test_opsets_22_and_23_read_as_21(tmp_path):
    """Opsets 22 and 23 changed no signature of an op tessera runs: the same graph gives the same
    outputs at 21, 22 and 23 (and onnxruntime's at 21); 23's RMSNormalization follows its formula."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(9)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([2, -1], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSigmoid", ["c"], ["h"], alpha=0.3),
             helper.make_node("MaxPool", ["h"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Reshape", ["p", "shape"], ["r"]),
             helper.make_node("Softplus", ["r"], ["y"])]
    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", f, [2, 36])], initializer=[w, shape])
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    outs = {}
    for opset in (21, 22, 23):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 10
        path = tmp_path / f"g{opset}.onnx"
        onnx.save(model, str(path))
        outs[opset] = ts.onnx.load(path).run([ts.tensor(x)])[0].numpy()
    np.testing.assert_allclose(outs[21], run_ort(tmp_path / "g21.onnx", {"x": x})[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outs[22], outs[21])
    np.testing.assert_array_equal(outs[23], outs[21])

    scale = numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "scale")
    rms = helper.make_graph([helper.make_node("RMSNormalization", ["x", "scale"], ["y"], epsilon=1e-3)], "rms",
                            [helper.make_tensor_value_info("x", f, [2, 3, 5])],
                            [helper.make_tensor_value_info("y", f, [2, 3, 5])], initializer=[scale])
    model = helper.make_model(rms, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 11
    onnx.save(model, str(tmp_path / "rms.onnx"))
    xr = rng.standard_normal((2, 3, 5)).astype(np.float32)
    want = xr / np.sqrt((xr * xr).mean(-1, keepdims=True) + 1e-3) * numpy_helper.to_array(scale)
    np.testing.assert_allclose(ts.onnx.load(tmp_path / "rms.onnx").run([ts.tensor(xr)])[0].numpy(), want, rtol=1e-5)
    attn = helper.make_graph([helper.make_node("ImageDecoder", ["x"], ["y"])], "decoder",
                             [helper.make_tensor_value_info("x", f, [1, 2, 4])],
                             [helper.make_tensor_value_info("y", f, [1, 2, 4])])
    model = helper.make_model(attn, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 11
    onnx.save(model, str(tmp_path / "decoder.onnx"))
    with pytest.raises(ValueError, match=r"op ImageDecoder \(opset 23\) is not supported"):
        ts.onnx.load(tmp_path / "decoder.onnx")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 24)])
    model.ir_version = 11
    onnx.save(model, str(tmp_path / "g24.onnx"))
    with pytest.raises(ValueError, match="opsets 6 to 23"):
        ts.onnx.load(tmp_path / "g24.onnx")


@pytest.mark.parametrize("op,attrs", [
    ("Conv", dict(auto_pad="SAME_UPPER", strides=[2, 2])), ("Conv", dict(auto_pad="SAME_LOWER", strides=[2, 1])),
    ("Conv", dict(pads=[0, 1, 2, 0])), ("Conv", dict(auto_pad="VALID")),
    ("MaxPool", dict(kernel_shape=[2, 3], auto_pad="SAME_LOWER", strides=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 3], pads=[0, 1, 1, 0], strides=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 0, 0, 1], count_include_pad=0)),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 0, 0, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 2], auto_pad="SAME_UPPER", strides=[2, 2]))])
def test_auto_pad_and_asymmetric_pads_match_onnxruntime(tmp_path, op, attrs):
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(10)
    w = numpy_helper.from_array(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")
    x = rng.standard_normal((1, 3, 7, 6)).astype(np.float32)
    inputs = ["x", "w"] if op == "Conv" else ["x"]
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], **attrs)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[w] if op == "Conv" else [])
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    model.ir_version = 8
    path = tmp_path / "pad.onnx"
    onnx.save(model, str(path))
    want = run_ort(path, {"x": x})[0]
    xt = ts.tensor(x, requires_grad=True)
    got = ts.onnx.load(path).run([xt])[0]
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    got.sum().backward()  # and it trains: gradients flow through the padding
    assert xt.grad.shape == x.shape


def test_session_adds_after_a_convolution_fold_or_broadcast(tmp_path):
    """A Conv without B followed by Add of a [1, C, 1, 1] or [C, 1, 1] constant (paddle2onnx writes
    these) folds into the convolution's bias; a [W] constant, a broadcasting runtime input and a
    same-shape residual stay adds: every form matches onnxruntime."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    init = [numpy_helper.from_array(a, n) for n, a in [
        ("w", w), ("b4", RNG.standard_normal((1, 4, 1, 1)).astype(np.float32)),
        ("b3", RNG.standard_normal((4, 1, 1)).astype(np.float32)),
        ("bw", RNG.standard_normal(4).astype(np.float32))]]
    nodes = []
    for k, other in enumerate(["b4", "b3", "bw", "r", "full"]):
        nodes += [helper.make_node("Conv", ["x", "w"], [f"c{k}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Add", [f"c{k}", other] if k % 2 else [other, f"c{k}"], [f"a{k}"]),
                  helper.make_node("Relu", [f"a{k}"], [f"y{k}"])]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "adds", [helper.make_tensor_value_info("x", f, [2, 3, 4, 4]),
                        helper.make_tensor_value_info("r", f, [1, 4, 1, 1]),
                        helper.make_tensor_value_info("full", f, [2, 4, 4, 4])],
        [helper.make_tensor_value_info(f"y{k}", f, None) for k in range(5)], initializer=init)
    path = tmp_path / "adds.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    feeds = {"x": RNG.standard_normal((2, 3, 4, 4)).astype(np.float32),
             "r": RNG.standard_normal((1, 4, 1, 1)).astype(np.float32),
             "full": RNG.standard_normal((2, 4, 4, 4)).astype(np.float32)}
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    for session in (ts.inference.InferenceSession(path), ts.inference.InferenceSession(path, fuse=False)):
        got = session.run([ts.tensor(feeds[n]) for n in ("x", "r", "full")])
        for k, (g, wt) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g.numpy(), wt, rtol=1e-5, atol=1e-5, err_msg=f"output y{k}")


def test_gather_of_one_index_and_gemm_forms_match_onnxruntime(tmp_path):
    """Gather with a scalar index (a traced x[:, -1]: a view of the slice), negative or not, on
    each axis, and with a list of indices; Gemm as a layer writes it (B transposed, a bias row of
    shape [N] or [1, N]: one linear) and in its other forms (alpha, beta, C of shape [M, N], A
    transposed). Every output matches onnxruntime, in OnnxModel and in a session; an index out of
    range names the node and the sizes."""
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    inits = {"i_last": np.array(-1, np.int64), "i_two": np.array(2, np.int32), "i_list": np.array([3, -2], np.int64),
             "w": RNG.standard_normal((6, 5)).astype(np.float32), "b": RNG.standard_normal(6).astype(np.float32),
             "b_row": RNG.standard_normal((1, 6)).astype(np.float32),
             "c_full": RNG.standard_normal((4, 6)).astype(np.float32)}
    nodes = [helper.make_node("Gather", ["x", "i_last"], ["g0"], axis=1),
             helper.make_node("Gather", ["x", "i_two"], ["g1"], axis=0),
             helper.make_node("Gather", ["x", "i_last"], ["g2"], axis=-1),
             helper.make_node("Gather", ["x", "i_list"], ["g3"], axis=1),
             helper.make_node("Gemm", ["a", "w", "b"], ["m0"], transB=1),
             helper.make_node("Gemm", ["a", "w", "b_row"], ["m1"], transB=1),
             helper.make_node("Gemm", ["a", "w"], ["m2"], transB=1),
             helper.make_node("Gemm", ["a", "w", "c_full"], ["m3"], transB=1),
             helper.make_node("Gemm", ["a", "w", "b"], ["m4"], transB=1, alpha=0.5, beta=2.0),
             helper.make_node("Gemm", ["at", "w", "b"], ["m5"], transA=1, transB=1)]
    outs = ["g0", "g1", "g2", "g3", "m0", "m1", "m2", "m3", "m4", "m5"]
    graph = helper.make_graph(
        nodes, "gg", [helper.make_tensor_value_info("x", f, [3, 5, 4]), helper.make_tensor_value_info("a", f, [4, 5]),
                      helper.make_tensor_value_info("at", f, [5, 4])],
        [helper.make_tensor_value_info(o, f, None) for o in outs],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    path = tmp_path / "gather_gemm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    feeds = {"x": RNG.standard_normal((3, 5, 4)).astype(np.float32), "a": RNG.standard_normal((4, 5)).astype(np.float32)}
    feeds["at"] = np.ascontiguousarray(feeds["a"].T)
    want = run_ort(path, feeds)
    inputs = [ts.tensor(feeds[n]) for n in ("x", "a", "at")]
    for run in (ts.onnx.load(path).run, ts.inference.InferenceSession(path).run):
        for name, g, w in zip(outs, run(inputs), want):
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-5, err_msg=name)
    bad = helper.make_graph([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], "bad",
                            [helper.make_tensor_value_info("x", f, [3, 5, 4])], [helper.make_tensor_value_info("y", f, None)],
                            initializer=[numpy_helper.from_array(np.array(5, np.int64), "i")])
    onnx.save(helper.make_model(bad, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "bad.onnx"))
    with pytest.raises(Exception, match=r"Gather: index 5 is out of range for axis 1 of input \[3, 5, 4\]"):
        ts.inference.InferenceSession(tmp_path / "bad.onnx")(inputs[0])
