"""Fused elementwise kernels, GPU version: numba.cuda kernels, one thread per element
(grid-stride loops), on CuPy arrays or, in numba's simulator, on NumPy arrays.

Same functions as fused_numpy.py (the formulas are there). Batch norm's per-channel
standardization is a reduction, not an elementwise map: on the GPU it is the reference
formula on CuPy arrays (CuPy's own reduction kernels), imported from fused_numpy; so are
`arithmetic` (one CuPy ufunc is one pass already, on the whole device) and gated_tanh_grad
(CuPy's ufuncs), and gated_tanh is the reference's formula with this file's sigmoid. The
optimizer steps (adam_step, sgd_step) update a whole parameter group in one launch (per 16
tensors; see TENSORS_PER_CALL).
"""
import math

from numba import cuda, int32

from tinygen.kernels import fused_numpy
from tinygen.backend import get_array_module
from tinygen.kernels.common import gated_tanh_halves, launch, launch_config
from tinygen.kernels.common_cuda import grid32
from tinygen.kernels.fused_numpy import (arithmetic, batch_norm, batch_norm_backward,  # noqa: F401
                                        gated_tanh_grad)


@cuda.jit
def _sigmoid(x, y, one):   # one: 1 of x's dtype (a 1.0 literal would compute in float64)
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(x.size), step):
        e = math.exp(-abs(x[i]))                  # in (0, 1]: never overflows
        y[i] = (one if x[i] >= 0 else e) / (one + e)


@cuda.jit
def _bce(l, t, y, one):
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(l.size), step):
        li = l[i]
        a = abs(li)
        w = one - t[i] if li >= 0 else t[i]      # max(l, 0) - l t = w |l|
        y[i] = (w * a if w != 0 else one - one) + math.log1p(math.exp(-a))


@cuda.jit
def _bce_grad(l, t, gy, gl, one):
    scalar = gy.size == 1
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(l.size), step):
        li = l[i]
        e = math.exp(-abs(li))
        s = e / (one + e)                         # sigmoid(-|l|) in (0, 1/2]
        g = gy[0] if scalar else gy[i]
        gl[i] = g * ((one - t[i]) - s if li >= 0 else s - t[i])


@cuda.jit
def _relu(x, slope, y):
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(x.size), step):
        xi = x[i]
        y[i] = xi if not xi < 0 else (slope * xi if slope != 0 else slope)   # -0.0 and nan kept


@cuda.jit
def _relu_grad(gy, x, slope, gx):
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(gy.size), step):
        gx[i] = gy[i] if x[i] > 0 else slope * gy[i]


# The optimizer steps take a whole parameter group per launch: tuples of flat views, at most
# TENSORS_PER_CALL of them, padded with zero-size views to exactly that many (one compile
# per dtype). The cap is CUDA's 4 KB of kernel parameters: numba passes a 1-d array as 7 words
# (56 bytes), so Adam's 4 tuples of 16 take 3.6 KB (torch's multi_tensor_apply caps Adam's
# launches at 36 tensors for the same reason, with 8-byte pointers). Each thread walks every
# tensor by a grid-stride loop; the scalars come in x's dtype (Python floats, and 1.0
# literals, would compute in float64). In the simulator the values are bitwise the
# reference's; on a GPU, NVVM may fuse a * b + c into one rounding (not checked on hardware).
TENSORS_PER_CALL = 16


@cuda.jit
def _adam(xs, gs, ms, vs, lr_t, one_minus_beta1, beta2, one_minus_beta2, eps, c2,
          weight_decay, decay, l2, maximize):
    start, step = grid32()                    # int32: no 64-bit division
    for k in range(len(xs)):
        x, g, m, v = xs[k], gs[k], ms[k], vs[k]
        for i in range(start, int32(x.size), step):
            gi = -g[i] if maximize else g[i]
            xi = x[i] * decay                 # AdamW's decay, or 1 (exact)
            if l2:
                gi = gi + weight_decay * xi
            mi = m[i] + one_minus_beta1 * (gi - m[i])
            vi = beta2 * v[i] + one_minus_beta2 * gi * gi
            m[i] = mi
            v[i] = vi
            x[i] = xi - lr_t * mi / (math.sqrt(vi) / c2 + eps)


@cuda.jit
def _sgd(xs, gs, bufs, lr, momentum, one_minus_dampening, weight_decay, nesterov, maximize,
         l2, heavy_ball, first):
    start, step = grid32()
    for k in range(len(xs)):
        x, g, b = xs[k], gs[k], bufs[k]
        for i in range(start, int32(x.size), step):
            gi = -g[i] if maximize else g[i]
            if l2:
                gi = gi + weight_decay * x[i]
            if heavy_ball:
                bi = gi if first else momentum * b[i] + one_minus_dampening * gi
                b[i] = bi
                gi = gi + momentum * bi if nesterov else bi
            x[i] = x[i] - lr * gi


# The numba.cuda kernels above by name, with the kinds of the arguments their launches pass
# (kernels/common_cuda.py's example_arguments): what benchmarks/ptx_check.py compiles.
DEVICE_KERNELS = {
    "sigmoid": (_sigmoid, ("array1d", "array1d", "scalar")),
    "bce": (_bce, ("array1d", "array1d", "array1d", "scalar")),
    "bce_grad": (_bce_grad, ("array1d", "array1d", "array1d", "array1d", "scalar")),
    "relu": (_relu, ("array1d", "scalar", "array1d")),
    "relu_grad": (_relu_grad, ("array1d", "array1d", "scalar", "array1d")),
    "adam": (_adam, (("array1d",) * TENSORS_PER_CALL,) * 4 + ("scalar",) * 8 + ("bool",) * 2),
    "sgd": (_sgd, (("array1d",) * TENSORS_PER_CALL,) * 3 + ("scalar",) * 4 + ("bool",) * 5),
}


def _flat(a):
    xp = get_array_module(a)
    a = xp.ascontiguousarray(a)
    if xp.__name__ == "numpy" and not a.flags.writeable:
        a = a.copy()  # the simulator's device arrays need writable host memory
    return a.reshape(-1)


def _launch(kernel, n, *args):
    blocks, threads = launch_config(n)
    launch(kernel, blocks, threads, *args)


def sigmoid(x):
    xp = get_array_module(x)
    y = xp.empty(x.shape, dtype=x.dtype)
    _launch(_sigmoid, x.size, _flat(x), y.reshape(-1), x.dtype.type(1))
    return y


def gated_tanh(x, dim):
    return gated_tanh_halves(x, dim, sigmoid)


def bce_with_logits(l, t):
    xp = get_array_module(l)
    t = xp.broadcast_to(t, l.shape).astype(l.dtype)
    y = xp.empty(l.shape, dtype=l.dtype)
    _launch(_bce, l.size, _flat(l), _flat(t), y.reshape(-1), l.dtype.type(1))
    return y


def bce_with_logits_grad(l, t, gy):
    xp = get_array_module(l)
    t = xp.broadcast_to(t, l.shape).astype(l.dtype)
    gy = xp.asarray(gy, dtype=l.dtype)
    if gy.size != 1:
        gy = xp.broadcast_to(gy, l.shape)
    gl = xp.empty(l.shape, dtype=l.dtype)
    _launch(_bce_grad, l.size, _flat(l), _flat(t), _flat(gy), gl.reshape(-1), l.dtype.type(1))
    return gl


def relu(x, slope):
    xp = get_array_module(x)
    y = xp.empty(x.shape, dtype=x.dtype)
    _launch(_relu, x.size, _flat(x), x.dtype.type(slope), y.reshape(-1))
    return y


def relu_grad(gy, x, slope):
    xp = get_array_module(gy)
    gx = xp.empty(gy.shape, dtype=gy.dtype)
    _launch(_relu_grad, gy.size, _flat(gy), _flat(x), gy.dtype.type(slope), gx.reshape(-1))
    return gx


def _flat_views(written, grads):
    """(columns, strided): flat views of the tensors a kernel takes, one list per written list
    and then the gradients' (contiguous, of the first x's dtype), and the indices of the
    tensors it cannot write in place."""
    dtype = written[0][0].dtype
    strided = sorted({i for w in written for i, a in enumerate(w)
                      if not (a.flags.c_contiguous and a.dtype == dtype)})
    take = [i for i in range(len(grads)) if i not in strided] if strided else range(len(grads))
    columns = [[w[i].reshape(-1) for i in take] for w in written]
    columns.append([_flat(g if g.dtype == dtype else g.astype(dtype))
                    for g in (grads[i] for i in take)])
    return columns, strided


def _launch_over_tensors(kernel, columns, scalars):
    """kernel[...](*tuples, *scalars), one launch per TENSORS_PER_CALL tensors of `columns`
    (lists of flat views)."""
    empty = columns[0][0][:0]         # the padding: a view (no allocation, no launch)
    for lo in range(0, len(columns[0]), TENSORS_PER_CALL):
        tuples = [tuple(c[lo:lo + TENSORS_PER_CALL]) for c in columns]
        largest = max(x.size for x in tuples[0])
        pad = (empty,) * (TENSORS_PER_CALL - len(tuples[0]))
        _launch(kernel, largest, *(t + pad for t in tuples), *scalars)


def adam_step(xs, gs, ms, vs, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize):
    """Update each x, m, v of the lists in place. Tensors whose x, m or v is not contiguous,
    or not of the first x's dtype, take the reference's expressions (the same values)."""
    if not xs:
        return
    (xs_, ms_, vs_, gs_), strided = _flat_views((xs, ms, vs), gs)
    for i in strided:
        fused_numpy.adam_step([xs[i]], [gs[i]], [ms[i]], [vs[i]], lr, beta1, beta2, eps,
                              weight_decay, step, decoupled, maximize)
    if xs_:
        s = xs_[0].dtype.type
        _launch_over_tensors(_adam, (xs_, gs_, ms_, vs_), (
            s(lr / (1 - beta1 ** step)), s(1 - beta1), s(beta2), s(1 - beta2), s(eps),
            s(math.sqrt(1 - beta2 ** step)), s(0 if decoupled else weight_decay),
            s(1 - lr * weight_decay if decoupled else 1),
            bool(weight_decay != 0 and not decoupled), bool(maximize)))


def sgd_step(xs, gs, bufs, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """Update each x (and b, when momentum != 0) of the lists in place; tensors not
    contiguous or not of the first x's dtype take the reference's expressions."""
    if not xs:
        return
    bufs = bufs if momentum != 0 else xs           # not read then: any array of x's type
    (xs_, bufs_, gs_), strided = _flat_views((xs, bufs), gs)
    for i in strided:
        fused_numpy.sgd_step([xs[i]], [gs[i]], [bufs[i]], lr, momentum, dampening,
                             weight_decay, nesterov, maximize, first)
    if xs_:
        s = xs_[0].dtype.type
        _launch_over_tensors(_sgd, (xs_, gs_, bufs_), (
            s(lr), s(momentum), s(1 - dampening), s(weight_decay), bool(nesterov),
            bool(maximize), weight_decay != 0, momentum != 0, bool(first)))
