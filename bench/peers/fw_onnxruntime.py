"""onnxruntime (CPU execution provider, all graph optimizations) on the ONNX graphs of onnx_models.py."""
import onnxruntime as ort

import onnx_models

NAME = "onnxruntime"
_threads = 1


def setup(threads):
    global _threads
    _threads = threads


def version():
    return ort.__version__


def variants(workload):
    return ["default"] if workload.endswith(("_b1", "_b8")) else []


def make(workload, variant, data, weights, data_dir):
    so = ort.SessionOptions()
    so.intra_op_num_threads = _threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_models.path_for(data_dir, workload, weights, "ort"), so,
                                providers=["CPUExecutionProvider"])
    feed = {"input": data["x"]}
    return lambda: sess.run(["output"], feed)[0]
