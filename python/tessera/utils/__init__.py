"""tessera.utils: torch.utils' counterparts (tessera.utils.data, tessera.utils.tensorboard)."""
from . import data, tensorboard  # noqa: F401
