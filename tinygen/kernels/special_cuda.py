"""Special functions on GPU arrays: CuPy's own (cupyx.scipy.special), with the names and the
calling convention of special_numba.py (`apply(name, x, n=None)`). Untested in CI without a
GPU; the simulated cuda device holds NumPy arrays and uses special_numba.py, and
tinygen.fake_cupy (tests) stands in for cupyx.scipy.special with special_numba's kernels."""
import numpy as np

from tinygen.backend import get_array_module
from tinygen.kernels.common import scipy_special


def apply(name, x, n=None):
    xp = get_array_module(x)
    special = scipy_special(x)
    x64 = x.astype(np.float64, copy=False)
    if name == "polygamma":
        y = special.polygamma(xp.asarray(n, dtype=np.int64), x64)
    elif name == "lgamma":
        y = special.gammaln(x64)   # log |Gamma(x)|, as torch.lgamma
    else:
        y = getattr(special, name)(x64)
    return y.astype(x.dtype, copy=False)
