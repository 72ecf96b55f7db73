"""Train PixelRNN (Row LSTM, Diagonal BiLSTM) or Gated PixelCNN on MNIST for a CPU budget at
one thread, in tinygen or in its PyTorch twin, then measure the exact test NLL.

    train   the 60,000 MNIST training images (--data, IDX files), dynamically binarized (a
            fresh Bernoulli draw of every image each epoch), batches of --batch-size in the
            seeded order of tinygen.data.image_loader, Adam at --lr, the models' "mnist" presets
            (PixelRNN: 7 layers, h = 16, the paper's; Gated PixelCNN: 7 gated layers, p = 32)
    test    the first --test-limit of the 10,000 test images (default all), binarized by one
            Bernoulli draw seeded with --seed; the NLL is exact: mean -log p(x) in nats +-
            standard error, and bits/dim

The PyTorch twin (benchmarks/pixelrnn_torch.py: the same layers and parameter names) starts
from tinygen's initial weights (the same seed, loaded into it), reads the very same batches
(tinygen.data.image_loader's, converted) and uses torch.optim.Adam with the same settings, for the
number of steps the tinygen run took (read from --out), so the two NLLs compare the
frameworks' training, nothing else. The budget is process CPU time (--clock cpu; the
machine is shared, so wall time says more about the neighbours than about the code), at one
thread: the script sets OMP/OpenBLAS/MKL/numba threads to 1 unless the environment says
otherwise, and calls tg.runtime.configure(num_threads=1) and torch.set_num_threads(1).

Reproduce (one run at a time; each is resumable: --resume continues from --out, bitwise as
if never stopped, and --resume --budget 0 only evaluates again):

    export D="--data DIR --out runs/eval_pixelrnn --batch-size 16 \
              --test-limit 1000"
    python benchmarks/eval_pixelrnn.py --model diagonal --framework tinygen --budget 3 $D
    python benchmarks/eval_pixelrnn.py --model diagonal --framework torch $D    # same steps
    python benchmarks/eval_pixelrnn.py --model diagonal --framework tinygen --budget 3 $D --resume
    python benchmarks/eval_pixelrnn.py --model diagonal --framework torch $D --resume
    ... (the same for gated and row), then
    python benchmarks/eval_pixelrnn.py --table --out runs/eval_pixelrnn

CPU time per step depends on the machine's load (shared caches), so a CPU budget reaches a
different step count elsewhere; --steps 299 (diagonal), 473 (gated), 425 (row) instead of
--budget repeats the runs below exactly.

Published (binarized MNIST, test NLL in nats): Diagonal BiLSTM 79.20 with 7 layers, 80.75 with
1 layer, PixelCNN 81.30 (van den Oord et al. 2016, Table 4); Gated PixelCNN 80.10 (Gulrajani
et al. 2017, PixelVAE, their reimplementation); Row LSTM: no MNIST figure in the paper.
Their runs: many GPU-hours; ours: minutes of one CPU thread, a tenth of an epoch.

Measured on the shared 2-core machine (load 3-12), one thread, batch 16, Adam 1e-3, the first
1,000 test images (benchmarks/eval_pixelrnn_results.json; tinygen budgets in resumed
sessions: diagonal 3+3+3, gated 2+2+1.5, row 2+2 CPU minutes):

    model             framework  steps  epochs  train CPU min  test NLL nats   bits/dim  published
    Row LSTM          tinygen      425   0.113       4.0       96.51 +- 0.73   0.1776    -
                      torch        425   0.113       3.2       96.51 +- 0.73   0.1776
    Diagonal BiLSTM   tinygen      299   0.080       9.1       98.49 +- 0.71   0.1812    79.20
                      torch        299   0.080      11.7       98.46 +- 0.71   0.1812
    Gated PixelCNN    tinygen      473   0.126       5.5       97.07 +- 0.74   0.1786    80.10
                      torch        473   0.126       4.6       97.08 +- 0.74   0.1786

At equal steps tinygen's NLL equals torch's to within 0.03 nats (same start, same batches:
only float32 rounding differs), so tinygen trains no worse. Far from the published figures:
they need hundreds of epochs, not a tenth of one.
"""
import os

if __name__ == "__main__":                  # run as the benchmark, not imported (tests)
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_name, "1")   # one thread; must precede the pools' start (imports)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tinygen as tg  # noqa: E402
from tinygen.data import image_loader, load_dataset  # noqa: E402
from tinygen.models.gated_pixelcnn import GatedPixelCNN  # noqa: E402
from tinygen.models.pixelrnn import PixelRNN  # noqa: E402

import budget  # noqa: E402

MODELS = {"row": "PixelRNN Row LSTM", "diagonal": "PixelRNN Diagonal BiLSTM",
          "gated": "Gated PixelCNN"}
PUBLISHED = {"row": None, "diagonal": 79.20, "gated": 80.10}      # nats; see the docstring
CLOCKS = {"cpu": time.process_time, "wall": time.time}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="diagonal")
    p.add_argument("--framework", choices=("tinygen", "torch"), default="tinygen")
    p.add_argument("--budget", type=float, default=None,
                   help="training minutes of --clock (tinygen: required; torch: a cap)")
    p.add_argument("--steps", type=int, default=None, help="total training steps (torch "
                   "default: the tinygen run's steps, from --out)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    p.add_argument("--data", default=None, help="directory holding the MNIST IDX files")
    p.add_argument("--no-verify", action="store_true", help="skip the files' SHA-256 check")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--test-limit", type=int, default=None, help="the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--out", default="runs/eval_pixelrnn")
    p.add_argument("--table", action="store_true", help="print the table of the results in "
                   "--out (and write it to --out/table.json); train nothing")
    return p.parse_args(argv)


def tinygen_model(name, seed):
    """The tinygen model of `name`, its weights drawn after tg.manual_seed(seed)."""
    tg.manual_seed(seed)
    return GatedPixelCNN(preset="mnist") if name == "gated" else PixelRNN(name, preset="mnist")


class TorchTwin:
    """The PyTorch twin with tinygen's training_step / evaluate interface, so budget.train_for
    drives it: starts from `model`'s (tinygen's) weights; batches arrive as tinygen Tensors."""

    def __init__(self, name, model):
        import torch
        import pixelrnn_torch
        self.torch, self.loss = torch, pixelrnn_torch.loss
        c = model.config
        if name == "gated":
            self.net = pixelrnn_torch.GatedPixelCNN(c.channels, c.n_layers, c.first_kernel,
                                                    c.kernel, c.head_channels)
        else:
            self.net = pixelrnn_torch.PixelRNN(name, c.hidden, c.n_layers, c.first_kernel,
                                               c.kernel, c.head_channels)
        self.net.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                                  for k, v in model.state_dict().items()})

    def parameters(self):
        return self.net.parameters()

    def configure_optimizers(self, lr):
        return {"adam": self.torch.optim.Adam(self.net.parameters(), lr=lr)}

    def training_step(self, x, optimizers):
        opt = optimizers["adam"]
        opt.zero_grad()
        x = self.torch.from_numpy(np.asarray(x.numpy()))
        loss = self.loss(self.net, x)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "bits_per_dim": loss.item() / (x[0].numel() * math.log(2.0))}

    def evaluate(self, data, limit=None, batch_size=256):
        """PixelCNN.evaluate's record, computed by the twin."""
        F = self.torch.nn.functional
        n = len(data) if limit is None else min(limit, len(data))
        nlls = []
        with self.torch.no_grad():
            for start in range(0, n, batch_size):
                x = self.torch.from_numpy(data.images(np.arange(start, min(start + batch_size, n))))
                nll = F.binary_cross_entropy_with_logits(self.net.logits(x), x, reduction="none")
                nlls.append(nll.sum(dim=(1, 2, 3)).double().numpy())
        nll = np.concatenate(nlls)
        dims = x.shape[1] * x.shape[2] * x.shape[3]
        return {"nll": float(nll.mean()), "nll_se": float(nll.std() / np.sqrt(len(nll))),
                "bits_per_dim": float(nll.mean() / (dims * math.log(2.0))), "n": int(len(nll))}

    def save(self, path, optimizer, before, done, n_train):
        total = {k: before[k] + done[k] for k in ("steps", "seen", "seconds")}
        self.torch.save({"model": self.net.state_dict(), "optimizer": optimizer.state_dict(),
                         "extra": total}, path + ".tmp")
        os.replace(path + ".tmp", path)
        return total

    def resume(self, path, optimizer):
        state = self.torch.load(path)
        self.net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        print(f"resumed from {path}: {state['extra']['steps']} steps")
        return state["extra"]


def run_name(args, framework=None):
    return f"{args.model}_{framework or args.framework}"


def target_steps(args):
    """Total steps to train to: --steps, or for torch the tinygen run's steps."""
    if args.steps is not None or args.framework == "tinygen":
        return args.steps
    path = os.path.join(args.out, run_name(args, "tinygen") + ".json")
    if not os.path.exists(path):
        raise SystemExit(f"no {path}: run --framework tinygen first, or give --steps")
    with open(path) as f:
        return json.load(f)["steps"]


def main(argv=None):
    args = parse_args(argv)
    if args.table:
        return table(args.out)
    if args.framework == "tinygen" and args.budget is None and args.steps is None:
        raise SystemExit("--framework tinygen needs --budget (minutes) or --steps")
    tg.runtime.configure(num_threads=args.threads)
    os.makedirs(args.out, exist_ok=True)
    steps_wanted = target_steps(args)
    minutes = math.inf if args.budget is None else args.budget
    data = dict(data_dir=args.data, verify=not args.no_verify)
    train_set = load_dataset("mnist", "train", binarize="dynamic", **data)
    test = load_dataset("mnist", "test", binarize="fixed", seed=args.seed, **data)
    loader = image_loader(train_set, args.batch_size, seed=args.seed)
    model = tinygen_model(args.model, args.seed)
    if args.framework == "torch":
        import torch
        torch.set_num_threads(args.threads)
        model = TorchTwin(args.model, model)
    opts = model.configure_optimizers(args.lr)
    suffix = ".npz" if args.framework == "tinygen" else ".pt"
    ckpt = os.path.join(args.out, run_name(args) + suffix)
    before = budget.NOTHING_DONE
    if args.resume:
        before = (budget.resume(ckpt, model, opts["adam"], loader) if args.framework == "tinygen"
                  else model.resume(ckpt, opts["adam"]))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{MODELS[args.model]} ({args.framework}): {n_params} parameters; training for "
          f"{minutes} min of {args.clock} time" + (f", to {steps_wanted} steps" if steps_wanted
          else "") + f", batch {args.batch_size}, Adam lr {args.lr}, {args.threads} thread(s)",
          flush=True)
    wall = time.time()
    done = budget.train_for(model, opts, loader, minutes, log_every=25, clock=CLOCKS[args.clock],
                            start_step=before["steps"], max_steps=steps_wanted)
    wall = time.time() - wall
    saver = budget.save if args.framework == "tinygen" else \
        (lambda path, _, opt, *rest: model.save(path, opt, *rest))
    total = saver(ckpt, model, opts["adam"], before, done, len(train_set))
    if steps_wanted is not None and total["steps"] < steps_wanted:
        print(f"budget spent at {total['steps']} of {steps_wanted} steps: --resume to go on")
    if hasattr(model, "eval"):
        model.eval()
    t0 = time.process_time()
    metrics = model.evaluate(test, limit=args.test_limit)
    result = {
        "model": MODELS[args.model], "framework": args.framework, "parameters": n_params,
        "steps": total["steps"], "epochs": total["seen"] / len(train_set),
        "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
        "train_minutes": total["seconds"] / 60, "clock": args.clock,
        "wall_minutes_last_session": wall / 60,
        "last_train_loss": done["last"].get("loss"),
        "test_nll_nats": metrics["nll"], "test_nll_se": metrics["nll_se"],
        "test_bits_per_dim": metrics["bits_per_dim"], "test_images": metrics["n"],
        "eval_cpu_minutes": (time.process_time() - t0) / 60,
        "published_nll_nats": PUBLISHED[args.model],
        "binarization": f"train dynamic (loader seed {args.seed}); test one Bernoulli draw, "
                        f"seed {args.seed}",
    }
    print(f"test NLL {metrics['nll']:.2f} +- {metrics['nll_se']:.2f} nats "
          f"({metrics['bits_per_dim']:.4f} bits/dim) on {metrics['n']} images, after "
          f"{total['seconds'] / 60:.1f} min {args.clock} ({total['steps']} steps, "
          f"{result['epochs']:.3f} epochs)", flush=True)
    with open(os.path.join(args.out, run_name(args) + ".json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def table(out):
    """Rows of every result in `out`, and for each model whether tinygen's NLL is within
    two standard errors of (or below) torch's at the same steps."""
    rows = []
    for name in MODELS:
        for framework in ("tinygen", "torch"):
            path = os.path.join(out, f"{name}_{framework}.json")
            if os.path.exists(path):
                with open(path) as f:
                    rows.append(json.load(f))
    print(f"{'model':26s} {'framework':9s} {'steps':>6s} {'epochs':>7s} {'batch':>5s} "
          f"{'train min':>9s} {'test NLL nats':>16s} {'bits/dim':>8s} {'images':>6s} "
          f"{'published':>9s}")
    for r in rows:
        pub = "-" if r["published_nll_nats"] is None else f"{r['published_nll_nats']:.2f}"
        print(f"{r['model']:26s} {r['framework']:9s} {r['steps']:6d} {r['epochs']:7.3f} "
              f"{r['batch_size']:5d} {r['train_minutes']:6.1f} {r['clock']:3s}"
              f"{r['test_nll_nats']:9.2f} +- {r['test_nll_se']:.2f} {r['test_bits_per_dim']:8.4f} "
              f"{r['test_images']:6d} {pub:>9s}")
    verdicts = {}
    for name in MODELS:
        pair = {r["framework"]: r for r in rows if r["model"] == MODELS[name]}
        if len(pair) == 2 and pair["tinygen"]["steps"] == pair["torch"]["steps"]:
            ours, theirs = pair["tinygen"], pair["torch"]
            diff = ours["test_nll_nats"] - theirs["test_nll_nats"]
            verdicts[name] = {"tinygen_minus_torch_nats": diff,
                              "no_worse": diff <= 2 * max(ours["test_nll_se"],
                                                          theirs["test_nll_se"])}
            print(f"{MODELS[name]}: tinygen - torch = {diff:+.2f} nats at {ours['steps']} steps: "
                  + ("no worse" if verdicts[name]["no_worse"] else "WORSE"))
    with open(os.path.join(out, "table.json"), "w") as f:
        json.dump({"rows": rows, "tinygen_vs_torch": verdicts}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
