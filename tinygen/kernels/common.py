"""What every kernel family shares: output sizes, GPU launches, scratch, chunks, output memory.

One home for the helpers that used to live in whichever family needed them first (the array
module of an array, the `xp = get_array_module(x)` idiom, is tinygen.backend's):

    conv_output_size(...)             output length of a convolution along one axis
    conv_transpose_output_size(...)   ... of a transposed convolution
    pool_output_size(...)             ... of a pooling window sweep
    masked_kernel(w, taps)            w * taps: a conv kernel on its support (MaskedConv2d's)
    launch_config(total)              (blocks, threads) of a numba.cuda grid-stride loop
    launch(kernel, blocks, threads, *args)   a numba.cuda launch on CuPy's terms (see there)
    scipy_special(x)                  cupyx.scipy.special (or fake_cupy's) for a GPU array
    scratch(name, shape, dtype)       a reusable per-thread host work array (fast CPU kernels)
    sample_chunks(...)                consecutive samples whose work matrix fits in cache
    halves(x, dim)                    the two halves of x along dim (gated activations)
    gated_tanh_halves(x, dim, sigmoid)   the gated tanh's formula with a given sigmoid
    contiguous(a)                     a C-contiguous a: itself, or a pooled copy by the workers
    empty, empty_like, zeros          kernel outputs from a caching allocator (a pool), with
    release_free_buffers()            its torch.cuda.empty_cache and
    memory_reserved()                 its torch.cuda.memory_reserved

No numba, no CuPy at import: the reference kernels import this file too.
"""
import functools
import importlib
import math
import sys
import threading

import numpy as np

from tinygen.backend import get_array_module, simulator_enabled
from tinygen.kernels.threads import over_rows


# ---- output sizes -------------------------------------------------------------------------

def conv_output_size(size, k, s, p, d):
    """Output length of a convolution along one axis: (size + 2p - d(k - 1) - 1) // s + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_output_size(size, k, s, p, op, d):
    """Output length of a transposed convolution along one axis (op: output_padding)."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def pool_output_size(size, k, s, p):
    """Output length of a pooling window sweep along one axis."""
    return (size + 2 * p - k) // s + 1


def masked_kernel(w, taps):
    """w (..., kh, kw) * taps (kh, kw, 0/1): the kernel the conv ops compute with when given
    `taps`, the kernel's support; w itself when taps is None."""
    if taps is None:
        return w
    xp = get_array_module(w)
    if xp is np:
        return w * np.asarray(taps, dtype=w.dtype)
    taps = np.asarray(taps) != 0
    return w * _device_taps(xp, taps.shape, taps.tobytes(), w.dtype.str)


@functools.lru_cache(maxsize=64)
def _device_taps(xp, shape, bits, dtype):
    """A host taps mask on the device, copied once per (mask, dtype), not on every conv call
    (a PixelCNN samples with hundreds of them)."""
    return xp.asarray(np.frombuffer(bits, dtype=bool).reshape(shape), dtype=dtype)


# ---- GPU launches -------------------------------------------------------------------------

THREADS_PER_BLOCK = 128


def launch_config(total):
    """(blocks, threads) for a grid-stride loop over `total` items.

    In the simulator every GPU thread is a Python thread, so a couple of blocks cover
    everything through the grid-stride loop; on a GPU enough blocks fill the device.
    """
    if total >= 2 ** 31:   # the kernels' index math is 32-bit (see common_cuda.py)
        raise ValueError(f"a GPU kernel over {total} elements: at most 2**31 - 1 are supported")
    blocks = (total + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    return max(1, min(blocks, 2 if simulator_enabled() else 4096)), THREADS_PER_BLOCK


def launch(kernel, blocks, threads, *args):
    """kernel[blocks, threads](*args), queued the way CuPy's own kernels are.

    Handed a CuPy array, numba synchronises the device before the launch (its default for
    __cuda_array_interface__ consumers) and launches on its own default stream, not CuPy's
    current one: a blocking launch, and a race under a non-default CuPy stream. So CuPy
    arrays go in as numba views made without a sync (as_cuda_array(a, sync=False)), those
    inside a tuple argument too (the optimizer steps take tuples of arrays; an array that
    appears several times, as their padding does, is wrapped once), and the kernel runs on
    CuPy's current stream, where it queues behind the work that made its inputs. NumPy
    arrays (the simulator) launch as they are, and so do tinygen.fake_cupy's arrays (the
    simulator hands them to the kernel, where they index as device memory)."""
    cupy = sys.modules.get("cupy")
    flat = [b for a in args for b in (a if isinstance(a, tuple) else (a,))]
    if cupy is None or not any(isinstance(a, cupy.ndarray) for a in flat):
        fake = sys.modules.get("tinygen.fake_cupy")
        if fake is not None and any(isinstance(a, fake.ndarray) for a in flat):
            fake.launched("numba:" + getattr(getattr(kernel, "py_func", kernel), "__name__",
                                             "kernel"))
        return kernel[blocks, threads](*args)
    from numba import cuda
    views = {}                          # id(array) -> its numba view, for this launch

    def view(a):
        if isinstance(a, tuple):
            return tuple(view(b) for b in a)
        if not isinstance(a, cupy.ndarray):
            return a
        if id(a) not in views:
            views[id(a)] = cuda.as_cuda_array(a, sync=False)
        return views[id(a)]

    ptr = cupy.cuda.get_current_stream().ptr
    stream = cuda.external_stream(ptr) if ptr else cuda.default_stream()
    return kernel[blocks, threads, stream](*[view(a) for a in args])


def scipy_special(x):
    """cupyx.scipy.special for a CuPy array x (tinygen.fake_cupy's stand-in in tests)."""
    fake = getattr(get_array_module(x), "fake_cupyx", None)
    return fake.scipy.special if fake is not None else importlib.import_module("cupyx.scipy.special")


# ---- host scratch and chunking (the fast CPU kernels) -------------------------------------

_local = threading.local()


def scratch(name, shape, dtype):
    """A reusable per-thread work array of `shape` (its contents are garbage).

    Allocating the big matrices (cols, a GEMM's output: tens of MB) fresh on every call costs
    page faults comparable to filling them; one buffer per (name, dtype) and thread is kept
    and grown as needed."""
    buffers = _local.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buf = buffers.get((name, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        buffers[(name, np.dtype(dtype))] = buf
    return buf[:size].reshape(shape)


# ---- host memory for kernel outputs: a caching allocator ----------------------------------
#
# A training step makes the same big arrays again and again (a conv layer's output, its input
# gradient, a relu's output: MBs each). NumPy gets them from glibc's malloc, which maps every
# block over 128 KiB fresh from the kernel and unmaps it when freed, so each new activation
# page-faults as it is first written: measured, 7,600 faults and 8-18 ms of system time per
# B4 step, 7,650 and 25 ms per B3 step. PyTorch's CPU allocator keeps freed blocks for reuse;
# so do the fast kernels, for what they allocate (and only that: nothing process-wide).
#
# The pool holds buffers (1-d uint8 arrays) by size in 4 KiB pages. empty() hands out a view
# of a buffer that is free, or of a new one. A buffer is free when nothing but the pool holds
# it: every view NumPy makes of a view still refers to the buffer that owns the memory, so
# while any array over it lives (a tensor's, a user's slice of one), its reference count
# says so. Measured with this pool: B4 0 faults a step (user time 61 -> 47 ms), B3 0
# (system time 25 -> 3.5 ms); the pool then holds 30 MiB (B4), 49 (B2), 98 (B3).

POOL_MIN_BYTES = 1 << 17     # smaller arrays: NumPy's own (glibc serves them from its heap)
POOL_MAX_BYTES = 1 << 30     # above this many pooled bytes the free buffers are given back
_PAGE = 4096
_pool = {}                   # pages -> [buffers]
_pool_bytes = [0]
_pool_lock = threading.Lock()


# the reference count of a buffer that nothing but its list holds, read as _first_free reads
# it (measured once rather than written down: it depends on how the interpreter counts)
_probe = [np.empty(1, np.uint8)]
_FREE_REFS = sys.getrefcount(_probe[0])
del _probe


def _first_free(bucket):
    """The index of the first buffer in bucket that only the pool holds, or None."""
    for i in range(len(bucket)):
        if sys.getrefcount(bucket[i]) <= _FREE_REFS:
            return i
    return None


def halves(x, dim):
    """The two halves of x along dim (an even size): views."""
    n = x.shape[dim] // 2
    index = (slice(None),) * dim
    return x[index + (slice(0, n),)], x[index + (slice(n, None),)]


def gated_tanh_halves(x, dim, sigmoid):
    """(tanh(a) sigmoid(b), tanh(a), sigmoid(b)) for x's halves a, b along dim: the formula of
    fused_*.gated_tanh, each module running it with its own sigmoid."""
    a, b = halves(x, dim)
    t, s = get_array_module(x).tanh(a), sigmoid(b)
    return t * s, t, s


def empty(shape, dtype):
    """np.empty(shape, dtype) for a kernel's output or workspace, from the pool when it is at
    least POOL_MIN_BYTES (its contents are garbage)."""
    if type(shape) is not tuple:     # (a tuple, as an array's shape, is the common case)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < POOL_MIN_BYTES:
        return np.empty(shape, dtype)
    pages = -(-nbytes // _PAGE)
    with _pool_lock:                 # the view is made before another thread can look
        bucket = _pool.setdefault(pages, [])
        i = _first_free(bucket)
        if i is None:
            if _pool_bytes[0] + pages * _PAGE > POOL_MAX_BYTES:
                _release_free_buffers()
                bucket = _pool.setdefault(pages, [])
            bucket.append(np.empty(pages * _PAGE, np.uint8))
            _pool_bytes[0] += pages * _PAGE
            i = len(bucket) - 1
        return bucket[i][:nbytes].view(dtype).reshape(shape)


def empty_like(a):
    """empty(a.shape, a.dtype), C-contiguous whatever a's layout. A small a goes straight to
    NumPy, skipping empty()'s shape and dtype checks: the fused relu on 1k values took 1.8 us
    a call through empty(), 1.4 through this."""
    if a.nbytes < POOL_MIN_BYTES:
        return np.empty(a.shape, a.dtype)
    return empty(a.shape, a.dtype)


def zeros(shape, dtype):
    """np.zeros(shape, dtype) from the pool (a reused buffer is cleared)."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def contiguous(a):
    """a as a C-contiguous NumPy array: a itself, or a copy in a pooled buffer that the worker
    threads write, slices of the leading axis (a conv's operand that arrives permuted, as the
    Row LSTM's states do: np.ascontiguousarray copies on one thread, 3.3 ms for a (64, 64, 28,
    28) float32 array permuted from (28, 64, 28, 64), 2.6 ms split in two)."""
    if a.flags.c_contiguous:
        return a
    out = empty_like(a)                           # (a 0-d array is always contiguous)
    over_rows(a.shape[0], a.size // max(1, a.shape[0]),
              lambda lo, hi: np.copyto(out[lo:hi], a[lo:hi]), blas=False)
    return out


def memory_reserved():
    """Bytes the pool holds, in use or free (as torch.cuda.memory_reserved)."""
    return _pool_bytes[0]


def release_free_buffers():
    """Give back every pooled buffer that no array uses (as torch.cuda.empty_cache)."""
    with _pool_lock:
        _release_free_buffers()


def _release_free_buffers():
    for pages, bucket in list(_pool.items()):
        while True:
            i = _first_free(bucket)
            if i is None:
                break
            del bucket[i]
            _pool_bytes[0] -= pages * _PAGE
        if not bucket:
            del _pool[pages]


# a work matrix of one chunk of samples, per thread. 1 MB rather than 4: with both cores busy
# the chunks share the cache; two threads, wall, B4's 3x3 32 -> 64 layer 5.5-5.6 ms against
# 5.7-6.2 for each op, B3's 3x3 64 -> 64 and 7x7 1 -> 64 layers 5-15% faster, a B3 step
# (tinygen alone, 3 alternating pairs) 355-365 ms against 385-408, B4's the same
CHUNK_BYTES = 1 << 20


def sample_chunks(n_lo, n_hi, K, L, itemsize, scale=1):
    """[(n0, n1)]: consecutive samples of [n_lo, n_hi) whose (K, (n1 - n0)*L) matrix takes
    about CHUNK_BYTES (times `scale`), so a GEMM reads it while it is still in cache."""
    per_chunk = max(1, scale * CHUNK_BYTES // max(1, K * L * itemsize))
    return [(n0, min(n_hi, n0 + per_chunk)) for n0 in range(n_lo, n_hi, per_chunk)]
