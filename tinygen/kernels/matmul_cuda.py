"""Matrix product, GPU version: cuBLAS for real work, a shared-memory tiled kernel to learn from.

Same functions as matmul_numpy.py:

    a (M, K), b (K, N) -> c (M, N),   c[i, j] = sum_k a[i, k] * b[k, j]

`matmul` is xp.matmul: cuBLAS under CuPy (NumPy under the simulator). What the ops use.

`matmul_blocked` is the classic tiled kernel (Kirk & Hwu, "Programming Massively Parallel
Processors", ch. 5): a TILE x TILE block of threads computes a TILE x TILE tile of c. The
block walks the inner dimension in steps of TILE; at each step every thread loads one entry
of a and one of b into shared memory, the block synchronizes, and each thread adds TILE
products from the shared tiles. Each entry read from global memory is used TILE times.
cuBLAS adds register tiling, vectorized loads and tensor cores on top of this idea.
"""
import functools

import numpy as np
from numba import cuda, from_dtype

from tinygen.backend import get_array_module
from tinygen.kernels.common import launch

TILE = 16


@functools.lru_cache(maxsize=None)
def _tiled_kernel(dtype, tile=TILE):
    """The tiled kernel for one dtype and tile (a shared array's type and size are fixed when compiling)."""
    nb_dtype = from_dtype(np.dtype(dtype))
    zero = np.dtype(dtype).type(0)

    @cuda.jit
    def kernel(a, b, c):
        sa = cuda.shared.array((tile, tile), nb_dtype)
        sb = cuda.shared.array((tile, tile), nb_dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        i = cuda.blockIdx.y * tile + ty            # row of c
        j = cuda.blockIdx.x * tile + tx            # column of c
        M, K = a.shape
        N = b.shape[1]
        acc = zero
        for k0 in range(0, K, tile):
            sa[ty, tx] = a[i, k0 + tx] if i < M and k0 + tx < K else zero
            sb[ty, tx] = b[k0 + ty, j] if k0 + ty < K and j < N else zero
            cuda.syncthreads()                     # both tiles loaded
            for k in range(tile):
                acc += sa[ty, k] * sb[k, tx]
            cuda.syncthreads()                     # done with the tiles before reloading
        if i < M and j < N:
            c[i, j] = acc

    return kernel


# The numba.cuda kernel above by name, with the kinds of the arguments its launch passes
# (kernels/common_cuda.py's example_arguments): what benchmarks/ptx_check.py compiles. The
# tiled kernel is compiled per dtype, so its entry is the function of the dtype that gives it.
DEVICE_KERNELS = {
    "tiled": (_tiled_kernel, ("array2d", "array2d", "array2d")),
}


def matmul(a, b):
    """a (M, K) @ b (K, N) -> (M, N), by cuBLAS."""
    xp = get_array_module(a)
    return xp.matmul(a, b)


def matmul_blocked(a, b, block=TILE):
    """a @ b by the shared-memory tiled numba.cuda kernel (2-D float arrays, one dtype): one
    (block x block) tile of c per thread block, so block <= 32 (1024 threads a block)."""
    if not 1 <= block <= 32:
        raise ValueError(f"matmul_blocked (cuda): block {block} must be in 1..32 (block*block threads)")
    xp = get_array_module(a)
    a = xp.ascontiguousarray(a)
    b = xp.ascontiguousarray(b)
    M, N = a.shape[0], b.shape[1]
    c = xp.empty((M, N), dtype=a.dtype)
    blocks = ((N + block - 1) // block, (M + block - 1) // block)
    launch(_tiled_kernel(a.dtype.type, block), blocks, (block, block), a, b.astype(a.dtype, copy=False), c)
    return c
