"""torch.nn's functional forms added for issues 11 and 26: float64 gradcheck and gradgradcheck over
hypothesis draws (shapes, arguments, values in each op's smooth domain).

CASES maps a test id to a strategy drawing (fn, inputs); GRADCHECKED lists the
tinygen.nn.functional names these cases cover, so tests/test_ops_gradcheck.py's walk counts
them as checked.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import testing as tgt
from tinygen.autograd import gradcheck, gradgradcheck

CASES = {}
COVERS = {}


def case(name, *covers):
    def register(strategy_fn):
        CASES[name] = st.composite(strategy_fn)()
        COVERS[name] = covers or (name,)
        return strategy_fn
    return register


SMALL = tgt.shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


@st.composite
def _images(draw, domain="any", min_side=1, max_side=4, channels=(1, 2)):
    n, c = draw(st.integers(1, 2)), draw(st.sampled_from(channels))
    h, w = draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side))
    return draw(tgt.tensors((n, c, h, w), domain))


def _const(array):
    return tg.tensor(np.asarray(array))


def _like(array, x):
    """A constant of x's dtype on x's device (None stays None): float32 cases stay float32."""
    return None if array is None else tg.tensor(np.asarray(array).astype(x.dtype), device=x.device)


# ---- activations ---------------------------------------------------------------------------------

@case("gelu")
def _gelu(draw):
    approximate = draw(st.sampled_from(["none", "tanh"]))
    return (lambda x: F.gelu(x, approximate=approximate)), (draw(tgt.tensors(SMALL)),)


@case("silu")
def _silu(draw):
    return F.silu, (draw(tgt.tensors(SMALL)),)


@case("mish")
def _mish(draw):
    return F.mish, (draw(tgt.tensors(SMALL)),)


@case("hardtanh", "hardtanh", "relu6")
def _hardtanh(draw):
    x = draw(tgt.tensors(SMALL, "away_from_kinks"))
    if draw(st.booleans()):
        return (lambda x: F.relu6(x * 3)), (x,)       # kinks at x = 0 and x = 2
    return (lambda x: F.hardtanh(x, -0.5, 1.0)), (x,)


@case("selu", "selu", "celu")
def _selu(draw):
    x = draw(tgt.tensors(SMALL, "away_from_kinks"))
    if draw(st.booleans()):
        return F.selu, (x,)
    alpha = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return (lambda x: F.celu(x, alpha)), (x,)


@case("hardsigmoid", "hardsigmoid", "hardswish")
def _hard(draw):
    x = draw(tgt.tensors(SMALL, "away_from_kinks"))
    fn = draw(st.sampled_from([F.hardsigmoid, F.hardswish]))
    return (lambda x: fn(x * 2)), (x,)                # kinks at x = -1.5, 1.5


@case("softmin")
def _softmin(draw):
    x = draw(tgt.tensors(SMALL))
    return (lambda x: F.softmin(x, -1)), (x,)


@case("softsign")
def _softsign(draw):
    return F.softsign, (draw(tgt.tensors(SMALL, "away_from_kinks")),)


@case("prelu")
def _prelu(draw):
    x = draw(tgt.tensors(tgt.shapes(2, 3, 1, 3), "away_from_kinks"))
    n = draw(st.sampled_from([1, x.shape[1]]))
    return F.prelu, (x, draw(tgt.tensors((n,))))


# ---- losses --------------------------------------------------------------------------------------

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@case("l1_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
def _robust_losses(draw):
    # d = input - target away from the kinks (0, beta = 0.5, delta = 1.0): target is constant
    x = draw(tgt.tensors(SMALL, "away_from_kinks"))
    shift = np.round(draw(tgt.arrays(x.shape, "any")) * 20) / 20   # multiples of 0.05
    reduction = draw(REDUCTIONS)
    loss = draw(st.sampled_from([
        lambda x, t: F.l1_loss(x, t, reduction=reduction),
        lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=0.5),
        lambda x, t: F.huber_loss(x, t, reduction=reduction, delta=1.0)]))
    return (lambda x: loss(x + _like(shift, x), _like(shift, x))), (x,)


@case("kl_div")
def _kl_div(draw):
    x = draw(tgt.tensors(SMALL))
    log_target = draw(st.booleans())
    t = draw(tgt.tensors(x.shape, "any" if log_target else "positive"))
    reduction = draw(st.sampled_from(["mean", "sum", "none", "batchmean"]))
    return (lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target)), (x, t)


@case("cross_entropy_probabilities", "cross_entropy")
def _cross_entropy_probs(draw):
    x = draw(tgt.tensors(tgt.shapes(2, 3, 1, 3)))
    p = draw(tgt.tensors(x.shape, "unit"))
    smoothing = draw(st.sampled_from([0.0, 0.2]))
    weight = draw(st.one_of(st.none(), tgt.arrays((x.shape[1],), "positive")))
    reduction = draw(REDUCTIONS)
    return (lambda x, p: F.cross_entropy(x, p, _like(weight, x), reduction=reduction,
                                         label_smoothing=smoothing)), (x, p)


@case("cross_entropy_label_smoothing", "cross_entropy")
def _cross_entropy_smoothed(draw):
    x = draw(tgt.tensors(tgt.shapes(2, 3, 1, 3)))
    C = x.shape[1]
    t = draw(tgt.arrays((x.shape[0],) + tuple(x.shape[2:]), "any"))
    labels = np.floor((t + 2) / 4 * C).clip(0, C - 1).astype(np.int64)
    labels.flat[0] = draw(st.sampled_from([labels.flat[0], -100]))   # maybe one ignored target
    if (labels == -100).all():
        labels.flat[0] = 0
    weight = draw(st.one_of(st.none(), tgt.arrays((C,), "positive")))
    reduction = draw(REDUCTIONS)
    return (lambda x: F.cross_entropy(x, _const(labels), _like(weight, x), reduction=reduction,
                                      label_smoothing=0.3)), (x,)


# ---- pooling, resizing, padding, patches ---------------------------------------------------------

@case("adaptive_avg_pool2d")
def _adaptive_avg(draw):
    x = draw(_images())
    size = (draw(st.integers(1, 4)), draw(st.one_of(st.none(), st.integers(1, 4))))
    return (lambda x: F.adaptive_avg_pool2d(x, size)), (x,)


@case("adaptive_max_pool2d")
def _adaptive_max(draw):
    x = draw(_images("away_from_kinks"))      # distinct values: no ties inside a bin
    size = (draw(st.integers(1, x.shape[2])), draw(st.integers(1, x.shape[3])))
    return (lambda x: F.adaptive_max_pool2d(x, size)), (x,)


@case("max_pool2d_ceil_mode", "max_pool2d")
def _max_pool_ceil(draw):
    x = draw(_images("away_from_kinks", min_side=2))
    k = draw(st.integers(2, min(3, *x.shape[2:])))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, k // 2))
    return (lambda x: F.max_pool2d(x, k, stride, padding, ceil_mode=True)), (x,)


@case("avg_pool2d_options", "avg_pool2d")
def _avg_pool_options(draw):
    x = draw(_images(min_side=2))
    k = draw(st.integers(2, min(3, *x.shape[2:])))
    padding = draw(st.integers(0, k // 2))
    stride, divisor = draw(st.integers(1, 2)), draw(st.sampled_from([None, 3]))
    ceil_mode, count_include_pad = draw(st.booleans()), draw(st.booleans())
    return (lambda x: F.avg_pool2d(x, k, stride, padding, ceil_mode, count_include_pad,
                                   divisor)), (x,)


@case("interpolate", "interpolate", "upsample")
def _interpolate(draw):
    linear = draw(st.booleans())
    x = draw(_images()) if not linear or draw(st.booleans()) else draw(tgt.tensors((1, 2, draw(st.integers(1, 4)))))
    dims = x.ndim - 2
    if linear:
        mode = "bilinear" if dims == 2 else "linear"
        corners = draw(st.sampled_from([None, True, False]))
    else:
        mode, corners = draw(st.sampled_from(["nearest", "nearest-exact"])), None
    if draw(st.booleans()):
        size = tuple(draw(st.integers(1, 6)) for _ in range(dims))
        return (lambda x: F.interpolate(x, size=size, mode=mode, align_corners=corners)), (x,)
    factor = draw(st.sampled_from([2, 0.5, 1.5]))
    if any(int(n * factor) == 0 for n in x.shape[2:]):
        factor = 2
    return (lambda x: F.interpolate(x, scale_factor=factor, mode=mode, align_corners=corners)), (x,)


@case("pixel_shuffle", "pixel_shuffle", "pixel_unshuffle")
def _pixel_shuffle(draw):
    r = draw(st.integers(1, 2))
    if draw(st.booleans()):
        x = draw(tgt.tensors((draw(st.integers(1, 2)), r * r * draw(st.integers(1, 2)), 2, 3)))
        return (lambda x: F.pixel_shuffle(x, r)), (x,)
    x = draw(tgt.tensors((1, draw(st.integers(1, 2)), 2 * r, r)))
    return (lambda x: F.pixel_unshuffle(x, r)), (x,)


@case("pad_modes", "pad")
def _pad_modes(draw):
    x = draw(_images(min_side=2))
    mode = draw(st.sampled_from(["reflect", "replicate", "circular"]))
    limit = 1 if mode == "reflect" else 2
    widths = tuple(draw(st.integers(0, limit)) for _ in range(4))
    return (lambda x: F.pad(x, widths, mode=mode)), (x,)


@st.composite
def _patch_geometry(draw, size):
    k = tuple(draw(st.integers(1, min(2, n))) for n in size)
    return dict(kernel_size=k, dilation=draw(st.sampled_from([1, (1, 2)])) if size[1] >= 3 else 1,
                padding=draw(st.integers(0, 1)), stride=draw(st.integers(1, 2)))


@case("unfold", "unfold", "fold")
def _unfold_fold(draw):
    x = draw(_images(min_side=2))
    geometry = draw(_patch_geometry(x.shape[2:]))
    if draw(st.booleans()):
        return (lambda x: F.unfold(x, **geometry)), (x,)
    cols = F.unfold(x, **geometry)
    c = draw(tgt.tensors(tuple(cols.shape)))
    return (lambda c: F.fold(c, tuple(x.shape[2:]), **geometry)), (c,)


# ---- lookups, similarity, normalization, dropout, 1-d convolution --------------------------------

@case("embedding")
def _embedding(draw):
    w = draw(tgt.tensors((draw(st.integers(2, 4)), draw(st.integers(1, 3)))))
    idx = draw(st.lists(st.integers(0, w.shape[0] - 1), min_size=1, max_size=5))
    # (padding_idx's zero gradient is a convention, not a derivative: checked against torch)
    return (lambda w: F.embedding(_const(idx), w)), (w,)


@case("normalize")
def _normalize(draw):
    x = draw(tgt.tensors(tgt.shapes(2, 3, 1, 3), "away_from_kinks"))
    p = draw(st.sampled_from([1.0, 2.0, 3.0]))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    return (lambda x: F.normalize(x, p, dim)), (x,)


@case("cosine_similarity")
def _cosine(draw):
    a = draw(tgt.tensors(tgt.shapes(1, 3, 1, 3), "away_from_kinks"))
    b = draw(tgt.tensors(a.shape, "away_from_kinks"))
    dim = draw(st.integers(-a.ndim, a.ndim - 1))
    return (lambda a, b: F.cosine_similarity(a, b, dim)), (a, b)


@case("group_norm")
def _group_norm(draw):
    groups = draw(st.integers(1, 2))
    x = draw(tgt.tensors((2, 2 * groups, draw(st.integers(1, 3))), "away_from_kinks"))
    w, b = draw(tgt.tensors((x.shape[1],))), draw(tgt.tensors((x.shape[1],)))
    return (lambda x, w, b: F.group_norm(x, groups, w, b)), (x, w, b)


@case("instance_norm")
def _instance_norm(draw):
    x = draw(_images("away_from_kinks", min_side=2))
    w, b = draw(tgt.tensors((x.shape[1],))), draw(tgt.tensors((x.shape[1],)))
    return (lambda x, w, b: F.instance_norm(x, weight=w, bias=b)), (x, w, b)


@case("dropout2d", "dropout2d", "dropout1d", "alpha_dropout")
def _dropout2d(draw):
    p, seed = draw(st.sampled_from([0.0, 0.3, 0.5])), draw(st.integers(0, 3))
    x = draw(_images())
    which = draw(st.sampled_from(["dropout2d", "dropout1d", "alpha_dropout"]))
    if which == "dropout1d":
        x = tg.tensor(x.numpy().reshape(x.shape[0], x.shape[1], -1), dtype="float64", requires_grad=True)
    drop = {"dropout2d": lambda x: F.dropout2d(x, p), "dropout1d": lambda x: F.dropout1d(x, p),
            "alpha_dropout": lambda x: F.alpha_dropout(x, p, training=True)}[which]

    def fn(x):
        tg.manual_seed(seed)           # the same mask at every evaluation
        return drop(x)
    return fn, (x,)


@case("conv1d", "conv1d", "conv_transpose1d")
def _conv1d(draw):
    x = draw(tgt.tensors((draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(3, 5)))))
    k, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    b = draw(tgt.tensors((c_out,)))
    if draw(st.booleans()):
        w = draw(tgt.tensors((c_out, x.shape[1], k)))
        return (lambda x, w, b: F.conv1d(x, w, b, stride, padding)), (x, w, b)
    w = draw(tgt.tensors((x.shape[1], c_out, k)))
    out_pad = draw(st.integers(0, stride - 1))
    return (lambda x, w, b: F.conv_transpose1d(x, w, b, stride, padding, out_pad)), (x, w, b)


# ---- issue 26: shrinks, bilinear, 1-d pools, local response norm, distances, embedding losses ----

@case("glu_shrinks", "glu", "tanhshrink", "softshrink", "hardshrink", "threshold")
def _shrinks(draw):
    x = draw(tgt.tensors(SMALL, "away_from_kinks"))     # the shrinks' kinks at +-lambd
    which = draw(st.sampled_from(["glu", "tanhshrink", "softshrink", "hardshrink", "threshold"]))
    if which == "threshold":                            # its kink at 0.5, away from every x
        return (lambda x: F.threshold(x, 0.5, -1.5)), (x,)
    if which == "glu":
        x = draw(tgt.tensors(tuple(x.shape[:-1]) + (2 * x.shape[-1],)))
        dim = draw(st.sampled_from([-1, x.ndim - 1]))
        return (lambda x: F.glu(x, dim)), (x,)
    if which == "tanhshrink":
        return F.tanhshrink, (x,)
    lambd = draw(st.sampled_from([0.5, 0.3, 0.0]))
    return (lambda x: getattr(F, which)(x, lambd)), (x,)


@case("bilinear")
def _bilinear(draw):
    lead = draw(tgt.shapes(1, 2, 1, 3))
    i1, i2, o = (draw(st.integers(1, 3)) for _ in range(3))
    x1, x2, w = draw(tgt.tensors(lead + (i1,))), draw(tgt.tensors(lead + (i2,))), draw(tgt.tensors((o, i1, i2)))
    if draw(st.booleans()):
        return F.bilinear, (x1, x2, w, draw(tgt.tensors((o,))))
    return F.bilinear, (x1, x2, w)


@case("adaptive_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d")
def _adaptive_pool1d(draw):
    x = draw(tgt.tensors((draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 6))),
                         "away_from_kinks"))          # distinct: no ties in a bin
    size = draw(st.integers(1, x.shape[2] + 1))
    if draw(st.booleans()):
        return (lambda x: F.adaptive_avg_pool1d(x, size)), (x,)
    return (lambda x: F.adaptive_max_pool1d(x, min(size, x.shape[2]))), (x,)


@case("pool1d", "max_pool1d", "avg_pool1d")
def _pool1d(draw):
    x = draw(tgt.tensors((draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 6))),
                         "away_from_kinks"))          # distinct: no ties in a window
    k = draw(st.integers(1, min(3, x.shape[2])))
    stride, padding = draw(st.sampled_from([None, 1, 2])), draw(st.integers(0, k // 2))
    ceil_mode = draw(st.booleans())
    if draw(st.booleans()):
        return (lambda x: F.max_pool1d(x, k, stride, padding, ceil_mode=ceil_mode)), (x,)
    count_include_pad = draw(st.booleans())
    return (lambda x: F.avg_pool1d(x, k, stride, padding, ceil_mode, count_include_pad)), (x,)


@case("local_response_norm")
def _lrn(draw):
    x = draw(tgt.tensors((2, draw(st.integers(1, 4))) + draw(tgt.shapes(1, 2, 1, 3))))
    size = draw(st.integers(1, 4))
    return (lambda x: F.local_response_norm(x, size, alpha=0.5, beta=0.75, k=1.0)), (x,)


@case("pairwise_distance")
def _pairwise_distance(draw):
    a = draw(tgt.tensors(tgt.shapes(1, 2, 1, 3), "away_from_kinks"))
    b = draw(tgt.tensors(a.shape[-1:]))
    p = draw(st.sampled_from([2.0, 1.0, 3.0]))
    keepdim = draw(st.booleans())
    return (lambda a, b: F.pairwise_distance(a, b * 0.01, p, keepdim=keepdim)), (a, b)  # a - b away from 0


@st.composite
def _signs(draw, shape):
    return np.asarray(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape))))).reshape(shape)


@case("poisson_nll_loss")
def _poisson_nll(draw):
    shape = draw(tgt.shapes(1, 2, 1, 3))
    log_input, full, reduction = draw(st.booleans()), draw(st.booleans()), draw(REDUCTIONS)
    x = draw(tgt.tensors(shape, "any" if log_input else "positive"))
    t = draw(tgt.tensors(shape, "positive"))
    # some above 1 (full's Stirling term), none within 0.05 of 1: the term is added only where
    # t > 1 (torch's rule), a jump at t = 1 that no finite difference may straddle
    t = t.numpy() * 2
    t = tg.tensor(np.where(np.abs(t - 1) < 0.05, t + 0.1, t), dtype="float64", requires_grad=True)
    return (lambda x, t: F.poisson_nll_loss(x, t, log_input, full, reduction=reduction)), (x, t)


@case("margin_losses", "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
      "multilabel_soft_margin_loss")
def _margin_losses(draw):
    x = draw(tgt.tensors(tgt.shapes(2, 2, 1, 3), "away_from_kinks"))
    y = draw(_signs(tuple(x.shape)))
    reduction = draw(REDUCTIONS)
    which = draw(st.sampled_from(["ranking", "hinge", "soft", "multilabel"]))
    if which == "ranking":   # -y (a - b) away from 0: b moves a by at most 0.002
        b = draw(tgt.tensors(tuple(x.shape)))
        return (lambda a, b: F.margin_ranking_loss(a, b * 0.001, _like(y, a), reduction=reduction)), (x, b)
    if which == "hinge":     # kink at x = margin = 1.0
        return (lambda x: F.hinge_embedding_loss(x, _like(y, x), reduction=reduction)), (x,)
    if which == "soft":
        return (lambda x: F.soft_margin_loss(x, _like(y, x), reduction=reduction)), (x,)
    t = (y + 1) / 2
    w = draw(st.one_of(st.none(), tgt.arrays(tuple(x.shape[-1:]), "positive")))
    return (lambda x: F.multilabel_soft_margin_loss(x, _like(t, x), _like(w, x), reduction=reduction)), (x,)


def _cosine(a, b):
    return (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))


@case("cosine_embedding_loss")
def _cosine_embedding(draw):
    a = draw(tgt.tensors((draw(st.integers(1, 3)), draw(st.integers(1, 3))), "away_from_kinks"))
    b = draw(tgt.tensors(tuple(a.shape), "away_from_kinks"))     # no zero vectors
    y = draw(_signs((a.shape[0],)))
    margin = draw(st.sampled_from([0.0, 0.3, -0.4]))
    if np.abs(_cosine(a.numpy(), b.numpy()) - margin).min() < 1e-3:   # too near the hinge's kink
        y = np.ones_like(y)
    return (lambda a, b: F.cosine_embedding_loss(a, b, _like(y, a), margin, reduction="sum")), (a, b)


@case("triplet_margin_loss")
def _triplet(draw):
    a = draw(tgt.tensors((draw(st.integers(1, 3)), draw(st.integers(1, 3))), "away_from_kinks"))
    pos, neg = draw(tgt.tensors(tuple(a.shape))), draw(tgt.tensors(tuple(a.shape)))
    p, swap, margin = draw(st.sampled_from([2.0, 1.0])), draw(st.booleans()), draw(st.sampled_from([1.0, 0.1]))

    def distances(a, pos, neg):      # the loss's own arithmetic, to stay away from its kinks
        d = lambda u, v: (np.abs(u - v + 1e-6) ** p).sum(-1) ** (1 / p)   # noqa: E731
        d_neg = np.minimum(d(a, neg), d(pos, neg)) if swap else d(a, neg)
        return d(a, pos), d_neg, np.abs(d(a, neg) - d(pos, neg)).min()
    d_pos, d_neg, tie = distances(a.numpy(), pos.numpy() * 0.01, neg.numpy() * 0.01 + 0.5)
    if np.abs(margin + d_pos - d_neg).min() < 1e-3 or (swap and tie < 1e-3):
        margin, swap = 100.0, False
    return (lambda a, pos, neg: F.triplet_margin_loss(a, pos * 0.01, neg * 0.01 + 0.5, margin, p,
                                                      swap=swap)), (a, pos, neg)


@case("class_margin_losses", "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_with_distance_loss")
def _class_margin_losses(draw):
    # scores on a grid 0.05 apart (away_from_kinks, times 2): 1 - x_j + x_i and margin - x_y + x_i
    # (margins multiples of 0.05) stay away from 0
    x = draw(tgt.tensors((draw(st.integers(1, 3)), draw(st.integers(2, 4))), "away_from_kinks"))
    n, c = x.shape
    which = draw(st.sampled_from(["multi", "multilabel", "triplet"]))
    if which == "multi":
        t = _const(np.asarray(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))))
        p, margin = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1.0, 0.5]))
        w = draw(st.one_of(st.none(), tgt.arrays((c,), "positive")))
        return (lambda x: F.multi_margin_loss(x * 2, t, p, margin, _like(w, x))), (x,)
    if which == "multilabel":
        rows = [draw(st.permutations(range(c)))[:draw(st.integers(0, c))] for _ in range(n)]
        t = _const(np.asarray([r + [-1] * (c - len(r)) for r in rows]))
        return (lambda x: F.multilabel_margin_loss(x * 2, t, reduction="sum")), (x,)
    pos, neg = draw(tgt.tensors((n, c))), draw(tgt.tensors((n, c)))
    d = lambda u, v: ((u - v) ** 2).sum(-1)     # noqa: E731  (smooth: a squared distance)
    margin = 100.0 if np.abs(1 + d(x.numpy(), pos.numpy()) - d(x.numpy(), neg.numpy())).min() < 1e-3 else 1.0
    return (lambda a, p, q: F.triplet_margin_with_distance_loss(a, p, q, distance_function=d, margin=margin)), \
        (x, pos, neg)


@case("affine_grid_grid_sample", "affine_grid", "grid_sample")
def _grid_sample(draw):
    x = draw(_images(min_side=2))
    n, sizes = x.shape[0], np.array([x.shape[3], x.shape[2]])          # (W, H): the grid's (x, y)
    align_corners = draw(st.booleans())
    if draw(st.booleans()):
        return (lambda t: F.affine_grid(t, (n, 1, *x.shape[2:]), align_corners)), (draw(tgt.tensors((n, 2, 3))),)
    mode = draw(st.sampled_from(["bilinear", "nearest"]))
    padding_mode = draw(st.sampled_from(["zeros", "border", "reflection"]))
    # pixel coordinates k + f, away from where the taps change (the integers; nearest's
    # halves) and, but for zeros, from the edges where border and reflection fold
    shape = (n, draw(st.integers(1, 3)), draw(st.integers(1, 3)), 2)
    frac = draw(tgt.arrays(shape, "unit")) * (0.4 if mode == "nearest" else 1.0)
    low = -1 if padding_mode == "zeros" else 0
    k = np.stack([np.asarray(draw(st.lists(st.integers(low, m - 2), min_size=int(np.prod(shape[:3])),
                                           max_size=int(np.prod(shape[:3]))))).reshape(shape[:3])
                  for m in sizes], -1)
    pixels = k + frac
    grid = pixels * 2 / (sizes - 1) - 1 if align_corners else (pixels * 2 + 1) / sizes - 1
    g = tg.tensor(grid, dtype="float64", requires_grad=True)
    return (lambda x, g: F.grid_sample(x, g, mode, padding_mode, align_corners)), (x, g)


@case("scaled_dot_product_attention")
def _sdpa(draw):
    batch = draw(tgt.shapes(0, 2, 1, 2))
    L, S, E, Ev = (draw(st.integers(1, 3)) for _ in range(4))
    q, k, v = (draw(tgt.tensors(batch + shape)) for shape in ((L, E), (S, E), (S, Ev)))
    is_causal, scale = draw(st.booleans()), draw(st.sampled_from([None, 0.7]))
    kind = "none" if is_causal else draw(st.sampled_from(["none", "bool", "float"]))
    mask = None
    if kind == "bool":          # every query may attend to key 0 (no row of -inf only)
        allowed = np.asarray(draw(st.lists(st.booleans(), min_size=L * S, max_size=L * S))).reshape(L, S)
        allowed[:, 0] = True
        mask = _const(allowed)
    elif kind == "float":
        mask = draw(tgt.arrays((L, S)))

    def fn(q, k, v):
        m = mask if kind == "none" else _like(mask, q) if kind == "float" else mask.to(q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=is_causal, scale=scale)
    return fn, (q, k, v)


GRADCHECKED = {name for covers in COVERS.values() for name in covers}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=6)
@given(data=st.data())
def test_gradcheck(name, data):
    fn, inputs = data.draw(CASES[name], label="fn, inputs")
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=3)
@given(data=st.data())
def test_gradgradcheck(name, data):
    fn, inputs = data.draw(CASES[name], label="fn, inputs")
    assert gradgradcheck(fn, inputs)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=2)
@given(data=st.data())
def test_float32_in_float32_out(name, data):
    """No new op silently computes in float64 on float32 inputs."""
    fn, inputs = data.draw(CASES[name], label="fn, inputs")
    xs = tuple(tg.tensor(x.numpy(), dtype="float32", requires_grad=True) for x in inputs)
    y = fn(*xs)
    assert y.dtype == np.float32
    for g in tg.grad(y.sum(), xs, allow_unused=True):
        assert g is None or g.dtype == np.float32


# dropout2d's mask comes from each device's own generator (the same only in the simulator)
CPU_ONLY = {"dropout2d"}


@pytest.mark.skipif(not tg.backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
@pytest.mark.parametrize("name", sorted(set(CASES) - CPU_ONLY))
@settings(max_examples=2)
@given(data=st.data())
def test_cuda_matches_cpu(name, data):
    """Same values and gradients on the cuda device (numba's simulator in CI) as on cpu."""
    fn, inputs = data.draw(CASES[name], label="fn, inputs")
    results = {}
    for device in ("cpu", "cuda"):
        xs = tuple(tg.tensor(x.numpy(), dtype="float64", device=device, requires_grad=True) for x in inputs)
        y = fn(*xs)
        assert y.device == device
        v = tg.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape), dtype="float64", device=device)
        grads = tg.grad((y * v).sum(), xs, allow_unused=True)
        results[device] = [y.numpy()] + [None if g is None else g.numpy() for g in grads]
    for a, b in zip(results["cpu"], results["cuda"]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
