"""Autoencoder: a deterministic code z = f(x) and a Bernoulli decoder p(x | z) = Bern(sigmoid(g(z))).

Trained by reconstruction, per example and in nats:

    recon(x) = sum_i BCE-with-logits(l_i, x_i),   l = g(f(x))  (784 logits for a 28x28 image)
             = -sum_i [x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i)]
    loss     = mean_n recon(x_n)

For binary x, recon(x) = -log p(x | z = f(x)); for gray x in [0, 1] it is the cross-entropy
of the pixel distributions (its minimum is their entropy, not 0).

Architectures (config.arch):

    mlp   x (N, 784) -> [Linear, act] per hidden width -> Linear -> z (N, latent_dim)
          z -> [Linear, act] per hidden width, reversed -> Linear -> logits (N, 784)
    conv  (preset "b4", docs/benchmarks.md B4)
          Conv2d(1, 32, 3, 2, 1) ReLU -> Conv2d(32, 64, 3, 2, 1) ReLU -> flatten -> Linear(64*7*7, 32)
          Linear(32, 64*7*7) ReLU -> (64, 7, 7) -> ConvTranspose2d(64, 32, 4, 2, 1) ReLU
          -> ConvTranspose2d(32, 1, 4, 2, 1) logits

Sampling. An autoencoder has no prior over codes, so sample(n) uses one fitted after the fact
(ex-post density estimation, as Ghosh et al. 2020, "From variational to deterministic
autoencoders"): a Gaussian N(m, S) over codes, whose moments are an exponential moving
average of the training batches' codes (updated in training_step), or the exact moments of
a data set's codes (fit_codes). It decodes z ~ N(m, S) and returns sigmoid(logits): pixel
probabilities, not binary draws.

The encoder body and decoder builders here are shared with the VAE (tinygen/models/vae.py).
"""
from dataclasses import dataclass, replace

import numpy as np

import tinygen.nn as nn
import tinygen.optim as optim
from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.models.base import GenerativeModel, ModelSpec, as_tensor, eval_batches
from tinygen.models.record import Record
from tinygen.ops.factories import randn
from tinygen.ops.losses import binary_cross_entropy_with_logits


@dataclass
class AutoEncoderConfig:
    arch: str = "mlp"                   # "mlp" | "conv"
    image_shape: tuple = (1, 28, 28)    # (C, H, W); conv needs H and W divisible by 4
    hidden: tuple = (400,)              # mlp: hidden widths of the encoder (the decoder mirrors)
    activation: str = "relu"            # mlp: "relu" | "tanh" (conv: ReLU, as B4)
    channels: tuple = (32, 64)          # conv: channels of the two stride-2 convolutions
    latent_dim: int = 32
    code_momentum: float = 0.01         # EMA weight of a batch in the code moments (sampling)


PRESETS = {
    "mlp": AutoEncoderConfig(),
    "b4": AutoEncoderConfig(arch="conv", channels=(32, 64), latent_dim=32),
}


def make_config(config, overrides, presets, cls):
    """A config from a preset name, a config object or None (the default), then overrides."""
    if config is None:
        config = cls()
    elif isinstance(config, str):
        if config not in presets:
            raise ValueError(f"unknown preset {config!r}: expected one of {sorted(presets)}")
        config = presets[config]
    elif not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, a preset name or None, got "
                        f"{type(config).__name__}")
    config = replace(config, **overrides)
    if config.arch not in ("mlp", "conv"):
        raise ValueError(f"arch must be 'mlp' or 'conv', got {config.arch!r}")
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {config.activation!r}")
    C, H, W = config.image_shape
    if config.arch == "conv" and (H % 4 or W % 4):
        raise ValueError(f"conv arch needs H and W divisible by 4, got {config.image_shape}")
    return config


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(sizes, activation, last_activation):
    """Linear layers sizes[0] -> sizes[1] -> ..., an activation after each (the last: optional)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def encoder_body(config):
    """x (N, C, H, W) -> features (N, F); returns (module, F). The code heads come after."""
    C, H, W = config.image_shape
    if config.arch == "mlp":
        sizes = (C * H * W,) + tuple(config.hidden)
        return nn.Sequential(nn.Flatten(), mlp(sizes, config.activation, True)), sizes[-1]
    c1, c2 = config.channels
    body = nn.Sequential(
        nn.Conv2d(C, c1, 3, stride=2, padding=1), nn.ReLU(),     # (N, c1, H/2, W/2)
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),    # (N, c2, H/4, W/4)
        nn.Flatten())                                            # (N, c2 * H/4 * W/4)
    return body, c2 * (H // 4) * (W // 4)


def decoder(config):
    """z (N, latent_dim) -> logits (N, C, H, W)."""
    C, H, W = config.image_shape
    if config.arch == "mlp":
        sizes = (config.latent_dim,) + tuple(reversed(config.hidden)) + (C * H * W,)
        return nn.Sequential(mlp(sizes, config.activation, False), nn.Unflatten(1, (C, H, W)))
    c1, c2 = config.channels
    return nn.Sequential(
        nn.Linear(config.latent_dim, c2 * (H // 4) * (W // 4)), nn.ReLU(),
        nn.Unflatten(1, (c2, H // 4, W // 4)),                             # (N, c2, H/4, W/4)
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),      # (N, c1, H/2, W/2)
        nn.ConvTranspose2d(c1, C, 4, stride=2, padding=1))                  # (N, C, H, W)


class AutoEncoder(GenerativeModel):
    """Deterministic autoencoder with a Bernoulli decoder; AutoEncoder("b4") (or
    AutoEncoder(preset="b4"), the command line's --preset) is B4."""

    def __init__(self, config=None, preset=None, **overrides):
        super().__init__()
        self.config = config = make_config(config if preset is None else preset, overrides,
                                           PRESETS, AutoEncoderConfig)
        body, features = encoder_body(config)
        self.encoder = nn.Sequential(body, nn.Linear(features, config.latent_dim))
        self.decoder = decoder(config)
        L = config.latent_dim
        # moments of the training codes, for sample(): E[z] and E[z z^T]
        self.register_buffer("code_mean", Tensor(np.zeros(L, np.float32)))
        self.register_buffer("code_moment2", Tensor(np.eye(L, dtype=np.float32)))

    def encode(self, x):
        """x (N, C, H, W) -> z (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z):
        """z (N, latent_dim) -> logits of p(x | z), (N, C, H, W)."""
        return self.decoder(z)

    def forward(self, x):
        """Reconstruction logits (N, C, H, W)."""
        return self.decode(self.encode(x))

    def terms(self, x):
        """Record(recon (N,)): summed BCE-with-logits per example, in nats."""
        logits = self.forward(x)                                                      # (N, C, H, W)
        bce = binary_cross_entropy_with_logits(logits, x, reduction="none")
        return Record(recon=bce.sum(dim=(1, 2, 3)))                                   # (N,)

    def loss(self, x):
        """mean_n recon(x_n)."""
        return self.terms(x).recon.mean()

    # ---- the code distribution that sample() draws from ----

    def _update_code_moments(self, z, weight):
        """code_* <- (1 - weight) code_* + weight * (moments of z (N, L))."""
        z = z.detach().array
        mean, moment2 = z.mean(axis=0), z.T @ z / z.shape[0]
        self.code_mean.array[...] = (1 - weight) * self.code_mean.array + weight * mean
        self.code_moment2.array[...] = (1 - weight) * self.code_moment2.array + weight * moment2

    def fit_codes(self, data, batch_size=500, limit=None):
        """Set the sampling Gaussian to the exact moments of the codes of `data`."""
        xp = backend.array_module(self.code_mean.device)
        total, mean, moment2 = 0, 0.0, 0.0
        with no_grad():
            for x, _ in eval_batches(data, batch_size, limit):
                z = self.encode(as_tensor(x, self.code_mean.device)).array   # (B, L)
                total += z.shape[0]
                mean = mean + z.sum(axis=0)
                moment2 = moment2 + z.T @ z
        self.code_mean.array[...] = xp.asarray(mean / total)
        self.code_moment2.array[...] = xp.asarray(moment2 / total)

    def sample_codes(self, n):
        """(n, latent_dim) codes z = m + chol(S) eps, eps ~ N(0, I): z ~ N(m, S)."""
        xp = backend.array_module(self.code_mean.device)
        m = self.code_mean.array.astype(np.float64)
        cov = self.code_moment2.array.astype(np.float64) - xp.outer(m, m)
        cov = (cov + cov.T) / 2 + 1e-6 * xp.eye(len(m))                 # symmetric, positive
        chol = xp.linalg.cholesky(cov)                                  # S = chol chol^T
        eps = randn(n, len(m), dtype="float64", device=self.code_mean.device).array
        z = (m + eps @ chol.T).astype(self.code_mean.dtype)             # (n, L)
        return Tensor(z, device=self.code_mean.device)

    def sample(self, n):
        """(n, C, H, W) pixel probabilities sigmoid(g(z)), z ~ N(m, S) fitted to training codes."""
        with no_grad():
            return self.decode(self.sample_codes(n)).sigmoid()

    # ---- the train loop's contract (docs/training.md) ----

    def configure_optimizers(self, lr=1e-3):
        return {"adam": optim.Adam(self.parameters(), lr=lr)}

    def training_step(self, x, optimizers):
        """One Adam step on mean recon; also moves the code moments toward this batch's."""
        opt = optimizers["adam"]
        opt.zero_grad()
        z = self.encode(x)
        logits = self.decode(z)
        recon = binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
        loss = recon.mean()
        loss.backward()
        opt.step()
        self._update_code_moments(z, self.config.code_momentum)
        return {"loss": loss.array}   # a 0-d array on the device: no host sync

    def evaluate(self, data, batch_size=500, limit=None, **ignored):
        """{"recon": mean summed BCE per test image, nats}. data: Tensor, loader or dataset.

        Other keywords (the VAE's k) are ignored: an autoencoder has no likelihood to estimate."""
        total, count = 0.0, 0
        with no_grad():
            for x, _ in eval_batches(data, batch_size, limit):
                x = as_tensor(x, self.code_mean.device)
                total += float(self.terms(x).recon.array.sum())
                count += x.shape[0]
        if count == 0:
            raise ValueError("AutoEncoder.evaluate: no images to evaluate")
        return {"recon": total / count}


SPEC = ModelSpec("ae", AutoEncoder, lr=1e-3, epochs=10, presets=tuple(sorted(PRESETS)))
