"""OpenVINO (CPU plugin, latency hint) on the ONNX graphs of onnx_models.py."""
import openvino as ov

import onnx_models

NAME = "OpenVINO"
_threads = 1


def setup(threads):
    global _threads
    _threads = threads


def version():
    return ov.__version__.split("-")[0]


def variants(workload):
    return ["default"] if workload.endswith(("_b1", "_b8")) else []


def make(workload, variant, data, weights, data_dir):
    core = ov.Core()
    model = core.read_model(onnx_models.path_for(data_dir, workload, weights, "ov"))
    # float32 as the others (on a CPU with AVX512-BF16 OpenVINO would compute in bfloat16 by default)
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": _threads, "PERFORMANCE_HINT": "LATENCY",
                                                 "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    x = data["x"]

    def step():
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()
    return step
