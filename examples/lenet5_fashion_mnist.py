# examples/lenet5_fashion_mnist.py: LeNet-5 on Fashion-MNIST from Python, notebook style.
import gzip
import time

import numpy as np
import tessera as ts
from tessera import nn

# --- the data: Debian's dataset-fashion-mnist package, IDX files read with numpy -------------
root = "/usr/share/datasets/fashion-mnist/"


def idx(name, offset):
    with gzip.open(root + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def images(name):
    x = idx(name, 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    return (x - 0.2860) / 0.3530


x_train, y_train = images("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
x_test, y_test = images("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
print("train", x_train.shape, "test", x_test.shape)

# --- the model, the optimizer ---------------------------------------------------------------------
ts.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                      nn.Linear(84, 10))
opt = ts.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
print(model)


def accuracy():
    model.eval()
    with ts.no_grad():
        hits = sum((model(ts.from_numpy(x_test[i:i + 1000])).argmax(1) == ts.from_numpy(y_test[i:i + 1000])).sum().item()
                   for i in range(0, len(x_test), 1000))
    model.train()
    return hits / len(x_test)


# --- training: 2 epochs of batch 64 -----------------------------------------------------------------
rng = np.random.default_rng(0)
for epoch in range(2):
    start, order = time.time(), rng.permutation(len(x_train))
    for i in range(0, len(order), 64):
        batch = order[i:i + 64]
        loss = ts.cross_entropy(model(ts.from_numpy(x_train[batch])), ts.from_numpy(y_train[batch]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {accuracy():.4f}, {time.time() - start:.1f}s")

ts.save(model.state_dict(), "lenet5.safetensors")
print("saved lenet5.safetensors")
