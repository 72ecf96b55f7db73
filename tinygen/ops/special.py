"""Elementwise ops composed of the table's (ops/elementwise.py), with torch's values at the
edges, so each is twice differentiable where its math is:

    lerp(a, b, w)       a + w (b - a)
    nan_to_num(x)       nan, +inf, -inf replaced; the gradient passes where x was finite
    sinc(x)             sin(pi x) / (pi x), 1 at x = 0 (gradient 0 there)
    logit(p, eps)       log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given
    xlogy(x, y)         x log y, 0 where x = 0 (y not nan): gx = log y (0 where x = 0), gy = x / y
    copysign(a, b)      |a| with b's sign bit: ga = gy sign(a) sign(b), none to b
    fmax(a, b), fmin    max/min ignoring a nan; ties send the gradient to a (torch's rule)
    addcmul(x, a, b, value)   x + value a b        addcdiv(x, a, b, value)   x + value a / b

(The rounding ops, the special functions erf ... polygamma, trigonometry, fmod, remainder,
atan2 and hypot are rows of the elementwise table.)
"""
import math

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import get_default_dtype
from tinygen.ops.common import constant
from tinygen.ops.elementwise import abs, binary_operands, clamp, log, log1p, sin, where
from tinygen.ops.shape import astype


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


def _floats(a, b):
    """Tensors a and b (of one dtype) in the default float dtype when they hold integers: torch's
    xlogy and copysign of integers are floats."""
    if a.dtype.kind == "f":
        return a, b
    return astype(a, get_default_dtype()), astype(b, get_default_dtype())


def xlogy(input, other):
    """x log y, with 0 where x = 0 (unless y is nan), broadcasting."""
    x, y = _floats(*binary_operands("xlogy", input, other))
    xp = backend.array_module(x.device)
    skip = constant(x, (x.array == 0) & ~xp.isnan(y.array))   # broadcast (x, y) shape
    return x * log(where(skip, 1.0, y))           # log 1 = 0: value and both gradients 0 there


def copysign(input, other):
    """|input| with the sign bit of other (-0.0 counts as negative), broadcasting."""
    a, b = _floats(*binary_operands("copysign", input, other))
    xp = backend.array_module(a.device)
    sign = constant(a, xp.where(xp.signbit(b.array), -1.0, 1.0).astype(a.dtype))
    return abs(a) * sign


def _fmax_fmin(op, input, other, keep_input):
    a, b = binary_operands(op, input, other)
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
