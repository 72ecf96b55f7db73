"""Kernel benchmark: the conv layers of B2-B4, pooling and matmul, every implementation, one run.

For each conv layer of the standard models (docs/benchmarks.md):

    forward   y = conv(x, w)                                  2 * MACs flops
    backward  gx (a conv_transpose) and gw (the weight grad)  4 * MACs flops

timed as medians after warm-up, for the numpy reference, the numba kernels, the cuda kernels
(where CuPy and a GPU are present; "unavailable" otherwise; never the simulator) and
PyTorch's CPU conv (where installed; its backward timed alone, after an untimed forward that
records the graph).
Rates are GFLOP/s and the fraction of the machine's own float32 GEMM rate, measured in the
same run (NumPy matmul at n = 1024, 1536, 2048, before and after the layers; the best median). The backward of the first
layer computes gx although training would not need it, so every row counts the same flops.

PyTorch runs in a fresh process of its own (this script with --torch-child, which never
imports tinygen), started with the environment this script was started with: nothing of
tinygen's process (its worker threads, threadpoolctl's BLAS limits) reaches it. It runs on
torch.set_num_threads(cores), or --threads when given. A round is tinygen's rows in this
process, then PyTorch's in a fresh one; --rounds N alternates N rounds, each row shows its
median over them and the torch/numba ratio is the median of the per-round ratios, so that a
busy spell on a shared machine lands on both sides.

matmul: BLAS (what the ops use) against the blocked numba kernel at n = 256..1024, float32.

pool: max_pool2d and avg_pool2d, forward and backward, on the pooling layers of the MNIST
classifier and the conv autoencoder of tests/ports/ (B1-B4 have none), for the numpy, numba,
cuda and torch implementations; memory-bound, so the rate is GB/s: the bytes read and
written (x and y forward; gy, the argmax indices, and gx backward).

With --algorithms, every algorithm of conv_algorithms_numba.py that some op of a layer runs
when forced (tinygen.settings.use_conv_algorithm) gets a row of its own, "numba:<name>", its results
checked against the numpy reference first (the largest error relative to the reference's
largest value, in the JSON).

    python benchmarks/bench_kernels.py [--out bench_out/kernels] [--quick] [--only B3]
                                       [--threads 1 --clock cpu] [--algorithms] [--rounds 3]

Prints a table, writes bench_kernels.json and bench_kernels.png to --out. Machine shared
with others? Compare ratios from one run, not absolute times across runs; when other jobs
keep the cores busy, `--threads 1 --clock cpu` (every library on one thread, timed by the
process's CPU time) still gives meaningful single-core ratios. On processors
where OPENBLAS_CORETYPE is set in the environment (see the environment notes), numpy's GEMM
is slowed; unset it for this command only (the JSON records the BLAS kernel in use).
"""
import os  # noqa: I001
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fresh_process import json_from_child, torch_available  # noqa: E402  (first: it records the environment)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# B2-B4's conv layers: (model, name, kind, N, C_in, C_out, H_in, W_in, k, stride, padding)
LAYERS = [
    ("B2", "G convT 128->64 4x4 s2 7->14", "convT", 64, 128, 64, 7, 7, 4, 2, 1),
    ("B2", "G convT 64->1 4x4 s2 14->28", "convT", 64, 64, 1, 14, 14, 4, 2, 1),
    ("B2", "D conv 1->64 4x4 s2 28->14", "conv", 64, 1, 64, 28, 28, 4, 2, 1),
    ("B2", "D conv 64->128 4x4 s2 14->7", "conv", 64, 64, 128, 14, 14, 4, 2, 1),
    ("B3", "masked 7x7 1->64 28x28", "conv", 32, 1, 64, 28, 28, 7, 1, 3),
    ("B3", "3x3 64->64 28x28", "conv", 32, 64, 64, 28, 28, 3, 1, 1),
    ("B3", "1x1 64->64 28x28", "conv", 32, 64, 64, 28, 28, 1, 1, 0),
    ("B3", "1x1 64->1 28x28", "conv", 32, 64, 1, 28, 28, 1, 1, 0),
    ("B4", "enc conv 1->32 3x3 s2 28->14", "conv", 128, 1, 32, 28, 28, 3, 2, 1),
    ("B4", "enc conv 32->64 3x3 s2 14->7", "conv", 128, 32, 64, 14, 14, 3, 2, 1),
    ("B4", "dec convT 64->32 4x4 s2 7->14", "convT", 128, 64, 32, 7, 7, 4, 2, 1),
    ("B4", "dec convT 32->1 4x4 s2 14->28", "convT", 128, 32, 1, 14, 14, 4, 2, 1),
]
IMPLEMENTATIONS = ("numpy", "numba", "cuda", "torch")
# pooling layers of tests/ports/: (where, name, kind, N, C, H, W, k, stride, padding)
POOLS = [
    ("classifier", "max 2x2 s2 64ch 24->12", "max", 64, 64, 24, 24, 2, 2, 0),
    ("conv AE", "max 2x2 s2 16ch 28->14", "max", 128, 16, 28, 28, 2, 2, 0),
    ("classifier", "avg 2x2 s2 64ch 24->12", "avg", 64, 64, 24, 24, 2, 2, 0),
]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}     # --clock
CLOCK = [time.perf_counter]   # the one in use
THREADS = [None]              # --threads
TORCH_PROCESS = ("a fresh process of its own each round, started with the environment this "
                 "benchmark was started with (tinygen never imported)")


def median_time(fn, min_time=0.5, min_repeat=3, max_repeat=25, sync=lambda: None, setup=None):
    """Median seconds of fn() (or fn(setup()), setup untimed) over enough repeats, after warm-up."""
    clock = CLOCK[0]
    args = lambda: (setup(),) if setup else ()  # noqa: E731
    fn(*args())
    fn(*args())
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < max_repeat and (len(times) < min_repeat or time.perf_counter() - start < min_time):
        a = args()
        t0 = clock()
        fn(*a)
        sync()
        times.append(clock() - t0)
    return statistics.median(times)


def limit_threads(threads):
    """Run BLAS and tinygen's kernels (its workers) on `threads` threads in this process;
    returns what to keep alive. (PyTorch's process sets torch.set_num_threads on its own.)"""
    from tinygen import settings
    settings.set_num_threads(threads)
    import threadpoolctl
    return threadpoolctl.threadpool_limits(threads)


def gemm_rate(sizes=(1024, 1536, 2048), min_time=0.5):
    """NumPy float32 GEMM GFLOP/s at each n, and the best of them (the machine's reference).

    BLAS runs on all the threads allowed (--threads, else every core) while this is measured:
    tinygen's kernels keep BLAS on one thread and split their products (tinygen/kernels/threads.py)."""
    import threadpoolctl
    rng = np.random.default_rng(0)
    rates = {}
    with threadpoolctl.threadpool_limits(limits=THREADS[0] or os.cpu_count(), user_api="blas"):
        for n in sizes:
            a = rng.standard_normal((n, n), dtype=np.float32)
            b = rng.standard_normal((n, n), dtype=np.float32)
            out = np.empty((n, n), np.float32)
            rates[n] = 2 * n ** 3 / median_time(lambda: np.matmul(a, b, out=out), min_time) / 1e9
    time.sleep(0.5)                 # OpenBLAS's workers spin about 0.1 s after their last call
    return rates, max(rates.values())


def layer_problem(layer, batch_scale=1.0):
    """Arrays and geometry of one layer (float32)."""
    model, name, kind, N, C_in, C_out, H, W, k, s, p = layer
    N = max(1, int(N * batch_scale))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C_in, H, W), dtype=np.float32)
    w_shape = (C_in, C_out, k, k) if kind == "convT" else (C_out, C_in, k, k)
    w = rng.standard_normal(w_shape, dtype=np.float32) * 0.1
    if kind == "conv":
        Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
        macs = N * C_out * Ho * Wo * C_in * k * k
    else:
        Ho, Wo = (H - 1) * s - 2 * p + k, (W - 1) * s - 2 * p + k
        macs = N * C_in * H * W * C_out * k * k
    gy = rng.standard_normal((N, C_out, Ho, Wo), dtype=np.float32)
    return dict(kind=kind, x=x, w=w, gy=gy, k=k, s=s, p=p, macs=macs, N=N)


def kernel_calls(conv, prob, to=lambda a: a):
    """(forward, backward) closures on the kernel module `conv` (tinygen/kernels/conv_*.py)."""
    x, w, gy = to(prob["x"]), to(prob["w"]), to(prob["gy"])
    k, s, p = (prob["k"],) * 2, (prob["s"],) * 2, (prob["p"],) * 2
    one, zero = (1, 1), (0, 0)
    H, W = prob["x"].shape[2:]
    if prob["kind"] == "conv":
        Ho = gy.shape[2]
        # output_padding that gives x's size back (the conv2d input gradient)
        op = (H - ((Ho - 1) * s[0] - 2 * p[0] + k[0]),) * 2

        def fwd():
            return conv.conv2d(x, w, s, p, one)

        def bwd():
            return conv.conv_transpose2d(gy, w, s, p, op, one), conv.conv2d_weight_grad(x, gy, k, s, p, one)
    else:
        def fwd():
            return conv.conv_transpose2d(x, w, s, p, zero, one)

        def bwd():
            return conv.conv2d(gy, w, s, p, one), conv.conv2d_weight_grad(gy, x, k, s, p, one)
    return fwd, bwd


def layer_algorithms(prob):
    """conv_numba's algorithms that some op of this layer (forward, input and weight
    gradients) runs when forced: {name: [ops]}."""
    from tinygen.kernels import conv_algorithms_numba
    x, w, gy = prob["x"].shape, prob["w"].shape, prob["gy"].shape
    geometry = ((prob["s"],) * 2, (prob["p"],) * 2, (1, 1))
    if prob["kind"] == "conv":       # y = conv2d(x, w), gx = conv_transpose2d(gy, w), gw = W(x, gy)
        cases = [("conv2d", x, w, gy), ("conv_transpose2d", gy, w, x), ("conv2d_weight_grad", x, w, gy)]
    else:                            # y = conv_transpose2d(x, w), gx = conv2d(gy, w), gw = W(gy, x)
        cases = [("conv_transpose2d", x, w, gy), ("conv2d", gy, w, x), ("conv2d_weight_grad", gy, w, x)]
    names = {}
    for op, a, b, c in cases:
        for name in conv_algorithms_numba.applicable(op, a, b, c, *geometry):
            names.setdefault(name, []).append(op)
    return names


def forced(fn, name):
    """fn run with conv_numba's algorithm `name` forced wherever it applies."""
    from tinygen.settings import use_conv_algorithm

    def run(*args):
        with use_conv_algorithm(name):
            return fn(*args)
    return run


def algorithm_errors(prob, names):
    """{name: largest |fast - reference| / largest |reference|} over y, gx and gw of the layer."""
    from tinygen.kernels import implementation
    ref_fwd, ref_bwd = kernel_calls(implementation("conv", "cpu", "reference"), prob)
    want = (ref_fwd(),) + tuple(ref_bwd())
    fwd, bwd = kernel_calls(implementation("conv", "cpu", "fast"), prob)
    errors = {}
    for name in names:
        got = (forced(fwd, name)(),) + tuple(forced(bwd, name)())
        errors[name] = max(float(np.max(np.abs(g - r)) / max(float(np.max(np.abs(r))), 1e-30))
                           for g, r in zip(got, want))
    return errors


def torch_calls(torch, prob):
    F = torch.nn.functional
    x = torch.tensor(prob["x"], requires_grad=True)
    w = torch.tensor(prob["w"], requires_grad=True)
    gy = torch.tensor(prob["gy"])
    s, p = prob["s"], prob["p"]
    conv = (lambda x, w: F.conv2d(x, w, None, s, p)) if prob["kind"] == "conv" else \
        (lambda x, w: F.conv_transpose2d(x, w, None, s, p))

    def fwd():
        with torch.no_grad():
            return conv(x, w)

    def bwd(y):                                   # y = conv(x, w) with its graph, made untimed
        return torch.autograd.grad(y, (x, w), gy)

    return fwd, bwd, lambda: conv(x, w)


def pool_problem(pool):
    """Arrays and geometry of one pooling layer (float32), and the bytes a pass moves."""
    where, name, kind, N, C, H, W, k, s, p = pool
    x = np.random.default_rng(0).standard_normal((N, C, H, W), dtype=np.float32)
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    gy = np.random.default_rng(1).standard_normal((N, C, Ho, Wo), dtype=np.float32)
    index_bytes = 8 * gy.size if kind == "max" else 0      # int64 argmax, written then read
    return dict(kind=kind, x=x, gy=gy, k=(k, k), s=(s, s), p=(p, p),
                bytes_fwd=x.nbytes + gy.nbytes + index_bytes,
                bytes_bwd=gy.nbytes + x.nbytes + index_bytes)


def pool_calls(pool_kernels, prob, to=lambda a: a):
    """(forward, backward) closures on the kernel module `pool_kernels` (kernels/pool_*.py)."""
    x, gy = to(prob["x"]), to(prob["gy"])
    k, s, p, shape = prob["k"], prob["s"], prob["p"], prob["x"].shape
    if prob["kind"] == "max":
        _, idx = pool_kernels.max_pool2d(x, k, s, p)

        def fwd():
            return pool_kernels.max_pool2d(x, k, s, p)[0]

        def bwd():
            return pool_kernels.max_pool2d_backward(gy, idx, shape, k, s, p)
    else:
        def fwd():
            return pool_kernels.avg_pool2d(x, k, s, p)

        def bwd():
            return pool_kernels.avg_pool2d_backward(gy, shape, k, s, p)
    return fwd, bwd


def torch_pool_calls(torch, prob):
    F = torch.nn.functional
    x = torch.tensor(prob["x"], requires_grad=True)
    gy = torch.tensor(prob["gy"])
    pool = F.max_pool2d if prob["kind"] == "max" else F.avg_pool2d

    def fwd():
        with torch.no_grad():
            return pool(x, prob["k"], prob["s"], prob["p"])

    def bwd(y):                                   # y = pool(x) with its graph, made untimed
        return torch.autograd.grad(y, x, gy)

    return fwd, bwd, lambda: pool(x, prob["k"], prob["s"], prob["p"])


# One round: every row of one framework, in its own process. tinygen's implementations
# run where implementation(op, device, mode) puts them; PyTorch's in the torch child.
TINYGEN_IMPLEMENTATIONS = {"numpy": ("cpu", "reference"), "numba": ("cpu", "fast"), "cuda": ("cuda", "fast")}
TORCH_MISSING = "unavailable (torch not installed)"


def select(only):
    """The conv layers and the pooling layers that --only names (all of them without it)."""
    return ([layer for layer in LAYERS if only is None or layer[0] in only or only in layer[1]],
            [pool for pool in POOLS if only is None or only in pool[1]])


def min_seconds(quick):
    """How long each median_time runs at least (--quick: short)."""
    return 0.2 if quick else 1.0


def cuda_unavailable():
    """Why the cuda rows are not timed, or None where they are (a real GPU, never the simulator)."""
    from tinygen import backend
    if backend.gpu_available() and not backend.simulator_enabled():
        return None
    return "unavailable (no CuPy + CUDA GPU)"


def on_device(impl):
    """(to, sync) of one of tinygen's implementations: how its inputs reach its device, and
    how to wait for it."""
    if impl != "cuda":
        return (lambda a: a), (lambda: None)
    from tinygen import backend
    return (lambda a: backend.to_device(a, "cuda")), (lambda: backend.synchronize("cuda"))


def tinygen_layer_times(prob, min_time, skip_numpy_over=None, algorithms=False):
    """{impl: [fwd s, bwd s] or why not} of one conv layer for numpy, numba and cuda, and
    with `algorithms` every conv_numba algorithm that applies, forced ("numba:<name>")."""
    from tinygen.kernels import implementation
    times = {}
    for impl, (device, mode) in TINYGEN_IMPLEMENTATIONS.items():
        if impl == "cuda" and cuda_unavailable():
            times[impl] = cuda_unavailable()
        elif impl == "numpy" and skip_numpy_over and prob["macs"] > skip_numpy_over:
            times[impl] = "skipped (--quick)"
        else:
            to, sync = on_device(impl)
            fwd, bwd = kernel_calls(implementation("conv", device, mode), prob, to)
            times[impl] = [median_time(fwd, min_time, sync=sync), median_time(bwd, min_time, sync=sync)]
    if algorithms:
        fwd, bwd = kernel_calls(implementation("conv", "cpu", "fast"), prob)
        for name in layer_algorithms(prob):
            times[f"numba:{name}"] = [median_time(forced(fwd, name), min_time),
                                      median_time(forced(bwd, name), min_time)]
    return times


def tinygen_pool_times(prob, min_time):
    """{impl: [fwd s, bwd s] or why not} of one pooling layer for numpy, numba and cuda."""
    from tinygen.kernels import implementation
    times = {}
    for impl, (device, mode) in TINYGEN_IMPLEMENTATIONS.items():
        if impl == "cuda" and cuda_unavailable():
            times[impl] = cuda_unavailable()
            continue
        to, sync = on_device(impl)
        fwd, bwd = pool_calls(implementation("pool", device, mode), prob, to)
        times[impl] = [median_time(fwd, min_time, sync=sync), median_time(bwd, min_time, sync=sync)]
    return times


def tinygen_round(layers, pools, min_time, skip_numpy_over=None, algorithms=False):
    """tinygen's round, in this process: {"layers": {layer: {impl: times}}, "pools": ...}."""
    return {"layers": {layer[1]: tinygen_layer_times(layer_problem(layer), min_time, skip_numpy_over, algorithms)
                       for layer in layers},
            "pools": {pool[1]: tinygen_pool_times(pool_problem(pool), min_time) for pool in pools}}


def torch_round(layers, pools, min_time):
    """PyTorch's round, in the torch child: the layout of tinygen_round's with the one
    implementation "torch", and which torch ran on how many threads."""
    import torch
    times = {"layers": {}, "pools": {}, "torch": dict(version=torch.__version__, threads=torch.get_num_threads(),
                                                      process=TORCH_PROCESS)}
    for layer in layers:
        fwd, bwd, forward_with_graph = torch_calls(torch, layer_problem(layer))
        times["layers"][layer[1]] = {"torch": [median_time(fwd, min_time),
                                               median_time(bwd, min_time, setup=forward_with_graph)]}
    for pool in pools:
        fwd, bwd, forward_with_graph = torch_pool_calls(torch, pool_problem(pool))
        times["pools"][pool[1]] = {"torch": [median_time(fwd, min_time),
                                             median_time(bwd, min_time, setup=forward_with_graph)]}
    return times


def torch_child_argv(quick, only, threads, clock):
    """The command of PyTorch's process: this script with --torch-child and the options that
    say what to time; json_from_child runs it with the environment the user started us with."""
    return ([sys.executable, os.path.abspath(__file__), "--torch-child", "--clock", clock]
            + (["--quick"] if quick else []) + (["--only", only] if only else [])
            + (["--threads", str(threads)] if threads else []))


def torch_child(quick, only, threads, clock):
    """The torch child's whole run (tinygen is never imported): torch on --threads threads,
    else on every core as a user would set it, one round."""
    import torch
    torch.set_num_threads(threads or os.cpu_count() or 1)
    CLOCK[0] = CLOCKS[clock]
    return torch_round(*select(only), min_seconds(quick))


# The rows: each implementation's median over the rounds.

def gathered(rounds, section, name):
    """{impl: [[fwd s, bwd s] of each round] or why not} of one row ("layers" or "pools"
    `section`) over the rounds of both processes, torch after tinygen's three."""
    found = {}
    for timed in rounds:
        for impl, times in timed[section][name].items():
            if isinstance(times, str):
                found[impl] = times
            else:
                found.setdefault(impl, []).append(times)
    order = [impl for impl in IMPLEMENTATIONS if impl in found] + [i for i in found if i not in IMPLEMENTATIONS]
    return {impl: found[impl] for impl in order}


def over_rounds(times):
    """(median fwd s, median bwd s, {"rounds_ms": [[fwd ms, bwd ms] of each round]})."""
    return (statistics.median(f for f, _ in times), statistics.median(b for _, b in times),
            {"rounds_ms": [[f * 1e3, b * 1e3] for f, b in times]})


def layer_rows(layers, rounds, checks):
    """The table's conv rows; `checks`: {layer: {"numba:<name>": what algorithm_checks found}}."""
    rows = []
    for layer in layers:
        prob = layer_problem(layer)
        row = dict(model=layer[0], layer=layer[1], batch=prob["N"], gflop_fwd=2 * prob["macs"] / 1e9,
                   gflop_bwd=4 * prob["macs"] / 1e9, results={})
        for impl, times in gathered(rounds, "layers", layer[1]).items():
            if isinstance(times, str):
                row["results"][impl] = times
                continue
            t_fwd, t_bwd, per_round = over_rounds(times)
            check = checks.get(layer[1], {}).get(impl, {})
            row["results"][impl] = dict(_rates(row, t_fwd, t_bwd), **per_round, **check)
        rows.append(row)
    return rows


def _rates(row, t_fwd, t_bwd):
    return dict(fwd_ms=t_fwd * 1e3, bwd_ms=t_bwd * 1e3, gflops_fwd=row["gflop_fwd"] / t_fwd,
                gflops_fwd_bwd=(row["gflop_fwd"] + row["gflop_bwd"]) / (t_fwd + t_bwd))


def algorithm_checks(layers):
    """{layer: {"numba:<name>": {ops, max_rel_err}}}: the ops each forced algorithm runs in
    the layer, and its largest error against the numpy reference."""
    checks = {}
    for layer in layers:
        prob = layer_problem(layer)
        names = layer_algorithms(prob)
        errors = algorithm_errors(prob, names)
        checks[layer[1]] = {f"numba:{name}": dict(ops=ops, max_rel_err=errors[name]) for name, ops in names.items()}
    return checks


def pool_rows(pools, rounds):
    """The table's pool rows: milliseconds and GB/s of forward + backward."""
    rows = []
    for pool in pools:
        prob = pool_problem(pool)
        row = dict(model=pool[0], layer=pool[1], batch=pool[3], results={})
        for impl, times in gathered(rounds, "pools", pool[1]).items():
            if isinstance(times, str):
                row["results"][impl] = times
                continue
            t_fwd, t_bwd, per_round = over_rounds(times)
            row["results"][impl] = dict(fwd_ms=t_fwd * 1e3, bwd_ms=t_bwd * 1e3, **per_round,
                                        gbps=(prob["bytes_fwd"] + prob["bytes_bwd"]) / (t_fwd + t_bwd) / 1e9)
        rows.append(row)
    return rows


def bench_matmul(sizes, min_time):
    """BLAS against the blocked numba kernel; cuBLAS against the tiled numba.cuda kernel on a GPU."""
    from tinygen import backend
    from tinygen.kernels import matmul_numba
    gpu = backend.gpu_available() and not backend.simulator_enabled()
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        flops = 2 * n ** 3
        t_blas = median_time(lambda: matmul_numba.matmul(a, b), min_time)
        t_blocked = median_time(lambda: matmul_numba.matmul_blocked(a, b), min_time, max_repeat=5)
        row = dict(n=n, blas_gflops=flops / t_blas / 1e9, blocked_gflops=flops / t_blocked / 1e9,
                   blas_ms=t_blas * 1e3, blocked_ms=t_blocked * 1e3)
        if gpu:
            from tinygen.kernels import matmul_cuda
            da, db = backend.to_device(a, "cuda"), backend.to_device(b, "cuda")
            sync = lambda: backend.synchronize("cuda")  # noqa: E731
            row["cublas_gflops"] = flops / median_time(lambda: matmul_cuda.matmul(da, db), min_time, sync=sync) / 1e9
            row["tiled_cuda_gflops"] = flops / median_time(lambda: matmul_cuda.matmul_blocked(da, db), min_time,
                                                           sync=sync) / 1e9
        rows.append(row)
    return rows


def blas_info():
    try:
        import threadpoolctl
        return [{k: v for k, v in lib.items() if k in ("internal_api", "version", "architecture", "num_threads")}
                for lib in threadpoolctl.threadpool_info() if lib.get("user_api") == "blas"]
    except ImportError:
        return "threadpoolctl not installed"


def format_table(result):
    gemm = result["gemm_gflops"]
    torch = result["torch"]
    lines = [f"threads: {result['threads']}, clock: {result['clock']}, load average: "
             f"{', '.join(f'{v:.1f}' for v in result['load_average'])}",
             f"torch: {torch}" if isinstance(torch, str) else
             f"torch {torch['version']} on {torch['threads']} threads, in {torch['process']}",
             f"rounds: {result['rounds']} (tinygen's process, then torch's, alternating); "
             f"each time is the median over the rounds",
             f"NumPy float32 GEMM: " + ", ".join(f"n={n}: {r:.0f}" for n, r in result["gemm_by_n"].items())
             + f" GFLOP/s -> reference rate {gemm:.0f} GFLOP/s",
             "",
             f"{'model':<5} {'layer':<32} {'impl':<15} {'fwd ms':>8} {'bwd ms':>8} {'GFLOP/s':>8} {'of GEMM':>8}"]
    for row in result["layers"]:
        for impl, r in row["results"].items():
            if isinstance(r, str):
                lines.append(f"{row['model']:<5} {row['layer']:<32} {impl:<15} {r}")
                continue
            err = f"  err {r['max_rel_err']:.0e}" if "max_rel_err" in r else ""
            lines.append(f"{row['model']:<5} {row['layer']:<32} {impl:<15} {r['fwd_ms']:8.2f} {r['bwd_ms']:8.2f} "
                         f"{r['gflops_fwd_bwd']:8.1f} {r['gflops_fwd_bwd'] / gemm:8.0%}{err}")
    lines += ["", "GFLOP/s and 'of GEMM' are for forward + backward together.", "",
              f"{'matmul n':>9} {'BLAS GFLOP/s':>13} {'blocked numba':>14} {'BLAS/blocked':>13}"]
    for r in result["matmul"]:
        gpu = (f"   cuBLAS {r['cublas_gflops']:.0f}, tiled numba.cuda {r['tiled_cuda_gflops']:.0f}"
               if "cublas_gflops" in r else "   (GPU: unavailable)")
        lines.append(f"{r['n']:>9} {r['blas_gflops']:13.1f} {r['blocked_gflops']:14.1f} "
                     f"{r['blas_gflops'] / r['blocked_gflops']:13.1f}{gpu}")
    if result.get("pools"):
        lines += ["", f"{'pool':<12} {'layer':<24} {'impl':<8} {'fwd ms':>8} {'bwd ms':>8} {'GB/s':>7}"]
        for row in result["pools"]:
            for impl, r in row["results"].items():
                lines.append(f"{row['model']:<12} {row['layer']:<24} {impl:<8} " + (
                    r if isinstance(r, str) else
                    f"{r['fwd_ms']:8.2f} {r['bwd_ms']:8.2f} {r['gbps']:7.1f}"))
        lines.append("GB/s: bytes read and written by forward + backward over their time.")
    for line in result.get("summary", []):
        lines.append(line)
    return "\n".join(lines)


def summary(result):
    """The issue's targets, for B3's 3x3 64->64 layer; torch/numba is the median of the
    per-round ratios."""
    out = []
    for row in result["layers"]:
        if row["layer"].startswith("3x3 64->64"):
            numba, torch = row["results"].get("numba"), row["results"].get("torch")
            if isinstance(numba, dict):
                out.append(f"\nB3 3x3 64->64, batch {row['batch']}, numba fwd+bwd: "
                           f"{numba['gflops_fwd_bwd']:.0f} GFLOP/s = "
                           f"{numba['gflops_fwd_bwd'] / result['gemm_gflops']:.0%} of the GEMM rate (target >= 70%)")
                if isinstance(torch, dict):
                    ratios = [sum(t) / sum(n) for t, n in zip(torch["rounds_ms"], numba["rounds_ms"])]
                    spread = f", rounds {min(ratios):.2f} .. {max(ratios):.2f}" if len(ratios) > 1 else ""
                    out.append(f"  vs torch: {numba['fwd_ms'] + numba['bwd_ms']:.1f} ms against "
                               f"{torch['fwd_ms'] + torch['bwd_ms']:.1f} ms (torch/numba time = "
                               f"{statistics.median(ratios):.2f}{spread}; target > 1)")
    return out


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = result["layers"]
    impls = [i for i in IMPLEMENTATIONS if any(isinstance(r["results"].get(i), dict) for r in rows)]
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / max(1, len(impls))
    for j, impl in enumerate(impls):
        values = [r["results"][impl]["gflops_fwd_bwd"] if isinstance(r["results"].get(impl), dict) else 0
                  for r in rows]
        ax.bar(np.arange(len(rows)) + (j - (len(impls) - 1) / 2) * width, values, width, label=impl)
    ax.axhline(result["gemm_gflops"], color="k", ls="--", lw=1, label="NumPy float32 GEMM")
    ax.set_xticks(np.arange(len(rows)))
    ax.set_xticklabels([f"{r['model']} {r['layer']}" for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("GFLOP/s (forward + backward)")
    ax.set_title("conv layers of B2-B4: forward + backward rate by implementation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out="bench_out/kernels", quick=False, only=None, threads=None, clock="wall", algorithms=False,
        rounds=1):
    min_time = min_seconds(quick)
    CLOCK[0] = CLOCKS[clock]
    THREADS[0] = threads
    keep = limit_threads(threads) if threads else None  # noqa: F841  (the limits hold while it lives)
    layers, pools = select(only)
    with_torch = torch_available()
    gemm_before, _ = gemm_rate(min_time=min_time)
    timed = []
    for _ in range(rounds):          # tinygen's round in this process, then torch's in a fresh one
        timed.append(tinygen_round(layers, pools, min_time, 5e8 if quick else None, algorithms))
        if with_torch:
            timed.append(json_from_child(torch_child_argv(quick, only, threads, clock)))
    if not with_torch:
        timed.append({"layers": {layer[1]: {"torch": TORCH_MISSING} for layer in layers},
                      "pools": {pool[1]: {"torch": TORCH_MISSING} for pool in pools}})
    result = dict(
        blas=blas_info(), cpu_count=os.cpu_count(),
        threads=threads or "default (all cores)", clock=clock, load_average=os.getloadavg(),
        openblas_env={k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
        rounds=rounds, torch=next((t["torch"] for t in timed if "torch" in t), TORCH_MISSING),
        layers=layer_rows(layers, timed, algorithm_checks(layers) if algorithms else {}),
        matmul=bench_matmul((256, 512) if quick else (256, 512, 1024), min_time),
        pools=pool_rows(pools, timed))
    # the GEMM rate is measured before and after the layers; the better of the two is the
    # machine's (other jobs on a shared machine only ever slow it down)
    gemm_after, _ = gemm_rate(min_time=min_time)
    result["gemm_by_n"] = {n: max(gemm_before[n], gemm_after[n]) for n in gemm_before}
    result["gemm_gflops"] = max(result["gemm_by_n"].values())
    result["summary"] = summary(result)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench_kernels.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    plot(result, os.path.join(out, "bench_kernels.png"))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_out/kernels", help="directory for the JSON and the PNG")
    parser.add_argument("--quick", action="store_true", help="short timings, skip slow numpy rows")
    parser.add_argument("--only", default=None, help="B2, B3, B4, or part of a layer's name")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for BLAS and tinygen's kernels, and torch.set_num_threads in torch's process")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or the process's CPU time (meaningful with --threads 1)")
    parser.add_argument("--algorithms", action="store_true",
                        help="also time every conv_numba algorithm that applies, forced, checked against numpy")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of tinygen's process then torch's, alternating; medians over them")
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_child:
        print(json.dumps(torch_child(args.quick, args.only, args.threads, args.clock)))
        return 0
    result = run(args.out, args.quick, args.only, args.threads, args.clock, args.algorithms, args.rounds)
    print(format_table(result))
    print(f"\nwrote {os.path.join(args.out, 'bench_kernels.json')} and bench_kernels.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
