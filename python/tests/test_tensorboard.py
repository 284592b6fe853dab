"""TensorBoard logs: the event files tessera writes, read back by TensorBoard's own loaders
(EventAccumulator, and the plugin multiplexer the TensorBoard server uses), beside the same
calls through PyTorch's SummaryWriter."""
import io

import numpy as np
import seeds
import pytest
import tessera as ts
import torch
from PIL import Image
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tessera import nn
from tessera.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard import SummaryWriter as TorchWriter

RNG = seeds.rng()
ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}


def load(path):
    ea = EventAccumulator(str(path), size_guidance=ALL)
    ea.Reload()
    return ea


def test_scalars_text_and_images_read_back_as_pytorch_writes_them(tmp_path):
    losses = RNG.random(6)
    img = RNG.random((3, 5, 7)).astype(np.float32)
    for name, W, conv in [("tessera", SummaryWriter, ts.tensor), ("torch", TorchWriter, torch.from_numpy)]:
        with W(str(tmp_path / name)) as w:
            for step, v in enumerate(losses):
                w.add_scalar("loss/train", conv(np.float32(v)) if name == "tessera" else v, step)
            w.add_scalar("lr", 0.01, 7, walltime=1234.5)
            w.add_text("notes", "lr *0.01*, batch 64", 3)
            w.add_image("sample", conv(img), 2)
            w.add_image("sample_hwc", img.transpose(1, 2, 0), 2, dataformats="HWC")
            w.add_images("batch", conv(np.stack([img, 1 - img])), 4)
    ours, theirs = load(tmp_path / "tessera"), load(tmp_path / "torch")
    assert ours.Tags()["scalars"] == theirs.Tags()["scalars"] == ["loss/train", "lr"]
    for tag in ["loss/train", "lr"]:
        a, b = ours.Scalars(tag), theirs.Scalars(tag)
        assert [e.step for e in a] == [e.step for e in b]
        np.testing.assert_allclose([e.value for e in a], [e.value for e in b], rtol=1e-6)
    assert ours.Scalars("lr")[0].wall_time == 1234.5
    # (PyTorch writes the text under "<tag>/text_summary"; tessera, as tf.summary.text, under the tag)
    assert ours.Tensors("notes")[0].tensor_proto.string_val == theirs.Tensors("notes/text_summary")[0].tensor_proto.string_val
    assert ours.Tensors("notes")[0].step == 3
    for tag in ["sample", "sample_hwc", "batch"]:
        a, b = ours.Images(tag)[0], theirs.Images(tag)[0]
        pa = np.asarray(Image.open(io.BytesIO(a.encoded_image_string)).convert("RGB"), np.int32)
        pb = np.asarray(Image.open(io.BytesIO(b.encoded_image_string)).convert("RGB"), np.int32)
        assert (a.width, a.height, a.step) == (pa.shape[1], pa.shape[0], b.step)
        if tag != "batch":  # PyTorch pads its grid with 2-pixel borders; tessera tiles edge to edge
            assert pa.shape == pb.shape
            assert np.abs(pa - pb).max() <= 1  # PyTorch truncates x * 255, tessera rounds
    grid = np.asarray(Image.open(io.BytesIO(ours.Images("batch")[0].encoded_image_string)).convert("RGB"), np.int32)
    assert grid.shape == (5, 14, 3)
    np.testing.assert_array_equal(grid[:, 7:], np.round((1 - img.transpose(1, 2, 0)) * 255))


@pytest.mark.parametrize("bins", ["tensorflow", 10])
def test_histograms_match_numpy(tmp_path, bins):
    x = (RNG.standard_normal(5000) * 2).astype(np.float32)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_histogram("w", x, 3, bins=bins)
        w.add_histogram("t", ts.tensor(x).reshape(50, 100), 4, bins=bins)
    ea = load(tmp_path)
    h = ea.Histograms("w")[0].histogram_value
    assert ea.Histograms("w")[0].step == 3
    x64 = x.astype(np.float64)
    assert (h.min, h.max, h.num) == (x64.min(), x64.max(), 5000)
    assert h.sum == pytest.approx(x64.sum()) and h.sum_squares == pytest.approx((x64 * x64).sum())
    if bins == "tensorflow":
        pos = []
        v = 1e-12
        while v < 1e20:
            pos.append(v)
            v *= 1.1
        edges = np.array([-p for p in reversed(pos)] + [0.0] + pos)
    else:
        edges = np.linspace(x64.min(), x64.max(), bins + 1)
    counts, _ = np.histogram(x64, edges)
    nz = np.nonzero(counts)[0]
    counts, limits = counts[nz[0]:nz[-1] + 1], edges[nz[0] + 1:nz[-1] + 2]
    np.testing.assert_array_equal(np.array(h.bucket), counts)
    np.testing.assert_allclose(np.array(h.bucket_limit), limits, rtol=1e-12)
    assert ea.Histograms("t")[0].histogram_value.bucket == h.bucket


def test_the_tensorboard_server_sees_runs_plugins_and_purges(tmp_path):
    with SummaryWriter(str(tmp_path / "a")) as w:
        for s in range(10):
            w.add_scalar("loss", float(s), s)
        w.add_scalars("curves", {"train": 1.0, "val": 2.0}, 0)
        w.add_histogram("w", RNG.standard_normal(100), 0)
        w.add_text("t", "x", 0)
    with SummaryWriter(str(tmp_path / "a"), purge_step=5) as w:  # a run restarted from step 5
        for s in range(5, 8):
            w.add_scalar("loss", 100.0 + s, s)
    mux = plugin_event_multiplexer.EventMultiplexer().AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    assert set(mux.Runs()) == {"a", "a/curves_train", "a/curves_val"}
    assert set(mux.PluginRunToTagToContent("scalars")["a"]) == {"loss"}
    assert set(mux.PluginRunToTagToContent("histograms")["a"]) == {"w"}
    assert set(mux.PluginRunToTagToContent("text")["a"]) == {"t"}
    assert set(mux.PluginRunToTagToContent("scalars")["a/curves_val"]) == {"curves"}
    loss = [(e.step, e.tensor_proto.float_val[0]) for e in mux.Tensors("a", "loss")]
    assert loss == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 105.0), (6, 106.0), (7, 107.0)]
    assert [(e.step, e.value) for e in load(tmp_path / "a").Scalars("loss")] == loss  # the older loader too


def test_fit_writes_keras_style_runs(tmp_path):
    ts.manual_seed(0)
    r = np.random.default_rng(0)
    y = r.integers(0, 2, 120)
    x = (r.standard_normal((120, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)).astype(np.float32)
    ds = ts.data.TensorDataset(ts.tensor(x), ts.tensor(y))
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    ts.train.fit(model, ts.data.DataLoader(ds, batch_size=40), epochs=3, optimizer=opt,
                 validation=ts.data.DataLoader(ds, batch_size=60),
                 callbacks=[ts.train.tensorboard(str(tmp_path), histogram_freq=2, update_freq="batch")])
    train, val = load(tmp_path / "train"), load(tmp_path / "validation")
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    assert [e.step for e in train.Scalars("batch_loss")] == list(range(1, 10))
    assert [e.step for e in val.Scalars("epoch_accuracy")] == [0, 1, 2]
    assert val.Scalars("epoch_accuracy")[-1].value > 0.9
    assert train.Scalars("epoch_learning_rate")[0].value == pytest.approx(0.1)
    assert [e.step for e in train.Histograms("0.weight")] == [1]
    assert sorted(val.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]
    with pytest.raises(ValueError, match="update_freq is 'epoch', 'batch'"):
        ts.train.tensorboard(str(tmp_path), update_freq="step")


def test_bad_input_names_the_tag(tmp_path):
    w = SummaryWriter(str(tmp_path))
    with pytest.raises(ValueError, match="add_histogram 'h': 1 of 3 values are NaN"):
        w.add_histogram("h", [1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="add_histogram 'h': the values are empty"):
        w.add_histogram("h", np.zeros((0, 2)))
    with pytest.raises(ValueError, match="bins is 'tensorflow' or"):
        w.add_histogram("h", [1.0], bins="auto")
    with pytest.raises(TypeError, match="add_scalar 'x': expected a number"):
        w.add_scalar("x", "high")
    with pytest.raises(TypeError, match="add_scalar 'x': expected a number"):
        w.add_scalar("x", ts.ones(3))
    with pytest.raises(TypeError, match="global_step must be an int"):
        w.add_scalar("x", 1.0, 1.5)
    with pytest.raises(ValueError, match="add_image 'im': images have 1, 3 or 4 channels"):
        w.add_image("im", np.zeros((2, 4, 4)))
    with pytest.raises(TypeError, match="add_text 't': expected a str"):
        w.add_text("t", 3)
    w.close()
    with pytest.raises(RuntimeError, match="is closed"):
        w.add_scalar("x", 1.0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="cannot create the log folder"):
        SummaryWriter(str(tmp_path / "file" / "run"))


def test_default_log_dir_is_pytorchs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as w:
        d = w.get_logdir()
        assert d.startswith("runs/") and d.endswith("_lr0.1")
        assert (tmp_path / d).is_dir() and "events.out.tfevents." in w.file_path


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.drop = nn.Linear(4, 4), nn.Linear(4, 2), nn.Dropout(0.5)

    def forward(self, x):
        return self.fc2(self.drop(self.fc1(x).relu()) + x)


def test_add_graph_python_and_cpp_models(tmp_path):
    model = Residual()
    with SummaryWriter(str(tmp_path / "py")) as w:
        w.add_graph(model, ts.randn(3, 4))
        w.add_graph(nn.LSTM(3, 5), ts.randn(7, 2, 3))  # an (out, (h, c)) output: three Output nodes
    assert model.training  # run in eval mode (no dropout in the graph), then restored
    with SummaryWriter(str(tmp_path / "zoo")) as w:
        w.add_graph(ts.zoo.lenet5(), np.zeros((2, 1, 28, 28), np.float32))
    mux = plugin_event_multiplexer.EventMultiplexer().AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    g = mux.Graph("py")  # the LSTM's graph, written last
    assert {n.name for n in g.node if n.op == "Output"} == {"output_0", "output_1", "output_2"}
    nodes = {n.name: n for n in load(tmp_path / "zoo").Graph().node}
    assert nodes["0/conv2d"].op == "conv2d" and list(nodes["0/conv2d"].input) == ["input", "0/weight", "0/bias"]
    assert [d.size for d in nodes["reshape"].attr["_output_shapes"].list.shape[0].dim] == [2, 400]
    # The Python model's graph: parameters scoped by module, the residual add reading the input.
    w2 = SummaryWriter(str(tmp_path / "py2"))
    w2.add_graph(model, ts.randn(3, 4))
    w2.close()
    nodes = {n.name: n for n in load(tmp_path / "py2").Graph().node}
    assert nodes["fc1/weight"].op == "Parameter" and nodes["fc1/matmul"].op == "matmul"
    assert list(nodes["add"].input) == ["relu", "input"]
    assert "dropout" not in " ".join(nodes)
    assert list(nodes["output"].input) == ["fc2/add"]
    with pytest.raises(ValueError, match="pass input_to_model"):
        w2.add_graph(model)


def test_a_half_written_last_record_is_skipped(tmp_path):
    # What a crash in the middle of a write leaves: TensorBoard reads the whole records before it.
    with SummaryWriter(str(tmp_path)) as w:
        for s in range(5):
            w.add_scalar("x", float(s), s)
    with open(w.file_path, "r+b") as f:
        f.truncate(f.seek(0, 2) - 7)
    assert [e.step for e in load(tmp_path).Scalars("x")] == [0, 1, 2, 3]
    mux = plugin_event_multiplexer.EventMultiplexer().AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    assert [e.step for e in mux.Tensors(".", "x")] == [0, 1, 2, 3]
