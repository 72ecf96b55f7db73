"""Scatter-add, the reference: target[index] += values with repeated positions summed one
after another in the order they come (np.add.at), in place. The GPU's twin is
scatter_cuda.py, which sums the repeats in the same order without atomics, so both give the
same bits from run to run."""
import numpy as np


def scatter_add(target, index, values):
    """target[index] += values (values broadcast to target[index]'s shape), repeats summed in
    order; in place, returns target."""
    np.add.at(target, index, values)
    return target
