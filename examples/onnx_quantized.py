# examples/onnx_quantized.py: a file quantized by onnxruntime (com.microsoft operators) in tessera.
import os
import numpy as np
import tessera as ts

wild = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "onnx", "wild")
model = ts.onnx.load(os.path.join(wild, "ort_quantized_qoperator.onnx"))
x = np.load(os.path.join(wild, "ort_quantized_qoperator_in.npz"))["x"]
probabilities = model.run([ts.tensor(x)])[0]
expected = np.load(os.path.join(wild, "ort_quantized_qoperator_out.npz"))["y"]  # onnxruntime's
np.testing.assert_allclose(probabilities.numpy(), expected, atol=1e-6)
print("classes:", probabilities.numpy().argmax(1))
