"""tessera.optim: the C++ optimizers. `params` is any iterable of tensors, or of parameter-group
dicts ({"params": [...], "lr": 1e-4}) as in torch.optim. Optimizers pickle (and deepcopy) with
their groups, options and state; pickled together with their model they come back updating the
rebuilt model's parameters (tessera._pickle)."""
from .. import _pickle
from .._tessera import (SGD, Adadelta, Adagrad, Adam, AdamW, LBFGS, Optimizer, RMSprop, clip_grad_norm_,  # noqa: F401
                        clip_grad_value_)
from . import lr_scheduler  # noqa: F401


def _rebuild_optimizer(cls, args, kwargs, groups, keys, state, extra):
    opt = cls(groups, *args, **kwargs)
    opt.load_state_dict(state)
    for key in keys:  # a model rebuilt later in the same pickle rebinds these
        key.optimizers.append(opt)
    opt.__dict__.update(extra)
    return opt


def _reduce_optimizer(self, protocol=2):
    cls, args, kwargs = _pickle.recipe(self)
    if isinstance(self, LBFGS):
        raise TypeError("cannot pickle LBFGS: its search history is not part of its state_dict(); pickle the model "
                        "(or its state_dict()) and make a new LBFGS")
    groups = [dict(g.items()) for g in self.param_groups]
    keys = [_pickle.key_of(p) for g in groups for p in g["params"]]
    extra = {k: v for k, v in self.__dict__.items() if k != "_ctor"}
    return (_rebuild_optimizer, (cls, args, kwargs, groups, keys, self.state_dict(), extra))


Optimizer.__reduce_ex__ = _reduce_optimizer
for _cls in (SGD, Adadelta, Adagrad, Adam, AdamW, LBFGS, RMSprop):
    _pickle.record_construction(_cls, drop_params=True)
del _cls
