"""Activation functions beyond the ELEMENTWISE table, composed from differentiable ops (torch names).

    gelu(x)                x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2     (Hendrycks & Gimpel 2016)
    gelu(x, 'tanh')        x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2
    silu(x)                x sigmoid(x)                                       (a.k.a. swish)
    mish(x)                x tanh(softplus(x))                                (Misra 2019)
    hardtanh(x, lo, hi)    clamp(x, lo, hi);   relu6(x) = hardtanh(x, 0, 6)
    softsign(x)            x / (1 + |x|)
    prelu(x, w)            x for x > 0, w x otherwise; w (C,) per channel (dim 1) or (1,) shared
    selu(x)                scale elu(x, alpha), scale = 1.0507..., alpha = 1.6732... (Klambauer 2017)
    celu(x, alpha)         x for x > 0, alpha (e^(x / alpha) - 1) otherwise
    hardsigmoid(x)         relu6(x + 3) / 6;      hardswish(x) = x hardsigmoid(x)
    softmin(x, dim)        softmax(-x, dim)
    glu(x, dim)            a sigmoid(b), a and b the two halves of x along dim (Dauphin 2017)
    tanhshrink(x)          x - tanh(x)
    softshrink(x, l)       x - l above l, x + l below -l, 0 between
    hardshrink(x, l)       x where |x| > l, 0 elsewhere
    threshold(x, t, v)     x where x > t, v elsewhere

F.softmax, F.log_softmax and F.softmin also take torch's deprecated implicit dim.

Every one is composed of differentiable ops (Phi of erf from special.py), so every
activation here is twice differentiable.
"""
import math
import warnings

from tinygen.autograd.tensor import as_dtype
from tinygen.ops.elementwise import abs, clamp, elu, erf, sigmoid, softplus, tanh, where
from tinygen.ops.reduce import log_softmax, softmax
from tinygen.ops.rearrange import chunk
from tinygen.ops.shape import astype, reshape


def normal_cdf(x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF (Phi' = phi, through erf')."""
    return (erf(x * (1 / math.sqrt(2))) + 1) * 0.5


def gelu(input, approximate="none"):
    """Gaussian error linear unit, exact ('none') or with torch's tanh approximation ('tanh')."""
    if approximate == "none":
        return input * normal_cdf(input)
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2 / math.pi)
        return input * (tanh(inner) + 1) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input, inplace=False):
    """x sigmoid(x). inplace is accepted and ignored (tinygen computes out of place)."""
    return input * sigmoid(input)


def mish(input, inplace=False):
    """x tanh(softplus(x)). inplace is accepted and ignored."""
    return input * tanh(softplus(input))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val). inplace is accepted and ignored."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return clamp(input, min_val, max_val)


def relu6(input, inplace=False):
    """min(max(x, 0), 6). inplace is accepted and ignored."""
    return hardtanh(input, 0.0, 6.0)


def softsign(input):
    """x / (1 + |x|)."""
    return input / (abs(input) + 1)


def prelu(input, weight):
    """x for x > 0, weight x otherwise; weight (C,) acts along dim 1 (C = input.shape[1]),
    or weight (1,) on every element."""
    n = weight.numel()
    if n != 1:
        if input.ndim < 2 or input.shape[1] != n:
            raise ValueError(f"prelu: weight of {n} parameters for input of shape "
                             f"{tuple(input.shape)} (expected shape[1] == {n})")
        weight = reshape(weight, (n,) + (1,) * (input.ndim - 2))   # (C, 1, 1) for (N, C, H, W)
    elif weight.ndim:
        weight = reshape(weight, ())
    return where(input.array > 0, input, weight * input)



# SELU's constants (Klambauer et al. 2017), as torch's
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalizing constants. inplace is accepted and ignored."""
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise. inplace is accepted and ignored."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return elu(input * (1.0 / alpha), 1.0) * alpha


def hardsigmoid(input, inplace=False):
    """0 below -3, 1 above 3, x / 6 + 1/2 between. inplace is accepted and ignored."""
    return clamp(input * (1 / 6) + 0.5, 0.0, 1.0)


def hardswish(input, inplace=False):
    """x hardsigmoid(x) (Howard et al. 2019). inplace is accepted and ignored."""
    return input * hardsigmoid(input)


def implicit_softmax_dim(op, ndim):
    """torch's implicit dim for F.softmax(x) and its kin called without dim (deprecated, with
    torch's warning; 2017 scripts wrote `return F.log_softmax(x)`): 0 for 0-, 1- and 3-d
    inputs, else 1."""
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to "
                  f"include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def functional_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """F.softmax: softmax along dim, computed in dtype when given; dim may be left out (see
    implicit_softmax_dim), unlike torch.softmax's."""
    if dim is None:
        dim = implicit_softmax_dim("softmax", input.ndim)
    return softmax(input if dtype is None else astype(input, as_dtype(dtype)), dim)


def functional_log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """F.log_softmax: log_softmax along dim, as functional_softmax."""
    if dim is None:
        dim = implicit_softmax_dim("log_softmax", input.ndim)
    return log_softmax(input if dtype is None else astype(input, as_dtype(dtype)), dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along dim."""
    if dim is None:
        dim = implicit_softmax_dim("softmin", input.ndim)
    return softmax(-input if dtype is None else astype(-input, as_dtype(dtype)), dim)


def glu(input, dim=-1):
    """The gated linear unit: a * sigmoid(b) for the halves a, b of input along dim."""
    if input.ndim == 0 or input.shape[dim] % 2:
        raise ValueError(f"glu: dim {dim} of shape {tuple(input.shape)} must have an even size")
    a, b = chunk(input, 2, dim)
    return a * sigmoid(b)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - tanh(input)


def softshrink(input, lambd=0.5):
    """x - lambd for x > lambd, x + lambd for x < -lambd, 0 between: x - clamp(x, -lambd,
    lambd), so nan stays nan (as torch)."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    return input - clamp(input, -lambd, lambd)


def threshold(input, threshold, value, inplace=False):
    """value where x <= threshold, x elsewhere (nan stays nan), as
    torch.nn.functional.threshold. inplace is accepted and ignored."""
    return where(input.array <= threshold, value, input)


def hardshrink(input, lambd=0.5):
    """0 where -lambd <= x <= lambd, x elsewhere (nan stays nan, as torch)."""
    return where((input.array >= -lambd) & (input.array <= lambd), 0.0, input)
