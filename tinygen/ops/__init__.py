"""The differentiable ops, and the Tensor methods and operators that call them.

Functional ops live in one file per family (elementwise, reduce, shape, linalg, losses,
random, conv, pool); this file gathers them and attaches the methods to Tensor, one
explicit assignment each, so `grep "Tensor.sum"` finds where `x.sum()` comes from.
"""
from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import (  # noqa: F401
    ELEMENTWISE, abs, acos, acosh, add, asin, asinh, atan, atan2, atanh, ceil, clamp, clamp_max,
    clamp_min, clip, cos, cosh, digamma, div, elu, eq, erf, erfc, erfinv, exp, exp2, expm1, floor,
    floor_divide, fmod, frac, ge, gt, hypot, le, leaky_relu, lgamma, log, log10, log1p, log2,
    logaddexp, logaddexp2, logsigmoid, lt, masked_fill, maximum, minimum, mul, ne, neg, polygamma,
    pow, reciprocal, relu, remainder, round, rsqrt, sigmoid, sign, sin, sinh, softplus, sqrt,
    square, sub, tan, tanh, trunc, where)
# modules whose functions have bool/int results or act in place (outside the gradcheck walk)
from tinygen.ops import compare, draws, indexing, inplace, methods, shape, sort as sorting, tensor_new  # noqa: F401
from tinygen.ops.factories import (  # noqa: F401
    arange, empty, eye, full, full_like, linspace, manual_seed, ones, ones_like, rand,
    rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like)
from tinygen.ops.factories import empty_like, logspace, randint_like  # noqa: F401
from tinygen.ops.indexing import (  # noqa: F401
    gather, index_add, index_fill, index_select, masked_select, scatter, scatter_add, setitem)
from tinygen.ops.linalg import (  # noqa: F401
    bmm, cross, diag, diagonal, dot, einsum, kron, mm, outer, trace, tril, triu)
from tinygen.ops.norms import cdist, dist, norm  # noqa: F401
from tinygen.ops.rearrange import (  # noqa: F401
    chunk, concat, expand_as, flip, hstack, movedim, narrow, repeat, repeat_interleave, reshape_as,
    roll, select, split, tile, unbind, view_as, vstack)
from tinygen.ops.gates import gated_tanh  # noqa: F401
from tinygen.ops.recurrence import lstm_scan, lstm_scan_reference  # noqa: F401
from tinygen.ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp, prod  # noqa: F401
from tinygen.ops.special import (  # noqa: F401
    addcdiv, addcmul, copysign, fmax, fmin, lerp, logit, nan_to_num, sinc, xlogy)
from tinygen.ops.sort import kthvalue, median, mode, sort, topk  # noqa: F401
from tinygen.ops.linalg import addbmm, addmm, addmv, baddbmm, linear, matmul  # noqa: F401
from tinygen.ops.linalg import (  # noqa: F401
    cholesky, det, diag_embed, eigvalsh, inv, logdet, slogdet, solve, svdvals)
from tinygen.ops.indexing import take_along_dim  # noqa: F401
from tinygen.ops.norms import linalg_norm, matrix_norm, vector_norm  # noqa: F401

inverse = inv      # torch.inverse, the older name of torch.linalg.inv
from tinygen.ops.losses import (  # noqa: F401
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, gaussian_nll_loss,
    mse_loss, nll_loss)
from tinygen.ops.factories import as_tensor, from_numpy, is_floating_point, is_tensor  # noqa: F401
from tinygen.ops.random import bernoulli, dropout  # noqa: F401
from tinygen.ops.reduce import (  # noqa: F401
    amax, amin, argmax, argmin, log_softmax, logsumexp, max, mean, min, nanmean, nansum, softmax,
    std, std_mean, sum, var, var_mean)
from tinygen.ops.shape import (  # noqa: F401
    broadcast_to, cat, clone, contiguous, expand, flatten, getitem, is_contiguous, pad, permute,
    reshape, squeeze, stack, sum_to, t, transpose, unflatten, unsqueeze, view)
from tinygen.ops.shift import down_shift, right_shift, skew, unskew  # noqa: F401
from tinygen.ops.rearrange import meshgrid  # noqa: F401

swapaxes = swapdims = transpose   # torch's NumPy-style names of transpose
ravel = flatten                   # torch.ravel(x): flatten(x), one dim


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
Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = _swap(floor_divide)
Tensor.__pow__ = pow
Tensor.__rpow__ = _swap(pow)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _swap(matmul)
Tensor.__neg__ = neg
Tensor.__abs__ = abs
Tensor.__getitem__ = getitem
Tensor.__eq__ = compare.eq_operator   # NotImplemented for non-tensors (x == None is False)
Tensor.__ne__ = compare.ne_operator
Tensor.__lt__ = compare.lt_operator
Tensor.__le__ = compare.le_operator
Tensor.__gt__ = compare.gt_operator
Tensor.__ge__ = compare.ge_operator
Tensor.__setitem__ = inplace.setitem_
Tensor.__and__ = compare.and_operator
Tensor.__rand__ = compare.rand_operator
Tensor.__or__ = compare.or_operator
Tensor.__ror__ = compare.ror_operator
Tensor.__xor__ = compare.xor_operator
Tensor.__rxor__ = compare.rxor_operator
Tensor.__invert__ = compare.bitwise_not
Tensor.__contains__ = compare.contains
Tensor.__iter__ = methods.iterate

Tensor.exp = exp
Tensor.log = log
Tensor.sqrt = sqrt
Tensor.abs = abs
Tensor.sigmoid = sigmoid
Tensor.tanh = tanh
Tensor.relu = relu
Tensor.clamp = clamp
Tensor.clamp_min = clamp_min
Tensor.clamp_max = clamp_max
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
Tensor.ravel = ravel
Tensor.unflatten = unflatten
Tensor.squeeze = squeeze
Tensor.unsqueeze = unsqueeze
Tensor.permute = permute
Tensor.transpose = transpose
Tensor.swapaxes = swapaxes
Tensor.swapdims = swapdims
Tensor.t = t
Tensor.expand = expand
Tensor.broadcast_to = broadcast_to
Tensor.clone = clone
Tensor.to = shape.to
Tensor.contiguous = contiguous
Tensor.is_contiguous = is_contiguous
Tensor.T = property(lambda x: permute(x, tuple(reversed(range(x.ndim)))))
Tensor.any = compare.any
Tensor.all = compare.all

Tensor.eq = eq
Tensor.ne = ne
Tensor.lt = lt
Tensor.le = le
Tensor.gt = gt
Tensor.ge = ge
Tensor.logical_and = compare.logical_and
Tensor.logical_or = compare.logical_or
Tensor.logical_xor = compare.logical_xor
Tensor.logical_not = compare.logical_not
Tensor.bitwise_and = compare.bitwise_and
Tensor.bitwise_or = compare.bitwise_or
Tensor.bitwise_xor = compare.bitwise_xor
Tensor.bitwise_not = compare.bitwise_not
Tensor.isnan = compare.isnan
Tensor.isinf = compare.isinf
Tensor.isfinite = compare.isfinite
Tensor.isclose = compare.isclose
Tensor.allclose = compare.allclose
Tensor.equal = compare.equal

Tensor.new = tensor_new.new
Tensor.new_zeros = tensor_new.new_zeros
Tensor.new_ones = tensor_new.new_ones
Tensor.new_full = tensor_new.new_full
Tensor.new_empty = tensor_new.new_empty
Tensor.new_tensor = tensor_new.new_tensor

Tensor.gather = gather
Tensor.scatter = scatter
Tensor.scatter_add = scatter_add
Tensor.index_select = index_select
Tensor.index_add = index_add
Tensor.index_fill = index_fill
Tensor.masked_fill = masked_fill
Tensor.masked_select = masked_select
Tensor.nonzero = indexing.nonzero

Tensor.view_as = view_as
Tensor.reshape_as = reshape_as
Tensor.expand_as = expand_as
Tensor.narrow = narrow
Tensor.select = select
Tensor.chunk = chunk
Tensor.split = split
Tensor.unbind = unbind
Tensor.flip = flip
Tensor.roll = roll
Tensor.repeat = repeat
Tensor.tile = tile
Tensor.repeat_interleave = repeat_interleave
Tensor.cumsum = cumsum
Tensor.cumprod = cumprod
Tensor.sort = sort
Tensor.argsort = sorting.argsort
Tensor.topk = topk
Tensor.kthvalue = kthvalue
Tensor.median = median
Tensor.mode = mode
Tensor.argmin = argmin
Tensor.norm = norm
Tensor.dist = dist

Tensor.sign = sign
Tensor.floor = floor
Tensor.ceil = ceil
Tensor.round = round
Tensor.trunc = trunc
Tensor.frac = frac
Tensor.fmod = fmod
Tensor.remainder = remainder
Tensor.__mod__ = remainder
Tensor.__rmod__ = _swap(remainder)
Tensor.erf = erf
Tensor.erfc = erfc
Tensor.erfinv = erfinv
Tensor.lgamma = lgamma
Tensor.digamma = digamma
Tensor.polygamma = lambda x, n: polygamma(n, x)
Tensor.atan2 = atan2
Tensor.hypot = hypot
Tensor.logaddexp = logaddexp
Tensor.logaddexp2 = logaddexp2
Tensor.floor_divide = floor_divide

Tensor.__iadd__ = inplace.iadd      # x += y changes x in place, as in torch
Tensor.__isub__ = inplace.isub
Tensor.__imul__ = inplace.imul
Tensor.__itruediv__ = inplace.itruediv
Tensor.tan = tan
Tensor.asin = asin
Tensor.acos = acos
Tensor.atan = atan
Tensor.sinh = sinh
Tensor.cosh = cosh
Tensor.exp2 = exp2
Tensor.log2 = log2
Tensor.log10 = log10
Tensor.reciprocal = reciprocal
Tensor.lerp = lerp
Tensor.nan_to_num = nan_to_num
Tensor.neg = neg
Tensor.negative = neg
Tensor.expm1 = expm1
Tensor.log1p = log1p
Tensor.rsqrt = rsqrt
Tensor.square = square
Tensor.sin = sin
Tensor.cos = cos
Tensor.maximum = maximum
Tensor.minimum = minimum
Tensor.where = methods.where_method
Tensor.add = methods.add_method
Tensor.sub = methods.sub_method
Tensor.mul = mul
Tensor.div = methods.div_method
Tensor.mm = mm
Tensor.bmm = bmm
Tensor.dot = dot
Tensor.outer = outer
Tensor.kron = kron
Tensor.cross = cross
Tensor.mT = property(methods.matrix_transpose)
Tensor.tril = tril
Tensor.triu = triu
Tensor.diag = diag
Tensor.diagonal = diagonal
Tensor.trace = trace
Tensor.movedim = movedim
Tensor.prod = prod
Tensor.count_nonzero = compare.count_nonzero
Tensor.unique = sorting.unique

Tensor.add_ = inplace.add_
Tensor.sub_ = inplace.sub_
Tensor.mul_ = inplace.mul_
Tensor.div_ = inplace.div_
Tensor.clamp_ = inplace.clamp_
Tensor.clip_ = inplace.clip_
Tensor.zero_ = inplace.zero_
Tensor.fill_ = inplace.fill_
Tensor.copy_ = inplace.copy_
Tensor.masked_fill_ = inplace.masked_fill_
Tensor.normal_ = inplace.normal_
Tensor.uniform_ = inplace.uniform_
Tensor.bernoulli_ = inplace.bernoulli_
Tensor.exponential_ = inplace.exponential_
Tensor.detach_ = inplace.detach_
Tensor.resize_ = inplace.resize_
Tensor.resize_as_ = inplace.resize_as_
Tensor.scatter_ = inplace.scatter_
Tensor.scatter_add_ = inplace.scatter_add_
Tensor.index_add_ = inplace.index_add_
Tensor.index_fill_ = inplace.index_fill_
Tensor.exp_ = inplace.exp_
Tensor.log_ = inplace.log_
Tensor.sqrt_ = inplace.sqrt_
Tensor.abs_ = inplace.abs_
Tensor.neg_ = inplace.neg_
Tensor.sigmoid_ = inplace.sigmoid_
Tensor.tanh_ = inplace.tanh_
Tensor.relu_ = inplace.relu_
Tensor.pow_ = inplace.pow_
Tensor.addcmul_ = inplace.addcmul_
Tensor.addcdiv_ = inplace.addcdiv_

# issue 26: torch's everyday surface, round two
Tensor.asinh = asinh
Tensor.acosh = acosh
Tensor.atanh = atanh
Tensor.sinc = sinc
Tensor.logit = logit
Tensor.xlogy = xlogy
Tensor.copysign = copysign
Tensor.fmax = fmax
Tensor.fmin = fmin
Tensor.addcmul = methods.addcmul_method   # number-first overload too
Tensor.addcdiv = methods.addcdiv_method
Tensor.addmm = addmm
Tensor.addmv = addmv
Tensor.baddbmm = baddbmm
Tensor.addbmm = addbmm
Tensor.nansum = nansum
Tensor.nanmean = nanmean
Tensor.cummax = cummax
Tensor.cummin = cummin
Tensor.logcumsumexp = logcumsumexp
Tensor.inverse = inv
Tensor.det = det
Tensor.slogdet = slogdet
Tensor.logdet = logdet
Tensor.diag_embed = diag_embed
Tensor.take_along_dim = take_along_dim
