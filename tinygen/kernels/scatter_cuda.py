"""Deterministic scatter-add on the GPU: target[index] += values, repeated positions summed
one after another in the order they come, as np.add.at does, so the result is bitwise the
CPU's and the same from run to run.

cupyx.scatter_add adds with atomics: repeats land in whatever order the threads reach them,
so a float sum changes from run to run (the backward of every fancy-indexing op goes through
it). Here instead, with M the number of elements of target[index]:

    pos     the flat position in target of each element of target[index]         (M,)
    order   the elements sorted by (pos, element number): each position's repeats
            contiguous, in their original order (unique keys, so any sort gives it)
    one thread per run of equal positions, the one at its start, adds the run onto
    target[pos] in order and stores once: no atomics, no two threads on one element.
"""
import numpy as np
from numba import cuda, int32

from tinygen.backend import get_array_module
from tinygen.kernels.common import launch, launch_config
from tinygen.kernels.common_cuda import grid32


@cuda.jit
def _add_runs(pos, values, target):
    # pos (M,) sorted, values (M,) in the same order, target flat
    n = int32(pos.size)
    start, step = grid32()                     # 32-bit index math (common_cuda.py)
    for i in range(start, n, step):
        p = pos[i]
        if i == 0 or pos[i - 1] != p:          # the first of its run: the run is this thread's
            acc = target[p]
            j = i
            while j < n and pos[j] == p:
                acc += values[j]
                j += 1
            target[p] = acc


# The numba.cuda kernels above by name, with the kinds of the arguments their launches pass
# (kernels/common_cuda.py's example_arguments): what benchmarks/ptx_check.py compiles.
DEVICE_KERNELS = {
    "add_runs": (_add_runs, ("int64 array1d", "array1d", "array1d")),
}


def scatter_add(target, index, values):
    """target[index] += values (values broadcast to target[index]'s shape), repeats summed in
    order; in place, returns target."""
    xp = get_array_module(target)
    int_t = np.int32 if target.size < 2 ** 31 else np.int64
    pos = xp.arange(target.size, dtype=int_t).reshape(target.shape)[index]   # target[index]'s shape
    m = pos.size
    if m == 0:
        return target
    values = xp.broadcast_to(xp.asarray(values, dtype=target.dtype), pos.shape).reshape(-1)
    pos = pos.reshape(-1).astype(np.int64)
    order = xp.argsort(pos * m + xp.arange(m, dtype=np.int64))               # (M,) unique keys
    flat = target.reshape(-1) if target.flags.c_contiguous else xp.ascontiguousarray(target).reshape(-1)
    blocks, threads = launch_config(m)
    launch(_add_runs, blocks, threads, xp.ascontiguousarray(pos[order]),
           xp.ascontiguousarray(values[order]), flat)
    if not target.flags.c_contiguous:
        target[...] = flat.reshape(target.shape)
    return target
