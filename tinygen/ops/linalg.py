"""Matrix products: matmul (batched, broadcasting, as numpy.matmul) and linear.

    y = a @ b          y[..., i, j] = sum_k a[..., i, k] b[..., k, j]
    ga = gy @ b^T      gb = a^T @ gy      (then summed back over broadcast batch dims)

The product itself is one BLAS (cpu) or cuBLAS (cuda, cupy.matmul) call, reached through the
kernel dispatch (tinygen/kernels/matmul_*.py: `matmul`); the hand-written blocked GEMM
kernels beside it exist to teach and to be measured against it. 1-D operands are promoted
as in NumPy and torch.
"""
import numpy as np

from tinygen import kernels
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import as_tensor
from tinygen.ops.shape import astype, reshape, transpose, unbroadcast


def _matmul_kernel(device):
    return kernels.implementation("matmul", device).matmul


class MatMul(Function):
    def forward(self, a, b):
        return _matmul_kernel(self.device)(a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = matmul(gy, transpose(b, -1, -2)) if a.requires_grad else None
        gb = matmul(transpose(a, -1, -2), gy) if b.requires_grad else None
        return (unbroadcast(ga, a) if ga is not None else None,
                unbroadcast(gb, b) if gb is not None else None)


def matmul(a, b):
    a, b = as_tensor(a, like=(a, b)), as_tensor(b, like=(a, b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m);  (k,) @ (k,) -> ()
        y = matmul(reshape(a, 1, -1), b)
        return reshape(y, b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else ())
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, -1, 1)), a.shape[:-1])
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)}: inner "
                         f"dimensions {a.shape[-1]} and {b.shape[-2]} differ")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims of {tuple(a.shape)} and {tuple(b.shape)} cannot "
                         f"be broadcast together") from None
    return MatMul()(a, b)


class Linear(Function):
    """y = x W^T + b for x (N, in), W (out, in), b (out,): one GEMM, bias added in place."""

    def forward(self, x, w, b=None):
        y = _matmul_kernel(self.device)(x, w.T)
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        # each gradient in its input's dtype (x, w, b may mix float32 and float64)
        gx = astype(matmul(gy, w), x.dtype) if x.requires_grad else None                 # (N, I)
        gw = astype(matmul(transpose(gy, 0, 1), x), w.dtype) if w.requires_grad else None  # (O, I)
        if len(self.inputs) == 2:
            return gx, gw
        b = self.inputs[2]
        return gx, gw, astype(gy.sum(dim=0), b.dtype)


def _check_dtypes(op, *tensors):
    """As torch's "mat1 and mat2 must have the same dtype", except that float32 and float64
    may mix (each gradient comes back in its input's dtype): an int input is not silently
    made float."""
    dtypes = [t.data.dtype for t in tensors if t is not None]
    if len(set(dtypes)) > 1 and not all(d in (np.float32, np.float64) for d in dtypes):
        raise TypeError(f"{op}: mat1 and mat2 must have the same dtype, got "
                        + ", ".join(f"{t.data.dtype} {tuple(t.shape)}" for t in tensors if t is not None)
                        + " (convert the input with .float())")


def linear(input, weight, bias=None):
    """torch.nn.functional.linear: input (*, in) @ weight (out, in)^T + bias (out,)."""
    if weight.ndim != 2 or input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not match weight of "
                         f"shape {tuple(weight.shape)} (expected input (*, {weight.shape[-1]}))")
    _check_dtypes("linear", input, weight, bias)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {tuple(bias.shape)} for weight of shape "
                         f"{tuple(weight.shape)} (expected ({weight.shape[0]},))")
    lead = input.shape[:-1]
    x = input if input.ndim == 2 else reshape(input, -1, input.shape[-1])
    y = Linear()(x, weight) if bias is None else Linear()(x, weight, bias)
    return y if input.ndim == 2 else reshape(y, lead + (weight.shape[0],))
