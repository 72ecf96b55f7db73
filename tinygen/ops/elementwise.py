"""Elementwise ops: the op table, the binary arithmetic, and the parametrized few.

The table, ELEMENTWISE, holds every elementwise op that is one formula and one derivative
(as HIPS autograd's defvjp and PyTorch's derivatives.yaml), one row each:

    Op(name, forward, derivative, domain="any", kernel=None, quiet=False, integers=False)

    forward(m, *arrays) -> y      on arrays; m is the array module (xp), or, for a row with a
                                  kernel, that kernel family's module (kernels.implementation)
    derivative(*inputs, y, gy)    the vjp, on Tensors: gx, or (ga, gb) for a binary row
    domain                        where a check draws the inputs (tinygen/ops/domains.py), a
                                  name per input for a binary row
    quiet                         finite inputs can give inf or NaN: the forward runs under
                                  np.errstate (below)
    integers                      an integer (or bool) input keeps its dtype (neg, abs, relu,
                                  the rounding ops, fmod, ...); every other row computes it in
                                  the default float dtype, as torch (NumPy: float64, bool float16)

The derivative is written with tinygen ops, so every row is twice differentiable wherever its
math is. Non-differentiable points take the conventional one-sided value (relu'(0) = 0,
abs'(0) = 0); the rounding ops have a zero gradient (as torch: sign, floor, ceil, round,
trunc), frac passes it. erf, erfc, erfinv, lgamma, digamma and polygamma run the special
kernels (kernels/special_*.py), and polygamma(n, x) is the derivative of every one of them, so
they differentiate to any order:

    erf'    = 2/sqrt(pi) e^(-x^2)        erfinv' = sqrt(pi)/2 e^(erfinv(x)^2)
    lgamma' = digamma                    digamma' = polygamma(1, .)    polygamma(n)' = polygamma(n + 1)

The binary rows broadcast, their gradients summed back with unbroadcast:

    fmod(a, b)       = a - trunc(a / b) b      ga = gy    gb = -gy trunc(a / b)
    remainder(a, b)  = a - floor(a / b) b      ga = gy    gb = -gy floor(a / b)
    atan2(a, b)      angle of (b, a)           ga = gy b / (a^2 + b^2)   gb = -gy a / (a^2 + b^2)
                                               (both 0 at a = b = 0, as torch)
    hypot(a, b)      = sqrt(a^2 + b^2)         ga = gy a / y             gb = gy b / y
    logaddexp(a, b)  = log(e^a + e^b)          ga = gy e^(a - y)         gb = gy e^(b - y)
    logaddexp2(a, b) = log2(2^a + 2^b)         ga = gy 2^(a - y)         gb = gy 2^(b - y)

A new elementwise op is a row and its public function (`name = row_function("name")`); the
gradcheck, the comparison with torch and `tinygen gradcheck` read the table
(docs/your-own-op.md).

Binary arithmetic broadcasts like NumPy; every backward sums its gradient back to its input's
shape (and dtype) with the one helper `unbroadcast` (shape.py's sum_to, then a cast). Operands
of two dtypes are first cast to torch's result dtype (ops/common.py's result_dtype), not NumPy's:
an integer tensor with a float32 one is float32 (NumPy: float64), a float32 tensor with a 0-d
float64 one stays float32, and integers divide in the default float dtype.

The ops whose inputs can give inf or NaN (exp's overflow, log(0), 1/0, sqrt(-1), fmod(x, 0),
sin(inf), a ** b) compute it silently, as torch does, under np.errstate (about 0.9 us a call:
so only those, the quiet rows, Div, FloorDivide, Pow, PowScalar); NumPy would otherwise print
"divide by zero encountered" pointing into this file. Anomaly mode finds where a non-finite
value came from.
"""
import math
import operator
from typing import Callable, NamedTuple, Optional, Union

import numpy as np

from tinygen import backend, kernels
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor, as_tensor, get_default_dtype
from tinygen.ops.common import (check_broadcast, constant, constant_mask,
                                mask_array, result_dtype)
from tinygen.ops.indexing import nonzero
from tinygen.ops.shape import astype, broadcast_to, unbroadcast


class Op(NamedTuple):
    """A row of ELEMENTWISE (see the top of this file)."""
    name: str
    forward: Callable
    derivative: Callable
    domain: Union[str, tuple] = "any"
    kernel: Optional[str] = None
    quiet: bool = False
    integers: bool = False

    @property
    def domains(self):
        """One domain per input."""
        return (self.domain,) if isinstance(self.domain, str) else tuple(self.domain)


def sign_values(xp, x):
    """torch's sign of an array: 1 above 0, -1 below, and +0 at 0, -0.0 and nan (NumPy's sign
    gives nan at nan and keeps -0.0)."""
    if x.dtype.kind == "b":
        return x.copy()
    if x.dtype.kind != "f":
        return xp.sign(x)
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def sign_constant(x):
    """sign(x) as a constant Tensor (a derivative's factor)."""
    return constant_mask(x, sign_values(backend.array_module(x.device), x.array))


def _softplus(xp, x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def floating(x):
    """Array x, or x in the default float dtype when it holds integers or bools: torch computes
    a float function of integers so (NumPy in float64, of bools in float16)."""
    return x if x.dtype.kind == "f" else x.astype(get_default_dtype())


def _special(name):
    """The forward of a special-function row: the kernel `name` of kernels/special_*.py."""
    return lambda k, x: k.apply(name, x)


def _zero(x, y, gy):
    return gy * 0.0


_C = 2 / math.sqrt(math.pi)    # erf'(0)


def _rounded_quotient(rounding, a, b):
    """trunc or floor of a / b, a constant of b's gradient in fmod and remainder."""
    xp = backend.array_module(a.device)
    return constant(a, getattr(xp, rounding)(a.array / b.array))


def _atan2_scale(a, b):
    """1 / (a^2 + b^2), and 0 at a = b = 0 (atan2's gradient there is 0, as torch's, not 0/0)."""
    r = a * a + b * b
    at_origin = r == 0
    return where(at_origin, 0.0, 1.0 / where(at_origin, 1.0, r))


# sigmoid is the one sigmoid: kernels/fused_numpy.py's two-branch form on e^-|x| (no overflow,
# a few ulps everywhere, sigmoid(-20) = 2.1e-9 in float32 and not 0), which the fused BCE
# kernels share, run by the fused kernels of the arrays' device (fused_numba: in float64,
# rounded once, for float32). Its gradient is y sigmoid(-x), not y (1 - y): 1 - y is 0 from
# x = 17 in float32.
_KINKS, _POS, _UNIT = "away_from_kinks", "positive", "unit"
ELEMENTWISE = {op.name: op for op in [
    # name         forward(m, x)                     derivative(x, y, gy)                       domain
    Op("neg",      lambda xp, x: -x,                 lambda x, y, gy: -gy,                      integers=True),
    Op("exp",      lambda xp, x: xp.exp(x),          lambda x, y, gy: gy * y,                   quiet=True),
    Op("log",      lambda xp, x: xp.log(x),          lambda x, y, gy: gy / x,                   _POS, quiet=True),
    Op("log1p",    lambda xp, x: xp.log1p(x),        lambda x, y, gy: gy / (x + 1),             _POS, quiet=True),
    Op("expm1",    lambda xp, x: xp.expm1(x),        lambda x, y, gy: gy * (y + 1),             quiet=True),
    Op("sqrt",     lambda xp, x: xp.sqrt(x),         lambda x, y, gy: gy / (2 * y),             _POS, quiet=True),
    Op("rsqrt",    lambda xp, x: 1 / xp.sqrt(x),     lambda x, y, gy: gy * -0.5 * y / x,        _POS, quiet=True),
    Op("square",   lambda xp, x: x * x,              lambda x, y, gy: gy * 2 * x,               integers=True, quiet=True),
    Op("sin",      lambda xp, x: xp.sin(x),          lambda x, y, gy: gy * cos(x),              quiet=True),
    Op("cos",      lambda xp, x: xp.cos(x),          lambda x, y, gy: -gy * sin(x),             quiet=True),
    Op("abs",      lambda xp, x: xp.abs(x),          lambda x, y, gy: gy * sign_constant(x),    _KINKS, integers=True),
    Op("relu",     lambda k, x: k.relu(x, 0),        lambda x, y, gy: ReluGrad(0.0)(gy, x),     _KINKS, "fused",
       integers=True),
    Op("sigmoid",  lambda k, x: k.sigmoid(x),        lambda x, y, gy: gy * y * sigmoid(-x),     kernel="fused"),
    Op("tanh",     lambda xp, x: xp.tanh(x),         lambda x, y, gy: gy * (1 - y * y)),
    Op("softplus", _softplus,                        lambda x, y, gy: gy * sigmoid(x)),
    Op("logsigmoid", lambda xp, x: -_softplus(xp, -x), lambda x, y, gy: gy * sigmoid(-x)),
    # rounding (round: half to even)
    Op("sign",     sign_values,                      _zero,                                     _KINKS, integers=True),
    Op("floor",    lambda xp, x: xp.floor(x),        _zero,                                     _KINKS, integers=True),
    Op("ceil",     lambda xp, x: xp.ceil(x),         _zero,                                     _KINKS, integers=True),
    Op("round",    lambda xp, x: xp.round(x),        _zero,                                     _KINKS, integers=True),
    Op("trunc",    lambda xp, x: xp.trunc(x),        _zero,                                     _KINKS, integers=True),
    Op("frac",     lambda xp, x: x - xp.trunc(x),    lambda x, y, gy: gy,                       _KINKS, integers=True, quiet=True),
    # special functions
    Op("erf",      _special("erf"),                  lambda x, y, gy: gy * _C * exp(-square(x)), kernel="special"),
    Op("erfc",     _special("erfc"),                 lambda x, y, gy: gy * -_C * exp(-square(x)), kernel="special"),
    Op("erfinv",   _special("erfinv"),               lambda x, y, gy: gy / _C * exp(square(y)), _UNIT, "special"),
    Op("lgamma",   _special("lgamma"),               lambda x, y, gy: gy * digamma(x),          _POS, "special"),
    Op("digamma",  _special("digamma"),              lambda x, y, gy: gy * polygamma(1, x),     _POS, "special", quiet=True),
    # trigonometric and hyperbolic functions, logarithms and powers of other bases
    Op("tan",      lambda xp, x: xp.tan(x),          lambda x, y, gy: gy * (1 + square(y)),     _UNIT, quiet=True),
    Op("asin",     lambda xp, x: xp.arcsin(x),       lambda x, y, gy: gy * rsqrt(1 - square(x)), _UNIT, quiet=True),
    Op("acos",     lambda xp, x: xp.arccos(x),       lambda x, y, gy: -gy * rsqrt(1 - square(x)), _UNIT, quiet=True),
    Op("atan",     lambda xp, x: xp.arctan(x),       lambda x, y, gy: gy / (1 + square(x))),
    Op("sinh",     lambda xp, x: xp.sinh(x),         lambda x, y, gy: gy * cosh(x),             quiet=True),
    Op("cosh",     lambda xp, x: xp.cosh(x),         lambda x, y, gy: gy * sinh(x),             quiet=True),
    Op("asinh",    lambda xp, x: xp.arcsinh(x),      lambda x, y, gy: gy * rsqrt(square(x) + 1)),
    Op("acosh",    lambda xp, x: xp.arccosh(x),      lambda x, y, gy: gy * rsqrt(square(x) - 1), "above_one", quiet=True),
    Op("atanh",    lambda xp, x: xp.arctanh(x),      lambda x, y, gy: gy / (1 - square(x)),     _UNIT, quiet=True),
    Op("exp2",     lambda xp, x: xp.exp2(x),         lambda x, y, gy: gy * y * math.log(2),     quiet=True),
    Op("log2",     lambda xp, x: xp.log2(x),         lambda x, y, gy: gy / (x * math.log(2)),   _POS, quiet=True),
    Op("log10",    lambda xp, x: xp.log10(x),        lambda x, y, gy: gy / (x * math.log(10)),  _POS, quiet=True),
    Op("reciprocal", lambda xp, x: 1 / x,            lambda x, y, gy: -gy * square(y),          _KINKS, quiet=True),
    # binary: forward(xp, a, b), derivative(a, b, y, gy) -> (ga, gb)
    Op("fmod",     lambda xp, a, b: xp.fmod(a, b),
       lambda a, b, y, gy: (gy, -gy * _rounded_quotient("trunc", a, b)),          (_KINKS, _KINKS),
       quiet=True, integers=True),
    Op("remainder", lambda xp, a, b: xp.remainder(a, b),
       lambda a, b, y, gy: (gy, -gy * _rounded_quotient("floor", a, b)),          (_KINKS, _KINKS),
       quiet=True, integers=True),
    Op("atan2",    lambda xp, a, b: xp.arctan2(a, b),
       lambda a, b, y, gy: (gy * b * _atan2_scale(a, b), -gy * a * _atan2_scale(a, b)), (_KINKS, _KINKS)),
    Op("hypot",    lambda xp, a, b: xp.hypot(a, b),
       lambda a, b, y, gy: (gy * a / y, gy * b / y),                                (_KINKS, _KINKS)),
    Op("logaddexp", lambda xp, a, b: xp.logaddexp(a, b),
       lambda a, b, y, gy: (gy * exp(a - y), gy * exp(b - y)),                      ("any", "any"),
       quiet=True),
    Op("logaddexp2", lambda xp, a, b: xp.logaddexp2(a, b),
       lambda a, b, y, gy: (gy * exp2(a - y), gy * exp2(b - y)),                    ("any", "any"),
       quiet=True),
]}


def _quiet():
    """NumPy's floating-point warnings off for a block (inf and NaN are values, as in torch)."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")


class Elementwise(Function):
    """A row of ELEMENTWISE, by name, as a graph node."""

    def __init__(self, op):
        self.op = ELEMENTWISE[op]

    @property
    def name(self):
        return self.op.name

    def forward(self, *xs):
        op = self.op
        if xs[0].dtype.kind in "biu" and not op.integers:    # (binary rows: promoted already)
            xs = [floating(x) for x in xs]
        if op.kernel is None:
            module = backend.array_module(self.device)
        else:   # dispatched on the arrays: the simulated cuda device's NumPy arrays take the cpu's
            module = kernels.implementation(op.kernel, kernels.device_of(xs[0]))
        if op.quiet:
            with _quiet():
                return op.forward(module, *xs)
        return op.forward(module, *xs)

    def backward(self, gy):
        grads = self.op.derivative(*self.inputs, self.output, gy)
        if len(self.inputs) == 1:
            return grads
        return tuple(unbroadcast(g, x) if x.requires_grad else None for g, x in zip(grads, self.inputs))


def row_function(op):
    """The public function of the row `op`: f(input), or f(input, other) broadcasting for a
    binary row (numbers take the other operand's dtype)."""
    if len(ELEMENTWISE[op].domains) == 1:
        def fn(input):
            return Elementwise(op)(input)
    else:
        def fn(input, other):
            return Elementwise(op)(*binary_operands(op, input, other))
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} (its row of ELEMENTWISE in tinygen/ops/elementwise.py)."
    return fn


neg = row_function("neg")
exp = row_function("exp")
log = row_function("log")
log1p = row_function("log1p")
expm1 = row_function("expm1")
sqrt = row_function("sqrt")
rsqrt = row_function("rsqrt")
square = row_function("square")
sin = row_function("sin")
cos = row_function("cos")
abs = row_function("abs")
relu = row_function("relu")
sigmoid = row_function("sigmoid")
tanh = row_function("tanh")
softplus_unit = row_function("softplus")
logsigmoid = row_function("logsigmoid")
sign = row_function("sign")
floor = row_function("floor")
ceil = row_function("ceil")
trunc = row_function("trunc")
frac = row_function("frac")
erf = row_function("erf")
erfc = row_function("erfc")
erfinv = row_function("erfinv")
lgamma = row_function("lgamma")
digamma = row_function("digamma")
tan = row_function("tan")
asin = row_function("asin")
acos = row_function("acos")
atan = row_function("atan")
sinh = row_function("sinh")
cosh = row_function("cosh")
asinh = row_function("asinh")
acosh = row_function("acosh")
atanh = row_function("atanh")
exp2 = row_function("exp2")
log2 = row_function("log2")
log10 = row_function("log10")
reciprocal = row_function("reciprocal")
fmod = row_function("fmod")
remainder = row_function("remainder")
atan2 = row_function("atan2")
hypot = row_function("hypot")
logaddexp = row_function("logaddexp")
logaddexp2 = row_function("logaddexp2")
_round_half_even = row_function("round")


def round(input, decimals=0):
    """Round half to even; with decimals, to that many decimal places (zero gradient)."""
    if decimals == 0:
        return _round_half_even(input)
    scale = 10.0 ** decimals
    return _round_half_even(input * scale) / scale


class Polygamma(Function):
    """polygamma(n, x) for n >= 1: the special kernel, differentiated by the next one."""

    def __init__(self, n):
        self.n = n

    @property
    def name(self):
        return f"polygamma({self.n})"

    def forward(self, x):
        return kernels.implementation("special", kernels.device_of(x)).apply("polygamma", floating(x), self.n)

    def backward(self, gy):
        return gy * polygamma(self.n + 1, self.inputs[0])


def polygamma(n, input):
    """The n-th derivative of digamma (n = 0: digamma itself)."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative int, got {n!r}")
    return digamma(input) if n == 0 else Polygamma(int(n))(input)


# ---- type promotion: torch's, not NumPy's (result_dtype: ops/common.py) -----------------------

def promote(a, b):
    """a and b cast to result_dtype(a, b) (differentiable casts: each gradient comes back in
    its input's dtype)."""
    dtype = result_dtype(a, b)
    return astype(a, dtype), astype(b, dtype)


def binary_operands(op, a, b):
    """a and b as Tensors (a number takes the other's dtype) of torch's result dtype, whose
    shapes broadcast together; a ValueError naming `op` otherwise. Each step only where it is
    needed: two Tensors of one shape and dtype pass through."""
    if type(a) is not Tensor or type(b) is not Tensor:
        a, b = as_tensor(a, like=(a, b)), as_tensor(b, like=(a, b))
    if a.array.shape != b.array.shape:
        check_broadcast(op, a, b)
    if a.array.dtype != b.array.dtype:
        a, b = promote(a, b)
    return a, b


# ---- binary arithmetic (broadcasting; backward sums back with unbroadcast) -------------------

# Add, Sub and Mul of two NumPy arrays of one shape and dtype, from this many elements on, go
# to the fused kernels' `arithmetic` (fused_numba: NumPy's loop on the worker threads, into a
# pooled output); below it, and for broadcasting or CuPy operands, NumPy's (CuPy's) operator.
_ARITHMETIC_KERNEL_MIN = 1 << 16


def _arithmetic(op, ufunc, a, b):
    """op(a, b) (operator.add, ...), or the fused kernels' arithmetic(ufunc, a, b) for large
    NumPy arrays of one shape and dtype (the simulated cuda device's included). The size is
    checked first: it is all that a small op pays."""
    if (a.size >= _ARITHMETIC_KERNEL_MIN and type(a) is np.ndarray and type(b) is np.ndarray
            and a.shape == b.shape and a.dtype == b.dtype):
        return kernels.implementation("fused", "cpu").arithmetic(ufunc, a, b)
    return op(a, b)


class Add(Function):
    def forward(self, a, b):
        return _arithmetic(operator.add, np.add, a, b)

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a), unbroadcast(gy, b)


class Sub(Function):
    def forward(self, a, b):
        return _arithmetic(operator.sub, np.subtract, a, b)

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a), unbroadcast(-gy, b)


class Mul(Function):
    def forward(self, a, b):
        return _arithmetic(operator.mul, np.multiply, a, b)

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy * b, a), unbroadcast(gy * a, b)


class Div(Function):
    def forward(self, a, b):
        a, b = floating(a), floating(b)    # integers (or bools) divide in the default float
        with _quiet():
            return a / b

    def backward(self, gy):
        a, b = self.inputs
        # -gy a / b^2 as -(gy y) / b: 0 (not inf * 0) for a = 0 over a subnormal b
        return unbroadcast(gy / b, a), unbroadcast(-(gy * self.output) / b, b)


class FloorDivide(Function):
    """a // b: the floor of the exact quotient, as Python's //, NumPy's floor_divide and torch's
    (1.0 // 0.1 is 9.0, where floor(1.0 / 0.1) rounds the quotient to 10.0 first); a zero
    gradient, as torch.div(a, b, rounding_mode="floor")."""

    def forward(self, a, b):
        with _quiet():
            return backend.array_module(self.device).floor_divide(a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = gy * 0.0
        return unbroadcast(zero, a), unbroadcast(zero, b)


class Pow(Function):
    """a ** b for tensors a and b: d/da = b a^(b - 1), d/db = a^b log a.

    As torch: d/da = 0 where b = 0 (not 0 * 0^-1 = nan at a = 0 or a subnormal; elsewhere the
    product is kept, so that its derivative in b is right), and d/db = 0 where a = 0 and
    b >= 0 (not 0 * log 0 = nan)."""

    def forward(self, a, b):
        with _quiet():
            return a ** b

    def backward(self, gy):
        a, b = self.inputs
        y = self.output
        with _quiet():
            ga = gy * b * a ** (b - 1)
        xp = backend.array_module(self.device)
        zero = xp.isnan(ga.array) & (b.array == 0)   # 0 * 0^-1 = nan
        # on a device, `any` would sync the host: the where runs whether needed or not
        if xp is not np or bool(zero.any()):
            ga = where(constant(a, zero), 0.0, ga)
        gb = None
        if b.requires_grad:
            base_zero = (a.array == 0) & (b.array >= 0)
            if xp is not np or bool(base_zero.any()):
                a = where(constant(a, base_zero), 1.0, a)          # y log 1 = 0 there
            gb = gy * y * log(a)
        return unbroadcast(ga, self.inputs[0]), (unbroadcast(gb, b) if gb is not None else None)


def _floating_for(x, c):
    """x, or floating(x) when the number c is a float: as torch, int ** 1.5 and 2.5 ** int are
    floats (2.5 in x's dtype would be 2)."""
    return floating(x) if isinstance(c, float) else x


class PowScalar(Function):
    """x ** c for a Python number c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        x = _floating_for(x, self.c)
        with _quiet():
            return x ** x.dtype.type(self.c) if x.dtype.kind == "f" else x ** self.c

    def backward(self, gy):
        x = self.inputs[0]
        if self.c == 0:
            return gy * 0.0  # d/dx x^0 = 0, also at x = 0 (not 0 * 0^-1 = nan)
        return gy * self.c * x ** (self.c - 1) if self.c != 1 else gy


class RPowScalar(Function):
    """c ** x for a Python number c > 0."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        x = _floating_for(x, self.c)
        return x.dtype.type(self.c) ** x

    def backward(self, gy):
        return gy * self.output * float(np.log(self.c))


def _binary(cls, op):
    def fn(a, b):
        return cls()(*binary_operands(op, a, b))
    fn.__name__ = op
    return fn


add = _binary(Add, "add")
sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")
div = _binary(Div, "div")
floor_divide = _binary(FloorDivide, "floor_divide")
_pow_tensor = _binary(Pow, "pow")


def pow(x, exponent):
    """x ** exponent; a number exponent is the common, cheap case."""
    if isinstance(x, Tensor) and isinstance(exponent, (int, float)):
        return PowScalar(exponent)(x)
    if isinstance(x, (int, float)) and isinstance(exponent, Tensor):
        return RPowScalar(x)(exponent)
    return _pow_tensor(x, exponent)


# ---- comparisons (no gradient) ------------------------------------------------------------

def _compare(name, fn):
    def cmp(a, b):
        a2, b2 = as_tensor(a, like=(a, b)), as_tensor(b, like=(a, b))
        if a2.device != b2.device:
            raise RuntimeError(f"{name}: tensors on {a2.device} and {b2.device}")
        check_broadcast(name, a2, b2)
        return Tensor.wrap(fn(a2.array, b2.array), a2.device, False)
    cmp.__name__ = name
    return cmp


eq = _compare("eq", lambda a, b: a == b)
ne = _compare("ne", lambda a, b: a != b)
lt = _compare("lt", lambda a, b: a < b)
le = _compare("le", lambda a, b: a <= b)
gt = _compare("gt", lambda a, b: a > b)
ge = _compare("ge", lambda a, b: a >= b)


# ---- parametrized elementwise ops --------------------------------------------------------

class LeakyReLU(Function):
    def __init__(self, negative_slope):
        self.slope = negative_slope

    def forward(self, x):
        return kernels.implementation("fused", self.device).relu(x, self.slope)

    def backward(self, gy):
        return ReluGrad(self.slope)(gy, self.inputs[0])


class ReluGrad(Function):
    """gx = gy where x > 0, slope * gy elsewhere: the backward of relu (slope 0) and leaky_relu.

    One fused pass (kernels/fused_*.py: relu_grad). It is linear in gy and piecewise constant
    in x (derivative 0 wherever it exists), so its own backward is ReluGrad again, in ggx."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, gy, x):
        return kernels.implementation("fused", self.device).relu_grad(gy, x, self.slope)

    def backward(self, ggx):
        gy, x = self.inputs
        return (ReluGrad(self.slope)(ggx, x) if gy.requires_grad else None), None


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU(negative_slope)(x)


def elu(x, alpha=1.0):
    """x for x > 0, alpha (e^x - 1) otherwise; composed from where/expm1.

    elu'(0) = alpha, as torch (the clamp passes its gradient at its bound, where minimum
    would split it in half)."""
    return where(x > 0, x, expm1(clamp(x, max=0.0)) * alpha)


def softplus(x, beta=1.0, threshold=20.0):
    """(1/beta) log(1 + e^(beta x)); linear where beta x > threshold, as torch."""
    if beta == 1.0:
        y = softplus_unit(x)
    else:
        y = softplus_unit(x * beta) / beta
    if threshold is None:
        return y
    return where(x * beta > threshold, x, y)


class Clamp(Function):
    """min(max(x, lo), hi); the gradient passes where lo <= x <= hi (bounds included)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = backend.array_module(self.device)
        lo, hi = self.lo, self.hi
        if isinstance(lo, float) or isinstance(hi, float):   # integers clamped to float bounds:
            x = floating(x)                                     # the default float, as torch
        if x.dtype.kind == "f":       # a missing bound is infinite: NumPy's clip with one bound
            lo = -math.inf if lo is None else lo      # is maximum or minimum, which give +0 at
            hi = math.inf if hi is None else hi       # clamp(-0.0, min=0.0), where torch keeps -0
        return xp.clip(x, lo, hi)

    def backward(self, gy):
        x = self.inputs[0].array
        inside = True
        if self.lo is not None:
            inside = inside & (x >= self.lo)
        if self.hi is not None:
            inside = inside & (x <= self.hi)
        return gy * constant_mask(self.inputs[0], inside)


def clamp(x, min=None, max=None):
    """min(max(x, min), max) for number bounds (tensor bounds: tg.maximum and tg.minimum)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    for name, bound in (("min", min), ("max", max)):
        if isinstance(bound, Tensor):
            raise TypeError(f"clamp: {name} is a Tensor of shape {tuple(bound.shape)}; tinygen's "
                            f"clamp takes numbers (use tg.maximum(x, lo) and tg.minimum(x, hi))")
    return Clamp(min, max)(x)


clip = clamp


def clamp_min(input, min):
    """clamp(input, min=min)."""
    return clamp(input, min=min)


def clamp_max(input, max):
    """clamp(input, max=max)."""
    return clamp(input, max=max)


class Where(Function):
    """cond ? a : b, cond a constant bool array; broadcasting over all three."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        xp = backend.array_module(self.device)
        return xp.where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        keep = constant_mask(gy, self.cond)
        return unbroadcast(gy * keep, a), unbroadcast(gy * (1 - keep), b)


def where(condition, input=None, other=None):
    """Elementwise choice, as torch.where(condition, input, other); where(condition) alone is
    nonzero(condition, as_tuple=True)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    a, b = as_tensor(input, like=(input, other)), as_tensor(other, like=(input, other))
    if a.array.dtype != b.array.dtype:
        a, b = promote(a, b)
    cond = condition.array if isinstance(condition, Tensor) else condition if \
        hasattr(condition, "__cuda_array_interface__") else np.asarray(condition)   # CuPy: as is
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: shapes {tuple(cond.shape)}, {tuple(a.shape)}, "
                         f"{tuple(b.shape)} cannot be broadcast together") from None
    out_shape = np.broadcast_shapes(cond.shape, a.shape, b.shape)
    xp = backend.array_module(a.device)
    if a.shape != out_shape and b.shape != out_shape:
        # make one operand full size so the output (and its gradient) has out_shape
        a = broadcast_to(a, out_shape)
    return Where(xp.asarray(cond))(a, b)


def masked_fill(input, mask, value):
    """input with `value` (a number or 0-d tensor) where mask (broadcast to input) is True."""
    m = mask_array(mask, "masked_fill", input)
    try:
        if np.broadcast_shapes(m.shape, input.shape) != tuple(input.shape):
            raise ValueError
    except ValueError:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast to the "
                           f"input's shape {tuple(input.shape)}") from None
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                           f"{tuple(value.shape)}")
    if not isinstance(value, Tensor):   # a number takes the input's dtype (an int stays int)
        value = Tensor.wrap(backend.array_module(input.device).asarray(value, dtype=input.dtype),
                             input.device, False)
    elif value.dtype != input.dtype:     # the output keeps the input's dtype, as torch
        value = astype(value, input.dtype)
    return where(Tensor.wrap(m, input.device, False), value, input)


class Maximum(Function):
    """max(a, b); at ties the gradient is split evenly (half to each), as torch."""

    def __init__(self, sign):
        self.sign = sign  # +1 maximum, -1 minimum

    def forward(self, a, b):
        xp = backend.array_module(self.device)
        return xp.maximum(a, b) if self.sign > 0 else xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        da = a.array * self.sign
        db = b.array * self.sign
        share = (da > db) + 0.5 * (da == db)
        wa = constant_mask(gy, share)
        return unbroadcast(gy * wa, a), unbroadcast(gy * (1 - wa), b)


def maximum(a, b):
    return Maximum(+1)(*binary_operands("maximum", a, b))


def minimum(a, b):
    return Maximum(-1)(*binary_operands("minimum", a, b))
