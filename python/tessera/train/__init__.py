"""tessera.train: the Keras-style training loop over the C++ trainer.

    history = tessera.train.fit(model, train_loader, epochs=2, optimizer=opt,
                                validation=test_loader, callbacks=[tessera.train.progress_bar()])

`model` is a C++ layer or a tessera.nn.Module written in Python; the loop, the metrics and the
callbacks run in C++ with the GIL released (Python code is entered only for a Python model's
forward, a Python loss and Python callbacks).
"""
from .._tessera.train import (Trainer, checkpoint, csv_logger, early_stopping, evaluate, fit,  # noqa: F401
                               load_checkpoint, lr_scheduler, predict, progress_bar, save_checkpoint)


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
