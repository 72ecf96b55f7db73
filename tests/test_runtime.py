"""tinygen/runtime.py, the thread setting (settings.py) and kernels/threads.py: nothing changes
at import, tuning is explicit, BLAS is on one thread only inside tinygen's kernels."""
import json
import os
import platform
import subprocess
import sys
import threading
import time

import pytest

import tinygen as tg
from tinygen import runtime
from tinygen.kernels import threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_STATE = """
import json, os
from threadpoolctl import threadpool_info
def state():
    return dict(os.environ), sorted((lib["internal_api"], lib["num_threads"]) for lib in threadpool_info())
"""


def _run(code):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _STATE + code], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_tinygen_leaves_blas_threads_and_environment_untouched():
    """In a fresh process: NumPy then tinygen, and tinygen first (it loads NumPy itself): the
    environment and every BLAS library's thread count are what NumPy alone gives."""
    numpy_alone = _run("import numpy\nprint(json.dumps(state()[1]))")
    after = _run("import numpy\nbefore = state()\nimport tinygen, tinygen.nn, tinygen.kernels\n"
                 "print(json.dumps([before == state(), state()[1]]))")
    assert after == [True, numpy_alone]
    first = _run("env = dict(os.environ)\nimport tinygen\nprint(json.dumps([env == state()[0], state()[1]]))")
    assert first == [True, numpy_alone]


def test_kernels_run_blas_on_one_thread_and_give_its_threads_back():
    """In a fresh process (NumPy's BLAS the only one loaded): one thread inside a kernel's
    slices, nested scopes included, and the count from before once the kernel returns."""
    inside, nested, after = _run("""
import numpy as np
import tinygen as tg
from tinygen.kernels import threads
blas = lambda: state()[1]
before = blas()
inside = threads.over_slices(4, lambda lo, hi: blas())
a = np.ones((300, 200), np.float32)
tg.matmul(tg.tensor(a), tg.tensor(a.T))                         # a kernel, split over the workers
with threads.blas_on_one_thread():
    with threads.blas_on_one_thread():
        nested = blas()
print(json.dumps([all(c == [(api, 1) for api, _ in before] for c in inside),
                  nested == [(api, 1) for api, _ in before], blas() == before]))""")
    assert inside and nested and after


def test_configure_sets_no_environment_variable(monkeypatch):
    before = dict(os.environ)
    with tg.settings.use_num_threads(tg.get_num_threads()):        # undoes configure's count
        assert runtime.configure(num_threads=1, malloc=False) == {"num_threads": 1}
        assert tg.get_num_threads() == 1 and dict(os.environ) == before


_KERNELS = """
import numpy as np
import tinygen as tg
import tinygen.nn.functional as F
def kernels():
    x = tg.randn(8, 16, 64, 64, requires_grad=True)                  # 524k values: split
    y = F.max_pool2d(F.relu(x), 2) + F.avg_pool2d(F.leaky_relu(x, 0.2), 2)
    y = F.batch_norm(y, None, None, tg.ones(16), tg.zeros(16), training=True)
    loss = F.binary_cross_entropy_with_logits(y, tg.rand(*y.shape))
    loss.backward()
    opt = tg.optim.Adam([x])
    opt.step()
    return float(loss)
"""


def test_no_kernel_starts_numbas_thread_pool_and_a_forked_child_runs_kernels():
    """Every CPU kernel runs on tinygen's own workers: numba's threading layer (GNU OpenMP by
    default, spinning after each loop, and fatal to a forked child: "fork() called from a
    process already using GNU OpenMP") never starts, and a multiprocessing.Pool on fork
    runs kernels after the parent has run them."""
    started, child, pool = _run(_KERNELS + """
import multiprocessing, os
import numba
kernels()
try:
    numba.threading_layer()         # the layer in use; ValueError while none has started
    started = True
except ValueError:
    started = False
pid = os.fork()
if pid == 0:
    kernels()
    os._exit(0)
_, status = os.waitpid(pid, 0)
with multiprocessing.get_context("fork").Pool(2) as pool:
    results = pool.starmap(kernels, [()] * 2)
print(json.dumps([started, os.waitstatus_to_exitcode(status), len(results)]))""")
    assert (started, child, pool) == (False, 0, 2)


def test_keep_freed_memory_applies_on_glibc_linux():
    applied = runtime.keep_freed_memory()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied is True
    else:
        assert applied is False


def test_set_num_threads_sets_the_workers():
    old = tg.get_num_threads()
    assert old >= 1 and threads.workers() == old
    try:
        tg.set_num_threads(1)
        assert tg.get_num_threads() == 1 and threads.workers() == 1
        assert threads.over_slices(10, lambda lo, hi: (lo, hi)) == [(0, 10)]   # no split
    finally:
        tg.set_num_threads(old)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="set_num_threads"):
            tg.set_num_threads(bad)


def test_over_slices_covers_the_range_in_order_and_runs_nested_calls_inline():
    seen = threads.over_slices(10, lambda lo, hi: (lo, hi))
    assert seen[0][0] == 0 and seen[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:]))        # consecutive, no gaps
    nested = threads.over_slices(4, lambda lo, hi: threads.over_slices(6, lambda a, b: (a, b)))
    assert all(inner[0][0] == 0 and inner[-1][1] == 6 for inner in nested)
    assert threads.over_slices(3, lambda lo, hi: (lo, hi), min_slice=8) == [(0, 3)]


def test_blas_buffers_warmed_once_per_worker_even_from_concurrent_callers():
    """In a fresh process with 3 workers: four threads of the user's split kernels at once;
    one warm-up of OpenBLAS's buffers (threads.py), no deadlock, every result right."""
    warmed, same = _run("""
import threading
import numpy as np
import tinygen as tg
from tinygen.kernels import threads
tg.set_num_threads(3)
a = np.arange(600.0).reshape(60, 10)
out = []
def go():
    out.append(threads.over_slices(60, lambda lo, hi: a[lo:hi] @ a[lo:hi].T))
ts = [threading.Thread(target=go) for _ in range(4)]
[t.start() for t in ts]
[t.join(timeout=60) for t in ts]
want = [a[lo:hi] @ a[lo:hi].T for lo, hi in ((0, 20), (20, 40), (40, 60))]
print(json.dumps([threads.warmed_buffers(), len(out) == 4 and all(
    all(np.array_equal(p, q) for p, q in zip(parts, want)) for parts in out)]))""")
    assert warmed == 3 and same


def test_over_slices_raises_a_slice_error_after_every_slice_is_done_and_goes_on():
    old = tg.get_num_threads()
    finished = []

    def part(lo, hi):
        if lo > 0:
            raise ValueError(f"slice {lo}")
        finished.append((lo, hi))
        return lo
    try:
        tg.set_num_threads(2)
        with pytest.raises(ValueError, match="slice 5"):
            threads.over_slices(10, part)
        assert finished == [(0, 5)]
        assert threads.over_slices(10, lambda lo, hi: (lo, hi)) == [(0, 5), (5, 10)]
    finally:
        tg.set_num_threads(old)


def test_the_caller_runs_a_slice_that_no_worker_has_begun_and_does_not_wait():
    """A worker that wakes late (its core held by another process) finds its slice done: the
    split neither waits for it nor runs the slice twice, and the worker is used again once it
    is back. Here the worker cannot take the GIL while the caller runs its slice."""
    old_threads, old_switch = tg.get_num_threads(), sys.getswitchinterval()
    ran_on = []

    def part(lo, hi):
        ran_on.append((lo, threading.get_ident()))
        return lo, hi
    try:
        tg.set_num_threads(2)
        threads.over_slices(10, lambda lo, hi: hi, blas=False)          # the worker started
        sys.setswitchinterval(1.0)
        assert threads.over_slices(10, part, blas=False) == [(0, 5), (5, 10)]
        sys.setswitchinterval(old_switch)
        assert ran_on == [(0, threading.get_ident()), (5, threading.get_ident())]
        time.sleep(0.2)                                                  # the worker settles
        meet = threading.Barrier(2, timeout=10.0)                        # both slices at once:
        assert threads.over_slices(10, lambda lo, hi: meet.wait() >= 0, blas=False) == [True, True]
    finally:
        sys.setswitchinterval(old_switch)
        tg.set_num_threads(old_threads)


def test_after_an_error_in_the_callers_slice_no_unbegun_slice_runs():
    """A Ctrl-C (or any error) in the caller's slice is raised once the slices that workers
    began are done; the caller does not go on to run the others, nor leaves them to a worker
    that wakes after the split has returned."""
    old_threads, old_switch = tg.get_num_threads(), sys.getswitchinterval()
    ran = []

    def part(lo, hi):
        ran.append(lo)
        if lo == 0:
            raise KeyboardInterrupt
    try:
        tg.set_num_threads(2)
        threads.over_slices(10, lambda lo, hi: hi, blas=False)          # the worker started
        sys.setswitchinterval(1.0)                                      # and cannot wake yet
        with pytest.raises(KeyboardInterrupt):
            threads.over_slices(10, part, blas=False)
        sys.setswitchinterval(old_switch)
        time.sleep(0.2)                                                 # the worker wakes
        assert ran == [0]
    finally:
        sys.setswitchinterval(old_switch)
        tg.set_num_threads(old_threads)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_splits_on_workers_of_its_own():
    ok = _run("""
import os
import tinygen as tg
from tinygen.kernels import threads
tg.set_num_threads(2)
threads.over_slices(10, lambda lo, hi: hi)                 # the parent's workers started
pid = os.fork()
if pid == 0:
    os._exit(0 if threads.over_slices(10, lambda lo, hi: (lo, hi)) == [(0, 5), (5, 10)] else 1)
print(json.dumps(os.waitpid(pid, 0)[1] == 0))""")
    assert ok
