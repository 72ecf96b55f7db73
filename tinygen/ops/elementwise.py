"""Elementwise ops: the unary table, the binary arithmetic, and the parametrized few.

The unary ops are one table, one line each (as HIPS autograd's defvjp and PyTorch's
derivatives.yaml):

    name: (forward(xp, x) -> y on arrays,  vjp(x, y, gy) -> gx on Tensors)

The vjp is written with tinygen ops, so every entry is twice differentiable wherever its
math is. Non-differentiable points take the conventional one-sided value (relu'(0) = 0,
abs'(0) = 0).

Binary ops broadcast like NumPy; every backward sums its gradient back to its input's
shape (and dtype) with the one helper `unbroadcast` (shape.py's sum_to, then a cast).

The ops whose finite inputs can give inf or NaN (exp's overflow, log(0), 1/0, sqrt(-1),
a ** b) compute it silently, as torch does, under np.errstate (measured on 8 elements: div
2.8 -> 4.3 us, exp 2.7 -> 3.9; so only those: QUIET below, Div, Pow, PowScalar); NumPy
would otherwise print "divide by zero encountered" pointing into this file. Anomaly mode
finds where a non-finite value came from.
"""
import numpy as np

from tinygen import backend, kernels
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops.common import check_broadcast, constant, constant_mask, mask_array
from tinygen.ops.indexing import nonzero
from tinygen.ops.shape import astype, broadcast_to, unbroadcast


def _sign(x):
    return constant_mask(x, backend.array_module(x.device).sign(x.array))


def _sigmoid(xp, x):
    # The one sigmoid: kernels/fused_numpy.py's two-branch form on e^-|x| (no overflow, a
    # few ulps everywhere, sigmoid(-20) = 2.1e-9 in float32 and not 0), which the fused BCE
    # kernels share, run by the device's fused kernels (fused_numba: in float64, rounded
    # once, for float32). Its gradient is y sigmoid(-x), not y (1 - y): 1 - y is 0 from
    # x = 17 in float32.
    return _fused(xp).sigmoid(x)


def _fused(xp):
    """The fused kernels (kernels/fused_*.py) for arrays of the array module xp."""
    return kernels.implementation("fused", "cpu" if xp is np else "cuda")


def _softplus(xp, x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


UNARY = {
    # name        forward(xp, x)                         vjp(x, y, gy)
    "neg":        (lambda xp, x: -x,                     lambda x, y, gy: -gy),
    "exp":        (lambda xp, x: xp.exp(x),              lambda x, y, gy: gy * y),
    "log":        (lambda xp, x: xp.log(x),              lambda x, y, gy: gy / x),
    "log1p":      (lambda xp, x: xp.log1p(x),            lambda x, y, gy: gy / (x + 1)),
    "expm1":      (lambda xp, x: xp.expm1(x),            lambda x, y, gy: gy * (y + 1)),
    "sqrt":       (lambda xp, x: xp.sqrt(x),             lambda x, y, gy: gy / (2 * y)),
    "rsqrt":      (lambda xp, x: 1 / xp.sqrt(x),         lambda x, y, gy: gy * -0.5 * y / x),
    "square":     (lambda xp, x: x * x,                  lambda x, y, gy: gy * 2 * x),
    "sin":        (lambda xp, x: xp.sin(x),              lambda x, y, gy: gy * cos(x)),
    "cos":        (lambda xp, x: xp.cos(x),              lambda x, y, gy: -gy * sin(x)),
    "abs":        (lambda xp, x: xp.abs(x),              lambda x, y, gy: gy * _sign(x)),
    "relu":       (lambda xp, x: _fused(xp).relu(x, 0),  lambda x, y, gy: ReluGrad(0.0)(gy, x)),
    "sigmoid":    (_sigmoid,                             lambda x, y, gy: gy * y * sigmoid(-x)),
    "tanh":       (lambda xp, x: xp.tanh(x),             lambda x, y, gy: gy * (1 - y * y)),
    "softplus":   (_softplus,                            lambda x, y, gy: gy * sigmoid(x)),
    "logsigmoid": (lambda xp, x: -_softplus(xp, -x),     lambda x, y, gy: gy * sigmoid(-x)),
}


# the rows whose finite inputs can give inf or NaN: their forward runs under _quiet()
QUIET = frozenset({"exp", "log", "log1p", "expm1", "sqrt", "rsqrt"})


def _quiet():
    """NumPy's floating-point warnings off for a block (inf and NaN are values, as in torch)."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")


class Unary(Function):
    """One row of a table of unary ops as a graph node: UNARY here (special.py's Special
    reads its SPECIAL table the same way)."""

    table = UNARY

    def __init__(self, op):
        self.op = op

    @property
    def name(self):
        return self.op

    def forward(self, x):
        if self.op in QUIET:
            with _quiet():
                return self.table[self.op][0](backend.array_module(self.device), x)
        return self.table[self.op][0](backend.array_module(self.device), x)

    def backward(self, gy):
        return self.table[self.op][1](self.inputs[0], self.output, gy)


def _unary(op, node=Unary):
    def fn(input):
        return node(op)(input)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} (a row of the table in {node.__module__})."
    return fn


neg = _unary("neg")
exp = _unary("exp")
log = _unary("log")
log1p = _unary("log1p")
expm1 = _unary("expm1")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
square = _unary("square")
sin = _unary("sin")
cos = _unary("cos")
abs = _unary("abs")
relu = _unary("relu")
sigmoid = _unary("sigmoid")
tanh = _unary("tanh")
softplus_unit = _unary("softplus")
logsigmoid = _unary("logsigmoid")


# ---- binary arithmetic (broadcasting; backward sums back with unbroadcast) -------------------

class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a), unbroadcast(gy, b)


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy, a), unbroadcast(-gy, b)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return unbroadcast(gy * b, a), unbroadcast(gy * a, b)


class Div(Function):
    def forward(self, a, b):
        with _quiet():
            return a / b

    def backward(self, gy):
        a, b = self.inputs
        # -gy a / b^2 as -(gy y) / b: 0 (not inf * 0) for a = 0 over a subnormal b
        return unbroadcast(gy / b, a), unbroadcast(-(gy * self.output) / b, b)


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


class PowScalar(Function):
    """x ** c for a Python number c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
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
        return x.dtype.type(self.c) ** x

    def backward(self, gy):
        return gy * self.output * float(np.log(self.c))


def _binary(cls, op):
    def fn(a, b):
        if type(a) is not Tensor or type(b) is not Tensor:
            a, b = as_tensor(a, like=(a, b)), as_tensor(b, like=(a, b))
        if a.array.shape != b.array.shape:
            check_broadcast(op, a, b)
        return cls()(a, b)
    fn.__name__ = op
    return fn


add = _binary(Add, "add")
sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")
div = _binary(Div, "div")
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
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].array
        inside = True
        if self.lo is not None:
            inside = inside & (x >= self.lo)
        if self.hi is not None:
            inside = inside & (x <= self.hi)
        return gy * constant_mask(self.inputs[0], inside)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp(min, max)(x)


clip = clamp


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
    a, b = as_tensor(a, like=(a, b)), as_tensor(b, like=(a, b))
    check_broadcast("maximum", a, b)
    return Maximum(+1)(a, b)


def minimum(a, b):
    a, b = as_tensor(a, like=(a, b)), as_tensor(b, like=(a, b))
    check_broadcast("minimum", a, b)
    return Maximum(-1)(a, b)
