"""tessera.backends: the math libraries' switches, under torch.backends' names.

    tessera.backends.cuda.matmul.allow_tf32 = True   # float32 matmuls may use TF32 (default False)
    tessera.backends.cudnn.allow_tf32 = False        # float32 convolutions: full precision (default True)
    tessera.backends.cudnn.benchmark = False         # cuDNN's heuristic instead of timing (default True)
    tessera.backends.cudnn.deterministic = True      # deterministic convolution algorithms only (default False)
    tessera.backends.fused.enabled = False           # ops as the primitive ops they are made of (default True)
    tessera.backends.mkldnn.allow_winograd = False   # CPU float32 convolutions: direct only (default True)
"""
from . import _tessera

_b = _tessera._backends


class _Matmul:
    """torch.backends.cuda.matmul."""

    allow_tf32 = property(lambda self: _b.matmul_allow_tf32(), lambda self, on: _b.set_matmul_allow_tf32(bool(on)),
                          doc="Whether float32 matmuls on CUDA may round their inputs to TF32 (default False).")


class _Cuda:
    """torch.backends.cuda."""

    matmul = _Matmul()

    @staticmethod
    def is_built():
        """True when this build of tessera has the CUDA backend."""
        return _tessera.cuda.is_built()


def _refuse_cudnn_off():
    raise ValueError("tessera.backends.cudnn.enabled = False: tessera has no convolutions on CUDA without cuDNN")


class _Cudnn:
    """torch.backends.cudnn."""

    allow_tf32 = property(lambda self: _b.cudnn_allow_tf32(), lambda self, on: _b.set_cudnn_allow_tf32(bool(on)),
                          doc="Whether float32 convolutions may use TF32 (default True).")
    benchmark = property(lambda self: _b.cudnn_benchmark(), lambda self, on: _b.set_cudnn_benchmark(bool(on)),
                         doc="Whether cuDNN times its algorithms once per shape and keeps the fastest (default "
                             "True); False takes cuDNN's heuristic choice.")

    deterministic = property(lambda self: _b.cudnn_deterministic(),
                             lambda self, on: _b.set_cudnn_deterministic(bool(on)),
                             doc="Whether convolutions on CUDA use only the algorithms cuDNN reports deterministic "
                                 "(default False). (The CPU's kernels are deterministic for a given thread count.)")
    enabled = property(lambda self: True, lambda self, on: None if on else _refuse_cudnn_off(),
                       doc="True: cuDNN is how tessera runs convolutions on CUDA (it cannot be switched off).")

    @staticmethod
    def is_available():
        """True when cuDNN convolutions are available (a GPU answers and the CUDA backend is built)."""
        return _tessera.cuda.is_available() and not _tessera.cuda.is_emulated()


class _Fused:
    """The backends' fused kernels (like torch.backends.mkldnn.enabled for oneDNN's RNNs)."""

    enabled = property(lambda self: _b.fused_kernels_enabled(), lambda self, on: _b.set_fused_kernels_enabled(bool(on)),
                       doc="Whether ops use the backends' fused kernels where there is one (default True): the "
                           "recurrent layers (RNN, LSTM, GRU) on the CPU run oneDNN's RNN primitives. False runs "
                           "every op as the primitive ops it is made of, with the same results up to rounding: "
                           "for comparing the two, and for debugging.")


class _Mkldnn:
    """torch.backends.mkldnn: oneDNN, the CPU's math library."""

    __slots__ = ()  # a misspelt switch is an AttributeError, not a silently new attribute

    allow_winograd = property(lambda self: _b.cpu_winograd_enabled(),
                              lambda self, on: _b.set_cpu_winograd_enabled(bool(on)),
                              doc="Whether float32 3x3 convolutions of stride 1 on the CPU may use oneDNN's "
                                  "Winograd kernels where they are faster (at least 32 channels, enough output "
                                  "positions; default True). About half the time there, with relative errors of "
                                  "about 1e-6 instead of 1e-7, as cuDNN's Winograd algorithms on GPUs. False: "
                                  "direct convolution everywhere. Read when a convolution's primitives are made; "
                                  "an InferenceSession runs direct kernels either way.")
    winograd_available = property(lambda self: _b.cpu_winograd_available(),
                                  doc="Whether this CPU has oneDNN's Winograd kernels (they need AVX-512). "
                                      "Without them every convolution is direct, whatever allow_winograd says.")
    enabled = property(lambda self: _b.fused_kernels_enabled(),
                       lambda self, on: _b.set_fused_kernels_enabled(bool(on)),
                       doc="tessera.backends.fused.enabled under PyTorch's name: False runs the recurrent layers "
                           "as ops instead of oneDNN's fused kernels. (Convolutions and matmuls stay on oneDNN: "
                           "tessera has no other float32 kernels for them; allow_winograd = False keeps "
                           "convolutions direct.)")

    @staticmethod
    def is_available():
        """True: tessera is always built with oneDNN."""
        return True


cuda = _Cuda()
fused = _Fused()
cudnn = _Cudnn()
mkldnn = _Mkldnn()
