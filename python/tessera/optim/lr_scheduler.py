"""tessera.optim.lr_scheduler: learning-rate schedules (the C++ ones), stepped per epoch as in
torch.optim.lr_scheduler."""
from .._tessera import (CosineAnnealingLR, ExponentialLR, LinearWarmup, LRScheduler, MultiStepLR,  # noqa: F401
                        OneCycleLR, ReduceLROnPlateau, StepLR)
