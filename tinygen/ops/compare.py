"""Comparisons and logic with bool results: the operators == != < <= > >=, logical_and/or/
xor/not, all/any, isnan/isinf/isfinite, isclose/allclose/equal; and the bitwise ops behind
& | ^ ~ on bool and integer tensors (masks: `~mask`, `(x > 0) & (x < 1)`), `in`.

Nothing here has a gradient (outputs are bool). eq, ne, lt, le, gt, ge themselves live in
elementwise.py; this file adds their operator forms, which answer NotImplemented for an
operand that is not a tensor, array or number, so `x == None` is False and `x < "a"` a
TypeError, as in torch. A Tensor stays hashable by identity (`__hash__` is object's).
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops import elementwise
from tinygen.ops.common import check_broadcast, reduction_axes


def _operator(fn):
    def op(a, b):
        if not isinstance(b, (Tensor, bool, int, float, list, tuple, np.ndarray, np.generic)) \
                and not hasattr(b, "__cuda_array_interface__"):
            return NotImplemented
        return fn(a, b)
    op.__name__ = f"__{fn.__name__}__"
    return op


eq_operator = _operator(elementwise.eq)
ne_operator = _operator(elementwise.ne)
lt_operator = _operator(elementwise.lt)
le_operator = _operator(elementwise.le)
gt_operator = _operator(elementwise.gt)
ge_operator = _operator(elementwise.ge)


def _bools(x, like):
    x = as_tensor(x, like=like)
    return x.array if x.dtype == np.bool_ else x.array != 0


def _logical(name, fn):
    def logical(input, other):
        a, b = as_tensor(input, like=(input, other)), as_tensor(other, like=(input, other))
        if a.device != b.device:
            raise RuntimeError(f"{name}: tensors on {a.device} and {b.device}")
        check_broadcast(name, a, b)
        return Tensor.wrap(fn(_bools(a, ()), _bools(b, ())), a.device, False)
    logical.__name__ = name
    logical.__doc__ = f"Elementwise {name} of the truth values (nonzero is True); a bool tensor."
    return logical


logical_and = _logical("logical_and", lambda a, b: a & b)
logical_or = _logical("logical_or", lambda a, b: a | b)
logical_xor = _logical("logical_xor", lambda a, b: a ^ b)


def logical_not(input):
    return Tensor.wrap(~_bools(input, ()), input.device, False)


def _bool_reduction(name, reduce):
    def fn(input, dim=None, keepdim=False):
        axes = reduction_axes(dim, input.ndim, name)
        y = reduce(_bools(input, ()), axis=axes, keepdims=keepdim)
        return Tensor.wrap(y, input.device, False)
    fn.__name__ = name
    fn.__doc__ = (f"Whether {'every' if name == 'all' else 'some'} element is nonzero, over `dim` "
                  f"(None: all elements); a bool tensor (0-d for a full reduction).")
    return fn


all = _bool_reduction("all", lambda a, axis, keepdims: a.all(axis=axis, keepdims=keepdims))
any = _bool_reduction("any", lambda a, axis, keepdims: a.any(axis=axis, keepdims=keepdims))


def _test(name, test):
    def fn(input):
        xp = backend.array_module(input.device)
        return Tensor.wrap(test(xp, input.array), input.device, False)
    fn.__name__ = name
    return fn


isnan = _test("isnan", lambda xp, x: xp.isnan(x))
isinf = _test("isinf", lambda xp, x: xp.isinf(x))
isfinite = _test("isfinite", lambda xp, x: xp.isfinite(x))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol |other|, elementwise; a bool tensor."""
    a, b = as_tensor(input, like=(input, other)), as_tensor(other, like=(input, other))
    check_broadcast("isclose", a, b)
    xp = backend.array_module(a.device)
    return Tensor.wrap(xp.isclose(a.array, b.array, rtol=rtol, atol=atol, equal_nan=equal_nan),
                        a.device, False)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is close (see isclose); a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def equal(input, other):
    """True when both have the same shape and the same elements; a Python bool."""
    return tuple(input.shape) == tuple(other.shape) and bool((input.array == other.array).all())


def _bitwise(name, fn):
    def bitwise(input, other):
        a, b = as_tensor(input, like=(input, other)), as_tensor(other, like=(input, other))
        if a.dtype.kind not in "biu" or b.dtype.kind not in "biu":
            raise TypeError(f"{name}: expects bool or integer tensors, got {a.dtype} and {b.dtype}")
        check_broadcast(name, a, b)
        return Tensor.wrap(fn(a.array, b.array), a.device, False)
    bitwise.__name__ = name
    return bitwise


bitwise_and = _bitwise("bitwise_and", lambda a, b: a & b)
bitwise_or = _bitwise("bitwise_or", lambda a, b: a | b)
bitwise_xor = _bitwise("bitwise_xor", lambda a, b: a ^ b)


def bitwise_not(input):
    if input.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not (~): expects a bool or integer tensor, got {input.dtype}")
    return Tensor.wrap(~input.array, input.device, False)


def _swapped(fn):
    return lambda a, b: fn(b, a)


and_operator, rand_operator = _operator(bitwise_and), _operator(_swapped(bitwise_and))
or_operator, ror_operator = _operator(bitwise_or), _operator(_swapped(bitwise_or))
xor_operator, rxor_operator = _operator(bitwise_xor), _operator(_swapped(bitwise_xor))


def contains(self, element):
    """`element in tensor`: whether any element equals it, as torch."""
    return bool((elementwise.eq(self, element)).array.any())


def count_nonzero(input, dim=None):
    """How many elements are nonzero, over dim (None: all); an int64 tensor."""
    axes = reduction_axes(dim, input.ndim, "count_nonzero")
    return Tensor.wrap((input.array != 0).sum(axis=axes).astype(np.int64), input.device, False)
