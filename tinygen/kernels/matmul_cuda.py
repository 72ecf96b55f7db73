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

from tinygen.kernels.conv_numpy import array_module

TILE = 16


@functools.lru_cache(maxsize=None)
def _tiled_kernel(dtype):
    """The tiled kernel for one dtype (a shared array's type is fixed when compiling)."""
    nb_dtype = from_dtype(np.dtype(dtype))
    zero = np.dtype(dtype).type(0)

    @cuda.jit
    def kernel(a, b, c):
        sa = cuda.shared.array((TILE, TILE), nb_dtype)
        sb = cuda.shared.array((TILE, TILE), nb_dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        i = cuda.blockIdx.y * TILE + ty            # row of c
        j = cuda.blockIdx.x * TILE + tx            # column of c
        M, K = a.shape
        N = b.shape[1]
        acc = zero
        for k0 in range(0, K, TILE):
            sa[ty, tx] = a[i, k0 + tx] if i < M and k0 + tx < K else zero
            sb[ty, tx] = b[k0 + ty, j] if k0 + ty < K and j < N else zero
            cuda.syncthreads()                     # both tiles loaded
            for k in range(TILE):
                acc += sa[ty, k] * sb[k, tx]
            cuda.syncthreads()                     # done with the tiles before reloading
        if i < M and j < N:
            c[i, j] = acc

    return kernel


def matmul(a, b):
    """a (M, K) @ b (K, N) -> (M, N), by cuBLAS."""
    xp = array_module(a)
    return xp.matmul(a, b)


def matmul_blocked(a, b):
    """a @ b by the shared-memory tiled numba.cuda kernel (2-D float arrays, one dtype)."""
    xp = array_module(a)
    a = xp.ascontiguousarray(a)
    b = xp.ascontiguousarray(b)
    M, N = a.shape[0], b.shape[1]
    c = xp.empty((M, N), dtype=a.dtype)
    blocks = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    _tiled_kernel(a.dtype.type)[blocks, (TILE, TILE)](a, b.astype(a.dtype, copy=False), c)
    return c
