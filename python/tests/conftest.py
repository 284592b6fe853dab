"""Fixtures shared by the Python suites.

`device` parameterizes a test by device: "cpu", and "cuda" where a GPU answers (or the emulation
harness, TESSERA_EMULATE_CUDA=1, for the device plumbing); without either the CUDA case skips
and says why. `on_device` also makes it tessera's default device, so every factory of the test
(ts.tensor, ts.zeros, ...) creates its tensors there.
"""
import pytest
import tessera as ts


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not ts.cuda.is_available():
        pytest.skip("no CUDA device: " + ts.cuda.unavailable_reason())
    return request.param


@pytest.fixture
def on_device(device):
    ts.set_default_device(device)
    yield device
    ts.set_default_device(None)


def pytest_report_header(config):
    import seeds
    return f"random inputs: TESSERA_TEST_SEED={seeds.SEED}"
