"""tessera.onnx.backend (onnx.backend.base's interface) and tessera.onnx.load's other sources."""
import io

import numpy as np
import onnx
import pytest
import tessera as ts
import tessera.onnx.backend as backend
from onnx import TensorProto, helper


def _gemm_model(opset=17):
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=2.0)
    graph = helper.make_graph(
        [node], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 3]),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_prepare_and_run_take_lists_dicts_and_read_only_arrays():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3), dtype=np.float32), rng.standard_normal((4, 3), dtype=np.float32)
    c = np.array(0.5, dtype=np.float32)  # a 0-d input stays 0-d
    a.setflags(write=False)  # as numpy_helper.to_array returns them
    want = 2 * a @ b.T + 0.5
    rep = backend.prepare(_gemm_model(), "CPU")
    np.testing.assert_allclose(rep.run([a, b, c])[0], want, rtol=1e-6)
    out = rep.run({"a": a, "b": b, "c": c})
    np.testing.assert_allclose(out["y"], want, rtol=1e-6)
    np.testing.assert_allclose(backend.run_model(_gemm_model(), [a, b, c]).y, want, rtol=1e-6)
    with pytest.raises(ValueError, match="inputs \\['c'\\]"):
        rep.run({"a": a, "b": b})
    with pytest.raises(ValueError, match="takes 3 inputs"):
        rep.run([a, b])


def test_run_node_and_devices():
    node = helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.5)
    x = np.array([-2.0, 3.0], dtype=np.float32)
    np.testing.assert_allclose(backend.run_node(node, [x]).y, [-1.0, 3.0])
    assert backend.supports_device("CPU")
    assert backend.supports_device("CUDA") == ts.cuda.is_available()
    assert not backend.supports_device("TPU")


def test_load_takes_bytes_files_and_model_protos(tmp_path):
    model = _gemm_model()
    data = model.SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    for source in (data, io.BytesIO(data), model, open(path, "rb"), path, str(path)):
        net = ts.onnx.load(source)
        assert net.input_names == ["a", "b", "c"]
    with pytest.raises(ts.onnx.OnnxError, match="<bytes>.*not an ONNX model"):
        ts.onnx.load(b"not a model")
    with open(path, "r", encoding="latin-1") as text:
        with pytest.raises(TypeError, match="text mode"):
            ts.onnx.load(text)


def test_unsupported_op_is_refused_at_prepare():
    node = helper.make_node("NoSuchOp", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    with pytest.raises(ts.onnx.OnnxError, match="NoSuchOp"):
        backend.prepare(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def _if_model(then_op):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then_g = helper.make_graph([helper.make_node(then_op, ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Constant", [], ["zero"], value_float=0.0),
         helper.make_node("Greater", ["s", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_if_branches_read_outer_values_and_are_checked_at_load(tmp_path):
    rep = backend.prepare(_if_model("Relu"))
    np.testing.assert_allclose(rep.run([np.array([1.0, -0.5], np.float32)]).y, [1.0, 0.0])
    np.testing.assert_allclose(rep.run([np.array([-1.0, 0.5], np.float32)]).y, [1.0, -0.5])
    # An op tessera does not run, inside a branch, is refused when the file is read.
    with pytest.raises(ts.onnx.OnnxError, match=r"'t' \(NoSuchOp\)"):
        backend.prepare(_if_model("NoSuchOp"))
    path = tmp_path / "if.onnx"
    onnx.save(_if_model("Relu"), str(path))
    with pytest.raises(ts.onnx.OnnxError, match="If, Loop, Scan or sequences"):
        ts.inference.InferenceSession(str(path))


def test_quantized_models_match_onnxruntime():
    """A QDQ model (per-tensor activations, per-channel int8 weights) and a QLinearConv, at opset 13."""
    import onnxruntime
    rng = np.random.default_rng(3)
    # Weights in [-64, 63]: onnxruntime's uint8 x int8 kernels on CPUs without VNNI add pairs of
    # products in saturating int16 (see test_onnx_contrib._q7).
    w = rng.integers(-64, 64, (4, 3, 3, 3)).astype(np.int8)
    w_scale = rng.uniform(0.01, 0.05, 4).astype(np.float32)
    init = [onnx.numpy_helper.from_array(a, n) for a, n in [
        (np.float32(0.02), "xs"), (np.uint8(128), "xz"), (w, "w"), (w_scale, "ws"), (np.zeros(4, np.int8), "wz"),
        (np.float32(0.05), "ys"), (np.uint8(100), "yz")]]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1]),
             helper.make_node("QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["yq"], pads=[1, 1, 1, 1]),
             helper.make_node("DynamicQuantizeLinear", ["y"], ["dq", "dqs", "dqz"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 5])],
                              [helper.make_tensor_value_info(n, t, None) for n, t in [
                                  ("y", TensorProto.FLOAT), ("yq", TensorProto.UINT8), ("dq", TensorProto.UINT8),
                                  ("dqs", TensorProto.FLOAT), ("dqz", TensorProto.UINT8)]], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.uniform(-2, 2, (2, 3, 5, 5)).astype(np.float32)
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    got = backend.prepare(model).run([x])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    for g, w_ in zip(got[1:], want[1:]):
        assert g.dtype == w_.dtype
        # onnxruntime may round a product that lands on .5 the other way: at most one step apart
        np.testing.assert_allclose(g.astype(np.float64), w_.astype(np.float64), atol=1.0001, rtol=1e-6)
    assert (got[1] == want[1]).mean() > 0.98


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_sequence_lens_and_peepholes_match_onnxruntime(kind, direction):
    import onnxruntime
    rng = np.random.default_rng(7)
    L, N, I, H = 5, 3, 4, 6
    D = 2 if direction == "bidirectional" else 1
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    arrays = {"W": rng.standard_normal((D, G * H, I)), "R": rng.standard_normal((D, G * H, H)) * 0.5,
              "B": rng.standard_normal((D, 2 * G * H)) * 0.1, "lens": np.array([5, 2, 4], np.int32),
              "h0": rng.standard_normal((D, N, H))}
    inputs = ["x", "W", "R", "B", "lens", "h0"]
    if kind == "LSTM":
        arrays["c0"] = rng.standard_normal((D, N, H))
        arrays["P"] = rng.standard_normal((D, 3 * H))
        inputs += ["c0", "P"]
    init = [onnx.numpy_helper.from_array(a if a.dtype == np.int32 else a.astype(np.float32), k)
            for k, a in arrays.items()]
    outs = ["Y", "Yh"] + (["Yc"] if kind == "LSTM" else [])
    node = helper.make_node(kind, inputs, outs, hidden_size=H, direction=direction)
    graph = helper.make_graph([node], "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [L, N, I])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                              initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    x = rng.standard_normal((L, N, I)).astype(np.float32)
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    got = backend.prepare(model).run([x])
    for g, w_, name in zip(got, want, outs):
        np.testing.assert_allclose(g, w_, rtol=1e-4, atol=1e-5, err_msg=name)


def test_attributes_tessera_does_not_implement_are_refused_at_load():
    def model(node, opset=17):
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    with pytest.raises(ts.onnx.OnnxError, match=r"node 'r' \(Resize\): attribute mode=area of op Resize \(opset 17\)"):
        backend.prepare(model(helper.make_node("Resize", ["x", "", "x"], ["y"], name="r", mode="area")))
    with pytest.raises(ts.onnx.OnnxError, match=r"attribute 'frobnicate' of op Relu \(opset 17\) is not supported"):
        backend.prepare(model(helper.make_node("Relu", ["x"], ["y"], frobnicate=1)))
    with pytest.raises(ts.onnx.OnnxError, match=r"attribute 'clip' of op LSTM"):
        backend.prepare(model(helper.make_node("LSTM", ["x", "x", "x"], ["y"], hidden_size=2, clip=3.0)))
    with pytest.raises(ts.onnx.OnnxError, match=r"activations \[Sigmoid, Relu\] of op GRU"):
        backend.prepare(model(helper.make_node("GRU", ["x", "x", "x"], ["y"], hidden_size=2,
                                               activations=["Sigmoid", "Relu"])))


def test_string_tensors_match_onnxruntime():
    import onnxruntime
    S = TensorProto.STRING
    nodes = [helper.make_node("StringNormalizer", ["words"], ["norm"], case_change_action="LOWER",
                              stopwords=["the"], is_case_sensitive=0, locale="C"),
             helper.make_node("StringConcat", ["norm", "suffix"], ["joined"]),
             helper.make_node("StringSplit", ["lines"], ["parts", "counts"], delimiter=","),
             helper.make_node("Equal", ["parts", "key"], ["found"]),
             helper.make_node("RegexFullMatch", ["norm"], ["is_word"], pattern=r"[a-z]+")]
    graph = helper.make_graph(nodes, "text", [
        helper.make_tensor_value_info("words", S, [4]), helper.make_tensor_value_info("suffix", S, [1]),
        helper.make_tensor_value_info("lines", S, [2]), helper.make_tensor_value_info("key", S, [])],
        [helper.make_tensor_value_info(n, t, None) for n, t in [
            ("joined", S), ("parts", S), ("counts", TensorProto.INT64), ("found", TensorProto.BOOL),
            ("is_word", TensorProto.BOOL)]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    feeds = {"words": np.array(["The", "Quick", "fox", "JUMPS"], dtype=object),
             "suffix": np.array(["!"], dtype=object), "lines": np.array(["a,b,,c", "b"], dtype=object),
             "key": np.array("b", dtype=object)}
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feeds)
    got = backend.prepare(model).run(feeds)
    for g, w_ in zip(got, want):
        assert g.shape == w_.shape
        np.testing.assert_array_equal(g, w_)
    assert list(got[0]) == ["quick!", "fox!", "jumps!"]
    with pytest.raises(TypeError, match="object arrays must hold strings"):
        backend.prepare(model).run({**feeds, "key": np.array(3, dtype=object)})


@pytest.mark.parametrize("opset", [17, 18])
def test_log_sum_reductions_and_optionals_match_onnxruntime(opset):
    import onnxruntime
    f = TensorProto.FLOAT
    axes = [helper.make_node("Constant", [], ["axes"], value_ints=[1])] if opset >= 18 else []
    kw = {} if opset >= 18 else {"axes": [1]}
    inputs = ["x", "axes"] if opset >= 18 else ["x"]
    nodes = axes + [helper.make_node("Abs", ["x"], ["p"]),
                    helper.make_node("ReduceLogSum", ["p"] + inputs[1:], ["ls"], keepdims=0, **kw),
                    helper.make_node("ReduceLogSumExp", inputs, ["lse"], **kw),
                    helper.make_node("Optional", ["x"], ["o"]),
                    helper.make_node("OptionalHasElement", ["o"], ["has"]),
                    helper.make_node("OptionalGetElement", ["o"], ["back"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2, 3])],
                              [helper.make_tensor_value_info(n, t, None) for n, t in [
                                  ("ls", f), ("lse", f), ("has", TensorProto.BOOL), ("back", f)]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    got = backend.prepare(model).run([x])
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-5)


def test_random_ops_draw_from_their_seed_or_tessera_generator():
    f = TensorProto.FLOAT
    nodes = [helper.make_node("RandomUniformLike", ["x"], ["u"], low=-2.0, high=3.0, seed=5.0),
             helper.make_node("RandomNormalLike", ["x"], ["nrm"], mean=1.0, scale=0.5),
             helper.make_node("RandomUniform", [], ["u2"], shape=[3, 4], dtype=TensorProto.DOUBLE, seed=1.0),
             helper.make_node("RandomNormal", [], ["n2"], shape=[2], seed=2.0),
             helper.make_node("Bernoulli", ["p"], ["b"], seed=3.0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [200, 50]),
                                           helper.make_tensor_value_info("p", f, [20000])],
                              [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None)
                               for n in ("u", "nrm", "u2", "n2", "b")])
    rep = backend.prepare(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    x, p = np.zeros((200, 50), np.float32), np.full(20000, 0.3, np.float32)
    first, again = rep.run([x, p]), rep.run([x, p])
    u, nrm, u2, n2, b = first
    assert u.shape == (200, 50) and u.dtype == np.float32 and -2 <= u.min() and u.max() < 3
    assert abs(u.mean() - 0.5) < 0.05 and abs(nrm.mean() - 1.0) < 0.02 and abs(nrm.std() - 0.5) < 0.02
    assert u2.shape == (3, 4) and u2.dtype == np.float64 and n2.shape == (2,)
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    for name, a, c in zip(("u", "nrm", "u2", "n2", "b"), first, again):  # seeded draws repeat, unseeded ones do not
        assert np.array_equal(a, c) == (name != "nrm"), name
    ts.manual_seed(9)
    one = rep.run([x, p]).nrm
    ts.manual_seed(9)
    np.testing.assert_array_equal(rep.run([x, p]).nrm, one)


def test_a_node_without_outputs_is_refused_at_load():
    """Found by the ONNX fuzzer (tests/fuzz/onnx_fuzz.cpp): it used to abort inside protobuf."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], [])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])], [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 10
    with pytest.raises(ts.onnx.OnnxError, match=r"\(Relu\) has no outputs"):
        backend.prepare(model)


def test_bitwise_ops_export_and_run_in_onnxruntime(tmp_path):
    import onnxruntime

    def f(a, b):
        return (a & b) | (a ^ ~b), (a > 0) & (b > 0)

    a = ts.tensor(np.array([[5, -3, 7]], dtype=np.int32))
    b = ts.tensor(np.array([[3, 6, -1]], dtype=np.int32))
    path = tmp_path / "bits.onnx"
    ts.onnx.export(f, (a, b), path, opset_version=18, input_names=["a", "b"])
    got = onnxruntime.InferenceSession(str(path)).run(None, {"a": a.numpy(), "b": b.numpy()})
    for g, w in zip(got, f(a, b)):
        np.testing.assert_array_equal(g, w.numpy())
    assert {"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "And"} <= {n.op_type for n in onnx.load(str(path)).graph.node}
    with pytest.raises(Exception, match="opset_version 18"):
        ts.onnx.export(f, (a, b), tmp_path / "old.onnx", opset_version=17)


def test_integer_resize_saturates_to_its_dtype():
    """Cubic overshoot near int32's limits stays inside int32 (as ONNX's reference saturates)."""
    from onnx.reference import ReferenceEvaluator
    node = helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.INT32, [1, 1, 1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
                              initializer=[onnx.numpy_helper.from_array(np.array([1, 1, 1, 2.5], np.float32), "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    x = np.array([[[[0, 2147483647, 0, 2147483647]]]], np.int32)
    got = backend.prepare(model).run([x]).y
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    assert got.dtype == np.int32 and got.max() == 2147483647  # the overshoot past it saturates
    np.testing.assert_array_equal(got, want)


def test_batch_normalization_of_a_1d_input_is_refused_by_name():
    """(The fuzzer's find: training-mode BatchNormalization indexed the channel dim of a 1-D input.)"""
    x = np.ones(3, np.float32)
    init = [onnx.numpy_helper.from_array(np.ones(3, np.float32), n) for n in ("s", "b", "m", "v")]
    for mode in (0, 1):
        node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"][:1 + 2 * mode],
                                training_mode=mode)
        graph = helper.make_graph([node], "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output],
                                  initializer=init)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
        with pytest.raises(RuntimeError, match=r"BatchNormalization: the input \[3\] needs a batch and a channel dim"):
            backend.prepare(model).run([x])


def test_attention_with_no_key_heads_is_refused_by_name():
    """(The fuzzer's find: K with 0 heads divided by zero in the grouped-query check.)"""
    node = helper.make_node("Attention", ["Q", "K", "V"], ["Y"])
    shapes = {"Q": [2, 3, 4, 8], "K": [2, 0, 6, 8], "V": [2, 3, 6, 8]}
    graph = helper.make_graph([node], "attn", [helper.make_tensor_value_info(k, TensorProto.FLOAT, s)
                                               for k, s in shapes.items()],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    with pytest.raises(RuntimeError, match="3 query heads are not a multiple of 0 key/value heads"):
        backend.prepare(model).run([np.ones(s, np.float32) for s in shapes.values()])


def test_opset8_scan_with_sequence_lens_of_another_batch_is_refused():
    """(The fuzzer's find: an opset-8 Scan read one length per batch entry from a shorter list.)"""
    body = helper.make_graph([helper.make_node("Add", ["s", "xi"], ["s2"])], "body",
                             [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("s", "xi")],
                             [helper.make_tensor_value_info("s2", TensorProto.FLOAT, [2])])
    node = helper.make_node("Scan", ["lens", "init", "x"], ["final"], num_scan_inputs=1, body=body)
    graph = helper.make_graph([node], "scan8", [helper.make_tensor_value_info("lens", TensorProto.INT32, [0]),
                                                helper.make_tensor_value_info("init", TensorProto.FLOAT, [1, 2]),
                                                helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2])],
                              [helper.make_tensor_value_info("final", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)])
    with pytest.raises(RuntimeError, match="Scan: sequence_lens has 0 lengths for a batch of 1"):
        backend.prepare(model).run([np.zeros(0, np.int32), np.ones((1, 2), np.float32), np.ones((1, 3, 2), np.float32)])


@pytest.mark.parametrize("op,ceil,include_pad", [("AveragePool", 1, 1), ("AveragePool", 0, 0), ("MaxPool", 1, 0),
                                                   ("LpPool", 0, 0)])
@pytest.mark.parametrize("dims", [2, 3])
def test_pooling_with_pads_beyond_half_the_window_matches_onnxruntime(op, ceil, include_pad, dims):
    """(The fuzzer's find, tests/fuzz/regressions/onnx_averagepool_big_kernel_wide_pads: a 65x35
    window with pads beyond half of it took one op per window position, 30 s under the sanitizers;
    the window is now reduced one dim at a time.)"""
    ort = pytest.importorskip("onnxruntime")
    kernel, pads, strides = [[9, 5, 3][:dims], [6, 4, 2][:dims] + [7, 3, 1][:dims], [1, 3, 2][:dims]]
    attrs = dict(kernel_shape=kernel, pads=pads, strides=strides)
    if op != "LpPool":
        attrs["ceil_mode"] = ceil
    if op == "AveragePool":
        attrs["count_include_pad"] = include_pad
    shape = [2, 3, 4, 6, 5][:2 + dims]
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = backend.prepare(model).run([x])[0]
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["ArgMin", "ArgMax"])
def test_arg_reduce_of_a_0d_input_with_select_last_index(op):
    """(The fuzzer's find, regressions/onnx_argmin_last_index_0d: flipping a 0-d tensor indexed an
    empty list.)"""
    node = helper.make_node(op, ["x"], ["y"], keepdims=1, select_last_index=1)
    graph = helper.make_graph([node], "arg", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    got = backend.prepare(model).run([np.array(2.5, np.float32)])[0]
    assert got.shape == () and int(got) == 0
    assert ts.flip(ts.tensor(2.5), [0]).item() == 2.5 and ts.flip(ts.tensor(2.5), [-1]).item() == 2.5
    with pytest.raises(IndexError):
        ts.flip(ts.tensor(2.5), [1])


def maxpool_with_indices_reference(x, kernel, pads, strides, dilations, ceil, column_major):
    """Every window visited position by position in row-major order, the first maximum kept (a NaN
    over any number; a pad is a -inf at its place outside the input, so a window of pads alone gives
    -inf): ONNX's MaxPool with Indices, written independently of tessera's."""
    S = len(kernel)
    out = []
    for d in range(S):
        span = x.shape[2 + d] + pads[d] + pads[d + S] - dilations[d] * (kernel[d] - 1) - 1
        n = (-(-span // strides[d]) if ceil else span // strides[d]) + 1
        if ceil and (n - 1) * strides[d] >= x.shape[2 + d] + pads[d]:
            n -= 1
        out.append(n)
    vals = np.full(x.shape[:2] + tuple(out), np.nan, x.dtype)
    idx = np.zeros(x.shape[:2] + tuple(out), np.int64)
    spatial = x.shape[2:]
    for nc in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out):
            best, where = None, None
            for k in np.ndindex(*kernel):
                pos = [o[d] * strides[d] + k[d] * dilations[d] - pads[d] for d in range(S)]
                outside = any(p < 0 or p >= spatial[d] for d, p in enumerate(pos))
                v = x.dtype.type(-np.inf) if outside else x[nc + tuple(pos)]
                if best is None or v > best or (np.isnan(v) and not np.isnan(best)):
                    best, where = v, pos
            order = range(S - 1, -1, -1) if column_major else range(S)
            flat = 0
            for d in order:
                flat = flat * spatial[d] + where[d]
            vals[nc + o] = best
            idx[nc + o] = (nc[0] * x.shape[1] + nc[1]) * int(np.prod(spatial)) + flat
    return vals, idx


def maxpool_with_indices_model(kernel, pads, strides, shape, ceil, storage_order, dilations=None,
                               dtype=TensorProto.FLOAT):
    attrs = dict(kernel_shape=kernel, pads=pads, strides=strides, ceil_mode=ceil, storage_order=storage_order)
    if dilations:
        attrs["dilations"] = dilations
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], **attrs)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", dtype, shape)],
                              [helper.make_tensor_value_info("y", dtype, None),
                               helper.make_tensor_value_info("i", TensorProto.INT64, None)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = 9
    return m


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("ceil", [0, 1])
def test_maxpool_with_indices_matches_onnxruntime_and_a_reference(storage_order, ceil):
    """MaxPool's Indices output is a separable max (along the last dim, then the one before, each
    keeping where its maximum came from): the fuzzer found a per-window-position loop taking 20-30 s
    under the sanitizers for a 5x21 window with pads far beyond it, and windows of thousands of taps
    (tests/fuzz/regressions/onnx_maxpool_indices_wide_pads). Checked against onnxruntime in 1-D, 2-D
    and 3-D, with dilations and with ties (the first maximum in row-major order wins), and against an
    independent position-by-position reference where onnxruntime refuses the pads (beyond half the
    window) and for NaN."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    x = rng.standard_normal([2, 3, 7, 6]).astype(np.float32)
    ties = rng.integers(-2, 3, [2, 3, 7, 6]).astype(np.float32)
    cases = [(x, [3, 2], [1, 0, 1, 1], [2, 1], None), (ties, [3, 3], [1, 1, 1, 1], [1, 2], None),
             (x, [2, 3], [1, 1, 0, 1], [1, 1], [2, 2]), (ties[:, :, 0], [4], [1, 2], [2], None),
             (rng.integers(-2, 3, [1, 2, 5, 4, 6]).astype(np.float32), [2, 3, 2], [1, 0, 1, 0, 1, 1], [2, 1, 2],
              None)]
    for data, kernel, pads, strides, dil in cases:
        m = maxpool_with_indices_model(kernel, pads, strides, list(data.shape), ceil, storage_order, dil)
        got = backend.prepare(m).run([data])
        want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": data})
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # Pads beyond half the window (onnxruntime refuses them), NaN, and a 3-D window: the reference.
    nan = x.copy()
    nan[0, 1, 2, 3] = nan[1, 2, 5, 0] = np.nan
    for data, kernel, pads, strides, dil in [(x, [5, 4], [4, 3, 5, 2], [1, 2], None), (nan, [3, 2], [1, 1, 1, 0],
                                             [1, 1], None), (ties, [2, 3], [3, 0, 1, 4], [3, 1], [2, 1]),
                                             (ties[:, :, None], [1, 5, 4], [0, 4, 3, 0, 5, 2], [1, 1, 2], None)]:
        m = maxpool_with_indices_model(kernel, pads, strides, list(data.shape), ceil, storage_order, dil)
        got = backend.prepare(m).run([data])
        want = maxpool_with_indices_reference(data, kernel, pads, strides, dil or [1] * len(kernel), ceil,
                                              storage_order == 1)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # The values train: each input's gradient of y.sum() is how many windows took it as their max.
    x_grad = ts.tensor(x, requires_grad=True)
    m = maxpool_with_indices_model([2, 3], [1, 1, 1, 1], [1, 2], list(x.shape), ceil, 0)
    y, i = ts.onnx.load(m).run([x_grad])
    y.sum().backward()
    hits = np.zeros(x.size)
    np.add.at(hits, i.numpy().ravel(), 1)
    np.testing.assert_array_equal(x_grad.grad.numpy().ravel(), hits)
    for shape in [[0, 2, 5, 6], [2, 0, 5, 6]]:  # no planes: empty outputs of the right shape
        m = maxpool_with_indices_model([2, 2], [1, 1, 1, 1], [1, 1], shape, ceil, storage_order)
        got = backend.prepare(m).run([np.zeros(shape, np.float32)])
        assert got[0].shape == got[1].shape == tuple(shape[:2]) + (6, 7)


@pytest.mark.parametrize("ceil,storage_order", [(0, 0), (1, 1)])
def test_maxpool_with_pads_far_beyond_the_input(ceil, storage_order):
    """Pads of ten times the input (the fuzzer's slowest inputs): only the windows that reach the
    input are computed, the others are -inf with their first tap's place as index; checked against
    the position-by-position reference, with and without Indices, strides over and under the
    window, dilations."""
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 4, [1, 2, 5, 5]).astype(np.float32)
    for kernel, pads, strides, dil in [([5, 5], [66, 37, 2, 45], [1, 1], None), ([3, 2], [20, 9, 31, 4], [4, 3], None),
                                       ([2, 3], [17, 12, 6, 25], [2, 1], [3, 2]), ([5, 5], [0, 40, 40, 0], [1, 1], None)]:
        m = maxpool_with_indices_model(kernel, pads, strides, list(x.shape), ceil, storage_order, dil)
        got = backend.prepare(m).run([x])
        want = maxpool_with_indices_reference(x, kernel, pads, strides, dil or [1, 1], ceil, storage_order == 1)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=kernel, pads=pads, strides=strides,
                                ceil_mode=ceil, **({"dilations": dil} if dil else {}))
        graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        values_only = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
        values_only.ir_version = 9
        np.testing.assert_array_equal(backend.prepare(values_only).run([x])[0], want[0])
