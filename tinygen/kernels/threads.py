"""tinygen's own worker threads: inside a kernel BLAS runs on one thread, tinygen splits the work.

A training step alternates, hundreds of times, between numba's copy loops and BLAS products.
Left to themselves, the two libraries each keep a pool of threads, and OpenBLAS's idle
workers spin for about 0.1 s after every call before they sleep. On a 2-core machine the
spinning worker then holds one core while numba copies: measured, numba's second thread
added nothing to the copies, and a B3 step used 0.63-0.84 s of CPU for 0.31-0.42 s of wall
time. So tinygen owns the parallelism inside its kernels instead:

- while a kernel runs, BLAS is limited to one thread (`blas_on_one_thread`, threadpoolctl's
  controllers, or OpenBLAS's own two C calls where threadpoolctl finds them; the previous
  count is restored when the kernel returns, so BLAS's threads are never woken by tinygen
  and the user's own NumPy products keep them);
- a big kernel (a convolution over a batch, a large matrix product) is split into one slice
  per worker thread, and each worker does all of its slice's work, copies (numba loops that
  release the GIL) and products (single-threaded BLAS, which releases it too). The workers
  never wait for each other until the end.

Measured on B2-B4 against the two-pool version, same machine, alternating runs: B3 276-280
ms a step against 313-419 ms, with 0.46-0.49 s of CPU a step instead of 0.63-0.84 s.

A step enters these hundreds of times (B1: 7 splits and 32 BLAS scopes a step), so both
are kept short. Each worker is a thread waiting on its own lock for one job (a hand-off, two
lock releases), not a concurrent.futures pool (a Future, a work item and a queue per job),
and the BLAS scope calls OpenBLAS's get/set directly (1.6 us) rather than through
threadpoolctl's methods (5 us): an empty split took 78 us before, 33 us now, a BLAS scope
11.6 us before, 5.2 now. One caller splits at a time (others wait their turn: a split never
depends on timing, so results stay bitwise repeatable), and a split inside a split runs
whole on the thread that asks for it.

    workers()              how many threads share a kernel: tinygen.settings.get_num_threads()
    over_slices(n, part)   part(lo, hi) on consecutive slices of range(n), one per worker, BLAS
                           on one thread; the calling thread does the first, and any that no
                           worker has begun when it is done; the results in order
    over_rows(n, per_row, part)   over_slices of rows, each slice at least GRAIN values
    blas_on_one_thread()   the context manager that over_slices enters
    warmed_buffers()       how many of OpenBLAS's GEMM buffers have been warmed up (below)
    blas_thread_counts()   the thread count of each BLAS library that blas_on_one_thread limits
    GRAIN                  the fewest elements worth a slice of their own (below: one thread)

A worker whose core another process holds wakes late: measured while other processes kept
both cores busy, the second slice of a (128, 784) @ (784, 400) product began 4.6 ms after the
first, which took 0.44 ms. So a split never waits for a worker that has not begun: the calling
thread, done with its own slice, claims and runs every slice still unclaimed (a lock per
split; a worker that wakes to a claimed slice goes back to sleep, and is offered no slice
until it has). In a quiet process the workers begin within tens of microseconds (13-36 us
measured) and nothing changes. With one core kept busy (bench_models.py --load), B1-B4 took
1.34, 1.82, 1.81 and 1.62x their quiet step after this, 1.41, 1.78, 1.76 and 1.71x before:
one run each, within their noise. A worker that has begun its slice and then loses its core
still holds the split up; only finer slices would help there, and they cost more (below).

Tried and rejected: several slices a thread, taken first come first served, so that a
thread held up by another process on its core leaves its share to the others. Measured on a
2-core AMD EPYC, each setting alone in a process, alternating: with 3 slices a thread a quiet
B1 step took 14% longer, B2 17%, B4 4% (smaller GEMMs, more hand-offs), and with one core
kept busy the steps were no steadier (B1 1.79x its quiet time against 1.40x with one slice a
thread, B2 1.79x against 1.70x, B4 1.87x against 1.76x). Nor does it come from tinygen: a
GIL-free numba loop of 8.5 ms on one thread, split in two halves or handed out in 16 or 64
chunks first come first served, took 4.3-5.5 ms alone and 10.6-11.5 ms beside a process
spinning on one of the two cores, where one thread took 8.4-9.4 ms (one-off script, medians
of 100, three runs). A split of a few milliseconds waits for the turn of whichever thread
shares its core with the busy process; and even a fair share, three threads running on two
cores, leaves the split 4/3 of a core: 1.5x its quiet time for work that halves exactly.

Nor a calling thread that spins, instead of sleeping, while a worker finishes its slice. A
sleeping thread wakes about 20 us after it is signalled on this virtual machine (two threads
handing a lock back and forth: 40 us a round trip), and a split pays up to two such waits
(B1's eight splits a step spend 0.5 ms of its 5 waiting at their ends). Polling the worker's
lock with os.sched_yield() between tries (which lets the worker take the GIL; time.sleep(0)
sleeps 70 us here), for at most 0.1 ms, measured in one process, alternating with the
sleeping wait: a quiet B1 and B2 step 3% faster, B4 within its noise, and B1 4% slower with
one core kept busy (the spinning thread holds the core on which the worker it waits for
could run). A spinning worker would contend for the GIL with the calling thread's Python
between splits.

These workers are the only threads tinygen's CPU kernels run on: no kernel uses numba's
parallel=True. numba's pools (GNU OpenMP by default) keep their threads spinning after every
parallel loop, on the core the next kernel needs, unless OMP_WAIT_POLICY=PASSIVE is set
before the pool starts, a process-wide setting a library must not make for its user. Measured
on a 2-core Xeon, B4 (conv_ae): 61-63 ms a step as a plain script against 38-40 ms with the
passive policy. And a process that has run a GNU OpenMP loop cannot run one in a forked
child ("fork() called from a process already using GNU OpenMP"), which hangs a
multiprocessing.Pool. The workers here block on a lock when idle (no spinning, no setting),
and a forked child starts its own (_forget_workers below).

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
import os
import threading

import numpy as np

from tinygen import settings

# Below GRAIN elements a loop runs whole on the calling thread: handing a slice to a worker
# and waiting for it (about 30 us) costs more than the slice. torch's grain size for its
# elementwise loops is the same 32k. Measured here: relu on 30k float32 values 0.008 ms on one
# thread against 0.024 ms split in two; on 800k values 0.19 ms against 0.10.
GRAIN = 1 << 15

_workers = []                    # the worker threads (_Worker), started as kernels ask for them
_splitting = threading.Lock()    # held by the one caller whose split the workers run
_warm = [1]                      # how many BLAS buffers have been warmed up (see the docstring)
_inside = threading.local()      # .splitting in a split's threads (a nested split runs inline),
#                                  .blas while the calling thread holds BLAS on one thread
_blas = []                       # [(get, set) of each BLAS library's thread count], found once
#                                  (and, once found, BLAS warmed up: see the docstring)
_blas_lock = threading.Lock()    # guards the three lines above and below
_blas_scopes = [0]               # blas_on_one_thread blocks open now, in all threads together
_blas_before = []                # BLAS's thread counts before the first of them began


def _forget_workers():
    """In a forked child: the parent's worker threads are not there, so start afresh."""
    global _splitting, _blas_lock
    _workers.clear()
    _splitting = threading.Lock()     # the parent's may have been held by another thread
    _warm[0] = 1
    _blas_lock = threading.Lock()
    if _blas_scopes[0]:               # another parent thread's kernel was running: its block
        _blas_scopes[0] = 0           # never ends here, so BLAS gets its threads back now
        for (_, set_threads), threads in zip(_blas, _blas_before):
            if threads != 1:
                set_threads(threads)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def workers():
    """Threads that share one kernel: tinygen.settings.get_num_threads() (all cores unless set)."""
    return settings.get_num_threads()


def warmed_buffers():
    """How many of OpenBLAS's GEMM buffers tinygen has warmed up (see the docstring): the most
    workers a split has used so far, each buffer warmed once even when several threads split
    at the same time."""
    return _warm[0]


def over_slices(n, part, min_slice=1, blas=True):
    """[part(lo, hi) for consecutive slices of range(n)], one slice per worker thread, with
    BLAS on one thread meanwhile. Slices have at least `min_slice` items (fewer workers are
    used for a small n). blas=False: part calls no BLAS, so BLAS's setting is left alone
    (a loop of one slice then costs only the call).

    The calling thread does the first slice, then every slice that no worker has begun (a
    worker whose core another process holds can wake milliseconds late: its slice is done by
    then, and the split does not wait for it), then waits for the slices that workers began.
    The slices' bounds never depend on which thread ran them, so neither do the results."""
    if getattr(_inside, "splitting", False):
        return [part(0, n)]
    count = max(1, min(workers(), n // max(1, min_slice)))
    if count == 1 and not blas:
        return [part(0, n)]
    with blas_on_one_thread() if blas else contextlib.nullcontext():
        if count == 1:
            return [part(0, n)]
        with _splitting:
            while len(_workers) < count - 1:
                _workers.append(_Worker())
            if _warm[0] < count:
                _warm_up_buffers(count)
            bounds = [n * k // count for k in range(count + 1)]
            split = _Split(part, bounds)
            for k in range(1, count):
                _workers[k - 1].offer(split, k)
            _inside.splitting = True
            try:
                split.run(0)
                for k in range(1, count):            # the slices no worker has begun: run
                    if split.failed:                 # them, or after an error (a Ctrl-C)
                        split.claim(k)               # only take them from a late worker
                    else:
                        split.run(k)
            finally:
                _inside.splitting = False
                for k in range(1, count):            # all, even after an error
                    split.wait_for(k, _workers[k - 1])
            return split.results()


def over_rows(n, per_row, part, blas=True):
    """over_slices over n rows of per_row values each, every slice at least GRAIN values (a
    single slice, on the calling thread, below two GRAINs' worth)."""
    return over_slices(n, part, min_slice=max(1, -(-GRAIN // max(1, per_row))), blas=blas)


class _Split:
    """One over_slices call: its slices, which thread has claimed each, their results."""

    def __init__(self, part, bounds):
        self.part, self.bounds = part, bounds
        count = len(bounds) - 1
        self._claimed = [False] * count
        self._by_worker = [False] * count
        self._lock = threading.Lock()
        self._results = [None] * count
        self._errors = [None] * count

    @property
    def failed(self):
        return any(error is not None for error in self._errors)

    def claim(self, k, worker=False):
        """True for the first thread to ask for slice k (which then runs it)."""
        with self._lock:
            if self._claimed[k]:
                return False
            self._claimed[k] = True
            self._by_worker[k] = worker
            return True

    def run(self, k, worker=False):
        """Slice k, if no thread has claimed it yet; its result or exception is kept."""
        if self.claim(k, worker):
            try:
                self._results[k] = self.part(self.bounds[k], self.bounds[k + 1])
            except BaseException as e:     # raised by the caller once every slice is done
                self._errors[k] = e

    def wait_for(self, k, worker):
        """Slice k done: the caller ran it, or `worker` began it and is waited for."""
        if self._by_worker[k]:
            worker.wait()

    def results(self):
        for error in self._errors:
            if error is not None:
                raise error
        return self._results


class _Worker:
    """A thread that runs one offered slice at a time: offer(split, k) wakes it to claim
    slice k; wait() waits for a slice it claimed. A worker woken late finds its slice
    claimed and goes back to sleep; it takes no new offer until it has (settled())."""

    def __init__(self):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()                 # released by offer
        self._done.acquire()               # released when the offered slice is claimed and run, or skipped
        self._offer = None
        self._busy = False                 # offered, and its _done not yet taken
        threading.Thread(target=self._run, name="tinygen", daemon=True).start()

    def settled(self, block=False):
        """True when the worker has finished its last offer (a blocking wait with block)."""
        if self._busy:
            self._busy = not self._done.acquire(blocking=block)
        return not self._busy

    def offer(self, split, k):
        if self.settled():
            self._offer = split, k
            self._busy = True
            self._go.release()

    def wait(self):
        self.settled(block=True)

    def _run(self):
        _inside.splitting = True
        while True:
            self._go.acquire()
            split, k = self._offer
            self._offer = None
            split.run(k, worker=True)
            self._done.release()


class blas_on_one_thread:
    """Inside the block BLAS runs on one thread; once every thread's blocks have ended, on as
    many as before.

    BLAS's thread count is one setting for the whole process, so the first block to begin, in
    any thread, saves it and sets 1, and the last to end restores it. (Each block saving and
    restoring its own let one thread's kernel give BLAS its threads back while another
    thread's kernel ran: a GEMM on two threads rounds differently from one on one, so two
    models trained in two threads got other weights than alone, 2-8 of 40 conv weight
    gradients measured.) Nested blocks (a kernel calling a kernel) change nothing. A product
    that another thread of yours runs meanwhile is single-threaded too."""

    __slots__ = ("_open",)

    def __enter__(self):
        self._open = False
        if getattr(_inside, "blas", False):
            return self
        with _blas_lock:
            first = not _blas
            if first:
                _blas.extend(_thread_count_functions())
            if _blas_scopes[0] == 0:
                _blas_before[:] = [get() for get, _ in _blas]
                for (_, set_threads), threads in zip(_blas, _blas_before):
                    if threads != 1:
                        set_threads(1)
            _blas_scopes[0] += 1
            if first:
                _wide_gemm()
        _inside.blas = self._open = True
        return self

    def __exit__(self, *exc):
        if self._open:
            _inside.blas = False
            with _blas_lock:
                _blas_scopes[0] -= 1
                if _blas_scopes[0] == 0:
                    for (_, set_threads), threads in zip(_blas, _blas_before):
                        if threads != 1:
                            set_threads(threads)
        return False


def blas_thread_counts():
    """[thread count now] of each BLAS library that blas_on_one_thread limits: those loaded
    when the first block began (a library loaded later, torch's say, is left alone); [] before."""
    with _blas_lock:
        return [get() for get, _ in _blas]


def _thread_count_functions():
    """(get, set) of each loaded BLAS library's thread count: OpenBLAS's own C functions where
    threadpoolctl resolves them (its symbol names vary by build), else threadpoolctl's methods."""
    from threadpoolctl import ThreadpoolController
    functions = []
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        try:
            get, set_threads = (lib._get_symbol("openblas_get_num_threads"),
                                lib._get_symbol("openblas_set_num_threads"))
        except AttributeError:             # not OpenBLAS, or another threadpoolctl
            get, set_threads = None, None
        if get is None or set_threads is None:
            get, set_threads = lib.get_num_threads, lib.set_num_threads
        functions.append((get, set_threads))
    return functions


def _wide_gemm():
    """One GEMM with 512 columns and more: it leaves OpenBLAS's buffer fast (see the docstring)."""
    np.matmul(np.ones((128, 256), np.float32), np.ones((256, 2048), np.float32))


def _warm_up_buffers(count):
    """A wide GEMM on each of `count` threads at once (the caller and count - 1 workers, whom
    the caller holds), so that OpenBLAS warms `count` buffers, one per GEMM running at the
    same time."""
    start = threading.Barrier(count, timeout=10.0)

    def warm(lo, hi):
        start.wait()
        _wide_gemm()

    split = _Split(warm, list(range(count + 1)))
    for k, worker in enumerate(_workers[:count - 1], 1):
        worker.settled(block=True)
        worker.offer(split, k)               # the caller steals none: each thread runs one
    split.run(0)
    for k, worker in enumerate(_workers[:count - 1], 1):
        split.wait_for(k, worker)
    split.results()
    _warm[0] = count
