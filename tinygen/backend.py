"""Devices, array modules and the kernel setting: the lowest layer of tinygen.

A tensor lives on a device:

    cpu   NumPy arrays; fast kernels are numba @njit functions.
    cuda  CuPy arrays; fast kernels are numba.cuda kernels launched on them.
          With NUMBA_ENABLE_CUDASIM=1 the cuda device is backed by NumPy arrays and the
          same numba.cuda kernels run in numba's CUDA simulator, so every GPU code path is
          testable on a machine without a GPU (slowly, on tiny shapes).

Because a simulated cuda array is a plain NumPy array, the device is stored on the Tensor,
never guessed from the array's type.

The kernel setting picks between the readable reference kernels (`*_numpy.py`) and the
fast ones (`*_numba.py` on cpu, `*_cuda.py` on cuda): env TINYGEN_KERNELS=reference|fast,
or `with tg.backend.use_kernels("reference"): ...`. Default: fast.
"""
import contextlib
import functools
import os

import numpy as np

CPU = "cpu"
CUDA = "cuda"
DEVICES = (CPU, CUDA)
KERNEL_MODES = ("reference", "fast")


def simulator_enabled():
    """True when numba's CUDA simulator stands in for a GPU (NUMBA_ENABLE_CUDASIM=1)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


@functools.lru_cache(maxsize=None)
def _cupy_or_none():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:  # no cupy, no driver, no device: all mean "no real GPU"
        pass
    return None


def gpu_available():
    """True when CuPy and a real CUDA GPU are present."""
    return _cupy_or_none() is not None


def cuda_is_available():
    """True when the cuda device can be used: a real GPU, or the CUDA simulator."""
    return simulator_enabled() or gpu_available()


def normalize_device(device):
    """'cpu' | 'cuda' | 'cuda:0' -> 'cpu' | 'cuda'; anything else is a ValueError."""
    if device is None:
        return CPU
    name = str(device)
    if name in ("cuda:0",):
        name = CUDA
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    if name == CUDA and not cuda_is_available():
        raise RuntimeError(
            "device 'cuda' requested but no GPU is available: install the 'gpu' extra "
            "(cupy) on a machine with a CUDA GPU, or set NUMBA_ENABLE_CUDASIM=1 to run the "
            "GPU kernels in numba's simulator")
    return name


def array_module(device):
    """The array library (xp) that holds arrays on `device`: numpy or cupy."""
    if device == CPU or simulator_enabled():
        return np
    return _cupy_or_none()


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
    if device == CUDA and not simulator_enabled():
        _cupy_or_none().cuda.Stream.null.synchronize()


def scatter_add(xp, target, index, values):
    """target[index] += values with repeated indices summed (np.add.at for either module)."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)
    return target


# ---- kernel setting -----------------------------------------------------------------------

_kernel_mode = [os.environ.get("TINYGEN_KERNELS", "fast")]
if _kernel_mode[0] not in KERNEL_MODES:
    raise ValueError(f"TINYGEN_KERNELS={_kernel_mode[0]!r}: expected one of {KERNEL_MODES}")


def kernel_mode():
    """'reference' or 'fast': which kernel implementations the ops call."""
    return _kernel_mode[0]


def set_kernel_mode(mode):
    if mode not in KERNEL_MODES:
        raise ValueError(f"kernel mode {mode!r}: expected one of {KERNEL_MODES}")
    _kernel_mode[0] = mode


@contextlib.contextmanager
def use_kernels(mode):
    """Run the block on the 'reference' or the 'fast' kernels."""
    old = kernel_mode()
    set_kernel_mode(mode)
    try:
        yield
    finally:
        set_kernel_mode(old)
