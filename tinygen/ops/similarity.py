"""normalize and cosine_similarity (torch.nn.functional), composed from differentiable ops.

    normalize(x, p, dim)          x / max(||x||_p, eps)                  (norm along dim)
    cosine_similarity(a, b, dim)  sum_dim (a / max(||a||, eps)) (b / max(||b||, eps))

(each vector clamped on its own, as torch 2). A zero vector has zero gradient through its
norm, as torch's norm backward gives, instead of the 0/0 of d sqrt(s) at s = 0.
"""
import math

from tinygen.autograd.tensor import as_tensor
from tinygen.ops.elementwise import abs, clamp, pow, sqrt, where
from tinygen.ops.reduce import amax, sum


def _vector_norm(x, p, dim, keepdim):
    """||x||_p along dim, with gradient 0 (not nan) at the zero vector."""
    if p == math.inf:
        return amax(abs(x), dim, keepdim)
    s = sum(abs(x) ** p if p != 2 else x * x, dim, keepdim)
    nonzero = s.data > 0
    safe = where(nonzero, s, 1.0)
    root = sqrt(safe) if p == 2 else pow(safe, 1.0 / p)
    return where(nonzero, root, 0.0)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input divided by its p-norm along dim (at least eps)."""
    if input.ndim == 0:
        raise ValueError("normalize: expects a tensor of at least 1 dim")
    return input / clamp(_vector_norm(input, p, dim, True), min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between x1 and x2 along dim (they broadcast): the dim is removed."""
    x1, x2 = as_tensor(x1, like=(x1, x2)), as_tensor(x2, like=(x1, x2))
    a = x1 / clamp(_vector_norm(x1, 2, dim, True), min=eps)
    b = x2 / clamp(_vector_norm(x2, 2, dim, True), min=eps)
    return sum(a * b, dim)
