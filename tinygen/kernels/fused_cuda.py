"""Fused elementwise kernels, GPU version: numba.cuda kernels, one thread per element
(grid-stride loops), on CuPy arrays or, in numba's simulator, on NumPy arrays.

Same functions as fused_numpy.py (the formulas are there). Batch norm's per-channel
standardization is a reduction, not an elementwise map: on the GPU it is the reference
formula on CuPy arrays (CuPy's own reduction kernels), imported from fused_numpy.
"""
import math

from numba import cuda, int32

from tinygen.kernels._common import array_module, launch, launch_config
from tinygen.kernels._common_cuda import grid32
from tinygen.kernels.fused_numpy import batch_norm, batch_norm_backward  # noqa: F401


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
        y[i] = xi if xi > 0 or xi != xi else (slope * xi if slope != 0 else slope)


@cuda.jit
def _relu_grad(gy, x, slope, gx):
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(gy.size), step):
        gx[i] = gy[i] if x[i] > 0 else slope * gy[i]


@cuda.jit
def _adam(x, g, m, v, lr_t, one_minus_beta1, beta2, one_minus_beta2, eps, c2, weight_decay):
    # the scalars come in x's dtype (Python floats, and 1.0 literals, would compute in float64)
    start, step = grid32()                    # int32: no 64-bit division
    for i in range(start, int32(x.size), step):
        gi = g[i] + weight_decay * x[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        x[i] -= lr_t * mi / (math.sqrt(vi) / c2 + eps)


def _flat(a):
    xp = array_module(a)
    a = xp.ascontiguousarray(a)
    if xp.__name__ == "numpy" and not a.flags.writeable:
        a = a.copy()  # the simulator's device arrays need writable host memory
    return a.reshape(-1)


def _launch(kernel, n, *args):
    blocks, threads = launch_config(n)
    launch(kernel, blocks, threads, *args)


def sigmoid(x):
    xp = array_module(x)
    y = xp.empty(x.shape, dtype=x.dtype)
    _launch(_sigmoid, x.size, _flat(x), y.reshape(-1), x.dtype.type(1))
    return y


def bce_with_logits(l, t):
    xp = array_module(l)
    t = xp.broadcast_to(t, l.shape).astype(l.dtype)
    y = xp.empty(l.shape, dtype=l.dtype)
    _launch(_bce, l.size, _flat(l), _flat(t), y.reshape(-1), l.dtype.type(1))
    return y


def bce_with_logits_grad(l, t, gy):
    xp = array_module(l)
    t = xp.broadcast_to(t, l.shape).astype(l.dtype)
    gy = xp.asarray(gy, dtype=l.dtype)
    if gy.size != 1:
        gy = xp.broadcast_to(gy, l.shape)
    gl = xp.empty(l.shape, dtype=l.dtype)
    _launch(_bce_grad, l.size, _flat(l), _flat(t), _flat(gy), gl.reshape(-1), l.dtype.type(1))
    return gl


def relu(x, slope):
    xp = array_module(x)
    y = xp.empty(x.shape, dtype=x.dtype)
    _launch(_relu, x.size, _flat(x), x.dtype.type(slope), y.reshape(-1))
    return y


def relu_grad(gy, x, slope):
    xp = array_module(gy)
    gx = xp.empty(gy.shape, dtype=gy.dtype)
    _launch(_relu_grad, gy.size, _flat(gy), _flat(x), gy.dtype.type(slope), gx.reshape(-1))
    return gx


def adam_update(x, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Update x, m, v in place (each must be contiguous)."""
    for a in (x, m, v):
        if not a.flags.c_contiguous:
            raise ValueError("adam_update: parameter and state arrays must be contiguous")
    scalars = (lr / (1 - beta1 ** step), 1 - beta1, beta2, 1 - beta2, eps,
               math.sqrt(1 - beta2 ** step), weight_decay)
    _launch(_adam, x.size, x.reshape(-1), _flat(g), m.reshape(-1), v.reshape(-1),
            *(x.dtype.type(s) for s in scalars))
