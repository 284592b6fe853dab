"""tessera.data (also importable as tessera.utils.data, torch.utils.data's path): datasets,
samplers and the DataLoader.

A dataset is any object with __len__ and __getitem__: subclass Dataset in Python, or use the C++
ones (TensorDataset, the file readers). Items may be (input, target) pairs, tuples of any length,
dicts, named tuples or nests of them, holding tensors, numpy arrays, numbers or strings; the
DataLoader stacks each leaf along a new first dim (a `[1]` item becomes `[B, 1]`, a number `[B]`)
and keeps strings as lists, as PyTorch's default_collate does. Batches are built by C++ worker
threads; iterating over the loader runs one epoch. Only (input, target) batches go to the trainer.
"""
from .._tessera import Generator as _Generator  # noqa: F401
from .._tessera.data import (CppDataset, TensorDataset, default_collate,  # noqa: F401
                              load_mnist, normalize, random_crop, random_horizontal_flip, read_cifar,
                              read_csv, read_idx, to_float)
from .._tessera import data as _C
from .._tessera.data import DataLoader as _CppDataLoader


class Dataset:
    """Base class of map-style datasets written in Python: define __len__ and __getitem__.
    Adding two datasets concatenates them."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class Subset(Dataset):
    """The items of dataset at indices (any dataset; over a C++ one the loader gathers whole
    batches in C++)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]
        self._cpp = _C.CppSubset(_cpp_of(dataset), self.indices) if _cpp_of(dataset) is not None else None

    def __getitem__(self, i):
        if isinstance(i, list):
            return [self.dataset[self.indices[j]] for j in i]
        return self.dataset[self.indices[i]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        self.cumulative_sizes, total = [], 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)
        parts = [_cpp_of(d) for d in self.datasets]
        self._cpp = _C.CppConcatDataset(parts) if all(p is not None for p in parts) else None

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, i):
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"ConcatDataset: index {i} is out of range for {n} items")
        k = next(k for k, c in enumerate(self.cumulative_sizes) if i < c)
        return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]


def _cpp_of(dataset):
    if isinstance(dataset, CppDataset):
        return dataset
    return getattr(dataset, "_cpp", None)


def random_split(dataset, lengths, generator=None, *, seed=None):
    """Disjoint random Subsets of the given lengths (summing to len(dataset)) or fractions (summing
    to 1), as torch.utils.data.random_split; the order comes from generator (or the default
    generator, which manual_seed sets) unless seed= gives it."""
    return [Subset(dataset, idx) for idx in _C.random_split_indices(len(dataset), lengths, generator, seed)]


class Sampler:
    """Base class of samplers: define __iter__ (the indices of one epoch) and __len__. A DataLoader
    given sampler= iterates it once per epoch."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class _CppSampler(Sampler):
    # The samplers below run in C++ (self._sampler); the loader uses that directly, and iterating
    # one from Python gives the next epoch's indices.
    _epoch = 0

    def _n(self):
        return len(self.data_source) if getattr(self, "data_source", None) is not None else 0

    def __iter__(self):
        epoch, self._epoch = self._epoch, self._epoch + 1
        return iter(self._sampler.indices(self._n(), epoch))

    def __len__(self):
        return self._sampler.size(self._n())


class SequentialSampler(_CppSampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source
        self._sampler = _C.CppSequentialSampler()


class RandomSampler(_CppSampler):
    """A new permutation each epoch; with replacement, num_samples uniform draws. The stream's seed
    comes from generator (or the default generator, which manual_seed sets)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement = data_source, replacement
        self._sampler = _C.CppRandomSampler(replacement, num_samples, generator)

    @property
    def num_samples(self):
        return len(self)


class SubsetRandomSampler(_CppSampler):
    """The given indices in a new random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices = [int(i) for i in indices]
        self._sampler = _C.CppSubsetRandomSampler(self.indices, generator)


class WeightedRandomSampler(_CppSampler):
    """num_samples indices drawn with probability proportional to weights."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        self.weights = [float(w) for w in (weights.tolist() if hasattr(weights, "tolist") else weights)]
        self.num_samples, self.replacement = int(num_samples), replacement
        self._sampler = _C.CppWeightedRandomSampler(self.weights, self.num_samples, replacement, generator)


class BatchSampler(Sampler):
    """A sampler's indices in lists of batch_size (the last shorter unless drop_last). Pass it as a
    DataLoader's batch_sampler=."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last
        self._sampler = _C.CppBatchSampler(sampler, batch_size, drop_last)

    def _n(self):
        return self.sampler._n() if isinstance(self.sampler, _CppSampler) else 0

    def __iter__(self):
        if isinstance(self.sampler, _CppSampler):
            epoch, self.sampler._epoch = self.sampler._epoch, self.sampler._epoch + 1
            return iter(self._sampler.batches(self._n(), epoch))
        return iter(self._sampler.batches(0, 0))

    def __len__(self):
        return self._sampler.size(self._n())


class IterableDataset(Dataset):
    """Base class of iterable-style datasets (streams): define __iter__. A DataLoader batches what it
    yields in order on the iterating thread (shuffle and samplers do not apply; num_workers is
    accepted and ignored, so get_worker_info() is None and nothing is duplicated across workers)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an iterable-style dataset: iterate over it")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


def _default_convert(item):
    """An unbatched item as PyTorch's default_convert gives it: numpy arrays become tensors, in any
    structure; everything else stays."""
    import numpy as np
    if isinstance(item, np.ndarray) and item.dtype.kind in "biuf":
        from .. import tensor
        return tensor(item)
    if isinstance(item, dict):
        return {k: _default_convert(v) for k, v in item.items()}
    if isinstance(item, tuple) and hasattr(item, "_fields"):
        return type(item)(*(_default_convert(v) for v in item))
    if isinstance(item, (list, tuple)):
        return type(item)(_default_convert(v) for v in item)
    return item


def get_worker_info():
    """None: tessera's loader workers are threads of this process, and iterable datasets are read on
    the iterating thread."""
    return None


class _IterableLoader:
    """What DataLoader is for an iterable-style dataset: batch_size items at a time, collated."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 **tessera_options):
        for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, but got "
                                 f"{name}={value!r}")
        if tessera_options:
            raise TypeError(f"DataLoader with IterableDataset: unexpected options {sorted(tessera_options)}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.collate_fn = collate_fn or (default_collate if batch_size is not None else _default_convert)
        self.num_workers, self.pin_memory = num_workers, pin_memory

    def __iter__(self):
        if self.batch_size is None:
            for item in self.dataset:
                yield self.collate_fn(item)
            return
        batch = []
        for item in self.dataset:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self):
        n = len(self.dataset)  # a TypeError, as in PyTorch, when the stream has no length
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DataLoader(_CppDataLoader):
    __doc__ = _CppDataLoader.__doc__

    def __new__(cls, dataset=None, *args, **kwargs):
        if isinstance(dataset, IterableDataset) or (
                hasattr(dataset, "__iter__") and not hasattr(dataset, "__getitem__")):
            return _IterableLoader(dataset, *args, **kwargs)
        return super().__new__(cls)


def load_fashion_mnist(root="/usr/share/datasets/fashion-mnist", train=True):
    """Fashion-MNIST from its IDX files (the Debian package's location by default): images
    float32 [N, 1, 28, 28] in [0, 1], labels int64 [N]."""
    return load_mnist(root, train)
