"""Special functions on cpu arrays, as numba ufuncs (NumPy has no erf, lgamma or digamma):
erf, erfc, lgamma (numba's math.erf/erfc/lgamma, i.e. the C library's), and three written
here, each accurate to a few ulp in float64 (checked against mpmath in
tests/test_tensorops_special.py):

  digamma(x)        psi(x). Reflection psi(x) = psi(1 - x) - pi / tan(pi x) for x < 0,
                    recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic
                    series log x - 1/(2x) - sum_k B_2k / (2k x^2k) (7 terms).
                    psi(+-0) = -+inf (its limit from that side), psi(negative integer) = nan
                    (as torch).
  polygamma(n, x)   psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x) for n >= 1, the Hurwitz zeta
                    summed directly up to x + m >= 20 and then by Euler-Maclaurin (8 terms).
                    Poles (x a non-positive integer): inf for odd n, nan for even n.
  erfinv(y)         Giles' single-precision approximation (2010), then Halley steps on
                    erf(x) = y, or on erfc(x) = 1 - |y| for |y| > 0.5 where erf saturates.
                    erfinv(+-1) = +-inf, |y| > 1 -> nan.

Every kernel computes in float64; the caller casts back to the input's dtype. They compile on
first use (cached on disk, as the other numba kernels).
"""
import math

import numpy as np
from numba import njit, vectorize

_B2K = (1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6, -3617.0 / 510)


@vectorize(["float64(float64)"], cache=True)
def erf(x):
    return math.erf(x)


@vectorize(["float64(float64)"], cache=True)
def erfc(x):
    return math.erfc(x)


@vectorize(["float64(float64)"], cache=True)
def lgamma(x):
    if x <= 0.0 and x == math.floor(x):
        return math.inf          # poles, as torch (the C library agrees)
    return math.lgamma(x)


@njit(cache=True)
def _digamma(x):
    if math.isnan(x):
        return x
    if x == math.floor(x) and x <= 0.0:
        return math.copysign(math.inf, -x) if x == 0.0 else math.nan
    result = 0.0
    if x < 0.0:
        r = x - math.floor(x + 0.5)                  # x - nearest integer: tan(pi x) = tan(pi r)
        result = -math.pi / math.tan(math.pi * r)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = 0.0
    power = inv2
    for k in range(7):
        series += _B2K[k] / (2 * (k + 1)) * power
        power *= inv2
    return result + math.log(x) - 0.5 / x - series


@njit(cache=True)
def _polygamma(n, x):
    if n == 0:
        return _digamma(x)
    if math.isnan(x):
        return x
    if x <= 0.0 and x == math.floor(x):
        return math.inf if n % 2 == 1 else math.nan
    s = n + 1
    zeta = 0.0
    while x < 20.0:                     # zeta(s, x) = x^-s + zeta(s, x + 1)
        zeta += 1.0 / x ** s
        x += 1.0
    # Euler-Maclaurin tail: x^(1-s)/(s-1) + x^-s/2 + sum_j B_2j/(2j)! s(s+1)..(s+2j-2) x^(-s-2j+1)
    tail = x ** (1 - s) / (s - 1) + 0.5 / x ** s
    rising = float(s)                   # s (s+1) ... (s + 2j - 2)
    factorial = 2.0                     # (2j)!
    power = 1.0 / x ** (s + 1)          # x^(-s-2j+1) for j = 1
    for j in range(1, 9):
        tail += _B2K[j - 1] / factorial * rising * power
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        factorial *= (2 * j + 1) * (2 * j + 2)
        power /= x * x
    sign = 1.0 if n % 2 == 1 else -1.0
    return sign * math.gamma(n + 1) * (zeta + tail)


@njit(cache=True)
def _erfinv(y):
    if math.isnan(y) or y < -1.0 or y > 1.0:
        return math.nan
    if y == 1.0 or y == -1.0:
        return math.copysign(math.inf, y)
    a = abs(y)
    # Giles (2010), "Approximating the erfinv function", single-precision branch: rel. err 4e-7
    w = -math.log((1.0 - a) * (1.0 + a))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    x = p * a
    c = 2.0 / math.sqrt(math.pi)
    for _ in range(30):   # Halley on f(x) = 0 with f' = +-c e^(-x^2), f'' = -2 x f'
        if a <= 0.5:
            f = math.erf(x) - a
            fp = c * math.exp(-x * x)
        else:
            f = math.erfc(x) - (1.0 - a)
            fp = -c * math.exp(-x * x)
        if fp == 0.0:
            break
        step = f / (fp + x * f)
        x -= step
        if abs(step) <= 1e-9 * x:    # cubic convergence: the next error is below 1e-25 x
            break
    return math.copysign(x, y)


@vectorize(["float64(float64)"], cache=True)
def digamma(x):
    return _digamma(x)


@vectorize(["float64(int64, float64)"], cache=True)
def polygamma(n, x):
    return _polygamma(n, x)


@vectorize(["float64(float64)"], cache=True)
def erfinv(y):
    return _erfinv(y)


def apply(name, x, n=None):
    """The kernel `name` on array x (any float dtype: computed in float64, cast back)."""
    kernel = globals()[name]
    x64 = np.asarray(x, dtype=np.float64)
    y = kernel(np.int64(n), x64) if n is not None else kernel(x64)
    return np.asarray(y).astype(x.dtype, copy=False)
