"""B1-B4 (shared BENCHMARKS.md): one full training step of four standard models, tinygen
against PyTorch, on the same machine at the same time, measured two ways (--mode):

    interleaved   both frameworks in this one process, one step of each in turn
    separate      each framework alone in a fresh process of its own, alternating
                  (tinygen, torch, tinygen, torch, ...: --pairs pairs); the ratio is the
                  median of the per-pair ratios, so load that drifts over the run cancels
    both          the two (the default)

    python benchmarks/bench_models.py [--steps 30] [--warmup 5] [--models B1 B3]
                                      [--mode separate] [--pairs 7]
                                      [--growth-steps 1000] [--out bench_out]

In one process, the two frameworks' thread pools and allocators share the cores and the
caches (see the note below the docstring); alone, each has the machine as a user would give
it. The separate mode is the one the targets of issue 12 are stated in.

Per model: median step time of each framework, tinygen / PyTorch, the step's GFLOP/s and
its fraction of the same-run NumPy float32 GEMM rate (the machine's own peak), the step's
GEMM-peak lower bound (step FLOPs / GEMM rate) and how far above it the step is, and peak
memory (resident set of a separate process that builds the model and runs a few steps,
above that process's baseline). With --growth-steps N, tinygen's traced heap is compared
after N/10 and after N steps (no growth expected). Writes JSON and a PNG bar chart.

A step is forward, loss, backward and optimizer update, float32, on a fixed batch made
once; noise that a real step samples (VAE eps, GAN z) is sampled inside the step.
"""
# Both frameworks run OpenMP thread pools in this one process (torch's intra-op pool, numba's
# parallel loops). With the default ACTIVE policy an idle pool keeps spinning on the two
# cores that the other framework's next kernel needs; measured here: B3 6.7x torch's time
# with spinning, 1.7x without, torch's own time unchanged. tinygen.runtime.configure() sets
# the passive policy (and malloc's), which must come before numba's and torch's pools start:
# so it runs first, before any other import.
from tinygen import runtime  # noqa: I001
runtime.configure()

import argparse  # noqa: E402
import os  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# FLOPs per step as BENCHMARKS.md defines them: 2 x 3 x forward multiply-adds
# (for B2: G once, D three times).
def _linear(b, i, o):
    return b * i * o


def _conv(b, cin, cout, hout, wout, k):
    return b * cout * hout * wout * cin * k * k


def _convt(b, cin, cout, hin, win, k):
    return b * cin * hin * win * cout * k * k


MACS = {
    "B1": _linear(128, 784, 400) + 2 * _linear(128, 400, 20) + _linear(128, 20, 400) + _linear(128, 400, 784),
    "B2": (_linear(64, 64, 128 * 49) + _convt(64, 128, 64, 7, 7, 4) + _convt(64, 64, 1, 14, 14, 4)
           + 3 * (_conv(64, 1, 64, 14, 14, 4) + _conv(64, 64, 128, 7, 7, 4) + _linear(64, 128 * 49, 1))),
    "B3": _conv(32, 1, 64, 28, 28, 7) + 5 * _conv(32, 64, 64, 28, 28, 3) + _conv(32, 64, 64, 28, 28, 1)
          + _conv(32, 64, 1, 28, 28, 1),
    "B4": (_conv(128, 1, 32, 14, 14, 3) + _conv(128, 32, 64, 7, 7, 3) + _linear(128, 64 * 49, 32)
           + _linear(128, 32, 64 * 49) + _convt(128, 64, 32, 7, 7, 4) + _convt(128, 32, 1, 14, 14, 4)),
}
FLOPS = {k: 6 * v for k, v in MACS.items()}
BATCH = {"B1": 128, "B2": 64, "B3": 32, "B4": 128}
NAMES = {"B1": "vae_mlp", "B2": "dcgan28", "B3": "pixelcnn28", "B4": "conv_ae"}


def gemm_rate(n=2048, repeat=5):
    """The same-run NumPy float32 GEMM rate in GFLOP/s (best of `repeat`), BLAS on every core.

    tinygen runs BLAS on one thread inside its kernels and splits big products over its own
    threads (tinygen/kernels/threads.py); the machine's reference rate uses every core, then
    waits for BLAS's threads to go idle."""
    from threadpoolctl import threadpool_limits
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    with threadpool_limits(limits=os.cpu_count(), user_api="blas"):
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(repeat))
    time.sleep(0.5)                 # OpenBLAS's workers spin about 0.1 s after their last call
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _binary_batch(shape, seed):
    return (np.random.default_rng(seed).random(shape) < 0.3).astype(np.float32)


# ---- tinygen -----------------------------------------------------------------------------

def tinygen_step(model_id, device="cpu"):
    """A closure running one training step of `model_id` in tinygen, on `device`."""
    import tinygen as tg
    import tinygen.nn as nn
    import tinygen.nn.functional as F
    import tinygen.optim as optim

    tg.manual_seed(0)
    if model_id == "B1":
        enc, mu_head, logvar_head = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        dec1, dec2 = nn.Linear(20, 400), nn.Linear(400, 784)
        for m in (enc, mu_head, logvar_head, dec1, dec2):
            m.to(device)
        params = [p for m in (enc, mu_head, logvar_head, dec1, dec2) for p in m.parameters()]
        opt = optim.Adam(params, lr=1e-3)
        x = tg.tensor(_binary_batch((128, 784), 0), device=device)

        def step():
            h = F.relu(enc(x))
            mu, logvar = mu_head(h), logvar_head(h)
            z = mu + (logvar * 0.5).exp() * tg.randn(128, 20, device=device)
            logits = dec2(F.relu(dec1(z)))
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
            loss = rec + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B2":
        G = nn.Sequential(
            nn.Linear(64, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1)).to(device)
        D = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1)).to(device)
        opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        x = tg.tensor(np.random.default_rng(0).random((64, 1, 28, 28)).astype(np.float32), device=device)
        ones, zeros = tg.ones(64, 1, device=device), tg.zeros(64, 1, device=device)

        def step():
            fake = F.sigmoid(G(tg.randn(64, 64, device=device)))
            loss_d = (F.binary_cross_entropy_with_logits(D(x), ones)
                      + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        return step

    if model_id == "B3":
        layers = [nn.MaskedConv2d(1, 64, 7, mask_type="A", padding=3)]
        for _ in range(5):
            layers += [nn.MaskedConv2d(64, 64, 3, mask_type="B", padding=1), nn.ReLU()]
        layers += [nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 1, 1)]
        net = nn.Sequential(*layers).to(device)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        x = tg.tensor(_binary_batch((32, 1, 28, 28), 0), device=device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum") * (1.0 / 32)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B4":
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 32),
            nn.Linear(32, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1)).to(device)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        x = tg.tensor(_binary_batch((128, 1, 28, 28), 0), device=device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    raise ValueError(model_id)


# ---- PyTorch (the same four, line for line) ---------------------------------------------

def torch_step(model_id, device="cpu"):
    """The same step in PyTorch, on `device` ('cuda': cuBLAS/cuDNN, the vendor reference)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    if model_id == "B1":
        enc, mu_head, logvar_head = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        dec1, dec2 = nn.Linear(20, 400), nn.Linear(400, 784)
        for m in (enc, mu_head, logvar_head, dec1, dec2):
            m.to(device)
        params = [p for m in (enc, mu_head, logvar_head, dec1, dec2) for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        x = torch.from_numpy(_binary_batch((128, 784), 0)).to(device)

        def step():
            h = F.relu(enc(x))
            mu, logvar = mu_head(h), logvar_head(h)
            z = mu + (logvar * 0.5).exp() * torch.randn(128, 20, device=device)
            logits = dec2(F.relu(dec1(z)))
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
            loss = rec + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B2":
        G = nn.Sequential(
            nn.Linear(64, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1)).to(device)
        D = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1)).to(device)
        opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        x = torch.from_numpy(np.random.default_rng(0).random((64, 1, 28, 28)).astype(np.float32)).to(device)
        ones, zeros = torch.ones(64, 1, device=device), torch.zeros(64, 1, device=device)

        def step():
            fake = torch.sigmoid(G(torch.randn(64, 64, device=device)))
            loss_d = (F.binary_cross_entropy_with_logits(D(x), ones)
                      + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        return step

    if model_id == "B3":
        class MaskedConv2d(nn.Conv2d):
            def __init__(self, cin, cout, k, mask_type, padding):
                super().__init__(cin, cout, k, padding=padding)
                mask = torch.ones_like(self.weight)
                c = k // 2
                mask[:, :, c, c + (mask_type == "B"):] = 0
                mask[:, :, c + 1:] = 0
                self.register_buffer("mask", mask)

            def forward(self, x):
                return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

        layers = [MaskedConv2d(1, 64, 7, "A", 3)]
        for _ in range(5):
            layers += [MaskedConv2d(64, 64, 3, "B", 1), nn.ReLU()]
        layers += [nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 1, 1)]
        net = nn.Sequential(*layers).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.from_numpy(_binary_batch((32, 1, 28, 28), 0)).to(device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum") / 32
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B4":
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 32),
            nn.Linear(32, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1)).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.from_numpy(_binary_batch((128, 1, 28, 28), 0)).to(device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    raise ValueError(model_id)


# ---- measuring ---------------------------------------------------------------------------

def _torch_available():
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        return True
    except ImportError:
        return False


def time_interleaved(model_id, steps, warmup, with_torch):
    """Median step seconds of tinygen (and torch), alternating one step of each."""
    runs = {"tinygen": tinygen_step(model_id)}
    if with_torch:
        runs["torch"] = torch_step(model_id)
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times = {name: [] for name in runs}
    for _ in range(steps):
        for name, fn in runs.items():
            times[name].append(_timed(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def time_alone(framework, model_id, steps, warmup):
    """Run in a child process: median step seconds of one framework alone."""
    if framework == "torch":
        _torch_available()
    step = (torch_step if framework == "torch" else tinygen_step)(model_id)
    for _ in range(warmup):
        step()
    return statistics.median(_timed(step) for _ in range(steps))


def time_separate(model_id, pairs, steps, warmup, with_torch):
    """Each framework alone in its own process, alternating, `pairs` times: the median step
    seconds of each, the per-pair ratios tinygen / torch and their median."""
    frameworks = ("tinygen", "torch") if with_torch else ("tinygen",)
    times = {name: [] for name in frameworks}
    for _ in range(pairs):
        for name in frameworks:
            out = subprocess.run([sys.executable, __file__, "--time-alone", name, model_id,
                                  "--steps", str(steps), "--warmup", str(warmup)],
                                 capture_output=True, text=True, check=True)
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    result = {name: statistics.median(ts) for name, ts in times.items()}
    if with_torch:
        result["ratios"] = [a / b for a, b in zip(times["tinygen"], times["torch"])]
        result["ratio"] = statistics.median(result["ratios"])
    return result


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_probe(framework, model_id, steps=5):
    """Run in a child process: peak resident memory (MiB) of building and stepping a model,
    above the process's resident memory after imports."""
    import resource
    if framework == "torch":
        import torch  # noqa: F401
    else:
        import tinygen  # noqa: F401
        import tinygen.nn  # noqa: F401
    base = _rss_kib()
    step = (torch_step if framework == "torch" else tinygen_step)(model_id)
    for _ in range(steps):
        step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak - base) / 1024


def peak_memory(framework, model_id):
    out = subprocess.run([sys.executable, __file__, "--memory-probe", framework, model_id],
                         capture_output=True, text=True, check=False)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def heap_growth(model_id, steps):
    """tinygen's traced heap (MiB) after steps/10 and after `steps` steps."""
    import gc
    import tracemalloc
    step = tinygen_step(model_id)
    for _ in range(3):
        step()
    tracemalloc.start()
    marks = {}
    for i in range(1, steps + 1):
        step()
        if i in (steps // 10, steps):
            gc.collect()
            marks[i] = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return marks


def main(argv=None):
    p = argparse.ArgumentParser(description="B1-B4 training steps: tinygen vs PyTorch")
    p.add_argument("--models", nargs="*", default=["B1", "B2", "B3", "B4"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--mode", choices=("interleaved", "separate", "both"), default="both")
    p.add_argument("--pairs", type=int, default=5, help="separate mode: tinygen/torch process pairs")
    p.add_argument("--growth-steps", type=int, default=0)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", default="bench_out")
    p.add_argument("--memory-probe", nargs=2, metavar=("FRAMEWORK", "MODEL"), help=argparse.SUPPRESS)
    p.add_argument("--time-alone", nargs=2, metavar=("FRAMEWORK", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_probe:
        print(memory_probe(*args.memory_probe))
        return None
    if args.time_alone:
        print(time_alone(*args.time_alone, args.steps, args.warmup))
        return None

    with_torch = _torch_available()
    rate = gemm_rate()
    print(f"NumPy float32 GEMM (n=2048), this run: {rate:.1f} GFLOP/s"
          + ("" if with_torch else "   (PyTorch not installed: tinygen only)"))
    rows = []
    for model_id in args.models:
        # the step times of the rates below: the interleaved run's, or the separate one's
        if args.mode != "separate":
            med = time_interleaved(model_id, args.steps, args.warmup, with_torch)
        if args.mode != "interleaved":
            alone = time_separate(model_id, args.pairs, args.steps, args.warmup, with_torch)
            med = med if args.mode == "both" else alone
        bound = FLOPS[model_id] / (rate * 1e9)
        row = {"model": model_id, "name": NAMES[model_id], "gflop": FLOPS[model_id] / 1e9,
               "tinygen_ms": med["tinygen"] * 1e3, "bound_ms": bound * 1e3,
               "over_bound": med["tinygen"] / bound,
               "tinygen_gflops": FLOPS[model_id] / med["tinygen"] / 1e9,
               "fraction_of_gemm": FLOPS[model_id] / med["tinygen"] / 1e9 / rate}
        if with_torch:
            row["torch_ms"] = med["torch"] * 1e3
            row["ratio"] = med["tinygen"] / med["torch"]
            row["torch_fraction_of_gemm"] = FLOPS[model_id] / med["torch"] / 1e9 / rate
        if args.mode != "interleaved":
            row["separate"] = {"tinygen_ms": alone["tinygen"] * 1e3}
            if with_torch:
                row["separate"].update(torch_ms=alone["torch"] * 1e3, ratio=alone["ratio"],
                                       ratios=alone["ratios"])
        if not args.no_memory:
            row["tinygen_peak_mib"] = peak_memory("tinygen", model_id)
            if with_torch:
                row["torch_peak_mib"] = peak_memory("torch", model_id)
        if args.growth_steps:
            row["heap_growth_mib"] = heap_growth(model_id, args.growth_steps)
        rows.append(row)
        _print_row(row)
    os.makedirs(args.out, exist_ok=True)
    result = {"gemm_gflops": rate, "steps": args.steps, "mode": args.mode, "pairs": args.pairs,
              "rows": rows}
    with open(os.path.join(args.out, "bench_models.json"), "w") as f:
        json.dump(result, f, indent=2)
    _chart(rows, os.path.join(args.out, "bench_models.png"))
    print(f"wrote {args.out}/bench_models.json and bench_models.png")
    return result


def _print_row(r):
    line = (f"{r['model']} {r['name']:<11} {r['gflop']:5.1f} GFLOP  tinygen {r['tinygen_ms']:8.1f} ms"
            f"  ({r['tinygen_gflops']:6.1f} GFLOP/s, {r['fraction_of_gemm']:5.1%} of GEMM,"
            f" {r['over_bound']:4.2f}x bound {r['bound_ms']:.1f} ms)")
    if "torch_ms" in r:
        line += f"  torch {r['torch_ms']:8.1f} ms  tinygen/torch {r['ratio']:4.2f}"
    if "separate" in r:
        alone = r["separate"]
        line += f"  | alone: tinygen {alone['tinygen_ms']:8.1f} ms"
        if "ratio" in alone:
            line += (f"  torch {alone['torch_ms']:8.1f} ms  tinygen/torch {alone['ratio']:4.2f}"
                     f" (pairs {min(alone['ratios']):4.2f}-{max(alone['ratios']):4.2f})")
    if "tinygen_peak_mib" in r:
        line += f"  peak MiB tinygen {r['tinygen_peak_mib']:.0f}"
        if "torch_peak_mib" in r:
            line += f" torch {r['torch_peak_mib']:.0f}"
    if "heap_growth_mib" in r:
        line += "  heap MiB " + ", ".join(f"@{k}: {v:.2f}" for k, v in r["heap_growth_mib"].items())
    print(line, flush=True)


def _chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = np.arange(len(rows))
    ax.bar(xs - 0.2, [r["tinygen_ms"] / r["bound_ms"] for r in rows], 0.4, label="tinygen")
    if rows and "torch_ms" in rows[0]:
        ax.bar(xs + 0.2, [r["torch_ms"] / r["bound_ms"] for r in rows], 0.4, label="PyTorch")
    ax.axhline(1.5, color="gray", ls="--", lw=1, label="1.5x GEMM bound")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{r['model']} {r['name']}" for r in rows])
    ax.set_ylabel("step time / GEMM-peak bound")
    ax.set_title("one training step, relative to the same-run GEMM bound (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ in ("__main__",):
    main(sys.argv[1:])
