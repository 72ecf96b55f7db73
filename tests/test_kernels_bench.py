"""benchmarks/bench_kernels.py without the timing: its problems, closures, table, JSON-able result
and chart work, and PyTorch's rows come from a process of its own with the user's environment
(the numbers themselves come from running it, not from the test suite)."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinygen.kernels import implementation

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def bench():
    path = os.path.join(HERE, "..", "benchmarks", "bench_kernels.py")
    spec = importlib.util.spec_from_file_location("bench_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_closures_compute_the_layer_and_its_gradients(bench):
    """Every layer's fwd/bwd closures give the shapes of y, gx and gw (batch cut to 1)."""
    conv = implementation("conv", "cpu", "reference")
    for layer in bench.LAYERS:
        prob = bench.layer_problem(layer, batch_scale=0.0)          # N = 1
        fwd, bwd = bench.kernel_calls(conv, prob)
        y = fwd()
        gx, gw = bwd()
        assert y.shape == prob["gy"].shape, layer
        assert gx.shape == prob["x"].shape and gw.shape == prob["w"].shape, layer


def test_every_algorithm_of_every_layer_equals_reference(bench):
    """--algorithms: each conv_numba algorithm a layer can run, forced, equals the numpy
    reference on that layer (batch cut to 1, float32), and every name of the table is covered."""
    from tinygen.kernels import conv_algorithms_numba
    seen = set()
    for layer in bench.LAYERS:
        prob = bench.layer_problem(layer, batch_scale=0.0)
        names = bench.layer_algorithms(prob)
        assert {"phases", "col2im"} <= set(names), layer
        for name, err in bench.algorithm_errors(prob, names).items():
            assert err < 1e-5, (layer, name, err)
        seen |= set(names)
    assert seen == set(conv_algorithms_numba.NAMES)


def test_flop_counts_match_benchmarks_md(bench):
    """B3's conv layers in docs/benchmarks.md: 2 * 3 * MACs per step for the 3x3 64->64 layers."""
    macs = {layer[1]: bench.layer_problem(layer)["macs"] for layer in bench.LAYERS}
    assert macs["3x3 64->64 28x28"] == 32 * 64 * 28 * 28 * 64 * 9
    assert macs["G convT 128->64 4x4 s2 7->14"] == 64 * 128 * 7 * 7 * 64 * 16


def test_table_summary_and_chart(bench, tmp_path):
    timing = dict(fwd_ms=20.0, bwd_ms=40.0, gflops_fwd=92.5, gflops_fwd_bwd=92.5, rounds_ms=[[20.0, 40.0]])
    result = dict(
        gemm_by_n={1024: 150.0, 2048: 160.0}, gemm_gflops=160.0, threads=1, clock="cpu",
        load_average=(0.5, 0.5, 0.5), rounds=1,
        torch=dict(version="2.13.0+cpu", threads=1, process=bench.TORCH_PROCESS),
        layers=[dict(model="B3", layer="3x3 64->64 28x28", batch=32, gflop_fwd=1.85, gflop_bwd=3.7,
                     results={"numpy": timing, "numba": timing, "cuda": "unavailable (no GPU)",
                              "torch": dict(timing, fwd_ms=10.0, bwd_ms=20.0, rounds_ms=[[10.0, 20.0]])})],
        matmul=[dict(n=256, blas_gflops=100.0, blocked_gflops=10.0, blas_ms=1.0, blocked_ms=10.0)])
    result["summary"] = bench.summary(result)
    assert "58% of the GEMM rate" in result["summary"][0]
    assert "torch/numba time = 0.50" in result["summary"][1]
    table = bench.format_table(result)
    assert "unavailable (no GPU)" in table and "BLAS/blocked" in table
    assert "torch 2.13.0+cpu on 1 threads, in a fresh process of its own" in table
    json.dumps(result)
    bench.plot(result, str(tmp_path / "chart.png"))
    assert (tmp_path / "chart.png").stat().st_size > 1000
    np.testing.assert_allclose(timing["gflops_fwd_bwd"] / result["gemm_gflops"], 0.578, atol=1e-3)


def test_pool_closures_equal_the_reference_and_fill_the_table(bench):
    """Every pool row's numba closures compute what the numpy reference does (batch cut to
    2), and the table shows the pool section."""
    numpy_pool, numba_pool = implementation("pool", "cpu", "reference"), implementation("pool", "cpu", "fast")
    for pool in bench.POOLS:
        small = pool[:3] + (2,) + pool[4:]
        prob = bench.pool_problem(small)
        for ref, fast in zip(bench.pool_calls(numpy_pool, prob), bench.pool_calls(numba_pool, prob)):
            np.testing.assert_allclose(fast(), ref(), rtol=1e-6, atol=1e-6)
        y = bench.pool_calls(numba_pool, prob)[0]()
        assert y.shape == prob["gy"].shape, pool
    timing = dict(fwd_ms=1.0, bwd_ms=2.0, gbps=5.0)
    result = dict(gemm_by_n={1024: 100.0}, gemm_gflops=100.0, threads=1, clock="cpu",
                  load_average=(0.5, 0.5, 0.5), rounds=1, torch=bench.TORCH_MISSING, layers=[], matmul=[],
                  pools=[dict(model="classifier", layer=bench.POOLS[0][1], batch=64,
                              results={"numpy": timing, "numba": timing, "cuda": "unavailable"})])
    table = bench.format_table(result)
    assert bench.POOLS[0][1] in table and "GB/s" in table and "unavailable" in table


def test_rows_take_medians_over_alternating_rounds(bench):
    """Three rounds of each process: a row shows each implementation's median forward and
    backward, torch in its column before the forced algorithms, and the summary's torch/numba
    is the median of the per-round ratios (not the ratio of the medians)."""
    name = "3x3 64->64 28x28"
    layer = next(layer for layer in bench.LAYERS if layer[1] == name)
    numba = [[0.010, 0.020], [0.030, 0.050], [0.020, 0.040]]         # s; ratios below 1, 0.5, 1.5
    torch = [[0.010, 0.020], [0.010, 0.030], [0.030, 0.060]]
    rounds = []
    for ours, theirs in zip(numba, torch):
        rounds.append({"layers": {name: {"numpy": "skipped (--quick)", "numba": ours,
                                         "numba:im2col": ours}}, "pools": {}})
        rounds.append({"layers": {name: {"torch": theirs}}, "pools": {}})
    checks = {name: {"numba:im2col": dict(ops=["conv2d"], max_rel_err=1e-7)}}
    (row,) = bench.layer_rows([layer], rounds, checks)
    assert list(row["results"]) == ["numpy", "numba", "torch", "numba:im2col"]
    assert row["results"]["numpy"] == "skipped (--quick)"
    got = row["results"]["numba"]
    assert (got["fwd_ms"], got["bwd_ms"]) == pytest.approx((20.0, 40.0))
    np.testing.assert_allclose(got["rounds_ms"], [[10.0, 20.0], [30.0, 50.0], [20.0, 40.0]])
    assert row["results"]["numba:im2col"]["max_rel_err"] == 1e-7
    result = dict(layers=[row], gemm_gflops=1000.0)
    line = bench.summary(result)[1]
    assert "torch/numba time = 1.00, rounds 0.50 .. 1.50" in line, line


def test_torch_child_command_carries_the_users_flags_and_environment(bench, monkeypatch):
    """The torch child is this script with --torch-child and the options that say what to
    time (--threads only where the user gave it); it runs with the environment recorded when
    the benchmark started, so a variable set in the benchmark's process later (as tinygen
    might set one) never reaches it."""
    argv = bench.torch_child_argv(quick=True, only="B2", threads=1, clock="cpu")
    assert argv[:3] == [sys.executable, os.path.abspath(bench.__file__), "--torch-child"]
    assert " ".join(argv[3:]) == "--clock cpu --quick --only B2 --threads 1"
    assert "--threads" not in bench.torch_child_argv(quick=False, only=None, threads=None, clock="wall")
    import fresh_process                          # bench_kernels' first import: records the environment
    names = ("OMP_NUM_THREADS", "TINYGEN_KERNELS", "TINYGEN_CONV_ALGO")
    for variable in names:
        monkeypatch.setenv(variable, "set-after-start")
    seen = bench.json_from_child([sys.executable, "-c", "import json, os; "
                                  f"print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"])
    assert seen == {k: fresh_process.USER_ENV.get(k) for k in names}
    assert "set-after-start" not in seen.values()


def test_torch_child_times_torch_without_importing_tinygen(bench):
    """A real torch child on one small layer: it times torch on the threads asked for, and
    no tinygen module is ever imported in its process (python -X importtime lists them all)."""
    pytest.importorskip("torch")
    import fresh_process
    argv = bench.torch_child_argv(quick=True, only="1x1 64->1", threads=1, clock="wall")
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=fresh_process.USER_ENV,
                          capture_output=True, text=True, timeout=60, check=True)
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "torch" in imported
    assert not [m for m in imported if m == "tinygen" or m.startswith("tinygen.")]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(out["layers"]) == ["1x1 64->1 28x28"] and out["pools"] == {}
    assert all(t > 0 for t in out["layers"]["1x1 64->1 28x28"]["torch"])
    assert out["torch"]["threads"] == 1 and "fresh process" in out["torch"]["process"]
