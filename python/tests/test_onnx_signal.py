"""ONNX's signal operators (DFT, STFT, MelWeightMatrix) against numpy's FFT and PyTorch's STFT
export: lengths odd and even, truncated and zero-padded, real and complex inputs, every axis
form (opset 17's attribute, opset 20's input), the inverse and one-sided forms; and RoiAlign
against onnxruntime."""
import numpy as np
import onnx
import pytest
import tessera as ts
import tessera.onnx.backend as backend
from onnx import TensorProto, helper, numpy_helper

from seeds import rng as seeded_rng


def _run(nodes, feeds, init=(), opset=17):
    graph = helper.make_graph(
        nodes, "signal",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in feeds.items()],
        [helper.make_tensor_value_info(n.output[0], TensorProto.UNDEFINED, None) for n in nodes],
        initializer=[numpy_helper.from_array(np.asarray(a), k) for k, a in init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return backend.prepare(model).run(list(feeds.values()))


def _complex(y):
    return y[..., 0] + 1j * y[..., 1]


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("length", [None, 5, 12])  # the signal's 8, truncated, zero-padded
@pytest.mark.parametrize("onesided", [0, 1])
def test_forward_dft_of_a_real_signal_matches_numpy(opset, length, onesided):
    x = seeded_rng().standard_normal((3, 8, 2, 1))  # transformed along dim 1
    init = [("n", np.array(length, np.int64))] if length else []
    ins = ["x", "n" if length else ""]
    if opset >= 20:
        init.append(("axis", np.array(1, np.int64)))
        node = helper.make_node("DFT", ins + ["axis"], ["y"], onesided=onesided)
    else:
        node = helper.make_node("DFT", ins, ["y"], axis=1, onesided=onesided)
    y = _run([node], {"x": x}, init, opset)[0]
    want = (np.fft.rfft if onesided else np.fft.fft)(x[..., 0], n=length or 8, axis=1)
    np.testing.assert_allclose(_complex(y), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n", [6, 7])
def test_inverse_dft_of_a_complex_signal_and_the_one_sided_inverse(n):
    rng = seeded_rng()
    z = rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))
    x = np.stack([z.real, z.imag], -1)
    y = _run([helper.make_node("DFT", ["x"], ["y"], axis=1, inverse=1)], {"x": x})[0]
    np.testing.assert_allclose(_complex(y), np.fft.ifft(z, axis=1), rtol=1e-10, atol=1e-12)
    signal = rng.standard_normal((2, n))
    half = np.fft.rfft(signal, axis=1)
    init = [("n", np.array(n, np.int64)), ("axis", np.array(-2, np.int64))]
    back = _run([helper.make_node("DFT", ["x", "n", "axis"], ["y"], inverse=1, onesided=1)],
                {"x": np.stack([half.real, half.imag], -1)}, init, opset=20)[0]
    np.testing.assert_allclose(back[..., 0], signal, rtol=1e-10, atol=1e-12)


def test_dft_refuses_bad_shapes_by_name():
    with pytest.raises(RuntimeError, match="DFT: the input .* must end in a dim of 1"):
        _run([helper.make_node("DFT", ["x"], ["y"], axis=1)], {"x": np.zeros((2, 4, 3), np.float32)})
    with pytest.raises(RuntimeError, match="DFT: axis 2 must be a signal dim"):
        _run([helper.make_node("DFT", ["x"], ["y"], axis=2)], {"x": np.zeros((2, 4, 1), np.float32)})


def test_stft_frames_windows_and_one_sided_bins_match_numpy():
    """STFT against numpy: frames every frame_step, windowed, one-sided or full, with and without
    frame_length (PyTorch's exported STFT is checked in test_onnx.py's PyTorch 2 files)."""
    rng = seeded_rng()
    signal = rng.standard_normal((2, 50, 1))
    window = np.hanning(16)
    init = [("step", np.array(6, np.int64)), ("w", window), ("len", np.array(16, np.int64))]
    for onesided, ins in ((1, ["x", "step", "w"]), (0, ["x", "step", "w", "len"]), (1, ["x", "step", "", "len"])):
        y = _run([helper.make_node("STFT", ins, ["y"], onesided=onesided)], {"x": signal}, init)[0]
        w = window if ins[2] else np.ones(16)
        frames = np.stack([signal[:, f * 6:f * 6 + 16, 0] * w for f in range((50 - 16) // 6 + 1)], 1)
        want = (np.fft.rfft if onesided else np.fft.fft)(frames, axis=-1)
        np.testing.assert_allclose(_complex(y), want, rtol=1e-10, atol=1e-10)
    with pytest.raises(RuntimeError, match="STFT: frame_length 80"):
        _run([helper.make_node("STFT", ["x", "step", "", "n"], ["y"])], {"x": signal},
             [("step", np.array(6, np.int64)), ("n", np.array(80, np.int64))])


def test_mel_weight_matrix_follows_onnx_reference():
    from onnx.reference import ReferenceEvaluator
    feeds = {"m": np.array(8, np.int64), "d": np.array(64, np.int64), "r": np.array(16000, np.int64),
             "lo": np.array(20.0, np.float32), "hi": np.array(7600.0, np.float32)}
    node = helper.make_node("MelWeightMatrix", list(feeds), ["w"])
    got = _run([node], feeds)[0]
    graph = helper.make_graph([node], "mel", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), [])
                                              for k, v in feeds.items()],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, None)])
    want = ReferenceEvaluator(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])).run(None, feeds)[0]
    assert got.shape == (33, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-7)
    bad = dict(feeds, hi=np.array(12000.0, np.float32))  # above the Nyquist frequency's bins
    with pytest.raises(RuntimeError, match="upper_edge_hertz"):
        _run([node], bad)


@pytest.mark.parametrize("transform", ["half_pixel", "output_half_pixel"])
@pytest.mark.parametrize("ratio", [0, 2])
def test_roi_align_matches_onnxruntime(transform, ratio):
    """RoiAlign (detection heads: torchvision's roi_align exports as it) at opset 16, average mode,
    regions inside, across and outside the image, against onnxruntime."""
    import onnxruntime
    rng = seeded_rng()
    x = rng.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 0, 9, 9], [2.5, 1.2, 7.3, 8.9], [-3, -2, 4, 5], [8, 6, 20, 15], [1, 1, 1.5, 1.2]], np.float32)
    idx = np.array([0, 1, 1, 0, 1], np.int64)
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], output_height=3, output_width=4,
                            sampling_ratio=ratio, spatial_scale=0.9, coordinate_transformation_mode=transform)
    feeds = {"x": x, "rois": rois, "idx": idx}
    got = _run([node], feeds, opset=16)[0]
    graph = helper.make_graph([node], "roi", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                                              for k, v in feeds.items()],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="batch index 2 of roi 0"):
        _run([node], dict(feeds, idx=np.array([2, 0, 0, 0, 0], np.int64)), opset=16)


def test_transforms_too_large_for_the_dense_dft_are_refused():
    """A length whose coefficient matrices would take gigabytes (a hostile file's dft_length) is
    refused with a message instead of allocating them or running for minutes."""
    init = [("n", np.array(1 << 20, np.int64))]
    with pytest.raises(RuntimeError, match="DFT: a transform of 1048576 points .* longer than tessera's DFT supports"):
        _run([helper.make_node("DFT", ["x", "n"], ["y"], axis=1)], {"x": np.zeros((1, 8, 1), np.float32)}, init)
    feeds = {"m": np.array(60000, np.int64), "d": np.array(1 << 20, np.int64), "r": np.array(16000, np.int64),
             "lo": np.array(20.0, np.float32), "hi": np.array(7600.0, np.float32)}
    with pytest.raises(RuntimeError, match="MelWeightMatrix: .* implausibly large matrix"):
        _run([helper.make_node("MelWeightMatrix", list(feeds), ["w"])], feeds)
