"""Special functions on GPU arrays: CuPy's own (cupyx.scipy.special), with the names and the
calling convention of special_numba.py (`apply(name, x, n=None)`). Untested in CI without a
GPU; the simulated cuda device holds NumPy arrays and uses special_numba.py."""


def apply(name, x, n=None):
    import cupy
    from cupyx.scipy import special
    x64 = x.astype(cupy.float64, copy=False)
    if name == "polygamma":
        y = special.polygamma(cupy.asarray(n, dtype=cupy.int64), x64)
    elif name == "lgamma":
        y = special.gammaln(x64)   # log |Gamma(x)|, as torch.lgamma
    else:
        y = getattr(special, name)(x64)
    return y.astype(x.dtype, copy=False)
