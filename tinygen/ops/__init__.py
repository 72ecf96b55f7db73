"""The differentiable ops, and the Tensor methods and operators that call them.

Functional ops live in one file per family (elementwise, reduce, shape, linalg, losses,
random, conv, pool); this file gathers them and attaches the methods to Tensor, one
explicit assignment each, so `grep "Tensor.sum"` finds where `x.sum()` comes from.
"""
from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import (  # noqa: F401
    UNARY, abs, add, clamp, clip, cos, div, elu, eq, exp, expm1, ge, gt, le, leaky_relu, log,
    log1p, logsigmoid, lt, maximum, minimum, mul, ne, neg, pow, relu, rsqrt, sigmoid, sin,
    softplus, sqrt, square, sub, tanh, where)
from tinygen.ops.factories import (  # noqa: F401
    arange, empty, eye, full, full_like, linspace, manual_seed, ones, ones_like, rand,
    rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like)
from tinygen.ops.factories import empty_like, randint_like  # noqa: F401
from tinygen.ops.linalg import linear, matmul  # noqa: F401
from tinygen.ops.losses import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, gaussian_nll_loss,
    mse_loss, nll_loss)
from tinygen.ops.factories import as_tensor, from_numpy, is_floating_point, is_tensor  # noqa: F401
from tinygen.ops.random import bernoulli, dropout  # noqa: F401
from tinygen.ops.reduce import (  # noqa: F401
    amax, amin, argmax, log_softmax, logsumexp, max, mean, min, softmax, std, sum, var)
from tinygen.ops.shape import (  # noqa: F401
    broadcast_to, cat, clone, expand, flatten, getitem, pad, permute, reshape, squeeze, stack,
    sum_to, t, transpose, unflatten, unsqueeze, view)


def _swap(fn):
    """The reflected operator: b (op) a for `a.__rop__(b)`."""
    return lambda a, b: fn(b, a)


Tensor.__add__ = add
Tensor.__radd__ = _swap(add)
Tensor.__sub__ = sub
Tensor.__rsub__ = _swap(sub)
Tensor.__mul__ = mul
Tensor.__rmul__ = _swap(mul)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _swap(div)
Tensor.__pow__ = pow
Tensor.__rpow__ = _swap(pow)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _swap(matmul)
Tensor.__neg__ = neg
Tensor.__abs__ = abs
Tensor.__getitem__ = getitem
Tensor.__eq__ = eq
Tensor.__ne__ = ne
Tensor.__lt__ = lt
Tensor.__le__ = le
Tensor.__gt__ = gt
Tensor.__ge__ = ge

Tensor.exp = exp
Tensor.log = log
Tensor.sqrt = sqrt
Tensor.abs = abs
Tensor.sigmoid = sigmoid
Tensor.tanh = tanh
Tensor.relu = relu
Tensor.clamp = clamp
Tensor.clip = clamp
Tensor.pow = pow
Tensor.matmul = matmul
Tensor.sum = sum
Tensor.mean = mean
Tensor.var = var
Tensor.std = std
Tensor.max = max
Tensor.min = min
Tensor.amax = amax
Tensor.amin = amin
Tensor.argmax = argmax
Tensor.logsumexp = logsumexp
Tensor.softmax = softmax
Tensor.log_softmax = log_softmax
Tensor.reshape = reshape
Tensor.view = view
Tensor.flatten = flatten
Tensor.unflatten = unflatten
Tensor.squeeze = squeeze
Tensor.unsqueeze = unsqueeze
Tensor.permute = permute
Tensor.transpose = transpose
Tensor.t = t
Tensor.expand = expand
Tensor.broadcast_to = broadcast_to
Tensor.clone = clone
Tensor.contiguous = lambda x: x
Tensor.T = property(lambda x: permute(x, tuple(reversed(range(x.ndim)))))
Tensor.any = lambda x: bool(x.data.any())
Tensor.all = lambda x: bool(x.data.all())
