"""tessera.data, tessera.train and the GIL from Python: Python datasets through the C++ loader,
the trainer with Python models, losses and callbacks, checkpoints and exact resume."""
import gzip
import os
import struct
import sys
import threading

import numpy as np
import seeds
import pytest
import tessera as ts
from tessera import nn

RNG = seeds.rng()


class Squares(ts.data.Dataset):
    """x = [i, i^2] (numpy), y = i % 3 (a Python int)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], np.float32), i % 3


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_python_dataset_batches_every_example_once(workers):
    dl = ts.data.DataLoader(Squares(23), batch_size=5, shuffle=True, seed=7, num_workers=workers)
    assert len(dl) == 5
    seen = []
    for x, y in dl:
        assert x.dtype == ts.float32 and y.dtype == ts.int64 and x.shape[1:] == (2,)
        np.testing.assert_array_equal(x.numpy()[:, 1], x.numpy()[:, 0] ** 2)
        np.testing.assert_array_equal(y.numpy(), x.numpy()[:, 0].astype(np.int64) % 3)
        seen += x.numpy()[:, 0].astype(int).tolist()
    assert sorted(seen) == list(range(23))
    # The same seed gives the same order in a new loader; the next epoch reshuffles.
    again = [x.numpy()[:, 0].tolist() for x, _ in ts.data.DataLoader(Squares(23), batch_size=5, shuffle=True, seed=7)]
    assert sum(again, []) == seen
    second = sum((x.numpy()[:, 0].tolist() for x, _ in dl), [])
    assert second != seen and sorted(second) == list(range(23))


def test_drop_last_transform_and_len():
    dl = ts.data.DataLoader(Squares(23), batch_size=5, drop_last=True,
                            transform=lambda x, y: (x * 2, y + 10))
    batches = list(dl)
    assert len(dl) == 4 and len(batches) == 4
    x, y = batches[0]
    assert x.tolist()[1] == [2.0, 2.0] and y.tolist()[:3] == [10, 11, 12]


def test_cpp_datasets_and_splits():
    ds = ts.data.TensorDataset(ts.arange(10).float().reshape(10, 1), ts.arange(10))
    assert len(ds) == 10 and ds[3][1].item() == 3 and ds[-1][1].item() == 9
    with pytest.raises(IndexError):
        ds[10]
    sub = ts.data.Subset(ds, [4, 2])
    assert [sub[i][1].item() for i in range(2)] == [4, 2]
    both = ts.data.ConcatDataset([ds, Squares(4)])
    assert len(both) == 14 and both[12][1] == 2  # a Python dataset's items come back as they are
    x, y = next(iter(ts.data.DataLoader(ts.data.ConcatDataset([ds, ds]), batch_size=20)))
    assert x.shape == (20, 1) and y.tolist() == list(range(10)) * 2
    with pytest.raises(ValueError, match=r"Dataset\[10\]\[0\] has shape \[2\] but Dataset\[0\]\[0\] has shape \[1\]"):
        next(iter(ts.data.DataLoader(both, batch_size=14)))
    assert isinstance(sub, ts.data.Subset) and sub.dataset is ds and sub.indices == [4, 2]
    assert len(Squares(3) + Squares(4)) == 7
    a, b = ts.data.random_split(ds, [7, 3], seed=1)
    ids = sorted([a[i][1].item() for i in range(7)] + [b[i][1].item() for i in range(3)])
    assert ids == list(range(10))
    with pytest.raises(ValueError, match="random_split"):
        ts.data.random_split(ds, [5, 3])


def test_dataset_errors_reach_python():
    class Broken(ts.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            if i == 5:
                raise KeyError("record 5 is missing")
            return np.zeros(2, np.float32), 0

    with pytest.raises(KeyError, match="record 5"):
        for _ in ts.data.DataLoader(Broken(), batch_size=2, num_workers=2):
            pass

    class NotAPair(Broken):
        def __getitem__(self, i):
            return np.zeros(2, np.float32)

    x = next(iter(ts.data.DataLoader(NotAPair(), batch_size=2, num_workers=0)))  # any item structure batches
    assert x.shape == (2, 2)
    with pytest.raises(ValueError, match=r"trainer takes \(input, target\) batches"):
        ts.train.fit(ts.nn.Linear(2, 1), ts.data.DataLoader(NotAPair(), batch_size=2), epochs=1,
                     optimizer=ts.optim.SGD(ts.nn.Linear(2, 1).parameters(), lr=0.1))
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        ts.data.DataLoader(object())


def write_idx(path, array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(">u1" if code == 8 else ">f4").tobytes())


def test_file_readers(tmp_path):
    images = RNG.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = RNG.integers(0, 10, 5).astype(np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 8)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, 8)
    np.testing.assert_array_equal(ts.data.read_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz")).numpy(), images)
    ds = ts.data.load_mnist(str(tmp_path), train=False)
    x, y = ds[2]
    np.testing.assert_allclose(x.numpy()[0], images[2] / 255.0, rtol=1e-6)
    assert y.item() == labels[2]
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(OSError, match="bad"):
        ts.data.read_idx(str(tmp_path / "bad"))
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    csv = ts.data.read_csv(str(tmp_path / "d.csv"), label_column="label")
    assert len(csv) == 3 and csv[1][0].tolist() == [3.0, 4.0] and csv[1][1].item() == 1
    with pytest.raises(OSError, match="nope.csv"):
        ts.data.read_csv(str(tmp_path / "nope.csv"))
    rec = np.concatenate([[3], RNG.integers(0, 256, 3072)]).astype(np.uint8)
    (tmp_path / "c.bin").write_bytes(rec.tobytes() * 2)
    cifar = ts.data.read_cifar([str(tmp_path / "c.bin")])
    assert len(cifar) == 2 and cifar[1][1].item() == 3 and cifar[0][0].shape == (3, 32, 32)


def test_transforms():
    imgs = ts.tensor(RNG.integers(0, 256, (4, 3, 8, 8)).astype(np.uint8))
    f = ts.data.to_float(imgs)
    np.testing.assert_allclose(f.numpy(), imgs.numpy() / 255.0, rtol=1e-6)
    n = ts.data.normalize(f, [0.5, 0.4, 0.3], [0.2, 0.2, 0.2])
    np.testing.assert_allclose(n.numpy()[:, 1], (f.numpy()[:, 1] - 0.4) / 0.2, rtol=1e-5, atol=1e-6)
    assert ts.data.random_crop(f, 8, 2).shape == (4, 3, 8, 8)
    flipped = ts.data.random_horizontal_flip(f, p=1.0)
    np.testing.assert_array_equal(flipped.numpy(), f.numpy()[..., ::-1])


def test_ops_release_the_gil():
    """A long op on another thread lets this thread run Python meanwhile."""
    a = ts.randn(1500, 1500)
    started = threading.Event()

    def work():
        started.set()
        for _ in range(3):
            ts.matmul(a, a)

    old = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # without the release, this thread would wait for the whole op
    try:
        t = threading.Thread(target=work)
        t.start()
        started.wait()
        n = 0
        while t.is_alive():
            n += 1
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert n > 1000


# --- training ---------------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 16), nn.Linear(16, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x).tanh())


def blobs(n=200, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, n)
    x = (r.standard_normal((n, 2)) * 0.6 + np.where(y[:, None] == 1, 1.5, -1.5)).astype(np.float32)
    return ts.data.TensorDataset(ts.tensor(x), ts.tensor(y))


def test_fit_python_model_with_callbacks(tmp_path):
    ts.manual_seed(0)
    model = MLP()
    opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = ts.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)
    train = ts.data.DataLoader(blobs(), batch_size=20, shuffle=True, seed=3)
    val = ts.data.DataLoader(blobs(100, seed=1), batch_size=50)
    seen = []

    class Recorder(ts.train.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append((epoch, trainer.global_step, round(trainer.optimizer.lr, 6), dict(logs)))

    hist = ts.train.fit(model, train, epochs=3, optimizer=opt, loss=nn.CrossEntropyLoss(), validation=val,
                        metrics=["accuracy"],
                        callbacks=[ts.train.lr_scheduler(sched), ts.train.checkpoint(str(tmp_path / "run")),
                                   ts.train.csv_logger(str(tmp_path / "log.csv")), Recorder()])
    assert [s[:2] for s in seen] == [(0, 10), (1, 20), (2, 30)]
    assert seen[-1][2] == 0.0125  # stepped after each of the 3 epochs
    assert hist["epochs"][-1]["val_accuracy"] > 0.95 and not hist["stopped_early"]
    assert (tmp_path / "run" / "last.ckpt").exists() and (tmp_path / "run" / "model.safetensors").exists()
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 4
    logs = ts.train.evaluate(model, val)
    assert logs["accuracy"] > 0.95
    assert ts.train.predict(model, val).shape == (100, 2)
    weights = ts.load(tmp_path / "run" / "model.safetensors")
    assert set(weights) == set(model.state_dict())


def test_early_stopping_and_python_loss():
    model = MLP()
    opt = ts.optim.SGD(model.parameters(), lr=0.0)  # nothing improves
    dl = ts.data.DataLoader(blobs(40), batch_size=20)
    hist = ts.train.fit(model, dl, epochs=10, optimizer=opt, validation=dl,
                        loss=lambda out, y: ts.nn.functional.cross_entropy(out, y),
                        callbacks=[ts.train.early_stopping("val_loss", patience=2)])
    assert hist["stopped_early"] and len(hist["epochs"]) == 3


def test_fit_errors():
    model = MLP()
    dl = ts.data.DataLoader(blobs(40), batch_size=20)
    with pytest.raises(ValueError, match="optimizer"):
        ts.train.fit(model, dl)
    with pytest.raises(TypeError, match="DataLoader"):
        ts.train.fit(model, blobs(40), optimizer=ts.optim.SGD(model.parameters()))

    class Exploding(MLP):
        def forward(self, x):
            return super().forward(x) * float("nan")

    bad = Exploding()
    with pytest.raises(RuntimeError, match="epoch 1, step 1"):
        ts.train.fit(bad, dl, optimizer=ts.optim.SGD(bad.parameters()))


def train_epochs(model, opt, epochs, initial=0):
    dl = ts.data.DataLoader(blobs(), batch_size=20, shuffle=True, seed=5, num_workers=0)
    dl.set_epoch(initial)
    ts.train.fit(model, dl, epochs=epochs, optimizer=opt, initial_epoch=initial, metrics=[])


def test_checkpoint_resume_is_exact(tmp_path):
    ts.manual_seed(1)
    a = MLP()
    opt_a = ts.optim.Adam(a.parameters(), lr=1e-2)
    train_epochs(a, opt_a, 2)

    ts.manual_seed(1)
    b = MLP()
    opt_b = ts.optim.Adam(b.parameters(), lr=1e-2)
    train_epochs(b, opt_b, 1)
    ts.train.save_checkpoint(str(tmp_path / "c.ckpt"), b, opt_b, epoch=1, step=10, extra={"note": "half"})
    c = MLP()
    opt_c = ts.optim.Adam(c.parameters(), lr=1e-2)
    info = ts.train.load_checkpoint(str(tmp_path / "c.ckpt"), c, opt_c)
    assert info == {"epoch": 1, "step": 10, "extra": {"note": "half"}}
    train_epochs(c, opt_c, 2, initial=1)
    for (n, p), (_, q) in zip(a.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    with pytest.raises(OSError, match="missing.ckpt"):
        ts.train.load_checkpoint(str(tmp_path / "missing.ckpt"), c)


def test_zoo_models():
    m = ts.zoo.lenet5()
    assert m(ts.randn(2, 1, 28, 28)).shape == (2, 10) and m.num_parameters() == 61706
    assert "resnet50" in ts.zoo.names()
    assert ts.zoo.create("mlp", 1, 10)(ts.randn(3, 28 * 28)).shape == (3, 10)


@pytest.mark.skipif(not os.path.exists("/usr/share/datasets/fashion-mnist"), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_loads():
    test = ts.data.load_fashion_mnist(train=False)
    assert len(test) == 10000 and test[0][0].shape == (1, 28, 28)


class Items(ts.data.Dataset):
    def __init__(self, make):
        self.make = make

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.make(i)


@pytest.mark.parametrize("make,check", [
    # numbers of each kind, numpy scalars included
    (lambda i: (np.full((2, 3), i, np.float32), i), lambda x, y: y.dtype == ts.int64 and x.dtype == ts.float32),
    (lambda i: (np.full(2, i, np.float64), float(i) / 2), lambda x, y: y.dtype == ts.float32 and x.dtype == ts.float64),
    (lambda i: (np.full(2, i, np.uint8), np.int64(i)), lambda x, y: y.dtype == ts.int64 and x.dtype == ts.uint8),
    (lambda i: (np.full(2, i, np.int32), i % 2 == 0), lambda x, y: y.dtype == ts.bool_ and x.dtype == ts.int32),
    # tessera tensors and non-contiguous arrays (the general path)
    (lambda i: (ts.full((2,), float(i)), ts.tensor(i)), lambda x, y: y.dtype == ts.int64),
    (lambda i: (np.arange(6, dtype=np.float32).reshape(2, 3).T + i, i), lambda x, y: x.shape == (3, 3, 2)),
])
def test_batches_of_python_items_in_every_layout(make, check):
    for workers in (0, 2):
        x, y = next(iter(ts.data.DataLoader(Items(make), batch_size=3, num_workers=workers)))
        ref = [make(i) for i in range(3)]
        np.testing.assert_array_equal(x.numpy(), np.stack([np.asarray(r[0]) for r in ref]))
        np.testing.assert_array_equal(y.numpy(), np.array([np.asarray(r[1]) for r in ref]).astype(y.numpy().dtype))
        assert check(x, y)


def test_mixed_python_items_get_the_general_paths_errors():
    with pytest.raises(ValueError, match="stack"):
        list(ts.data.DataLoader(Items(lambda i: (np.zeros(i + 1, np.float32), 0)), batch_size=3, num_workers=0))
    with pytest.raises(TypeError, match="int16"):
        list(ts.data.DataLoader(Items(lambda i: (np.zeros(2, np.int16), 0)), batch_size=3, num_workers=0))


def test_collate_fn_gets_the_items_as_pytorch_does():
    class Records(ts.data.Dataset):  # items need not be pairs when a collate_fn assembles them
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {"x": np.full(3, i, np.float32), "label": i % 2}

    seen = []

    def collate(items):
        seen.append(len(items))
        return np.stack([it["x"] for it in items]), ts.tensor([it["label"] for it in items])

    for workers in (0, 2):
        batches = list(ts.data.DataLoader(Records(), batch_size=4, collate_fn=collate, num_workers=workers))
        assert [tuple(x.shape) for x, _ in batches] == [(4, 3), (4, 3), (2, 3)]
        assert batches[2][1].tolist() == [0, 1] and batches[1][0].numpy()[0, 0] == 4.0
    assert sorted(seen) == [2, 2, 4, 4, 4, 4]
    cpp = ts.data.TensorDataset(ts.arange(10.0).reshape(10, 1), ts.arange(10))
    x, y = next(iter(ts.data.DataLoader(cpp, batch_size=3, collate_fn=lambda items: (
        ts.stack([a for a, _ in items]) * 2, ts.stack([b for _, b in items])))))
    assert x.tolist() == [[0.0], [2.0], [4.0]] and y.tolist() == [0, 1, 2]
    # whatever collate_fn returns comes back (tensors and arrays as tensors), as in PyTorch
    assert next(iter(ts.data.DataLoader(Records(), batch_size=4, collate_fn=lambda items: 5, num_workers=0))) == 5
    out = next(iter(ts.data.DataLoader(Records(), batch_size=4, num_workers=0,
                                       collate_fn=lambda items: {"n": len(items), "x": np.zeros((len(items), 2))})))
    assert out["n"] == 4 and isinstance(out["x"], ts.Tensor) and out["x"].shape == (4, 2)
