"""tessera.multiprocessing and share_memory_: tensors shared between processes (fork and spawn),
Hogwild training of one model by two processes, and the errors."""
import multiprocessing as std_mp

import numpy as np
import pytest
import tessera as ts
import tessera.multiprocessing as mp


def _add_rank(rank, t):
    t[rank] += rank + 1  # in place: the parent sees it


def test_share_memory_keeps_values_and_views_in_place():
    t = ts.arange(12, dtype=ts.float32).reshape(3, 4)
    v = t[1]  # a view made before: it follows the storage
    assert not t.is_shared()
    assert t.share_memory_() is t
    assert t.is_shared() and v.is_shared()
    np.testing.assert_array_equal(t.numpy(), np.arange(12, dtype=np.float32).reshape(3, 4))
    v += 100
    assert t[1, 0].item() == 104
    t.share_memory_()  # already shared: nothing changes
    assert t.is_shared()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_write_a_shared_tensor(method):
    t = ts.zeros(3, 5)
    t.share_memory_()
    mp.spawn(_add_rank, args=(t,), nprocs=3, start_method=method)
    np.testing.assert_array_equal(t.numpy(), np.repeat(np.arange(1, 4, dtype=np.float32)[:, None], 5, 1))


def _fill_from_queue(q, done):
    t = q.get()
    t.fill_(7)
    done.put(t.is_shared())


def test_a_queue_moves_tensors_into_shared_memory():
    ctx = mp.get_context("spawn")
    q, done = ctx.Queue(), ctx.Queue()
    t = ts.ones(4)[1:]  # a view with an offset, not shared yet
    p = ctx.Process(target=_fill_from_queue, args=(q, done))
    p.start()
    q.put(t)
    assert done.get(timeout=60) is True
    p.join()
    assert p.exitcode == 0
    assert t.is_shared()
    np.testing.assert_array_equal(t.numpy(), [7, 7, 7])


def _hogwild(rank, model, x, y, steps):
    ts.manual_seed(rank)
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        ts.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_hogwild_trains_one_model_from_two_processes(method):
    """The official Hogwild example's shape: share_memory(), then processes that each run SGD on
    the same parameters; the parent's model has learnt (its loss fell) without stepping itself."""
    ts.manual_seed(0)
    model = ts.nn.Sequential(ts.nn.Linear(6, 16), ts.nn.ReLU(), ts.nn.Linear(16, 3))
    x = ts.randn(64, 6)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    before = ts.nn.functional.cross_entropy(model(x), y).item()
    model.share_memory()
    assert all(p.is_shared() for p in model.parameters())
    mp.spawn(_hogwild, args=(model, x, y, 40), nprocs=2, start_method=method)
    after = ts.nn.functional.cross_entropy(model(x), y).item()
    assert after < 0.6 * before, (before, after)


def _fail(rank):
    raise ValueError(f"rank {rank} says no")


def test_errors():
    with pytest.raises(mp.ProcessRaisedException, match="rank 0 says no"):
        mp.spawn(_fail, nprocs=1, start_method="fork")
    from multiprocessing.reduction import ForkingPickler  # what Queue, Pipe and spawn pickle with
    with pytest.raises(RuntimeError, match="non-leaf"):
        ForkingPickler.dumps(ts.ones(2, requires_grad=True) * 2)
    with pytest.raises(ValueError, match="not in shared memory"):
        ts.ones(2)._shared_location()
    with pytest.raises(OSError, match="cannot open"):
        ts._tessera._from_shared("/tessera_no_such_object", 8, 0, (2,), (1,), ts.float32)
    assert std_mp.Process is mp.Process  # the rest is Python's own
