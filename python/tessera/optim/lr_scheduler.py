"""tessera.optim.lr_scheduler: learning-rate schedules (the C++ ones), stepped per epoch as in
torch.optim.lr_scheduler."""
from .._tessera import (CosineAnnealingLR, ExponentialLR, LinearWarmup, LRScheduler, MultiStepLR,  # noqa: F401
                        OneCycleLR, ReduceLROnPlateau, StepLR)


class LambdaLR:
    """Each group's rate is its initial rate times lr_lambda(epoch) (a function, or one per group),
    as torch.optim.lr_scheduler.LambdaLR. Step it once per epoch (or per batch)."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = optimizer.param_groups
        self.optimizer = optimizer
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * len(groups)
        if len(self.lr_lambdas) != len(groups):
            raise ValueError(f"LambdaLR: {len(self.lr_lambdas)} lr_lambdas for {len(groups)} parameter groups")
        self.base_lrs = [g["lr"] for g in groups]
        self.last_epoch = last_epoch
        self.step()

    def step(self):
        self.last_epoch += 1
        for i, (base, f) in enumerate(zip(self.base_lrs, self.lr_lambdas)):
            self.optimizer.set_lr(base * f(self.last_epoch), i)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]


class MultiplicativeLR(LambdaLR):
    """Each step multiplies each group's rate by lr_lambda(epoch) (torch's MultiplicativeLR)."""

    def step(self):
        self.last_epoch += 1
        if self.last_epoch == 0:
            return
        for i, (g, f) in enumerate(zip(self.optimizer.param_groups, self.lr_lambdas)):
            self.optimizer.set_lr(g["lr"] * f(self.last_epoch), i)
