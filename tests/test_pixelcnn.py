"""PixelCNN (tinygen/models/pixelcnn.py): the autoregressive factorization, checked by its
consequences: normalization over all tiny images, causality of every gradient, sampling."""
import itertools
import math

import numpy as np
import pytest

import tinygen as tg
from tinygen.models.pixelcnn import PixelCNN

TINY = dict(channels=4, n_layers=2, head_channels=4)
ARCHITECTURES = ["residual", "plain"]


def tiny(architecture="residual", **kw):
    """A small float64 PixelCNN whose biases are random too (default init zeroes nothing,
    but random biases make every conditional depend on its position)."""
    model = PixelCNN(architecture=architecture, **{**TINY, **kw}).double()
    rng = np.random.default_rng(0)
    with tg.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.array[...] = rng.normal(0, 0.2, p.shape)
    return model


def all_images(C, H, W, levels=2):
    """Every image with pixel values k / (levels - 1), k < levels: (levels^(CHW), C, H, W)."""
    grid = np.array(list(itertools.product(range(levels), repeat=C * H * W)), dtype=np.float64)
    return (grid / (levels - 1)).reshape(-1, C, H, W)


def log_px(model, x, batch=8192):
    """log p(x) (N,) of images x (N, C, H, W) float64, in batches, without a graph."""
    with tg.no_grad():
        return np.concatenate([-model.terms(tg.tensor(x[i:i + batch], dtype="float64")).nll.numpy()
                               for i in range(0, len(x), batch)])


def logsumexp(a):
    m = a.max()
    return m + math.log(np.exp(a - m).sum())


# ---- normalization: sum over all images of p(x) = 1 --------------------------------------

@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("H, W", [(3, 3), (4, 4), (2, 5)])
def test_bernoulli_probabilities_of_all_binary_images_sum_to_one(architecture, H, W):
    model = tiny(architecture)
    log_p = log_px(model, all_images(1, H, W))                       # (2^(HW),)
    assert abs(math.exp(logsumexp(log_p)) - 1.0) < 1e-6
    assert log_p.std() > 0.1                                         # not a trivial uniform model


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_categorical_probabilities_of_all_images_sum_to_one(architecture):
    model = tiny(architecture, likelihood="categorical", levels=3)
    log_p = log_px(model, all_images(1, 2, 3, levels=3))             # 3^6 = 729 images
    assert abs(math.exp(logsumexp(log_p)) - 1.0) < 1e-6


# ---- causality: d logit_i / d x_j == 0 exactly for j >= i ------------------------------

def check_causal(model, H, W, logit_of, all_earlier_seen):
    x = tg.tensor(np.random.default_rng(1).random((8, 1, H, W)), dtype="float64",
                  requires_grad=True)
    logits = model.logits(x)
    for i in range(H * W):
        r, c = divmod(i, W)
        (g,) = tg.grad(logit_of(logits, r, c).sum(), x, retain_graph=True)
        g = np.abs(g.numpy()).sum(axis=(0, 1)).reshape(-1)           # (H W,) raster order
        assert np.all(g[i:] == 0.0), f"pixel {i}: gradient reaches pixels {np.nonzero(g[i:])[0] + i}"
        if all_earlier_seen:
            assert np.all(g[:i] > 0.0), f"pixel {i}: blind to pixels {np.nonzero(g[:i] == 0)[0]}"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_gradient_of_each_logit_is_zero_on_itself_and_later_pixels(architecture):
    # 4 x 4 lies inside the 7 x 7 mask-A window: every earlier pixel must be seen (16 channels
    # and 8 random images, so that no path is cut by ReLUs that are all off)
    wide = tiny(architecture, channels=16, head_channels=16)
    check_causal(wide, 4, 4, lambda l, r, c: l[:, 0, r, c], all_earlier_seen=True)
    # a wider image: no leak from the future (the classic blind spot may hide some past pixels)
    check_causal(tiny(architecture, first_kernel=3), 4, 9, lambda l, r, c: l[:, 0, r, c],
                 all_earlier_seen=False)


def test_categorical_logits_are_causal_too():
    model = tiny(likelihood="categorical", levels=4, channels=16, head_channels=16)
    check_causal(model, 3, 4, lambda l, r, c: l[:, :, 0, r, c], all_earlier_seen=True)


def test_windowed_sampling_equals_whole_image_sampling():
    """Sampling on receptive-field windows draws exactly what the whole-image passes draw."""
    model = tiny(first_kernel=3, n_layers=1)                          # radius 2: windows 3 x 5
    assert model.receptive_radius == 2
    shape = (3, 1, 7, 9)
    tg.manual_seed(11)
    a = model.fill_rows(tg.zeros(*shape, dtype="float64"), 0, window=True).numpy()
    tg.manual_seed(11)
    b = model.fill_rows(tg.zeros(*shape, dtype="float64"), 0, window=False).numpy()
    np.testing.assert_array_equal(a, b)
    assert 0 < a.mean() < 1


def test_rows_below_do_not_change_rows_above():
    """What sampling relies on: the logits of rows 0..r computed from rows 0..r alone."""
    model = tiny()
    x = tg.tensor(np.random.default_rng(2).random((2, 1, 6, 5)), dtype="float64")
    with tg.no_grad():
        full = model.logits(x).numpy()
        for r in range(6):
            np.testing.assert_allclose(model.logits(x[:, :, :r + 1]).numpy(), full[:, :, :r + 1],
                                       rtol=1e-12, atol=1e-12)


# ---- the terms against their definitions -----------------------------------------------

def test_bernoulli_terms_match_their_definition():
    model = tiny()
    x = tg.tensor((np.random.default_rng(3).random((5, 1, 4, 6)) < 0.4).astype(np.float64))
    with tg.no_grad():
        t = model.terms(x)
        l = model.logits(x).numpy()
    xs = x.numpy()
    log_p = xs * l - np.logaddexp(0.0, l)                             # x l - softplus(l)
    np.testing.assert_allclose(t.log_p.numpy(), log_p, rtol=1e-12, atol=1e-12)
    assert t.log_p.shape == (5, 1, 4, 6)
    np.testing.assert_allclose(t.nll.numpy(), -log_p.sum(axis=(1, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(t.bits_per_dim.numpy(), t.nll.numpy() / (24 * math.log(2)),
                               rtol=1e-12)
    assert model.loss(x).item() == pytest.approx(t.nll.numpy().mean(), rel=1e-12)


def test_categorical_terms_match_their_definition():
    model = tiny(likelihood="categorical", levels=256)
    k = np.random.default_rng(4).integers(0, 256, (3, 1, 3, 4))
    x = tg.tensor(k / 255.0, dtype="float64")
    with tg.no_grad():
        t = model.terms(x)
        l = model.logits(x).numpy()                                   # (3, 256, 1, 3, 4)
    assert l.shape == (3, 256, 1, 3, 4)
    m = l.max(1, keepdims=True)
    log_softmax = l - m - np.log(np.exp(l - m).sum(1, keepdims=True))
    want = np.take_along_axis(log_softmax, k[:, None], axis=1)[:, 0]  # (3, 1, 3, 4)
    np.testing.assert_allclose(t.log_p.numpy(), want, rtol=1e-10, atol=1e-10)


def test_default_and_b3_build_for_mnist():
    x = (tg.rand(2, 1, 28, 28) < 0.5).float()
    with tg.no_grad():
        assert PixelCNN().logits(x).shape == (2, 1, 28, 28)
        b3 = PixelCNN(preset="b3")
        assert b3.logits(x).shape == (2, 1, 28, 28)
        assert PixelCNN(likelihood="categorical").logits(x).shape == (2, 256, 1, 28, 28)
    # docs/benchmarks.md B3: 7x7 A 1->64; 5 x 3x3 B 64->64; 1x1 64->64; 1x1 64->1 (weights + biases)
    n = (49 * 64 + 64) + 5 * (9 * 64 * 64 + 64) + (64 * 64 + 64) + (64 + 1)
    assert sum(p.numel() for p in b3.parameters()) == n
    with pytest.raises(ValueError, match="preset"):
        PixelCNN(preset="nope")


# ---- sampling and completion -------------------------------------------------------------

def test_samples_have_the_right_shape_values_and_seed():
    model = tiny()
    tg.manual_seed(7)
    a = model.sample(5, shape=(1, 4, 3)).numpy()
    tg.manual_seed(7)
    b = model.sample(5, shape=(1, 4, 3)).numpy()
    assert a.shape == (5, 1, 4, 3)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    c = model.sample(5, shape=(1, 4, 3)).numpy()                      # the stream moved on
    assert not np.array_equal(a, c)
    gray = tiny(likelihood="categorical", levels=5).sample(3, shape=(1, 2, 2)).numpy()
    assert gray.shape == (3, 1, 2, 2)
    assert set(np.unique(np.rint(gray * 4) / 4)) == set(np.unique(gray))


def test_sample_frequencies_match_the_model_probabilities():
    """Pixel-by-pixel sampling draws from p(x): empirical frequencies of all 16 images of
    2 x 2 agree with exp(-nll) within 4.5 standard errors."""
    model = tiny()
    x = tg.tensor(all_images(1, 2, 2), dtype="float64")
    with tg.no_grad():
        p = np.exp(-model.terms(x).nll.numpy())                      # (16,)
    n = 4000
    s = model.sample(n, shape=(1, 2, 2)).numpy().reshape(n, 4)
    index = (s * np.array([8, 4, 2, 1])).sum(axis=1).astype(int)    # raster bits -> image number
    freq = np.bincount(index, minlength=16) / n
    assert np.all(np.abs(freq - p) <= 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3)


def test_completion_keeps_the_given_rows():
    model = tiny()
    x = tg.tensor((np.random.default_rng(5).random((4, 1, 6, 5)) < 0.5).astype(np.float64))
    before = x.numpy().copy()
    tg.manual_seed(1)
    out = model.complete(x).numpy()
    np.testing.assert_array_equal(x.numpy(), before)                  # input untouched
    np.testing.assert_array_equal(out[:, :, :3], before[:, :, :3])    # top half kept
    assert set(np.unique(out)) <= {0.0, 1.0}
    tg.manual_seed(1)
    np.testing.assert_array_equal(model.complete(x).numpy(), out)     # seeded
    out2 = model.complete(x, known_rows=5).numpy()
    np.testing.assert_array_equal(out2[:, :, :5], before[:, :, :5])


def test_completion_samples_the_conditional():
    """The bottom pixel of a 2 x 1 image completed from the top one follows p(x_2 | x_1)."""
    model = tiny()
    top = tg.tensor(np.ones((3000, 1, 2, 1)))
    with tg.no_grad():
        p = tg.sigmoid(model.logits(top)).numpy()[0, 0, 1, 0]        # p(x_2 = 1 | x_1 = 1)
    bottom = model.complete(top, known_rows=1).numpy()[:, 0, 1, 0]
    assert abs(bottom.mean() - p) < 4.5 * math.sqrt(p * (1 - p) / 3000)


@pytest.mark.parametrize("known_rows", [1, 3])
def test_completion_draws_each_pixel_with_its_log_p_given_the_known_rows(known_rows):
    from autoregressive import assert_completion_uses_log_p   # (it imports this file)
    x = (np.random.default_rng(6).random((4, 1, 4, 5)) < 0.5).astype(np.float64)
    tg.manual_seed(8)
    assert_completion_uses_log_p(tiny(), x, known_rows)


# ---- training and evaluation ------------------------------------------------------------

def test_training_steps_lower_the_nll():
    model = PixelCNN(preset="b3", channels=8, n_layers=2, head_channels=8)
    # vertical stripes with a random phase: the first pixel is a coin flip, the rest follow
    phase = np.random.default_rng(7).integers(0, 2, (8, 1, 1, 1))
    x = tg.tensor(((np.arange(8) + phase) % 2 * np.ones((8, 1, 8, 8))).astype(np.float32))
    opts = model.configure_optimizers(1e-2)
    first = model.training_step(x, opts)
    assert set(first) >= {"loss", "bits_per_dim"}
    for _ in range(30):
        last = model.training_step(x, opts)
    assert last["loss"] < 0.3 * first["loss"]


def test_evaluate_reports_mean_nll_and_refuses_gray_images():
    model = tiny()
    x = (np.random.default_rng(6).random((10, 1, 4, 4)) < 0.5).astype(np.float64)
    out = model.evaluate(x, batch_size=3)
    with tg.no_grad():
        nll = model.terms(tg.tensor(x)).nll.numpy()
    assert out["n"] == 10
    assert out["nll"] == pytest.approx(nll.mean(), rel=1e-12)
    assert out["nll_se"] == pytest.approx(nll.std() / math.sqrt(10), rel=1e-9)
    assert out["bits_per_dim"] == pytest.approx(nll.mean() / (16 * math.log(2)), rel=1e-12)
    assert model.evaluate(x, limit=4)["n"] == 4
    with pytest.raises(ValueError, match="binary"):
        model.evaluate(x * 0.5)


def test_preset_by_first_argument_as_the_other_models():
    from tinygen.models import PixelCNN
    assert PixelCNN("b3").config == PixelCNN(preset="b3").config
    with pytest.raises(ValueError, match="unknown preset"):
        PixelCNN("nope")
