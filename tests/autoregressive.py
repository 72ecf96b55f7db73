"""Checks shared by the autoregressive image models' tests (PixelRNN, Gated PixelCNN): each
follows from p(x) = prod_i p(x_i | x_<i) in raster order."""
import math

import numpy as np

import tinygen as tg
from test_pixelcnn import all_images, logsumexp
from tinygen.models import receptive_fields


def randomize(model, seed, scale=0.5):
    """Every parameter redrawn from N(0, scale^2) (masked taps kept at zero): weights far
    from the default init, biases that make every conditional depend on its position."""
    rng = np.random.default_rng(seed)
    with tg.no_grad():
        for p in model.parameters():
            p.array[...] = rng.normal(0, scale, p.shape)
        for m in model.modules():
            if isinstance(m, tg.nn.MaskedConv2d):              # its mask is a public buffer
                m.weight.array[..., m.mask.array == 0] = 0
    return model


def total_probability(model, H, W, levels=2, **condition):
    """sum over every image of H x W of exp(log p(x)), in float64."""
    x = all_images(1, H, W, levels)
    with tg.no_grad():
        log_p = -model.terms(tg.tensor(x, dtype="float64"), **condition).nll.numpy()
    return math.exp(logsumexp(log_p)), log_p


def reached_sets(model, H, W):
    """{pixel index i: (H W,) bool of the input pixels whose gradient reaches logits i}."""
    return dict(enumerate(receptive_fields(model, (H, W)).reshape(H * W, H * W)))


def assert_causal(model, x, **condition):
    """d logits_i / d x_j == 0 for j >= i, and d log p_i / d x_j == 0 for j > i (exactly)."""
    N, _, H, W = x.shape
    x = tg.tensor(x, dtype="float64", requires_grad=True)
    logits = model.logits(x, **condition)
    log_p = model.terms(x, **condition).log_p
    for i in range(H * W):
        r, c = divmod(i, W)
        (g,) = tg.grad(logits[..., r, c].sum(), x, retain_graph=True)
        g = np.abs(g.numpy()).sum(axis=(0, 1)).reshape(-1)
        assert np.all(g[i:] == 0.0), f"logits {i} reach pixels {np.nonzero(g[i:])[0] + i}"
        (g,) = tg.grad(log_p[:, :, r, c].sum(), x, retain_graph=True)
        g = np.abs(g.numpy()).sum(axis=(0, 1)).reshape(-1)
        assert np.all(g[i + 1:] == 0.0), \
            f"log p {i} reaches pixels {np.nonzero(g[i + 1:])[0] + i + 1}"
        assert g[i] > 0                                      # log p_i depends on x_i itself


def assert_sampling_uses_log_p(model, n, shape, **condition):
    """The probability with which sample() drew each pixel equals exp(log_p) of that pixel
    under terms() of the finished sample: both paths compute the same conditionals."""
    return _assert_draws_use_log_p(model, lambda: model.sample(n, shape=shape, **condition), 0,
                                   **condition)


def assert_completion_uses_log_p(model, x, known_rows, **condition):
    """complete() keeps the rows < known_rows of x (N, 1, H, W) exactly and draws every later
    pixel with the probability exp(log_p) of that pixel under terms() of the completed
    image, given the known rows and the pixels drawn before it."""
    x = tg.tensor(x, dtype="float64")
    out = _assert_draws_use_log_p(model, lambda: model.complete(x, known_rows, **condition),
                                  known_rows * x.shape[3], **condition)
    np.testing.assert_array_equal(out.numpy()[:, :, :known_rows], x.numpy()[:, :, :known_rows])
    return out


def _assert_draws_use_log_p(model, run, first, **condition):
    """run() draws pixels first, first + 1, ... (raster order) through model.draw_pixel: each draw
    and its probability p(x_i = 1 | prefix) against exp(log_p) of the image run() returns."""
    used = []
    draw = model.draw_pixel

    def recording_draw(logits):
        x = draw(logits)
        used.append((tg.sigmoid(logits).numpy(), x))         # p(x_i = 1 | prefix), the draw
        return x

    model.draw_pixel = recording_draw
    try:
        s = run()
    finally:
        del model.draw_pixel
    n = s.shape[0]
    with tg.no_grad():
        log_p = model.terms(s, **condition).log_p.numpy().reshape(n, -1)   # raster order
    assert len(used) == log_p.shape[1] - first
    for i, (p1, x) in enumerate(used, start=first):
        np.testing.assert_array_equal(s.numpy().reshape(n, -1)[:, i], x)
        np.testing.assert_allclose(np.exp(log_p[:, i]), np.where(x == 1, p1, 1 - p1),
                                   rtol=1e-10, atol=1e-12)
    return s
