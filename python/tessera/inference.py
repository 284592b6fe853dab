"""tessera.inference: a model prepared for inference, as an inference engine does it.

    session = tessera.inference.InferenceSession(model, example)   # a module (eval mode) or callable
    session = tessera.inference.InferenceSession("model.onnx")     # or an ONNX file
    logits = session(x)

The model is traced into a graph (ONNX's ops) once; batch norms are folded into the convolutions
before them, a ReLU and a residual Add (and the ReLU after it) run inside the convolution, the
weights are reordered once, and activations stay in oneDNN's blocked layout between
convolutions and poolings; convolutions are cut into pieces (batch entries, or output-channel
blocks at batch 1) that run on tessera's threads. The results are the model's own up to
float32 rounding. CPU, float32.
"""
import os as _os

from . import _tessera
from .onnx import _traced

__all__ = ["InferenceSession"]


class InferenceSession:
    """model: a path to an ONNX file, a tessera module (Python or C++) or any callable of tensors;
    example_inputs (a tensor or a tuple of them) for a module or callable. fuse=False runs the
    graph node by node without rewriting it (for comparison); profile=True times every step
    (see profile())."""

    def __init__(self, model, example_inputs=None, fuse=True, profile=False):
        if isinstance(model, (str, _os.PathLike)):
            if example_inputs is not None:
                raise TypeError("InferenceSession: an ONNX file takes no example inputs")
            self._s = _tessera._onnx.InferenceSession(_os.fspath(model), bool(fuse), bool(profile))
            return
        if example_inputs is None:
            raise TypeError("InferenceSession: a model needs example inputs to trace it on")
        self._s = _traced(model, example_inputs, "InferenceSession",
                          lambda fn, inputs, params: _tessera._onnx.InferenceSession(fn, inputs, params, bool(fuse),
                                                                                     bool(profile)))

    def run(self, inputs):
        """The outputs (a list) for a list of inputs."""
        return self._s.run(list(inputs))

    def __call__(self, *inputs):
        out = self._s.run(list(inputs))
        return out[0] if len(out) == 1 else tuple(out)

    def steps(self):
        """What runs, one entry per step: the ONNX op types it does ("Conv+BatchNormalization+Relu")."""
        return self._s.steps()

    def profile(self, reset=False):
        """Where the time went (a session made with profile=True): one (step, runs, seconds) per
        step, in steps()' order, summed over the runs since it was made or last reset."""
        return self._s.profile(bool(reset))
