"""Test setup shared by every test module.

- The cuda device runs in numba's CUDA simulator unless there is a real GPU (CuPy sees a
  device) or TINYGEN_REAL_GPU=1 asks for one (TINYGEN_REAL_GPU=0: the simulator anyway), so
  CI exercises every GPU kernel on the CPU, and a GPU machine tests its GPU. This must be set
  before numba is imported, hence here, at the top.
- Hypothesis: the 'ci' profile (derandomized, no deadline) is used when CI is set, 'dev'
  otherwise; choose with HYPOTHESIS_PROFILE.
- SIGINT is Python's KeyboardInterrupt for the whole session (below).
"""
import os
import signal


def _cupy_sees_a_gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy, no driver, no device
        return False


_real_gpu = os.environ.get("TINYGEN_REAL_GPU")
if _real_gpu is None:
    _real_gpu = "1" if _cupy_sees_a_gpu() else "0"
if _real_gpu != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config, items):
    from tinygen import backend
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU with CuPy")
    for item in items:
        if item.get_closest_marker("gpu"):   # the marker, not the word (a folder named gpu)
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _interactive_sigint():
    """SIGINT as a terminal delivers it, for the tests of Ctrl-C. A suite that a script starts
    in the background (`pytest &` in a shell without job control) inherits SIGINT ignored,
    which Python and the training loop leave ignored: those tests then failed (an interrupt
    that never came). Python's handler here, so the processes the tests start get the default."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    import tinygen as tg
    tg.manual_seed(0)
    yield
