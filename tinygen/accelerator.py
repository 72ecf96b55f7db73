"""tg.accelerator: the device-agnostic question "is there a GPU?" (as torch.accelerator).

    device = tg.accelerator.current_accelerator() if tg.accelerator.is_available() else "cpu"

tinygen's only accelerator is cuda (a real GPU, or numba's CUDA simulator).
"""
from tinygen import backend


def is_available():
    """True when an accelerator (cuda) can hold tensors."""
    return backend.cuda_is_available()


def current_accelerator(check_available=False):
    """tg.device('cuda') when one is available, else None (as torch)."""
    return backend.device("cuda") if backend.cuda_is_available() else None


def device_count():
    """1 when the cuda device is usable (tinygen drives one GPU), else 0."""
    return int(backend.cuda_is_available())


def synchronize(device=None):
    """Wait for queued GPU work; a no-op without a real GPU."""
    if backend.gpu_available():
        backend.synchronize(backend.CUDA)
