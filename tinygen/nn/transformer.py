"""Multi-head attention and the Transformer encoder (Vaswani et al. 2017), as torch.nn's
MultiheadAttention, TransformerEncoderLayer and TransformerEncoder: the same parameters
(names, shapes, state_dict keys), defaults and layouts, composed of tinygen ops.

    head_h  = softmax(q_h k_h^T / sqrt(D) + M) v_h       q_h = x W_q,h + b_q,h   (D = E / H)
    MHA(x)  = concat(head_1 .. head_H) W_o^T + b_o        (out_proj)

    encoder layer (norm_first=False):  x = norm1(x + dropout1(MHA(x)))
                                       x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))
    (norm_first=True: x = x + dropout1(MHA(norm1(x))), then x = x + ...(norm2(x)))

Sequences are (L, N, E), or (N, L, E) with batch_first=True, or (L, E) unbatched. Masks
follow torch.nn's convention, the opposite of F.scaled_dot_product_attention's: a bool
attn_mask (L, S) or (N H, L, S) and key_padding_mask (N, S) are True where attention is
NOT allowed; float masks are added to the scores.
"""
import copy


from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.container import ModuleList
from tinygen.nn.linear import Linear
from tinygen.nn.module import Module, Parameter
from tinygen.nn.normalization import LayerNorm
from tinygen.nn.shape import Dropout
from tinygen.ops.activation import gelu
from tinygen.ops.attention import attention_weights
from tinygen.ops.elementwise import relu
from tinygen.ops.factories import empty
from tinygen.ops.linalg import linear, matmul
from tinygen.ops.random import dropout
from tinygen.ops.shape import getitem, permute, reshape, transpose, unsqueeze


class NonDynamicallyQuantizableLinear(Linear):
    """Linear under the name torch gives MultiheadAttention's out_proj (so the reprs agree)."""


def _additive(mask, like, op):
    """A torch.nn-style mask (bool: True = masked) as a float to add to the scores."""
    if mask is None:
        return None
    if mask.dtype == bool:
        xp = backend.array_module(like.device)
        return Tensor.wrap(xp.where(mask.array, -xp.inf, 0.0).astype(like.dtype), like.device, False)
    if mask.dtype.kind != "f":
        raise TypeError(f"{op}: a mask must be bool or floating, got {mask.dtype}")
    return mask


class MultiheadAttention(Module):
    """Attention of num_heads heads of size embed_dim / num_heads; forward(query, key, value)
    -> (output (L, N, E), weights (N, L, S) averaged over the heads, or None)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                             f"num_heads {num_heads}")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim, self.batch_first = embed_dim // num_heads, batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim

        def weight(*shape):
            return Parameter(empty(*shape, dtype=dtype, device=device))
        if self._qkv_same_embed_dim:
            self.in_proj_weight = weight(3 * embed_dim, embed_dim)
        else:
            self.q_proj_weight = weight(embed_dim, embed_dim)
            self.k_proj_weight = weight(embed_dim, self.kdim)
            self.v_proj_weight = weight(embed_dim, self.vdim)
        self.register_parameter("in_proj_bias", weight(3 * embed_dim) if bias else None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        for w in ([self.in_proj_weight] if self._qkv_same_embed_dim else
                  [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]):
            init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projections(self):
        """(W_q, W_k, W_v) and (b_q, b_k, b_v) (Nones without bias)."""
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = [getitem(self.in_proj_weight, slice(i * E, (i + 1) * E)) for i in range(3)]
        else:
            w = [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]
        if self.in_proj_bias is None:
            return w, [None] * 3
        return w, [getitem(self.in_proj_bias, slice(i * E, (i + 1) * E)) for i in range(3)]

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal hint")
        batched = query.ndim == 3
        if not batched:                                        # (L, E) -> (L, 1, E)
            query, key, value = (unsqueeze(t, 1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = unsqueeze(key_padding_mask, 0)
        elif self.batch_first:                                 # (N, L, E) -> (L, N, E)
            query, key, value = (transpose(t, 0, 1) for t in (query, key, value))
        L, N, E = query.shape
        S, H, D = key.shape[0], self.num_heads, self.head_dim
        (wq, wk, wv), (bq, bk, bv) = self._projections()

        def heads(x, w, b, n):                                 # (n, N, E) -> (N, H, n, D)
            return permute(reshape(linear(x, w, b), (n, N, H, D)), (1, 2, 0, 3))
        q, k, v = heads(query, wq, bq, L), heads(key, wk, bk, S), heads(value, wv, bv, S)

        bias = _additive(attn_mask, q, "MultiheadAttention")
        if bias is not None and bias.ndim == 3:                # (N H, L, S) -> (N, H, L, S)
            bias = reshape(bias, (N, H, L, S))
        padding = _additive(key_padding_mask, q, "MultiheadAttention")
        if padding is not None:                                # (N, S) -> (N, 1, 1, S)
            padding = reshape(padding, (N, 1, 1, S))
            bias = padding if bias is None else bias + padding
        weights = dropout(attention_weights(q, k, bias), self.dropout, self.training)   # (N, H, L, S)
        heads_out = permute(matmul(weights, v), (2, 0, 1, 3))  # (L, N, H, D)
        y = self.out_proj(reshape(heads_out, (L, N, E)))
        if self.batch_first and batched:
            y = transpose(y, 0, 1)
        if not batched:
            y = reshape(y, (L, E))
        if not need_weights:
            return y, None
        if average_attn_weights:
            weights = weights.mean(dim=1)                      # (N, L, S)
        return y, (weights if batched else reshape(weights, tuple(weights.shape[1:])))


_ACTIVATIONS = {"relu": relu, "gelu": gelu}


class TransformerEncoderLayer(Module):
    """Self-attention and a two-layer feed-forward block, each with a residual connection and
    layer norm: (L, N, d_model) -> (L, N, d_model)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, device=device, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias, device, dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias, device, dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a "
                                 f"callable, got {activation!r}")
            activation = _ACTIVATIONS[activation]
        self.activation = activation

    def _self_attention(self, x, mask, key_padding_mask, is_causal):
        y = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False,
                           attn_mask=mask, is_causal=is_causal)[0]
        return self.dropout1(y)

    def _feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._self_attention(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feed_forward(x))


class TransformerEncoder(Module):
    """num_layers copies of encoder_layer applied in turn, then norm (if given)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)
