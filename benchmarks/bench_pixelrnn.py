"""Issue 15's speed check: one training step (forward, nll, backward, Adam) of Row LSTM,
Diagonal BiLSTM and Gated PixelCNN (the paper-sized MNIST presets), tinygen against the same
model in PyTorch (benchmarks/pixelrnn_torch.py), each framework in its own process.

    python benchmarks/bench_pixelrnn.py [--models row diagonal gated] [--batch 64]
                                        [--size 28] [--steps 5] [--pairs 3] [--threads N]
                                        [--check]

A pair is one tinygen process then one PyTorch process (the order alternates from pair to
pair), each timing the median of `steps` steps after a warm-up. On a shared machine the load
drifts between pairs, so the figure is the median over pairs of the per-pair ratio tinygen /
PyTorch (the issue's target: <= 1.5 for the Row LSTM and the Gated PixelCNN), with its range;
of wall time and of CPU time (process time, which a busy machine disturbs less: use it with
--threads 1, where it is the step's own work).
--check first loads each tinygen model's weights into its PyTorch twin and compares the nll in
float64 (the twins are the same model).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))       # this checkout's tinygen, not an installed one
PRESET = {"row": dict(variant="row", hidden=16, n_layers=7, head_channels=32),
          "diagonal": dict(variant="diagonal", hidden=16, n_layers=7, head_channels=32),
          "gated": dict(channels=32, n_layers=7, head_channels=64)}


def _tinygen_model(name, dtype="float32"):
    from tinygen.models import GatedPixelCNN, PixelRNN
    model = GatedPixelCNN(**PRESET[name]) if name == "gated" else PixelRNN(**PRESET[name])
    return model.double() if dtype == "float64" else model


def _torch_model(name):
    sys.path.insert(0, HERE)
    import pixelrnn_torch as pt
    return pt.GatedPixelCNN(**PRESET[name]) if name == "gated" else pt.PixelRNN(**PRESET[name])


def _batch(batch, size, seed=0):
    return (np.random.default_rng(seed).random((batch, 1, size, size)) < 0.3).astype(np.float32)


def worker(framework, name, batch, size, steps, threads):
    """Median wall and CPU seconds of `steps` training steps (after one warm-up), in this
    process: {"wall": ..., "cpu": ...}."""
    x = _batch(batch, size)
    times, cpu = [], []
    if framework == "tinygen":
        import tinygen as tg
        tg.set_num_threads(threads)
        tg.manual_seed(0)
        model = _tinygen_model(name)
        opts = model.configure_optimizers(1e-3)
        xt = tg.tensor(x)
        for _ in range(steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            model.training_step(xt, opts)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    else:
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = _torch_model(name)
        sys.path.insert(0, HERE)
        import pixelrnn_torch as pt
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt = torch.tensor(x)
        for _ in range(steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            opt.zero_grad()
            pt.loss(model, xt).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {"wall": statistics.median(times[1:]), "cpu": statistics.median(cpu[1:])}


def check(name, size=6):
    """The tinygen model and its PyTorch twin with the same weights: the same nll (float64)."""
    import torch

    import tinygen as tg
    sys.path.insert(0, HERE)
    import pixelrnn_torch as pt
    tg.manual_seed(1)
    ours = _tinygen_model(name, "float64")
    theirs = _torch_model(name).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = _batch(3, size, seed=1).astype(np.float64)
    with tg.no_grad():
        a = float(ours.loss(tg.tensor(x)).item())
    b = float(pt.loss(theirs, torch.tensor(x)).item())
    return a, b


def _run_worker(framework, name, args):
    """One worker process, started with this script's own environment (nothing tinygen sets
    reaches PyTorch's process): its median step times in seconds. On a busy machine torch's
    OpenMP threads spin while idle (its default policy): measured, its 2-thread Row LSTM step
    25.7 s with spinning threads, 1.2 s with OMP_WAIT_POLICY=PASSIVE set by the user."""
    env = dict(os.environ)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", framework, name,
                          "--batch", str(args.batch), "--size", str(args.size), "--steps",
                          str(args.steps), "--threads", str(args.threads)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=["row", "diagonal", "gated"],
                   choices=list(PRESET))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--pairs", type=int, default=3,
                   help="tinygen/PyTorch process pairs per model, order alternating")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads of each framework (torch.set_num_threads, "
                        "tg.set_num_threads)")
    p.add_argument("--check", action="store_true")
    p.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.batch, args.size, args.steps, args.threads)))
        return 0
    if args.check:
        for name in args.models:
            a, b = check(name)
            print(f"check {name:<9} nll tinygen {a:.12f}  torch {b:.12f}  |diff| {abs(a - b):.2e}")
    print(f"one training step, batch {args.batch} of {args.size}x{args.size}, "
          f"{args.threads} thread(s) each, median of {args.steps} steps, {args.pairs} pairs")
    for name in args.models:
        ratios = {"wall": [], "cpu": []}
        for pair in range(args.pairs):
            order = ("tinygen", "torch") if pair % 2 == 0 else ("torch", "tinygen")
            t = {framework: _run_worker(framework, name, args) for framework in order}
            for kind in ratios:
                ratios[kind].append(t["tinygen"][kind] / t["torch"][kind])
            print(f"  {name:<9} pair {pair}: wall tinygen {t['tinygen']['wall'] * 1e3:8.1f} ms  "
                  f"torch {t['torch']['wall'] * 1e3:8.1f} ms  ratio {ratios['wall'][-1]:.2f};  "
                  f"cpu ratio {ratios['cpu'][-1]:.2f}", flush=True)
        print(f"{name:<9} tinygen / torch, median of {args.pairs} pairs: wall "
              + ",  cpu ".join(f"{statistics.median(r):.2f} [{min(r):.2f}, {max(r):.2f}]"
                               for r in ratios.values()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
