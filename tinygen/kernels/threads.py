"""tinygen's own worker threads: BLAS runs on one thread, tinygen splits the big kernels.

A training step alternates, hundreds of times, between numba's parallel copy loops and BLAS
products. Left to themselves, the two libraries each keep a pool of threads, and OpenBLAS's
idle workers spin for about 0.1 s after every call before they sleep. On a 2-core machine
the spinning worker then holds one core while numba copies: measured, numba's second thread
added nothing to the copies, and a B3 step used 0.63-0.84 s of CPU for 0.31-0.42 s of wall
time. So tinygen owns the parallelism instead:

- BLAS is limited to one thread for the whole process (tinygen/runtime.py), so no BLAS
  thread ever spins;
- a big kernel (a convolution over a batch, a large matrix product) is split into one slice
  per worker thread, and each worker does all of its slice's work, copies (numba loops that
  release the GIL) and products (single-threaded BLAS, which releases it too). The workers
  never wait for each other until the end.

Measured on B2-B4 against the two-pool version, same machine, alternating runs: B3 276-280
ms a step against 313-419 ms, with 0.46-0.49 s of CPU a step instead of 0.63-0.84 s.

    workers()              how many threads share a kernel: numba's thread count (the cores)
    over_slices(n, part)   part(lo, hi) on consecutive slices of range(n), one per worker;
                           the calling thread does the first; returns the results in order
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

from tinygen import runtime

_pool = [None, 0]                # the executor, and how many threads it has
_inside = threading.local()      # set in the pool's threads: a nested split runs inline


def workers():
    """Threads that share one kernel: numba's thread count (all cores unless set lower).

    One where BLAS keeps its own threads (TINYGEN_BLAS_THREADS=keep): each kernel then runs in
    the calling thread, its products on BLAS's threads."""
    return max(1, numba.get_num_threads()) if runtime.OWN_BLAS_THREADS else 1


def over_slices(n, part, min_slice=1):
    """[part(lo, hi) for consecutive slices of range(n)], one slice per worker thread.

    Slices have at least `min_slice` items (fewer workers are used for a small n)."""
    count = max(1, min(workers(), n // max(1, min_slice)))
    if count == 1 or getattr(_inside, "worker", False):
        return [part(0, n)]
    if _pool[1] < count - 1:
        _pool[0] = ThreadPoolExecutor(count - 1, thread_name_prefix="tinygen",
                                      initializer=_mark_worker)
        _pool[1] = count - 1
    bounds = [n * k // count for k in range(count + 1)]
    futures = [_pool[0].submit(part, bounds[k], bounds[k + 1]) for k in range(1, count)]
    first = part(bounds[0], bounds[1])
    return [first] + [f.result() for f in futures]


def _mark_worker():
    _inside.worker = True
