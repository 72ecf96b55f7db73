"""Anomaly detection: stop at the first NaN or Inf, and say which op, created where.

    with tg.autograd.detect_anomaly():
        loss = model.loss(x)
        loss.backward()       # raises AnomalyError naming the op and the user's line

While active, every Function remembers the stack at its creation, and every forward output
and backward gradient is checked for non-finite values. It is slow; use it to debug.

The setting is the process's, as torch's: turned on in one thread, every thread's ops are
checked (and remember their stack) until it is turned off. Two threads' overlapping blocks
restore each other's previous setting, so enter it from one thread at a time.
"""
import threading

import numpy as np

from tinygen import backend

_enabled = [False]       # process-wide, as torch.is_anomaly_enabled()


class _ThreadBackward(threading.local):
    active = False       # a backward runs in this thread: its ops are checked through its result


_in_backward = _ThreadBackward()


class AnomalyError(RuntimeError):
    """A NaN or Inf appeared in forward or backward while detect_anomaly was on."""


class detect_anomaly:
    """Context manager: raise on the first NaN/Inf in forward or backward."""

    def __enter__(self):
        self.prev = _enabled[0]
        _enabled[0] = True
        return self

    def __exit__(self, *exc):
        _enabled[0] = self.prev
        return False


class set_detect_anomaly:
    """Turn anomaly detection on or off from here on (as torch: it takes effect when called);
    used as a context manager, the previous setting comes back at the end of the block."""

    def __init__(self, mode, check_nan=True):
        self.prev = _enabled[0]
        _enabled[0] = bool(mode) and bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _enabled[0] = self.prev
        return False


def _user_frame(fn):
    """The innermost frame of the stack at fn's creation that is outside tinygen's code."""
    stack = getattr(fn, "stack", None) or []
    for frame in reversed(stack):
        if "/tinygen/" not in frame.filename.replace("\\", "/"):
            return f'File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {frame.line}'
    return "(created outside anomaly mode: stack unknown)"


def _all_finite(array):
    # a device array: the cuda device's module (CuPy, or tinygen.fake_cupy in tests)
    xp = np if isinstance(array, (np.ndarray, np.generic)) else backend.array_module("cuda")
    if array.dtype.kind not in "fc":
        return True
    return bool(xp.isfinite(array).all())


def check_forward(fn, outputs):
    for y in outputs:
        if not _all_finite(y.array):
            raise AnomalyError(
                f"{fn.name} returned non-finite values in forward (output shape "
                f"{tuple(y.shape)}).\nThe op was created at:\n{_user_frame(fn)}")


def run_backward(fn, gys):
    """fn.backward(*gys) with the forward checks of the ops it runs suspended, so that a
    non-finite gradient is reported as this op's, created where the user created it."""
    prev = _in_backward.active
    _in_backward.active = True
    try:
        return fn.backward(*gys)
    finally:
        _in_backward.active = prev


def check_backward(fn, gxs):
    for i, gx in enumerate(gxs):
        if gx is not None and not _all_finite(gx.array):
            raise AnomalyError(
                f"{fn.name}.backward returned non-finite values in the gradient of input {i} "
                f"(shape {tuple(gx.shape)}).\nThe op was created at:\n{_user_frame(fn)}")
