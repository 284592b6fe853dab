"""tessera.optim: the C++ optimizers. `params` is any iterable of tensors, or of parameter-group
dicts ({"params": [...], "lr": 1e-4}) as in torch.optim."""
from .._tessera import (SGD, Adadelta, Adagrad, Adam, AdamW, LBFGS, Optimizer, RMSprop, clip_grad_norm_,  # noqa: F401
                        clip_grad_value_)
from . import lr_scheduler  # noqa: F401
