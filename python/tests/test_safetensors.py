"""tessera's safetensors files against the reference `safetensors` package, both directions."""
import numpy as np
import pytest
import tessera as ts

st = pytest.importorskip("safetensors.numpy")


def test_reference_library_reads_what_tessera_writes(tmp_path):
    model = ts.nn.Sequential(ts.nn.Conv2d(1, 4, 3), ts.nn.ReLU(), ts.nn.Flatten(), ts.nn.Linear(4 * 26 * 26, 10))
    state = dict(model.state_dict())
    state["counts"] = ts.tensor([1, 2, 3])
    state["mask"] = ts.tensor([True, False])
    state["half"] = ts.tensor([1.5, -2.0], dtype=ts.float16)
    ts.save(state, tmp_path / "m.safetensors", {"epoch": "3"})
    loaded = st.load_file(str(tmp_path / "m.safetensors"))
    assert set(loaded) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(loaded[k], v.detach().numpy(), err_msg=k)
        assert loaded[k].dtype == v.detach().numpy().dtype


def test_tessera_reads_what_the_reference_library_writes(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"w": rng.standard_normal((3, 5)).astype(np.float32), "b": rng.standard_normal(7),
              "i": np.arange(6, dtype=np.int64).reshape(2, 3), "u": np.array([1, 255], dtype=np.uint8),
              "e": np.zeros((0, 4), dtype=np.float32)}
    st.save_file(arrays, str(tmp_path / "ref.safetensors"), metadata={"format": "np"})
    tensors, meta = ts.load_safetensors(str(tmp_path / "ref.safetensors"))
    assert meta == {"format": "np"}
    got = dict(tensors)
    for k, a in arrays.items():
        np.testing.assert_array_equal(got[k].numpy(), a, err_msg=k)


def test_corrupt_file_is_an_oserror(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(OSError, match="not valid JSON"):
        ts.load(p)


def test_torch_style_checkpoints_round_trip_and_resume_exactly(tmp_path):
    def make():
        ts.manual_seed(3)
        model = ts.nn.Sequential(ts.nn.Linear(4, 8), ts.nn.Tanh(), ts.nn.Linear(8, 2))
        return model, ts.optim.Adam(model.parameters(), lr=0.05)

    x, y = ts.randn(16, 4), ts.randint(0, 2, (16,))

    def steps(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            ts.cross_entropy(model(x), y).backward()
            opt.step()

    model, opt = make()
    steps(model, opt, 6)
    reference = [p.numpy().copy() for p in model.parameters()]

    model, opt = make()
    steps(model, opt, 3)
    ts.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "loss": 0.25,
             "tags": ("a", None, True)}, tmp_path / "ck.safetensors")
    ck = ts.load(tmp_path / "ck.safetensors")
    assert ck["epoch"] == 3 and ck["loss"] == 0.25 and ck["tags"] == ("a", None, True)
    assert sorted(ck["optimizer"]["state"]) == [0, 1, 2, 3] and ck["optimizer"]["state"][0]["step"] == 3
    model, opt = make()
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    steps(model, opt, 3)
    for a, b in zip(model.parameters(), reference):
        np.testing.assert_array_equal(a.numpy(), b)
    # The file stays a safetensors file: the reference reader sees the tensors by their path.
    assert "optimizer/state/0/exp_avg" in st.load_file(str(tmp_path / "ck.safetensors"))


def test_save_pickles_the_rest_and_load_is_safe_by_default(tmp_path):
    import io
    import pickle
    obj = {"a": {1, 2}, "b": {(1, 2): ts.ones(1)}, "t": ts.arange(3), "arr": np.arange(6, dtype=np.uint16).reshape(2, 3)}
    ts.save(obj, tmp_path / "x.safetensors")
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        ts.load(tmp_path / "x.safetensors")
    back = ts.load(tmp_path / "x.safetensors", weights_only=False)
    assert back["a"] == {1, 2} and back["b"][(1, 2)].tolist() == [1.0] and back["t"].tolist() == [0, 1, 2]
    assert back["arr"].dtype == np.uint16 and back["arr"].tolist() == [[0, 1, 2], [3, 4, 5]]
    safe = {"w": ts.ones(2), "meta": {"epoch": 3, "arr": np.ones(2, np.float32), "names": ("a", None)}}
    buf = io.BytesIO()
    ts.save(safe, buf)
    buf.seek(0)
    got = ts.load(buf)  # tensors, arrays, containers and plain values load by default
    assert got["meta"]["epoch"] == 3 and got["meta"]["names"] == ("a", None) and got["w"].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="cannot store the generator"):
        ts.save({"g": (i for i in range(3))}, tmp_path / "y.safetensors")
    with pytest.raises(TypeError, match="expected a path or a binary file object"):
        ts.save(safe, 3)
    opt = ts.optim.SGD([ts.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="state"):
        opt.load_state_dict({"param_groups": []})


def test_corrupt_checkpoint_metadata_is_an_oserror_naming_the_file(tmp_path):
    """Found by tests/fuzz/readers_fuzz.cpp: metadata of the wrong JSON type escaped as a JSON library error."""
    import json

    import safetensors
    import tessera.train as tr
    from safetensors.numpy import save_file

    m = ts.nn.Linear(3, 2)
    tr.save_checkpoint(str(tmp_path / "ok.safetensors"), m)
    with safetensors.safe_open(str(tmp_path / "ok.safetensors"), "np") as f:
        md, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = json.loads(md["tessera"])
    meta["extra"] = None
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={**md, "tessera": json.dumps(meta)})
    with pytest.raises(OSError, match="bad.safetensors: corrupt checkpoint metadata"):
        tr.load_checkpoint(str(tmp_path / "bad.safetensors"), m)


def test_size_of_a_zero_dim_tensor_is_an_index_error():
    with pytest.raises(IndexError, match="no dimensions"):
        ts.tensor(1.0).size(0)
