"""Layers that only reshape or randomly mask: Flatten, Unflatten, Dropout, Dropout1d, Dropout2d,
AlphaDropout.

`inplace=True` is accepted (and shown in the repr, as torch) but ignored: tinygen computes
out of place, with the same values.
"""
from tinygen.nn.module import Module
from tinygen.ops.random import alpha_dropout, dropout, dropout1d, dropout2d
from tinygen.ops.shape import flatten, unflatten


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) with the defaults start_dim=1, end_dim=-1."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim into unflattened_size: Unflatten(1, (64, 7, 7)) maps (N, 3136) -> (N, 64, 7, 7)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        return unflatten(x, self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p);
    in evaluation, the identity."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class AlphaDropout(Dropout):
    """In training, alpha dropout (F.alpha_dropout: SELU's mean and variance kept); in
    evaluation, the identity."""

    def forward(self, x):
        return alpha_dropout(x, self.p, self.training)


class Dropout1d(Dropout):
    """In training, zero whole channels (each (sample, channel) row of (N, C, L), or each row
    of an unbatched (C, L)) with probability p and scale the rest by 1/(1-p); in evaluation,
    the identity."""

    def forward(self, x):
        return dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """In training, zero whole channels (each (sample, channel) plane of (N, C, H, W)) with
    probability p and scale the rest by 1/(1-p); in evaluation, the identity."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training)
