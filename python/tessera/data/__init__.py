"""tessera.data: datasets and the DataLoader (torch.utils.data's names).

A dataset is any object with __len__ and __getitem__ returning an (input, target) pair of
tensors, numpy arrays or numbers: subclass Dataset in Python, or use the C++ ones
(TensorDataset, the file readers). DataLoader batches it with C++ worker threads; iterating
over the loader runs one epoch of (inputs, targets) batches.
"""
from .._tessera.data import (ConcatDataset, CppDataset, DataLoader, Subset, TensorDataset,  # noqa: F401
                              load_mnist, normalize, random_crop, random_horizontal_flip, random_split, read_cifar,
                              read_csv, read_idx, to_float)


class Dataset:
    """Base class of map-style datasets written in Python: define __len__ and __getitem__
    (returning (input, target)). Adding two datasets concatenates them."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def load_fashion_mnist(root="/usr/share/datasets/fashion-mnist", train=True):
    """Fashion-MNIST from its IDX files (the Debian package's location by default): images
    float32 [N, 1, 28, 28] in [0, 1], labels int64 [N]."""
    return load_mnist(root, train)
