"""benchmarks/bench_kernels.py without the timing: its problems, closures, table, JSON-able result
and chart work (the numbers themselves come from running it, not from the test suite)."""
import importlib.util
import json
import os

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
    timing = dict(fwd_ms=20.0, bwd_ms=40.0, gflops_fwd=92.5, gflops_fwd_bwd=92.5)
    result = dict(
        gemm_by_n={1024: 150.0, 2048: 160.0}, gemm_gflops=160.0, threads=1, clock="cpu",
        load_average=(0.5, 0.5, 0.5),
        layers=[dict(model="B3", layer="3x3 64->64 28x28", batch=32, gflop_fwd=1.85, gflop_bwd=3.7,
                     results={"numpy": timing, "numba": timing, "cuda": "unavailable (no GPU)",
                              "torch": dict(timing, fwd_ms=10.0, bwd_ms=20.0)})],
        matmul=[dict(n=256, blas_gflops=100.0, blocked_gflops=10.0, blas_ms=1.0, blocked_ms=10.0)])
    result["summary"] = bench.summary(result)
    assert "58% of the GEMM rate" in result["summary"][0]
    assert "torch/numba time = 0.50" in result["summary"][1]
    table = bench.format_table(result)
    assert "unavailable (no GPU)" in table and "BLAS/blocked" in table
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
                  load_average=(0.5, 0.5, 0.5), layers=[], matmul=[],
                  pools=[dict(model="classifier", layer=bench.POOLS[0][1], batch=64,
                              results={"numpy": timing, "numba": timing, "cuda": "unavailable"})])
    table = bench.format_table(result)
    assert bench.POOLS[0][1] in table and "GB/s" in table and "unavailable" in table
