"""ONNX Runtime's operators (domain com.microsoft) that its quantization tool and graph optimizer
write into files, each against onnxruntime on random inputs: the quantized QLinearAdd, QLinearMul,
QLinearSigmoid, QLinearLeakyRelu, QLinearAveragePool, QLinearGlobalAveragePool, QLinearSoftmax,
QLinearConcat, QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat, and the fused FusedConv,
FusedGemm, FusedMatMul, Gelu, FastGelu, BiasGelu, QuickGelu, SkipLayerNormalization."""
import numpy as np
import onnx
import onnxruntime
import pytest
import tessera as ts
import tessera.onnx.backend as backend
from onnx import TensorProto, helper, numpy_helper

from seeds import rng as seeded_rng

MS = "com.microsoft"
U8, I8, F32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.FLOAT


def _model(nodes, inputs, outputs, init=(), opset=17):
    graph = helper.make_graph(nodes, "contrib", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
                              initializer=[numpy_helper.from_array(np.asarray(a), n) for n, a in init])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)])


def _compare(model, feeds, quantized_steps=0):
    """tessera's outputs against onnxruntime's: float ones to float32 tolerance, quantized ones at
    most quantized_steps apart (onnxruntime's kernels round through lookup tables and float32)."""
    want = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = backend.prepare(model).run([feeds[i.name] for i in model.graph.input])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        if np.issubdtype(w.dtype, np.integer):
            diff = np.abs(g.astype(np.int64) - w.astype(np.int64))
            assert diff.max() <= quantized_steps, diff.max()
            assert (diff == 0).mean() > 0.9
        else:
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
    return got


def _q(rng, shape, dtype=np.uint8):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def _q7(rng, shape):
    """int8 weights in [-64, 63] for comparisons with onnxruntime: on CPUs without VNNI its
    uint8 x int8 kernels add pairs of products in saturating int16 (vpmaddubsw), which full-range
    weights overflow (its quantization guide's reduce_range); test_qgemm_is_exact_with_full_range_weights
    checks the whole range against integer arithmetic."""
    return rng.integers(-64, 64, shape).astype(np.int8)


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_binary_ops_broadcast_and_match(op, dtype):
    rng = seeded_rng()
    t = U8 if dtype == np.uint8 else I8
    zp = (lambda v: dtype(v)) if dtype == np.uint8 else (lambda v: dtype(v - 128))
    init = [("as", np.float32(0.03)), ("az", zp(120)), ("bs", np.float32(0.05)), ("bz", zp(130)),
            ("cs", np.float32(0.07 if op == "QLinearAdd" else 0.2)), ("cz", zp(128))]
    node = helper.make_node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["c"], domain=MS)
    model = _model([node], [("a", t, [2, 3, 4]), ("b", t, [3, 1])], [("c", t)], init)
    _compare(model, {"a": _q(rng, (2, 3, 4), dtype), "b": _q(rng, (3, 1), dtype)}, quantized_steps=1)


@pytest.mark.parametrize("op,attrs", [("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": 0.2})])
def test_qlinear_activations_match(op, attrs):
    rng = seeded_rng()
    init = [("xs", np.float32(0.05)), ("xz", np.uint8(128)), ("ys", np.float32(1 / 255 if op == "QLinearSigmoid"
                                                                                   else 0.04)), ("yz", np.uint8(0 if op == "QLinearSigmoid" else 100))]
    node = helper.make_node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, **attrs)
    model = _model([node], [("x", U8, [4, 64])], [("y", U8)], init)
    _compare(model, {"x": np.arange(256, dtype=np.uint8).reshape(4, 64)}, quantized_steps=1)


@pytest.mark.parametrize("channels_last", [0, 1])
def test_qlinear_pools_match(channels_last):
    rng = seeded_rng()
    shape = [2, 5, 6, 3] if channels_last else [2, 3, 5, 6]
    init = [("xs", np.float32(0.02)), ("xz", np.uint8(110)), ("ys", np.float32(0.015)), ("yz", np.uint8(120))]
    avg = helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["a"], domain=MS, kernel_shape=[3, 2],
                           strides=[2, 2], pads=[1, 0, 1, 0], count_include_pad=0, channels_last=channels_last)
    glob = helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["g"], domain=MS,
                            channels_last=channels_last)
    model = _model([avg, glob], [("x", U8, shape)], [("a", U8), ("g", U8)], init)
    _compare(model, {"x": _q(rng, shape)}, quantized_steps=1)


@pytest.mark.parametrize("opset_attr,axis,shape", [(13, -1, [2, 3, 7]), (13, 1, [2, 7, 3]), (12, 1, [2, 3, 4])])
def test_qlinear_softmax_follows_its_opset_attribute(opset_attr, axis, shape):
    rng = seeded_rng()
    init = [("xs", np.float32(0.1)), ("xz", np.uint8(128)), ("ys", np.float32(1 / 256)), ("yz", np.uint8(0))]
    node = helper.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, axis=axis,
                            opset=opset_attr)
    model = _model([node], [("x", U8, shape)], [("y", U8)], init)
    _compare(model, {"x": _q(rng, shape)}, quantized_steps=1)


def test_qlinear_concat_requantizes_each_part():
    rng = seeded_rng()
    init = [("ys", np.float32(0.05)), ("yz", np.uint8(128)), ("s1", np.float32(0.02)), ("z1", np.uint8(100)),
            ("s2", np.float32(0.05)), ("z2", np.uint8(128))]
    node = helper.make_node("QLinearConcat", ["ys", "yz", "a", "s1", "z1", "b", "s2", "z2"], ["y"], domain=MS, axis=1)
    model = _model([node], [("a", U8, [2, 3, 4]), ("b", U8, [2, 2, 4])], [("y", U8)], init)
    _compare(model, {"a": _q(rng, (2, 3, 4)), "b": _q(rng, (2, 2, 4))}, quantized_steps=1)


@pytest.mark.parametrize("quantized_out", [True, False])
@pytest.mark.parametrize("trans_b,per_column", [(0, False), (1, True)])
def test_qgemm_matches(quantized_out, trans_b, per_column):
    rng = seeded_rng()
    m, k, n = 3, 8, 5
    b = _q7(rng, (n, k) if trans_b else (k, n))
    b_scale = rng.uniform(0.01, 0.03, n).astype(np.float32) if per_column else np.float32(0.02)
    b_zero = np.zeros(n, np.int8) if per_column else np.int8(0)
    init = [("as", np.float32(0.03)), ("az", np.uint8(120)), ("b", b), ("bs", b_scale), ("bz", b_zero),
            ("c", rng.integers(-500, 500, n).astype(np.int32))]
    ins = ["a", "as", "az", "b", "bs", "bz", "c"]
    if quantized_out:
        init += [("ys", np.float32(0.5)), ("yz", np.uint8(128))]
        ins += ["ys", "yz"]
    node = helper.make_node("QGemm", ins, ["y"], domain=MS, transB=trans_b, alpha=1.0)
    model = _model([node], [("a", U8, [m, k])], [("y", U8 if quantized_out else F32)], init)
    _compare(model, {"a": _q(rng, (m, k))}, quantized_steps=1)


def test_qgemm_is_exact_with_full_range_weights():
    """uint8 x int8 products over the whole int8 range, against integer arithmetic in numpy."""
    rng = seeded_rng()
    m, k, n = 4, 16, 6
    a, b = _q(rng, (m, k)), _q(rng, (k, n), np.int8)
    c = rng.integers(-500, 500, n).astype(np.int32)
    init = [("as", np.float32(0.03)), ("az", np.uint8(120)), ("b", b), ("bs", np.float32(0.02)), ("bz", np.int8(3)),
            ("c", c), ("ys", np.float32(0.5)), ("yz", np.uint8(128))]
    node = helper.make_node("QGemm", ["a", "as", "az", "b", "bs", "bz", "c", "ys", "yz"], ["y"], domain=MS)
    model = _model([node], [("a", U8, [m, k])], [("y", U8)], init)
    got = backend.prepare(model).run([a])[0]
    acc = (a.astype(np.int64) - 120) @ (b.astype(np.int64) - 3) + c
    want = np.clip(np.rint(acc * (np.float32(0.03) * np.float32(0.02)).astype(np.float64) / 0.5) + 128, 0, 255)
    assert b.min() < -64 and b.max() > 63  # weights outside the 7-bit range are in the test
    np.testing.assert_array_equal(got, want)


def test_dynamic_quantize_matmul_and_matmul_integer_to_float_match():
    rng = seeded_rng()
    b = _q7(rng, (6, 4))
    init = [("b", b), ("bs", rng.uniform(0.01, 0.03, 4).astype(np.float32)), ("bz", np.zeros(4, np.int8)),
            ("bias", rng.standard_normal(4).astype(np.float32)), ("as", np.float32(0.04)), ("az", np.uint8(128)),
            ("bs1", np.float32(0.02))]
    nodes = [helper.make_node("DynamicQuantizeMatMul", ["x", "b", "bs", "bz", "bias"], ["y"], domain=MS),
             helper.make_node("MatMulIntegerToFloat", ["xq", "b", "as", "bs1", "az", "", "bias"], ["z"], domain=MS)]
    model = _model(nodes, [("x", F32, [2, 3, 6]), ("xq", U8, [2, 3, 6])], [("y", F32), ("z", F32)], init)
    _compare(model, {"x": rng.standard_normal((2, 3, 6)).astype(np.float32), "xq": _q(rng, (2, 3, 6))})


@pytest.mark.parametrize("activation,params", [("", []), ("Relu", []), ("LeakyRelu", [0.1]), ("Clip", [-0.5, 0.5]),
                                               ("HardSigmoid", [0.3, 0.4]), ("Sigmoid", []), ("Tanh", [])])
def test_fused_conv_adds_its_residual_then_activates(activation, params):
    rng = seeded_rng()
    attrs = {"pads": [1, 1, 1, 1], "strides": [1, 2]}
    if activation:
        attrs["activation"] = activation
    if params:
        attrs["activation_params"] = params
    init = [("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3), ("bias", rng.standard_normal(4).astype(np.float32))]
    node = helper.make_node("FusedConv", ["x", "w", "bias", "z"], ["y"], domain=MS, **attrs)
    model = _model([node], [("x", F32, [2, 3, 6, 8]), ("z", F32, [2, 4, 6, 4])], [("y", F32)], init)
    _compare(model, {"x": rng.standard_normal((2, 3, 6, 8)).astype(np.float32),
                     "z": rng.standard_normal((2, 4, 6, 4)).astype(np.float32)})


@pytest.mark.parametrize("activation", ["Relu", "LeakyRelu", "Sigmoid"])
def test_fused_gemm_matches(activation):
    rng = seeded_rng()
    init = [("b", rng.standard_normal((5, 4)).astype(np.float32)), ("c", rng.standard_normal(5).astype(np.float32))]
    attrs = {"activation": activation, "transB": 1, "alpha": 0.7, "beta": 1.5}
    if activation == "LeakyRelu":
        attrs["activation_alpha"] = 0.2
    node = helper.make_node("FusedGemm", ["a", "b", "c"], ["y"], domain=MS, **attrs)
    model = _model([node], [("a", F32, [3, 4])], [("y", F32)], init)
    _compare(model, {"a": rng.standard_normal((3, 4)).astype(np.float32)})


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_fused_matmul_transposes_and_scales(trans_a, trans_b):
    rng = seeded_rng()
    a_shape = [2, 4, 3] if trans_a else [2, 3, 4]
    b_shape = [5, 4] if trans_b else [4, 5]
    node = helper.make_node("FusedMatMul", ["a", "b"], ["y"], domain=MS, transA=trans_a, transB=trans_b, alpha=0.5)
    model = _model([node], [("a", F32, a_shape), ("b", F32, b_shape)], [("y", F32)])
    _compare(model, {"a": rng.standard_normal(a_shape).astype(np.float32),
                     "b": rng.standard_normal(b_shape).astype(np.float32)})


def test_gelu_family_matches():
    rng = seeded_rng()
    nodes = [helper.make_node("Gelu", ["x"], ["g"], domain=MS),
             helper.make_node("FastGelu", ["x", "bias"], ["f"], domain=MS),
             helper.make_node("FastGelu", ["x"], ["f0"], domain=MS),
             helper.make_node("BiasGelu", ["x", "bias"], ["b"], domain=MS),
             helper.make_node("QuickGelu", ["x"], ["q"], domain=MS, alpha=1.5)]
    init = [("bias", rng.standard_normal(8).astype(np.float32))]
    model = _model(nodes, [("x", F32, [3, 8])], [(n, F32) for n in ("g", "f", "f0", "b", "q")], init)
    _compare(model, {"x": 3 * rng.standard_normal((3, 8)).astype(np.float32)})


def test_skip_layer_normalization_and_its_sum_output():
    rng = seeded_rng()
    init = [("gamma", rng.standard_normal(16).astype(np.float32)), ("beta", rng.standard_normal(16).astype(np.float32)),
            ("bias", rng.standard_normal(16).astype(np.float32))]
    node = helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["y", "", "", "sum"],
                            domain=MS, epsilon=1e-5)
    model = _model([node], [("x", F32, [2, 3, 16]), ("skip", F32, [2, 3, 16])], [("y", F32), ("sum", F32)], init)
    _compare(model, {"x": rng.standard_normal((2, 3, 16)).astype(np.float32),
                     "skip": rng.standard_normal((2, 3, 16)).astype(np.float32)})


def test_other_domains_versions_and_values_are_refused_at_load():
    x = [("x", F32, [2])]
    unknown = _model([helper.make_node("NoSuchContribOp", ["x"], ["y"], domain=MS)], x, [("y", F32)])
    with pytest.raises(ts.onnx.OnnxError, match=r"com\.microsoft\.NoSuchContribOp \(version 1\) is not supported"):
        backend.prepare(unknown)
    other = _model([helper.make_node("Relu", ["x"], ["y"], domain="ai.onnx.ml")], x, [("y", F32)])
    other.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    with pytest.raises(ts.onnx.OnnxError, match="operator domain 'ai.onnx.ml'"):
        backend.prepare(other)
    newer = _model([helper.make_node("Gelu", ["x"], ["y"], domain=MS)], x, [("y", F32)])
    newer.opset_import[1].version = 2
    with pytest.raises(ts.onnx.OnnxError, match="version 2 of the operator domain com.microsoft"):
        backend.prepare(newer)
    batch_trans = _model([helper.make_node("FusedMatMul", ["x", "x"], ["y"], domain=MS, transBatchA=1)], x,
                         [("y", F32)])
    with pytest.raises(ts.onnx.OnnxError, match=r"transBatchA=1 of op com\.microsoft\.FusedMatMul"):
        backend.prepare(batch_trans)
    bad_act = _model([helper.make_node("FusedConv", ["x", "x"], ["y"], domain=MS, activation="Swish")], x, [("y", F32)])
    with pytest.raises(ts.onnx.OnnxError, match="activation=Swish"):
        backend.prepare(bad_act)


def test_operator_names_list_the_domain():
    names = ts._tessera._onnx.operator_names()
    assert "com.microsoft.QLinearAdd" in names and "com.microsoft.FusedConv" in names and "Conv" in names
