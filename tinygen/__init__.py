"""tinygen: reverse-mode autodiff on NumPy, hand-written CPU/GPU kernels, generative models.

    import tinygen as tg
    x = tg.randn(3, requires_grad=True)
    (x * x).sum().backward()
"""
from tinygen import backend, ops  # noqa: F401  (ops attaches Tensor's methods)
from tinygen.autograd import (  # noqa: F401
    Function, Tensor, detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad,
    set_grad_enabled)
from tinygen.ops import (  # noqa: F401
    abs, add, amax, amin, arange, argmax, bernoulli, cat, clamp, cos, div, empty, exp, expand,
    eye, flatten, full, full_like, linspace, log, log1p, log_softmax, logsumexp, manual_seed,
    matmul, max, maximum, mean, min, minimum, mul, ones, ones_like, pad, permute, pow, rand,
    rand_like, randint, randn, randn_like, randperm, relu, reshape, sigmoid, sin, softmax, sqrt,
    square, squeeze, stack, std, sub, sum, tanh, tensor, transpose, unsqueeze, var, where, zeros,
    zeros_like)
from tinygen.ops import empty_like, randint_like  # noqa: F401
from tinygen.autograd import inference_mode  # noqa: F401
from tinygen.ops import (  # noqa: F401  (issue 11 item 4: tensor ops)
    eq, gather, ge, gt, index_add, index_fill, index_select, le, lt, masked_fill, masked_select, ne,
    scatter, scatter_add)
from tinygen.ops.indexing import nonzero  # noqa: F401
from tinygen.ops import (  # noqa: F401
    argmin, chunk, cumprod, cumsum, dist, flip, kthvalue, median, narrow, norm, repeat_interleave,
    roll, select, sort, split, tile, topk, unbind)
from tinygen.ops.sort import argsort, unique  # noqa: F401
from tinygen.ops import (  # noqa: F401
    acos, asin, atan, bmm, clip, concat, cosh, diag, diagonal, dot, exp2, expm1, hstack, lerp, log2,
    log10, mm, movedim, nan_to_num, neg, outer, prod, reciprocal, rsqrt, sinh, t, tan, trace, tril,
    triu, unflatten, vstack)
from tinygen.ops import cdist, cross, einsum, kron, mode  # noqa: F401
from tinygen.ops.draws import (  # noqa: F401
    get_rng_state, initial_seed, multinomial, normal, seed, set_rng_state)
from tinygen.ops.compare import count_nonzero  # noqa: F401
from tinygen.ops.methods import numel  # noqa: F401
from tinygen.ops.special import (  # noqa: F401
    atan2, ceil, digamma, erf, erfc, erfinv, floor, fmod, frac, hypot, lgamma, polygamma, remainder,
    round, sign, trunc)
from tinygen.ops.compare import (  # noqa: F401
    all, allclose, any, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, equal, isclose, isfinite,
    isinf, isnan, logical_and, logical_not, logical_or, logical_xor)
from tinygen.runtime import get_num_threads, set_num_threads  # noqa: F401  (no side effects at import)

# devices and dtypes as objects (see backend.device and autograd/tensor.py's DTYPE_OBJECTS)
from tinygen.backend import device  # noqa: E402,F401
from tinygen.autograd.tensor import get_default_dtype, set_default_dtype  # noqa: E402,F401
from tinygen.autograd.legacy import (  # noqa: E402,F401
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor,
    ShortTensor)
from tinygen.rng import Generator  # noqa: E402,F401
from tinygen.serialization import load, save  # noqa: E402,F401
from tinygen.ops.factories import (  # noqa: E402,F401
    as_tensor, from_numpy, is_floating_point, is_tensor)
from tinygen.autograd.tensor import DTYPE_OBJECTS as _DTYPE_OBJECTS  # noqa: E402

float32 = float = _DTYPE_OBJECTS["float32"]
float64 = double = _DTYPE_OBJECTS["float64"]
int64 = long = _DTYPE_OBJECTS["int64"]
int32 = int = _DTYPE_OBJECTS["int32"]
int16 = short = _DTYPE_OBJECTS["int16"]
int8 = _DTYPE_OBJECTS["int8"]
uint8 = _DTYPE_OBJECTS["uint8"]
bool = bool_ = _DTYPE_OBJECTS["bool"]  # tg.bool, as torch.bool (shadows the builtin here only)
from numpy import finfo, iinfo  # noqa: E402,F401  (tg.finfo(tg.float32).eps, as torch's)

__version__ = "0.1.0"


_SUBMODULES = ("nn", "optim", "distributions", "data", "models", "kernels", "cuda", "testing",
               "checkpoint", "eval", "accelerator", "utils")
_SUBMODULES += ("distributed",)   # tg.distributed (mpi4py itself only at init_process_group)


def __getattr__(name):
    # tg.nn, tg.distributions, ... imported on first use: `import tinygen` stays light, and
    # tg.testing needs hypothesis, a test dependency
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"tinygen.{name}")
    raise AttributeError(f"module 'tinygen' has no attribute {name!r}")
