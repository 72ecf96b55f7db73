"""Devices and array modules: the lowest layer of tinygen.

A tensor lives on a device:

    cpu   NumPy arrays; fast kernels are numba @njit functions.
    cuda  CuPy arrays; fast kernels are numba.cuda kernels launched on them.
          With NUMBA_ENABLE_CUDASIM=1 the cuda device is backed by NumPy arrays and the
          same numba.cuda kernels run in numba's CUDA simulator, so every GPU code path is
          testable on a machine without a GPU (slowly, on tiny shapes).

Because a simulated cuda array is a plain NumPy array, the device is stored on the Tensor,
never guessed from the array's type.

The kernel setting, which picks between the readable reference kernels (`*_numpy.py`) and
the fast ones (`*_numba.py` on cpu, `*_cuda.py` on cuda), lives in tinygen/settings.py with
the others; its names are importable from here too (tg.backend.use_kernels), where tinygen
first showed them.
"""
import functools
import os
import sys

import numpy as np

from tinygen.settings import KERNEL_MODES, kernel_mode, set_kernel_mode, use_kernels  # noqa: F401

DEVICES = ("cpu", "cuda")


class device(str):
    """tg.device('cpu' | 'cuda' | 'cuda:0'), or tg.device('cuda', 0): torch's device object.

    It is a str (the name as given, 'cuda:0' stays 'cuda:0'), so it compares equal to its
    string, hashes like it, and works wherever a device name worked before. `tensor.device`
    is one of the two devices a tensor can live on, `CPU` or `CUDA` below (tinygen drives one
    GPU, so 'cuda:0' names the same place as 'cuda'; normalize_device maps one to the other).
    """

    def __new__(cls, type, index=None):
        if isinstance(type, device) and index is None:
            return type
        name = str(type) if index is None else f"{type}:{int(index)}"
        kind, colon, number = name.partition(":")
        if kind not in DEVICES or (colon and not number.isdigit()):
            raise RuntimeError(f"invalid device string {name!r}: expected 'cpu', 'cuda' or "
                               f"'cuda:<index>'")
        return str.__new__(cls, name)

    @property
    def type(self):
        return str(self).partition(":")[0]

    @property
    def index(self):
        number = str(self).partition(":")[2]
        return int(number) if number else None

    def __repr__(self):
        index = self.index
        return f"device(type={self.type!r}" + ("" if index is None else f", index={index}") + ")"

    def __reduce__(self):  # copy/pickle as a device, not as a plain str
        return (device, (str(self),))


CPU = device("cpu")
CUDA = device("cuda")


def simulator_enabled():
    """True when numba's CUDA simulator stands in for a GPU (NUMBA_ENABLE_CUDASIM=1)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def driver_cuda_version():
    """(major, minor) of the CUDA version the installed NVIDIA driver supports, read from
    libcuda itself (cuDriverGetVersion), so it answers without CuPy; None without a driver."""
    import ctypes
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int()
        if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):   # no driver library here (or not Linux)
        return None
    return version.value // 1000, version.value % 1000 // 10


# The install extras (setup.py) by the CUDA major they are built for: the driver must support
# that major (CUDA 13: a 580+ driver; CUDA 12: 525+), a newer driver runs an older major.
GPU_EXTRAS = {13: ("gpu-cuda13", "cupy-cuda13x[ctk]", "numba-cuda[cu13]"),
              12: ("gpu", "cupy-cuda12x[ctk]", "numba-cuda[cu12]")}


def gpu_extra(driver=None):
    """(extra, cupy package, numba-cuda package) that fit a driver supporting CUDA `driver`
    ((major, minor); default: this machine's driver, CUDA 12's set when there is none)."""
    driver = driver_cuda_version() if driver is None else driver
    major = 12 if driver is None else driver[0]
    return GPU_EXTRAS[max(m for m in GPU_EXTRAS if m <= major)] if major >= 12 else GPU_EXTRAS[12]


def _install_hint():
    """A sentence naming the extra that fits this machine's driver."""
    driver = driver_cuda_version()
    extra = gpu_extra(driver)[0]
    if driver is None:
        return ("no NVIDIA driver found (libcuda.so.1); with one that supports CUDA 13 "
                "install the 'gpu-cuda13' extra, with CUDA 12 the 'gpu' extra")
    if driver[0] < 12:
        return (f"the driver supports CUDA {driver[0]}.{driver[1]}, older than either extra "
                f"needs (CUDA 12: a 525+ driver)")
    return (f"the driver supports CUDA {driver[0]}.{driver[1]}: install the '{extra}' extra: "
            f"pip install 'tinygen[{extra}]'")


def probe_gpu():
    """(cupy, None) when a real GPU works for tinygen, else (None, why not).

    It does what tinygen's first ops do, so a broken install fails here, not deep inside an
    op: CuPy imports and sees a device, a cuBLAS matmul runs (CuPy's CUDA libraries are
    there) and a numba.cuda kernel runs on a CuPy array (numba-cuda's PTX loads on this
    driver). A failure names the install extra that fits the driver found (gpu_extra). Under
    the simulator no real GPU is used, and the answer says so."""
    if simulator_enabled():
        return None, ("the cuda device is simulated (NUMBA_ENABLE_CUDASIM=1): numba's CUDA "
                      "simulator runs the GPU kernels on NumPy arrays; no real GPU is used")
    try:
        import cupy
    except Exception as e:  # ImportError, or a CuPy built for another CUDA
        return None, f"CuPy does not import ({type(e).__name__}: {e}); {_install_hint()}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver older than CuPy's CUDA
        return None, f"CuPy finds no usable CUDA driver ({type(e).__name__}: {e}); {_install_hint()}"
    if count < 1:
        return None, "CuPy finds no CUDA GPU (getDeviceCount() == 0)"
    extra, cupy_package, numba_package = gpu_extra()
    try:
        a = cupy.ones((8, 8), dtype=cupy.float32)
        if float((a @ a)[0, 0]) != 8.0:
            return None, "a cuBLAS matmul through CuPy gave a wrong result"
    except Exception as e:  # cuBLAS / NVRTC missing: CuPy without [ctk]
        return None, (f"a cuBLAS matmul through CuPy failed ({type(e).__name__}: {e}); "
                      f"CuPy's CUDA libraries come with {cupy_package} (the '{extra}' extra)")
    try:
        from numba import cuda

        @cuda.jit
        def add_one(x):
            i = cuda.grid(1)
            if i < x.size:
                x[i] += 1

        x = cupy.zeros(32, dtype=cupy.float32)
        add_one[1, 32](x)
        if float(x.sum()) != 32.0:
            return None, "a numba.cuda kernel on a CuPy array gave a wrong result"
    except Exception as e:  # numba-cuda missing, or PTX newer than the driver
        return None, (f"a numba.cuda kernel on a CuPy array failed ({type(e).__name__}: {e}); "
                      f"install {numba_package} (the '{extra}' extra), which links through "
                      f"nvJitLink for this driver")
    return cupy, None


_probed = functools.lru_cache(maxsize=None)(probe_gpu)   # once per process


def _cupy_or_none():
    return _probed()[0]


def fake_cupy_enabled():
    """True when the cuda device's arrays are tinygen.fake_cupy's strict stand-ins for CuPy
    (TINYGEN_FAKE_CUPY=1 with the simulator: tests only; see that module)."""
    return os.environ.get("TINYGEN_FAKE_CUPY", "0") == "1" and simulator_enabled()


def gpu_available():
    """True when CuPy, numba-cuda and a real CUDA GPU work together (probed once)."""
    return _cupy_or_none() is not None


def why_gpu_unavailable():
    """Why gpu_available() is False (a sentence), or None when it is True."""
    return _probed()[1]


def cuda_is_available():
    """True when the cuda device can be used: a real GPU, or the CUDA simulator."""
    return simulator_enabled() or gpu_available()


def normalize_device(name):
    """'cpu' | 'cuda' | 'cuda:0' (str or tg.device) -> the device object CPU or CUDA;
    anything else is a ValueError."""
    if name is None or name is CPU or name is CUDA:
        return CPU if name is None else name
    if str(name) in ("cpu", "cpu:0"):
        return CPU
    if str(name) not in ("cuda", "cuda:0"):
        raise ValueError(f"unknown device {name!r}: expected 'cpu', 'cuda' or 'cuda:0' "
                         f"(tinygen drives one GPU)")
    name = CUDA
    if not cuda_is_available():
        raise RuntimeError(
            f"device 'cuda' requested but no GPU is available ({why_gpu_unavailable()}); "
            f"or set NUMBA_ENABLE_CUDASIM=1 to run the GPU kernels in numba's simulator")
    return name


def array_module(device):
    """The array library (xp) that holds arrays on `device`: numpy or cupy."""
    if device == CPU:
        return np
    if simulator_enabled():
        if fake_cupy_enabled():
            from tinygen import fake_cupy
            return fake_cupy
        return np
    return _cupy_or_none()


def get_array_module(x):
    """The array library that holds the array x: numpy, cupy, or in tests tinygen.fake_cupy
    (the kernels' `xp = get_array_module(x)`; array_module(device) answers for a device)."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy
    fake = sys.modules.get("tinygen.fake_cupy")
    if fake is not None and isinstance(x, fake.ndarray):
        return fake
    return np


def to_device(array, device):
    """Copy `array` (numpy or cupy) into the array module of `device`."""
    xp = array_module(device)
    if xp is np:
        if hasattr(array, "get"):  # a cupy array
            return array.get()
        return np.asarray(array)
    return xp.asarray(array)


def to_numpy(array):
    """A NumPy view/copy of a numpy or cupy array."""
    if hasattr(array, "get") and not isinstance(array, np.ndarray):
        return array.get()
    return np.asarray(array)


def synchronize(device):
    """Wait for queued GPU work (for timing); a no-op on cpu and in the simulator."""
    if device == CUDA and (fake_cupy_enabled() or not simulator_enabled()):
        array_module(CUDA).cuda.Stream.null.synchronize()


def check_values(ok, error, dtype):
    """An input check (targets in range, probabilities in [0, 1], ...) without a host sync.

    ok: a bool array, True where the input is valid. On the host (a NumPy array) raise `error`
    (an exception, or a function making one) unless ok is all True; returns None. On a device, reading ok would cost a host sync per
    check, and CuPy has no device-side assert (torch's answer), so nothing is raised: returns
    an array of `dtype`, 0 where ok and NaN elsewhere, for the caller to add to its result.
    An invalid input on a GPU thus gives NaN, which the training loop's non-finite check
    reports at its next sync (tinygen/train/loop.py)."""
    if isinstance(ok, (np.ndarray, np.generic, bool)):
        if not bool(np.all(ok)):
            raise error() if callable(error) else error
        return None
    t = np.dtype(dtype).type
    return array_module(CUDA).where(ok, t(0), t(np.nan))
