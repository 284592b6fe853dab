"""tessera, running the same model code as PyTorch (torchlike.py)."""
import tessera

import torchlike
import workloads as W

NAME = "tessera"


def setup(threads):
    tessera.set_num_threads(threads)


def version():
    return tessera.__version__


def variants(workload):
    # channels_last: the batch (and so every activation) channels last, as PyTorch's variant;
    # bf16: channels last under autocast to bfloat16 (AVX512-BF16 kernels), compared with
    # everyone's float32; session: tessera.inference.InferenceSession (folded, fused, blocked).
    if workload == "cnn_train":
        return ["eager", "channels_last", "bf16"]
    return ["eager", "session"] if W.spec(workload)["kind"] == "infer" else ["eager"]


def make(workload, variant, data, weights, data_dir):
    s = W.spec(workload)
    tessera.manual_seed(0)
    model = torchlike.build(tessera, s["model"], weights)
    if s["kind"] == "train":
        return torchlike.train_step(tessera, model, workload, data, channels_last=variant in ("channels_last", "bf16"),
                                    bf16=variant == "bf16")
    if variant == "session":
        model.eval()
        x = tessera.from_numpy(data["x"])
        session = tessera.inference.InferenceSession(model, x)
        return lambda: session(x).numpy()
    return torchlike.infer_step(tessera, model, data)
