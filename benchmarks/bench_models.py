"""B1-B4 (docs/benchmarks.md): one full training step of four standard models, tinygen
against PyTorch on the same machine, measured the way a user would meet them (--mode):

    separate      each framework alone in a fresh process of its own, alternating, --pairs
                  times: tinygen as a plain script (import tinygen, train), tinygen after
                  tinygen.runtime.configure(), then PyTorch. Each ratio is the median of the
                  per-pair ratios, so load that drifts over the run cancels.
    interleaved   both frameworks in this one process, one step of each in turn (they share
                  the cores, caches and allocator: a diagnostic, not the headline)
    both          the two (the default)

    python benchmarks/bench_models.py [--steps 30] [--warmup 5] [--models B1 B3]
                                      [--mode separate] [--pairs 7] [--load]
                                      [--growth-steps 1000] [--out bench_out]

Honest by construction: every child process starts with the environment this script was
started with (nothing of tinygen's reaches PyTorch's process: no OMP_WAIT_POLICY, no thread
limit, no malloc setting), PyTorch runs with its defaults and torch.set_num_threads(cores),
and this parent process imports neither framework before the children run. --load repeats
the separate runs with one core kept busy by another process (a spinning Python loop) and
reports each framework's loaded / quiet step time.

Per model: median step time of each framework, the ratios, the step's GFLOP/s and its fraction
of the same-run NumPy float32 GEMM rate (the machine's own peak), the GEMM-peak lower bound
(step FLOPs / GEMM rate) and how far above it the step is, and peak memory (resident set of
a separate process that builds the model and runs a few steps, above that process's
baseline). With --growth-steps N, tinygen's traced heap is compared after N/10 and after N
steps (no growth expected). The run also prints the CPU model and which BLAS (threadpoolctl)
and, for PyTorch, which BLAS/oneDNN build and CPU capability each side ran. Writes JSON and
a PNG bar chart.

A step is forward, loss, backward and optimizer update, float32, on a fixed batch made
once; noise that a real step samples (VAE eps, GAN z) is sampled inside the step.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fresh_process import USER_ENV, json_from_child  # noqa: E402  (first: it records the environment)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# FLOPs per step as docs/benchmarks.md defines them: 2 x 3 x forward multiply-adds
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


# ---- the four models, in each framework ------------------------------------------------
#
# One builder per framework, layer for layer the same model. SIZES gives each model's widths:
# "full" is the benchmark; "tiny" keeps every layer, op and order (so the same kernel launches
# and host syncs a step: tests/test_cuda_path.py counts them on the CUDA simulator) at sizes
# the simulator runs in seconds.

SIZES = {
    #       B1: input, hidden, latent, batch          B2: G/D channels c1 > c2, side (image 4 side), z, batch
    "full": {"B1": (784, 400, 20, 128), "B2": (128, 64, 7, 64, 64),
             # B3: channels, side, batch              B4: channels c1 < c2, side (image 4 side), code, batch
             "B3": (64, 28, 32), "B4": (32, 64, 7, 32, 128)},
    "tiny": {"B1": (16, 8, 2, 3), "B2": (4, 2, 2, 4, 2), "B3": (2, 6, 2), "B4": (2, 4, 2, 3, 2)},
}


def tinygen_step(model_id, device="cpu", size="full"):
    """A closure running one training step of `model_id` in tinygen, on `device`."""
    import tinygen as tg
    import tinygen.nn as nn
    import tinygen.nn.functional as F
    import tinygen.optim as optim

    tg.manual_seed(0)
    dims = SIZES[size][model_id]
    if model_id == "B1":
        inp, hid, lat, n = dims
        enc, mu_head, logvar_head = nn.Linear(inp, hid), nn.Linear(hid, lat), nn.Linear(hid, lat)
        dec1, dec2 = nn.Linear(lat, hid), nn.Linear(hid, inp)
        for m in (enc, mu_head, logvar_head, dec1, dec2):
            m.to(device)
        params = [p for m in (enc, mu_head, logvar_head, dec1, dec2) for p in m.parameters()]
        opt = optim.Adam(params, lr=1e-3)
        x = tg.tensor(_binary_batch((n, inp), 0), device=device)

        def step():
            h = F.relu(enc(x))
            mu, logvar = mu_head(h), logvar_head(h)
            z = mu + (logvar * 0.5).exp() * tg.randn(n, lat, device=device)
            logits = dec2(F.relu(dec1(z)))
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
            loss = rec + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B2":
        c1, c2, s, nz, n = dims
        G = nn.Sequential(
            nn.Linear(nz, c1 * s * s), nn.BatchNorm1d(c1 * s * s), nn.ReLU(),
            nn.Unflatten(1, (c1, s, s)),
            nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.ConvTranspose2d(c2, 1, 4, 2, 1)).to(device)
        D = nn.Sequential(
            nn.Conv2d(1, c2, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c2, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(c1 * s * s, 1)).to(device)
        opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        x = tg.tensor(np.random.default_rng(0).random((n, 1, 4 * s, 4 * s)).astype(np.float32), device=device)
        ones, zeros = tg.ones(n, 1, device=device), tg.zeros(n, 1, device=device)

        def step():
            fake = F.sigmoid(G(tg.randn(n, nz, device=device)))
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
        c, side, n = dims
        layers = [nn.MaskedConv2d(1, c, 7, mask_type="A", padding=3)]
        for _ in range(5):
            layers += [nn.MaskedConv2d(c, c, 3, mask_type="B", padding=1), nn.ReLU()]
        layers += [nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1)]
        net = nn.Sequential(*layers).to(device)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        x = tg.tensor(_binary_batch((n, 1, side, side), 0), device=device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum") * (1.0 / n)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B4":
        c1, c2, s, code, n = dims
        net = nn.Sequential(
            nn.Conv2d(1, c1, 3, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * s * s, code),
            nn.Linear(code, c2 * s * s), nn.ReLU(), nn.Unflatten(1, (c2, s, s)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c1, 1, 4, 2, 1)).to(device)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        x = tg.tensor(_binary_batch((n, 1, 4 * s, 4 * s), 0), device=device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    raise ValueError(model_id)


def torch_step(model_id, device="cpu", size="full"):
    """The same step in PyTorch, on `device` ('cuda': cuBLAS/cuDNN, the vendor reference)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    dims = SIZES[size][model_id]
    if model_id == "B1":
        inp, hid, lat, n = dims
        enc, mu_head, logvar_head = nn.Linear(inp, hid), nn.Linear(hid, lat), nn.Linear(hid, lat)
        dec1, dec2 = nn.Linear(lat, hid), nn.Linear(hid, inp)
        for m in (enc, mu_head, logvar_head, dec1, dec2):
            m.to(device)
        params = [p for m in (enc, mu_head, logvar_head, dec1, dec2) for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        x = torch.from_numpy(_binary_batch((n, inp), 0)).to(device)

        def step():
            h = F.relu(enc(x))
            mu, logvar = mu_head(h), logvar_head(h)
            z = mu + (logvar * 0.5).exp() * torch.randn(n, lat, device=device)
            logits = dec2(F.relu(dec1(z)))
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
            loss = rec + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B2":
        c1, c2, s, nz, n = dims
        G = nn.Sequential(
            nn.Linear(nz, c1 * s * s), nn.BatchNorm1d(c1 * s * s), nn.ReLU(),
            nn.Unflatten(1, (c1, s, s)),
            nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.ConvTranspose2d(c2, 1, 4, 2, 1)).to(device)
        D = nn.Sequential(
            nn.Conv2d(1, c2, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c2, c1, 4, 2, 1), nn.BatchNorm2d(c1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(c1 * s * s, 1)).to(device)
        opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        x = torch.from_numpy(np.random.default_rng(0).random((n, 1, 4 * s, 4 * s)).astype(np.float32)).to(device)
        ones, zeros = torch.ones(n, 1, device=device), torch.zeros(n, 1, device=device)

        def step():
            fake = torch.sigmoid(G(torch.randn(n, nz, device=device)))
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

        c, side, n = dims
        layers = [MaskedConv2d(1, c, 7, "A", 3)]
        for _ in range(5):
            layers += [MaskedConv2d(c, c, 3, "B", 1), nn.ReLU()]
        layers += [nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1)]
        net = nn.Sequential(*layers).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.from_numpy(_binary_batch((n, 1, side, side), 0)).to(device)

        def step():
            loss = F.binary_cross_entropy_with_logits(net(x), x, reduction="sum") / n
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    if model_id == "B4":
        c1, c2, s, code, n = dims
        net = nn.Sequential(
            nn.Conv2d(1, c1, 3, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * s * s, code),
            nn.Linear(code, c2 * s * s), nn.ReLU(), nn.Unflatten(1, (c2, s, s)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c1, 1, 4, 2, 1)).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.from_numpy(_binary_batch((n, 1, 4 * s, 4 * s), 0)).to(device)

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


VARIANTS = ("tinygen", "tinygen-configured", "torch")   # the processes of one separate pair


# a child process times at least --steps steps and at least this long: B1's 5 ms steps, 20
# of them, gave per-pair ratios from 0.77 to 1.73 on a shared machine
MIN_TIMED_SECONDS = 1.0


def time_alone(variant, model_id, steps, warmup):
    """Run in a child process: one variant alone, `steps` steps or more (MIN_TIMED_SECONDS).
    Returns its median step seconds, the steps timed, and what it ran on (BLAS libraries
    and their threads; PyTorch's build)."""
    if variant == "tinygen-configured":
        from tinygen import runtime
        runtime.configure()                       # first, as its docstring asks
    if variant == "torch":
        _torch_available()
    step = (torch_step if variant == "torch" else tinygen_step)(model_id)
    for _ in range(warmup):
        step()
    times, start = [], time.perf_counter()
    while len(times) < steps or time.perf_counter() - start < MIN_TIMED_SECONDS:
        times.append(_timed(step))
    return {"median_s": statistics.median(times), "steps": len(times), "libraries": libraries(variant)}


def libraries(variant):
    """The BLAS/OpenMP libraries loaded in this process with their thread counts, and for
    PyTorch its BLAS, oneDNN and CPU capability."""
    from threadpoolctl import threadpool_info
    found = [f"{lib['internal_api']} {lib.get('version') or ''} ({lib.get('architecture') or '-'},"
             f" {lib['num_threads']} threads)" for lib in threadpool_info()]
    if variant == "torch":
        import torch
        config = torch.__config__.show()
        keep = ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "CPU capability", "MKL", "OpenMP",
                "oneDNN", "Intel(R) MKL-DNN")
        found += [line.strip() for line in config.splitlines()
                  if any(k in line for k in keep) and len(line.strip()) < 160]
        found.append(f"torch.backends.cpu.get_cpu_capability() = "
                     f"{torch.backends.cpu.get_cpu_capability()}")
    return found


def _child(variant, model_id, steps, warmup):
    return json_from_child([sys.executable, __file__, "--time-alone", variant, model_id,
                            "--steps", str(steps), "--warmup", str(warmup)])


def time_separate(model_id, pairs, steps, warmup, with_torch):
    """Each variant alone in its own process, alternating, `pairs` times: the median step
    seconds of each, the per-pair ratios and their medians, the libraries each ran."""
    variants = VARIANTS if with_torch else VARIANTS[:2]
    times, libs = {v: [] for v in variants}, {}
    for _ in range(pairs):
        for v in variants:
            result = _child(v, model_id, steps, warmup)
            times[v].append(result["median_s"])
            libs[v] = result["libraries"]
    out = {v: statistics.median(ts) for v, ts in times.items()}
    out["times"], out["libraries"] = times, libs
    plain, configured = times["tinygen"], times["tinygen-configured"]
    out["configured_over_plain"] = statistics.median(c / p for c, p in zip(configured, plain))
    if with_torch:
        for v in ("tinygen", "tinygen-configured"):
            ratios = [a / b for a, b in zip(times[v], times["torch"])]
            out[f"{v}/torch"] = {"median": statistics.median(ratios), "pairs": ratios}
    return out


class busy_core:
    """One core kept busy by another process (a spinning Python loop) inside the block."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], env=USER_ENV)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        return False


def cpu_model():
    """The CPU's model name and its widest SIMD (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        import platform
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith("flags")), [])
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {simd}, {os.cpu_count()} logical cores"


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
                         capture_output=True, text=True, check=False, env=USER_ENV)
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
    p.add_argument("--pairs", type=int, default=5, help="separate mode: process pairs")
    p.add_argument("--load", action="store_true",
                   help="separate mode again with one core kept busy by another process")
    p.add_argument("--growth-steps", type=int, default=0)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", default="bench_out")
    p.add_argument("--memory-probe", nargs=2, metavar=("FRAMEWORK", "MODEL"), help=argparse.SUPPRESS)
    p.add_argument("--time-alone", nargs=2, metavar=("VARIANT", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_probe:
        print(memory_probe(*args.memory_probe))
        return None
    if args.time_alone:
        print(json.dumps(time_alone(*args.time_alone, args.steps, args.warmup)))
        return None

    import importlib.util
    with_torch = importlib.util.find_spec("torch") is not None
    rate = gemm_rate()
    cpu = cpu_model()
    print(f"CPU: {cpu}")
    print(f"NumPy float32 GEMM (n=2048), this run: {rate:.1f} GFLOP/s"
          + ("" if with_torch else "   (PyTorch not installed: tinygen only)"), flush=True)
    rows, libraries_seen = [], {}
    for model_id in args.models:
        bound = FLOPS[model_id] / (rate * 1e9)
        row = {"model": model_id, "name": NAMES[model_id], "gflop": FLOPS[model_id] / 1e9,
               "bound_ms": bound * 1e3}
        if args.mode != "separate":
            if with_torch:
                _torch_available()
            med = time_interleaved(model_id, args.steps, args.warmup, with_torch)
            row["interleaved"] = {"tinygen_ms": med["tinygen"] * 1e3}
            if with_torch:
                row["interleaved"].update(torch_ms=med["torch"] * 1e3,
                                          ratio=med["tinygen"] / med["torch"])
        if args.mode != "interleaved":
            alone = time_separate(model_id, args.pairs, args.steps, args.warmup, with_torch)
            libraries_seen.update(alone.pop("libraries"))
            row["separate"] = _ms(alone)
            med = alone
            if args.load:
                with busy_core():
                    loaded = time_separate(model_id, args.pairs, args.steps, args.warmup,
                                           with_torch)
                loaded.pop("libraries")
                row["loaded"] = _ms(loaded)
                row["loaded_over_quiet"] = {v: loaded[v] / alone[v] for v in VARIANTS
                                            if v in alone}
        row.update(tinygen_ms=med["tinygen"] * 1e3, over_bound=med["tinygen"] / bound,
                   tinygen_gflops=FLOPS[model_id] / med["tinygen"] / 1e9,
                   fraction_of_gemm=FLOPS[model_id] / med["tinygen"] / 1e9 / rate)
        if with_torch:
            row.update(torch_ms=med["torch"] * 1e3, ratio=med["tinygen"] / med["torch"],
                       torch_fraction_of_gemm=FLOPS[model_id] / med["torch"] / 1e9 / rate)
        if not args.no_memory:
            row["tinygen_peak_mib"] = peak_memory("tinygen", model_id)
            if with_torch:
                row["torch_peak_mib"] = peak_memory("torch", model_id)
        if args.growth_steps:
            row["heap_growth_mib"] = heap_growth(model_id, args.growth_steps)
        rows.append(row)
        _print_row(row)
    for variant, libs in libraries_seen.items():
        print(f"{variant} ran: " + "; ".join(libs))
    os.makedirs(args.out, exist_ok=True)
    result = {"cpu": cpu, "gemm_gflops": rate, "steps": args.steps, "mode": args.mode,
              "pairs": args.pairs, "libraries": libraries_seen, "rows": rows}
    with open(os.path.join(args.out, "bench_models.json"), "w") as f:
        json.dump(result, f, indent=2)
    _chart(rows, os.path.join(args.out, "bench_models.png"))
    print(f"wrote {args.out}/bench_models.json and bench_models.png")
    return result


def _ms(alone):
    """A time_separate result in milliseconds, with its ratios."""
    out = {v: alone[v] * 1e3 for v in VARIANTS if v in alone}
    out["configured_over_plain"] = alone["configured_over_plain"]
    for key in ("tinygen/torch", "tinygen-configured/torch"):
        if key in alone:
            out[key] = alone[key]
    return out


def _print_row(r):
    line = (f"{r['model']} {r['name']:<11} {r['gflop']:5.1f} GFLOP  tinygen {r['tinygen_ms']:7.1f} ms"
            f" ({r['tinygen_gflops']:5.1f} GFLOP/s, {r['fraction_of_gemm']:5.1%} of GEMM,"
            f" {r['over_bound']:4.2f}x bound {r['bound_ms']:.1f} ms)")
    if "torch_ms" in r:
        line += f"  torch {r['torch_ms']:7.1f} ms"
    print(line)
    if "separate" in r:
        for label in ("separate", "loaded"):
            if label not in r:
                continue
            a = r[label]
            text = (f"    {label:<9} tinygen plain {a['tinygen']:7.1f} ms, configured "
                    f"{a['tinygen-configured']:7.1f} ms (configured/plain "
                    f"{a['configured_over_plain']:4.2f})")
            if "torch" in a:
                plain, conf = a["tinygen/torch"], a["tinygen-configured/torch"]
                text += (f", torch {a['torch']:7.1f} ms | tinygen/torch plain "
                         f"{plain['median']:4.2f} (pairs {_range(plain['pairs'])}), configured "
                         f"{conf['median']:4.2f} (pairs {_range(conf['pairs'])})")
            print(text)
        if "loaded_over_quiet" in r:
            print("    loaded/quiet " + ", ".join(f"{v} {x:4.2f}"
                                                  for v, x in r["loaded_over_quiet"].items()))
    if "interleaved" in r:
        a = r["interleaved"]
        text = f"    interleaved (one process) tinygen {a['tinygen_ms']:7.1f} ms"
        if "torch_ms" in a:
            text += f", torch {a['torch_ms']:7.1f} ms, tinygen/torch {a['ratio']:4.2f}"
        print(text)
    extra = []
    if "tinygen_peak_mib" in r:
        extra.append(f"peak MiB tinygen {r['tinygen_peak_mib']:.0f}"
                     + (f" torch {r['torch_peak_mib']:.0f}" if "torch_peak_mib" in r else ""))
    if "heap_growth_mib" in r:
        extra.append("heap MiB " + ", ".join(f"@{k}: {v:.2f}"
                                             for k, v in r["heap_growth_mib"].items()))
    if extra:
        print("    " + "  ".join(extra))
    sys.stdout.flush()


def _range(values):
    return f"{min(values):4.2f}-{max(values):4.2f}"


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
