"""Rounding, special functions, trigonometry, and two-argument elementwise ops.

One table in the shape of elementwise.py's UNARY, name: (forward(xp, x), vjp(x, y, gy)):
rounding ops have a zero gradient (as torch: sign, floor, ceil, round, trunc), frac passes
it; erf, erfc, erfinv, lgamma, digamma come from kernels/special_numba.py on cpu (and on the
simulated cuda device) and from CuPy's cupyx.scipy.special on a real GPU. polygamma(n, x)
is the derivative of every one of them, so they differentiate to any order:

    erf'    = 2/sqrt(pi) e^(-x^2)        erfinv' = sqrt(pi)/2 e^(erfinv(x)^2)
    lgamma' = digamma                    digamma' = polygamma(1, .)    polygamma(n)' = polygamma(n + 1)

Binary ops (broadcasting, gradients summed back with unbroadcast):

    fmod(a, b)       = a - trunc(a / b) b      ga = gy    gb = -gy trunc(a / b)
    remainder(a, b)  = a - floor(a / b) b      ga = gy    gb = -gy floor(a / b)
    atan2(a, b)      angle of (b, a)           ga = gy b / (a^2 + b^2)   gb = -gy a / (a^2 + b^2)
                                               (both 0 at a = b = 0, as torch)
    hypot(a, b)      = sqrt(a^2 + b^2)         ga = gy a / y             gb = gy b / y

Composed of the ops above (so twice differentiable), with torch's values at the edges:

    sinc(x)             sin(pi x) / (pi x), 1 at x = 0 (gradient 0 there)
    logit(p, eps)       log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given
    xlogy(x, y)         x log y, 0 where x = 0 (y not nan): gx = log y (0 where x = 0), gy = x / y
    copysign(a, b)      |a| with b's sign bit: ga = gy sign(a) sign(b), none to b
    fmax(a, b), fmin    max/min ignoring a nan; ties send the gradient to a (torch's rule)
    addcmul(x, a, b, value)   x + value a b        addcdiv(x, a, b, value)   x + value a / b
"""
import math

import numpy as np

from tinygen import backend, kernels
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import as_tensor
from tinygen.ops.common import check_broadcast, constant
from tinygen.ops.elementwise import (Unary, _unary, abs, clamp, exp, log, log1p, rsqrt, sin, square,
                                     where)
from tinygen.ops.shape import unbroadcast


def _kernel(name, x, n=None):
    """The special-function kernel for x's array (numpy: numba ufuncs; cupy: cupyx)."""
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    return kernels.implementation("special", kernels.device_of(x)).apply(name, x, n)


def _zero(x, y, gy):
    return gy * 0.0


_C = 2 / math.sqrt(math.pi)    # erf'(0)


def _rounded_quotient(rounding, a, b):
    """trunc or floor of a / b, a constant of b's gradient in fmod and remainder."""
    xp = backend.array_module(a.device)
    return constant(a, getattr(xp, rounding)(a.array / b.array))


SPECIAL = {
    # name      forward(xp, x)                          vjp(x, y, gy)
    "sign":    (lambda xp, x: xp.sign(x),               _zero),
    "floor":   (lambda xp, x: xp.floor(x),              _zero),
    "ceil":    (lambda xp, x: xp.ceil(x),               _zero),
    "round":   (lambda xp, x: xp.round(x),              _zero),   # half to even, as torch
    "trunc":   (lambda xp, x: xp.trunc(x),              _zero),
    "frac":    (lambda xp, x: x - xp.trunc(x),          lambda x, y, gy: gy),
    "erf":     (lambda xp, x: _kernel("erf", x),        lambda x, y, gy: gy * _C * exp(-square(x))),
    "erfc":    (lambda xp, x: _kernel("erfc", x),       lambda x, y, gy: gy * -_C * exp(-square(x))),
    "erfinv":  (lambda xp, x: _kernel("erfinv", x),     lambda x, y, gy: gy / _C * exp(square(y))),
    "lgamma":  (lambda xp, x: _kernel("lgamma", x),     lambda x, y, gy: gy * digamma(x)),
    "digamma": (lambda xp, x: _kernel("digamma", x),    lambda x, y, gy: gy * polygamma(1, x)),
    # trigonometric and hyperbolic functions, logarithms and powers of other bases
    "tan":     (lambda xp, x: xp.tan(x),                lambda x, y, gy: gy * (1 + square(y))),
    "asin":    (lambda xp, x: xp.arcsin(x),             lambda x, y, gy: gy * rsqrt(1 - square(x))),
    "acos":    (lambda xp, x: xp.arccos(x),             lambda x, y, gy: -gy * rsqrt(1 - square(x))),
    "atan":    (lambda xp, x: xp.arctan(x),             lambda x, y, gy: gy / (1 + square(x))),
    "sinh":    (lambda xp, x: xp.sinh(x),               lambda x, y, gy: gy * cosh(x)),
    "cosh":    (lambda xp, x: xp.cosh(x),               lambda x, y, gy: gy * sinh(x)),
    "asinh":   (lambda xp, x: xp.arcsinh(x),            lambda x, y, gy: gy * rsqrt(square(x) + 1)),
    "acosh":   (lambda xp, x: xp.arccosh(x),            lambda x, y, gy: gy * rsqrt(square(x) - 1)),
    "atanh":   (lambda xp, x: xp.arctanh(x),            lambda x, y, gy: gy / (1 - square(x))),
    "exp2":    (lambda xp, x: xp.exp2(x),               lambda x, y, gy: gy * y * math.log(2)),
    "log2":    (lambda xp, x: xp.log2(x),               lambda x, y, gy: gy / (x * math.log(2))),
    "log10":   (lambda xp, x: xp.log10(x),              lambda x, y, gy: gy / (x * math.log(10))),
    "reciprocal": (lambda xp, x: 1 / x,                 lambda x, y, gy: -gy * square(y)),
}


class Special(Unary):
    """One row of the SPECIAL table as a graph node."""

    table = SPECIAL


def _special(op):
    return _unary(op, Special)


sign = _special("sign")
floor = _special("floor")
ceil = _special("ceil")
trunc = _special("trunc")
frac = _special("frac")
erf = _special("erf")
erfc = _special("erfc")
erfinv = _special("erfinv")
lgamma = _special("lgamma")
digamma = _special("digamma")
_round = _special("round")
tan = _special("tan")
asin = _special("asin")
acos = _special("acos")
atan = _special("atan")
sinh = _special("sinh")
cosh = _special("cosh")
asinh = _special("asinh")
acosh = _special("acosh")
atanh = _special("atanh")
exp2 = _special("exp2")
log2 = _special("log2")
log10 = _special("log10")
reciprocal = _special("reciprocal")


def round(input, decimals=0):
    """Round half to even; with decimals, to that many decimal places (zero gradient)."""
    if decimals == 0:
        return _round(input)
    scale = 10.0 ** decimals
    return _round(input * scale) / scale


class Polygamma(Function):
    def __init__(self, n):
        self.n = n

    @property
    def name(self):
        return f"polygamma({self.n})"

    def forward(self, x):
        return _kernel("polygamma", x, self.n)

    def backward(self, gy):
        return gy * polygamma(self.n + 1, self.inputs[0])


def polygamma(n, input):
    """The n-th derivative of digamma (n = 0: digamma itself)."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative int, got {n!r}")
    return digamma(input) if n == 0 else Polygamma(int(n))(input)


# ---- binary ----------------------------------------------------------------------------------

def _atan2_scale(a, b):
    """1 / (a^2 + b^2), and 0 at a = b = 0 (atan2's gradient there is 0, as torch's, not 0/0)."""
    r = a * a + b * b
    at_origin = r == 0
    return where(at_origin, 0.0, 1.0 / where(at_origin, 1.0, r))


BINARY_SPECIAL = {
    # name        forward(xp, a, b)                 vjp(a, b, y, gy) -> (ga, gb)
    "fmod":      (lambda xp, a, b: xp.fmod(a, b),
                  lambda a, b, y, gy: (gy, -gy * _rounded_quotient("trunc", a, b))),
    "remainder": (lambda xp, a, b: xp.remainder(a, b),
                  lambda a, b, y, gy: (gy, -gy * _rounded_quotient("floor", a, b))),
    "atan2":     (lambda xp, a, b: xp.arctan2(a, b),
                  lambda a, b, y, gy: (gy * b * _atan2_scale(a, b), -gy * a * _atan2_scale(a, b))),
    "hypot":     (lambda xp, a, b: xp.hypot(a, b),
                  lambda a, b, y, gy: (gy * a / y, gy * b / y)),
}


class BinarySpecial(Function):
    def __init__(self, op):
        self.op = op

    @property
    def name(self):
        return self.op

    def forward(self, a, b):
        return BINARY_SPECIAL[self.op][0](backend.array_module(self.device), a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga, gb = BINARY_SPECIAL[self.op][1](a, b, self.output, gy)
        return (unbroadcast(ga, a) if a.requires_grad else None,
                unbroadcast(gb, b) if b.requires_grad else None)


def _operands(op, input, other):
    """input and other as Tensors (numbers take the other's dtype) that broadcast together."""
    a, b = as_tensor(input, like=(input, other)), as_tensor(other, like=(input, other))
    check_broadcast(op, a, b)
    return a, b


def _binary_special(op):
    def fn(input, other):
        return BinarySpecial(op)(*_operands(op, input, other))
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op}, broadcasting (see BINARY_SPECIAL in tinygen/ops/special.py)."
    return fn


fmod = _binary_special("fmod")
remainder = _binary_special("remainder")
atan2 = _binary_special("atan2")
hypot = _binary_special("hypot")


def lerp(input, end, weight):
    """input + weight (end - input), weight a number or a tensor (broadcasting)."""
    return input + weight * (end - input)


class NanToNum(Function):
    """nan -> nan, +inf -> posinf, -inf -> neginf (defaults: 0 and the dtype's extremes); the
    gradient passes where x was finite, as torch."""

    def __init__(self, nan, posinf, neginf):
        self.nan, self.posinf, self.neginf = nan, posinf, neginf

    def forward(self, x):
        xp = backend.array_module(self.device)
        return xp.nan_to_num(x, nan=self.nan, posinf=self.posinf, neginf=self.neginf)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * constant(gy, backend.array_module(x.device).isfinite(x.array).astype(gy.dtype))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if input.dtype.kind != "f":
        return input * 1
    return NanToNum(nan, posinf, neginf)(input)


# ---- composed ------------------------------------------------------------------------------------

def sinc(input):
    """The normalized sinc: sin(pi x) / (pi x), and 1 at x = 0."""
    zero = constant(input, input.array == 0)
    x = where(zero, 1.0, input) * math.pi          # a safe divisor where x = 0
    return where(zero, 1.0, sin(x) / x)


def logit(input, eps=None):
    """log(p / (1 - p)); with eps, p is first clamped to [eps, 1 - eps] (no gradient outside)."""
    p = input if eps is None else clamp(input, eps, 1 - eps)
    return log(p) - log1p(-p)


def xlogy(input, other):
    """x log y, with 0 where x = 0 (unless y is nan), broadcasting."""
    x, y = _operands("xlogy", input, other)
    xp = backend.array_module(x.device)
    skip = constant(x, (x.array == 0) & ~xp.isnan(y.array))   # broadcast (x, y) shape
    return x * log(where(skip, 1.0, y))           # log 1 = 0: value and both gradients 0 there


def copysign(input, other):
    """|input| with the sign bit of other (-0.0 counts as negative), broadcasting."""
    a, b = _operands("copysign", input, other)
    xp = backend.array_module(a.device)
    sign = constant(a, xp.where(xp.signbit(b.array), -1.0, 1.0).astype(a.dtype))
    return abs(a) * sign


def _fmax_fmin(op, input, other, keep_input):
    a, b = _operands(op, input, other)
    xp = backend.array_module(a.device)
    return where(constant(a, keep_input(a.array, b.array) | xp.isnan(b.array)), a, b)


def fmax(input, other):
    """The elementwise maximum, taking the number where one side is nan."""
    return _fmax_fmin("fmax", input, other, lambda a, b: a >= b)


def fmin(input, other):
    """The elementwise minimum, taking the number where one side is nan."""
    return _fmax_fmin("fmin", input, other, lambda a, b: a <= b)


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2, broadcasting."""
    return input + tensor1 * tensor2 * value


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2, broadcasting."""
    return input + tensor1 / tensor2 * value
