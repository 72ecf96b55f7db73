"""Kernels: plain functions on arrays (no Tensors, no graph), one file per implementation.

    family   reference (cpu, and cuda)   fast on cpu         fast on cuda
    conv     conv_numpy.py               conv_numba.py       conv_cuda.py
    pool     pool_numpy.py               pool_numba.py       pool_cuda.py
    matmul   matmul_numpy.py             matmul_numba.py     matmul_cuda.py
    fused    fused_numpy.py              fused_numba.py      fused_cuda.py
    special  (none: NumPy has no erf)    special_numba.py    special_cuda.py
    scatter  scatter_numpy.py (cpu only)  (np.add.at is one)  scatter_cuda.py

special and scatter have one module per device, whatever the setting (ONE_PER_DEVICE).

Each family's function list is declared once, below (CONV, POOL, ...): every
implementation file defines exactly those functions, with the same parameters
(tests/test_kernels.py checks it), so that `diff conv_numpy.py conv_numba.py` lines up
function by function. What the families share lives in common.py (array module, output
sizes, GPU launch configuration, scratch buffers, chunking) and, for the numba conv files,
common_numba.py. A fast file with several algorithms for one op names each one
`<op>_<algorithm>` with the op's signature and picks among them in `choose_algorithm`
(conv_algorithms_numba.py; winograd_numba.py holds conv2d_winograd).

`implementation` is the one dispatch: every op reaches its kernels through it. It picks the
module from the device and the kernel setting (tinygen.settings.kernel_mode(): env
TINYGEN_KERNELS=reference|fast, or `with tinygen.settings.use_kernels("reference"):`). The
numpy reference is written against `xp` (numpy or cupy, whichever holds the arrays), so
`cuda` + reference runs the reference code on the GPU's arrays.

    conv = implementation("conv", x_device)
    y = conv.conv2d(x, w, stride=(1, 1), padding=(1, 1), dilation=(1, 1))

An op that has arrays rather than a device in hand (a kernel row of the elementwise table,
a reference kernel that scatters) names the device of its arrays, `device_of(x)`:

    implementation("scatter", device_of(target)).scatter_add(target, index, values)

`use_conv_algorithm(name)` (or env TINYGEN_CONV_ALGO=name) forces one of the conv
algorithms wherever it applies: the forcing thread's alone, while the kernel setting is the
process's (tinygen/settings.py, the home of both, says why).
"""
import importlib

import numpy as np

from tinygen import settings
# the conv algorithm setting (its home: tinygen/settings.py) by the names the docs first showed
from tinygen.settings import CONV_ALGORITHM_NAMES, conv_algorithm, use_conv_algorithm  # noqa: F401

CONV = ("conv2d", "conv_transpose2d", "conv2d_weight_grad", "im2col", "col2im")
POOL = ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")
MATMUL = ("matmul", "matmul_blocked")
FUSED = ("sigmoid", "bce_with_logits", "bce_with_logits_grad", "relu", "relu_grad", "batch_norm",
         "batch_norm_backward", "adam_step", "sgd_step", "arithmetic", "gated_tanh",
         "gated_tanh_grad")
# erf, erfc, lgamma, digamma, polygamma, erfinv by name: fast files only (NumPy has none of
# them; tests check special_numba.py against mpmath)
SPECIAL = ("apply",)
# target[index] += values, repeats summed in order: np.add.at on the cpu (NumPy's own loop is
# the fast one too), on a GPU its deterministic twin rather than cupyx's atomics
SCATTER = ("scatter_add",)
FAMILIES = {"conv": CONV, "pool": POOL, "matmul": MATMUL, "fused": FUSED, "special": SPECIAL,
            "scatter": SCATTER}

_SUFFIX = {("cpu", "reference"): "numpy", ("cpu", "fast"): "numba",
           ("cuda", "reference"): "numpy", ("cuda", "fast"): "cuda"}

# the families with one module per device, which serves both settings
ONE_PER_DEVICE = {"special": {"cpu": "numba", "cuda": "cuda"},
                  "scatter": {"cpu": "numpy", "cuda": "cuda"}}


def implementation(family, device, mode=None):
    """The kernel module of `family` for `device` ('cpu' | 'cuda') and `mode` (default: the setting)."""
    mode = settings.kernel_mode() if mode is None else mode
    module = _resolved.get((family, device, mode))   # every op's call: 0.31 -> 0.15 us
    if module is not None:
        return module
    if (device, mode) not in _SUFFIX:
        raise ValueError(f"no kernels for device {device!r} and mode {mode!r}")
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}: the families are {tuple(FAMILIES)}")
    suffix = ONE_PER_DEVICE[family][device] if family in ONE_PER_DEVICE else _SUFFIX[device, mode]
    module = _resolved[family, device, mode] = importlib.import_module(f"tinygen.kernels.{family}_{suffix}")
    return module


# (family, device, mode) -> the module implementation() found for it (a module is imported
# once per process, so the answer never changes)
_resolved = {}


def device_of(array):
    """The device whose kernels take `array`: 'cpu' for a NumPy array, 'cuda' for a CuPy one
    (tinygen.fake_cupy's in tests). The simulated cuda device holds NumPy arrays, so an op
    that dispatches on its arrays runs the cpu kernels there (special_cuda.py needs cupyx)."""
    return "cpu" if isinstance(array, np.ndarray) else "cuda"
