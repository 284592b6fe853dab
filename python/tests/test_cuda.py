"""tessera.cuda: without a GPU every entry point says why; with one, the allocator statistics."""
import pytest
import tessera as ts


def test_availability_is_reported_with_a_reason():
    if ts.cuda.is_available():
        assert ts.cuda.device_count() >= 1 and ts.cuda.unavailable_reason() == ""
        return
    why = ts.cuda.unavailable_reason()
    assert why and ts.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="not available"):
        ts.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="not available"):
        ts.cuda.memory_allocated()
    with pytest.raises(RuntimeError):
        ts.nn.Linear(2, 2).to("cuda:0")
    ts.cuda.empty_cache()  # nothing to release, no error
    assert issubclass(ts.cuda.OutOfMemoryError, RuntimeError)


def test_memory_statistics_on_a_gpu():
    if not ts.cuda.is_available():
        pytest.skip("no CUDA device: " + ts.cuda.unavailable_reason())
    props = ts.cuda.get_device_properties(0)
    assert props["total_memory"] > 0 and props["name"] == ts.cuda.get_device_name(0)
    ts.cuda.reset_peak_memory_stats()
    stats = ts.cuda.memory_stats()
    assert stats["allocated_bytes"] == ts.cuda.memory_allocated()
    assert ts.cuda.max_memory_allocated() == stats["allocated_bytes"]
    ts.cuda.synchronize()
