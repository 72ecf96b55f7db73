"""GAN: a generator and a discriminator trained against each other.

Goodfellow et al. (2014), "Generative Adversarial Nets"; the DCGAN-style networks of Radford
et al. (2016) at 28 x 28 (docs/benchmarks.md B2); WGAN-GP of Gulrajani et al. (2017).

A generator G maps noise z ~ N(0, I) to an image G(z); a discriminator D scores images. With
l = D's logit and D(x) = sigmoid(l(x)), the two-player game is

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

    loss_d   = -log D(x) - log(1 - D(G(z)))      = softplus(-l(x)) + softplus(l(G(z)))
    loss_g   =  log(1 - D(G(z)))                 = -softplus(l(G(z)))        ("minimax")
    loss_g   = -log D(G(z))                      =  softplus(-l(G(z)))       ("nonsaturating")

For a fixed G the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)), and then
V = 2 JS(p_data || p_g) - log 4. The minimax G loss saturates when D rejects the fakes
easily (its gradient vanishes as D(G(z)) -> 0); the non-saturating one has the same fixed
point and strong gradients early on, and is the default.

WGAN-GP replaces D by a critic f (no sigmoid) and the JS divergence by the Wasserstein-1
distance, keeping f close to 1-Lipschitz with a gradient penalty at random points x_hat on
lines between real and fake images:

    x_hat    = e x + (1 - e) G(z),   e ~ U[0, 1] per example
    gp       = (||grad_x f(x_hat)||_2 - 1)^2
    loss_d   = f(G(z)) - f(x) + lambda gp        (lambda = 10)
    loss_g   = -f(G(z))

Training the critic on gp needs the gradient of a gradient: grad_x f is built with
create_graph=True, so loss_d.backward() differentiates through it (double backward). The
penalty is per example, so the critic must not mix examples: no batch norm in it.

One training step (as B2): draw z, make G(z) once; update D on real x and the detached
G(z); then update G through the updated D on the same G(z).

Networks (c = 64, z_dim = 64, images 1 x 28 x 28):
    G: z -> Linear(z_dim, 2c 7 7) -> BatchNorm1d -> ReLU -> (2c, 7, 7)
         -> ConvTranspose2d(2c, c, 4, 2, 1) -> BatchNorm2d -> ReLU       (c, 14, 14)
         -> ConvTranspose2d(c, 1, 4, 2, 1)                               logits (1, 28, 28)
       image = sigmoid(logits), gray values in [0, 1]
    D: Conv2d(1, c, 4, 2, 1) -> LeakyReLU(0.2)                           (c, 14, 14)
         -> Conv2d(c, 2c, 4, 2, 1) -> BatchNorm2d -> LeakyReLU(0.2)      (2c, 7, 7)
         -> flatten -> Linear(2c 7 7, 1)                                 logit (or critic value)
"""
from dataclasses import asdict, dataclass, replace

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
import tinygen.optim as optim
from tinygen.eval.frechet import frechet_distance
from tinygen.eval.parzen import SIGMA_GRID, parzen_evaluate
from tinygen.models.base import GenerativeModel, ModelSpec, as_numpy, eval_batches
from tinygen.models.record import Record

LOSSES = ("nonsaturating", "minimax", "wgan-gp")


@dataclass
class GANConfig:
    image_shape: tuple = (1, 28, 28)   # (C, H, W); H and W divisible by 4
    z_dim: int = 64                    # noise dimension
    g_channels: int = 64               # c of the generator (its widest layer has 2c)
    d_channels: int = 64               # c of the discriminator
    loss: str = "nonsaturating"        # "nonsaturating" | "minimax" | "wgan-gp"
    d_norm: str = None                 # "batch" | "layer" | "none"; None: "batch", or
                                       # "none" for WGAN-GP
    gp_weight: float = 10.0            # lambda of the gradient penalty (WGAN-GP)
    init_std: float = 0.02             # DCGAN init, weights N(0, 0.02^2); None: nn's default
    lr: float = 2e-4                   # Adam, for both players
    betas: tuple = (0.5, 0.999)


# ---- the two networks -----------------------------------------------------------------------

class Generator(nn.Module):
    """z (N, z_dim) -> logits (N, C, H, W); the image is sigmoid(logits)."""

    def __init__(self, config):
        super().__init__()
        C, H, W = config.image_shape
        c = config.g_channels
        self.start = (2 * c, H // 4, W // 4)
        self.project = nn.Linear(config.z_dim, 2 * c * (H // 4) * (W // 4))
        self.bn0 = nn.BatchNorm1d(2 * c * (H // 4) * (W // 4))
        self.up1 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(c)
        self.up2 = nn.ConvTranspose2d(c, C, 4, 2, 1)

    def forward(self, z):                                    # (N, z_dim)
        h = F.relu(self.bn0(self.project(z)))                # (N, 2c H/4 W/4)
        h = h.reshape(z.shape[0], *self.start)               # (N, 2c, H/4, W/4)
        h = F.relu(self.bn1(self.up1(h)))                    # (N, c, H/2, W/2)
        return self.up2(h)                                   # (N, C, H, W) logits


class Discriminator(nn.Module):
    """x (N, C, H, W) -> (N,) logit l(x) (or critic value f(x) for WGAN-GP)."""

    def __init__(self, config, norm):
        super().__init__()
        C, H, W = config.image_shape
        c = config.d_channels
        self.down1 = nn.Conv2d(C, c, 4, 2, 1)
        self.down2 = nn.Conv2d(c, 2 * c, 4, 2, 1)
        if norm == "batch":
            self.norm = nn.BatchNorm2d(2 * c)
        elif norm == "layer":
            self.norm = nn.LayerNorm((2 * c, H // 4, W // 4))
        else:
            self.norm = nn.Identity()
        self.out = nn.Linear(2 * c * (H // 4) * (W // 4), 1)

    def forward(self, x):                                    # (N, C, H, W)
        h = F.leaky_relu(self.down1(x), 0.2)                 # (N, c, H/2, W/2)
        h = F.leaky_relu(self.norm(self.down2(h)), 0.2)      # (N, 2c, H/4, W/4)
        return self.out(h.flatten(1)).reshape(-1)            # (N,)


# ---- the losses, one function each ---------------------------------------------------------

def discriminator_loss(loss, real, fake):
    """Per-example D loss (without the gradient penalty) from D's outputs on real and fake
    images (N,): softplus(-l(x)) + softplus(l(G(z))), or f(G(z)) - f(x) for WGAN-GP."""
    if loss == "wgan-gp":
        return fake - real
    return F.softplus(-real) + F.softplus(fake)


def generator_loss(loss, fake):
    """Per-example G loss from D's output on G(z) (N,): see the module docstring."""
    if loss == "nonsaturating":
        return F.softplus(-fake)                             # -log D(G(z))
    if loss == "minimax":
        return -F.softplus(fake)                             # log(1 - D(G(z)))
    return -fake                                             # WGAN: -f(G(z))


def gradient_penalty(critic, real, fake, e=None):
    """(||grad f(x_hat)||_2 - 1)^2 per example (N,), x_hat = e real + (1 - e) fake.

    e: (N, 1, 1, 1) mixing weights (default U[0, 1] draws). The gradient is built with
    create_graph=True, so the penalty can be differentiated (double backward). Under
    no_grad the penalty is still computed (a gradient needs a graph), but not recorded."""
    if e is None:
        e = tg.rand(real.shape[0], *([1] * (real.ndim - 1)), dtype=real.dtype, device=real.device)
    recording = tg.is_grad_enabled()
    with tg.enable_grad():
        x_hat = e * real + (1 - e) * fake                    # (N, C, H, W)
        if not x_hat.requires_grad:
            x_hat.requires_grad_(True)
        (g,) = tg.grad(critic(x_hat).sum(), x_hat, create_graph=recording)   # (N, C, H, W)
    norm = ((g * g).flatten(1).sum(dim=1) + 1e-12).sqrt()   # (N,); + 1e-12 keeps sqrt' finite
    return (norm - 1) ** 2


# ---- the model -------------------------------------------------------------------------------

class GAN(GenerativeModel):
    """A GAN with a DCGAN-style generator and discriminator (B2) by default.

        gan = GAN()                                  # non-saturating, 28 x 28
        gan = GAN(loss="wgan-gp")
        t = gan.terms(x)                             # d_real, d_fake, loss_d, loss_g (, gp): (N,)
        images = gan.sample(64)                      # (64, 1, 28, 28) in [0, 1]

    generator= / discriminator= replace the networks (e.g. tiny ones for toy data); the
    generator maps (N, z_dim) to logits, the discriminator maps images to (N,) outputs.
    """

    def __init__(self, config=None, generator=None, discriminator=None, **overrides):
        super().__init__()
        config = replace(config or GANConfig(), **overrides)
        if config.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {config.loss!r}")
        norm = config.d_norm or ("none" if config.loss == "wgan-gp" else "batch")
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"d_norm must be 'batch', 'layer' or 'none', got {norm!r}")
        if config.loss == "wgan-gp" and norm == "batch":
            raise ValueError("WGAN-GP: the gradient penalty is per example, so the critic must "
                             "not use batch norm (d_norm='layer' or 'none')")
        C, H, W = config.image_shape
        if generator is None and (H % 4 or W % 4):
            raise ValueError(f"image height and width must be divisible by 4, got {H} x {W}")
        self.config = replace(config, d_norm=norm)
        self.generator = generator if generator is not None else Generator(config)
        self.discriminator = (discriminator if discriminator is not None
                              else Discriminator(config, norm))
        if config.init_std is not None:
            if generator is None:
                _dcgan_init(self.generator, config.init_std)
            if discriminator is None:
                _dcgan_init(self.discriminator, config.init_std)

    # ---- pieces -----------------------------------------------------------------------

    def _device_dtype(self):
        p = next(self.parameters())
        return p.device, p.dtype

    def noise(self, n):
        """z ~ N(0, I): (n, z_dim)."""
        device, dtype = self._device_dtype()
        return tg.randn(n, self.config.z_dim, dtype=dtype, device=device)

    def generate(self, z):
        """G(z) = sigmoid(generator logits): (N, C, H, W) gray images in [0, 1]."""
        return F.sigmoid(self.generator(z))

    def d_prob(self, out):
        """What the terms call D, from the discriminator's output: the probability
        D(x) = sigmoid(l(x)), or the critic value f(x) itself for WGAN-GP."""
        return out if self.config.loss == "wgan-gp" else F.sigmoid(out)

    def d_output(self, x):
        """D(x) for images x: (N,)."""
        return self.d_prob(self.discriminator(x))

    # ---- the terms --------------------------------------------------------------------

    def discriminator_terms(self, x, fake):
        """D's side of a step on real x and fake images (detached here), per example (N,):
        real_out = l(x), fake_out = l(G(z)) (logits, or critic values), loss_d (gp included)
        and, for WGAN-GP, gp."""
        fake = fake.detach()
        real_out = self.discriminator(x)                     # (N,)
        fake_out = self.discriminator(fake)                  # (N,)
        out = {"real_out": real_out, "fake_out": fake_out,
               "loss_d": discriminator_loss(self.config.loss, real_out, fake_out)}
        if self.config.loss == "wgan-gp":
            out["gp"] = gradient_penalty(self.discriminator, x, fake)
            out["loss_d"] = out["loss_d"] + self.config.gp_weight * out["gp"]
        return out

    def terms(self, x, z=None):
        """Every term of one step, per example (N,), with the current D and G.

        d_real = D(x), d_fake = D(G(z)) (probabilities; critic values for WGAN-GP);
        loss_d (D's loss on x and the detached G(z), gp included), loss_g (G's loss);
        gp for WGAN-GP. loss_d only reaches D's parameters, loss_g reaches G's (and D's)."""
        z = self.noise(x.shape[0]) if z is None else z
        fake = self.generate(z)                              # (N, C, H, W)
        d = self.discriminator_terms(x, fake)                # what D learns from
        fake_out = self.discriminator(fake)                  # (N,) what G learns from
        extra = {"gp": d["gp"]} if "gp" in d else {}
        return Record(d_real=self.d_prob(d["real_out"]), d_fake=self.d_prob(fake_out),
                      loss_d=d["loss_d"],
                      loss_g=generator_loss(self.config.loss, fake_out), **extra)

    def loss(self, x, z=None):
        """The two players' objectives (scalars): (mean loss_d, mean loss_g).

        A GAN has no single objective to minimise: D minimises the first, G the second."""
        t = self.terms(x, z)
        return t.loss_d.mean(), t.loss_g.mean()

    # ---- training -------------------------------------------------------------------------

    def configure_optimizers(self, lr=None):
        lr = lr or self.config.lr
        return {"d": optim.Adam(self.discriminator.parameters(), lr=lr, betas=self.config.betas),
                "g": optim.Adam(self.generator.parameters(), lr=lr, betas=self.config.betas)}

    def d_step(self, x, fake, opt):
        """One update of D on real x and fake images (detached); returns the batch means of
        loss_d, d_real, d_fake (probabilities, or critic values) and gp."""
        opt.zero_grad()
        d = self.discriminator_terms(x, fake)
        loss = d["loss_d"].mean()
        loss.backward()
        opt.step()
        logs = {"loss_d": loss.array}          # 0-d arrays on the device: no host sync
        for name, out in (("d_real", d["real_out"]), ("d_fake", d["fake_out"])):
            logs[name] = self.d_prob(out).array.mean()
        if "gp" in d:
            logs["gp"] = d["gp"].array.mean()
        return logs

    def g_step(self, fake, opt):
        """One update of G through the (frozen) D on fake = G(z), made with G's graph."""
        opt.zero_grad()
        with _frozen(self.discriminator):
            loss = generator_loss(self.config.loss, self.discriminator(fake)).mean()
            loss.backward()
        opt.step()
        return {"loss_g": loss.array}

    def training_step(self, x, optimizers):
        """One D update on x and detached G(z), then one G update (as B2); batch means."""
        fake = self.generate(self.noise(x.shape[0]))         # (N, C, H, W), G's graph kept
        logs = self.d_step(x, fake, optimizers["d"])
        logs.update(self.g_step(fake, optimizers["g"]))
        return logs

    # ---- sampling and evaluation ---------------------------------------------------------

    def sample(self, n, z=None):
        """n images G(z) (n, C, H, W): gray values (sigmoid outputs) in [0, 1], no grad.
        BatchNorm follows the module's mode (eval(): running statistics)."""
        with tg.no_grad():
            return self.generate(self.noise(n) if z is None else z)

    def samples_numpy(self, n, batch_size=500):
        """n samples as a float64 NumPy array (n, C, H, W), drawn in batches."""
        out = [self.sample(min(batch_size, n - i)).numpy() for i in range(0, n, batch_size)]
        return np.concatenate(out).astype(np.float64)

    def evaluate(self, data, limit=None, train_set=None, run_dir=None, valid=None,
                 n_samples=10_000, classifier=None, sigmas=SIGMA_GRID):
        """Parzen-window log-likelihood and Fréchet distance in tinygen-classifier features.

        data: the test images (ImageDataset, DataLoader or array; gray values in [0, 1]);
        limit: evaluate only the first `limit` test images.
        valid: validation images for the Parzen sigma (default: the last 10,000 images of
        train_set, MNIST's customary validation split, or its last sixth if smaller).
        classifier: a trained MNISTClassifier (default: trained on train_set and cached in
        run_dir/classifier.npz).

        Returns nats: parzen_ll, parzen_se, parzen_sigma; frechet_tinygen_classifier (samples
        vs test) and frechet_tinygen_classifier_train_vs_test (real vs real, a floor)."""
        from tinygen.models.classifier import classifier_features, load_or_train_classifier
        test = _gray_array(data, limit)
        if valid is None:
            if train_set is None:
                raise ValueError("evaluate: give valid= images or train_set= (its tail is the "
                                 "validation split)")
            n_valid = min(10_000, len(train_set) // 6)
            valid = _gray_array(train_set, None, start=len(train_set) - n_valid)
        else:
            valid = _gray_array(valid, None)
        was_training = self.training
        self.eval()
        try:
            samples = self.samples_numpy(n_samples)
        finally:
            self.train(was_training)
        metrics = parzen_evaluate(samples, valid, test, sigmas)
        metrics.pop("parzen_valid")
        if classifier is None:
            if train_set is None:
                raise ValueError("evaluate: give classifier= or train_set= to train one")
            classifier = load_or_train_classifier(run_dir, train_set)
        f_samples = classifier_features(classifier, samples)
        f_test = classifier_features(classifier, test)
        metrics["frechet_tinygen_classifier"] = frechet_distance(f_samples, f_test)
        if train_set is not None:
            reference = _gray_array(train_set, min(len(test), len(train_set)))
            metrics["frechet_tinygen_classifier_train_vs_test"] = frechet_distance(
                classifier_features(classifier, reference), f_test)
        metrics["n_test"] = len(test)
        return metrics

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def _dcgan_init(module, std):
    """Radford et al.: conv and linear weights N(0, std^2), biases 0; batch-norm scales
    N(1, std^2), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class _frozen:
    """Within the block, `module`'s parameters do not require grad (so a backward through
    it computes no weight gradients for it)."""

    def __init__(self, module):
        self.params = [p for p in module.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad = False

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad = True
        return False


def _gray_array(data, limit, start=0):
    """Gray images in [0, 1] as float64 NumPy (N, C, H, W) from an ImageDataset (its gray
    values, whatever its binarization), a DataLoader, a Tensor or an array."""
    return np.concatenate([as_numpy(x) for x, _ in
                           eval_batches(data, 10_000, limit, start=start, gray=True)])


SPEC = ModelSpec("gan", GAN, binarize=None, lr=2e-4, epochs=10, eval_train_set=True)
