"""tinygen on the GPU: cuBLAS sgemm, the conv layers of bench_kernels.py, B1-B4 training steps.

    python benchmarks/gpu_bench.py [all|models] [tag]   (from the repository root; writes $OUT/bench_<tag>.json)
benchmarks/gpu_check.sh runs it on a GPU.
DRYRUN=1 runs a tiny version (models on cpu, one small layer) to check this file without a GPU."""
import cProfile
import json
import os
import pstats
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
import tinygen as tg  # noqa: E402  first: tinygen's thread settings
import bench_kernels as bk  # noqa: E402
import bench_models as bm  # noqa: E402
import tinygen.nn as nn  # noqa: E402
import tinygen.nn.functional as F  # noqa: E402
import tinygen.optim as optim  # noqa: E402
from tinygen import backend  # noqa: E402
from tinygen.kernels import implementation  # noqa: E402

DRY = os.environ.get("DRYRUN") == "1"
DEV = "cpu" if DRY else "cuda"
what = sys.argv[1] if len(sys.argv) > 1 else "all"
tag = sys.argv[2] if len(sys.argv) > 2 else "default"
xp = backend.array_module("cuda")
result = {"numba_cuda_array_interface_sync": os.environ.get("NUMBA_CUDA_ARRAY_INTERFACE_SYNC", "1 (default)")}


def median_ms(fn, steps=20, warmup=3):
    for _ in range(warmup):
        fn()
    tg.cuda.synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        tg.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def per_call_us(fn, calls=3 if DRY else 300):
    """Host cost of one call of a tiny GPU op: calls queued back to back, one sync at the end."""
    for _ in range(2):
        fn()
    tg.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    tg.cuda.synchronize()
    return 1e6 * (time.perf_counter() - t0) / calls


def guarded(name, fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001  (one broken row must not hide the others)
        print(f"{name}: FAILED {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
        result.setdefault("failures", {})[name] = f"{type(e).__name__}: {e}"[:500]


def sgemm():
    n = 256 if DRY else 4096
    a = xp.random.default_rng(0).standard_normal((n, n), dtype=xp.float32)
    b = xp.random.default_rng(1).standard_normal((n, n), dtype=xp.float32)
    ms = median_ms(lambda: a @ b, steps=10)
    result["sgemm"] = {"n": n, "ms": ms, "gflops": 2 * n ** 3 / ms / 1e6}
    print(f"cuBLAS sgemm n={n}: {ms:.3f} ms = {result['sgemm']['gflops']:.0f} GFLOP/s (the reference peak)")


def conv_layers():
    conv = implementation("conv", "cuda", "fast")
    ref = implementation("conv", "cpu", "fast")
    peak = result.get("sgemm", {}).get("gflops", float("nan"))
    rows = result["conv"] = []
    print(f"{'layer':<36} {'batch':>5} {'fwd ms':>8} {'bwd ms':>8} {'fwd GF/s':>9} {'f+b GF/s':>9} {'of sgemm':>8}")
    for layer in bk.LAYERS[7:8] if DRY else bk.LAYERS:
        def one(layer=layer):
            prob = bk.layer_problem(layer, batch_scale=0.0 if DRY else 1.0)
            fwd, bwd = bk.kernel_calls(conv, prob, to=lambda a: backend.to_device(a, "cuda"))
            steps = 2 if DRY else 20
            f, b = median_ms(fwd, steps, 1), median_ms(bwd, steps, 1)
            gf = 2 * prob["macs"] / 1e9
            y, y_cpu = backend.to_numpy(fwd()), bk.kernel_calls(ref, prob)[0]()   # GPU against cpu
            rows.append(dict(model=layer[0], layer=layer[1], batch=prob["N"], fwd_ms=f, bwd_ms=b,
                             gflops_fwd=gf / f * 1e3, gflops_fwd_bwd=3 * gf / (f + b) * 1e3,
                             max_rel_err_vs_cpu=float(abs(y - y_cpu).max() / abs(y_cpu).max())))
            r = rows[-1]
            print(f"{layer[0] + ' ' + layer[1]:<36} {r['batch']:>5} {f:8.3f} {b:8.3f} {r['gflops_fwd']:9.0f} "
                  f"{r['gflops_fwd_bwd']:9.0f} {r['gflops_fwd_bwd'] / peak:8.1%}  (rel err {r['max_rel_err_vs_cpu']:.1e})",
                  flush=True)
        guarded(layer[1], one)
    for r in rows:
        if r["layer"].startswith("3x3 64->64"):
            print(f"==> B3 3x3 64->64 conv, batch {r['batch']}: forward {r['fwd_ms']:.3f} ms + backward "
                  f"{r['bwd_ms']:.3f} ms = {r['gflops_fwd_bwd']:.0f} GFLOP/s ({r['gflops_fwd_bwd'] / peak:.1%} of sgemm)")


def launch_overhead():
    from tinygen.kernels import fused_cuda
    g = xp.ones(4096, xp.float32)
    result["launch_us"] = {
        "numba relu_grad kernel on CuPy arrays": per_call_us(lambda: fused_cuda.relu_grad(g, g, 0.0)),
        "cupy elementwise (xp.maximum)": per_call_us(lambda: xp.maximum(g, 0)),
    }
    for k, v in result["launch_us"].items():
        print(f"per call, host side: {k}: {v:.1f} us")


def adam_step(loss_fn, opt):
    def step():
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    return step


def model_step(mid):
    """B1-B4 of benchmarks/bench_models.py, built on DEV (that file builds them on the cpu)."""
    tg.manual_seed(0)
    bce = F.binary_cross_entropy_with_logits

    def batch(shape):
        return tg.tensor(bm._binary_batch(shape, 0), device=DEV)

    if mid == "B1":
        enc, mu_h, lv_h, d1, d2 = (nn.Linear(i, o).to(DEV) for i, o in
                                   ((784, 400), (400, 20), (400, 20), (20, 400), (400, 784)))
        opt = optim.Adam([p for m in (enc, mu_h, lv_h, d1, d2) for p in m.parameters()], lr=1e-3)
        x = batch((128, 784))

        def loss():
            h = F.relu(enc(x))
            mu, lv = mu_h(h), lv_h(h)
            z = mu + (lv * 0.5).exp() * tg.randn(128, 20, device=DEV)
            rec = bce(d2(F.relu(d1(z))), x, reduction="sum")
            return rec - 0.5 * (1 + lv - mu * mu - lv.exp()).sum()
        return adam_step(loss, opt)
    if mid == "B2":
        G = nn.Sequential(nn.Linear(64, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
                          nn.Unflatten(1, (128, 7, 7)), nn.ConvTranspose2d(128, 64, 4, 2, 1),
                          nn.BatchNorm2d(64), nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1)).to(DEV)
        D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
                          nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(),
                          nn.Linear(128 * 7 * 7, 1)).to(DEV)
        opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        x = tg.tensor(np.random.default_rng(0).random((64, 1, 28, 28)).astype(np.float32), device=DEV)
        ones, zeros = tg.ones(64, 1, device=DEV), tg.zeros(64, 1, device=DEV)

        def step():
            fake = F.sigmoid(G(tg.randn(64, 64, device=DEV)))
            adam_step(lambda: bce(D(x), ones) + bce(D(fake.detach()), zeros), opt_d)()
            adam_step(lambda: bce(D(fake), ones), opt_g)()
        return step
    if mid == "B3":
        layers = [nn.MaskedConv2d(1, 64, 7, mask_type="A", padding=3)]
        for _ in range(5):
            layers += [nn.MaskedConv2d(64, 64, 3, mask_type="B", padding=1), nn.ReLU()]
        net = nn.Sequential(*layers, nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 1, 1)).to(DEV)
        x = batch((32, 1, 28, 28))
        return adam_step(lambda: bce(net(x), x, reduction="sum") * (1.0 / 32),
                         optim.Adam(net.parameters(), lr=1e-3))
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 32), nn.Linear(32, 64 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1)).to(DEV)
    x = batch((128, 1, 28, 28))
    return adam_step(lambda: bce(net(x), x, reduction="sum"), optim.Adam(net.parameters(), lr=1e-3))


def models():
    peak = result.get("sgemm", {}).get("gflops")
    rows = result["models"] = []
    for mid in ("B1", "B2", "B3", "B4"):
        def one(mid=mid):
            step = model_step(mid)
            ms = median_ms(step, 2 if DRY else 20, 1 if DRY else 3)
            row = dict(model=mid, name=bm.NAMES[mid], batch=bm.BATCH[mid], ms=ms,
                       gflops=bm.FLOPS[mid] / ms / 1e6)
            if DEV == "cuda":
                row["gpu_pool_mib"] = xp.get_default_memory_pool().total_bytes() / 2 ** 20
            rows.append(row)
            share = f" = {row['gflops'] / peak:.1%} of sgemm" if peak else ""
            print(f"{mid} {row['name']:<11} batch {row['batch']:>3}: step {ms:8.2f} ms, "
                  f"{row['gflops']:8.1f} GFLOP/s{share}", flush=True)
            if mid == "B3" and what == "all":   # where the host time of a step goes
                prof = cProfile.Profile()
                prof.runcall(lambda: [step() for _ in range(5)])
                with open(os.path.join(os.environ.get("OUT", "."), "profile_B3.txt"), "w") as f:
                    pstats.Stats(prof, stream=f).sort_stats("tottime").print_stats(25)
        guarded(mid, one)


if what == "all":
    guarded("sgemm", sgemm)
    guarded("conv layers", conv_layers)
    guarded("launch overhead", launch_overhead)
models()
with open(os.path.join(os.environ.get("OUT", "."), f"bench_{tag}.json"), "w") as f:
    json.dump(result, f, indent=1)
