"""Every GPU library tinygen uses, one line each (run by benchmarks/gpu_check.sh on a GPU).

    python benchmarks/gpu_probe.py       (from the repository root, simulator off)

Prints `ok` or `FAIL` per check, then `NEED=<tags>`; checks() returns the same as a dict
(benchmarks/gpu_bench.py's probe step records it): ctk (CuPy's CUDA libraries missing:
cupy-cuda12x[ctk]), ptx (numba-cuda's PTX newer than the driver), numba (numba-cuda broken),
tinygen (tinygen's own probe or draws failing). Exits 0 even when checks fail: the calling
script reads NEED and reports.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # this checkout's tinygen


def checks():
    """({check: 'ok' | 'FAIL: why'}, sorted need tags), printing one line per check."""
    need, found = set(), {}

    def check(name, fn, tag=None):
        try:
            fn()
            print(f"  ok    {name}")
            found[name] = "ok"
        except Exception as e:  # noqa: BLE001  (report and go on)
            text = f"{type(e).__name__}: {e}"
            print(f"  FAIL  {name}: {text.splitlines()[0][:300]}")
            found[name] = "FAIL: " + text.splitlines()[0][:300]
            if tag == "numba" and ("PTX" in text or ".version" in text):
                tag = "ptx"   # NVVM newer than the driver (NVIDIA/numba-cuda#120, #262)
            if tag:
                need.add(tag)

    import cupy as cp
    from numba import cuda

    def launch():
        @cuda.jit
        def inc(a):
            i = cuda.grid(1)
            if i < a.size:
                a[i] += 1
        a = cp.zeros(64, cp.float32)
        inc[1, 64](a)
        assert float(a.sum()) == 64

    f32 = cp.float32
    check("cupy sees a device", lambda: cp.cuda.runtime.getDeviceCount() > 0 or 1 / 0)
    check("cupy elementwise kernel (NVRTC)", lambda: float((cp.arange(4, dtype=f32) * 2).sum()), "ctk")
    check("cupy.matmul (cuBLAS)", lambda: (cp.ones((64, 64), f32) @ cp.ones((64, 64), f32)).get(), "ctk")
    check("cupy.linalg.cholesky (cuSOLVER)", lambda: cp.linalg.cholesky(cp.eye(3)).get(), "ctk")
    check("cupy.random.default_rng (cuRAND)",
          lambda: cp.random.default_rng(0).standard_normal(8, dtype=f32).get(), "ctk")
    check("numba.cuda.is_available()", lambda: cuda.is_available() or 1 / 0, "numba")
    check("numba.cuda kernel on a CuPy array", launch, "numba")

    import tinygen as tg

    def tinygen_probe():
        if not tg.backend.gpu_available():
            raise RuntimeError(tg.cuda.why_unavailable())

    def tinygen_draws():   # only CuPy's Generator methods, in float32, on the device
        for t in (tg.randn(8, device="cuda"), tg.empty(8, device="cuda").normal_(0, 2),
                  tg.nn.init.normal_(tg.empty(8, device="cuda"), 0.0, 0.02),
                  tg.nn.functional.dropout(tg.ones(8, device="cuda"), 0.5)):
            assert t.dtype == "float32" and type(t.array).__module__.startswith("cupy"), t
        assert sorted(tg.randperm(9, device="cuda").tolist()) == list(range(9))

    check("tg.cuda.is_available() probe (kernel + cuBLAS)", tinygen_probe, "tinygen")
    check("tinygen draws on cuda (randn, normal_, init.normal_, dropout, randperm)",
          tinygen_draws, "tinygen")
    return found, sorted(need)


def main():
    need = checks()[1]
    print("NEED=" + ",".join(need))


if __name__ == "__main__":
    main()
