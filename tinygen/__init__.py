"""tinygen: reverse-mode autodiff on NumPy, hand-written CPU/GPU kernels, generative models.

    import tinygen as tg
    x = tg.randn(3, requires_grad=True)
    (x * x).sum().backward()
"""
from tinygen import runtime  # first: thread and malloc settings, before NumPy loads
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

# NumPy is loaded now (perhaps before tinygen was): BLAS on one thread (see runtime.py)
if runtime.OWN_BLAS_THREADS:
    runtime.limit_blas_threads()

float32 = "float32"
float64 = "float64"
int64 = "int64"
bool_ = "bool"

__version__ = "0.1.0"


_SUBMODULES = ("nn", "optim", "distributions", "data", "models", "kernels", "cuda", "testing",
               "checkpoint", "eval")


def __getattr__(name):
    # tg.nn, tg.distributions, ... imported on first use: `import tinygen` stays light, and
    # tg.testing needs hypothesis, a test dependency
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"tinygen.{name}")
    raise AttributeError(f"module 'tinygen' has no attribute {name!r}")
