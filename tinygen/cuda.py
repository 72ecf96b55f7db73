"""tg.cuda: is the cuda device usable, and waiting for it (as torch.cuda).

The cuda device is usable on a machine with CuPy and a CUDA GPU, or anywhere under
NUMBA_ENABLE_CUDASIM=1, where numba's simulator runs the GPU kernels on NumPy arrays.
"""
from tinygen import backend


def is_available():
    """True when tensors can be put on 'cuda': a real GPU that passed the probe (see
    why_unavailable), or the CUDA simulator."""
    return backend.cuda_is_available()


def why_unavailable():
    """Why no real GPU is in use, as a sentence (CuPy missing, no driver, cuBLAS or a
    numba.cuda kernel failing, or the simulator standing in), or None when one works. The
    probe behind it runs a tiny numba.cuda kernel and a cuBLAS matmul, once per process."""
    return backend.why_gpu_unavailable()


def synchronize():
    """Wait until all queued GPU work has finished (for timing); a no-op without a real GPU."""
    if backend.gpu_available():
        backend.synchronize(backend.CUDA)


def device_count():
    """1 when the cuda device is usable (tinygen drives one GPU), else 0."""
    return int(backend.cuda_is_available())


def current_device():
    """The index of the GPU in use: always 0."""
    return 0


def manual_seed(seed):
    """Seed tinygen's random state. tinygen has one seed for cpu and cuda draws, so this is
    tg.manual_seed: scripts that call both torch.manual_seed and torch.cuda.manual_seed with
    the same seed get the same stream."""
    from tinygen import rng
    return rng.manual_seed(seed)


manual_seed_all = manual_seed


# torch.cuda.FloatTensor and the other legacy cuda types: isinstance(x, tg.cuda.FloatTensor)
# asks for a float32 tensor on the cuda device; constructing one where no cuda device is
# usable raises TypeError "type tinygen.cuda.FloatTensor not available: <why>", as torch does
from tinygen.autograd.legacy import CUDA_TYPES  # noqa: E402

FloatTensor, DoubleTensor, LongTensor, IntTensor = (
    CUDA_TYPES[n] for n in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor"))
ShortTensor, CharTensor, ByteTensor, BoolTensor = (
    CUDA_TYPES[n] for n in ("ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"))
