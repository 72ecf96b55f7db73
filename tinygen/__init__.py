"""tinygen: reverse-mode autodiff on NumPy, hand-written CPU/GPU kernels, generative models.

    import tinygen as tg
    x = tg.randn(3, requires_grad=True)
    (x * x).sum().backward()

Importing tinygen changes nothing outside it (no threads, environment or allocator settings:
see runtime.py); tinygen's own settings (kernels, conv algorithm, threads) are settings.py's.
The names below are torch's; their homes are tinygen/ops/*.py.
"""
from tinygen import backend, ops  # noqa: F401  (ops attaches Tensor's methods)
from tinygen.autograd import (  # noqa: F401
    Function, Tensor, detect_anomaly, enable_grad, grad, inference_mode, is_grad_enabled,
    no_grad, set_grad_enabled)
from tinygen.ops import (  # noqa: F401
    abs, acos, add, amax, amin, arange, argmax, argmin, as_tensor, asin, atan, atan2, bernoulli,
    bmm, cat, cdist, ceil, chunk, clamp, clip, concat, cos, cosh, cross, cumprod, cumsum, diag,
    diagonal, digamma, dist, div, dot, einsum, empty, empty_like, eq, erf, erfc, erfinv, exp,
    exp2, expand, expm1, eye, flatten, flip, floor, fmod, frac, from_numpy, full, full_like,
    gather, ge, gt, hstack, hypot, index_add, index_fill, index_select, is_floating_point,
    is_tensor, kron, kthvalue, le, lerp, lgamma, linspace, log, log10, log1p, log2, log_softmax,
    logsumexp, lt, manual_seed, masked_fill, masked_select, matmul, max, maximum, mean, median,
    min, minimum, mm, mode, movedim, mul, nan_to_num, narrow, ne, neg, norm, ones, ones_like,
    outer, pad, permute, polygamma, pow, prod, rand, rand_like, randint, randint_like, randn,
    randn_like, randperm, reciprocal, relu, remainder, repeat_interleave, reshape, roll, round,
    rsqrt, scatter, scatter_add, select, sigmoid, sign, sin, sinh, softmax, sort, split, sqrt,
    square, squeeze, stack, std, sub, sum, t, tan, tanh, tensor, tile, topk, trace, transpose,
    tril, triu, trunc, unbind, unflatten, unsqueeze, var, vstack, where, zeros, zeros_like)
from tinygen.ops import (  # noqa: F401  (issue 26)
    acosh, addbmm, addcdiv, addcmul, addmm, addmv, asinh, atanh, baddbmm, copysign, fmax, fmin,
    logit, sinc, xlogy, cummax, cummin, logcumsumexp, nanmean, nansum, std_mean, var_mean, det,
    inverse, logdet, slogdet, diag_embed, take_along_dim, logspace)
from tinygen.ops import (  # noqa: F401
    clamp_max, clamp_min, floor_divide, logaddexp, logaddexp2, meshgrid, ravel, swapaxes, swapdims)
from tinygen.ops.compare import (  # noqa: F401
    all, allclose, any, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, count_nonzero, equal,
    isclose, isfinite, isinf, isnan, logical_and, logical_not, logical_or, logical_xor)
from tinygen.ops.draws import (  # noqa: F401
    get_rng_state, initial_seed, multinomial, normal, seed, set_rng_state)
from tinygen.ops.indexing import nonzero  # noqa: F401
from tinygen.ops.methods import numel  # noqa: F401
from tinygen.ops.sort import argsort, unique  # noqa: F401
from tinygen.rng import Generator  # noqa: F401
from tinygen.settings import get_num_threads, set_num_threads  # noqa: F401  (and tg.settings)
from tinygen.serialization import load, save  # noqa: F401

# devices and dtypes as objects (see backend.device and autograd/tensor.py's DTYPE_OBJECTS)
from tinygen.backend import device  # noqa: F401
from tinygen.autograd.tensor import Size, get_default_dtype, set_default_dtype  # noqa: F401
from tinygen.autograd.legacy import (  # noqa: F401
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor,
    ShortTensor)
from tinygen.autograd.tensor import DTYPE_OBJECTS as _DTYPE_OBJECTS
from numpy import finfo, iinfo  # noqa: F401  (tg.finfo(tg.float32).eps, as torch's)
from numpy import dtype  # noqa: F401  (the class of tg.float32 and of t.dtype: isinstance(d, tg.dtype))

float32 = float = _DTYPE_OBJECTS["float32"]
float64 = double = _DTYPE_OBJECTS["float64"]
int64 = long = _DTYPE_OBJECTS["int64"]
int32 = int = _DTYPE_OBJECTS["int32"]
int16 = short = _DTYPE_OBJECTS["int16"]
int8 = _DTYPE_OBJECTS["int8"]
uint8 = _DTYPE_OBJECTS["uint8"]
bool = bool_ = _DTYPE_OBJECTS["bool"]  # tg.bool, as torch.bool (shadows the builtin here only)

__version__ = "0.1.0"


_SUBMODULES = ("nn", "optim", "distributions", "data", "models", "kernels", "cuda", "testing",
               "checkpoint", "eval", "accelerator", "utils")
_SUBMODULES += ("distributed", "linalg")   # tg.distributed (mpi4py itself only at init_process_group)
_SUBMODULES += ("runtime",)                # tg.runtime.configure()


def __getattr__(name):
    # tg.nn, tg.distributions, ... imported on first use: `import tinygen` stays light, and
    # tg.testing needs hypothesis, a test dependency
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"tinygen.{name}")
    raise AttributeError(f"module 'tinygen' has no attribute {name!r}")
