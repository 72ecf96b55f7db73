"""Matrix products: matmul (batched, broadcasting, as numpy.matmul) and linear; torch's named
forms (mm, bmm, dot, outer, kron, cross, einsum) and matrix parts (tril, triu, diag,
diagonal, trace, diag_embed); the add* products (addmm, ...); and the small-matrix functions
of torch.linalg (inv, det, slogdet, solve, cholesky), over any batch dims (..., n, n):

    Y = inv(A)            gA = -Y^T gY Y^T
    y = det(A)            gA = gy y A^-T                  (A invertible)
    logabsdet(A)          gA = gy A^-T                     (slogdet's sign has no gradient)
    X = solve(A, B)       gB = solve(A^T, gX)    gA = -gB X^T
    L = cholesky(A)       gA = sym(L^-T Phi(L^T gL) L^-1), Phi: the lower triangle with its
                          diagonal halved, sym(M) = (M + M^T) / 2   (Murray 2016, as torch)
    l = eigvalsh(S)       gS = V diag(gl) V^T       (S = V diag(l) V^T symmetric, l ascending)
    V (eigenvectors)      gS = V (skew(V^T gV) / E) V^T, E_ij = l_j - l_i, skew(M) = (M - M^T) / 2
                          (internal: its sign is arbitrary, so only V diag(.) V^T is exposed)
    s = svdvals(A)        sqrt(eigvalsh(A^T A)) (or of A A^T, the smaller), descending: exact
                          for the largest, to about eps s_max^2 / s_i for small s_i

Each backward is written with these ops themselves, so each differentiates again.

    y = a @ b          y[..., i, j] = sum_k a[..., i, k] b[..., k, j]
    ga = gy @ b^T      gb = a^T @ gy      (then summed back over broadcast batch dims)

The product itself is one BLAS (cpu) or cuBLAS (cuda, cupy.matmul) call, reached through the
kernel dispatch (tinygen/kernels/matmul_*.py: `matmul`); the hand-written blocked GEMM
kernels beside it exist to teach and to be measured against it. 1-D operands are promoted
as in NumPy and torch.
"""
from collections import namedtuple

import numpy as np

from tinygen import backend, kernels
from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor, as_tensor
from tinygen.ops.common import normalize_dim
from tinygen.ops.elementwise import where
from tinygen.ops.rearrange import movedim
from tinygen.ops.shape import (IndexAdd, astype, broadcast_to, expand, getitem, permute, reshape,
                               stack, transpose, unbroadcast, unsqueeze)


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
    if a.ndim > 2 or b.ndim > 2:          # (np.broadcast_shapes of two () costs 1.4 us)
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
    dtypes = [t.array.dtype for t in tensors if t is not None]
    if len(set(dtypes)) > 1 and not all(d in (np.float32, np.float64) for d in dtypes):
        raise TypeError(f"{op}: mat1 and mat2 must have the same dtype, got "
                        + ", ".join(f"{t.array.dtype} {tuple(t.shape)}" for t in tensors if t is not None)
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


def bilinear(input1, input2, weight, bias=None):
    """y_o = x1^T W_o x2 + b_o: input1 (*, in1), input2 (*, in2), weight (out, in1, in2),
    bias (out,) -> (*, out)."""
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise ValueError(f"bilinear: inputs of shapes {tuple(input1.shape)} and {tuple(input2.shape)} "
                         f"do not match weight of shape {tuple(weight.shape)} (expected (out, in1, in2))")
    y = einsum("...i,oij,...j->...o", input1, weight, input2)
    return y if bias is None else y + bias


# ---- torch's named products and matrix parts (matmul underneath, or masks and indexing) -------

def _check_dims(op, expected, *xs):
    for x, n in zip(xs, expected):
        if x.ndim != n:
            raise RuntimeError(f"{op}: expects {'-'.join(f'{k}d' for k in expected)} tensors, got "
                               f"shapes {[tuple(t.shape) for t in xs]}")


def mm(input, mat2):
    """(n, k) @ (k, m), no broadcasting."""
    _check_dims("mm", (2, 2), input, mat2)
    return matmul(input, mat2)


def bmm(input, mat2):
    """(b, n, k) @ (b, k, m), no broadcasting."""
    _check_dims("bmm", (3, 3), input, mat2)
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes {input.shape[0]} and {mat2.shape[0]} differ")
    return matmul(input, mat2)


def dot(input, other):
    """The inner product of two 1-d tensors."""
    _check_dims("dot", (1, 1), input, other)
    return matmul(input, other)


def outer(input, vec2):
    """y[i, j] = input[i] vec2[j]."""
    _check_dims("outer", (1, 1), input, vec2)
    return reshape(input, (-1, 1)) * reshape(vec2, (1, -1))


def _scaled_sum(op, input, product, beta, alpha):
    """beta input + alpha product; input is ignored when beta = 0 (its nan and inf too), as
    torch's add* ops."""
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(product.shape))
    except ValueError:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} does not broadcast to the "
                           f"product's shape {tuple(product.shape)}") from None
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return broadcast_to(scaled, np.broadcast_shapes(tuple(input.shape), tuple(product.shape)))
    return (input if beta == 1 else input * beta) + scaled


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta input + alpha (mat1 @ mat2): mat1 (n, k), mat2 (k, m), input broadcast to (n, m)."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta input + alpha (mat @ vec): mat (n, m), vec (m,), input broadcast to (n,)."""
    _check_dims("addmv", (2, 1), mat, vec)
    return _scaled_sum("addmv", input, matmul(mat, vec), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta input + alpha (batch1 @ batch2), per batch: (b, n, k) @ (b, k, m) -> (b, n, m)."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta input + alpha sum_b (batch1[b] @ batch2[b]): the batch summed out, (n, m)."""
    return _scaled_sum("addbmm", input, bmm(batch1, batch2).sum(dim=0), beta, alpha)


def _triangle(x, diagonal, upper):
    if x.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: expects at least 2 dims, got shape "
                           f"{tuple(x.shape)}")
    xp = backend.array_module(x.device)
    n, m = x.shape[-2:]
    ones = xp.ones((n, m), dtype=bool)
    keep = xp.triu(ones, diagonal) if upper else xp.tril(ones, diagonal)
    return where(Tensor.wrap(keep, x.device, False), x, 0.0)


def tril(input, diagonal=0):
    """The lower triangle (j <= i + diagonal) of the last two dims; the rest 0."""
    return _triangle(input, diagonal, upper=False)


def triu(input, diagonal=0):
    """The upper triangle (j >= i + diagonal) of the last two dims; the rest 0."""
    return _triangle(input, diagonal, upper=True)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal x[..., i, i + offset] over dims (dim1, dim2), appended as the last dim."""
    d1, d2 = normalize_dim(dim1, input.ndim, "diagonal"), normalize_dim(dim2, input.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal: dim1 and dim2 are the same dim {d1}")
    rest = [d for d in range(input.ndim) if d not in (d1, d2)]
    x = permute(input, rest + [d1, d2])                             # (..., n, m)
    n, m = x.shape[-2:]
    xp = backend.array_module(input.device)
    rows = xp.arange(max(0, -offset), max(0, min(n, m - offset)))
    return getitem(x, (Ellipsis, rows, rows + offset))


_diagonal_of = diagonal   # diag's argument `diagonal` (torch's name) hides the function


def diag(input, diagonal=0):
    """1-d -> the square matrix with it on the given diagonal; 2-d -> that diagonal."""
    if input.ndim == 2:
        return _diagonal_of(input, diagonal)
    _check_dims("diag", (1,), input)
    n = input.shape[0] + abs(diagonal)
    xp = backend.array_module(input.device)
    rows = xp.arange(input.shape[0]) + max(0, -diagonal)
    return IndexAdd((rows, rows + diagonal), (n, n))(input)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """The last dim of input on the offset diagonal of new (n + |offset|)-square matrices whose
    rows and columns are dims dim1 and dim2 of the output (batched torch.diag)."""
    lead, n = tuple(input.shape[:-1]), (input.shape[-1] if input.ndim else 1)
    size = n + abs(offset)
    batch = int(np.prod(lead))
    xp = backend.array_module(input.device)
    rows = xp.arange(n) + max(0, -offset)
    index = (xp.arange(batch)[:, None], rows[None, :], rows[None, :] + offset)     # (B, n) each
    y = IndexAdd(index, (batch, size, size))(reshape(input, (batch, n)))          # (B, size, size)
    y = reshape(y, lead + (size, size))
    ndim = y.ndim
    d1, d2 = normalize_dim(dim1, ndim, "diag_embed"), normalize_dim(dim2, ndim, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 and dim2 are the same dim {d1}")
    return movedim(y, (ndim - 2, ndim - 1), (d1, d2))


def trace(input):
    """The sum of the main diagonal of a 2-d tensor."""
    _check_dims("trace", (2,), input)
    return diagonal(input).sum()


def _aligned_shapes(a, b):
    """a's and b's shapes right-aligned to the same number of dims (1s in front)."""
    n = max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + tuple(a.shape), (1,) * (n - b.ndim) + tuple(b.shape)
    return sa, sb


def kron(input, other):
    """The Kronecker product: block (i, j) is input[i, j] * other (any number of dims)."""
    sa, sb = _aligned_shapes(input, other)
    a = reshape(input, tuple(v for n in sa for v in (n, 1)))        # (a0, 1, a1, 1, ...)
    b = reshape(other, tuple(v for n in sb for v in (1, n)))        # (1, b0, 1, b1, ...)
    return reshape(a * b, tuple(x * y for x, y in zip(sa, sb)))


def cross(input, other, dim=None):
    """The 3-vector cross product along dim (default: the first dim of size 3, as torch)."""
    if dim is None:
        dim = next((d for d, n in enumerate(input.shape) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dim of size 3 in shape {tuple(input.shape)}")
    d = normalize_dim(dim, input.ndim, "cross")
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"cross: dim {d} must have size 3, got shapes {tuple(input.shape)} "
                           f"and {tuple(other.shape)}")

    def part(x, i):
        return getitem(x, (slice(None),) * d + (i,))
    a, b = [part(input, i) for i in range(3)], [part(other, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], d)


# ---- einsum --------------------------------------------------------------------------------------

class Einsum(Function):
    """y = einsum(subscripts, *xs) with explicit output letters and no letter repeated inside
    one operand. The gradient of operand i is an einsum too:

        gx_i = einsum("out, others -> sub_i", gy, *others)

    then broadcast along the letters of sub_i that appear nowhere else (summed-out axes)."""

    def __init__(self, subs, out):
        self.subs, self.out = subs, out

    def forward(self, *xs):
        xp = backend.array_module(self.device)
        return xp.einsum(",".join(self.subs) + "->" + self.out, *xs)

    def backward(self, gy):
        grads = []
        for i, x in enumerate(self.inputs):
            if not x.requires_grad:
                grads.append(None)
                continue
            others = [(s, t) for j, (s, t) in enumerate(zip(self.subs, self.inputs)) if j != i]
            present = set(self.out).union(*[set(s) for s, _ in others])
            kept = "".join(c for c in self.subs[i] if c in present)
            g = Einsum([self.out] + [s for s, _ in others], kept)(gy, *[t for _, t in others])
            if kept != self.subs[i]:   # letters summed out of x alone: broadcast back
                g = expand(_insert_ones(g, self.subs[i], kept), tuple(x.shape))
            grads.append(g if g.dtype == x.dtype else astype(g, x.dtype))
        return tuple(grads)


def _insert_ones(g, sub, kept):
    """g with axes letters `kept` reshaped to the order of `sub`, size 1 at missing letters."""
    sizes = dict(zip(kept, g.shape))
    return reshape(g, tuple(sizes.get(c, 1) for c in sub))


def _diagonals(x, sub):
    """(x, sub) with each letter repeated within sub reduced to the diagonal over its dims:
    'ii' -> diagonal(x) with sub 'i', as einsum reads it ('ii->i', 'bii->b' a trace)."""
    while len(set(sub)) != len(sub):
        c = next(c for c in sub if sub.count(c) > 1)
        i, j = sub.index(c), sub.index(c, sub.index(c) + 1)
        if x.shape[i] != x.shape[j]:
            raise RuntimeError(f"einsum: subscript {c!r} repeated in {sub!r} for dims of sizes "
                               f"{x.shape[i]} and {x.shape[j]}")
        x = diagonal(x, 0, i, j)                                   # the diagonal as the last dim
        sub = sub[:i] + sub[i + 1:j] + sub[j + 1:] + c
    return x, sub


def einsum(equation, *operands):
    """Einstein summation as torch.einsum ('ij,jk->ik', a, b); '...', implicit outputs
    ('ij,jk') and letters repeated within an operand ('ii->i', a diagonal) are accepted."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [as_tensor(x, like=operands) for x in operands]
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(operands):
        raise ValueError(f"einsum: {len(subs)} operand subscripts in {equation!r} for "
                         f"{len(operands)} operands")
    used = set(eq) - set(".,->")
    spare = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    n_ellipsis = max((x.ndim - len(s.replace("...", "")) for s, x in zip(subs, operands) if "..." in s),
                     default=0)
    ell = "".join(next(spare) for _ in range(n_ellipsis))
    full = []
    for s, x in zip(subs, operands):
        if "..." in s:
            k = x.ndim - len(s.replace("...", ""))
            s = s.replace("...", ell[n_ellipsis - k:])
        if len(s) != x.ndim:
            raise ValueError(f"einsum: subscripts {s!r} for an operand of shape {tuple(x.shape)}")
        full.append(s)
    if arrow:
        out = out.replace("...", ell)
    else:     # the letters that occur once in the equation ('ii' is a trace)
        letters = "".join(full)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    operands, full = zip(*(_diagonals(x, s) for x, s in zip(operands, full)))
    # broadcast size-1 dims of a letter shared with a larger size (NumPy einsum does not)
    sizes = {}
    for s, x in zip(full, operands):
        for c, n in zip(s, x.shape):
            sizes[c] = max(sizes.get(c, 1), n)
    operands = [broadcast_to(x, tuple(sizes[c] for c in s)) for s, x in zip(full, operands)]
    return Einsum(full, out)(*operands)


# ---- torch.linalg's small-matrix functions (gathered in tinygen/linalg.py) ------------------------

def _mT(x):
    return transpose(x, -1, -2)


def _check_square(op, A):
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: expects a batch of square matrices (..., n, n), got shape "
                           f"{tuple(A.shape)}")
    if A.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating-point tensor, got {A.dtype}")


class Inv(Function):
    def forward(self, A):
        return backend.array_module(self.device).linalg.inv(A)

    def backward(self, gy):
        y = _mT(self.output)
        return -matmul(matmul(y, gy), y)


def inv(A):
    """The inverse of each square matrix of A (..., n, n)."""
    _check_square("inv", A)
    return Inv()(A)


class Det(Function):
    def forward(self, A):
        return backend.array_module(self.device).linalg.det(A)

    def backward(self, gy):
        scale = unsqueeze(unsqueeze(gy * self.output, -1), -1)
        return scale * _mT(inv(self.inputs[0]))


def det(A):
    """The determinant of each square matrix of A (..., n, n) -> (...)."""
    _check_square("det", A)
    return Det()(A)


class LogAbsDet(Function):
    def forward(self, A):
        return backend.array_module(self.device).linalg.slogdet(A)[1]

    def backward(self, gy):
        return unsqueeze(unsqueeze(gy, -1), -1) * _mT(inv(self.inputs[0]))


slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])


def slogdet(A):
    """(sign, logabsdet): det(A) = sign exp(logabsdet), without over- or underflow."""
    _check_square("slogdet", A)
    sign = backend.array_module(A.device).linalg.slogdet(A.array)[0]
    return slogdet_result(Tensor.wrap(sign, A.device, False), LogAbsDet()(A))


def logdet(A):
    """log det(A): nan where det(A) < 0, -inf where it is 0 (as torch.logdet)."""
    sign, logabsdet = slogdet(A)
    xp = backend.array_module(A.device)
    with np.errstate(divide="ignore", invalid="ignore"):
        return logabsdet + Tensor.wrap(xp.log(sign.array), A.device, False)   # log -1 = nan, log 0 = -inf


class Solve(Function):
    def forward(self, A, B):
        return backend.array_module(self.device).linalg.solve(A, B)

    def backward(self, gX):
        A = self.inputs[0]
        gB = solve(_mT(A), gX)
        return -matmul(gB, _mT(self.output)), gB


def solve(A, B, *, left=True):
    """X with A X = B: A (..., n, n), B (..., n, k) or a vector (..., n); batch dims broadcast."""
    _check_square("solve", A)
    if not left:
        raise NotImplementedError("solve: left=False (X A = B) is not supported; solve A^T X^T = B^T")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if vector:
        B = unsqueeze(B, -1)
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"solve: A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)}: "
                           f"{A.shape[-1]} unknowns, {B.shape[-2]} equations")
    batch = np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    X = Solve()(broadcast_to(A, batch + tuple(A.shape[-2:])), broadcast_to(B, batch + tuple(B.shape[-2:])))
    return getitem(X, (Ellipsis, 0)) if vector else X


class Cholesky(Function):
    def forward(self, A):
        return backend.array_module(self.device).linalg.cholesky(A)

    def backward(self, gL):
        L = self.output
        n = L.shape[-1]
        xp = backend.array_module(L.device)
        halve_diagonal = Tensor.wrap(xp.tril(xp.ones((n, n), L.dtype)) - 0.5 * xp.eye(n, dtype=L.dtype),
                                      L.device, False)
        L_inv = inv(L)
        gA = matmul(matmul(_mT(L_inv), matmul(_mT(L), gL) * halve_diagonal), L_inv)
        return (gA + _mT(gA)) * 0.5


class EigvalsH(Function):
    def forward(self, S):
        return backend.array_module(self.device).linalg.eigvalsh(S)

    def backward(self, gl):
        V = EigvecsH()(self.inputs[0])
        return matmul(V * unsqueeze(gl, -2), _mT(V))


class EigvecsH(Function):
    def forward(self, S):
        return backend.array_module(self.device).linalg.eigh(S)[1]

    def backward(self, gV):
        S, V = self.inputs[0], self.output
        lam = EigvalsH()(S)
        n = lam.shape[-1]
        xp = backend.array_module(S.device)
        off = Tensor.wrap(1 - xp.eye(n, dtype=V.dtype), V.device, False)
        gaps = unsqueeze(lam, -2) - unsqueeze(lam, -1) + (1 - off)         # E_ij = l_j - l_i, 1 on the diagonal
        M = matmul(_mT(V), gV)
        return matmul(matmul(V, (M - _mT(M)) * 0.5 * off / gaps), _mT(V))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of each symmetric matrix of A (..., n, n), ascending (its lower
    triangle is read, as torch's default)."""
    _check_square("eigvalsh", A)
    if UPLO != "L":
        raise NotImplementedError("eigvalsh: only UPLO='L' is supported")
    return EigvalsH()(A)


def svdvals(A):
    """The singular values of each matrix of A (..., m, n), descending: (..., min(m, n))."""
    if A.ndim < 2:
        raise RuntimeError(f"svdvals: expects a batch of matrices (..., m, n), got shape {tuple(A.shape)}")
    gram = matmul(_mT(A), A) if A.shape[-2] >= A.shape[-1] else matmul(A, _mT(A))
    squares = EigvalsH()(gram)                                          # ascending, >= 0 up to rounding
    s = where(squares > 0, squares, 0.0) ** 0.5
    return getitem(s, (Ellipsis, slice(None, None, -1)))


def cholesky(A, *, upper=False):
    """L lower triangular with A = L L^T, for A symmetric positive definite (..., n, n); its
    lower triangle is read. upper=True: U = L^T."""
    _check_square("cholesky", A)
    L = Cholesky()(A)
    return _mT(L) if upper else L
