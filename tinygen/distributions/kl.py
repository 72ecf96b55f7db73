"""KL(p || q) = E_p[log p(x) - log q(x)] in closed form, elementwise over the batch.

    Normal:      log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2
    Bernoulli:   p_p (log p_p - log p_q) + (1 - p_p)(log(1 - p_p) - log(1 - p_q))
                 with log p = -softplus(-l) and log(1 - p) = -softplus(l): finite for any logits
    Categorical: sum_k p_k (log p_k - log q_k)          (over the last axis)

kl_divergence(p, q) looks the pair of types up in one table; any other pair is a
NotImplementedError naming it, and batch shapes that do not broadcast are a ValueError.
"""
import numpy as np

from tinygen.distributions.bernoulli import Bernoulli
from tinygen.distributions.categorical import Categorical
from tinygen.distributions.normal import Normal
from tinygen.ops.elementwise import log, softplus


def _kl_normal_normal(p, q):
    ratio = p.scale / q.scale
    d = (p.loc - q.loc) / q.scale
    return 0.5 * (ratio * ratio + d * d) - log(ratio) - 0.5


def _kl_bernoulli_bernoulli(p, q):
    lp, lq = p.logits, q.logits
    return p.probs * (softplus(-lq) - softplus(-lp)) + (1 - p.probs) * (softplus(lq) - softplus(lp))


def _kl_categorical_categorical(p, q):
    if p.num_categories != q.num_categories:
        raise ValueError(f"kl_divergence: Categorical with {p.num_categories} categories against "
                         f"one with {q.num_categories}")
    # p_k = 0 contributes 0 whatever q_k is; where p_k > 0 and q_k = 0 the KL is +inf
    tiny = float(np.finfo(p.logits.dtype).min)
    lp = p.logits.clamp(min=tiny)
    return (p.probs * (lp - q.logits)).sum(dim=-1)


KL_TABLE = {
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
