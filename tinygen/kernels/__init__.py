"""Kernels: plain functions on arrays (no Tensors, no graph), one file per implementation.

    family   reference (cpu, and cuda)   fast on cpu         fast on cuda
    conv     conv_numpy.py               conv_numba.py       conv_cuda.py
    pool     pool_numpy.py               pool_numba.py       pool_cuda.py
    matmul   matmul_numpy.py             matmul_numba.py     matmul_cuda.py

The files of one family define the same functions with the same signatures, so that
`diff conv_numpy.py conv_numba.py` shows what the fast version changes. `implementation`
is the one dispatch: it picks the module from the device and the kernel setting
(tinygen.backend.kernel_mode(): env TINYGEN_KERNELS=reference|fast, or
`with tinygen.backend.use_kernels("reference"):`). The numpy reference is written against
`xp` (numpy or cupy, whichever holds the arrays), so `cuda` + reference runs the reference
code on the GPU's arrays.

    conv = implementation("conv", x_device)
    y = conv.conv2d(x, w, stride=(1, 1), padding=(1, 1), dilation=(1, 1))
"""
import importlib

from tinygen import backend

# numba's threads must not spin while BLAS runs: tinygen/runtime.py (imported with
# tinygen) sets OMP_WAIT_POLICY=PASSIVE for this.

FAMILIES = ("conv", "pool", "matmul")   # this file's table; other families follow the same rule
_SUFFIX = {("cpu", "reference"): "numpy", ("cpu", "fast"): "numba",
           ("cuda", "reference"): "numpy", ("cuda", "fast"): "cuda"}


def implementation(family, device, mode=None):
    """The kernel module of `family` for `device` ('cpu' | 'cuda') and `mode` (default: the setting)."""
    mode = backend.kernel_mode() if mode is None else mode
    if (device, mode) not in _SUFFIX:
        raise ValueError(f"no kernels for device {device!r} and mode {mode!r}")
    name = f"tinygen.kernels.{family}_{_SUFFIX[device, mode]}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise ValueError(f"unknown kernel family {family!r} (no module {name}); "
                         f"the families are {FAMILIES} and any other with a file here") from None
