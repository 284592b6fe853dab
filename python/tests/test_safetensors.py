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
