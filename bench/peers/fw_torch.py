"""PyTorch 2.x: eager, channels_last, and torch.compile (inductor's C++ backend on the CPU)."""
import torch

import torchlike
import workloads as W

NAME = "PyTorch"


def setup(threads):
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def version():
    return torch.__version__.split("+")[0]


def variants(workload):
    if workload == "cnn_train":  # bf16: channels_last under autocast("cpu", bfloat16)
        return ["eager", "channels_last", "compile", "bf16"]
    if W.spec(workload)["model"] in ("cnn", "resnet50", "mobilenet"):
        return ["eager", "channels_last", "compile"]
    return ["eager", "compile"]


def make(workload, variant, data, weights, data_dir):
    s = W.spec(workload)
    torch.manual_seed(0)
    model = torchlike.build(torch, s["model"], weights)
    cl = variant in ("channels_last", "bf16") or (variant == "compile" and s["model"] in ("cnn", "resnet50", "mobilenet"))
    compiled = torch.compile if variant == "compile" else None
    if s["kind"] == "train":
        return torchlike.train_step(torch, model, workload, data, channels_last=cl, compiled=compiled,
                                    bf16=variant == "bf16")
    return torchlike.infer_step(torch, model, data, channels_last=cl, compiled=compiled)
