"""tinygen's own worker threads: inside a kernel BLAS runs on one thread, tinygen splits the work.

A training step alternates, hundreds of times, between numba's copy loops and BLAS products.
Left to themselves, the two libraries each keep a pool of threads, and OpenBLAS's idle
workers spin for about 0.1 s after every call before they sleep. On a 2-core machine the
spinning worker then holds one core while numba copies: measured, numba's second thread
added nothing to the copies, and a B3 step used 0.63-0.84 s of CPU for 0.31-0.42 s of wall
time. So tinygen owns the parallelism inside its kernels instead:

- while a kernel runs, BLAS is limited to one thread (`blas_on_one_thread`, threadpoolctl's
  controllers; the previous count is restored when the kernel returns, so BLAS's threads are
  never woken by tinygen and the user's own NumPy products keep them);
- a big kernel (a convolution over a batch, a large matrix product) is split into one slice
  per worker thread, and each worker does all of its slice's work, copies (numba loops that
  release the GIL) and products (single-threaded BLAS, which releases it too). The workers
  never wait for each other until the end.

Measured on B2-B4 against the two-pool version, same machine, alternating runs: B3 276-280
ms a step against 313-419 ms, with 0.46-0.49 s of CPU a step instead of 0.63-0.84 s.

    workers()              how many threads share a kernel: tinygen.runtime.get_num_threads()
    over_slices(n, part)   part(lo, hi) on consecutive slices of range(n), one per worker, BLAS
                           on one thread; the calling thread does the first; the results in order
    blas_on_one_thread()   the context manager that over_slices enters

OpenBLAS (0.3.31 here) runs narrow GEMMs about 3x slower on a work buffer whose first GEMM
was narrow (measured, cause inside OpenBLAS unknown): (25, 128, 256) @ (25, 256, 128) 21 ms
against 6.6 ms once a GEMM with 512 columns or more (any dtype) has run on it, for good.
OpenBLAS keeps one buffer per GEMM running at the same time, so the first
blas_on_one_thread runs one such GEMM (about 0.3 ms), and the first over_slices on n
workers one on each of them at once. The Winograd algorithms' GEMMs are that narrow: a B2
step (tinygen alone, 3 alternating pairs) 234-242 ms without the first, 209-221 with it;
B4 (whose first layers run wide GEMMs) 70-72 either way.
"""
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tinygen import runtime

_pool = [None, 0]                # the executor, and how many threads it has
_warm = [1]                      # how many BLAS buffers have been warmed up (see the docstring)
_warming = threading.Lock()      # held while they are
_inside = threading.local()      # .worker in the pool's threads (a nested split runs inline),
#                                  .blas while the calling thread holds BLAS on one thread
_blas = []                       # threadpoolctl's controllers of the BLAS libraries, found once
#                                  (and, once found, BLAS warmed up: see the docstring)


def workers():
    """Threads that share one kernel: tinygen.runtime.get_num_threads() (all cores unless set)."""
    return runtime.get_num_threads()


def over_slices(n, part, min_slice=1):
    """[part(lo, hi) for consecutive slices of range(n)], one slice per worker thread, with
    BLAS on one thread meanwhile. Slices have at least `min_slice` items (fewer workers are
    used for a small n)."""
    if getattr(_inside, "worker", False):
        return [part(0, n)]
    count = max(1, min(workers(), n // max(1, min_slice)))
    with blas_on_one_thread():
        if count == 1:
            return [part(0, n)]
        if _pool[1] < count - 1:
            _pool[0] = ThreadPoolExecutor(count - 1, thread_name_prefix="tinygen",
                                          initializer=_mark_worker)
            _pool[1] = count - 1
        if _warm[0] < count:
            _warm_up_buffers(count)
        bounds = [n * k // count for k in range(count + 1)]
        futures = [_pool[0].submit(part, bounds[k], bounds[k + 1]) for k in range(1, count)]
        first = part(bounds[0], bounds[1])
        return [first] + [f.result() for f in futures]


@contextlib.contextmanager
def blas_on_one_thread():
    """Inside the block BLAS runs on one thread; after it, on as many as before.

    Nested blocks (a kernel calling a kernel) change nothing. BLAS's thread count is one
    setting for the whole process, so a product that another thread of yours runs meanwhile
    is single-threaded too."""
    if getattr(_inside, "blas", False):
        yield
        return
    first = not _blas
    if first:
        from threadpoolctl import ThreadpoolController
        _blas.append(ThreadpoolController().select(user_api="blas").lib_controllers)
    before = [lib.get_num_threads() for lib in _blas[0]]
    for lib, threads in zip(_blas[0], before):
        if threads != 1:
            lib.set_num_threads(1)
    if first:
        _wide_gemm()
    _inside.blas = True
    try:
        yield
    finally:
        _inside.blas = False
        for lib, threads in zip(_blas[0], before):
            if threads != 1:
                lib.set_num_threads(threads)


def _wide_gemm():
    """One GEMM with 512 columns and more: it leaves OpenBLAS's buffer fast (see the docstring)."""
    np.matmul(np.ones((128, 256), np.float32), np.ones((256, 2048), np.float32))


def _warm_up_buffers(count):
    """A wide GEMM on each of `count` threads at once (the caller and the pool's), so that
    OpenBLAS warms `count` buffers, one per GEMM running at the same time. One caller at a
    time; a barrier that times out (the pool busy with another caller's work) only skips
    the warm-up."""
    with _warming:
        if _warm[0] >= count:
            return
        start = threading.Barrier(count, timeout=1.0)

        def warm():
            try:
                start.wait()
            except threading.BrokenBarrierError:
                return
            _wide_gemm()

        futures = [_pool[0].submit(warm) for _ in range(count - 1)]
        warm()
        for f in futures:
            f.result()
        _warm[0] = count


def _mark_worker():
    _inside.worker = True
