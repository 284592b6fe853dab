"""tessera.utils: torch.utils' counterparts (tessera.utils.tensorboard)."""
from . import tensorboard  # noqa: F401
