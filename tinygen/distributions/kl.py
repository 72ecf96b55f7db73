"""KL(p || q) = E_p[log p(x) - log q(x)] in closed form, elementwise over the batch.

    Normal:      log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2
    Bernoulli:   p_p (log p_p - log p_q) + (1 - p_p)(log(1 - p_p) - log(1 - p_q))
                 with log p = -softplus(-l) and log(1 - p) = -softplus(l): finite for any logits
    Categorical: sum_k p_k (log p_k - log q_k)          (over the last axis)
    Uniform:     log((high_q - low_q) / (high_p - low_p)) where [low_p, high_p] lies in
                 [low_q, high_q], inf elsewhere
    MultivariateNormal: (|L_q^-1 L_p|_F^2 + |L_q^-1 (m_q - m_p)|^2 - d) / 2
                 + sum log diag L_q - sum log diag L_p          (Sigma = L L^T)
    Independent: the base pair's KL summed over the reinterpreted dims (the same number)

Bernoulli and Categorical at the edge of the support (as torch): an outcome p gives
probability exactly 0 contributes 0 whatever q gives it; one q gives probability exactly 0
and p does not makes the KL +inf. Both are read from the distributions' own record of exact
zeros (Categorical.impossible, Bernoulli.never/always), since probs are turned into clamped,
finite logits; their gradients are 0, never NaN. (torch also says +inf where a logits-given
q's probability merely rounds to 0 or 1, e.g. sigmoid(20) in float32; tinygen keeps the
finite log-space value there.)

kl_divergence(p, q) looks the pair of types up in one table; any other pair is a
NotImplementedError naming it, and batch shapes that do not broadcast are a ValueError.
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.distributions.bernoulli import Bernoulli
from tinygen.distributions.categorical import Categorical
from tinygen.distributions.independent import Independent
from tinygen.distributions.multivariate_normal import MultivariateNormal
from tinygen.distributions.normal import Normal
from tinygen.distributions.uniform import Uniform
from tinygen.ops.elementwise import log, softplus, where
from tinygen.ops.linalg import solve
from tinygen.ops.shape import getitem, unsqueeze


def _kl_normal_normal(p, q):
    ratio = p.scale / q.scale
    d = (p.loc - q.loc) / q.scale
    return 0.5 * (ratio * ratio + d * d) - log(ratio) - 0.5


def _edge(term, p_never, q_never):
    """term where both give the outcome a chance; 0 where p never gives it, +inf where only q
    never does. term must already be finite at those places (its gradient is taken)."""
    device = term.device
    p_never, q_never = Tensor.wrap(p_never, device, False), Tensor.wrap(q_never, device, False)
    return where(p_never, 0.0, where(q_never, np.inf, term))


def _finite(logits, mask):
    """The logits with 0 at the masked places, where _edge replaces the term: an infinite
    logit there would send 0 * inf = NaN back through the term's gradient."""
    return where(Tensor.wrap(mask, logits.device, False), 0.0, logits)


def _kl_bernoulli_bernoulli(p, q):
    ones = p.probs * (softplus(-_finite(q.logits, q.never))             # the x = 1 term
                      - softplus(-_finite(p.logits, p.never)))
    zeros = (1 - p.probs) * (softplus(_finite(q.logits, q.always))      # the x = 0 term
                             - softplus(_finite(p.logits, p.always)))
    return _edge(ones, p.never, q.never) + _edge(zeros, p.always, q.always)


def _kl_categorical_categorical(p, q):
    if p.num_categories != q.num_categories:
        raise ValueError(f"kl_divergence: Categorical with {p.num_categories} categories against "
                         f"one with {q.num_categories}")
    lp, lq = _finite(p.logits, p.impossible), _finite(q.logits, q.impossible)
    return _edge(p.probs * (lp - lq), p.impossible, q.impossible).sum(dim=-1)


def _kl_uniform_uniform(p, q):
    xp = backend.array_module(p.low.device)
    outside = (q.low.array > p.low.array) | (q.high.array < p.high.array)
    infinite = Tensor.wrap(xp.where(outside, xp.inf, 0.0).astype(p.low.dtype), p.low.device, False)
    return log((q.high - q.low) / (p.high - p.low)) + infinite


def _kl_mvn_mvn(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError(f"kl_divergence: MultivariateNormal of event_shape {p.event_shape} against "
                         f"one of {q.event_shape}")
    d = p.event_shape[0]
    m = solve(q.scale_tril, p.scale_tril)                                     # L_q^-1 L_p
    z = getitem(solve(q.scale_tril, unsqueeze(q.loc - p.loc, -1)), (Ellipsis, 0))
    return 0.5 * ((m * m).sum(dim=(-2, -1)) + (z * z).sum(dim=-1) - d) + q._half_log_det() - p._half_log_det()


def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("kl_divergence: Independent distributions with different "
                                  "reinterpreted_batch_ndims")
    return p._sum_event(kl_divergence(p.base_dist, q.base_dist))


KL_TABLE = {
    (Uniform, Uniform): _kl_uniform_uniform,
    (MultivariateNormal, MultivariateNormal): _kl_mvn_mvn,
    (Independent, Independent): _kl_independent_independent,
    (Normal, Normal): _kl_normal_normal,
    (Bernoulli, Bernoulli): _kl_bernoulli_bernoulli,
    (Categorical, Categorical): _kl_categorical_categorical,
}


def kl_divergence(p, q):
    """KL(p || q) per batch element, shape broadcast(p.batch_shape, q.batch_shape)."""
    fn = KL_TABLE.get((type(p), type(q)))
    if fn is None:
        known = ", ".join(f"({a.__name__}, {b.__name__})" for a, b in KL_TABLE)
        raise NotImplementedError(f"kl_divergence: no closed form for ({type(p).__name__}, "
                                  f"{type(q).__name__}); known pairs: {known}")
    try:
        np.broadcast_shapes(p.batch_shape, q.batch_shape)
    except ValueError:
        raise ValueError(f"kl_divergence: batch shapes {p.batch_shape} and {q.batch_shape} "
                         f"do not broadcast") from None
    return fn(p, q)
