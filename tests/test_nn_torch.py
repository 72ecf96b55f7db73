"""torch.nn's layers, losses and functional forms, against torch itself (float64).

Two tables: FUNCTIONAL (F.<name>(...) on both sides) and MODULES (nn.<Name>(...) on both sides,
torch's module loaded with the tinygen module's state_dict, strict, so the parameter names and
shapes agree too). Every case compares the outputs and, for floating inputs, the gradients
of sum(output * v) for a random v.
"""
import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RS = np.random.default_rng(0)


def _normal(*shape):
    return RS.standard_normal(shape)


def _labels(n, c, *rest):
    return RS.integers(0, c, (n,) + rest)


def _probs(*shape, axis=1):
    p = RS.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=axis, keepdims=True)


def _spread(*shape):
    """Distinct values, spread over [-3, 3]: no ties for max, none at a kink."""
    n = int(np.prod(shape))
    return (RS.permutation(n) / n * 6 - 3 + 0.013).reshape(shape)


def _pair(arrays):
    """tinygen and torch tensors of the same float64 / int64 arrays; floats require grad."""
    tgs, ths = [], []
    for a in arrays:
        a = np.asarray(a)
        floating = a.dtype.kind == "f"
        a = a.astype(np.float64 if floating else np.int64)
        tgs.append(tg.tensor(a, requires_grad=floating))
        ths.append(torch.tensor(a, requires_grad=floating))
    return tgs, ths


# torch's hardsigmoid backward multiplies by 1/6 rounded to float32 (1.0f / 6.0f), also in float64
FLOAT32_SIXTH = {"hardsigmoid", "hardswish", "Hardsigmoid", "Hardswish"}


def _compare(tg_fn, torch_fn, arrays, atol=1e-10, grad_rtol=1e-9):
    tgs, ths = _pair(arrays)
    ya, yb = tg_fn(*tgs), torch_fn(*ths)
    ya = ya if isinstance(ya, tuple) else (ya,)
    yb = yb if isinstance(yb, tuple) else (yb,)
    assert len(ya) == len(yb)
    for a, b in zip(ya, yb):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-9, atol=atol)
    a, b = ya[0], yb[0]
    if not b.requires_grad:
        return
    v = RS.standard_normal(b.shape)
    (a * tg.tensor(v)).sum().backward()
    (b * torch.tensor(v)).sum().backward()
    for x, t in zip(tgs, ths):
        if t.requires_grad:
            gt = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
            gx = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
            np.testing.assert_allclose(gx, gt, rtol=grad_rtol, atol=atol)


# ---- F.<name>: (id, tinygen fn, torch fn, arrays) ---------------------------------------------

def _same(name, **kw):
    """F.name(*inputs, **kw) on both sides."""
    return (lambda *xs: getattr(F, name)(*xs, **kw)), (lambda *xs: getattr(TF, name)(*xs, **kw))


def _implicit_dims(m):
    return lambda x, y, z, w: (m.log_softmax(y), m.softmax(x), m.softmin(z), m.log_softmax(w),
                               m.softmax(z))


W5 = RS.uniform(0.5, 2.0, 5)
ALLOWED = RS.uniform(0, 1, (4, 6)) > 0.4          # an attention mask, True = may attend
ALLOWED[:, 0] = True
MASKED = ~ALLOWED                                 # torch.nn's convention: True = may not

FUNCTIONAL = [
    ("gelu", *_same("gelu"), [_normal(3, 4)]),
    ("gelu_tanh", *_same("gelu", approximate="tanh"), [_normal(3, 4)]),
    ("silu", *_same("silu"), [_normal(3, 4)]),
    ("mish", *_same("mish"), [_normal(3, 4) * 3]),
    ("hardtanh", *_same("hardtanh", min_val=-0.5, max_val=0.7), [_spread(3, 4)]),
    ("relu6", *_same("relu6"), [_spread(3, 4) * 3 + 2]),
    ("softsign", *_same("softsign"), [_spread(3, 4)]),
    ("selu", *_same("selu"), [_spread(3, 4)]),
    ("celu", *_same("celu", alpha=2.0), [_spread(3, 4)]),
    ("hardsigmoid", *_same("hardsigmoid"), [_spread(3, 4) * 2]),
    ("hardswish", *_same("hardswish"), [_spread(3, 4) * 2]),
    ("softmin", *_same("softmin", dim=0), [_normal(3, 4)]),
    # 2017 scripts' F.log_softmax(x): torch's implicit dim (0 for 1-d and 3-d inputs, else 1)
    ("softmax_implicit_dim", _implicit_dims(F), _implicit_dims(TF),
     [_normal(4), _normal(3, 4), _normal(2, 3, 4), _normal(2, 3, 2, 2)]),
    ("prelu", *_same("prelu"), [_spread(2, 3, 4), RS.uniform(0, 0.5, 3)]),
    ("prelu_shared", *_same("prelu"), [_spread(2, 3), np.array([0.2])]),
    ("l1_loss", *_same("l1_loss"), [_spread(3, 4), _normal(3, 4)]),
    ("l1_loss_sum", *_same("l1_loss", reduction="sum"), [_spread(3, 4), _normal(3, 4)]),
    ("smooth_l1_loss", *_same("smooth_l1_loss", beta=0.5), [_spread(3, 4), _normal(3, 4)]),
    ("smooth_l1_loss_beta0", *_same("smooth_l1_loss", beta=0.0, reduction="none"),
     [_spread(3, 4), _normal(3, 4)]),
    ("huber_loss", *_same("huber_loss", delta=0.7), [_spread(3, 4), _normal(3, 4)]),
    ("huber_loss_none", *_same("huber_loss", reduction="none"), [_spread(3, 4), _normal(3, 4)]),
    # zeros in the target: 0 log 0 = 0; d/dtarget there is -inf (torch: nan), so not compared
    ("kl_div_zero_targets", lambda x, t: F.kl_div(x, t.detach(), reduction="batchmean"),
     lambda x, t: TF.kl_div(x, t.detach(), reduction="batchmean"),
     [np.log(_probs(3, 5)), np.where(_probs(3, 5) > 0.3, 0.0, _probs(3, 5))]),
    ("kl_div_mean", *_same("kl_div", reduction="mean"), [np.log(_probs(3, 5)), _probs(3, 5)]),
    ("kl_div_log_target", *_same("kl_div", reduction="sum", log_target=True),
     [np.log(_probs(3, 5)), np.log(_probs(3, 5))]),
    ("kl_div_none", *_same("kl_div", reduction="none"), [np.log(_probs(3, 5)), _probs(3, 5)]),
    ("cross_entropy_probs", *_same("cross_entropy"), [_normal(4, 5), _probs(4, 5)]),
    ("cross_entropy_probs_smoothed_weighted",
     lambda x, p: F.cross_entropy(x, p, tg.tensor(W5), label_smoothing=0.2),
     lambda x, p: TF.cross_entropy(x, p, torch.tensor(W5), label_smoothing=0.2),
     [_normal(4, 5, 2), _probs(4, 5, 2)]),
    ("cross_entropy_smoothed", *_same("cross_entropy", label_smoothing=0.1),
     [_normal(4, 5), _labels(4, 5)]),
    ("cross_entropy_smoothed_weighted_ignored",
     lambda x, t: F.cross_entropy(x, t, tg.tensor(W5), ignore_index=1, label_smoothing=0.3),
     lambda x, t: TF.cross_entropy(x, t, torch.tensor(W5), ignore_index=1, label_smoothing=0.3),
     [_normal(6, 5), np.array([1, 0, 4, 1, 2, 3])]),
    ("cross_entropy_smoothed_none_2d", *_same("cross_entropy", label_smoothing=0.1, reduction="none"),
     [_normal(2, 5, 3), _labels(2, 5, 3)]),
    ("cross_entropy_weighted", lambda x, t: F.cross_entropy(x, t, tg.tensor(W5)),
     lambda x, t: TF.cross_entropy(x, t, torch.tensor(W5)), [_normal(4, 5), _labels(4, 5)]),
    ("nll_loss_ignore", *_same("nll_loss", ignore_index=2), [np.log(_probs(5, 4)), np.array([0, 2, 3, 2, 1])]),
    ("bce_with_logits_pos_weight",
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=tg.tensor(W5[:3])),
     lambda x, t: TF.binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(W5[:3])),
     [_normal(4, 3), RS.uniform(0, 1, (4, 3))]),
    ("bce_with_logits_weight",
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, tg.tensor(W5[:3]), reduction="sum"),
     lambda x, t: TF.binary_cross_entropy_with_logits(x, t, torch.tensor(W5[:3]), reduction="sum"),
     [_normal(4, 3), RS.uniform(0, 1, (4, 3))]),
    ("max_pool2d_indices", *_same("max_pool2d", kernel_size=3, stride=2, padding=1, return_indices=True),
     [_spread(2, 2, 5, 6)]),
    ("max_pool2d_ceil_indices", *_same("max_pool2d", kernel_size=(2, 3), stride=2, ceil_mode=True,
                                       return_indices=True), [_spread(2, 2, 5, 6)]),
    ("avg_pool2d_exclude_pad", *_same("avg_pool2d", kernel_size=3, stride=2, padding=1,
                                      count_include_pad=False), [_normal(2, 2, 5, 6)]),
    ("avg_pool2d_divisor", *_same("avg_pool2d", kernel_size=2, divisor_override=3), [_normal(1, 2, 4, 4)]),
    ("avg_pool2d_ceil", *_same("avg_pool2d", kernel_size=3, stride=2, padding=1, ceil_mode=True),
     [_normal(2, 2, 6, 5)]),
    ("avg_pool2d_ceil_exclude_pad", *_same("avg_pool2d", kernel_size=(2, 3), stride=2, padding=1,
                                           ceil_mode=True, count_include_pad=False), [_normal(1, 2, 5, 6)]),
    ("adaptive_avg_pool2d_uniform", *_same("adaptive_avg_pool2d", output_size=(2, 3)), [_normal(2, 2, 4, 6)]),
    ("adaptive_avg_pool2d_uneven", *_same("adaptive_avg_pool2d", output_size=(3, 4)), [_normal(2, 2, 7, 5)]),
    ("adaptive_avg_pool2d_3d", *_same("adaptive_avg_pool2d", output_size=(None, 2)), [_normal(3, 5, 5)]),
    ("adaptive_avg_pool2d_up", *_same("adaptive_avg_pool2d", output_size=5), [_normal(1, 2, 3, 2)]),
    ("adaptive_max_pool2d_uniform", *_same("adaptive_max_pool2d", output_size=2), [_spread(2, 2, 4, 6)]),
    ("adaptive_max_pool2d_uneven", *_same("adaptive_max_pool2d", output_size=(3, 4), return_indices=True),
     [_spread(2, 2, 7, 5)]),
    ("interpolate_nearest", *_same("interpolate", scale_factor=2), [_normal(2, 2, 3, 4)]),
    ("interpolate_nearest_size", *_same("interpolate", size=(5, 3)), [_normal(2, 2, 3, 4)]),
    ("interpolate_nearest_fraction", *_same("interpolate", scale_factor=1.7), [_normal(1, 2, 4, 5)]),
    ("interpolate_nearest_exact", *_same("interpolate", size=(7, 9), mode="nearest-exact"),
     [_normal(1, 2, 4, 5)]),
    ("interpolate_nearest_1d", *_same("interpolate", size=7), [_normal(2, 2, 4)]),
    ("interpolate_bilinear", *_same("interpolate", scale_factor=2, mode="bilinear"), [_normal(2, 2, 3, 4)]),
    ("interpolate_bilinear_corners", *_same("interpolate", size=(5, 7), mode="bilinear",
                                            align_corners=True), [_normal(2, 2, 3, 4)]),
    ("interpolate_bilinear_down", *_same("interpolate", size=(2, 3), mode="bilinear"), [_normal(1, 2, 5, 7)]),
    ("interpolate_bilinear_factors", *_same("interpolate", scale_factor=(1.5, 2.3), mode="bilinear"),
     [_normal(1, 1, 4, 5)]),
    ("interpolate_linear", *_same("interpolate", scale_factor=2.5, mode="linear"), [_normal(2, 2, 5)]),
    ("pixel_shuffle", *_same("pixel_shuffle", upscale_factor=2), [_normal(2, 8, 3, 2)]),
    ("pixel_unshuffle", *_same("pixel_unshuffle", downscale_factor=2), [_normal(2, 2, 4, 6)]),
    ("pad_reflect", *_same("pad", pad=(1, 2, 2, 0), mode="reflect"), [_normal(2, 2, 4, 5)]),
    ("pad_replicate", *_same("pad", pad=(3, 1, 0, 2), mode="replicate"), [_normal(2, 2, 4, 5)]),
    ("pad_circular", *_same("pad", pad=(2, 1, 1, 3), mode="circular"), [_normal(2, 2, 4, 5)]),
    ("pad_reflect_1d", *_same("pad", pad=(2, 3), mode="reflect"), [_normal(2, 3, 5)]),
    ("unfold", *_same("unfold", kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
     [_normal(2, 2, 5, 6)]),
    ("fold", *_same("fold", output_size=(5, 6), kernel_size=3, padding=1, stride=2),
     [_normal(2, 18, 9)]),
    ("embedding", lambda i, w: F.embedding(i, w), lambda i, w: TF.embedding(i, w),
     [np.array([[0, 2, 2], [5, 1, 0]]), _normal(6, 3)]),
    ("embedding_padding_idx", lambda i, w: F.embedding(i, w, padding_idx=2),
     lambda i, w: TF.embedding(i, w, padding_idx=2), [np.array([[0, 2, 2], [5, 1, 0]]), _normal(6, 3)]),
    ("one_hot", lambda t: F.one_hot(t, 6), lambda t: TF.one_hot(t, 6), [np.array([[0, 5], [3, 3]])]),
    ("one_hot_inferred", lambda t: F.one_hot(t), lambda t: TF.one_hot(t), [np.array([2, 0, 4])]),
    ("normalize", *_same("normalize"), [_normal(3, 4, 2)]),
    ("normalize_p1_last", *_same("normalize", p=1.0, dim=-1), [_normal(3, 4)]),
    ("normalize_zero_row", *_same("normalize", dim=1), [np.array([[0.0, 0.0], [1.0, -2.0]])]),
    ("cosine_similarity", *_same("cosine_similarity"), [_normal(3, 4, 2), _normal(1, 4, 2)]),
    ("cosine_similarity_dim0", *_same("cosine_similarity", dim=0), [_normal(4, 3), _normal(4, 3)]),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), lambda x, w, b: TF.group_norm(x, 2, w, b),
     [_normal(2, 4, 3, 2), _normal(4), _normal(4)]),
    ("group_norm_plain", *_same("group_norm", num_groups=3), [_normal(2, 6, 5)]),
    ("instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
     lambda x, w, b: TF.instance_norm(x, weight=w, bias=b), [_normal(2, 3, 4, 3), _normal(3), _normal(3)]),
    ("dropout2d_eval", *_same("dropout2d", p=0.5, training=False), [_normal(2, 3, 2, 2)]),
    ("dropout1d_eval", *_same("dropout1d", p=0.5, training=False), [_normal(2, 3, 4)]),
    ("threshold", *_same("threshold", threshold=0.1, value=-2.0), [_spread(3, 4)]),
    ("instance_norm_1d", lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
     lambda x, w, b: TF.instance_norm(x, weight=w, bias=b), [_normal(2, 3, 5), _normal(3), _normal(3)]),
    ("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
     lambda x, w, b: TF.conv1d(x, w, b, stride=2, padding=1, dilation=2),
     [_normal(2, 3, 9), _normal(4, 3, 3), _normal(4)]),
    ("conv1d_same", lambda x, w: F.conv1d(x, w, padding="same"), lambda x, w: TF.conv1d(x, w, padding="same"),
     [_normal(2, 3, 7), _normal(2, 3, 4)]),
    ("conv1d_unbatched", lambda x, w: F.conv1d(x, w), lambda x, w: TF.conv1d(x, w),
     [_normal(3, 7), _normal(2, 3, 3)]),
    ("conv_transpose1d", lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1),
     lambda x, w, b: TF.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1),
     [_normal(2, 3, 5), _normal(3, 4, 3), _normal(4)]),
    # issue 26
    ("conv2d_same", lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=(1, 2)),
     lambda x, w, b: TF.conv2d(x, w, b, padding="same", dilation=(1, 2)),
     [_normal(2, 3, 5, 6), _normal(4, 3, 2, 3), _normal(4)]),
    ("conv2d_valid", *_same("conv2d", padding="valid"), [_normal(1, 2, 5, 4), _normal(3, 2, 3, 2)]),
    ("conv1d_valid", *_same("conv1d", padding="valid"), [_normal(1, 2, 5), _normal(3, 2, 3)]),
    ("glu", *_same("glu"), [_normal(3, 4)]),
    ("glu_dim0", *_same("glu", dim=0), [_normal(4, 3)]),
    ("tanhshrink", *_same("tanhshrink"), [_normal(3, 4)]),
    ("softshrink", *_same("softshrink"), [_spread(3, 4)]),
    ("softshrink_lambd", *_same("softshrink", lambd=1.2), [_spread(3, 4)]),
    ("hardshrink", *_same("hardshrink"), [_spread(3, 4)]),
    ("hardshrink_lambd", *_same("hardshrink", lambd=0.2), [_spread(3, 4)]),
    ("bilinear", *_same("bilinear"), [_normal(4, 3), _normal(4, 2), _normal(5, 3, 2), _normal(5)]),
    ("bilinear_batched_no_bias", *_same("bilinear"), [_normal(2, 4, 3), _normal(2, 4, 2), _normal(5, 3, 2)]),
    ("max_pool1d", *_same("max_pool1d", kernel_size=3, stride=2, padding=1), [_spread(2, 3, 8)]),
    ("max_pool1d_indices_ceil", *_same("max_pool1d", kernel_size=2, ceil_mode=True, return_indices=True),
     [_spread(2, 3, 7)]),
    ("max_pool1d_unbatched", *_same("max_pool1d", kernel_size=2), [_spread(3, 6)]),
    ("avg_pool1d", *_same("avg_pool1d", kernel_size=3, stride=2, padding=1), [_normal(2, 3, 8)]),
    ("avg_pool1d_exclude_pad_ceil", *_same("avg_pool1d", kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                           count_include_pad=False), [_normal(2, 3, 8)]),
    ("adaptive_avg_pool1d", *_same("adaptive_avg_pool1d", output_size=3), [_normal(2, 3, 7)]),
    ("adaptive_avg_pool1d_up_unbatched", *_same("adaptive_avg_pool1d", output_size=5), [_normal(3, 4)]),
    ("adaptive_max_pool1d", *_same("adaptive_max_pool1d", output_size=3, return_indices=True), [_spread(2, 3, 7)]),
    ("local_response_norm", *_same("local_response_norm", size=3), [_normal(2, 5, 4) * 10]),
    ("local_response_norm_2d", *_same("local_response_norm", size=2, alpha=0.1, beta=0.5, k=2.0),
     [_normal(2, 4, 3, 3)]),
    ("pairwise_distance", *_same("pairwise_distance"), [_normal(4, 3), _normal(4, 3)]),
    ("pairwise_distance_p1_keepdim", *_same("pairwise_distance", p=1.0, keepdim=True), [_normal(4, 3), _normal(1, 3)]),
    ("poisson_nll_loss", *_same("poisson_nll_loss"), [_normal(3, 4), RS.uniform(0, 4, (3, 4))]),
    ("poisson_nll_loss_full_rate", *_same("poisson_nll_loss", log_input=False, full=True, reduction="none"),
     [RS.uniform(0.1, 3, (3, 4)), RS.uniform(0, 4, (3, 4))]),
    ("margin_ranking_loss", lambda a, b, y: F.margin_ranking_loss(a, b, y.detach(), margin=0.3),
     lambda a, b, y: TF.margin_ranking_loss(a, b, y.detach(), margin=0.3),
     [_spread(6), _normal(6) * 0.001, np.sign(_normal(6))]),
    ("hinge_embedding_loss", lambda x, y: F.hinge_embedding_loss(x, y.detach(), reduction="sum"),
     lambda x, y: TF.hinge_embedding_loss(x, y.detach(), reduction="sum"), [_spread(3, 4), np.sign(_normal(3, 4))]),
    ("soft_margin_loss", lambda x, y: F.soft_margin_loss(x, y.detach()), lambda x, y: TF.soft_margin_loss(x, y.detach()),
     [_normal(3, 4), np.sign(_normal(3, 4))]),
    ("multilabel_soft_margin_loss", lambda x, t: F.multilabel_soft_margin_loss(x, t.detach(), tg.tensor(W5[:4])),
     lambda x, t: TF.multilabel_soft_margin_loss(x, t.detach(), torch.tensor(W5[:4])),
     [_normal(3, 4), RS.integers(0, 2, (3, 4)).astype(float)]),
    ("cosine_embedding_loss", lambda a, b, y: F.cosine_embedding_loss(a, b, y.detach(), margin=0.2),
     lambda a, b, y: TF.cosine_embedding_loss(a, b, y.detach(), margin=0.2),
     [_normal(5, 3), _normal(5, 3), np.array([1.0, -1.0, -1.0, 1.0, -1.0])]),
    ("cosine_embedding_loss_unbatched", lambda a, b, y: F.cosine_embedding_loss(a, b, y.detach()),
     lambda a, b, y: TF.cosine_embedding_loss(a, b, y.detach()), [_normal(3), _normal(3), np.array(-1.0)]),
    ("triplet_margin_loss", *_same("triplet_margin_loss"), [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
    ("scaled_dot_product_attention", *_same("scaled_dot_product_attention"),
     [_normal(2, 3, 4, 5), _normal(2, 3, 6, 5), _normal(2, 3, 6, 2)]),
    ("scaled_dot_product_attention_causal", *_same("scaled_dot_product_attention", is_causal=True, scale=0.3),
     [_normal(2, 4, 5), _normal(2, 6, 5), _normal(2, 6, 3)]),
    ("scaled_dot_product_attention_bool_mask",
     lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=tg.tensor(ALLOWED)),
     lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(ALLOWED)),
     [_normal(2, 4, 5), _normal(2, 6, 5), _normal(2, 6, 3)]),
    ("scaled_dot_product_attention_float_mask",
     lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
     lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
     [_normal(4, 5), _normal(4, 5), _normal(4, 3), _normal(4, 4)]),
    ("triplet_margin_with_distance_loss", lambda a, p, n: F.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda x, y: 1 - F.cosine_similarity(x, y), margin=0.5, swap=True),
     lambda a, p, n: TF.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda x, y: 1 - TF.cosine_similarity(x, y), margin=0.5, swap=True),
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
    ("multi_margin_loss", *_same("multi_margin_loss"), [_spread(4, 5), np.array([0, 4, 2, 2])]),
    ("multi_margin_loss_p2_weighted", lambda x, t: F.multi_margin_loss(x, t, p=2, margin=0.7, weight=tg.tensor(W5),
                                                                        reduction="none"),
     lambda x, t: TF.multi_margin_loss(x, t, p=2, margin=0.7, weight=torch.tensor(W5), reduction="none"),
     [_spread(4, 5), np.array([0, 4, 2, 2])]),
    ("multi_margin_loss_unbatched", *_same("multi_margin_loss", reduction="sum"), [_spread(5), np.array(3)]),
    ("multilabel_margin_loss", *_same("multilabel_margin_loss"),
     [_spread(3, 4), np.array([[3, 0, -1, 1], [1, 2, 3, -1], [-1, 0, 0, 0]])]),
    ("multilabel_margin_loss_unbatched", *_same("multilabel_margin_loss", reduction="none"),
     [_spread(4), np.array([2, 1, -1, 0])]),
    *[(f"grid_sample_{mode}_{padding}_{corners}", *_same("grid_sample", mode=mode, padding_mode=padding,
                                                         align_corners=corners),
       [_normal(2, 3, 4, 5), RS.uniform(-1.3, 1.3, (2, 3, 6, 2))])
      for mode in ("bilinear", "nearest") for padding in ("zeros", "border", "reflection")
      for corners in (False, True)],
    ("affine_grid", *_same("affine_grid", size=(2, 3, 4, 5), align_corners=False), [_normal(2, 2, 3)]),
    ("affine_grid_corners", *_same("affine_grid", size=(1, 1, 3, 1), align_corners=True), [_normal(1, 2, 3)]),
    ("triplet_margin_loss_p1_swap", *_same("triplet_margin_loss", p=1, swap=True, margin=2.0, reduction="none"),
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", FUNCTIONAL, ids=lambda c: c[0])
def test_functional_equals_torch(case):
    name, tg_fn, torch_fn, arrays = case
    _compare(tg_fn, torch_fn, arrays, grad_rtol=1e-7 if name in FLOAT32_SIXTH else 1e-9)


# ---- nn.<Name>: (id, name, args, kwargs, input arrays) ----------------------------------------

MODULES = [
    ("L1Loss", "L1Loss", (), {}, [_spread(3, 4), _normal(3, 4)]),
    ("MSELoss_sum", "MSELoss", (), {"reduction": "sum"}, [_normal(3, 4), _normal(3, 4)]),
    ("MSELoss_legacy", "MSELoss", (), {"size_average": False}, [_normal(3, 4), _normal(3, 4)]),
    ("SmoothL1Loss", "SmoothL1Loss", (), {"beta": 0.4}, [_spread(3, 4), _normal(3, 4)]),
    ("HuberLoss", "HuberLoss", (), {"delta": 0.6, "reduction": "sum"}, [_spread(3, 4), _normal(3, 4)]),
    ("BCELoss", "BCELoss", (), {}, [RS.uniform(0.05, 0.95, (3, 4)), RS.uniform(0, 1, (3, 4))]),
    ("BCEWithLogitsLoss", "BCEWithLogitsLoss", (), {}, [_normal(3, 4), RS.uniform(0, 1, (3, 4))]),
    ("CrossEntropyLoss", "CrossEntropyLoss", (), {}, [_normal(4, 5), _labels(4, 5)]),
    ("CrossEntropyLoss_smoothed", "CrossEntropyLoss", (), {"label_smoothing": 0.1, "ignore_index": 0},
     [_normal(6, 5), np.array([0, 1, 2, 3, 4, 0])]),
    ("CrossEntropyLoss_probs", "CrossEntropyLoss", (), {"reduction": "sum"}, [_normal(4, 5), _probs(4, 5)]),
    ("NLLLoss", "NLLLoss", (), {"reduction": "none"}, [np.log(_probs(4, 5)), _labels(4, 5)]),
    ("KLDivLoss", "KLDivLoss", (), {"reduction": "batchmean"}, [np.log(_probs(3, 4)), _probs(3, 4)]),
    ("KLDivLoss_log_target", "KLDivLoss", (), {"reduction": "sum", "log_target": True},
     [np.log(_probs(3, 4)), np.log(_probs(3, 4))]),
    ("GaussianNLLLoss", "GaussianNLLLoss", (), {"full": True},
     [_normal(3, 4), _normal(3, 4), RS.uniform(0.2, 2, (3, 4))]),
    ("MaxPool2d", "MaxPool2d", (2,), {}, [_spread(2, 3, 4, 6)]),
    ("MaxPool2d_padded", "MaxPool2d", ((3, 2),), {"stride": 1, "padding": 1}, [_spread(1, 2, 5, 4)]),
    ("MaxPool2d_ceil", "MaxPool2d", (3, 2, 1), {"ceil_mode": True}, [_spread(2, 2, 6, 7)]),
    ("AvgPool2d", "AvgPool2d", (3, 2, 1), {"count_include_pad": False}, [_normal(2, 2, 6, 5)]),
    ("AvgPool2d_ceil", "AvgPool2d", (2,), {"ceil_mode": True}, [_normal(2, 2, 5, 5)]),
    ("AdaptiveAvgPool2d", "AdaptiveAvgPool2d", ((3, 2),), {}, [_normal(2, 2, 7, 5)]),
    ("AdaptiveAvgPool2d_global", "AdaptiveAvgPool2d", (1,), {}, [_normal(2, 2, 7, 5)]),
    ("AdaptiveMaxPool2d", "AdaptiveMaxPool2d", ((2, 3),), {}, [_spread(2, 2, 5, 7)]),
    ("Upsample", "Upsample", (), {"scale_factor": 2}, [_normal(1, 2, 3, 3)]),
    ("Upsample_bilinear", "Upsample", (), {"scale_factor": 2, "mode": "bilinear", "align_corners": False},
     [_normal(1, 2, 3, 3)]),
    ("Upsample_size_corners", "Upsample", (), {"size": (4, 5), "mode": "bilinear", "align_corners": True},
     [_normal(1, 2, 3, 3)]),
    ("UpsamplingNearest2d", "UpsamplingNearest2d", (), {"size": (5, 4)}, [_normal(1, 2, 3, 3)]),
    ("UpsamplingBilinear2d", "UpsamplingBilinear2d", (), {"scale_factor": 2}, [_normal(1, 2, 3, 3)]),
    ("PixelShuffle", "PixelShuffle", (3,), {}, [_normal(1, 9, 2, 2)]),
    ("PixelUnshuffle", "PixelUnshuffle", (2,), {}, [_normal(1, 1, 4, 4)]),
    ("ZeroPad2d", "ZeroPad2d", ((1, 0, 2, 1),), {}, [_normal(1, 2, 3, 3)]),
    ("ConstantPad2d", "ConstantPad2d", (2, 0.5), {}, [_normal(1, 2, 3, 3)]),
    ("ReflectionPad2d", "ReflectionPad2d", (2,), {}, [_normal(1, 2, 3, 4)]),
    ("ReplicationPad2d", "ReplicationPad2d", ((1, 3, 0, 2),), {}, [_normal(1, 2, 3, 4)]),
    ("ReflectionPad1d", "ReflectionPad1d", (2,), {}, [_normal(2, 2, 4)]),
    ("Softmax", "Softmax", (1,), {}, [_normal(3, 4)]),
    ("Softmax_implicit", "Softmax", (), {}, [_normal(3, 4)]),
    ("LogSoftmax", "LogSoftmax", (-1,), {}, [_normal(3, 4)]),
    ("GELU", "GELU", (), {}, [_normal(3, 4)]),
    ("GELU_tanh", "GELU", (), {"approximate": "tanh"}, [_normal(3, 4)]),
    ("SiLU", "SiLU", (), {}, [_normal(3, 4)]),
    ("Mish", "Mish", (), {}, [_normal(3, 4)]),
    ("Hardtanh", "Hardtanh", (-2.0, 1.5), {}, [_spread(3, 4)]),
    ("ReLU6", "ReLU6", (), {}, [_spread(3, 4) * 3 + 2]),
    ("PReLU", "PReLU", (), {}, [_spread(3, 4)]),
    ("PReLU_channels", "PReLU", (3,), {"init": 0.1}, [_spread(2, 3, 2)]),
    ("Softsign", "Softsign", (), {}, [_normal(3, 4)]),
    ("Softmin", "Softmin", (1,), {}, [_normal(3, 4)]),
    ("LogSigmoid", "LogSigmoid", (), {}, [_normal(3, 4)]),
    ("SELU", "SELU", (), {}, [_spread(3, 4)]),
    ("CELU", "CELU", (0.5,), {}, [_spread(3, 4)]),
    ("Hardsigmoid", "Hardsigmoid", (), {}, [_spread(3, 4) * 2]),
    ("Hardswish", "Hardswish", (), {}, [_spread(3, 4) * 2]),
    ("Unfold", "Unfold", ((2, 3),), {"padding": 1, "stride": 2}, [_normal(2, 2, 4, 5)]),
    ("Fold", "Fold", ((4, 5), 2), {"padding": 1}, [_normal(2, 8, 30)]),
    ("Dropout2d_eval", "Dropout2d", (0.3,), {}, [_normal(2, 3, 2, 2)]),
    ("GroupNorm", "GroupNorm", (2, 4), {}, [_normal(2, 4, 3, 3)]),
    ("GroupNorm_no_affine", "GroupNorm", (1, 3), {"affine": False}, [_normal(2, 3, 5)]),
    ("InstanceNorm2d", "InstanceNorm2d", (3,), {}, [_normal(2, 3, 4, 4)]),
    ("InstanceNorm2d_affine_tracked", "InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True},
     [_normal(2, 3, 4, 4)]),
    ("InstanceNorm2d_unbatched", "InstanceNorm2d", (3,), {}, [_normal(3, 4, 4)]),
    ("InstanceNorm1d", "InstanceNorm1d", (3,), {}, [_normal(2, 3, 5)]),
    ("InstanceNorm1d_affine_tracked", "InstanceNorm1d", (3,), {"affine": True, "track_running_stats": True},
     [_normal(2, 3, 5)]),
    ("InstanceNorm1d_unbatched", "InstanceNorm1d", (3,), {}, [_normal(3, 5)]),
    ("Embedding", "Embedding", (7, 3), {"padding_idx": 0}, [np.array([[0, 3], [6, 3]])]),
    ("Embedding_max_norm", "Embedding", (7, 3), {"max_norm": 1.0}, [np.array([[1, 2], [6, 1]])]),
    ("Conv1d", "Conv1d", (3, 4, 3), {"stride": 2, "padding": 1}, [_normal(2, 3, 8)]),
    ("Conv1d_same", "Conv1d", (3, 2, 4), {"padding": "same", "bias": False}, [_normal(2, 3, 8)]),
    ("ConvTranspose1d", "ConvTranspose1d", (3, 2, 4, 2, 1), {}, [_normal(2, 3, 5)]),
    ("Conv2d_same", "Conv2d", (2, 3, (2, 3)), {"padding": "same", "dilation": (2, 1)}, [_normal(1, 2, 5, 4)]),
    ("Conv2d_valid", "Conv2d", (2, 3, 3), {"padding": "valid"}, [_normal(1, 2, 5, 4)]),
    ("Identity", "Identity", (5,), {"unused": 1}, [_normal(3, 4)]),
    ("Flatten", "Flatten", (), {}, [_normal(2, 3, 4)]),
    ("BatchNorm2d", "BatchNorm2d", (3,), {}, [_normal(4, 3, 2, 2)]),
    ("LayerNorm_no_bias", "LayerNorm", ((2, 3),), {"bias": False}, [_normal(4, 2, 3)]),
    # issue 26
    ("GLU", "GLU", (0,), {}, [_normal(4, 3)]),
    ("Tanhshrink", "Tanhshrink", (), {}, [_normal(3, 4)]),
    ("Softshrink", "Softshrink", (0.7,), {}, [_spread(3, 4)]),
    ("Hardshrink", "Hardshrink", (), {}, [_spread(3, 4)]),
    ("Threshold", "Threshold", (0.1, 20.0), {}, [_spread(3, 4)]),
    ("Bilinear", "Bilinear", (3, 2, 4), {}, [_normal(5, 3), _normal(5, 2)]),
    ("Bilinear_no_bias", "Bilinear", (3, 2, 4), {"bias": False}, [_normal(5, 3), _normal(5, 2)]),
    ("MaxPool1d", "MaxPool1d", (3, 2, 1), {}, [_spread(2, 3, 8)]),
    ("AvgPool1d", "AvgPool1d", (2,), {}, [_normal(2, 3, 8)]),
    ("AvgPool1d_padded", "AvgPool1d", (3, 2, 1), {"count_include_pad": False}, [_normal(2, 3, 8)]),
    ("AdaptiveAvgPool1d", "AdaptiveAvgPool1d", (4,), {}, [_normal(2, 3, 9)]),
    ("AdaptiveMaxPool1d", "AdaptiveMaxPool1d", (2,), {}, [_spread(2, 3, 5)]),
    ("LocalResponseNorm", "LocalResponseNorm", (2,), {"alpha": 0.01}, [_normal(2, 4, 3, 2)]),
    ("PairwiseDistance", "PairwiseDistance", (), {"p": 3.0}, [_normal(4, 3), _normal(4, 3)]),
    ("CosineSimilarity", "CosineSimilarity", (), {"dim": 0}, [_normal(4, 3), _normal(4, 3)]),
    ("PoissonNLLLoss", "PoissonNLLLoss", (), {"full": True}, [_normal(3, 4), RS.uniform(0, 4, (3, 4))]),
    ("MarginRankingLoss", "MarginRankingLoss", (), {"margin": 0.5},
     [_spread(6), _normal(6) * 0.001, np.sign(_normal(6))]),
    ("HingeEmbeddingLoss", "HingeEmbeddingLoss", (), {"margin": 0.5}, [_spread(3, 4), np.sign(_normal(3, 4))]),
    ("SoftMarginLoss", "SoftMarginLoss", (), {"reduction": "sum"}, [_normal(3, 4), np.sign(_normal(3, 4))]),
    ("MultiLabelSoftMarginLoss", "MultiLabelSoftMarginLoss", (), {}, [_normal(3, 4), RS.integers(0, 2, (3, 4)).astype(float)]),
    ("CosineEmbeddingLoss", "CosineEmbeddingLoss", (), {"margin": -0.2},
     [_normal(5, 3), _normal(5, 3), np.array([1.0, -1.0, -1.0, 1.0, -1.0])]),
    ("TripletMarginLoss", "TripletMarginLoss", (), {"margin": 0.5, "swap": True},
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
    ("TripletMarginWithDistanceLoss", "TripletMarginWithDistanceLoss", (), {"margin": 0.3},
     [_normal(4, 3), _normal(4, 3), _normal(4, 3)]),
    ("MultiMarginLoss", "MultiMarginLoss", (), {"p": 2}, [_spread(4, 5), np.array([0, 4, 2, 2])]),
    ("MultiLabelMarginLoss", "MultiLabelMarginLoss", (), {"reduction": "sum"},
     [_spread(3, 4), np.array([[3, 0, -1, 1], [1, 2, 3, -1], [-1, 0, 0, 0]])]),
    ("MultiheadAttention", "MultiheadAttention", (6, 2), {}, [_normal(4, 3, 6), _normal(5, 3, 6), _normal(5, 3, 6)]),
    ("MultiheadAttention_kdim_vdim_batch_first", "MultiheadAttention", (6, 3),
     {"kdim": 2, "vdim": 4, "batch_first": True, "bias": False}, [_normal(3, 4, 6), _normal(3, 5, 2), _normal(3, 5, 4)]),
    ("MultiheadAttention_unbatched", "MultiheadAttention", (4, 1), {}, [_normal(3, 4), _normal(2, 4), _normal(2, 4)]),
    ("TransformerEncoderLayer_eval", "TransformerEncoderLayer", (6, 2, 8), {}, [_normal(4, 3, 6)]),
    ("TransformerEncoderLayer_norm_first_gelu", "TransformerEncoderLayer", (6, 3, 5),
     {"dropout": 0.0, "norm_first": True, "activation": "gelu", "batch_first": True}, [_normal(3, 4, 6)]),
]

TARGET_DIFFERENTIABLE = {"MSELoss_sum", "MSELoss_legacy", "L1Loss", "SmoothL1Loss", "HuberLoss",
                         "KLDivLoss", "KLDivLoss_log_target", "GaussianNLLLoss", "TripletMarginLoss",
                         "PoissonNLLLoss", "TripletMarginWithDistanceLoss"}


def _loaded_torch_module(name, args, kwargs, module):
    """torch's nn.<name>(*args, **kwargs) holding the tinygen module's state, loaded strictly."""
    reference = getattr(torch.nn, name)(*args, **kwargs).double()
    state = {k: torch.tensor(v.numpy()) for k, v in module.state_dict().items()}
    assert reference.load_state_dict(state, strict=True)  # same names and shapes
    return reference


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", MODULES, ids=lambda c: c[0])
def test_module_equals_torch(case):
    case_id, name, args, kwargs, arrays = case
    tg.manual_seed(0)
    module = getattr(nn, name)(*args, **kwargs).double()
    reference = _loaded_torch_module(name, args, kwargs, module)
    if case_id.endswith("_eval"):
        module.eval(), reference.eval()
    assert repr(module) == repr(reference)
    if name.endswith("Loss") and case_id not in TARGET_DIFFERENTIABLE:
        arrays = [arrays[0]] + [np.asarray(a) for a in arrays[1:]]
        tg_fn = lambda x, *rest: module(x, *(tg.tensor(r.numpy()) for r in rest))          # noqa: E731
        torch_fn = lambda x, *rest: reference(x, *(r.detach() for r in rest))              # noqa: E731
    else:
        tg_fn, torch_fn = module, reference
    _compare(tg_fn, torch_fn, arrays, grad_rtol=1e-7 if case_id in FLOAT32_SIXTH else 1e-9)
    # training-mode side effects (running statistics, max_norm renormalization) agree too
    for key, value in module.state_dict().items():
        np.testing.assert_allclose(value.numpy(), reference.state_dict()[key].numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=key)


def test_multihead_attention_masks_and_weights_equal_torch():
    tg.manual_seed(0)
    m = nn.MultiheadAttention(6, 2).double()
    reference = _loaded_torch_module("MultiheadAttention", (6, 2), {}, m)
    padding = np.zeros((3, 6), dtype=bool)
    padding[1, 4:] = True                                   # sample 1: its last two keys are padding
    float_mask = _normal(4, 6)
    for kwargs in [dict(attn_mask=MASKED), dict(key_padding_mask=padding, average_attn_weights=False),
                   dict(attn_mask=float_mask, key_padding_mask=np.where(padding, -np.inf, 0.0), need_weights=False),
                   dict(attn_mask=np.repeat(MASKED[None], 6, 0), is_causal=True)]:
        def call(module, lib, q, kv):
            args = {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
            y, weights = module(q, kv, kv, **args)
            return (y,) if weights is None else (y, weights)
        _compare(lambda q, kv: call(m, tg, q, kv), lambda q, kv: call(reference, torch, q, kv),
                 [_normal(4, 3, 6), _normal(6, 3, 6)])


def test_transformer_encoder_with_a_causal_mask_equals_torch():
    tg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    m = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(4)).double()
    reference = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0), 2,
                                            norm=torch.nn.LayerNorm(4), enable_nested_tensor=False).double()
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()}, strict=True)
    assert repr(m) == repr(reference)
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)        # True above the diagonal: the future
    _compare(lambda x: m(x, mask=tg.tensor(causal), is_causal=True),
             lambda x: reference(x, mask=torch.tensor(causal), is_causal=True), [_normal(5, 2, 4)])


def test_eval_mode_instance_norm_uses_running_estimates():
    tg.manual_seed(0)
    m = nn.InstanceNorm2d(3, affine=True, track_running_stats=True).double()
    reference = _loaded_torch_module("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}, m)
    x = _normal(2, 3, 4, 4)
    for _ in range(2):
        m(tg.tensor(x)), reference(torch.tensor(x))
    m.eval(), reference.eval()
    np.testing.assert_allclose(m(tg.tensor(x)).numpy(), reference(torch.tensor(x)).detach().numpy(),
                               rtol=1e-9, atol=1e-12)


def test_dropout1d_drops_whole_channels_batched_or_not():
    tg.manual_seed(0)
    for x in (tg.ones(300, 6, 5), tg.ones(600, 5)):
        y = nn.Dropout1d(0.25)(x).numpy()
        assert np.all(y.min(axis=-1) == y.max(axis=-1))          # a (sample's) channel: all or none
        assert set(np.unique(y)) <= {np.float32(0.0), np.float32(1 / 0.75)}
        assert abs((y[..., 0] == 0).mean() - 0.25) < 0.04
    assert nn.Dropout1d(0.25).eval()(x) is x
    with pytest.raises(ValueError, match="dropout1d"):
        nn.Dropout1d()(tg.ones(2, 3, 4, 5))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_alpha_dropout_keeps_a_standard_normal_standard_with_torchs_two_values(dtype):
    """Its math: a dropped element is a (-s) + a s p, a kept one a x + a s p, with a and b
    chosen so that a standard normal input stays mean 0, variance 1; the gradient is a or 0."""
    p = 0.2
    tg.manual_seed(0)
    zeros = F.alpha_dropout(tg.zeros(2000, dtype=getattr(tg, dtype)), p, training=True).numpy()
    theirs = TF.alpha_dropout(torch.zeros(2000, dtype=getattr(torch, dtype)), p, training=True).numpy()
    np.testing.assert_allclose(np.unique(zeros), np.unique(theirs), rtol=1e-6)   # the two values
    x = tg.randn(400_000, dtype=tg.float64, requires_grad=True)
    y = F.alpha_dropout(x, p, training=True)
    assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1) < 0.01
    y.sum().backward()
    a = (1 - p) ** -0.5 * (1 + p * 1.7580993408473766 ** 2) ** -0.5
    assert set(np.round(np.unique(x.grad.numpy()), 12)) == {0.0, round(a, 12)}
    assert abs((x.grad.numpy() == 0).mean() - p) < 0.005
    assert F.alpha_dropout(x, p) is x and nn.AlphaDropout(p).eval()(x) is x   # torch's default


def test_dropout2d_drops_whole_channels_and_rescales():
    tg.manual_seed(0)
    x = tg.ones(200, 8, 3, 3)
    y = nn.Dropout2d(0.25)(x).numpy()
    per_channel = y.reshape(200, 8, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))     # a plane is kept or not
    assert set(np.unique(y)) <= {np.float32(0.0), np.float32(1 / 0.75)}
    assert abs((per_channel[:, :, 0] == 0).mean() - 0.25) < 0.04
    assert nn.Dropout2d(0.25).eval()(x) is x


def test_embedding_from_pretrained_is_frozen_and_looks_up_rows():
    w = tg.tensor(_normal(4, 2))
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(tg.tensor([3, 0])).numpy(), w.numpy()[[3, 0]])
    with pytest.raises(IndexError, match="embedding"):
        emb(tg.tensor([4]))


def test_implicit_softmax_dim_warns_as_torch():
    for name in ("softmax", "log_softmax", "softmin"):
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name} has been"):
            getattr(F, name)(tg.zeros(2, 3))
    x = tg.tensor(_normal(2, 3), dtype="float32")
    assert F.log_softmax(x, 1, dtype=tg.float64).dtype == tg.float64
    assert F.softmax(x, dim=0).dtype == tg.float32


def test_bad_arguments_name_the_op():
    with pytest.raises(ValueError, match="interpolate"):
        F.interpolate(tg.randn(1, 1, 2, 2), scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="pixel_shuffle"):
        F.pixel_shuffle(tg.randn(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match="reflect"):
        F.pad(tg.randn(1, 1, 2, 2), (2, 2, 0, 0), mode="reflect")
    with pytest.raises(ValueError, match="group_norm"):
        F.group_norm(tg.randn(2, 3, 2), 2)
    with pytest.raises(ValueError, match="conv1d"):
        F.conv1d(tg.randn(1, 2, 5), tg.randn(2, 2, 3), groups=2)
    with pytest.raises(ValueError, match="max_pool2d"):
        F.max_pool2d(tg.randn(1, 1, 4, 4), 2, dilation=2)
    with pytest.raises(TypeError, match="one_hot"):
        F.one_hot(tg.tensor([0.5]))
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(tg.randn(2, 3), tg.randn(2, 3), tg.randn(2, 3), attn_mask=tg.randn(2, 2),
                                       is_causal=True)
    with pytest.raises(ValueError, match="max_pool1d"):
        F.max_pool1d(tg.randn(1, 2, 2), 4)
    with pytest.raises(ValueError, match="glu"):
        F.glu(tg.randn(2, 3))
    with pytest.raises(ValueError, match="MultiheadAttention"):
        nn.MultiheadAttention(6, 4)
