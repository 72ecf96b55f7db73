"""Matrix product, fast CPU version: BLAS for real work, a blocked numba kernel to learn from.

Same functions as matmul_numpy.py:

    a (M, K), b (K, N) -> c (M, N),   c[i, j] = sum_k a[i, k] * b[k, j]

`matmul` is NumPy's BLAS product (hand-tuned assembly): what the ops use. BLAS runs on one
thread inside tinygen's kernels (tinygen/kernels/threads.py says why); a large product is split
by rows of the result (by columns when b is stored transposed), one block per worker thread,
each a single-threaded BLAS call into its block of c.

`matmul_blocked` is the tiled GEMM written out in numba: the rows of c are split into blocks
of `block` rows, the blocks into one slice per worker thread (threads.over_slices); for each
block of the inner dimension k the loop order is i, k, j, so the innermost loop streams a row
of the b tile and a row of the c tile with unit stride (vectorized by LLVM) while a[i, k]
stays in a register, and the b tile (block x block) is reused for all `block` rows of the a
tile while it sits in cache. It is typically several times slower than BLAS, which also
packs tiles into contiguous buffers and keeps a register-blocked micro-kernel:
benchmarks/bench_kernels.py shows by how much.
"""
import math

import numpy as np
from numba import njit

from tinygen.kernels.common import empty
from tinygen.kernels.threads import blas_on_one_thread, over_slices

SPLIT_FLOPS = 8e6        # below this a product is one call: splitting costs more than it saves


@njit(cache=True, nogil=True)
def _matmul_blocked(a, b, c, block, ib0, ib1):
    M, K = a.shape
    N = b.shape[1]
    for ib in range(ib0, ib1):                         # the worker's blocks of rows of c
        i0 = ib * block
        i1 = min(i0 + block, M)
        c[i0:i1, :] = 0
        for k0 in range(0, K, block):
            k1 = min(k0 + block, K)
            for j0 in range(0, N, block):
                j1 = min(j0 + block, N)
                for i in range(i0, i1):
                    c_row = c[i, j0:j1]                 # (j1 - j0,) views of the tiles
                    for k in range(k0, k1):
                        aik = a[i, k]
                        b_row = b[k, j0:j1]
                        # indexed from 0: LLVM sees j >= 0, drops the negative-index
                        # wraparound check and vectorizes this loop (8-16 floats per op)
                        for j in range(j1 - j0):
                            c_row[j] += aik * b_row[j]


def matmul(a, b):
    """a (..., M, K) @ b (..., K, N) -> (..., M, N), by BLAS; large products split by rows."""
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if K == 1:
        # an outer product (a Linear(n, 1)'s input gradient): OpenBLAS took 0.80 ms for
        # (64, 1) @ (1, 6272), the broadcast product 0.06 ms, one multiplication per element
        return np.multiply(a, b)
    batch = () if a.ndim == b.ndim == 2 else np.broadcast_shapes(a.shape[:-2], b.shape[:-2])  # 1.4 us
    if 2.0 * M * K * N * math.prod(batch) < SPLIT_FLOPS or M < 16:
        with blas_on_one_thread():
            return a @ b
    c = empty(batch + (M, N), dtype=np.result_type(a, b))
    if not batch and M < N and b.strides[0] < b.strides[1]:
        # b stored transposed (a Linear's x @ W.T): each worker packs all of b in a split by
        # rows, and OpenBLAS packs a transposed b slowly; split by columns, each packs half
        # of it (and all of the smaller a). B1's (128, 784) @ (400, 784).T: 0.535 ms against
        # 0.590 by rows, (128, 400) @ (784, 400).T 0.539 against 0.647; with b not
        # transposed rows and columns measured alike, or rows faster
        over_slices(N, lambda lo, hi: np.matmul(a, b[:, lo:hi], out=c[:, lo:hi]), min_slice=8)
    else:
        over_slices(M, lambda lo, hi: np.matmul(a[..., lo:hi, :], b, out=c[..., lo:hi, :]), min_slice=8)
    return c


def matmul_blocked(a, b, block=64):
    """a @ b by the blocked numba kernel (2-D float arrays)."""
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    c = empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    over_slices((a.shape[0] + block - 1) // block,
                lambda ib0, ib1: _matmul_blocked(a, b, c, block, ib0, ib1), blas=False)
    return c
