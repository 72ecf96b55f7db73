"""AutoEncoder: shapes, the per-example reconstruction term, training, the fitted-code sampler."""
import numpy as np
import pytest

import tinygen as tg
from tinygen.data import ImageDataset
from tinygen.models.autoencoder import AutoEncoder, AutoEncoderConfig
from tinygen.utils.data import DataLoader


def images(n, shape=(1, 28, 28), binary=True, seed=0):
    rs = np.random.default_rng(seed)
    x = rs.random((n,) + shape)
    return tg.tensor((x < 0.3).astype(np.float32) if binary else x.astype(np.float32))


def test_shapes_mlp_and_conv():
    for model, shape in [(AutoEncoder(), (1, 28, 28)), (AutoEncoder("b4"), (1, 28, 28)),
                         (AutoEncoder(arch="conv", image_shape=(2, 8, 12), channels=(3, 4),
                                      latent_dim=5), (2, 8, 12))]:
        x = images(3, shape)
        z = model.encode(x)
        assert z.shape == (3, model.config.latent_dim)
        assert model.decode(z).shape == (3,) + shape       # the round trip keeps the image shape
        assert model(x).shape == (3,) + shape
        t = model.terms(x)
        assert list(t) == ["recon"] and t.recon.shape == (3,)
        assert model.loss(x).shape == ()


def test_b4_is_the_benchmark_model():
    shapes = {n: p.shape for n, p in AutoEncoder("b4").named_parameters()}
    assert shapes == {
        "encoder.0.0.weight": (32, 1, 3, 3), "encoder.0.0.bias": (32,),
        "encoder.0.2.weight": (64, 32, 3, 3), "encoder.0.2.bias": (64,),
        "encoder.1.weight": (32, 64 * 7 * 7), "encoder.1.bias": (32,),
        "decoder.0.weight": (64 * 7 * 7, 32), "decoder.0.bias": (64 * 7 * 7,),
        "decoder.3.weight": (64, 32, 4, 4), "decoder.3.bias": (32,),
        "decoder.5.weight": (32, 1, 4, 4), "decoder.5.bias": (1,)}
    assert AutoEncoder().config == AutoEncoderConfig()
    with pytest.raises(ValueError, match="divisible by 4"):
        AutoEncoder("b4", image_shape=(1, 10, 10))


@pytest.mark.parametrize("binary", [True, False])
def test_recon_is_summed_bce_per_example(binary):
    model = AutoEncoder(hidden=(16,), latent_dim=4)
    x = images(5, binary=binary)
    logits = model(x).numpy().astype(np.float64)
    xs = x.numpy().astype(np.float64)
    bce = np.logaddexp(0, logits) - xs * logits            # -[x log s(l) + (1-x) log s(-l)]
    np.testing.assert_allclose(model.terms(x).recon.numpy(), bce.sum(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(model.loss(x).item(), bce.sum(axis=(1, 2, 3)).mean(), rtol=1e-5)


@pytest.mark.parametrize("preset", ["mlp", "b4"])
def test_one_training_step_lowers_the_loss(preset):
    model, x = AutoEncoder(preset), images(16)
    opts = model.configure_optimizers(1e-3)
    with tg.no_grad():
        before = model.loss(x).item()
    logs = model.training_step(x, opts)
    assert logs["loss"] == pytest.approx(before, rel=1e-5)
    with tg.no_grad():
        assert model.loss(x).item() < before


def test_sampler_fits_the_codes():
    model, x = AutoEncoder(hidden=(16,), latent_dim=3), images(50)
    s = model.sample(4)                       # before any fit: N(0, I) codes
    assert s.shape == (4, 1, 28, 28) and 0 <= s.numpy().min() and s.numpy().max() <= 1
    model.fit_codes(x, batch_size=16)
    z = model.encode(x).numpy().astype(np.float64)
    np.testing.assert_allclose(model.code_mean.numpy(), z.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.code_moment2.numpy(), z.T @ z / len(z), rtol=1e-4, atol=1e-6)
    # the sampler draws codes with those moments
    zs = model.sample_codes(40000).numpy().astype(np.float64)
    np.testing.assert_allclose(zs.mean(0), z.mean(0), atol=0.05 * z.std(0).max())
    cov = np.cov(z.T, bias=True)
    np.testing.assert_allclose(np.cov(zs.T, bias=True), cov, atol=0.05 * np.abs(cov).max())
    # the training-step EMA moves the moments toward the batch's
    opts = model.configure_optimizers(1e-3)
    model.code_mean.array[...] = 0
    model.training_step(x, opts)
    assert np.abs(model.code_mean.numpy()).sum() > 0
    assert "code_mean" in model.state_dict() and "code_moment2" in model.state_dict()


def test_evaluate_accepts_tensor_loader_and_dataset():
    model = AutoEncoder(hidden=(16,), latent_dim=4)
    pixels = (np.random.default_rng(0).random((10, 28, 28)) * 255).astype(np.uint8)
    ds = ImageDataset(pixels, np.zeros(10), binarize="threshold")
    x = tg.tensor(ds.images(slice(None)))
    expected = model.terms(x).recon.numpy().mean()
    assert model.evaluate(x)["recon"] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(ds, batch_size=3)["recon"] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(DataLoader(ds, batch_size=4))["recon"] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(ds, limit=4)["recon"] == pytest.approx(model.terms(x[:4]).recon.numpy().mean(), rel=1e-5)


@pytest.mark.skipif(not tg.backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
def test_runs_on_the_cuda_device():
    model = AutoEncoder(hidden=(8,), latent_dim=3).to("cuda")
    x = images(4).to("cuda")
    assert model.terms(x).recon.device == "cuda"
    opts = model.configure_optimizers(1e-3)
    assert np.isfinite(model.training_step(x, opts)["loss"])
    model.fit_codes(x)
    assert model.sample(2).device == "cuda"
