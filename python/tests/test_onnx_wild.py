"""Files made by other tools (tests/data/onnx/wild, written by make_wild_files.py there): PyTorch's
TorchScript exporter (LSTMs inside If), tf2onnx from Keras, paddle2onnx (an OCR detector and
recognizer), onnxruntime's quantization tool and graph optimizer (com.microsoft operators). Each
loads, and matches onnxruntime's outputs (stored beside it, and onnxruntime's live) to float32
tolerance through OnnxModel and, where the graph has no control flow, the inference session."""
import glob
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import tessera as ts

WILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "onnx", "wild")
CASES = sorted(os.path.basename(f)[:-len("_in.npz")] for f in glob.glob(os.path.join(WILD, "*_in.npz")))


def _model_file(case):
    name = case
    while not os.path.exists(os.path.join(WILD, name + ".onnx")):
        name = name.rsplit("_", 1)[0]
    return os.path.join(WILD, name + ".onnx")


def _has_control_flow(path):
    return any(n.op_type in ("If", "Loop", "Scan") for n in onnx.load(path).graph.node)


def test_every_tool_is_represented():
    assert {c.split("_")[0] for c in CASES} == {"torch", "tf2onnx", "paddle", "ort"}
    domains = {n.domain for f in glob.glob(os.path.join(WILD, "ort_*.onnx")) for n in onnx.load(f).graph.node}
    assert "com.microsoft" in domains


@pytest.mark.parametrize("case", CASES)
def test_file_from_another_tool_matches_onnxruntime(case):
    path = _model_file(case)
    feeds = dict(np.load(os.path.join(WILD, case + "_in.npz")))
    stored = np.load(os.path.join(WILD, case + "_out.npz"))
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    live = session.run(None, feeds)
    model = ts.onnx.load(path)
    assert model.input_names == [i.name for i in session.get_inputs()]
    ins = [ts.tensor(feeds[name]) for name in model.input_names]
    runs = {"OnnxModel": model.run(ins)}
    if not _has_control_flow(path):
        runs["InferenceSession"] = ts.inference.InferenceSession(path).run(ins)
    for how, got in runs.items():
        got = got if isinstance(got, (list, tuple)) else [got]
        assert len(got) == len(live), how
        for g, want, name in zip(got, live, stored.files):
            np.testing.assert_allclose(stored[name], want, rtol=1e-5, atol=1e-6, err_msg=f"{case}: stored {name}")
            np.testing.assert_allclose(g.numpy(), want, rtol=1e-4, atol=2e-5, err_msg=f"{case} {how}: {name}")


def test_the_if_takes_each_branch():
    """The VAD file's two inputs choose different LSTMs: the outputs differ."""
    a = np.load(os.path.join(WILD, "torch_vad_if_lstm_out.npz"))
    b = np.load(os.path.join(WILD, "torch_vad_if_lstm_8k_out.npz"))
    assert not np.allclose(a["p"], b["p"])
