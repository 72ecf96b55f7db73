"""A run from settings to files: what `tinygen train`, `sample` and `eval` do, without the
argument parsing (tinygen/cli.py).

    train_run(given, out, resume, verify)      # config -> data, model -> fit (the run dir)
    sample_run(run, n, seed, path)             # samples.png of a trained run
    eval_run(run, data_dir, limit, k, seed, verify)   # eval.json (+ pictures)

Every model comes from tinygen.models.REGISTRY: its ModelSpec gives the defaults, the
binarization of its images and the pictures it gets. A problem the user can fix is a
ConfigError (one line); a non-finite evaluation is an EvalError.
"""
import contextlib
import io
import math
import os
import signal
import time
import warnings

import numpy as np

from tinygen import models, rng
from tinygen.autograd.grad_mode import no_grad
from tinygen.train import plots
from tinygen.train.config import ConfigError, read_config, resolve_config
from tinygen.train.pictures import test_images, write_completions
from tinygen.train.rundir import RunLock, write_json_atomic

N_CLASSES = 10   # the class labels of every dataset (digits; Fashion-MNIST's ten garments)


class EvalError(Exception):
    """An evaluation that produced NaN or Inf (exit 1)."""


class StoppedRun(KeyboardInterrupt):
    """Training stopped on a signal (Ctrl-C, SIGTERM) after fit wrote the checkpoint and
    said so; the command exits with 128 + signum (a KeyboardInterrupt: not an error, so
    under mpirun no rank aborts the job for it)."""

    def __init__(self, signum):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def one_line(message):
    """A (possibly multi-line) message as one line: a line ending in ':' runs into the next,
    other lines are joined with '; '."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    text = ""
    for line in lines:
        text += line if not text else (" " if text.endswith(":") else "; ") + line
    return text


def exit_status(error):
    """The command's exit status for an error: 1 when training or an evaluation went
    non-finite, 2 for one the user can fix (settings, files, a busy run directory), None
    for a bug."""
    from tinygen.checkpoint import CheckpointError
    from tinygen.train.guards import TrainingError
    from tinygen.train.rundir import RunLockedError
    if isinstance(error, (TrainingError, EvalError)):
        return 1
    if isinstance(error, (ConfigError, CheckpointError, RunLockedError, OSError)):
        return 2
    return None


# ---- checks and pieces -------------------------------------------------------------------

def check_data_dir(data_dir, name):
    """A given --data-dir must exist (it is never created, not even by a download)."""
    if data_dir is not None and name != "mnist5k" and not os.path.isdir(data_dir):
        raise ConfigError(f"--data-dir {data_dir} does not exist or is not a directory, so "
                          f"dataset {name!r} cannot be read from it (nothing was created)")


def check_out(out):
    """--out must be a directory that is new, empty, or a tinygen run."""
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise ConfigError(f"--out {out} is a file, not a directory")
    entries = set(os.listdir(out)) - {"lock"}
    if entries and "config.json" not in entries and "checkpoint.npz" not in entries:
        raise ConfigError(f"--out {out} holds other files and is not a tinygen run directory; "
                          "give a new or empty directory")


def load_data(name, split, data_dir, binarize, seed=0, verify=True):
    """load_dataset, its failures as one-line ConfigErrors."""
    from tinygen import data
    try:
        return data.load_dataset(name, split, data_dir=data_dir, binarize=binarize, seed=seed,
                                 verify=verify)
    except (data.DatasetNotFoundError, data.DownloadError, data.ChecksumError, data.IDXError,
            ValueError) as e:  # ValueError: an unreadable mnist5k CSV
        raise ConfigError(str(e) or type(e).__name__) from None


def build_model(name, device, variant=None, preset=None, conditional=False):
    """The registered model `name` with the run's options, on `device`."""
    options = {"variant": variant, "preset": preset,
               "n_classes": N_CLASSES if conditional else None}
    model = models.build(name, **{k: v for k, v in options.items() if v is not None})
    return model.to(device)


def _shape_text(shape):
    return " x ".join(str(n) for n in shape)


def check_data_fits(model, dataset, config):
    """The dataset's images have the shape the model takes (a VAE, AE or GAN is built for
    one size; the PixelCNNs and PixelRNNs take any), and with --conditional its labels lie in
    [0, N_CLASSES): checked here, in one line, before a step meets them in a linear layer."""
    expected = getattr(getattr(model, "config", None), "image_shape", None)
    if expected is not None and tuple(dataset.shape) != tuple(expected):
        raise ConfigError(f"{config.data}'s images are {_shape_text(dataset.shape)}, but "
                          f"{config.model} is built for {_shape_text(expected)} images (C x H x W)")
    if config.conditional:
        bad = np.flatnonzero((dataset.labels < 0) | (dataset.labels >= N_CLASSES))
        if bad.size:
            raise ConfigError(f"--conditional: {bad.size} of {config.data}'s {len(dataset)} "
                              f"labels lie outside [0, {N_CLASSES}), the first "
                              f"{dataset.labels[bad[0]]} (image {bad[0]})")


# ---- train -------------------------------------------------------------------------------

def _start(config, verify, rank=0, world_size=1):
    """The run's training set, loader (this rank's share of each global batch), model, probe
    batch and test batch, checked."""
    from tinygen.data import image_loader
    train_set = load_data(config.data, "train", config.data_dir, config.binarize, config.seed,
                          verify)
    if len(train_set) < config.batch_size:
        raise ConfigError(f"--batch-size {config.batch_size} is larger than the "
                          f"{len(train_set)} training images of {config.data}: an epoch "
                          "would run 0 steps")
    try:
        loader = image_loader(train_set, config.batch_size, seed=config.seed,
                              device=config.device, rank=rank, world_size=world_size,
                              labels=config.conditional)   # no label copies unless trained on
    except ValueError as e:
        raise ConfigError(str(e)) from None
    model = build_model(config.model, config.device, config.variant, config.preset,
                        config.conditional)
    check_data_fits(model, train_set, config)
    with rng.fork_rng(rng.derive_seed(config.seed, 5)):   # not from the training stream
        probe = loader.dataset[range(min(64, len(train_set)))]
    test_batch = None
    if "completions" in models.REGISTRY[config.model].pictures:   # of test images
        test_batch = test_images(load_data(config.data, "test", config.data_dir,
                                           config.binarize, config.seed, verify),
                                 config.seed, config.device)
    return train_set, loader, model, probe, test_batch


def _check_device(config):
    if config.device == "cuda":
        from tinygen import backend
        if not backend.cuda_is_available():
            raise ConfigError("--device cuda: no GPU available (install tinygen[gpu] on a CUDA "
                              "machine, or set NUMBA_ENABLE_CUDASIM=1 to simulate)")


def _data_parallel(model, config, out, rank):
    """Under mpirun: the model's gradients averaged over the ranks (DDP's hooks), and the
    directory this rank's fit writes (see tinygen/train/distributed.py)."""
    from tinygen import distributed as dist
    from tinygen.train import distributed as data_parallel
    try:
        # rank 0's weights everywhere; one DDP per optimizer (the GAN's D and G)
        data_parallel.wrap_per_optimizer(model, model.configure_optimizers(config.lr))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    dist.barrier()                   # rank 0's checks passed, nothing written yet
    run_dir = data_parallel.rank_run_dir(out, rank)
    dist.barrier()                   # the copies are taken before rank 0's fit writes
    return run_dir


def _fit_quietly(model, loader, config, run_dir, probe, test_batch, progress, rank, world_size):
    """fit, with NumPy's overflow warnings silenced (from every kernel thread they would
    precede the guards' one line on a non-finite value) and, on ranks other than 0, stdout
    (rank 0 speaks for the run)."""
    from tinygen.train import distributed as data_parallel
    from tinygen.train.loop import fit
    parallel = world_size > 1
    with warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()) if rank else contextlib.nullcontext():
        warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) "
                                "encountered", RuntimeWarning)
        return fit(model, loader, config, run_dir, probe=probe, progress=progress and rank == 0,
                   step_stream=data_parallel.step_stream(config.seed, rank) if parallel else None,
                   any_rank=data_parallel.any_rank if parallel else None, test_batch=test_batch)


def train_run(given, out, resume, verify=True, progress=True):
    """Train (or --resume) the run in `out` from the flags in `given` (None: not given);
    returns the last epoch's summary (None on ranks other than 0 under mpirun)."""
    from tinygen.train import distributed as data_parallel
    from tinygen.train.loop import seed_everything
    rank, world_size = data_parallel.init_world()   # (0, 1) unless started by mpirun
    check_out(out)
    if resume and not os.path.isdir(out):   # (else checked under the lock)
        raise ConfigError(f"--resume: no checkpoint at {os.path.join(out, 'checkpoint.npz')}")
    if not resume:   # before creating --out (a resumed run checks its saved data_dir)
        check_data_dir(given["data_dir"], given["data"] or "mnist5k")
    os.makedirs(out, exist_ok=True)
    with RunLock(out, "train") if rank == 0 else contextlib.nullcontext():
        config = resolve_config(given, out, resume, models.REGISTRY)
        check_data_dir(config.data_dir, config.data)
        _check_device(config)
        seed_everything(config.seed)
        train_set, loader, model, probe, test_batch = _start(config, verify, rank, world_size)
        run_dir = out
        if world_size > 1:
            run_dir = _data_parallel(model, config, out, rank)
        if rank == 0:
            print(f"training {config.model} on {train_set!r} for {config.epochs} epochs "
                  f"({len(loader)} steps each) -> {out}"
                  + (f" on {world_size} ranks" if world_size > 1 else ""))
        try:
            summary = _fit_quietly(model, loader, config, run_dir, probe, test_batch, progress,
                                   rank, world_size)
        except KeyboardInterrupt as e:   # fit printed the line (Stopped) or Ctrl-C twice
            raise StoppedRun(getattr(e, "signum", signal.SIGINT)) from None
        finally:
            data_parallel.remove_rank_run_dir(run_dir, out)
    return summary if rank == 0 else None


# ---- sample / eval -----------------------------------------------------------------------

def load_run(run):
    """(config dict, model in eval mode) of a trained run directory."""
    from tinygen.checkpoint import load_checkpoint
    ckpt = os.path.join(run, "checkpoint.npz")
    if not os.path.isfile(os.path.join(run, "config.json")) or not os.path.isfile(ckpt):
        raise ConfigError(f"{run}: not a tinygen run directory (needs config.json and "
                          "checkpoint.npz)")
    config = read_config(run, models.REGISTRY)
    model = build_model(config["model"], config["device"], config["variant"], config["preset"],
                        config["conditional"])
    load_checkpoint(ckpt, model, restore_rng=False, check_finite=True)
    model.eval()
    return config, model


def lock_if_inside(run, path, command):
    """A RunLock on `run` when `path` lies inside it, else a no-op context."""
    inside = os.path.dirname(os.path.abspath(path)) == os.path.abspath(run)
    return RunLock(run, command) if inside and os.path.isdir(run) else contextlib.nullcontext()


def sample_run(run, n, seed, path):
    """n samples of the run's model as a PNG grid at `path` (a class-conditional model:
    column k holds class k)."""
    if os.path.isdir(path):
        raise ConfigError(f"--out {path} is a directory; give a PNG file name")
    with lock_if_inside(run, path, "sample"):
        config, model = load_run(run)
        title, nrow, labels = f"{config['model']} samples", None, {}
        if config["conditional"]:   # column k: samples of class k
            title, nrow = title + " (column k: class k)", N_CLASSES
            labels = model.condition(np.arange(n) % N_CLASSES)
        with no_grad(), rng.fork_rng(seed):
            images = model.sample(n, **labels).numpy()
        plots.save_image_grid(np.clip(images, 0, 1), path, title=title, nrow=nrow)
    return path


def _evaluate(run, config, model, test, data_dir, limit, k, seed, verify):
    """model.evaluate on the test set, timed; the GAN's also reads the training set."""
    spec = models.REGISTRY[config["model"]]
    options = {"limit": limit} | ({"k": k} if k is not None else {})
    if spec.eval_train_set:
        options["train_set"] = load_data(config["data"], "train", data_dir, None,
                                         seed=config["seed"], verify=verify)
        options["run_dir"] = run
    t0 = time.time()
    with no_grad(), rng.fork_rng(seed):
        metrics = model.evaluate(test, **options)
    metrics["seconds"] = time.time() - t0
    return metrics


def eval_run(run, data_dir=None, limit=None, k=None, seed=0, verify=True):
    """Evaluate the run's model on its test set: prints the metrics, writes RUN/eval.json
    and the pictures its spec names; EvalError when a metric is NaN or Inf."""
    with lock_if_inside(run, os.path.join(run, "eval.json"), "eval"):
        config, model = load_run(run)
        data_dir = data_dir or config.get("data_dir")
        check_data_dir(data_dir, config["data"])
        spec = models.REGISTRY[config["model"]]
        test = load_data(config["data"], "test", data_dir, spec.binarize, seed=config["seed"],
                         verify=verify)
        metrics = _evaluate(run, config, model, test, data_dir, limit, k, seed, verify)
        bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
        for key, v in metrics.items():
            print(f"{key:>28}: {v:.4f}" if isinstance(v, float) else f"{key:>28}: {v}")
        write_json_atomic(os.path.join(run, "eval.json"), metrics)
    if "receptive_field" in spec.pictures:   # which pixels each conditional sees
        print(save_receptive_field(model, run))
    if "completions" in spec.pictures:       # ... and how it completes test images
        print(save_completions(model, test, run, seed))
    if bad:
        raise EvalError(f"non-finite {', '.join(bad)}: the model or the data is broken")
    return metrics


def save_completions(model, test, run, seed):
    """RUN/completions.png: the first 8 test images' bottom halves, completed 4 times each."""
    path = os.path.join(run, "completions.png")
    x, y = test_images(test, seed, next(model.parameters()).device)
    with no_grad(), rng.fork_rng(rng.derive_seed(seed, 1)):
        return write_completions(model, x, y, path, title=f"{type(model).__name__} completions "
                                 "of test images")


def save_receptive_field(model, run):
    """RUN/receptive_field.png: the inputs reaching the conditional of the centre pixel of the
    5th row of a 10 x 16 image, next to PixelCNN's (blind spot) for comparison."""
    panels = {type(model).__name__: model}
    if type(model).__name__ != "PixelCNN":
        panels["PixelCNN"] = models.build("pixelcnn").to(next(model.parameters()).device)
    return models.save_receptive_fields(panels, (5, 8), (10, 16),
                                        os.path.join(run, "receptive_field.png"))
