"""tinygen/runtime.py: the thread settings are in the environment and the malloc setting applies."""
import os
import platform
import sys

import tinygen  # noqa: F401
from tinygen import runtime


def test_thread_settings_are_set_before_numpy_loads():
    # set by default, never over a value the user chose (setdefault)
    assert os.environ.get("OMP_WAIT_POLICY")


def test_keep_freed_memory_applies_on_glibc_linux():
    applied = runtime.keep_freed_memory()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied is True
    else:
        assert applied is False


def test_blas_runs_on_one_thread_and_big_kernels_split_over_workers():
    from threadpoolctl import threadpool_info

    assert runtime.OWN_BLAS_THREADS            # the default (TINYGEN_BLAS_THREADS unset)
    assert all(lib["num_threads"] == 1 for lib in threadpool_info() if lib["user_api"] == "blas")


def test_over_slices_covers_the_range_in_order_and_runs_nested_calls_inline():
    from tinygen.kernels import threads

    seen = threads.over_slices(10, lambda lo, hi: (lo, hi))
    assert seen[0][0] == 0 and seen[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:]))        # consecutive, no gaps
    nested = threads.over_slices(4, lambda lo, hi: threads.over_slices(6, lambda a, b: (a, b)))
    assert all(inner[0][0] == 0 and inner[-1][1] == 6 for inner in nested)
    assert threads.over_slices(3, lambda lo, hi: (lo, hi), min_slice=8) == [(0, 3)]
