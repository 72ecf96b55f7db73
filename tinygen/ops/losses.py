"""Loss functions, with torch's names, arguments and `reduction='mean'|'sum'|'none'`.

    binary_cross_entropy(p, t)             -[t log p + (1 - t) log(1 - p)], logs clamped at -100
                                           d/dp = (p - t) / max(p (1 - p), 1e-12), finite at 0, 1
    binary_cross_entropy_with_logits(l, t) max(l, 0) - l t + log(1 + e^-|l|)      (stable form,
                                           kernels/fused_*.py; exact limits at l = +-inf)
                                           d/dl = sigmoid(l) - t, finite for any |l|
    nll_loss(logp, t)                      -logp[n, t_n]
    cross_entropy(logits, t)               nll_loss(log_softmax(logits, 1), t)
    mse_loss(x, t)                         (x - t)^2
    gaussian_nll_loss(mu, t, var)          0.5 [log max(var, eps) + (t - mu)^2 / max(var, eps)]
                                           (+ 0.5 log 2 pi when full=True)
    l1_loss(x, t)                          |x - t|
    smooth_l1_loss(x, t, beta)             0.5 d^2 / beta where |d| < beta, else |d| - beta / 2
    huber_loss(x, t, delta)                0.5 d^2 where |d| <= delta, else delta (|d| - delta / 2)
    kl_div(logq, p)                        p (log p - logq), 0 where p = 0 (log_target: p = e^t)
    cross_entropy with probabilities p     -sum_c w_c p_c log softmax(l)_c
    cross_entropy, label_smoothing e       (1 - e) nll + e / C * (-sum_c w_c log softmax(l)_c)

The embedding and ranking losses (y a target of +-1, d the p-norm distance of pairwise_distance):

    poisson_nll_loss(x, t)                 e^x - t x (log_input), x - t log(x + eps) otherwise
                                           (+ t log t - t + 0.5 log(2 pi t) where t > 1, full=True)
    margin_ranking_loss(a, b, y)           max(0, -y (a - b) + margin)
    hinge_embedding_loss(x, y)             x where y = 1, max(0, margin - x) where y = -1
    soft_margin_loss(x, y)                 log(1 + e^(-y x))
    multilabel_soft_margin_loss(x, t)      -mean_c [t log sigmoid(x) + (1 - t) log sigmoid(-x)]
    cosine_embedding_loss(a, b, y)         1 - cos(a, b) where y = 1, max(0, cos(a, b) - margin)
                                           where y = -1
    triplet_margin_loss(a, p, n)           max(0, margin + d(a, p) - d(a, n))   (swap: d(a, n)
                                           the smaller of d(a, n) and d(p, n)); any distance d
                                           with triplet_margin_with_distance_loss
    multi_margin_loss(x, y)                sum_{i != y} max(0, margin - x_y + x_i)^p / C
    multilabel_margin_loss(x, y)           sum_{j in y} sum_{i not in y} max(0, 1 - x_j + x_i) / C
"""
import math

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops.elementwise import (abs, clamp, exp, log, logsigmoid, minimum, relu, sigmoid,
                                     softplus_unit, sqrt, where)
from tinygen.ops.indexing import gather
from tinygen.ops.reduce import log_softmax
from tinygen.ops.similarity import pairwise_distance
from tinygen.ops.shape import getitem, permute, reshape, unsqueeze


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(op, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} and target of shape "
                         f"{tuple(target.shape)} must have the same shape")


class BinaryCrossEntropy(Function):
    """Per-element BCE on probabilities p and targets t, logs clamped at -100 (as torch).

    d/dp = (p - t) / max(p (1 - p), 1e-12)   (torch's formula: finite at p = 0 and p = 1)
    d/dt = log(1 - p) - log p                 (both logs clamped at -100)
    """

    eps = 1e-12

    def forward(self, p, t):
        xp = backend.array_module(self.device)
        with np.errstate(divide="ignore"):  # log 0 = -inf, then clamped
            log_p = xp.maximum(xp.log(p), -100)
            log_q = xp.maximum(xp.log1p(-p), -100)
        return -(t * log_p + (1 - t) * log_q)

    def backward(self, gy):
        p, t = self.inputs
        gp = gy * (p - t) / clamp(p * (1 - p), min=self.eps)
        gt = gy * (_clamped_log(1 - p) - _clamped_log(p)) if t.requires_grad else None
        return gp, gt


def _clamped_log(x):
    with np.errstate(divide="ignore"):
        return clamp(log(x), min=-100.0)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """BCE on probabilities in [0, 1]; log terms clamped at -100 as torch, so p = 0 or 1
    gives a finite loss and a finite gradient."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = as_tensor(target, like=(input,))
    _same_shape("binary_cross_entropy", input, target)
    nan = backend.check_values(
        (input.array >= 0) & (input.array <= 1),
        ValueError("binary_cross_entropy: input values must lie in [0, 1] (probabilities); "
                   "for logits use binary_cross_entropy_with_logits"), input.dtype)
    loss = BinaryCrossEntropy()(input, target)
    if nan is not None:   # a device input: NaN where invalid, no host sync
        loss = loss + Tensor.wrap(nan, input.device, False)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def _fused(device):
    from tinygen import kernels
    return kernels.implementation("fused", device)


class BCEWithLogits(Function):
    """Per-element BCE from logits l and targets t (the fused, stable form).

    Forward and first backward run as fused kernels (kernels/fused_*.py); the backward is
    itself a node (BCEWithLogitsGrad) whose own backward is written with ops, so second
    derivatives work."""

    def forward(self, l, t):
        return _fused(self.device).bce_with_logits(l, t)

    def backward(self, gy):
        l, t = self.inputs
        gl = BCEWithLogitsGrad()(l, t, gy)
        gt = -gy * l if t.requires_grad else None
        return gl, gt


class BCEWithLogitsGrad(Function):
    """gl = gy (sigmoid(l) - t), fused; d/dl = gy s (1 - s), d/dt = -gy, d/dgy = s - t."""

    def forward(self, l, t, gy):
        return _fused(self.device).bce_with_logits_grad(l, t, gy)

    def backward(self, ggl):
        l, t, gy = self.inputs
        s = sigmoid(l)
        g_l = ggl * gy * s * sigmoid(-l) if l.requires_grad else None   # s (1 - s), accurate
        g_t = -ggl * gy if t.requires_grad else None          # l, t, gy share one shape
        g_gy = ggl * (s - t) if gy.requires_grad else None
        return g_l, g_t, g_gy


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = as_tensor(target, like=(input,))
    _same_shape("binary_cross_entropy_with_logits", input, target)
    if pos_weight is not None:
        # -[w t log s(l) + (1 - t) log(1 - s(l))] with log s(l) = -softplus(-l); the exact
        # softplus (F.softplus returns x itself above its threshold 20: 2e-9 short)
        from tinygen.ops.elementwise import softplus_unit
        loss = pos_weight * target * softplus_unit(-input) + (1 - target) * softplus_unit(input)
    else:
        loss = BCEWithLogits()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _class_last(input):
    """(N, C, d1, ...) -> (N * d1 * ..., C): classes on the last axis."""
    if input.ndim == 2:
        return input
    dims = (0,) + tuple(range(2, input.ndim)) + (1,)
    return reshape(permute(input, dims), -1, input.shape[1])


def _weighted_mean(total_loss, total_weight, device):
    """total_loss / total_weight (an array, read without a host sync). When no target counts
    (every one ignore_index, or of weight 0) the value is NaN, 0/0, as torch's, but the
    gradient is 0: dividing by a zero total would send -0 * inf = NaN back into every logit,
    so one padding-only batch would turn every parameter into NaN."""
    xp = backend.array_module(device)
    empty = total_weight == 0
    divisor = xp.where(empty, 1, total_weight).astype(total_weight.dtype)
    nan_if_empty = xp.where(empty, np.nan, 0).astype(total_weight.dtype)
    return (total_loss / Tensor.wrap(divisor, device, False)
            + Tensor.wrap(nan_if_empty, device, False))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[n, target_n] for log-probabilities input (N, C) or (N, C, d1, ...).

    With reduction='mean' and class weights, divides by the sum of the weights of the
    counted targets (torch's convention); targets equal to ignore_index count for nothing
    (with none counted: NaN, as torch, and a zero gradient, see _weighted_mean)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input.ndim < 2:
        raise ValueError(f"nll_loss: input must be (N, C) or (N, C, d1, ...), got {tuple(input.shape)}")
    t = target.array if isinstance(target, Tensor) else np.asarray(target)
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(t.shape) != expected:
        raise ValueError(f"nll_loss: target of shape {tuple(t.shape)} for input of shape "
                         f"{tuple(input.shape)} (expected {expected})")
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got {t.dtype}")
    xp = backend.array_module(input.device)
    t = xp.asarray(t).reshape(-1)
    keep = t != ignore_index
    C = input.shape[1]
    valid = ((t >= 0) & (t < C)) | ~keep
    nan = backend.check_values(valid, IndexError(f"nll_loss: target values must lie in [0, {C}) "
                                                 f"(or be ignore_index)"), input.dtype)
    safe_t = xp.where(keep & valid, t, 0)
    picked = getitem(_class_last(input), (xp.arange(t.shape[0]), safe_t))   # (M,)
    w = keep.astype(input.dtype)
    if weight is not None:
        w = w * weight.array[safe_t]
    if nan is not None:   # a device target out of range: its weight is NaN, no host sync
        w = w + nan
    w_t = Tensor.wrap(w, input.device, False)
    loss = -picked * w_t
    if reduction == "mean":
        return _weighted_mean(loss.sum(), w.sum(), input.device)
    if reduction == "none":
        return reshape(loss, expected)
    return _reduce(loss, reduction, "nll_loss")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """log_softmax over the class dim (1) followed by nll_loss; a floating target of the
    input's shape holds class probabilities instead (see _cross_entropy_soft)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: input must be (N, C) or (N, C, d1, ...), got "
                         f"{tuple(input.shape)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _cross_entropy_soft(input, target, weight, reduction, label_smoothing)
    if label_smoothing > 0:
        return _cross_entropy_smoothed(input, target, weight, ignore_index, reduction,
                                       label_smoothing)
    return nll_loss(log_softmax(input, 1), target, weight, ignore_index=ignore_index,
                    reduction=reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = as_tensor(target, like=(input,))
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of target under N(input, var), as torch.

    var may have the input's shape, the input's shape without its last dim (one variance per
    row: unsqueezed, as torch), or any shape that broadcasts to it; it is clamped at eps (without
    gradient through the clamp: the clamped entries pass their gradient straight through to
    var, as torch's in-place no-grad clamp does)."""
    target = as_tensor(target, like=(input,))
    var = as_tensor(var, like=(input,))
    _same_shape("gaussian_nll_loss", input, target)
    if input.ndim and tuple(var.shape) == tuple(input.shape[:-1]) and var.shape != input.shape:
        var = reshape(var, tuple(var.shape) + (1,))  # (N,) for input (N, D): per-row variance
    try:
        np.broadcast_shapes(var.shape, input.shape)
    except ValueError:
        raise ValueError(f"gaussian_nll_loss: var of shape {tuple(var.shape)} does not broadcast "
                         f"to input of shape {tuple(input.shape)}") from None
    nan = backend.check_values(var.array >= 0, ValueError("gaussian_nll_loss: var has negative "
                                                         "entries"), var.dtype)
    xp = backend.array_module(var.device)
    clamp_by = xp.maximum(var.array, eps) - var.array
    v = var + Tensor.wrap(clamp_by if nan is None else clamp_by + nan, var.device, False)
    d = input - target
    loss = 0.5 * (log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")



# ---- the losses of torch.nn beyond the generative models' few ---------------------------------

def _legacy_reduction(size_average, reduce, reduction):
    """torch's old size_average/reduce flags, when given, decide the reduction (older scripts'
    F.nll_loss(output, target, size_average=False): 'sum')."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """|input - target|, reduced."""
    target = as_tensor(target, like=(input,))
    _same_shape("l1_loss", input, target)
    return _reduce(abs(input - target), _legacy_reduction(size_average, reduce, reduction),
                   "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target)."""
    target = as_tensor(target, like=(input,))
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = input - target
    ad = abs(d)
    loss = ad if beta == 0 else where(ad.array < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| <= delta, delta (|d| - 0.5 delta) elsewhere (d = input - target)."""
    target = as_tensor(target, like=(input,))
    _same_shape("huber_loss", input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = input - target
    ad = abs(d)
    loss = where(ad.array <= delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _reduce(loss, reduction, "huber_loss")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL terms p (log p - input) for log-probabilities `input` and target p
    (log p itself when log_target=True); 'batchmean' divides the sum by the batch size."""
    target = as_tensor(target, like=(input,))
    _same_shape("kl_div", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        positive = target.array > 0             # 0 log 0 = 0 (torch's xlogy)
        xp = backend.array_module(target.device)
        safe = where(positive, target, Tensor.wrap(xp.ones_like(target.array), target.device, False))
        loss = where(positive, target * log(safe), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


def _class_weight(weight, ndim):
    """weight (C,) shaped to broadcast along the class dim 1 of an ndim-dim input."""
    return reshape(weight, (weight.shape[0],) + (1,) * (ndim - 2))


def _cross_entropy_soft(input, target, weight, reduction, label_smoothing):
    """-sum_c w_c p_c log softmax(input)_c per element, p the (smoothed) target probabilities;
    'mean' divides by the number of elements N d1 ... (not by the weights), as torch."""
    _same_shape("cross_entropy (probability targets)", input, target)
    C = input.shape[1]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    terms = log_softmax(input, 1) * target
    if weight is not None:
        terms = terms * _class_weight(weight, input.ndim)
    loss = -terms.sum(dim=1)
    if reduction == "mean":
        return loss.sum() / (input.array.size // C)
    return _reduce(loss, reduction, "cross_entropy")


def _cross_entropy_smoothed(input, target, weight, ignore_index, reduction, label_smoothing):
    """(1 - e) nll + (e / C) smooth, smooth = -sum_c w_c log softmax(input)_c per element
    (0 at ignored targets), 'mean' normalized as nll_loss is: by the counted targets' weights."""
    C = input.shape[1]
    logp = log_softmax(input, 1)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    xp = backend.array_module(input.device)
    t = xp.asarray(target.array if isinstance(target, Tensor) else target)
    keep = t != ignore_index
    terms = logp if weight is None else logp * _class_weight(weight, input.ndim)
    smooth = -terms.sum(dim=1) * Tensor.wrap(keep.astype(input.dtype), input.device, False)
    if reduction == "mean":
        w = keep if weight is None else weight.array[xp.where(keep, t, 0)] * keep
        smooth = _weighted_mean(smooth.sum(), w.sum().astype(input.dtype), input.device)
    else:
        smooth = _reduce(smooth, reduction, "cross_entropy")
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / C)


# ---- embedding and ranking losses (composed: twice differentiable) -----------------------------

def _sign_target(target, like):
    """A +-1 target that only selects a branch, as a constant of like's dtype on its device."""
    t = target.array if isinstance(target, Tensor) else np.asarray(target)
    return Tensor.wrap(backend.array_module(like.device).asarray(t, dtype=like.dtype), like.device, False)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Negative log-likelihood of target under Poisson(rate): rate = e^input (log_input) or
    input; full adds Stirling's log(target!) for target > 1."""
    target = as_tensor(target, like=(input,))
    loss = exp(input) - target * input if log_input else input - target * log(input + eps)
    if full:
        big = Tensor.wrap(target.array > 1, target.device, False)
        safe = where(big, target, 2.0)                        # the term is 0 where t <= 1
        loss = loss + where(big, safe * log(safe) - safe + 0.5 * log(safe * (2 * math.pi)), 0.0)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "poisson_nll_loss")


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target (input1 - input2) + margin): input1 should rank above input2 where
    target = 1, below where target = -1."""
    y = as_tensor(target, like=(input1,))
    loss = clamp(-y * (input1 - input2) + margin, min=0.0)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """input where target = 1, max(0, margin - input) where target = -1 (input a distance)."""
    y = _sign_target(target, input)
    loss = where(y.array != 1, clamp(margin - input, min=0.0), 0.0) + where(y.array != -1, input, 0.0)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + e^(-target input)), the logistic loss for targets +-1."""
    y = as_tensor(target, like=(input,))
    return _reduce(softplus_unit(-y * input), _legacy_reduction(size_average, reduce, reduction),
                   "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Binary cross-entropy on logits input (N, C) against 0/1 targets, averaged over the C
    classes (weight (C,) scales each), then reduced over N."""
    t = as_tensor(target, like=(input,))
    loss = -(t * logsigmoid(input) + (1 - t) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(dim=-1) / input.shape[-1]
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "multilabel_soft_margin_loss")


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(input1, input2) where target = 1, max(0, cos - margin) where target = -1; the
    cosine over dim 1 of (N, D) inputs (dim 0 of (D,) ones), each squared norm + 1e-12 (torch's)."""
    y = _sign_target(target, input1)
    dim = y.ndim
    dot = (input1 * input2).sum(dim=dim)
    cos = dot / sqrt(((input1 * input1).sum(dim=dim) + 1e-12) * ((input2 * input2).sum(dim=dim) + 1e-12))
    loss = where(y.array == 1, 1 - cos, 0.0) + where(y.array == -1, clamp(cos - margin, min=0.0), 0.0)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "cosine_embedding_loss")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)), d the p-norm distance over
    the last dim (pairwise_distance, eps added to the difference)."""
    return triplet_margin_with_distance_loss(
        anchor, positive, negative, distance_function=lambda a, b: pairwise_distance(a, b, p, eps),
        margin=margin, swap=swap, reduction=_legacy_reduction(size_average, reduce, reduction))


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) for a distance function d of
    two tensors (default: pairwise_distance); swap: d(anchor, negative) the smaller of it and
    d(positive, negative)."""
    d = pairwise_distance if distance_function is None else distance_function
    d_pos, d_neg = d(anchor, positive), d(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, d(positive, negative))
    loss = clamp(d_pos - d_neg + margin, min=0.0)
    return _reduce(loss, reduction, "triplet_margin_loss")


def _class_targets(op, input, target):
    """input as (N, C) and target as an int array on input's device, (N,) or (N, C)."""
    t = target.array if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {t.dtype}")
    x = input if input.ndim == 2 else reshape(input, (1, -1))
    return x, backend.array_module(input.device).asarray(t).reshape(x.shape[0], -1)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """The multi-class hinge: sum over the wrong classes i of max(0, margin - x_y + x_i)^p
    (times weight[y]), over C; input (N, C) or (C,), target (N,) class indices; p 1 or 2."""
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    x, t = _class_targets("multi_margin_loss", input, target)                # (N, C), (N, 1)
    xp = backend.array_module(input.device)
    wrong = Tensor.wrap((xp.arange(x.shape[1])[None, :] != t).astype(x.dtype), x.device, False)
    terms = relu(gather(x, 1, Tensor.wrap(t, x.device, False)) * -1 + x + margin) * wrong
    if p == 2:
        terms = terms * terms
    if weight is not None:
        terms = terms * reshape(getitem(weight, t[:, 0]), (-1, 1))
    loss = terms.sum(dim=1) / x.shape[1]
    if input.ndim == 1:
        loss = reshape(loss, ())
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "multi_margin_loss")


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes j and other classes i of max(0, 1 - x_j + x_i), over C; input
    (N, C) or (C,), target of the same shape holding class indices, ended by the first -1."""
    x, t = _class_targets("multilabel_margin_loss", input, target)           # (N, C), (N, C)
    xp = backend.array_module(input.device)
    listed = xp.cumprod(t >= 0, axis=1).astype(bool)                          # before the first -1
    is_target = xp.zeros(x.shape, dtype=bool)
    rows = xp.broadcast_to(xp.arange(x.shape[0])[:, None], t.shape)
    is_target[rows[listed], t[listed]] = True
    pairs = Tensor.wrap((is_target[:, :, None] & ~is_target[:, None, :]).astype(x.dtype), x.device, False)
    hinge = relu(unsqueeze(x, 1) - unsqueeze(x, 2) + 1)                      # [n, j, i]: 1 - x_j + x_i
    loss = (hinge * pairs).sum(dim=(1, 2)) / x.shape[1]
    if input.ndim == 1:
        loss = reshape(loss, ())
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "multilabel_margin_loss")
