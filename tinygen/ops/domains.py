"""Input domains: where an op's inputs are drawn when its derivatives are checked.

One vocabulary, read by the domain column of the elementwise table (ops/elementwise.py), by
tinygen.testing's hypothesis strategies and by `tinygen gradcheck` (tinygen/opcheck.py):

    "any"              values in [-2, 2]
    "positive"         values in [0.1, 2]                 log, sqrt, lgamma, a divisor, pow's base
    "unit"             values in [0.05, 0.95]             probabilities; asin, atanh, erfinv (-1, 1)
    "above_one"        values in [1.1, 3]                 acosh
    "away_from_kinks"  |x| in [0.11, ~2.1], pairwise >= 0.02 apart, and >= 0.01 away from
                       every multiple of 0.05 (so from 0, from the integers, and from clamp
                       bounds such as +-0.5): relu, abs, floor, clamp, max/min without ties

Values are small on purpose: float64 central differences with eps = 1e-6 are then accurate
to about 1e-9, far inside gradcheck's tolerances. An "away_from_kinks" value is
sign(m) (0.05 (|m| + 1) + j) for a distinct nonzero integer m and j in [0.01, 0.04].
"""
import numpy as np

BOUNDS = {"any": (-2.0, 2.0), "positive": (0.1, 2.0), "unit": (0.05, 0.95), "above_one": (1.1, 3.0)}
DOMAINS = tuple(BOUNDS) + ("away_from_kinks",)

KINK_GRID = 0.05           # away_from_kinks: values between the multiples of 0.05 ...
KINK_OFFSETS = (0.01, 0.04)  # ... at least 0.01 from each


def check_domain(domain):
    """A ValueError unless `domain` is one of DOMAINS."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: expected one of {DOMAINS}")


def away_from_kinks(ms, js):
    """The away_from_kinks values for distinct nonzero integers ms and offsets js in KINK_OFFSETS."""
    return [float(np.sign(m)) * (KINK_GRID * (abs(m) + 1) + j) for m, j in zip(ms, js)]


def draw(rng, shape, domain):
    """A float64 array of `shape` in `domain`, from the NumPy Generator rng (the fixed-seed
    draws of `tinygen gradcheck`; tinygen.testing draws the same domains with hypothesis)."""
    check_domain(domain)
    n = int(np.prod(shape, dtype=np.int64))
    if domain == "away_from_kinks":
        k = max(40, n)
        ms = rng.choice(np.r_[-k:0, 1:k + 1], size=n, replace=False)
        values = away_from_kinks(ms, rng.uniform(*KINK_OFFSETS, n))
        return np.asarray(values, dtype=np.float64).reshape(shape)
    return rng.uniform(*BOUNDS[domain], shape)
