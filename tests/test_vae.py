"""VAE: every term against its definition, the bounds' order, the reparameterized gradient.

Statistical checks compare means over many examples within 5 standard errors (seeded, so
deterministic). Models are tiny (4x4 or 8x8 images) so the file runs in seconds.
"""
import math

import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import gradcheck
from tinygen.distributions import Bernoulli, Normal, kl_divergence
from tinygen.models.vae import VAE, VAEConfig

SMALL = dict(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3)


def binary_images(n, shape=(1, 4, 4), seed=0):
    rs = np.random.default_rng(seed)
    p = rs.uniform(0.1, 0.9, size=shape)          # one pixel-probability image for all
    return tg.tensor((rs.random((n,) + shape) < p).astype(np.float32))


def within_noise(d, what):
    """mean(d) >= -5 standard errors: 'd >= 0 in expectation' passes unless clearly false."""
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert d.mean() > -5 * se, f"{what}: mean {d.mean():.4f} below -5 se ({se:.4f})"
    return d.mean(), se


def test_shapes_of_every_term():
    for model, shape in [(VAE(**SMALL), (1, 4, 4)),
                         (VAE(arch="conv", image_shape=(1, 8, 8), channels=(2, 4), latent_dim=3), (1, 8, 8))]:
        x = binary_images(5, shape)
        t = model.terms(x)
        assert list(t) == ["log_px_z", "kl", "elbo"]
        assert t.log_px_z.shape == (5,) and t.kl.shape == (5, 3) and t.elbo.shape == (5,)
        assert model.loss(x).shape == ()
        mu, logvar = model.encode(x)
        assert mu.shape == (5, 3) and logvar.shape == (5, 3)
        assert model.decode(tg.randn(7, 5, 3)).shape == (7, 5) + shape
        assert model.iwae_bound(x, 4).shape == (5,)
        assert model.log_likelihood(x, k=6, chunk=10).shape == (5,)
        s = model.sample(6)
        assert s.shape == (6,) + shape and 0 <= s.numpy().min() and s.numpy().max() <= 1


def test_default_and_presets():
    assert VAE().config == VAEConfig()  # "b1"
    b1 = dict(VAE("b1").named_parameters())
    assert b1["encoder.1.0.weight"].shape == (400, 784) and b1["mu.weight"].shape == (20, 400)
    iwae = VAE("iwae")
    sizes = [p.shape for n, p in iwae.named_parameters() if n.endswith("weight")]
    assert sizes == [(200, 784), (200, 200), (50, 200), (50, 200), (200, 50), (200, 200), (784, 200)]
    assert iwae.config.activation == "tanh"
    assert VAE("iwae", latent_dim=10).config.latent_dim == 10
    with pytest.raises(ValueError, match="unknown preset"):
        VAE("nope")


def test_log_px_z_is_the_bernoulli_log_prob_sum():
    model, x = VAE(**SMALL), binary_images(6)
    tg.manual_seed(3)
    t = model.terms(x)
    tg.manual_seed(3)
    mu, logvar = model.encode(x)
    eps = tg.randn(mu.shape)
    z = mu + (0.5 * logvar).exp() * eps
    logits = model.decode(z).numpy().astype(np.float64)
    xs = x.numpy()
    expected = (xs * -np.logaddexp(0, -logits) + (1 - xs) * -np.logaddexp(0, logits)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(t.log_px_z.numpy(), expected, rtol=1e-5)
    via_dist = Bernoulli(logits=model.decode(z)).log_prob(x).sum(dim=(1, 2, 3))
    np.testing.assert_allclose(t.log_px_z.numpy(), via_dist.numpy(), rtol=1e-6)
    np.testing.assert_allclose(t.elbo.numpy(), (t.log_px_z - t.kl.sum(dim=1)).numpy(), rtol=1e-6)


def test_kl_closed_form_matches_distribution_and_monte_carlo():
    model = VAE(**SMALL).double()
    x = binary_images(3).double()
    kl = model.terms(x).kl.numpy()                                      # (3, L)
    mu, logvar = model.encode(x)
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(tg.zeros(mu.shape, dtype="float64"), tg.ones(mu.shape, dtype="float64"))
    np.testing.assert_allclose(kl, kl_divergence(q, p).numpy(), rtol=1e-10, atol=1e-12)
    z = q.sample((40000,))                                               # (S, 3, L)
    f = (q.log_prob(z) - p.log_prob(z)).numpy().sum(axis=-1)            # (S, 3): per example
    for n in range(3):
        se = f[:, n].std(ddof=1) / math.sqrt(len(f))
        assert abs(f[:, n].mean() - kl[n].sum()) < 5 * se + 1e-9


def test_elbo_below_iwae_bounds_increasing_in_k():
    model, x = VAE(**SMALL), binary_images(400, seed=1)
    with tg.no_grad():
        elbo = model.terms(x).elbo.numpy().astype(np.float64)
        L = {k: model.iwae_bound(x, k).numpy().astype(np.float64) for k in (1, 4, 16, 64)}
    # E L_1 = E elbo: the same estimator (one draw), two independent draws
    d = L[1] - elbo
    assert abs(d.mean()) < 5 * d.std(ddof=1) / math.sqrt(len(d))
    within_noise(L[64] - elbo, "L_64 - elbo")
    for k1, k2 in [(1, 4), (4, 16), (16, 64)]:
        within_noise(L[k2] - L[k1], f"L_{k2} - L_{k1}")
    gap, se = (L[64] - elbo).mean(), (L[64] - elbo).std(ddof=1) / math.sqrt(len(elbo))
    assert gap > 5 * se  # strictly tighter by a clear margin on this model


def test_iwae_bound_is_logmeanexp_of_weights():
    model, x = VAE(**SMALL), binary_images(4)
    tg.manual_seed(5)
    bound = model.iwae_bound(x, 7).numpy().astype(np.float64)
    tg.manual_seed(5)
    mu, logvar = model.encode(x)
    eps = tg.randn(7, 4, 3)
    z = mu + (0.5 * logvar).exp() * eps                                        # (7, 4, 3)
    std = (0.5 * logvar).exp()
    log_q = Normal(mu, std).log_prob(z).sum(dim=-1)
    log_p = Normal(0.0, 1.0).log_prob(z).sum(dim=-1)
    log_x = Bernoulli(logits=model.decode(z)).log_prob(x).sum(dim=(2, 3, 4))
    log_w = (log_x + log_p - log_q).numpy().astype(np.float64)                  # (7, 4)
    expected = np.log(np.exp(log_w - log_w.max(0)).mean(0)) + log_w.max(0)
    np.testing.assert_allclose(bound, expected, rtol=1e-5)


def test_log_likelihood_chunked_equals_unchunked():
    model, x = VAE(**SMALL), binary_images(5)
    tg.manual_seed(11)
    whole = model.log_likelihood(x, k=60, chunk=10 ** 6).numpy()
    for chunk in (5, 17, 50):     # 1, 3 and 10 draws per pass
        tg.manual_seed(11)
        np.testing.assert_allclose(model.log_likelihood(x, k=60, chunk=chunk).numpy(), whole,
                                   rtol=1e-6)
    tg.manual_seed(11)
    np.testing.assert_allclose(model.iwae_bound(x, 60).numpy(), whole, rtol=1e-6)


def test_reparameterized_gradient_gradcheck_float64():
    model = VAE(image_shape=(1, 2, 3), hidden=(3,), latent_dim=2).double()
    x = binary_images(2, (1, 2, 3)).double()
    params = tuple(model.parameters())

    def elbo(*ps):
        tg.manual_seed(1)  # the same eps on every evaluation
        return model.terms(x).elbo

    def bound(*ps):
        tg.manual_seed(2)
        return model.iwae_bound(x, 3)

    assert gradcheck(elbo, params)
    assert gradcheck(bound, params)


def test_evaluate_and_training_step():
    model, x = VAE(**SMALL), binary_images(64)
    opts = model.configure_optimizers(1e-2)

    def fixed_loss():
        tg.manual_seed(9)
        with tg.no_grad():
            return model.loss(x).item()

    before = fixed_loss()
    for _ in range(3):
        logs = model.training_step(x, opts)
    assert set(logs) == {"loss", "elbo", "log_px_z", "kl"}
    assert fixed_loss() < before
    m = model.evaluate(x, k=20, batch_size=16, limit=40)
    assert m["n"] == 40 and m["k"] == 20
    assert m["nll"] <= -m["elbo"] + 1.0  # L_20 is (in expectation) above the ELBO
    assert 0 <= m["active_units"] <= 3


@pytest.mark.skipif(not tg.backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
def test_runs_on_the_cuda_device():
    model = VAE(**SMALL).to("cuda")
    x = binary_images(4).to("cuda")
    t = model.terms(x)
    assert t.elbo.device == "cuda" and t.kl.shape == (4, 3)
    assert model.iwae_bound(x, 3).device == "cuda"
    assert model.log_likelihood(x, k=8, chunk=8).shape == (4,)
    assert model.sample(2).device == "cuda"
    opts = model.configure_optimizers(1e-3)
    assert np.isfinite(model.training_step(x, opts)["loss"])
