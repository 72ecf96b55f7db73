"""normalize, cosine_similarity and pairwise_distance (torch.nn.functional), composed from
differentiable ops.

    normalize(x, p, dim)          x / max(||x||_p, eps)                  (norm along dim)
    cosine_similarity(a, b, dim)  sum_dim (a / max(||a||, eps)) (b / max(||b||, eps))
    pairwise_distance(a, b, p)    ||a - b + eps||_p over the last dim (eps as torch adds it)

(each vector clamped on its own, as torch 2). A zero vector has zero gradient through its
norm, as torch's norm backward gives, instead of the 0/0 of d sqrt(s) at s = 0.
"""
from tinygen.autograd.tensor import as_tensor
from tinygen.ops.elementwise import clamp
from tinygen.ops.norms import norm
from tinygen.ops.reduce import sum


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input divided by its p-norm along dim (at least eps)."""
    if input.ndim == 0:
        raise ValueError("normalize: expects a tensor of at least 1 dim")
    return input / clamp(norm(input, p, dim, True), min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between x1 and x2 along dim (they broadcast): the dim is removed."""
    x1, x2 = as_tensor(x1, like=(x1, x2)), as_tensor(x2, like=(x1, x2))
    a = x1 / clamp(norm(x1, 2, dim, True), min=eps)
    b = x2 / clamp(norm(x2, 2, dim, True), min=eps)
    return sum(a * b, dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last dim (they broadcast): (N, D) -> (N,)."""
    x1, x2 = as_tensor(x1, like=(x1, x2)), as_tensor(x2, like=(x1, x2))
    return norm(x1 - x2 + eps, p, -1, keepdim)
