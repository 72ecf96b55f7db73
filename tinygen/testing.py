"""Hypothesis strategies for property tests of tinygen ops (yours and ours).

    from hypothesis import given
    from tinygen import testing as tgt

    @given(tgt.tensors(tgt.shapes(max_dims=3), domain="positive"))
    def test_log_grad(x):
        assert tg.autograd.gradcheck(tg.log, (x,))

    @given(tgt.broadcastable_shapes())
    def test_add_broadcasts(pair):
        a_shape, b_shape = pair
        ...

Strategies (each returns a hypothesis SearchStrategy):

    shapes(min_dims, max_dims, min_side, max_side)      tuples of ints
    broadcastable_shapes(...)                           pairs (a, b) that broadcast together
    tensors(shape, domain, dtype, requires_grad, ...)   tg.Tensor with values in a domain
    arrays(shape, domain, dtype)                        the same values as a NumPy array
    conv_params(input_size, transposed=False, ...)      ConvParams valid for that input size
                                                        (conv_output_size: the formula it uses)

Domains (what a finite-difference check needs to be meaningful) are tinygen.ops.domains'
DOMAINS, the vocabulary of the op table's domain column: "any", "positive", "unit",
"above_one", "away_from_kinks" (that module gives each one's values).
"""
import dataclasses

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygen.ops import domains
from tinygen.ops.domains import DOMAINS  # noqa: F401  (tgt.DOMAINS: the names a test may draw)


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=3):
    """Shapes with min_dims..max_dims dims, each of size min_side..max_side."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


def broadcastable_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3):
    """Pairs of shapes (a, b) that broadcast together (np.broadcast_shapes(a, b) works).

    Either may have fewer dims or size-1 dims where the other does not, as in
    (3, 1) with (2, 1, 4)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda b: tuple(b.input_shapes))


@st.composite
def _values(draw, n, domain):
    """n floats (a list) in `domain`."""
    if domain == "away_from_kinks":
        k = max(40, n)
        ms = draw(st.lists(st.integers(-k, k).filter(bool), min_size=n, max_size=n, unique=True))
        js = draw(st.lists(st.floats(*domains.KINK_OFFSETS), min_size=n, max_size=n))
        return domains.away_from_kinks(ms, js)
    lo, hi = domains.BOUNDS[domain]
    return draw(st.lists(st.floats(lo, hi), min_size=n, max_size=n))


def arrays(shape, domain="any", dtype="float64"):
    """NumPy arrays of `shape` (a tuple, or a strategy of tuples) with values in `domain`.

    Values are drawn in float64 and then cast, so float32 arrays hold the nearest float32
    (0.1 becomes 0.100000001)."""
    domains.check_domain(domain)
    return _arrays(shape, domain, np.dtype(dtype))


@st.composite
def _arrays(draw, shape, domain, dtype):
    if not isinstance(shape, tuple):
        shape = draw(shape)
    n = int(np.prod(shape, dtype=np.int64))
    return np.asarray(draw(_values(n, domain)), dtype=dtype).reshape(shape)


def tensors(shape, domain="any", dtype="float64", requires_grad=True, device="cpu"):
    """tg.Tensors of `shape` (a tuple, or a strategy such as shapes()) with values in `domain`.

    float64 and requires_grad by default: ready for tg.autograd.gradcheck."""
    domains.check_domain(domain)
    return _tensors(shape, domain, np.dtype(dtype), requires_grad, device)


@st.composite
def _tensors(draw, shape, domain, dtype, requires_grad, device):
    # built inside a composite, not by .map: hypothesis prints a mapped value as the call
    # that made it (`_tensor(array(1.0), requires_grad, device)`), a drawn one by its repr
    # (`tensor(1., dtype=float64, requires_grad=True)`)
    import tinygen as tg  # tinygen.testing is importable without importing tinygen first
    array = draw(_arrays(shape, domain, dtype))
    return tg.tensor(array, dtype=array.dtype.name, device=device, requires_grad=requires_grad)


@dataclasses.dataclass(frozen=True)
class ConvParams:
    """Arguments of a 2-D convolution (or transposed convolution), as (height, width) pairs.

    output_size is what the op must return for the input size the params were drawn for:
        conv:       floor((H + 2 p - d (k - 1) - 1) / s) + 1
        transposed: (H - 1) s - 2 p + d (k - 1) + output_padding + 1
    """
    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    output_padding: tuple
    output_size: tuple


def conv_output_size(size, k, s, p, d, op=0, transposed=False):
    """The output length of a (transposed) convolution along one dim."""
    if transposed:
        return (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def conv_params(draw, input_size, transposed=False, max_kernel=3, max_stride=2, max_padding=2,
                max_dilation=2):
    """ConvParams valid for an input of `input_size` (int H, or (H, W)): output size >= 1.

    For a plain convolution output_padding is (0, 0). For a transposed one it is drawn below
    max(stride, dilation) (torch's rule), and padding is kept where the output is >= 1."""
    hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    per_dim = []
    for size in hw:
        k = draw(st.integers(1, max_kernel))
        s = draw(st.integers(1, max_stride))
        d = draw(st.integers(1, max_dilation))
        if transposed:
            op = draw(st.integers(0, max(s, d) - 1))
            # output (size - 1) s + d (k - 1) + op + 1 - 2 p >= 1
            p_min, p_max = 0, min(max_padding, ((size - 1) * s + d * (k - 1) + op) // 2)
        else:
            op = 0
            # output >= 1  <=>  size + 2 p >= d (k - 1) + 1  (the dilated kernel fits)
            p_min = max(0, -(-(d * (k - 1) + 1 - size) // 2))
            if p_min > max_padding:  # too wide even with the most padding: undilate, shrink
                d, k = 1, min(k, size + 2 * max_padding)
                p_min = max(0, -(-(k - size) // 2))
            p_max = max_padding
        p = draw(st.integers(p_min, p_max))
        out = conv_output_size(size, k, s, p, d, op, transposed)
        per_dim.append((k, s, p, d, op, out))
    k, s, p, d, op, out = (tuple(v) for v in zip(*per_dim))
    return ConvParams(kernel_size=k, stride=s, padding=p, dilation=d, output_padding=op,
                      output_size=out)
