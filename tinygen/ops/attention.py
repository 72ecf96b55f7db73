"""Scaled dot-product attention (Vaswani et al. 2017), composed of differentiable ops:

    A = softmax(q k^T * scale + M)      q (..., L, E), k (..., S, E), scale = 1 / sqrt(E)
    y = dropout(A) v                    v (..., S, Ev)  ->  y (..., L, Ev)

M is 0 where a query may attend to a key and -inf where it may not: from attn_mask (bool:
True = may attend, as torch's F.scaled_dot_product_attention; float: added as it is) or
is_causal (query i sees keys j <= i, the top-left aligned lower triangle, as torch; not both,
as torch). A query
that may attend to no key gets nan, as softmax of all -inf.

Memory: the (..., L, S) scores and weights are formed, and kept for the backward (softmax's
output, matmul's inputs); this is the readable reference, no fused kernel.
"""
import math

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.ops.linalg import matmul
from tinygen.ops.random import dropout
from tinygen.ops.reduce import softmax
from tinygen.ops.shape import transpose


def attention_bias(attn_mask, L, S, is_causal, like):
    """The additive mask M (None when nothing is masked): 0 where a query may attend, -inf
    where it may not; a float attn_mask is added as it is."""
    xp = backend.array_module(like.device)
    if isinstance(attn_mask, Tensor) and attn_mask.device != like.device:
        raise RuntimeError(f"scaled_dot_product_attention: attn_mask {tuple(attn_mask.shape)} is on "
                           f"{attn_mask.device}, query {tuple(like.shape)} on {like.device}")
    if is_causal:
        attn_mask = Tensor.wrap(xp.tril(xp.ones((L, S), dtype=bool)), like.device, False)
    if attn_mask is None or attn_mask.dtype != bool:
        return attn_mask
    return Tensor.wrap(xp.where(attn_mask.array, 0.0, -xp.inf).astype(like.dtype), like.device, False)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(q k^T scale + mask) v: query (..., L, E), key (..., S, E), value (..., S, Ev) ->
    (..., L, Ev); attn_mask (bool: True attends; float: added) broadcasts to (..., L, S)."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2 or query.shape[-1] != key.shape[-1] \
            or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, E), key (..., S, E), "
                         f"value (..., S, Ev), got {tuple(query.shape)}, {tuple(key.shape)}, "
                         f"{tuple(value.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: an explicit attn_mask should not be set "
                           "when is_causal=True")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa (grouped query "
                                  "attention) is not supported")
    bias = attention_bias(attn_mask, query.shape[-2], key.shape[-2], is_causal, query)
    weights = attention_weights(query, key, bias, scale)
    return matmul(dropout(weights, dropout_p, training=dropout_p > 0), value)   # (..., L, Ev)


def attention_weights(query, key, bias=None, scale=None):
    """A = softmax(q k^T scale + bias) over the keys: (..., L, E), (..., S, E) -> (..., L, S)."""
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = matmul(query, transpose(key, -2, -1)) * scale                  # (..., L, S)
    return softmax(scores if bias is None else scores + bias, -1)
