"""tessera.nn.utils: torch.nn.utils' gradient clipping (the C++ functions of tessera.optim) and
the parameters <-> vector conversions."""
from .. import _tessera as _C
from ..optim import clip_grad_norm_, clip_grad_value_  # noqa: F401


def parameters_to_vector(parameters):
    """The parameters flattened into one 1-D tensor."""
    return _C.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of vec into the parameters (without recording gradients)."""
    offset = 0
    with __import__("tessera").no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec.narrow(0, offset, n).reshape(p.shape))
            offset += n
    if offset != vec.numel():
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements, the parameters {offset}")
