"""tessera as an ONNX backend: the `onnx.backend.base.Backend` interface that ONNX's own
conformance runner (`onnx.backend.test`) and other tools drive, as `onnxruntime.backend` does.

    import onnx
    import tessera.onnx.backend as backend

    rep = backend.prepare(onnx.load("model.onnx"), device="CPU")
    outputs = rep.run([images])          # numpy arrays in, numpy arrays out (a named tuple)

The model runs on tessera.onnx.load's OnnxModel, without autograd. Needs the `onnx` package.
"""
import numpy as _np
import onnx as _onnx
from onnx.backend.base import Backend as _Backend
from onnx.backend.base import BackendRep as _BackendRep
from onnx.backend.base import namedtupledict as _namedtupledict

from .. import _tessera
from .. import no_grad as _no_grad
from . import load as _load

__all__ = ["TesseraBackend", "TesseraRep", "prepare", "run_model", "run_node", "supports_device"]


def _tessera_device(device):
    kind, _, index = str(device).upper().partition(":")
    if kind == "CPU":
        return "cpu"
    if kind == "CUDA":
        return f"cuda:{index or 0}"
    raise ValueError(f"tessera.onnx.backend: unknown device {device!r}; expected 'CPU' or 'CUDA[:index]'")


class TesseraRep(_BackendRep):
    """A prepared model: run(inputs) takes numpy arrays (a list in the graph's input order, a dict
    by input name, or one array; a list of arrays for an input of ONNX's sequence type) and returns
    the outputs as numpy arrays (lists of them for sequences) in a named tuple."""

    def __init__(self, model, device="CPU"):
        self.model = model
        self.device = _tessera_device(device)

    def run(self, inputs, **kwargs):
        names = self.model.input_names
        if isinstance(inputs, dict):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f"run: inputs {missing} of the model are not given (got {sorted(inputs)})")
            inputs = [inputs[n] for n in names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if len(inputs) != len(names):
            raise ValueError(f"run: the model takes {len(names)} inputs ({names}), got {len(inputs)}")
        xs = [[self._tensor(name, a) for a in x] if isinstance(x, list) else self._tensor(name, x)
              for name, x in zip(names, inputs)]
        with _no_grad():
            outs = self.model.run_values(xs)
        return _namedtupledict("Outputs", self.model.output_names)(
            *[[_to_numpy(t) for t in o] if isinstance(o, list) else _to_numpy(o) for o in outs])

    @staticmethod
    def _strings(name, a):
        """A numpy array of str or bytes (or objects that are) as an ONNX tensor of strings."""
        values = a.reshape(-1).tolist()
        for v in values:
            if not isinstance(v, (str, bytes)):
                raise TypeError(f"run: input '{name}' holds a {type(v).__name__}; object arrays must hold strings "
                                "(tessera runs numeric, bool and string tensors)")
        values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
        return _tessera._onnx.StringTensor(list(a.shape), values)

    def _tensor(self, name, x):
        """x (a numpy array, number or tensor) as a tessera tensor on the model's device."""
        if isinstance(x, _tessera.Tensor):
            return x.to(self.device)
        a = _np.asarray(x)
        if a.dtype.kind in "USO":  # strings (numpy's str, bytes and object arrays of them)
            return self._strings(name, a)
        if a.dtype.name == "bfloat16":  # ml_dtypes' bfloat16 (numpy has none): exact through float32
            return _tessera.from_numpy(a.astype(_np.float32)).to(_tessera.dtype.bfloat16).to(self.device)
        return _tessera.from_numpy(_np.require(a, requirements="C")).clone().to(self.device)


def _to_numpy(t):
    if isinstance(t, _tessera._onnx.StringTensor):
        return _np.array(t.values, dtype=object).reshape(t.shape)
    t = t.to("cpu")
    if t.dtype == _tessera.dtype.bfloat16:
        import ml_dtypes  # onnx's dependency

        return t.to(_tessera.dtype.float32).numpy().astype(ml_dtypes.bfloat16)
    return t.numpy()


class TesseraBackend(_Backend):
    """onnx.backend.base.Backend for tessera."""

    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        """model: an onnx.ModelProto, serialized bytes or a path. tessera checks the model itself
        (load raises tessera.onnx.OnnxError, a ValueError, for anything it does not run)."""
        return TesseraRep(_load(model), device)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, opset_version=None, **kwargs):
        """Runs one NodeProto on numpy inputs (in the order of node.input, '' entries skipped):
        builds a one-node model of the newest opset tessera reads (or opset_version)."""
        present = [n for n in node.input if n]
        if len(present) != len(inputs):
            raise ValueError(f"run_node: node {node.op_type} names {len(present)} inputs, got {len(inputs)} arrays")
        arrays = [_np.asarray(x) for x in inputs]
        graph_inputs = [_onnx.helper.make_tensor_value_info(n, _onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
                        for n, a in zip(present, arrays)]
        graph_outputs = [_onnx.helper.make_empty_tensor_value_info(n) for n in node.output if n]
        if outputs_info:
            graph_outputs = [_onnx.helper.make_tensor_value_info(n, _onnx.helper.np_dtype_to_tensor_dtype(_np.dtype(t)),
                                                                 s) for n, (t, s) in zip(node.output, outputs_info)]
        graph = _onnx.helper.make_graph([node], f"run_node_{node.op_type}", graph_inputs, graph_outputs)
        opset = opset_version or _tessera._onnx.max_import_opset
        model = _onnx.helper.make_model(graph, opset_imports=[_onnx.helper.make_opsetid("", opset)])
        model.ir_version = min(model.ir_version, _tessera._onnx.max_ir_version)
        return cls.prepare(model, device).run(arrays)

    @classmethod
    def supports_device(cls, device):
        kind = str(device).upper().partition(":")[0]
        if kind == "CPU":
            return True
        if kind == "CUDA":
            return bool(_tessera.cuda.is_available())
        return False


prepare = TesseraBackend.prepare
run_model = TesseraBackend.run_model
run_node = TesseraBackend.run_node
supports_device = TesseraBackend.supports_device
is_compatible = TesseraBackend.is_compatible
