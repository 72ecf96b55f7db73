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
