"""tessera.amp: automatic mixed precision, as torch.amp.

    with tessera.autocast("cpu"):                # bfloat16 on the CPU, float16 on CUDA by default
        logits = model(x)                        # convolutions, matmuls, linear: bfloat16
        loss = tessera.nn.functional.cross_entropy(logits, y)   # losses: float32
    loss.backward()                              # outside the region, as in PyTorch

    scaler = tessera.amp.GradScaler()            # float16: scale the loss so gradients do not underflow
    scaler.scale(loss).backward()
    scaler.step(opt)                             # skipped when a gradient is inf or NaN
    scaler.update()

Which ops run in which type follows torch.autocast's lists; `ops(device_type, policy)` lists them.
"""
import functools

from . import _tessera

_a = _tessera._amp
GradScaler = _a.GradScaler


class autocast:
    """A context manager (and decorator) under which ops on `device_type` ("cpu" or "cuda") run
    in mixed precision: torch.autocast's semantics. dtype: tessera.bfloat16 or tessera.float16
    (default: bfloat16 on the CPU, float16 on CUDA); enabled=False turns it off inside an
    enabled region; cache_enabled: parameters are cast once per outermost region."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=True):
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        self.device_type, self.fast_dtype = device_type, dtype if dtype is not None else _a.get_dtype(device_type)
        self._enabled, self._cache = bool(enabled), bool(cache_enabled)

    def __enter__(self):
        _a.push(self.device_type, self.fast_dtype, self._enabled, self._cache)
        return self

    def __exit__(self, *exc):
        _a.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self._enabled, self._cache):
                return fn(*args, **kwargs)
        return wrapped


def is_autocast_enabled(device_type="cpu"):
    """Whether autocast is on for ops on device_type in this thread."""
    return _a.is_enabled(device_type)


def get_autocast_dtype(device_type):
    """The low-precision type autocast uses on device_type."""
    return _a.get_dtype(device_type)


def ops(device_type, policy):
    """The ops autocast runs in the low type ("lower_precision"), in float32 ("float32") or in
    the widest operand type ("promote") on device_type."""
    return _a.ops(device_type, policy)


def policy(device_type, op):
    """What autocast does to op's operands on device_type: "lower_precision", "float32",
    "promote" or "none"."""
    return _a.policy(device_type, op)
