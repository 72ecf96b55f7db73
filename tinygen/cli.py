"""The `tinygen` command (also `python -m tinygen`).

    tinygen train {pixelcnn,ae,vae,gan} [--data mnist5k|mnist|fashion-mnist] [--data-dir DIR]
                  [--epochs N] [--batch-size B] [--lr LR] [--device cpu|cuda] [--seed S]
                  [--out DIR] [--resume]
    tinygen sample RUN [-n 64] [--out FILE]
    tinygen eval RUN [--data-dir DIR] [--limit N] [--k K]
    tinygen gradcheck [--ops NAME ...]
    tinygen bench [overhead|kernels|models|all] [-- args for the benchmark]
    tinygen data {list,download,path} [NAME] [--data-dir DIR]

Bad arguments and missing data end in one clear line on stderr and a non-zero exit.
"""
import argparse
import dataclasses
import json
import os
import sys
import time

MODELS = ("pixelcnn", "ae", "vae", "gan")
DATASETS = ("mnist5k", "mnist", "fashion-mnist")
# binary likelihood models train on dynamically binarized digits; the GAN on gray values
BINARIZE = {"pixelcnn": "dynamic", "ae": "dynamic", "vae": "dynamic", "gan": None}
DEFAULT_LR = {"pixelcnn": 1e-3, "ae": 1e-3, "vae": 1e-3, "gan": 2e-4}
# the autoregressive models of issue 15, trained and evaluated as pixelcnn
MODELS += ("pixelrnn", "gated-pixelcnn")
BINARIZE.update({"pixelrnn": "dynamic", "gated-pixelcnn": "dynamic"})
DEFAULT_LR.update({"pixelrnn": 1e-3, "gated-pixelcnn": 1e-3})


class CLIError(Exception):
    """An error the user can fix; printed as one line."""


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
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    p = _Parser(prog="tinygen", description="tinygen: autodiff on NumPy and generative models")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a model and write samples, plots and checkpoints")
    t.add_argument("model", choices=MODELS)
    t.add_argument("--data", choices=DATASETS, default="mnist5k")
    t.add_argument("--data-dir", default=None, help="directory with the IDX files (or env TINYGEN_DATA)")
    t.add_argument("--epochs", type=_positive_int, default=None)
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--lr", type=_positive_float, default=None)
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help="run directory (default runs/MODEL-DATA)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--variant", choices=("row", "diagonal"), default=None,
                   help="pixelrnn: Row LSTM or Diagonal BiLSTM (default diagonal)")

    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run")
    s.add_argument("-n", type=_positive_int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="PNG path (default RUN/samples.png)")

    e = sub.add_parser("eval", help="test likelihoods (and bounds) or GAN scores of a run")
    e.add_argument("run")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--limit", type=_positive_int, default=None, help="evaluate the first N test images")
    e.add_argument("--k", type=_positive_int, default=None, help="importance samples (VAE)")
    e.add_argument("--seed", type=int, default=0)

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


# ---- train -------------------------------------------------------------------------------

def _build_model(name, device, variant=None):
    from tinygen import models
    model = models.build(name, **({"variant": variant} if variant else {}))
    return model.to(device)


def _load_data(name, split, data_dir, binarize, seed=0):
    from tinygen import data
    try:
        return data.load_dataset(name, split, data_dir=data_dir, binarize=binarize, seed=seed)
    except (data.DatasetNotFoundError, data.DownloadError, data.ChecksumError, data.IDXError) as e:
        raise CLIError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None


def cmd_train(args):
    from tinygen.data import DataLoader
    from tinygen.train.loop import TrainConfig, fit, seed_everything

    if args.device == "cuda":
        from tinygen import backend
        if not backend.cuda_is_available():
            raise CLIError("--device cuda: no GPU available (install tinygen[gpu] on a CUDA "
                           "machine, or set NUMBA_ENABLE_CUDASIM=1 to simulate)")
    out = args.out or os.path.join("runs", f"{args.model}-{args.data}")
    ckpt = os.path.join(out, "checkpoint.npz")
    if args.resume and not os.path.exists(ckpt):
        raise CLIError(f"--resume: no checkpoint at {ckpt}")
    if not args.resume and os.path.exists(ckpt):
        raise CLIError(f"{out} already holds a run; pass --resume to continue it or --out NEW_DIR")
    defaults = {"pixelcnn": 5, "ae": 10, "vae": 10, "gan": 10}
    defaults.update({"pixelrnn": 5, "gated-pixelcnn": 5})
    if args.variant and args.model != "pixelrnn":
        raise CLIError(f"--variant applies to pixelrnn only, not {args.model}")
    config = TrainConfig(model=args.model, data=args.data, data_dir=args.data_dir,
                         binarize=BINARIZE[args.model], epochs=args.epochs or defaults[args.model],
                         batch_size=args.batch_size, lr=args.lr or DEFAULT_LR[args.model],
                         device=args.device, seed=args.seed, out=out)
    if args.resume:
        with open(os.path.join(out, "config.json")) as f:
            saved = json.load(f)
        for key in ("model", "data", "batch_size", "seed"):
            if saved.get(key) != getattr(config, key):
                raise CLIError(f"--resume: {key} was {saved.get(key)!r} in {out}, now "
                               f"{getattr(config, key)!r}")
    seed_everything(config.seed)
    train_set = _load_data(config.data, "train", config.data_dir, config.binarize, config.seed)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=True,
                        seed=config.seed, device=config.device)
    model = _build_model(config.model, config.device, args.variant)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        variant = {"variant": args.variant} if args.variant else {}
        json.dump({**dataclasses.asdict(config), **variant}, f, indent=2)
    probe = next(iter(DataLoader(train_set, batch_size=64, seed=config.seed + 1, device=config.device)))[0]
    print(f"training {config.model} on {train_set!r} for {config.epochs} epochs "
          f"({len(loader)} steps each) -> {out}")
    t0 = time.time()
    try:
        summary = fit(model, loader, config, out, probe=probe, progress=not args.no_progress)
    except KeyboardInterrupt:
        return 130
    terms = ", ".join(f"{k} {v:.4g}" for k, v in summary.items())
    print(f"done in {time.time() - t0:.0f} s; last epoch: {terms}")
    print(f"samples, curves and checkpoint in {out}/")
    return 0


# ---- sample / eval -----------------------------------------------------------------------

def _load_run(run):
    from tinygen.checkpoint import load_checkpoint
    path = os.path.join(run, "config.json")
    ckpt = os.path.join(run, "checkpoint.npz")
    if not os.path.exists(path) or not os.path.exists(ckpt):
        raise CLIError(f"{run}: not a tinygen run directory (needs config.json and checkpoint.npz)")
    with open(path) as f:
        config = json.load(f)
    model = _build_model(config["model"], config.get("device", "cpu"), config.get("variant"))
    load_checkpoint(ckpt, model, restore_rng=False)
    model.eval()
    return config, model


def cmd_sample(args):
    import numpy as np

    import tinygen as tg
    from tinygen.train import plots
    config, model = _load_run(args.run)
    tg.manual_seed(args.seed)
    with tg.no_grad():
        images = model.sample(args.n).numpy()
    out = args.out or os.path.join(args.run, "samples.png")
    plots.save_image_grid(np.clip(images, 0, 1), out, title=f"{config['model']} samples")
    print(out)
    return 0


def cmd_eval(args):
    import tinygen as tg
    config, model = _load_run(args.run)
    tg.manual_seed(args.seed)
    test = _load_data(config["data"], "test", args.data_dir or config.get("data_dir"),
                      BINARIZE[config["model"]], seed=config.get("seed", 0))
    kwargs = {"limit": args.limit}
    if args.k is not None:
        kwargs["k"] = args.k
    if config["model"] == "gan":
        kwargs["train_set"] = _load_data(config["data"], "train", args.data_dir or config.get("data_dir"),
                                         None, seed=config.get("seed", 0))
        kwargs["run_dir"] = args.run
    t0 = time.time()
    with tg.no_grad():
        metrics = model.evaluate(test, **kwargs)
    metrics["seconds"] = time.time() - t0
    for k, v in metrics.items():
        print(f"{k:>28}: {v:.4f}" if isinstance(v, float) else f"{k:>28}: {v}")
    with open(os.path.join(args.run, "eval.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    if hasattr(model, "receptive_radius"):   # autoregressive: which pixels each conditional sees
        print(_save_receptive_field(model, args.run))
    return 0


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
        raise CLIError(str(e).splitlines()[0]) from None
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
            "gradcheck": cmd_gradcheck, "bench": cmd_bench, "data": cmd_data}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CLIError as e:
        print(f"tinygen {args.command}: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"tinygen {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
