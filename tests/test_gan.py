"""GAN (tinygen/models/gan.py): the losses as defined, the optimal discriminator, the
gradient penalty's double backward, the B2 step."""
import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
import tinygen.optim as optim
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.data import ImageDataset
from tinygen.models.gan import GAN, gradient_penalty


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_b2_architecture_and_shapes():
    gan = GAN()
    n_g = (64 * 6272 + 6272) + 2 * 6272 + (128 * 64 * 16 + 64) + 2 * 64 + (64 * 16 + 1)
    n_d = (16 * 64 + 64) + (64 * 128 * 16 + 128) + 2 * 128 + (6272 + 1)
    assert sum(p.numel() for p in gan.generator.parameters()) == n_g
    assert sum(p.numel() for p in gan.discriminator.parameters()) == n_d
    x = tg.rand(4, 1, 28, 28)
    assert gan.discriminator(x).shape == (4,)
    s = gan.sample(5)
    assert s.shape == (5, 1, 28, 28) and 0 <= s.numpy().min() and s.numpy().max() <= 1
    t = gan.terms(x)
    assert {"d_real", "d_fake", "loss_d", "loss_g"} <= set(t)
    assert all(t[k].shape == (4,) for k in t)


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_terms_match_their_definitions(loss):
    gan = GAN(loss=loss).double()
    x, z = tg.rand(6, 1, 28, 28, dtype="float64"), tg.randn(6, 64, dtype="float64")
    with tg.no_grad():
        t = gan.terms(x, z)
        l_real = gan.discriminator(x).numpy()
        l_fake = gan.discriminator(gan.generate(z)).numpy()
    d_real, d_fake = sigmoid(l_real), sigmoid(l_fake)
    np.testing.assert_allclose(t.d_real.numpy(), d_real, rtol=1e-10)
    np.testing.assert_allclose(t.d_fake.numpy(), d_fake, rtol=1e-10)
    np.testing.assert_allclose(t.loss_d.numpy(), -np.log(d_real) - np.log(1 - d_fake), rtol=1e-9)
    want_g = -np.log(d_fake) if loss == "nonsaturating" else np.log(1 - d_fake)
    np.testing.assert_allclose(t.loss_g.numpy(), want_g, rtol=1e-9)
    loss_d, loss_g = gan.loss(x, z)
    assert loss_d.item() == pytest.approx(t.loss_d.numpy().mean(), rel=1e-9)
    assert loss_g.item() == pytest.approx(t.loss_g.numpy().mean(), rel=1e-9)


def test_wgan_gp_terms_and_critic_without_batch_norm():
    gan = GAN(loss="wgan-gp").double()
    assert gan.config.d_norm == "none"
    x, z = tg.rand(3, 1, 28, 28, dtype="float64"), tg.randn(3, 64, dtype="float64")
    t = gan.terms(x, z)
    f_real = gan.discriminator(x).numpy()
    f_fake = gan.discriminator(gan.generate(z)).numpy()
    np.testing.assert_allclose(t.d_real.numpy(), f_real, rtol=1e-10)
    np.testing.assert_allclose(t.loss_g.numpy(), -f_fake, rtol=1e-10)
    np.testing.assert_allclose(t.loss_d.numpy(), f_fake - f_real + 10 * t.gp.numpy(), rtol=1e-9)
    assert np.all(t.gp.numpy() >= 0)
    with pytest.raises(ValueError, match="batch norm"):
        GAN(loss="wgan-gp", d_norm="batch")
    assert GAN(loss="wgan-gp", d_norm="layer").config.d_norm == "layer"
    with pytest.raises(ValueError, match="loss"):
        GAN(loss="hinge")


# ---- the gradient penalty ----------------------------------------------------------------

def tiny_critic(wc, wl):
    """f(x) = <wl, leaky_relu(conv2d(x, wc))>: x (N, 1, 4, 4) -> (N,)."""
    def f(x):
        h = F.leaky_relu(F.conv2d(x, wc, stride=2, padding=1), 0.2)      # (N, 2, 2, 2)
        return (h.flatten(1) * wl).sum(dim=1)                              # (N,)
    return f


def test_gradient_penalty_of_a_linear_critic():
    """f(x) = <a, x> has gradient a everywhere: gp = (||a|| - 1)^2 for every example."""
    a = tg.tensor(np.random.default_rng(0).normal(size=(1, 1, 3, 3)), dtype="float64")
    real, fake = tg.rand(4, 1, 3, 3, dtype="float64"), tg.rand(4, 1, 3, 3, dtype="float64")
    gp = gradient_penalty(lambda x: (x * a).flatten(1).sum(dim=1), real, fake)
    norm = np.linalg.norm(a.numpy())
    np.testing.assert_allclose(gp.numpy(), np.full(4, (norm - 1) ** 2), rtol=1e-9)


def test_gradient_penalty_passes_gradcheck_and_gradgradcheck():
    """d gp / d (critic weights, images) by the double backward, against finite differences;
    and its own gradient (a third derivative of f) too."""
    rng = np.random.default_rng(1)
    real = tg.tensor(rng.random((3, 1, 4, 4)), dtype="float64", requires_grad=True)
    fake = tg.tensor(rng.random((3, 1, 4, 4)), dtype="float64", requires_grad=True)
    wc = tg.tensor(rng.normal(size=(2, 1, 3, 3)), dtype="float64", requires_grad=True)
    wl = tg.tensor(rng.normal(size=(1, 8)), dtype="float64", requires_grad=True)
    e = tg.tensor(rng.random((3, 1, 1, 1)), dtype="float64")

    def gp(real, fake, wc, wl):
        return gradient_penalty(tiny_critic(wc, wl), real, fake, e)

    assert gradcheck(gp, (real, fake, wc, wl))
    assert gradgradcheck(gp, (real, fake, wc, wl))


# ---- the optimal discriminator -----------------------------------------------------------

class ShiftScale(nn.Module):
    """A fixed generator: z -> m + s z (logits; the GAN's sample is sigmoid of it)."""

    def __init__(self, m, s):
        super().__init__()
        self.m, self.s = m, s

    def forward(self, z):
        return z * self.s + self.m


def normal_pdf(u, m, s):
    return np.exp(-0.5 * ((u - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def test_discriminator_approaches_the_optimal_one():
    """G fixed; D trained alone on its loss -> D*(x) = p_data / (p_data + p_g).

    Data x = sigmoid(u), u ~ N(0.5, 0.5^2); fakes x = sigmoid(u), u ~ N(-0.5, 0.7^2). The
    sigmoid's Jacobian cancels in the ratio, so D*(sigmoid(u)) = N_d(u) / (N_d(u) + N_g(u))."""
    mlp = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32),
                        nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Flatten(0))
    gan = GAN(generator=ShiftScale(-0.5, 0.7), discriminator=mlp, z_dim=1)
    opt = optim.Adam(mlp.parameters(), lr=1e-2, betas=(0.5, 0.999))   # G has no parameters
    rng = np.random.default_rng(2)
    for _ in range(300):
        x = tg.tensor(sigmoid(rng.normal(0.5, 0.5, (256, 1))))
        gan.d_step(x, gan.generate(gan.noise(256)), opt)
    u = np.linspace(-1.2, 1.5, 28)
    with tg.no_grad():
        d = gan.d_output(tg.tensor(sigmoid(u)[:, None])).numpy()
    d_star = normal_pdf(u, 0.5, 0.5) / (normal_pdf(u, 0.5, 0.5) + normal_pdf(u, -0.5, 0.7))
    assert np.abs(d - d_star).max() < 0.05
    assert d_star.min() < 0.2 and d_star.max() > 0.8           # the range is informative


# ---- one training step -----------------------------------------------------------------------

def snapshot(module):
    return [p.numpy().copy() for p in module.parameters()]


def changed(before, module):
    return [not np.array_equal(a, p.numpy()) for a, p in zip(before, module.parameters())]


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax", "wgan-gp"])
def test_d_step_moves_only_d_and_g_step_moves_only_g(loss):
    gan = GAN(loss=loss, g_channels=8, d_channels=8, z_dim=8)
    opts = gan.configure_optimizers()
    x = tg.rand(6, 1, 28, 28)
    fake = gan.generate(gan.noise(6))
    g0, d0 = snapshot(gan.generator), snapshot(gan.discriminator)
    logs = gan.d_step(x, fake, opts["d"])
    assert not any(changed(g0, gan.generator))
    moved = changed(d0, gan.discriminator)
    # f(fake) - f(real) does not depend on the critic's last bias: its gradient is 0
    assert all(moved) if loss != "wgan-gp" else all(moved[:-1]) and not moved[-1]
    d1 = snapshot(gan.discriminator)
    logs.update(gan.g_step(fake, opts["g"]))
    assert not any(changed(d1, gan.discriminator)) and all(changed(g0, gan.generator))
    keys = {"loss_d", "loss_g", "d_real", "d_fake"} | ({"gp"} if loss == "wgan-gp" else set())
    assert set(logs) == keys and all(math.isfinite(v) for v in logs.values())
    assert all(p.requires_grad for p in gan.discriminator.parameters())   # unfrozen again


def test_training_step_reports_batch_means_and_learns():
    """A few B2 steps on a batch of identical 'images': D first learns to tell, then G
    moves its samples towards the batch."""
    gan = GAN(g_channels=8, d_channels=8, z_dim=8)
    opts = gan.configure_optimizers(lr=1e-2)
    target = np.zeros((16, 1, 28, 28), dtype=np.float32)
    target[:, :, 8:20, 8:20] = 1.0
    x = tg.tensor(target)

    def distance():
        gan.eval()
        d = np.abs(gan.sample(64).numpy() - target[0]).mean()
        gan.train()
        return d

    start = distance()
    for _ in range(25):
        logs = gan.training_step(x, opts)
    assert set(logs) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert distance() < 0.5 * start


def test_samples_are_seeded():
    gan = GAN(g_channels=8, d_channels=8).eval()
    tg.manual_seed(3)
    a = gan.sample(4).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(gan.sample(4).numpy(), a)


# ---- evaluation wiring ---------------------------------------------------------------------

def test_evaluate_reports_parzen_and_frechet(tmp_path):
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (150, 28, 28), dtype=np.uint8)
    train = ImageDataset(images[:120], rng.integers(0, 10, 120))
    test = ImageDataset(images[120:], rng.integers(0, 10, 30))
    gan = GAN(g_channels=8, d_channels=8, z_dim=8)
    from tinygen.models.classifier import ClassifierConfig, load_or_train_classifier
    small = ClassifierConfig(channels=4, n_features=8, epochs=1, batch_size=40)
    clf = load_or_train_classifier(str(tmp_path), train, small)
    with tg.no_grad():                                          # as `tinygen eval` calls it
        out = gan.evaluate(test, train_set=train, run_dir=str(tmp_path), n_samples=50,
                           classifier=clf, limit=20)
    assert out["n_test"] == 20
    assert out["parzen_sigma"] in [float(s) for s in np.logspace(-1, 0, 10)]
    for key in ("parzen_ll", "parzen_se", "frechet_tinygen_classifier",
                "frechet_tinygen_classifier_train_vs_test"):
        assert math.isfinite(out[key]), key
    assert out["frechet_tinygen_classifier"] >= 0
    assert gan.training                                         # mode restored
