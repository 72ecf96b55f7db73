"""Probability distributions with elementwise log-likelihoods (never silently summed).

    from tinygen.distributions import Normal, Bernoulli, Categorical, kl_divergence
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.rsample()                                  # differentiable in mu, logvar
    kl = kl_divergence(q, Normal(0.0, 1.0))          # per element, (N, latent)
    log_px_z = Bernoulli(logits=l).log_prob(x).sum(dim=(1, 2, 3))     # (N,)

Files: distribution.py (base class, shapes), normal.py, bernoulli.py, categorical.py,
uniform.py, multivariate_normal.py, independent.py (batch dims read as an event), kl.py
(closed-form KL table).
"""
from tinygen.distributions.bernoulli import Bernoulli
from tinygen.distributions.categorical import Categorical
from tinygen.distributions.distribution import Distribution
from tinygen.distributions.independent import Independent
from tinygen.distributions.kl import KL_TABLE, kl_divergence
from tinygen.distributions.multivariate_normal import MultivariateNormal
from tinygen.distributions.normal import Normal
from tinygen.distributions.uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Independent", "KL_TABLE", "MultivariateNormal",
           "Normal", "Uniform", "kl_divergence"]
