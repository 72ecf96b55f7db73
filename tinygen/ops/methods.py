"""Tensor methods whose signature differs from the functional op behind them: add/sub with
alpha and addcmul/addcdiv with value (and torch's deprecated overloads that take the number
first), div with rounding_mode,
x.where(condition, y) (self second in torch.where), iteration, mT, and tg.numel."""
import numbers
import warnings

from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import add, div, floor_divide, mul, sub, trunc, where
from tinygen.ops.rearrange import unbind
from tinygen.ops.shape import transpose
from tinygen.ops.special import addcdiv, addcmul


def other_and_alpha(op, other, rest, alpha):
    """(other, alpha) of x.add(other, *, alpha=1) and its kin (add_ sub sub_), also from
    torch's deprecated overload op(Number alpha, Tensor other) that older scripts use
    (`p.data.add_(-lr, p.grad.data)`): accepted with torch's warning."""
    if not rest:
        return other, alpha
    if (len(rest) == 1 and isinstance(other, numbers.Number) and not isinstance(other, bool)
            and isinstance(rest[0], Tensor) and alpha == 1):
        warnings.warn(f"This overload of {op} is deprecated: {op}(Number alpha, Tensor other); "
                      f"use {op}(Tensor other, *, Number alpha=1)", UserWarning, stacklevel=3)
        return rest[0], other
    given = ", ".join(type(a).__name__ for a in (other, *rest))
    raise TypeError(f"{op}(): expected {op}(other, *, alpha=1) (or the deprecated "
                    f"{op}(Number alpha, Tensor other)), got positional arguments ({given})")


def value_and_tensors(op, args, value):
    """(value, tensor1, tensor2) of x.addcmul(tensor1, tensor2, *, value=1) and its kin
    (addcmul_ addcdiv addcdiv_), also from torch's deprecated overload
    op(Number value, Tensor tensor1, Tensor tensor2) (`exp_avg_sq.addcmul_(1 - beta2, g, g)`)."""
    if len(args) == 2:
        return (value, *args)
    if (len(args) == 3 and isinstance(args[0], numbers.Number) and not isinstance(args[0], bool)
            and value == 1):
        warnings.warn(f"This overload of {op} is deprecated: {op}(Number value, Tensor "
                      f"tensor1, Tensor tensor2); use {op}(Tensor tensor1, Tensor tensor2, *, "
                      f"Number value=1)", UserWarning, stacklevel=3)
        return args
    given = ", ".join(type(a).__name__ for a in args)
    raise TypeError(f"{op}(): expected {op}(tensor1, tensor2, *, value=1) (or the deprecated "
                    f"{op}(Number value, Tensor tensor1, Tensor tensor2)), got positional "
                    f"arguments ({given})")


def addcmul_method(self, *args, value=1):
    """self + value * tensor1 * tensor2."""
    value, t1, t2 = value_and_tensors("addcmul", args, value)
    return addcmul(self, t1, t2, value=value)


def addcdiv_method(self, *args, value=1):
    """self + value * tensor1 / tensor2."""
    value, t1, t2 = value_and_tensors("addcdiv", args, value)
    return addcdiv(self, t1, t2, value=value)


def add_method(self, other, *rest, alpha=1):
    """self + alpha * other."""
    other, alpha = other_and_alpha("add", other, rest, alpha)
    return add(self, other if alpha == 1 else mul(other, alpha))


def sub_method(self, other, *rest, alpha=1):
    """self - alpha * other."""
    other, alpha = other_and_alpha("sub", other, rest, alpha)
    return sub(self, other if alpha == 1 else mul(other, alpha))


def div_method(self, other, *, rounding_mode=None):
    """self / other; rounding_mode 'trunc' or 'floor' rounds the quotient (zero gradient)."""
    if rounding_mode is None:
        return div(self, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    if rounding_mode == "floor":
        return floor_divide(self, other)
    q = trunc(div(self, other))
    return q if self.dtype.kind == "f" else q.to(dtype=self.dtype)


def where_method(self, condition, other):
    """torch.Tensor.where: self where condition, else other."""
    return where(condition, self, other)


def iterate(self):
    """Iteration over dim 0, as torch (the rows, each a view)."""
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return iter(unbind(self, 0))


def matrix_transpose(self):
    """x.mT: the last two dims swapped."""
    if self.ndim < 2:
        raise RuntimeError(f"mT: expects at least 2 dims, got shape {tuple(self.shape)}")
    return transpose(self, -2, -1)


def numel(input):
    return input.numel()
