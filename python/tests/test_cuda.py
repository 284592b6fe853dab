"""tessera.cuda: without a GPU every entry point says why; with one, the allocator statistics, and
tensors, streams, pinned memory and training on the device (also under the emulation harness,
TESSERA_EMULATE_CUDA=1, which checks the device plumbing without a GPU)."""
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
    if ts.cuda.is_emulated():
        pytest.skip("the emulated CUDA device is not a GPU")
    props = ts.cuda.get_device_properties(0)
    assert props["total_memory"] > 0 and props["name"] == ts.cuda.get_device_name(0)
    ts.cuda.reset_peak_memory_stats()
    stats = ts.cuda.memory_stats()
    assert stats["allocated_bytes"] == ts.cuda.memory_allocated()
    assert ts.cuda.max_memory_allocated() == stats["allocated_bytes"]
    ts.cuda.synchronize()


# --- tensors and models on CUDA: a GPU, or the emulated device (TESSERA_EMULATE_CUDA=1) -------------
import numpy as np  # noqa: E402

needs_cuda = pytest.mark.skipif(not ts.cuda.is_available(), reason="no CUDA device: " + ts.cuda.unavailable_reason())


@needs_cuda
def test_factories_transfers_and_printing_on_cuda():
    for make in (lambda: ts.zeros(2, 3, device="cuda"), lambda: ts.randn(2, 3, device="cuda:0"),
                 lambda: ts.arange(6, device=ts.device("cuda")).reshape(2, 3), lambda: ts.eye(3, device="cuda"),
                 lambda: ts.tensor([[1.0, 2.0]], device="cuda"), lambda: ts.full((2,), 7, device="cuda")):
        t = make()
        assert t.is_cuda and t.device == "cuda:0" and t.device.type == "cuda"
    x = ts.tensor(np.arange(12.0).reshape(3, 4))
    g = x.cuda()
    assert g.is_cuda and g.cpu().tolist() == x.tolist() and g.t().cpu().tolist() == x.t().tolist()
    assert g.tolist() == x.tolist()  # tolist copies to the host
    assert "device='cuda:0'" in repr(g)
    assert ts.zeros_like(g).device == "cuda:0" and g.new_ones(2).device == "cuda:0"
    with pytest.raises(TypeError, match="Use Tensor.cpu"):
        g.numpy()
    with pytest.raises(RuntimeError, match="same device"):
        x + g
    assert (g * ts.tensor(2.0)).is_cuda  # a 0-d CPU tensor is a scalar next to CUDA tensors, as in torch


@needs_cuda
def test_pinned_memory_non_blocking_and_default_device():
    p = ts.arange(100, dtype=ts.float32).pin_memory()
    assert p.is_pinned() and not ts.arange(3).is_pinned()
    g = p.to("cuda", non_blocking=True)
    back = g.to("cpu", non_blocking=True)
    ts.cuda.synchronize()
    assert back.tolist() == p.tolist()
    ts.set_default_device("cuda")
    try:
        assert ts.ones(2).is_cuda and ts.tensor([1, 2]).is_cuda and ts.get_default_device() == "cuda"
    finally:
        ts.set_default_device(None)
    assert not ts.ones(2).is_cuda


@needs_cuda
def test_same_seed_same_numbers_on_cpu_and_cuda():
    ts.manual_seed(3)
    a = ts.randn(500)
    ts.cuda.manual_seed(3)
    b = ts.randn(500, device="cuda")
    assert a.tolist() == b.tolist()


@needs_cuda
def test_streams_and_math_switches():
    s = ts.cuda.Stream()
    assert ts.cuda.current_stream() == ts.cuda.default_stream()
    with ts.cuda.stream(s):
        assert ts.cuda.current_stream() == s
        y = (ts.ones(8, device="cuda") * 3).sum()
        s.synchronize()
        assert y.item() == 24
    assert ts.cuda.current_stream() == ts.cuda.default_stream()
    assert ts.backends.cuda.matmul.allow_tf32 is False and ts.backends.cudnn.allow_tf32 is True
    ts.backends.cuda.matmul.allow_tf32 = True
    assert ts.backends.cuda.matmul.allow_tf32
    ts.backends.cuda.matmul.allow_tf32 = False
    ts.backends.cudnn.benchmark = False
    assert not ts.backends.cudnn.benchmark
    ts.backends.cudnn.benchmark = True


@needs_cuda
def test_python_model_trains_on_cuda_from_a_pinned_loader():
    class Net(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = ts.nn.Linear(2, 16), ts.nn.Linear(16, 2)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())

    ts.manual_seed(0)
    x = ts.randn(256, 2)
    y = (x[:, 0] * x[:, 1] > 0).long()
    loader = ts.data.DataLoader(ts.data.TensorDataset(x, y), batch_size=32, shuffle=True, pin_memory=True)
    model = Net().cuda()
    assert all(p.is_cuda for p in model.parameters())
    opt = ts.optim.Adam(model.parameters(), lr=0.05)
    h = ts.train.fit(model, loader, epochs=15, optimizer=opt)
    assert h["epochs"][-1]["accuracy"] > 0.9
    out = model(x.cuda())
    assert out.is_cuda and out.shape == (256, 2)
    for xb, yb in loader:
        assert xb.is_pinned() and not xb.is_cuda
        break
