"""Integer indices to vectors: embedding (a row lookup) and one_hot, as torch.nn.functional.

    embedding(idx, W)    W[idx]: idx (*) int, W (V, D) -> (*, D)
                         d/dW: gy rows scatter-added into the rows idx picked (repeats sum)

The lookup is GetItem (tinygen/ops/shape.py) — the gather forward, scatter-add backward,
gather again for double backward — so it needs no Function of its own. padding_idx keeps
its row out of the gradient (the row is read through a detached W); max_norm rescales, in
place and outside the graph, every looked-up row whose p-norm exceeds it (torch's
embedding_renorm_: w <- w * max_norm / (norm + 1e-7)).
"""
import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.ops.elementwise import where
from tinygen.ops.shape import getitem


def _indices(op, input):
    idx = input.array if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer tensor, got {idx.dtype}")
    return idx


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of weight (V, D) picked by the integer tensor input (*): (*, D).

    sparse is accepted and ignored (the gradient is a dense (V, D) tensor);
    scale_grad_by_freq=True is not supported."""
    if scale_grad_by_freq:
        raise ValueError("embedding: scale_grad_by_freq=True is not supported")
    idx = _indices("embedding", input)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got "
                         f"{tuple(weight.shape)}")
    V = weight.shape[0]
    valid = (idx >= 0) & (idx < V)
    nan = backend.check_values(valid, lambda: IndexError(   # device: NaN rows, no host sync
        f"embedding: indices must lie in [0, {V}), got values in [{int(idx.min())}, "
        f"{int(idx.max())}] for weight {tuple(weight.shape)}"), weight.dtype)
    xp = backend.array_module(weight.device)
    idx = xp.asarray(idx) if nan is None else xp.where(valid, idx, 0)
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    y = getitem(weight, idx)                                   # (*, D)
    if nan is not None:
        y = y + Tensor.wrap(nan[..., None], weight.device, False)
    if padding_idx is not None:
        padding_idx = padding_idx + V if padding_idx < 0 else padding_idx
        keep = (idx != padding_idx)[..., None]
        y = where(keep, y, getitem(weight.detach(), idx))
    return y


def _renorm_rows(weight, idx, max_norm, norm_type):
    xp = backend.array_module(weight.device)
    rows = xp.unique(idx.reshape(-1))
    w = weight.array[rows]
    norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    with no_grad():
        weight[rows] = Tensor.wrap(w * scale[:, None], weight.device, False)


def one_hot(tensor, num_classes=-1):
    """(*) class indices -> (*, num_classes) int64 with a 1 at each index (num_classes=-1:
    one more than the largest index)."""
    idx = _indices("one_hot", tensor)
    device = tensor.device if isinstance(tensor, Tensor) else "cpu"
    xp = backend.array_module(device)
    idx = xp.asarray(idx)
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise RuntimeError(f"one_hot: class values must lie in [0, {num_classes}), got values in "
                           f"[{int(idx.min())}, {int(idx.max())}]")
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor.wrap(out, device, False)
