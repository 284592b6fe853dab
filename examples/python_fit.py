# examples/python_fit.py: datasets, DataLoader, fit with callbacks, and checkpoints from Python.
import tessera as ts
from tessera import nn

# C++ datasets from the Debian package's IDX files: images [1, 28, 28] in [0, 1], int64 labels.
train = ts.data.load_fashion_mnist(train=True)
test = ts.data.load_fashion_mnist(train=False)
train, _ = ts.data.random_split(train, [15000, 45000], seed=0)  # a quarter, to keep the example quick


class Jitter(ts.data.Dataset):
    """A Python dataset: __len__ and __getitem__ returning (input, target). The loader's C++
    worker threads call it (taking the GIL only for the call)."""

    def __init__(self, base, shift):
        self.base, self.shift = base, shift

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        dx = int(ts.randint(-self.shift, self.shift + 1, ()).item())
        return x.roll(dx, 2), y  # a random horizontal shift


def normalize(x, y):  # a batch transform, run by the workers
    return ts.data.normalize(x, [0.2860], [0.3530]), y


train_loader = ts.data.DataLoader(Jitter(train, 2), batch_size=64, shuffle=True, seed=1, num_workers=2,
                                  transform=normalize)
test_loader = ts.data.DataLoader(test, batch_size=1000, transform=normalize)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


ts.manual_seed(0)
model = Net()
opt = ts.optim.AdamW(model.parameters(), lr=2e-3)
sched = ts.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)


class PrintLR(ts.train.Callback):  # Python callbacks see the running trainer
    def on_epoch_end(self, trainer, epoch, logs):
        print(f"  after epoch {epoch + 1}: step {trainer.global_step}, lr {trainer.optimizer.lr:.5f}")


history = ts.train.fit(model, train_loader, epochs=2, optimizer=opt, loss=nn.CrossEntropyLoss(),
                       metrics=["accuracy"], validation=test_loader,
                       callbacks=[ts.train.progress_bar(), ts.train.lr_scheduler(sched),
                                  ts.train.checkpoint("runs/python_fit", monitor="val_accuracy"), PrintLR()])
print("history:", {k: round(v, 4) for k, v in history["epochs"][-1].items()})

# The best weights as a plain safetensors state dict, loadable anywhere.
best = Net()
best.load_state_dict(ts.load("runs/python_fit/model.safetensors"))
logs = ts.train.evaluate(best, test_loader)
print(f"best model: test accuracy {logs['accuracy']:.4f}")
assert logs["accuracy"] > 0.82

# Resume: the last checkpoint restores model, optimizer, scheduler and RNG state.
info = ts.train.load_checkpoint("runs/python_fit/last.ckpt", model, opt, sched)
print("resumable from epoch", info["epoch"], "step", info["step"])
