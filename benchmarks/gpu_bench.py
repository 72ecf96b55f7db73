"""tinygen on a GPU beside the vendor's libraries: one step of benchmarks/gpu_check.sh a run.

    python benchmarks/gpu_bench.py STEP      STEP: probe | models | kernels | launch

Each measurement is merged into $OUT/results.json as soon as it is made (gpu_record.py), so
a step cut off by its time budget keeps what it measured. Times are wall-clock around a
device sync; a first call (numba.cuda and CuPy compiles, cuDNN's algorithm search) is
reported apart from the steady state (the median of the calls after the warm-up ones).

probe    versions (Python, NumPy, numba, numba-cuda, CuPy, torch; CUDA driver and runtime),
         the device, tg.cuda.why_unavailable(), benchmarks/gpu_probe.py's checks
models   B1-B4 (benchmarks/bench_models.py's steps) on 'cuda': tinygen, and PyTorch on CUDA
         beside it (cuBLAS/cuDNN: the reference); per step: first, steady, host (the time a
         step takes to return, its kernels queued: near steady means the host is the
         bottleneck); B3's host profile to $OUT/profile.txt (cProfile, by own time)
kernels  cuBLAS sgemm (CuPy's matmul) and tinygen's tiled GEMM kernel; every conv layer of
         benchmarks/bench_kernels.py on tinygen's cuda kernels, against cuBLAS on the GEMMs
         of the same shapes (im2col's: forward, input and weight gradient) and torch's conv
launch   host cost of one small call: a numba.cuda kernel through tinygen's launch(), the
         same kernel handed a numba view (no per-call wrapping), CuPy's elementwise kernel,
         a tinygen Tensor op, a torch op

DRYRUN=1 runs every step on the cpu with tiny sizes and one or two repeats: it checks this
file and gpu_check.sh without a GPU (tests/test_gpu_check.py). GPU_CHECK_MODELS=B1,B4 picks
the models (default all four). GPU_CHECK_HOLD_S=S makes the models step wait S seconds after
B1's result (that test's step is still running when it sends SIGINT).
"""
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]   # this checkout's tinygen, from anywhere

import numpy as np  # noqa: E402

import gpu_record  # noqa: E402

DRY = os.environ.get("DRYRUN") == "1"
DEV = "cpu" if DRY else "cuda"
OUT = os.path.abspath(os.environ.get("OUT", "gpu_out"))


def record(key, value):
    gpu_record.record(OUT, key, value)


def failure(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


def _torch_cuda():
    """torch, when it imports and (off DRYRUN) sees the GPU; else None."""
    try:
        import torch
    except Exception:  # noqa: BLE001  (no torch: the torch columns are left out)
        return None
    return torch if DRY or torch.cuda.is_available() else None


def _sync_tinygen():
    import tinygen as tg
    tg.cuda.synchronize()


def _sync_torch():
    torch = _torch_cuda()
    if torch is not None and not DRY:
        torch.cuda.synchronize()


def timed(fn, sync, steps, warmup=0 if DRY else 2, budget_s=10.0):
    """{first_ms, steady_ms, host_ms, steps}: the first call, the median of `steps` calls
    after `warmup` more (fewer, at least 3, where `steps` would take over `budget_s`), and
    the median time a call takes to return without the sync."""
    t0 = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync()
    if warmup:
        steps = max(3, min(steps, int(budget_s * warmup / max(time.perf_counter() - t0, 1e-9))))
    steady, host = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        host.append(time.perf_counter() - t0)
        sync()
        steady.append(time.perf_counter() - t0)
    return {"first_ms": 1e3 * first, "steady_ms": 1e3 * statistics.median(steady),
            "host_ms": 1e3 * statistics.median(host), "steps": steps}


# ---- probe ---------------------------------------------------------------------------------

def probe():
    info = {"python": sys.version.split()[0], "executable": sys.executable,
            "platform": platform.platform(), "dryrun": DRY}
    for name in ("numpy", "numba", "numba_cuda", "cupy", "torch", "cuda.bindings"):
        try:
            module = __import__(name, fromlist=["__version__"])
            info[name] = getattr(module, "__version__", "?")
        except Exception as e:  # noqa: BLE001
            info[name] = "missing: " + failure(e)
    record("probe", info)
    try:
        import cupy
        info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["device"] = {"name": props["name"].decode(), "cc": f"{props['major']}.{props['minor']}",
                          "sms": props["multiProcessorCount"],
                          "memory_gib": props["totalGlobalMem"] / 2 ** 30}
    except Exception as e:  # noqa: BLE001
        info["device"] = "none: " + failure(e)
    record("probe", info)
    import tinygen as tg
    info["tg.cuda.is_available"] = tg.cuda.is_available()
    info["tg.cuda.why_unavailable"] = tg.cuda.why_unavailable()
    record("probe", info)
    if DRY:
        info["checks"] = "not run (DRYRUN: no GPU)"
    else:
        import gpu_probe
        info["checks"], info["need"] = gpu_probe.checks()
    record("probe", info)
    print(f"probe: {info.get('device')}, tinygen: {info['tg.cuda.why_unavailable'] or 'GPU in use'}")


# ---- B1-B4 ---------------------------------------------------------------------------------

def models():
    import bench_models as bm
    torch = _torch_cuda()
    if torch is not None:
        torch.backends.cudnn.benchmark = not DRY   # as a user tuning for speed would
    steps = 1 if DRY else 20
    rows = {}
    chosen = os.environ.get("GPU_CHECK_MODELS", "B1,B2,B3,B4").split(",")
    profiled = "B3" if "B3" in chosen else chosen[-1]
    for mid in chosen:
        row = rows[mid] = {"name": bm.NAMES[mid], "batch": bm.BATCH[mid],
                           "gflop_per_step": bm.FLOPS[mid] / 1e9}
        try:
            step = bm.tinygen_step(mid, DEV)
            row["tinygen"] = timed(step, _sync_tinygen, steps)
            row["tinygen"]["gflops"] = bm.FLOPS[mid] / row["tinygen"]["steady_ms"] / 1e6
            if not DRY:
                import cupy
                row["tinygen"]["gpu_pool_mib"] = cupy.get_default_memory_pool().total_bytes() / 2 ** 20
        except Exception as e:  # noqa: BLE001  (one broken model must not hide the others)
            row["tinygen"] = {"failed": failure(e)}
        record("models", rows)
        if mid == "B1" and os.environ.get("GPU_CHECK_HOLD_S"):
            time.sleep(float(os.environ["GPU_CHECK_HOLD_S"]))
        if torch is not None:
            try:
                row["torch"] = timed(bm.torch_step(mid, DEV), _sync_torch, steps)
                if not DRY:
                    row["torch"]["max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
            except Exception as e:  # noqa: BLE001
                row["torch"] = {"failed": failure(e)}
        else:
            row["torch"] = {"failed": "torch with CUDA not available"}
        if "steady_ms" in row["tinygen"] and "steady_ms" in row["torch"]:
            row["ratio_vs_torch"] = row["tinygen"]["steady_ms"] / row["torch"]["steady_ms"]
        record("models", rows)
        print(f"{mid} {row['name']:<11} " + "  ".join(
            f"{fw} first {r['first_ms']:.1f} ms, steady {r['steady_ms']:.2f} ms (host {r['host_ms']:.2f})"
            if "steady_ms" in r else f"{fw} FAILED {r['failed']}"
            for fw, r in (("tinygen", row["tinygen"]), ("torch", row["torch"]))), flush=True)
        if mid == profiled and "steady_ms" in row["tinygen"]:   # where a step's host time goes
            profile = cProfile.Profile()
            profile.runcall(lambda: [step() for _ in range(1 if DRY else 5)])
            with open(os.path.join(OUT, "profile.txt"), "w") as f:
                f.write(f"{mid} tinygen on {DEV}: {1 if DRY else 5} steps, by own time\n")
                pstats.Stats(profile, stream=f).sort_stats("tottime").print_stats(30)


# ---- sgemm and conv against cuBLAS ---------------------------------------------------------

def _gemm_ms(xp, m, k, n, sync, steps):
    """Steady ms of an (m, k) @ (k, n) float32 product through xp (CuPy: cuBLAS)."""
    a = xp.asarray(np.random.default_rng(0).standard_normal((m, k), dtype=np.float32))
    b = xp.asarray(np.random.default_rng(1).standard_normal((k, n), dtype=np.float32))
    return timed(lambda: a @ b, sync, steps, warmup=1)["steady_ms"]


def _conv_gemms(prob):
    """The (M, K, N) of the GEMM that im2col turns a layer's forward into; its two backward
    GEMMs have the same multiply-adds ((K, M) @ (M, N) and (M, N) @ (N, K))."""
    x, w, gy = prob["x"], prob["w"], prob["gy"]
    if prob["kind"] == "conv":   # w (C_out, C_in, k, k): (C_out, C_in k k) @ (C_in k k, N Ho Wo)
        return w.shape[0], w[0].size, gy.shape[0] * gy.shape[2] * gy.shape[3]
    return w.shape[1] * w.shape[2] * w.shape[3], w.shape[0], x.shape[0] * x.shape[2] * x.shape[3]


def kernels():
    import bench_kernels as bk
    from tinygen import backend
    from tinygen.kernels import implementation
    xp = np if DRY else backend.array_module("cuda")
    sync = _sync_tinygen
    steps = 2 if DRY else 10
    result = {}
    n = 64 if DRY else 4096
    try:
        ms = _gemm_ms(xp, n, n, n, sync, steps)
        result["sgemm_cublas"] = {"n": n, "ms": ms, "gflops": 2 * n ** 3 / ms / 1e6}
    except Exception as e:  # noqa: BLE001
        result["sgemm_cublas"] = {"failed": failure(e)}
    record("kernels", result)
    peak = result["sgemm_cublas"].get("gflops", float("nan"))
    print(f"cuBLAS sgemm n={n}: {peak:.0f} GFLOP/s", flush=True)
    try:   # tinygen's shared-memory tiled kernel (the one to learn from), at a smaller n
        from tinygen.kernels import matmul_cuda, matmul_numpy
        mm = matmul_numpy if DRY else matmul_cuda
        m = 64 if DRY else 2048
        a = xp.asarray(np.random.default_rng(0).standard_normal((m, m), dtype=np.float32))
        t = timed(lambda: mm.matmul_blocked(a, a) if not DRY else mm.matmul(a, a), sync, steps, 1)
        t["n"], t["gflops"] = m, 2 * m ** 3 / t["steady_ms"] / 1e6
        result["sgemm_tinygen_tiled"] = t
    except Exception as e:  # noqa: BLE001
        result["sgemm_tinygen_tiled"] = {"failed": failure(e)}
    record("kernels", result)
    conv = implementation("conv", DEV, "fast")
    torch = _torch_cuda()
    rows = result["conv"] = []
    for layer in bk.LAYERS[5:6] if DRY else bk.LAYERS:
        row = {"model": layer[0], "layer": layer[1]}
        rows.append(row)
        try:
            prob = bk.layer_problem(layer, batch_scale=0.0 if DRY else 1.0)
            row["batch"] = prob["N"]
            fwd, bwd = bk.kernel_calls(conv, prob, to=lambda a: xp.asarray(a))
            f, b = timed(fwd, sync, steps, 1), timed(bwd, sync, steps, 1)
            M, K, N = _conv_gemms(prob)
            blas_f = _gemm_ms(xp, M, K, N, sync, steps)
            blas_b = _gemm_ms(xp, K, M, N, sync, steps) + _gemm_ms(xp, M, N, K, sync, steps)
            gf = 2 * prob["macs"] / 1e9
            row.update(gemm_mkn=[M, K, N], first_fwd_ms=f["first_ms"], fwd_ms=f["steady_ms"],
                       first_bwd_ms=b["first_ms"], bwd_ms=b["steady_ms"],
                       cublas_fwd_ms=blas_f, cublas_bwd_ms=blas_b,
                       gflops_fwd_bwd=3 * gf / (f["steady_ms"] + b["steady_ms"]) * 1e3,
                       of_cublas_rate=(blas_f + blas_b) / (f["steady_ms"] + b["steady_ms"]))
            if torch is not None:
                row["torch_fwd_bwd_ms"] = _torch_conv_ms(torch, prob, steps)
        except Exception as e:  # noqa: BLE001
            row["failed"] = failure(e)
        record("kernels", result)
        if "failed" in row:
            print(f"{layer[0]} {layer[1]}: FAILED {row['failed']}", flush=True)
        else:
            print(f"{layer[0]} {layer[1]:<32} fwd {row['fwd_ms']:.3f} bwd {row['bwd_ms']:.3f} ms "
                  f"(first {row['first_fwd_ms']:.0f}/{row['first_bwd_ms']:.0f}); cuBLAS same GEMMs "
                  f"{row['cublas_fwd_ms']:.3f}+{row['cublas_bwd_ms']:.3f} ms: "
                  f"{row['of_cublas_rate']:.0%} of its rate", flush=True)


def _torch_conv_ms(torch, prob, steps):
    """torch's conv2d / conv_transpose2d forward and backward on the layer (cuDNN)."""
    F = torch.nn.functional
    device = "cpu" if DRY else "cuda"
    x = torch.from_numpy(prob["x"]).to(device).requires_grad_()
    w = torch.from_numpy(prob["w"]).to(device).requires_grad_()
    gy = torch.from_numpy(prob["gy"]).to(device)
    op = F.conv2d if prob["kind"] == "conv" else F.conv_transpose2d

    def both():
        torch.autograd.grad(op(x, w, stride=prob["s"], padding=prob["p"]), (x, w), gy)
    return timed(both, _sync_torch, steps, 1)["steady_ms"]


# ---- launch overhead -----------------------------------------------------------------------

def per_call_us(fn, sync, calls):
    """Host cost of one call: `calls` calls queued back to back, one sync at the end."""
    for _ in range(3):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return 1e6 * (time.perf_counter() - t0) / calls


def launch():
    import tinygen as tg
    calls = 3 if DRY else 500
    sync = _sync_tinygen
    result = {}

    def measure(name, fn, sync=sync):
        try:
            result[name] = per_call_us(fn, sync, calls)
        except Exception as e:  # noqa: BLE001
            result[name] = "failed: " + failure(e)
        record("launch_us", result)
        value = result[name]
        print(f"per call, host side: {name}: " + (f"{value:.1f} us" if isinstance(value, float) else value),
              flush=True)

    a = tg.ones(4096, device=DEV)
    if DRY:
        from tinygen.kernels import fused_numpy as fused
    else:
        from tinygen.kernels import fused_cuda as fused
    g = a.array
    measure("numba.cuda kernel via tinygen's launch() on CuPy arrays (relu_grad, 4096)",
            lambda: fused.relu_grad(g, g, 0.0))
    if not DRY:
        from numba import cuda

        from tinygen.kernels.common import launch_config
        views = [cuda.as_cuda_array(x, sync=False) for x in (g, g, g.copy())]
        blocks, threads = launch_config(g.size)
        slope = g.dtype.type(0.0)
        kernel, _ = fused.DEVICE_KERNELS["relu_grad"]
        measure("the same kernel on numba views made once (no per-call wrapping)",
                lambda: kernel[blocks, threads](views[0], views[1], slope, views[2]))
    xp = np if DRY else __import__("cupy")
    measure("CuPy elementwise (xp.maximum, 4096)", lambda: xp.maximum(g, 0))
    measure("tinygen Tensor op (a * a, 4096)", lambda: a * a)
    torch = _torch_cuda()
    if torch is not None:
        t = torch.ones(4096, device="cpu" if DRY else "cuda")
        measure("torch op (t * t, 4096)", lambda: t * t, _sync_torch)


STEPS = {"probe": probe, "models": models, "kernels": kernels, "launch": launch}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in STEPS:
        sys.exit(__doc__)
    import tinygen  # noqa: F401  first of tinygen's modules here: its thread settings
    os.makedirs(OUT, exist_ok=True)
    STEPS[sys.argv[1]]()
