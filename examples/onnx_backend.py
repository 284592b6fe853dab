# examples/onnx_backend.py: tessera as an ONNX backend (onnx.backend.base), beside onnxruntime's.
import numpy as np
import onnx
import onnxruntime.backend
import tessera.onnx.backend as backend
from onnx import TensorProto, helper

# A model built with onnx.helper: y = Softmax(x @ w + b)
w = onnx.numpy_helper.from_array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), "w")
b = onnx.numpy_helper.from_array(np.array([0.1, 0.0, -0.1], dtype=np.float32), "b")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["z"]),
     helper.make_node("Softmax", ["z"], ["y"], axis=-1)],
    "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], initializer=[w, b])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
rep = backend.prepare(model, device="CPU")      # tessera.onnx.OnnxError if tessera cannot run it
y = rep.run([x]).y                              # numpy in, numpy out (a named tuple)
reference = onnxruntime.backend.prepare(model, device="CPU").run([x])[0]
np.testing.assert_allclose(y, reference, rtol=1e-5)

# One node at a time, as onnx's own conformance cases do.
print(backend.run_node(helper.make_node("Relu", ["a"], ["r"]), [np.array([-1.0, 2.0], np.float32)]).r)
print("tessera and onnxruntime agree:", y.shape)
