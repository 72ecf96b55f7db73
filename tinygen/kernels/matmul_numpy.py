"""Matrix product C = A @ B, the readable reference, plus the blocking idea that fast GEMMs use.

    a (M, K), b (K, N) -> c (M, N),   c[i, j] = sum_k a[i, k] * b[k, j]

`matmul` is the library product (BLAS on the CPU, cuBLAS through CuPy): what the ops use.

`matmul_blocked` computes the same sum tile by tile: c[I, J] += a[I, K] @ b[K, J] over tiles
of `block` rows/columns. A tile of a, of b and of c fit in cache together, so every number
loaded from memory is used `block` times instead of once. That reuse, and vector instructions
inside a tile, is what separates a fast GEMM from the triple loop (Goto & van de Geijn 2008,
"Anatomy of high-performance matrix multiplication"). matmul_numba.py and matmul_cuda.py
write the tile loop out by hand; here the tile product is NumPy's, to show the loop order.
"""
from tinygen.backend import get_array_module


def matmul(a, b):
    """a (M, K) @ b (K, N) -> (M, N)."""
    return a @ b


def matmul_blocked(a, b, block=64):
    """a @ b computed one (block x block) tile of the output at a time."""
    xp = get_array_module(a)
    M, K = a.shape
    N = b.shape[1]
    c = xp.zeros((M, N), dtype=xp.result_type(a, b))
    for i in range(0, M, block):
        for j in range(0, N, block):
            for k in range(0, K, block):
                c[i: i + block, j: j + block] += a[i: i + block, k: k + block] @ b[k: k + block, j: j + block]
    return c
