"""32-bit index math for the numba.cuda kernels (numba computes every integer in 64 bits).

A kernel splits its flat thread index t into (n, c, h, w) with // and %. Numba types every
integer operation at least 64 bits wide, and a 64-bit integer division is a ~70-instruction
routine on the GPU (~10x a 32-bit one), so a kernel with a handful of them spends more time
on its index math than on its arithmetic. These helpers divide in 32 bits:

    start, step = grid32()                   the grid-stride loop's start and step, int32:
    for t in range(start, int32(total), step)    (its trip count is a 32-bit division)
    div32(a, b), mod32(a, b)                 a // b and a % b for 0 <= a, b < 2**31, as int32
    n, c, h, w = unravel4(t, C, H, W)        t's position in an (N, C, H, W) array

div32 and mod32 cast to uint32 and back: LLVM then narrows numba's 64-bit division of the
zero-extended values to a 32-bit one (signed floor division would not narrow: -7 // 2).
launch_config refuses totals of 2**31 or more, so every index fits. benchmarks/ptx_check.py
counts what is left (64-bit div/rem lines in the PTX: 0).

Each *_cuda.py lists its kernels in a table, DEVICE_KERNELS: name -> (kernel, the kinds of
the arguments its launch passes). example_arguments turns such kinds into tiny arguments of
those types, so that a kernel compiles without a GPU (benchmarks/ptx_check.py).
"""
import numpy as np
from numba import config, cuda, int32, uint32


def _arithmetic(fn):
    """An inlined device function; in numba's simulator the plain Python function, since there
    every call of a simulated device function swaps the cuda module in and out (~100x a Python
    call, and the index math makes several per element). Pure arithmetic only: no cuda.*."""
    return fn if config.ENABLE_CUDASIM else cuda.jit(device=True, inline=True)(fn)


@cuda.jit(device=True, inline=True)
def grid32():
    return int32(cuda.grid(1)), int32(cuda.gridsize(1))


@_arithmetic
def div32(a, b):
    return int32(uint32(a) // uint32(b))


@_arithmetic
def mod32(a, b):
    return int32(uint32(a) % uint32(b))


@_arithmetic
def unravel4(t, C, H, W):
    """(n, c, h, w) of flat index t in a C-contiguous (N, C, H, W) array, in 32 bits."""
    return (div32(t, C * H * W), mod32(div32(t, H * W), C), mod32(div32(t, W), H),
            mod32(t, W))


def example_arguments(kinds, dtype):
    """Tiny arguments of the types a launch passes, one per kind (a DEVICE_KERNELS entry's):

        "array<n>d"        an array of `dtype` with n dimensions (shape (1,) * n)
        "int64 array<n>d"  the same of int64 (max pooling's argmax, scatter's positions)
        "int"              a Python int (numba types it int64): the shapes and geometry
        "scalar"           a number of `dtype`: the typed 0s and 1s the launches pass, so that
                           a float32 kernel does not compute in float64
        "bool"             a Python bool (the optimizer steps' switches)
        (kind, ...)        a tuple of those (the optimizer steps' tuples of tensors)
    """
    return tuple(_example_argument(kind, dtype) for kind in kinds)


def _example_argument(kind, dtype):
    if isinstance(kind, tuple):
        return example_arguments(kind, dtype)
    if kind in ("int", "bool", "scalar"):
        return {"int": 1, "bool": True, "scalar": np.dtype(dtype).type(1)}[kind]
    element, _, array = kind.rpartition(" ")
    ndim = int(array.removeprefix("array").removesuffix("d"))
    return np.zeros((1,) * ndim, np.dtype(element or dtype))
