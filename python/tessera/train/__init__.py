"""tessera.train: the Keras-style training loop over the C++ trainer.

    history = tessera.train.fit(model, train_loader, epochs=2, optimizer=opt,
                                validation=test_loader, callbacks=[tessera.train.progress_bar()])

`model` is a C++ layer or a tessera.nn.Module written in Python; the loop, the metrics and the
callbacks run in C++ with the GIL released (Python code is entered only for a Python model's
forward, a Python loss and Python callbacks).
"""
from .. import _tessera as _C
from .._tessera.train import (Trainer, checkpoint, csv_logger, early_stopping, evaluate, fit,  # noqa: F401
                               load_checkpoint, predict, progress_bar, save_checkpoint, tensorboard)


class Callback:
    """Base class of callbacks written in Python. Override any of these; `trainer` has epoch,
    global_step, num_batches, optimizer and stop()."""

    def on_train_begin(self, trainer):
        pass

    def on_train_end(self, trainer, logs):
        pass

    def on_epoch_begin(self, trainer, epoch):
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        pass

    def on_batch_end(self, trainer, batch, logs):
        pass

    def on_interrupt(self, trainer):
        pass


class _StepScheduler(Callback):
    """Steps a scheduler written in Python (anything with step()) every epoch or batch."""

    def __init__(self, scheduler, per_batch):
        self.scheduler, self.per_batch = scheduler, per_batch

    def on_epoch_end(self, trainer, epoch, logs):
        if not self.per_batch:
            self.scheduler.step()

    def on_batch_end(self, trainer, batch, logs):
        if self.per_batch:
            self.scheduler.step()


def lr_scheduler(scheduler, per_batch=False):
    """A callback that steps scheduler every epoch (or every batch): the C++ schedules, or one
    written in Python such as LambdaLR."""
    if isinstance(scheduler, _C.LRScheduler):
        return _C.train.lr_scheduler(scheduler, per_batch)
    return _StepScheduler(scheduler, per_batch)
