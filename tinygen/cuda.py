"""tg.cuda: is the cuda device usable, and waiting for it (as torch.cuda).

The cuda device is usable on a machine with CuPy and a CUDA GPU, or anywhere under
NUMBA_ENABLE_CUDASIM=1, where numba's simulator runs the GPU kernels on NumPy arrays.
"""
from tinygen import backend


def is_available():
    """True when tensors can be put on 'cuda' (a real GPU, or the CUDA simulator)."""
    return backend.cuda_is_available()


def synchronize():
    """Wait until all queued GPU work has finished (for timing); a no-op without a real GPU."""
    if backend.gpu_available():
        backend.synchronize(backend.CUDA)
