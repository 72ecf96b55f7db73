"""Variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"), with the
importance-weighted bound and likelihood estimate of Burda, Grosse & Salakhutdinov 2016
("Importance Weighted Autoencoders").

Model and encoder, for binary images x of D pixels and codes z of L dimensions:

    p(z)     = N(0, I)
    p(x | z) = prod_i Bern(x_i; sigmoid(l_i)),          l = g(z): the decoder's D logits
    q(z | x) = N(mu(x), diag(exp(logvar(x))))           the encoder's two heads

Evidence lower bound (ELBO), per example, in nats, with one reparameterized draw:

    z        = mu + exp(logvar / 2) * eps,   eps ~ N(0, I)          (differentiable in mu, logvar)
    log_px_z = log p(x | z) = sum_i [x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i)]
    kl_j     = KL(q(z_j | x) || N(0, 1)) = (mu_j^2 + exp(logvar_j) - 1 - logvar_j) / 2
    elbo     = log_px_z - sum_j kl_j                     E[elbo] <= log p(x)
    loss     = -mean_n elbo_n

Importance-weighted bound with k draws z_1..z_k ~ q(z | x):

    log w_s  = log p(x | z_s) + log p(z_s) - log q(z_s | x)
    L_k(x)   = log (1/k) sum_s w_s = logsumexp_s(log w_s) - log k
    E[L_1] = E[elbo] <= E[L_k] <= E[L_{k+1}] <= log p(x), and L_k -> log p(x) as k grows

Test log-likelihood, as in the IWAE paper: log p(x) ~= L_5000, computed in chunks of draws
so memory stays bounded; the test NLL is -mean_n L_5000(x_n).

Architectures (config.arch): "mlp" (hidden widths, tanh or relu; the decoder mirrors the
encoder) and "conv" (the B4 convolutions of docs/benchmarks.md, then the two heads). Presets:

    "b1"    784-400-20, ReLU: docs/benchmarks.md B1. The default: on the 5,000-image subset it
            trains in a few minutes to a good bound.
    "iwae"  784-200-200-50, tanh, decoder 50-200-200-784: Burda et al.'s one-stochastic-layer
            model (test NLL 86.76 nats for the VAE trained with k = 1, after 3,280 epochs).
    "conv"  the B4 encoder/decoder with a 20-dimensional Gaussian code.
"""
import math
from dataclasses import dataclass

import numpy as np

import tinygen.nn as nn
import tinygen.optim as optim
from tinygen.autograd.grad_mode import no_grad
from tinygen.distributions import Bernoulli
from tinygen.models.autoencoder import decoder, encoder_body, make_config
from tinygen.models.base import GenerativeModel, ModelSpec, as_tensor, eval_batches
from tinygen.models.record import Record
from tinygen.ops.factories import randn
from tinygen.ops.reduce import logsumexp
from tinygen.ops.shape import cat

_LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    arch: str = "mlp"                   # "mlp" | "conv"
    image_shape: tuple = (1, 28, 28)    # (C, H, W)
    hidden: tuple = (400,)              # mlp: encoder hidden widths (the decoder mirrors them)
    activation: str = "relu"            # mlp: "relu" | "tanh" (conv: ReLU, as B4)
    channels: tuple = (32, 64)          # conv: channels of the two stride-2 convolutions
    latent_dim: int = 20


PRESETS = {
    "b1": VAEConfig(),
    "iwae": VAEConfig(hidden=(200, 200), activation="tanh", latent_dim=50),
    "conv": VAEConfig(arch="conv", latent_dim=20),
}


class VAE(GenerativeModel):
    """Gaussian encoder, Bernoulli decoder; VAE() is preset "b1", VAE("iwae") (or
    VAE(preset="iwae"), the command line's --preset) Burda et al.'s."""

    def __init__(self, config=None, preset=None, **overrides):
        super().__init__()
        self.config = config = make_config(config if preset is None else preset, overrides,
                                           PRESETS, VAEConfig)
        self.encoder, features = encoder_body(config)
        self.mu = nn.Linear(features, config.latent_dim)
        self.logvar = nn.Linear(features, config.latent_dim)
        self.decoder = decoder(config)

    def encode(self, x):
        """x (N, C, H, W) -> (mu, logvar), each (N, L): the parameters of q(z | x)."""
        h = self.encoder(x)                                      # (N, F)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        """z (..., L) -> logits of p(x | z), (..., C, H, W) (leading axes kept)."""
        lead = tuple(z.shape[:-1])
        logits = self.decoder(z.reshape(-1, z.shape[-1]))        # (M, C, H, W)
        return logits.reshape(lead + tuple(self.config.image_shape))

    def log_px_z(self, x, z):
        """log p(x | z): x (N, C, H, W), z (..., N, L) -> (..., N), summed over pixels."""
        log_p = Bernoulli(logits=self.decode(z)).log_prob(x)   # (..., N, C, H, W)
        return log_p.sum(dim=(-3, -2, -1))

    @staticmethod
    def reparameterize(mu, logvar, eps):
        """z = mu + exp(logvar / 2) * eps."""
        return mu + (0.5 * logvar).exp() * eps

    def terms(self, x):
        """Record(log_px_z (N,), kl (N, L), elbo (N,)), one draw of z per example, nats."""
        mu, logvar = self.encode(x)                                          # (N, L) each
        eps = randn(mu.shape, dtype=mu.dtype, device=mu.device)
        z = self.reparameterize(mu, logvar, eps)                             # (N, L)
        log_px_z = self.log_px_z(x, z)                                       # (N,)
        kl = 0.5 * (mu * mu + logvar.exp() - 1 - logvar)                     # (N, L)
        return Record(log_px_z=log_px_z, kl=kl, elbo=log_px_z - kl.sum(dim=1))

    def loss(self, x):
        """-mean_n elbo_n."""
        return -self.terms(x).elbo.mean()

    def log_weights(self, x, mu, logvar, k):
        """log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x) for k fresh draws: (k, N)."""
        eps = randn((k,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)   # (k, N, L)
        z = self.reparameterize(mu, logvar, eps)                                  # (k, N, L)
        log_pz = -0.5 * (z * z + _LOG_2PI).sum(dim=-1)                            # (k, N)
        # (z - mu) / sigma = eps exactly, so log q needs no division
        log_qz = -0.5 * (eps * eps + logvar + _LOG_2PI).sum(dim=-1)               # (k, N)
        return self.log_px_z(x, z) + log_pz - log_qz

    def iwae_bound(self, x, k):
        """L_k(x) = logsumexp_s log w_s - log k, (N,); differentiable (an IWAE objective)."""
        mu, logvar = self.encode(x)
        return logsumexp(self.log_weights(x, mu, logvar, k), 0) - math.log(k)

    def log_likelihood(self, x, k=5000, chunk=20000):
        """log p(x) ~= L_k(x), (N,) in nats, without gradient.

        The k draws are made in passes of at most `chunk` (draw, example) pairs, so memory is
        O(chunk * D) whatever k; the draws are those of one (k, N, L) randn, so the result
        does not depend on chunk (up to float rounding)."""
        with no_grad():
            mu, logvar = self.encode(x)                                      # (N, L)
            per_pass = max(1, chunk // x.shape[0])
            log_w = [self.log_weights(x, mu, logvar, min(per_pass, k - s))
                     for s in range(0, k, per_pass)]                        # [(s, N)]
            return logsumexp(cat(log_w, 0), 0) - math.log(k)

    def sample(self, n):
        """(n, C, H, W) pixel probabilities sigmoid(g(z)), z ~ N(0, I) (not binary draws)."""
        p = next(iter(self.parameters()))
        with no_grad():
            z = randn(n, self.config.latent_dim, dtype=p.dtype, device=p.device)
            return self.decode(z).sigmoid()

    # ---- the train loop's contract (docs/training.md) ----

    def configure_optimizers(self, lr=1e-3):
        return {"adam": optim.Adam(self.parameters(), lr=lr)}

    def training_step(self, x, optimizers):
        """One Adam step on -mean elbo; returns batch means of loss, elbo, log_px_z, kl (summed
        over latents) as 0-d arrays on the model's device (float() one to read it: a sync)."""
        opt = optimizers["adam"]
        opt.zero_grad()
        t = self.terms(x)
        loss = -t.elbo.mean()
        loss.backward()
        opt.step()
        return {"loss": loss.array, "elbo": t.elbo.array.mean(),
                "log_px_z": t.log_px_z.array.mean(), "kl": t.kl.array.sum(axis=1).mean()}

    def evaluate(self, data, k=5000, batch_size=100, limit=None, chunk=20000):
        """Test metrics in nats over `data` (a Tensor, a DataLoader or a dataset), each a mean
        over the images (the first `limit` of them):

            nll           -L_k(x): the importance-sampled negative log-likelihood (k draws)
            elbo, log_px_z, kl    the ELBO and its two parts (kl summed over latents)
            active_units  latents with Cov_x(E_q[z_u]) > 0.01 (Burda et al.'s measure)
        """
        sums = {"nll": 0.0, "elbo": 0.0, "log_px_z": 0.0, "kl": 0.0}
        mus, count = [], 0
        device = next(iter(self.parameters())).device
        with no_grad():
            for x, _ in eval_batches(data, batch_size, limit):
                x = as_tensor(x, device)
                t = self.terms(x)
                sums["nll"] -= float(self.log_likelihood(x, k, chunk).array.sum())
                sums["elbo"] += float(t.elbo.array.sum())
                sums["log_px_z"] += float(t.log_px_z.array.sum())
                sums["kl"] += float(t.kl.array.sum())
                mus.append(np.asarray(self.encode(x)[0].numpy(), np.float64))
                count += x.shape[0]
        if count == 0:
            raise ValueError("VAE.evaluate: no images to evaluate")
        metrics = {name: value / count for name, value in sums.items()}
        mu = np.concatenate(mus)                                             # (count, L)
        metrics["active_units"] = int((mu.var(axis=0) > 0.01).sum()) if count > 1 else 0
        metrics.update(k=k, n=count)
        return metrics


SPEC = ModelSpec("vae", VAE, lr=1e-3, epochs=10, presets=tuple(sorted(PRESETS)))
