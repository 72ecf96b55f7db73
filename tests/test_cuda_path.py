"""The GPU path without a GPU (issue 13): the availability probe, CuPy-only random draws,
the cuda stream in checkpoints, copies onto the device."""
import sys
import types

import numpy as np
import pytest

import tinygen as tg
from tinygen import backend


# ---- availability: tg.cuda.is_available() probes and says why not -----------------------
def test_why_unavailable_says_simulated_under_the_simulator():
    if not backend.simulator_enabled():
        pytest.skip("needs the CUDA simulator")
    assert tg.cuda.is_available()
    assert "simulat" in tg.cuda.why_unavailable()
    assert not backend.gpu_available()


def _fake_cupy(matmul_error=None):
    """A module shaped like CuPy whose one device's cuBLAS call raises `matmul_error`."""
    class Array:
        def __init__(self, a):
            self.a = a

        def __matmul__(self, other):
            raise matmul_error

    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), float32=np.float32,
                                 ones=lambda shape, dtype: Array(np.ones(shape, dtype)))


def test_probe_names_missing_cupy(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setitem(sys.modules, "cupy", None)   # import cupy -> ImportError
    cupy, why = backend.probe_gpu()
    assert cupy is None and "CuPy does not import" in why and "gpu" in why


def test_probe_names_a_failing_cublas_call(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(RuntimeError("libcublas.so.12: not found")))
    cupy, why = backend.probe_gpu()
    assert cupy is None and "cuBLAS" in why and "libcublas.so.12" in why and "[ctk]" in why


def test_probe_names_no_device(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    fake = _fake_cupy()
    fake.cuda.runtime.getDeviceCount = lambda: 0
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert backend.probe_gpu() == (None, "CuPy finds no CUDA GPU (getDeviceCount() == 0)")


def test_install_check_flags_cuda13_and_missing_libraries():
    sys.path.insert(0, "benchmarks")
    try:
        import check_install
    finally:
        sys.path.remove("benchmarks")
    good = {"cupy-cuda12x": "14.2.0", "nvidia-cublas-cu12": "12.9.2.10", "nvidia-curand-cu12": "10.3",
            "nvidia-cusolver-cu12": "11.7", "nvidia-cuda-nvrtc-cu12": "12.9", "numba-cuda": "0.30.4",
            "nvidia-nvjitlink-cu12": "12.9.86", "cuda-bindings": "12.9.10", "numpy": "2.4.6"}
    assert check_install.problems(good, "gpu") == []
    bad = dict(good, **{"cuda-bindings": "13.5.0"})
    del bad["nvidia-curand-cu12"]
    found = check_install.problems(bad, "gpu")
    assert any("cuda-bindings==13.5.0" in p for p in found) and "nvidia-curand-cu12 missing" in found
    assert check_install.problems({"cuda-bindings": "13.5.0", "numba-cuda": "0.30.4"}, "test")
