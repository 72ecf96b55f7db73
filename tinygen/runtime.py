"""Process-wide settings that make a 2-core machine fast, applied when tinygen is imported.

Training alternates numba's parallel loops with BLAS calls (OpenBLAS, NumPy's) many times per
step, and allocates and frees activations of megabytes each. Three defaults of the libraries
underneath cost a lot in that pattern, measured on B1-B4 (benchmarks/bench_models.py):

- BLAS runs on one thread (OPENBLAS_NUM_THREADS=1 before NumPy loads, and threadpoolctl's
  limit where NumPy was imported first or links another BLAS): tinygen splits its large
  products and convolutions over its own worker threads instead (tinygen/kernels/threads.py
  tells the measured story). This applies to the whole process: a NumPy product in your own
  code is single-threaded too after `import tinygen`. TINYGEN_BLAS_THREADS=keep leaves
  BLAS's threads alone (and then the two pools compete, as measured there).
- OMP_WAIT_POLICY=PASSIVE: numba's OpenMP threads otherwise spin after each parallel loop,
  stealing the cores the next kernel needs (a conv forward 1.5-2x slower).
- glibc's malloc returns every freed block over 128 KiB-32 MiB to the kernel (mmap/munmap),
  so each new activation costs page faults: about 13,000 per B3 step (50 ms of system time).
  `keep_freed_memory` makes it keep freed memory for reuse, as PyTorch's CPU allocator does.

Tried and rejected: OPENBLAS_THREAD_TIMEOUT (OpenBLAS's workers spin 2**28 cycles after each
call, competing with numba's copies). Shorter spins cut B3's CPU time by a quarter, but a
sleeping OpenBLAS worker then sometimes took milliseconds to wake: the 3x3 conv's GEMM fell
from 190 to 6-17 GFLOP/s in some runs. The default stays.

The environment variables only take effect if set before NumPy and numba's thread pool start
(a value the user set is never overridden); tinygen/__init__.py calls `limit_blas_threads`
after NumPy is loaded for the case where it was imported first. TINYGEN_KEEP_FREED_MEMORY=0 turns the malloc
setting off.
"""
import ctypes
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
OWN_BLAS_THREADS = os.environ.get("TINYGEN_BLAS_THREADS", "one") != "keep"
if OWN_BLAS_THREADS:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3      # mallopt parameters, glibc's malloc.h
_MMAP_THRESHOLD_MAX = 32 << 20                      # glibc's ceiling on 64-bit systems


def keep_freed_memory():
    """Ask glibc to serve blocks up to 32 MiB from its heap and not give freed memory back.

    Returns True where it applied (Linux with glibc); elsewhere it does nothing. Memory
    freed by one step is then reused by the next without page faults; the process keeps its
    peak heap size, as a training loop would anyway.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):       # musl and other libcs have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
                and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def limit_blas_threads():
    """BLAS on one thread, for every BLAS library loaded now (threadpoolctl). Returns the
    libraries' thread counts after the call ([] where none is loaded)."""
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(limits=1, user_api="blas")
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


if os.environ.get("TINYGEN_KEEP_FREED_MEMORY", "1") != "0":
    keep_freed_memory()
