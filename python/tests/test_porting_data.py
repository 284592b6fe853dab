"""torch.utils.data as a ported script uses it: the module path, items of any structure, samplers,
random_split and generators; each checked against Debian's PyTorch 1.13 where it has the API."""
import collections

import numpy as np
import pytest
import tessera as ts
from tessera.utils import data as tdata

torch = pytest.importorskip("torch")
from torch.utils import data as pdata  # noqa: E402

Pair = collections.namedtuple("Pair", "a b")


def make_items(L):
    """The same dataset class written against either framework (only the import differs)."""
    class Records(L.utils.data.Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return {"img": np.full((2, 3), i, np.float32), "label": i % 3, "name": f"n{i}",
                    "scalar_arr": np.array([i * 0.5], np.float32), "pair": Pair(np.float64(i), [i, i + 1])}
    return Records()


def flatten(x, L):
    if isinstance(x, dict):
        return {k: flatten(v, L) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [flatten(v, L) for v in x]
    if isinstance(x, L.Tensor):
        return (tuple(x.shape), x.numpy().tolist())
    return x


@pytest.mark.parametrize("workers", [0, 2])
def test_dict_tuple_and_namedtuple_items_batch_as_default_collate(workers):
    ours = list(tdata.DataLoader(make_items(ts), batch_size=3, num_workers=workers))
    theirs = list(pdata.DataLoader(make_items(torch), batch_size=3))
    assert len(ours) == len(theirs) == 3
    for o, t in zip(ours, theirs):
        assert flatten(o, ts) == flatten(t, torch)
        assert isinstance(o["pair"], Pair) and o["name"] == t["name"]
        assert o["scalar_arr"].shape == (len(o["name"]), 1)  # a [1] item stacks to [B, 1]
        assert o["pair"].a.dtype == ts.float64 and o["label"].dtype == ts.int64


def test_tensor_dataset_of_any_number_of_tensors():
    a, b, c = np.arange(10.0, dtype=np.float32), np.arange(10), np.arange(20.0).reshape(10, 2)
    ours = tdata.TensorDataset(ts.tensor(a), ts.tensor(b), ts.tensor(c))
    theirs = pdata.TensorDataset(torch.tensor(a), torch.tensor(b), torch.tensor(c))
    assert len(ours) == 10 and [x.tolist() for x in ours[3]] == [x.tolist() for x in theirs[3]]
    for o, t in zip(tdata.DataLoader(ours, batch_size=4), pdata.DataLoader(theirs, batch_size=4)):
        assert [x.tolist() for x in o] == [x.tolist() for x in t]
    (x,) = next(iter(tdata.DataLoader(tdata.TensorDataset(ts.tensor(a)), batch_size=5)))
    assert x.tolist() == a[:5].tolist()
    with pytest.raises(ValueError, match="tensor 1"):
        tdata.TensorDataset(ts.ones(3), ts.ones(4))
    with pytest.raises(ValueError, match="trainer takes"):
        ts.train.fit(ts.nn.Linear(1, 1), tdata.DataLoader(ours, batch_size=4), epochs=1,
                     optimizer=ts.optim.SGD(ts.nn.Linear(1, 1).parameters(), lr=0.1))


def test_items_of_different_structure_are_named():
    class Ragged(tdata.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return (np.zeros(2), 1) if i < 2 else (np.zeros(2), 1, 2)

    with pytest.raises(ValueError, match=r"Dataset\[2\] has another length than Dataset\[0\]"):
        list(tdata.DataLoader(Ragged(), batch_size=4, num_workers=0))

    class Keys(tdata.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"x": 1} if i == 0 else {"y": 1}

    with pytest.raises(ValueError, match="other keys"):
        list(tdata.DataLoader(Keys(), batch_size=2, num_workers=0))

    class Objects(tdata.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return object()

    with pytest.raises(TypeError, match=r"Dataset\[0\] is a object"):
        list(tdata.DataLoader(Objects(), batch_size=2, num_workers=0))


def test_deterministic_samplers_equal_pytorchs():
    src = list(range(11))
    assert list(tdata.SequentialSampler(src)) == list(pdata.SequentialSampler(src))
    for bs, drop in [(3, False), (3, True), (4, False)]:
        ours = list(tdata.BatchSampler(tdata.SequentialSampler(src), bs, drop))
        assert ours == list(pdata.BatchSampler(pdata.SequentialSampler(src), bs, drop))
        assert len(tdata.BatchSampler(range(11), bs, drop)) == len(pdata.BatchSampler(range(11), bs, drop))
        assert list(tdata.BatchSampler(range(11), bs, drop)) == ours  # any iterable of indices


def test_random_samplers():
    ts.manual_seed(3)
    r = tdata.RandomSampler(range(20))
    e0, e1 = list(r), list(r)
    assert sorted(e0) == sorted(e1) == list(range(20)) and e0 != e1  # a new permutation each epoch
    ts.manual_seed(3)
    assert list(tdata.RandomSampler(range(20))) == e0  # follows manual_seed
    g = ts.Generator().manual_seed(5)
    assert list(tdata.RandomSampler(range(20), generator=g)) != list(tdata.RandomSampler(range(20), generator=g))
    drawn = list(tdata.RandomSampler(range(5), replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) <= set(range(5))
    assert len(list(tdata.RandomSampler(range(5), num_samples=12))) == 12
    sub = list(tdata.SubsetRandomSampler([2, 4, 6, 8]))
    assert sorted(sub) == [2, 4, 6, 8]
    w = list(tdata.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 400))
    counts = collections.Counter(w)
    assert set(counts) == {1, 3} and 0.15 < counts[1] / 400 < 0.35
    assert sorted(tdata.WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False)) == [0, 1, 2]
    with pytest.raises(ValueError, match="only 3 weights are positive"):
        tdata.WeightedRandomSampler([1, 1, 1, 0], 4, replacement=False)
    with pytest.raises(ValueError, match="batch_size"):
        tdata.BatchSampler(range(3), 0, False)


def test_loader_with_sampler_and_batch_sampler():
    ds = tdata.TensorDataset(ts.arange(10.0), ts.arange(10))
    got = [y.tolist() for _, y in tdata.DataLoader(ds, batch_size=4, sampler=tdata.SubsetRandomSampler([1, 3, 5]))]
    assert sorted(sum(got, [])) == [1, 3, 5]

    class EvensFirst(tdata.Sampler):  # a sampler written in Python
        def __iter__(self):
            return iter(list(range(0, 10, 2)) + list(range(1, 10, 2)))

        def __len__(self):
            return 10

    ys = [y.tolist() for _, y in tdata.DataLoader(ds, batch_size=5, sampler=EvensFirst())]
    assert ys == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]
    bs = [[9], [0, 1, 2], [5, 5]]
    loader = tdata.DataLoader(ds, batch_sampler=bs)
    assert len(loader) == 3 and [y.tolist() for _, y in loader] == bs
    with pytest.raises(ValueError, match="batch_sampler"):
        tdata.DataLoader(ds, batch_size=4, batch_sampler=bs)
    with pytest.raises(ValueError, match="shuffle"):
        tdata.DataLoader(ds, shuffle=True, sampler=EvensFirst())
    with pytest.raises(IndexError, match="sampler gave index 12"):
        list(tdata.DataLoader(ds, sampler=[12]))


def test_random_split_lengths_fractions_and_generator():
    for lengths in ([0.7, 0.3], [0.33, 0.33, 0.34], [0.5, 0.5]):
        ours = tdata.random_split(range(11), lengths, generator=ts.Generator().manual_seed(1))
        theirs = pdata.random_split(range(11), lengths, generator=torch.Generator().manual_seed(1))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(sum([list(s) for s in ours], [])) == list(range(11))  # items of any dataset
    a = [list(s) for s in tdata.random_split(range(11), [4, 7], generator=ts.Generator().manual_seed(9))]
    b = [list(s) for s in tdata.random_split(range(11), [4, 7], generator=ts.Generator().manual_seed(9))]
    assert a == b
    with pytest.raises(ValueError, match="sum to 1.2"):
        tdata.random_split(range(4), [0.6, 0.6])


def test_default_collate_and_shuffle_follow_manual_seed():
    x, y = tdata.default_collate([(np.ones(2, np.float32), 1), (np.zeros(2, np.float32), 2)])
    assert x.shape == (2, 2) and y.tolist() == [1, 2]
    ds = tdata.TensorDataset(ts.arange(20.0), ts.arange(20))
    ts.manual_seed(11)
    first = [y.tolist() for _, y in tdata.DataLoader(ds, batch_size=20, shuffle=True)]
    ts.manual_seed(11)
    again = [y.tolist() for _, y in tdata.DataLoader(ds, batch_size=20, shuffle=True)]
    assert first == again and first[0] != list(range(20))


def stream_class(L):
    class Stream(L.utils.data.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            for i in range(self.n):
                yield {"x": np.full(2, i, np.float32), "y": i}

        def __len__(self):
            return self.n
    return Stream


@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (None, False)])
def test_iterable_datasets_batch_as_pytorch(batch_size, drop_last):
    ours = tdata.DataLoader(stream_class(ts)(7), batch_size=batch_size, drop_last=drop_last)
    theirs = pdata.DataLoader(stream_class(torch)(7), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert flatten(o, ts) == flatten(t, torch)
    chained = list(tdata.DataLoader(stream_class(ts)(2) + stream_class(ts)(3), batch_size=5))
    assert chained[0]["y"].tolist() == [0, 1, 0, 1, 2]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        tdata.DataLoader(stream_class(ts)(7), shuffle=True)
    assert tdata.get_worker_info() is None
