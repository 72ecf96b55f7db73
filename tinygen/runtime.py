"""Process-wide tuning, and why tinygen needs none for speed: nothing here runs at import.

`import tinygen` changes nothing outside tinygen: no environment variables, no BLAS thread
limits, no allocator settings. And a plain script gets tinygen's full speed without asking,
because what a training step needs is done inside tinygen's own kernels, scoped to each call
(tinygen/kernels/threads.py and common.py tell the measured stories):

- the CPU kernels run on tinygen's own worker threads, which block on a lock when idle; no
  kernel uses numba's parallel loops, whose OpenMP threads spin after each loop on the core
  the next kernel needs (they once made a plain script 1.5-2x slower than one that had set
  OMP_WAIT_POLICY=PASSIVE) and cannot survive a fork;
- inside a kernel BLAS runs on one thread while tinygen splits the work, and BLAS's thread
  count is restored when the kernel returns, so your own NumPy products keep BLAS's threads;
- the kernels take their big outputs from a pool of their own (a caching allocator, as
  PyTorch's), so a step's activations do not page-fault as fresh memory each time.

    configure()          optional process-wide tuning (below); no longer needed for speed
    keep_freed_memory()  its malloc part

How many worker threads the kernels use is a setting, tinygen/settings.py's (tg.set_num_threads,
as torch's); get_num_threads and set_num_threads are importable from here too.

configure() is what the CLI calls: glibc's malloc keeps freed blocks up to 32 MiB for reuse
instead of returning each one over 128 KiB to the kernel. The kernels' pool already does this
for their own outputs; configure() extends it to every NumPy array of the process (it is a
setting of the whole process, so tinygen never makes it on import). Measured with the pool:
a plain script and a configured one within a few percent on B1-B4 (benchmarks/bench_models.py
prints both).

Tried and rejected: OPENBLAS_THREAD_TIMEOUT (OpenBLAS's workers spin 2**28 cycles after each
call, competing with numba's copies). Shorter spins cut B3's CPU time by a quarter, but a
sleeping OpenBLAS worker then sometimes took milliseconds to wake: the 3x3 conv's GEMM fell
from 190 to 6-17 GFLOP/s in some runs.
"""
import ctypes
import sys

from tinygen.settings import get_num_threads, set_num_threads  # noqa: F401

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3      # mallopt parameters, glibc's malloc.h
_MMAP_THRESHOLD_MAX = 32 << 20                      # glibc's ceiling on 64-bit systems


def configure(num_threads=None, malloc=True):
    """Process-wide tuning for a training process (the CLI calls it): keeps freed memory for
    reuse (glibc; malloc=False leaves malloc alone) and, given num_threads, set_num_threads.
    Returns what it did, e.g. {"keep_freed_memory": True, "num_threads": 2}."""
    done = {}
    if malloc:
        done["keep_freed_memory"] = keep_freed_memory()
    if num_threads is not None:
        set_num_threads(num_threads)
        done["num_threads"] = num_threads
    return done


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
