"""Probability distributions with elementwise log-likelihoods (never silently summed).

    from tinygen.distributions import Normal, Bernoulli, Categorical, kl_divergence
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.rsample()                                  # differentiable in mu, logvar
    kl = kl_divergence(q, Normal(0.0, 1.0))          # per element, (N, latent)
    log_px_z = Bernoulli(logits=l).log_prob(x).sum(dim=(1, 2, 3))     # (N,)

Files: distribution.py (base class, shapes), normal.py, bernoulli.py, categorical.py,
kl.py (closed-form KL table).
"""
from tinygen.distributions.bernoulli import Bernoulli
from tinygen.distributions.categorical import Categorical
from tinygen.distributions.distribution import Distribution
from tinygen.distributions.kl import KL_TABLE, kl_divergence
from tinygen.distributions.normal import Normal

__all__ = ["Bernoulli", "Categorical", "Distribution", "KL_TABLE", "Normal", "kl_divergence"]
