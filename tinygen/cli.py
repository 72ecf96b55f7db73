"""The `tinygen` command (also `python -m tinygen`).

    tinygen train {pixelcnn,pixelrnn,gated-pixelcnn,ae,vae,gan} [--variant row|diagonal]
                  [--preset P] [--conditional] [--data mnist5k|mnist|fashion-mnist] [--data-dir DIR]
                  [--epochs N] [--batch-size B] [--lr LR] [--device cpu|cuda] [--seed S]
                  [--out DIR] [--resume] [--sha256 FILE=HEX ...] [--no-verify]
    tinygen sample RUN [-n 64] [--out FILE]
    tinygen eval RUN [--data-dir DIR] [--limit N] [--k K] [--sha256 FILE=HEX ...] [--no-verify]
    tinygen gradcheck [--ops NAME ...]
    tinygen bench [overhead|kernels|models|all] [-- args for the benchmark]
    tinygen data {list,download,path} [NAME] [--data-dir DIR]

Every failure ends in one line on stderr and a non-zero exit: 2 for bad arguments, missing
or damaged files and a run directory in use, 1 when training stops on a non-finite value,
130 when interrupted (Ctrl-C) and 143 when terminated (SIGTERM: kill, SLURM, docker stop);
train first finishes the step and writes the checkpoint on either. Set TINYGEN_TRACEBACK=1
to see the traceback of an unexpected error.
A run directory is held by one process at a time (train, eval, or sample into it; see
tinygen/train/rundir.py). `--resume` continues a run with its saved settings: a new --lr or
--epochs is applied and recorded; a different model, --data, --batch-size or --seed (or
--variant, --preset, --conditional) is refused.
"""
import argparse
import json
import math
import os
import signal
import sys
import threading
import time

from tinygen import runtime
from tinygen.train.loop import Stopped

MODELS = ("pixelcnn", "pixelrnn", "gated-pixelcnn", "ae", "vae", "gan")
VARIANTS = ("row", "diagonal")   # pixelrnn: Row LSTM or Diagonal BiLSTM
DATASETS = ("mnist5k", "mnist", "fashion-mnist")
# binary likelihood models train on dynamically binarized digits; the GAN on gray values
BINARIZE = {"pixelcnn": "dynamic", "pixelrnn": "dynamic", "gated-pixelcnn": "dynamic",
            "ae": "dynamic", "vae": "dynamic", "gan": None}
DEFAULT_LR = {"pixelcnn": 1e-3, "pixelrnn": 1e-3, "gated-pixelcnn": 1e-3, "ae": 1e-3,
              "vae": 1e-3, "gan": 2e-4}
DEFAULT_EPOCHS = {"pixelcnn": 5, "pixelrnn": 5, "gated-pixelcnn": 5, "ae": 10, "vae": 10,
                  "gan": 10}
# settings a run keeps for life (--resume refuses others); lr and epochs may change
FIXED_ON_RESUME = ("model", "variant", "preset", "conditional", "data", "batch_size", "seed")
N_CLASSES = 10   # the class labels of every dataset (digits; Fashion-MNIST's ten garments)


class CLIError(Exception):
    """An error the user can fix; printed as one line."""


class EvalError(Exception):
    """An evaluation that produced NaN or Inf (exit 1)."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {value}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed in 0 .. 2**63-1, got {value}")
    return value


def _sha256_pair(text):
    """FILE=HEX: the expected SHA-256 of one decompressed IDX file, e.g.
    train-images-idx3-ubyte=ba89..."""
    from tinygen.data.sources import SPLITS
    stems = [stem for pair in SPLITS.values() for stem in pair]
    name, sep, digest = text.partition("=")
    name = name.strip().removesuffix(".gz")
    digest = digest.strip().lower()
    if not sep or not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError(
            f"expected FILE=HEX with a 64-digit hex SHA-256, got {text!r}")
    if name not in stems:
        raise argparse.ArgumentTypeError(f"unknown file {name!r} (the files are {', '.join(stems)})")
    return name, digest


def _add_verify_arguments(p):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--sha256", type=_sha256_pair, action="append", default=None,
                       metavar="FILE=HEX", help="expected SHA-256 of your own (decompressed) IDX "
                       "file FILE, instead of the published one; repeat for each file")
    group.add_argument("--no-verify", action="store_true",
                   help="do not check the IDX files' SHA-256 at all")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    p = _Parser(prog="tinygen", description="tinygen: autodiff on NumPy and generative models")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a model and write samples, plots and checkpoints")
    t.add_argument("model", choices=MODELS)
    # None defaults: a fresh run fills them in, --resume takes the run's own settings
    t.add_argument("--data", choices=DATASETS, default=None, help="default mnist5k")
    t.add_argument("--data-dir", default=None, help="directory with the IDX files (or env TINYGEN_DATA)")
    t.add_argument("--epochs", type=_positive_int, default=None)
    t.add_argument("--batch-size", type=_positive_int, default=None, help="default 64")
    t.add_argument("--lr", type=_positive_float, default=None)
    t.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default cpu")
    t.add_argument("--seed", type=_seed, default=None, help="default 0")
    t.add_argument("--out", default=None, help="run directory (default runs/MODEL-DATA)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--preset", default=None,
                   help="one of the model's presets, e.g. small for pixelcnn, pixelrnn, "
                        "gated-pixelcnn, iwae for vae (default: the paper's model)")
    t.add_argument("--variant", choices=VARIANTS, default=None,
                   help="pixelrnn: Row LSTM or Diagonal BiLSTM (default diagonal)")
    t.add_argument("--conditional", action=argparse.BooleanOptionalAction, default=None,
                   help="gated-pixelcnn: condition on the class labels, p(x | y) (\"draw a 7\")")
    _add_verify_arguments(t)

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run")
    s.add_argument("-n", type=_positive_int, default=64)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--out", default=None, help="PNG path (default RUN/samples.png)")

    e = sub.add_parser("eval", help="test likelihoods (and bounds) or GAN scores of a run")
    e.add_argument("run")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--limit", type=_positive_int, default=None, help="evaluate the first N test images")
    e.add_argument("--k", type=_positive_int, default=None, help="importance samples (VAE)")
    e.add_argument("--seed", type=_seed, default=0)
    _add_verify_arguments(e)

    g = sub.add_parser("gradcheck", help="every op's gradcheck and gradgradcheck as a table")
    g.add_argument("--ops", nargs="*", default=None, help="only these ops")

    b = sub.add_parser("bench", help="run the benchmarks (needs the source checkout's benchmarks/)")
    b.add_argument("which", nargs="?", default="all", choices=("overhead", "kernels", "models", "all"))
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")

    d = sub.add_parser("data", help="list, download or locate datasets")
    d.add_argument("action", choices=("list", "download", "path"))
    d.add_argument("name", nargs="?", default=None, choices=DATASETS + (None,))
    d.add_argument("--data-dir", default=None)
    return p


# ---- files of a run ----------------------------------------------------------------------

def _read_config(run):
    """The run's config.json, checked to be one (a damaged file is a CLIError)."""
    path = os.path.join(run, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (UnicodeDecodeError, ValueError) as e:
        raise CLIError(f"{path}: corrupt config ({type(e).__name__}: {e})") from None
    checks = {"model": lambda v: v in MODELS, "data": lambda v: v in DATASETS,
              "batch_size": lambda v: type(v) is int and v >= 1,
              "epochs": lambda v: type(v) is int and v >= 1,
              "seed": lambda v: type(v) is int and 0 <= v < 2**63,
              "lr": lambda v: type(v) in (int, float) and math.isfinite(v) and v > 0,
              "device": lambda v: v in ("cpu", "cuda"),
              "data_dir": lambda v: v is None or isinstance(v, str),
              "variant": lambda v: v is None or v in VARIANTS,
              "preset": lambda v: v is None or isinstance(v, str),
              "conditional": lambda v: type(v) is bool}
    if not isinstance(config, dict):
        raise CLIError(f"{path}: corrupt config (a JSON {type(config).__name__}, not an object)")
    config.setdefault("variant", None)   # runs written before pixelrnn existed
    config.setdefault("preset", None)    # runs written before --preset existed
    config.setdefault("conditional", False)   # runs written before --conditional existed
    for key, ok in checks.items():
        if key not in config or not ok(config[key]):
            raise CLIError(f"{path}: corrupt config ({key} is {config.get(key, 'missing')!r})")
    return config


def _check_data_dir(data_dir, name):
    """A given --data-dir must exist (it is never created, not even by a download)."""
    if data_dir is not None and name != "mnist5k" and not os.path.isdir(data_dir):
        raise CLIError(f"--data-dir {data_dir} does not exist or is not a directory, so dataset "
                       f"{name!r} cannot be read from it (nothing was created)")


def _check_out(out):
    """--out must be a directory that is new, empty, or a tinygen run."""
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise CLIError(f"--out {out} is a file, not a directory")
    entries = set(os.listdir(out)) - {"lock"}
    if entries and "config.json" not in entries and "checkpoint.npz" not in entries:
        raise CLIError(f"--out {out} holds other files and is not a tinygen run directory; "
                       "give a new or empty directory")


# ---- train -------------------------------------------------------------------------------

def presets(model):
    """The names of a model's presets: the PRESETS table of its module, if it has one."""
    import importlib

    from tinygen import models
    return sorted(getattr(importlib.import_module(models.REGISTRY[model][0]), "PRESETS", {}))


def _check_preset(model, preset):
    """--preset names one of the model's PRESETS."""
    if preset is None:
        return
    names = presets(model)
    if not names:
        from tinygen import models
        with_presets = [m for m in models.REGISTRY if presets(m)]
        raise CLIError(f"--preset: {model} has no presets (these models have: "
                       f"{', '.join(with_presets)})")
    if preset not in names:
        raise CLIError(f"--preset {preset!r}: {model} has the presets {', '.join(names)}")


def _build_model(name, device, variant=None, preset=None, conditional=False):
    from tinygen import models
    options = {"variant": variant, "preset": preset,
               "n_classes": N_CLASSES if conditional else None}
    model = models.build(name, **{k: v for k, v in options.items() if v is not None})
    return model.to(device)


def _verify(args):
    """load_dataset's verify: False (--no-verify), {file: sha256} (--sha256), or True."""
    if getattr(args, "no_verify", False):
        return False
    return dict(args.sha256) if getattr(args, "sha256", None) else True


def _load_data(name, split, data_dir, binarize, seed=0, verify=True):
    from tinygen import data
    try:
        return data.load_dataset(name, split, data_dir=data_dir, binarize=binarize, seed=seed,
                                 verify=verify)
    except (data.DatasetNotFoundError, data.DownloadError, data.ChecksumError, data.IDXError,
            ValueError) as e:  # ValueError: an unreadable mnist5k CSV
        raise CLIError(str(e) or type(e).__name__) from None


def _check_data_fits(model, dataset, config):
    """The dataset's images have the shape the model takes (a VAE, AE or GAN is built for
    one size; the PixelCNNs and PixelRNNs take any), and with --conditional its labels lie in
    [0, N_CLASSES): checked here, in one line, before a step meets them in a linear layer."""
    import numpy as np
    expected = getattr(getattr(model, "config", None), "image_shape", None)
    if expected is not None and tuple(dataset.shape) != tuple(expected):
        raise CLIError(f"{config.data}'s images are {_shape_text(dataset.shape)}, but {config.model} "
                       f"is built for {_shape_text(expected)} images (C x H x W)")
    if config.conditional:
        bad = np.flatnonzero((dataset.labels < 0) | (dataset.labels >= N_CLASSES))
        if bad.size:
            raise CLIError(f"--conditional: {bad.size} of {config.data}'s {len(dataset)} labels "
                           f"lie outside [0, {N_CLASSES}), the first {dataset.labels[bad[0]]} "
                           f"(image {bad[0]})")


def _shape_text(shape):
    return " x ".join(str(n) for n in shape)


def _test_images(test_set, seed, device, n=8):
    """(x, y): the first n test images, binarized (if the set is) by a generator of their
    own (seeded: the same images every epoch; tinygen's stream does not move), and labels."""
    import numpy as np

    import tinygen as tg
    from tinygen import rng
    x, y = test_set.batch(np.arange(min(n, len(test_set))),
                          rng=np.random.default_rng(rng.derive_seed(seed, 3)))
    return tg.tensor(x, device=device), tg.tensor(y, device=device)


def _train_config(args, out):
    """The TrainConfig of a fresh run (flags or defaults), or of a resumed one (its saved
    settings, with a new lr, epochs, device or data_dir; the fixed ones must not change)."""
    from tinygen.train.loop import TrainConfig
    ckpt = os.path.join(out, "checkpoint.npz")
    given = {"model": args.model, "data": args.data, "batch_size": args.batch_size,
             "seed": args.seed, "epochs": args.epochs, "lr": args.lr, "device": args.device,
             "data_dir": args.data_dir, "variant": args.variant, "preset": args.preset,
             "conditional": args.conditional}
    if args.resume:
        if not os.path.exists(ckpt):
            raise CLIError(f"--resume: no checkpoint at {ckpt}")
        values = _read_config(out)
        for key in FIXED_ON_RESUME:
            if given[key] is not None and given[key] != values[key]:
                flag = key if key == "model" else "--" + key.replace("_", "-")
                raise CLIError(f"--resume: {flag} {given[key]!r} differs from the run's "
                               f"{values[key]!r} in {out} (model, data, batch size and seed are "
                               "fixed for a run; train a new --out)")
        values = {key: values[key] for key in given} | {
            key: value for key, value in given.items() if value is not None}
    else:
        if os.path.exists(ckpt):
            raise CLIError(f"{out} already holds a run; pass --resume to continue it or "
                           "--out NEW_DIR")
        if args.variant and args.model != "pixelrnn":
            raise CLIError(f"--variant applies to pixelrnn only, not {args.model}")
        if args.conditional and args.model != "gated-pixelcnn":
            raise CLIError(f"--conditional applies to gated-pixelcnn only, not {args.model}")
        _check_preset(args.model, args.preset)
        defaults = {"data": "mnist5k", "batch_size": 64, "seed": 0, "conditional": False,
                    "epochs": DEFAULT_EPOCHS[args.model], "lr": DEFAULT_LR[args.model],
                    "device": "cpu"}
        values = {key: value if value is not None else defaults.get(key)
                  for key, value in given.items()}
    return TrainConfig(binarize=BINARIZE[values["model"]], out=out, **values)


def _ends_mpi_job_on_error(command):   # see tinygen/train/distributed.py
    from tinygen.train.distributed import ends_job_on_error
    return ends_job_on_error(command)


@_ends_mpi_job_on_error
def cmd_train(args):
    import contextlib
    import io
    import warnings

    from tinygen import rng
    from tinygen.data import image_loader
    from tinygen.train import distributed as data_parallel
    from tinygen.train.loop import fit, seed_everything
    from tinygen.train.rundir import RunLock

    rank, world_size = data_parallel.init_world()   # (0, 1) unless started by mpirun
    out = args.out or os.path.join("runs", f"{args.model}-{args.data or 'mnist5k'}")
    _check_out(out)
    if args.resume and not os.path.isdir(out):   # (else checked under the lock)
        raise CLIError(f"--resume: no checkpoint at {os.path.join(out, 'checkpoint.npz')}")
    if not args.resume:   # before creating --out (a resumed run checks its saved data_dir)
        _check_data_dir(args.data_dir, args.data or "mnist5k")
    os.makedirs(out, exist_ok=True)
    with RunLock(out, "train") if rank == 0 else contextlib.nullcontext():
        config = _train_config(args, out)
        _check_data_dir(config.data_dir, config.data)
        if config.device == "cuda":
            from tinygen import backend
            if not backend.cuda_is_available():
                raise CLIError("--device cuda: no GPU available (install tinygen[gpu] on a CUDA "
                               "machine, or set NUMBA_ENABLE_CUDASIM=1 to simulate)")
        seed_everything(config.seed)
        train_set = _load_data(config.data, "train", config.data_dir, config.binarize,
                               config.seed, _verify(args))
        if len(train_set) < config.batch_size:
            raise CLIError(f"--batch-size {config.batch_size} is larger than the "
                           f"{len(train_set)} training images of {config.data}: an epoch "
                           "would run 0 steps")
        try:
            loader = image_loader(train_set, config.batch_size, seed=config.seed,
                                  device=config.device, rank=rank, world_size=world_size,
                                  labels=config.conditional)   # no label copies unless trained on
        except ValueError as e:
            raise CLIError(str(e)) from None
        model = _build_model(config.model, config.device, config.variant, config.preset,
                             config.conditional)
        _check_data_fits(model, train_set, config)
        with rng.fork_rng(rng.derive_seed(config.seed, 5)):   # not from the training stream
            probe = loader.dataset[range(min(64, len(train_set)))]
        test_batch = None
        if hasattr(model, "complete"):   # autoregressive: the pictures complete test images
            test_batch = _test_images(_load_data(config.data, "test", config.data_dir,
                                                 config.binarize, config.seed, _verify(args)),
                                      config.seed, config.device)
        run_dir = out
        if world_size > 1:
            run_dir = _data_parallel(model, config, out, rank)
        if rank == 0:
            print(f"training {config.model} on {train_set!r} for {config.epochs} epochs "
                  f"({len(loader)} steps each) -> {out}"
                  + (f" on {world_size} ranks" if world_size > 1 else ""))
        t0 = time.time()
        try:
            # NumPy's overflow warnings (from every kernel thread) would precede the guards'
            # one line on a non-finite value
            with warnings.catch_warnings(), \
                    contextlib.redirect_stdout(io.StringIO()) if rank else contextlib.nullcontext():
                # (ranks other than 0 say nothing on stdout: rank 0 speaks for the run)
                warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) "
                                        "encountered", RuntimeWarning)
                summary = fit(model, loader, config, run_dir, probe=probe,
                              progress=not args.no_progress and rank == 0,
                              step_stream=(data_parallel.step_stream(config.seed, rank)
                                           if world_size > 1 else None),
                              any_rank=data_parallel.any_rank if world_size > 1 else None,
                              test_batch=test_batch)
        except KeyboardInterrupt as e:   # fit printed the line (Stopped) or Ctrl-C twice
            return 128 + getattr(e, "signum", signal.SIGINT)
        finally:
            data_parallel.remove_rank_run_dir(run_dir, out)
    if rank != 0:
        return 0
    terms = ", ".join(f"{k} {v:.4g}" for k, v in summary.items())
    print(f"done in {time.time() - t0:.0f} s; last epoch: {terms}")
    print(f"samples, curves and checkpoint in {out}/")
    return 0


def _data_parallel(model, config, out, rank):
    """Under mpirun: the model's gradients averaged over the ranks (DDP's hooks), and the
    directory this rank's fit writes (see tinygen/train/distributed.py)."""
    from tinygen import distributed as dist
    from tinygen.train import distributed as data_parallel
    try:
        # rank 0's weights everywhere; one DDP per optimizer (the GAN's D and G)
        data_parallel.wrap_per_optimizer(model, model.configure_optimizers(config.lr))
    except ValueError as e:
        raise CLIError(str(e)) from None
    dist.barrier()                   # rank 0's checks passed, nothing written yet
    run_dir = data_parallel.rank_run_dir(out, rank)
    dist.barrier()                   # the copies are taken before rank 0's fit writes
    return run_dir


# ---- sample / eval -----------------------------------------------------------------------

def _load_run(run):
    from tinygen.checkpoint import load_checkpoint
    ckpt = os.path.join(run, "checkpoint.npz")
    if not os.path.isfile(os.path.join(run, "config.json")) or not os.path.isfile(ckpt):
        raise CLIError(f"{run}: not a tinygen run directory (needs config.json and checkpoint.npz)")
    config = _read_config(run)
    model = _build_model(config["model"], config["device"], config["variant"], config["preset"],
                         config["conditional"])
    load_checkpoint(ckpt, model, restore_rng=False, check_finite=True)
    model.eval()
    return config, model


def _lock_if_inside(run, path, command):
    """A RunLock on `run` when `path` lies inside it, else a no-op context."""
    import contextlib

    from tinygen.train.rundir import RunLock
    inside = os.path.dirname(os.path.abspath(path)) == os.path.abspath(run)
    return RunLock(run, command) if inside and os.path.isdir(run) else contextlib.nullcontext()


def cmd_sample(args):
    import numpy as np

    import tinygen as tg
    from tinygen import rng
    from tinygen.train import plots
    out = args.out or os.path.join(args.run, "samples.png")
    if os.path.isdir(out):
        raise CLIError(f"--out {out} is a directory; give a PNG file name")
    with _lock_if_inside(args.run, out, "sample"):
        config, model = _load_run(args.run)
        title, nrow, labels = f"{config['model']} samples", None, {}
        if config["conditional"]:   # column k: samples of class k
            title, nrow = title + " (column k: class k)", N_CLASSES
            labels = model.condition(np.arange(args.n) % N_CLASSES)
        with tg.no_grad(), rng.fork_rng(args.seed):
            images = model.sample(args.n, **labels).numpy()
        plots.save_image_grid(np.clip(images, 0, 1), out, title=title, nrow=nrow)
    print(out)
    return 0


def cmd_eval(args):
    import tinygen as tg
    from tinygen import rng
    from tinygen.train.rundir import write_json_atomic
    with _lock_if_inside(args.run, os.path.join(args.run, "eval.json"), "eval"):
        config, model = _load_run(args.run)
        data_dir = args.data_dir or config.get("data_dir")
        _check_data_dir(data_dir, config["data"])
        test = _load_data(config["data"], "test", data_dir, BINARIZE[config["model"]],
                          seed=config["seed"], verify=_verify(args))
        kwargs = {"limit": args.limit}
        if args.k is not None:
            kwargs["k"] = args.k
        if config["model"] == "gan":
            kwargs["train_set"] = _load_data(config["data"], "train", data_dir, None,
                                             seed=config["seed"], verify=_verify(args))
            kwargs["run_dir"] = args.run
        t0 = time.time()
        with tg.no_grad(), rng.fork_rng(args.seed):
            metrics = model.evaluate(test, **kwargs)
        metrics["seconds"] = time.time() - t0
        bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
        for k, v in metrics.items():
            print(f"{k:>28}: {v:.4f}" if isinstance(v, float) else f"{k:>28}: {v}")
        write_json_atomic(os.path.join(args.run, "eval.json"), metrics)
    if hasattr(model, "receptive_radius"):   # autoregressive: which pixels each conditional sees
        print(_save_receptive_field(model, args.run))
    if hasattr(model, "complete"):           # ... and how it completes test images
        print(_save_completions(model, test, args))
    if bad:
        raise EvalError(f"non-finite {', '.join(bad)}: the model or the data is broken")
    return 0


def _save_completions(model, test, args):
    """RUN/completions.png: the first 8 test images' bottom halves, completed 4 times each."""
    import tinygen as tg
    from tinygen import rng
    from tinygen.train.loop import write_completions
    path = os.path.join(args.run, "completions.png")
    x, y = _test_images(test, args.seed, next(model.parameters()).device)
    with tg.no_grad(), rng.fork_rng(rng.derive_seed(args.seed, 1)):
        return write_completions(model, x, y, path, title=f"{type(model).__name__} completions "
                                 "of test images")


def _save_receptive_field(model, run):
    """RUN/receptive_field.png: the inputs reaching the conditional of the centre pixel of the
    5th row of a 10 x 16 image, next to PixelCNN's (blind spot) for comparison."""
    from tinygen import models
    panels = {type(model).__name__: model}
    if type(model).__name__ != "PixelCNN":
        panels["PixelCNN"] = models.build("pixelcnn").to(next(model.parameters()).device)
    return models.save_receptive_fields(panels, (5, 8), (10, 16),
                                        os.path.join(run, "receptive_field.png"))


# ---- gradcheck / bench / data ------------------------------------------------------------

def cmd_gradcheck(args):
    from tinygen import opcheck
    known = opcheck.op_names()
    unknown = [name for name in args.ops or () if name not in known]
    if unknown:
        raise CLIError(f"unknown op {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    rows = opcheck.run(args.ops)
    print(opcheck.format_table(rows))
    return 0 if all(r["ok"] for r in rows) else 1


def cmd_bench(args):
    import runpy
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bench_dir = os.path.join(here, "benchmarks")
    if not os.path.isdir(bench_dir):
        raise CLIError("tinygen bench needs the source checkout's benchmarks/ directory "
                       "(install with pip install -e . from a clone)")
    which = ("overhead", "kernels", "models") if args.which == "all" else (args.which,)
    rest = [a for a in args.rest if a != "--"]
    for name in which:
        path = os.path.join(bench_dir, f"bench_{name}.py")
        if not os.path.exists(path):
            raise CLIError(f"benchmark {path} not found")
        print(f"== {name} ==")
        module = runpy.run_path(path, run_name="tinygen_bench")
        module["main"](rest)
    return 0


def cmd_data(args):
    from tinygen import data
    if args.action == "list":
        for row in data.list_datasets(args.data_dir):
            where = f"{row['path']}  ({row['where']})" if row["path"] else "not found"
            print(f"{row['name']:<14} {row['title']:<48} {where}")
        return 0
    if args.name is None:
        raise CLIError(f"tinygen data {args.action}: name a dataset ({', '.join(DATASETS)})")
    try:
        if args.action == "path":
            print(data.dataset_path(args.name, args.data_dir))
        else:
            print(data.download(args.name, args.data_dir))
    except (data.DatasetNotFoundError, data.DownloadError) as e:
        raise CLIError(str(e)) from None
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
            "gradcheck": cmd_gradcheck, "bench": cmd_bench, "data": cmd_data}


def _one_line(message):
    """A (possibly multi-line) message as one line: a line ending in ':' runs into the next,
    other lines are joined with '; '."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    text = ""
    for line in lines:
        text += line if not text else (" " if text.endswith(":") else "; ") + line
    return text


def _exit_code(error):
    """The exit status for an exception reaching main, or None for a bug (re-raised)."""
    from tinygen.checkpoint import CheckpointError
    from tinygen.train.loop import TrainingError
    from tinygen.train.rundir import RunLockedError
    if isinstance(error, (TrainingError, EvalError)):
        return 1
    if isinstance(error, (CLIError, CheckpointError, RunLockedError, OSError)):
        return 2
    return None


class _TerminateAsInterrupt:
    """While a command runs, SIGTERM raises Stopped(SIGTERM) (a KeyboardInterrupt) in the main
    thread, as Ctrl-C raises KeyboardInterrupt, so it ends in one line (train's fit handles
    both itself, to finish the step first); the previous handler comes back at the end."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    @staticmethod
    def _handle(signum, frame):
        raise Stopped(signum)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def main(argv=None):
    args = build_parser().parse_args(argv)
    runtime.configure()          # process-wide tuning for training (tinygen/runtime.py)
    try:
        with _TerminateAsInterrupt():
            return COMMANDS[args.command](args)
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        what = ("interrupted" if signum == signal.SIGINT
                else f"terminated ({signal.Signals(signum).name})")
        print(f"tinygen {args.command}: {what}", file=sys.stderr)
        return 128 + signum
    except Exception as e:
        code = _exit_code(e)
        if code is None and os.environ.get("TINYGEN_TRACEBACK"):
            raise
        text = _one_line(e) or type(e).__name__
        if code is None:   # not an error the user can fix: still one line
            code, text = 2, (f"unexpected {type(e).__name__}: {text} (set TINYGEN_TRACEBACK=1 "
                             "to see where)")
        print(f"tinygen {args.command}: {text}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
