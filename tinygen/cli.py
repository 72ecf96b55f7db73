"""The `tinygen` command (also `python -m tinygen`).

    tinygen train MODEL [--variant row|diagonal]
                  [--preset P] [--conditional] [--data mnist5k|mnist|fashion-mnist] [--data-dir DIR]
                  [--epochs N] [--batch-size B] [--lr LR] [--device cpu|cuda] [--seed S]
                  [--out DIR] [--resume] [--sha256 FILE=HEX ...] [--no-verify]
    tinygen sample RUN [-n 64] [--out FILE]
    tinygen eval RUN [--data-dir DIR] [--limit N] [--k K] [--sha256 FILE=HEX ...] [--no-verify]
    tinygen gradcheck [--ops NAME ...]
    tinygen bench [overhead|kernels|models|all] [-- args for the benchmark]
    tinygen data {list,download,path} [NAME] [--data-dir DIR]

MODEL: a name of tinygen.models.REGISTRY (or one added by tinygen.models.register), with
its ModelSpec's defaults. This file parses; tinygen/train/run.py does what train, sample and
eval say (config.py: the settings and the resume policy; rundir.py: the run's lock).

Every failure ends in one line on stderr and a non-zero exit: 2 for bad arguments, missing
or damaged files and a run directory in use, 1 when training stops on a non-finite value,
130 when interrupted (Ctrl-C) and 143 when terminated (SIGTERM: kill, SLURM, docker stop);
train first finishes the step and writes the checkpoint on either. Set TINYGEN_TRACEBACK=1
to see the traceback of an unexpected error.
"""

import argparse
import math
import os
import signal
import sys
import time

from tinygen import runtime
from tinygen.data.sources import DATASETS, parse_sha256_pair
from tinygen.train.config import SETTINGS, ConfigError
from tinygen.train.distributed import ends_job_on_error
from tinygen.train.loop import TerminateAsInterrupt


def _number(kind, what, ok, problem=None):
    """An argparse type: text -> kind(text), refused (as `what`) unless ok(value)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {problem or what}, got {value}")
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite {what[2:]}, got {value}")
        return value
    return parse


_positive_int = _number(int, "a positive integer", lambda v: v >= 1)
_positive_float = _number(float, "a positive number", lambda v: v > 0)
_seed = _number(int, "an integer seed", lambda v: 0 <= v < 2**63, "a seed in 0 .. 2**63-1")


def _sha256_pair(text):
    try:
        return parse_sha256_pair(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_verify_arguments(p):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--sha256", type=_sha256_pair, action="append", default=None,
                       metavar="FILE=HEX", help="expected SHA-256 of your own (decompressed) IDX "
                       "file FILE, instead of the published one; repeat for each file")
    group.add_argument("--no-verify", action="store_true", help="do not check the IDX files' SHA-256")


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # exit status 2 and one line, as every other failure
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    from tinygen import models
    p = _Parser(prog="tinygen", description="tinygen: autodiff on NumPy and generative models")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a model and write samples, plots and checkpoints")
    t.add_argument("model", choices=list(models.REGISTRY))
    # None defaults: a fresh run fills them in, --resume takes the run's own settings
    t.add_argument("--data", choices=DATASETS, default=None, help="default mnist5k")
    t.add_argument("--data-dir", default=None, help="directory with the IDX files (or env TINYGEN_DATA)")
    t.add_argument("--epochs", type=_positive_int, default=None)
    t.add_argument("--batch-size", type=_positive_int, default=None, help="default the model's (64)")
    t.add_argument("--lr", type=_positive_float, default=None)
    t.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default cpu")
    t.add_argument("--seed", type=_seed, default=None, help="default 0")
    t.add_argument("--out", default=None, help="run directory (default runs/MODEL-DATA)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--preset", default=None,
                   help="one of the model's presets, e.g. small for pixelcnn, pixelrnn, "
                        "gated-pixelcnn, iwae for vae (default: the paper's model)")
    t.add_argument("--variant", choices=sorted({v for s in models.REGISTRY.values()
                                                for v in s.variants}), default=None,
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


# ---- train / sample / eval: tinygen/train/run.py ------------------------------------------

def _verify(args):
    """load_dataset's verify: False (--no-verify), {file: sha256} (--sha256), or True."""
    return not args.no_verify and (dict(args.sha256) if args.sha256 else True)


@ends_job_on_error   # under mpirun an error ends every rank (tinygen/train/distributed.py)
def cmd_train(args):
    from tinygen.train.run import train_run
    given = {key: getattr(args, key) for key in SETTINGS}   # None: not given
    out = args.out or os.path.join("runs", f"{args.model}-{args.data or 'mnist5k'}")
    t0 = time.time()
    summary = train_run(given, out, args.resume, _verify(args), progress=not args.no_progress)
    if summary is not None:   # None: a rank other than 0 under mpirun (rank 0 speaks)
        terms = ", ".join(f"{k} {v:.4g}" for k, v in summary.items())
        print(f"done in {time.time() - t0:.0f} s; last epoch: {terms}\n"
              f"samples, curves and checkpoint in {out}/")
    return 0


def cmd_sample(args):
    from tinygen.train.run import sample_run
    print(sample_run(args.run, args.n, args.seed,
                     args.out or os.path.join(args.run, "samples.png")))
    return 0


def cmd_eval(args):
    from tinygen.train.run import eval_run
    eval_run(args.run, args.data_dir, args.limit, args.k, args.seed, _verify(args))
    return 0


# ---- gradcheck / bench / data ------------------------------------------------------------

def cmd_gradcheck(args):
    from tinygen import opcheck
    unknown = [name for name in args.ops or () if name not in opcheck.op_names()]
    if unknown:
        raise ConfigError(f"unknown op {', '.join(map(repr, unknown))} "
                          f"(known: {', '.join(opcheck.op_names())})")
    rows = opcheck.run(args.ops)
    print(opcheck.format_table(rows))
    return 0 if all(r["ok"] for r in rows) else 1


def cmd_bench(args):
    import runpy
    bench_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "benchmarks")
    if not os.path.isdir(bench_dir):
        raise ConfigError("tinygen bench needs the source checkout's benchmarks/ directory "
                       "(install with pip install -e . from a clone)")
    which = ("overhead", "kernels", "models") if args.which == "all" else (args.which,)
    rest = [a for a in args.rest if a != "--"]
    for name in which:
        path = os.path.join(bench_dir, f"bench_{name}.py")
        if not os.path.exists(path):
            raise ConfigError(f"benchmark {path} not found")
        print(f"== {name} ==")
        runpy.run_path(path, run_name="tinygen_bench")["main"](rest)
    return 0


def cmd_data(args):
    from tinygen import data
    if args.action == "list":
        for row in data.list_datasets(args.data_dir):
            where = f"{row['path']}  ({row['where']})" if row["path"] else "not found"
            print(f"{row['name']:<14} {row['title']:<48} {where}")
        return 0
    if args.name is None:
        raise ConfigError(f"tinygen data {args.action}: name a dataset ({', '.join(DATASETS)})")
    find = data.dataset_path if args.action == "path" else data.download
    try:
        print(find(args.name, args.data_dir))
    except (data.DatasetNotFoundError, data.DownloadError) as e:
        raise ConfigError(str(e)) from None
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
            "gradcheck": cmd_gradcheck, "bench": cmd_bench, "data": cmd_data}


def main(argv=None):
    args = build_parser().parse_args(argv)
    runtime.configure()          # process-wide tuning for training (tinygen/runtime.py)
    from tinygen.train.run import StoppedRun, exit_status, one_line
    try:
        with TerminateAsInterrupt():
            return COMMANDS[args.command](args)
    except StoppedRun as e:      # fit said so in its own line
        return 128 + e.signum
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        what = ("interrupted" if signum == signal.SIGINT
                else f"terminated ({signal.Signals(signum).name})")
        print(f"tinygen {args.command}: {what}", file=sys.stderr)
        return 128 + signum
    except Exception as e:
        code = exit_status(e)
        if code is None and os.environ.get("TINYGEN_TRACEBACK"):
            raise
        text = one_line(e) or type(e).__name__
        if code is None:   # not an error the user can fix: still one line
            code, text = 2, (f"unexpected {type(e).__name__}: {text} (set TINYGEN_TRACEBACK=1 "
                             "to see where)")
        print(f"tinygen {args.command}: {text}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
