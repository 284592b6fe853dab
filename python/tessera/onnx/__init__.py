"""ONNX export and import, with torch.onnx.export's signature:

    import tessera
    tessera.onnx.export(model, torch_like_example, "model.onnx",
                        input_names=["images"], output_names=["logits"], dynamic_batch=True)
    net = tessera.onnx.load("model.onnx")   # a module that runs the graph with tessera ops
    logits = net(images)

Export runs the model once on the example inputs (eval mode, restored afterwards; no autograd)
and writes the ops it ran as an ONNX graph (opset 17), with parameters and buffers as
initializers named by their state_dict keys. onnxruntime and other frameworks read the file.
"""
import os as _os

from .. import _tessera
from .._tessera import Tensor as _Tensor

OnnxModel = _tessera._onnx.OnnxModel
OPSET = _tessera._onnx.opset  # the default
MAX_OPSET = _tessera._onnx.max_opset  # the newest opset_version export writes

__all__ = ["export", "load", "OnnxModel", "OnnxError", "OPSET"]


def _flatten(out):
    if isinstance(out, _Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten(o)]
    raise TypeError(f"export: the model returned a {type(out).__name__}; expected tensors (or tuples, lists "
                    "and dicts of them)")


def _dynamic_from_axes(dynamic_axes, names):
    """torch's dynamic_axes, where tessera can honour it: dim 0 of inputs and outputs."""
    for name, axes in dynamic_axes.items():
        dims = list(axes.keys()) if isinstance(axes, dict) else list(axes)
        if dims != [0]:
            raise ValueError(f"export: dynamic_axes[{name!r}] = {axes!r}; tessera makes only dim 0 (the batch) "
                             "dynamic")
        if names is not None and name not in names:
            raise ValueError(f"export: dynamic_axes names {name!r}, which is not an input or output name")
    return bool(dynamic_axes)


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=None,
           dynamic_batch=False, doc_string="", **torch_only):
    """Writes model (a tessera.nn.Module, C++ layer, or any callable of tensors) run on args (a
    tensor or a tuple of them) to the ONNX file f. dynamic_batch=True (or torch's dynamic_axes
    naming dim 0) makes dim 0 of every input and output the symbolic "batch". Keyword arguments
    of torch.onnx.export that change nothing here (verbose, do_constant_folding,
    export_params=True, training=eval) are accepted."""
    for k, v in torch_only.items():
        if k in ("verbose", "do_constant_folding", "keep_initializers_as_inputs"):
            continue
        if k == "export_params" and v:
            continue
        raise TypeError(f"export: unsupported argument {k}={v!r}")
    if opset_version is not None and not OPSET <= opset_version <= MAX_OPSET:
        raise ValueError(f"export: tessera writes opsets {OPSET} to {MAX_OPSET}, not {opset_version}")
    if dynamic_axes:
        names = None if input_names is None and output_names is None else (input_names or []) + (output_names or [])
        dynamic_batch = _dynamic_from_axes(dynamic_axes, names) or dynamic_batch
    _traced(model, args, "export", lambda fn, inputs, params: _tessera._onnx.export(
        fn, inputs, params, _os.fspath(f), list(input_names or []), list(output_names or []), bool(dynamic_batch),
        doc_string, int(opset_version or OPSET)))


def _traced(model, args, what, run):
    """run(fn, inputs, params) for a model (a module or any callable of tensors) traced on args (a
    tensor or a tuple of them): fn returns its outputs as a list, params are its parameters and
    buffers; the model is in eval mode meanwhile (its mode is restored afterwards)."""
    inputs = list(args) if isinstance(args, (tuple, list)) else [args]
    for i, x in enumerate(inputs):
        if not isinstance(x, _Tensor):
            raise TypeError(f"{what}: example input {i} is a {type(x).__name__}, not a tessera.Tensor")
    params = []
    if hasattr(model, "named_parameters"):
        params = list(model.named_parameters()) + list(model.named_buffers())
    was_training = getattr(model, "training", None)
    if was_training is None and hasattr(model, "is_training"):
        was_training = model.is_training()
    if hasattr(model, "eval"):
        model.eval()
    try:
        return run(lambda xs: _flatten(model(*xs)), inputs, params)
    finally:
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)


OnnxError = _tessera._OnnxError  # every problem reading an ONNX file; a ValueError


def load(f):
    """Reads an ONNX model into an OnnxModel: call it like a module (one input) or use
    .run([inputs]) for several; its parameters train like any others. f is a path, an open binary
    file, the serialized bytes, or an onnx.ModelProto (as onnx.load accepts). Any problem with the
    model raises OnnxError (a ValueError) naming the file and, for an unsupported op, the node, the
    op and the opset."""
    if isinstance(f, (bytes, bytearray, memoryview)):
        return _tessera._onnx.load_bytes(bytes(f), "<bytes>")
    if hasattr(f, "SerializeToString"):  # an onnx.ModelProto
        return _tessera._onnx.load_bytes(f.SerializeToString(), f"<ModelProto {f.graph.name or 'graph'}>")
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"load: {f!r} was opened in text mode; open ONNX files with 'rb'")
        return _tessera._onnx.load_bytes(bytes(data), str(getattr(f, "name", "<file>")))
    return _tessera._onnx.load(_os.fspath(f))
