"""2-D convolution, fast CPU version: parallel numba im2col/col2im + one BLAS GEMM.

Same functions and the same math as conv_numpy.py (read that first):

    cols (C_in*kh*kw, N*Ho*Wo) = im2col(x)        numba, rows split over the cores
    y    = w2 @ cols                              one float32 GEMM (NumPy's BLAS, all cores)
    gw   = gy2 @ cols.T                           one GEMM
    gx   = col2im(w2.T @ gy2)                     GEMM, then a parallel gather over (n, c)

What makes it fast, and why:

- A 1x1 convolution (stride 1, no padding) is a matrix product over channels per image.
- Stride 1 (B3's layers, and every stride-1 input gradient) takes a special path: on the
  zero-padded image each row of cols is one contiguous shifted slice (see `_shifted_rows`),
  copied a few samples at a time so that it stays in cache for the GEMM.

- The GEMMs run in NumPy's BLAS (np.matmul with `out=`) outside numba: a numba-compiled
  np.dot cannot be cached (it holds a pointer to the BLAS routine), and BLAS is multithreaded
  already. numba only does the memory-bound copying, in parallel (prange).
- The big scratch matrices (cols, the GEMM output) are reused between calls (`_scratch`):
  allocating 50 MB fresh each call costs page faults comparable to the copy itself.
- A stride-1 transposed convolution (so also the input gradient of a stride-1 conv) is a
  plain convolution with the kernel flipped and its channel axes swapped, padded by
  d*(k-1) - p. Where it has no more input than output channels, that replaces a GEMM whose
  inner dimension is only C_in (slow in BLAS) and a col2im by an im2col and a GEMM whose
  inner dimension is C_in*kh*kw.
- Every kernel is specialized once per dtype on C-contiguous arrays (inputs are made
  contiguous first), which keeps the number of compilations, and CI's time, small.

numba's OpenMP threads must not spin while BLAS runs (they would steal its cores);
tinygen/kernels/__init__.py sets OMP_WAIT_POLICY=PASSIVE for this reason.
"""
import threading

import numpy as np
from numba import njit, prange

from tinygen.kernels.conv_numpy import conv_output_size, conv_transpose_output_size

_local = threading.local()


def _scratch(name, shape, dtype):
    """A reusable per-thread work array of `shape` (its contents are garbage)."""
    buffers = _local.__dict__.setdefault("buffers", {})
    size = int(np.prod(shape))
    buf = buffers.get((name, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        buffers[(name, np.dtype(dtype))] = buf
    return buf[:size].reshape(shape)


@njit(parallel=True, cache=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols):
    N, C, H, W = x.shape
    # one row (c, i, j) per task: rows are written contiguously and never shared
    for r in prange(C * kh * kw):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        for n in range(N):
            for p in range(Ho):
                h = p * sh - ph + i * dh
                base = (n * Ho + p) * Wo
                if h < 0 or h >= H:
                    for q in range(Wo):
                        cols[r, base + q] = 0
                else:
                    for q in range(Wo):
                        w = q * sw - pw + j * dw
                        if w >= 0 and w < W:
                            cols[r, base + q] = x[n, c, h, w]
                        else:
                            cols[r, base + q] = 0


@njit(parallel=True, cache=True)
def _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x):
    N, C, H, W = x.shape
    # one image plane (n, c) per task: the planes are disjoint, so no two tasks write one pixel.
    # Tasks go n-fastest: consecutive tasks read consecutive pieces of the same rows of cols.
    for t in prange(N * C):
        c = t // N
        n = t % N
        for h in range(H):
            for w in range(W):
                x[n, c, h, w] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for p in range(Ho):
                    h = p * sh - ph + i * dh
                    if h < 0 or h >= H:
                        continue
                    base = (n * Ho + p) * Wo
                    for q in range(Wo):
                        w = q * sw - pw + j * dw
                        if w >= 0 and w < W:
                            x[n, c, h, w] += cols[r, base + q]


@njit(parallel=True, cache=True)
def _images_to_rows(x, rows):
    N, C, H, W = x.shape
    for t in prange(N * C):
        n = t // C
        c = t % C
        base = n * H * W
        for h in range(H):
            for w in range(W):
                rows[c, base + h * W + w] = x[n, c, h, w]


@njit(parallel=True, cache=True)
def _rows_to_images(rows, x):
    N, C, H, W = x.shape
    for t in prange(N * C):
        n = t // C
        c = t % C
        base = n * H * W
        for h in range(H):
            for w in range(W):
                x[n, c, h, w] = rows[c, base + h * W + w]


# ---- stride 1: im2col as shifted copies of the padded image --------------------------------
#
# With stride 1, flatten the zero-padded image plane (Hp, Wp) to one row of Hp*Wp numbers.
# Output pixel (p, q) reads tap (i, j) at flat position (p*Wp + q) + (i*dh*Wp + j*dw): the
# same shift for every output pixel. Computing the output on the padded width Wp (columns
# q >= Wo are junk and dropped afterwards), the row of cols for tap (c, i, j) is then ONE
# contiguous slice of the padded plane, shifted by i*dh*Wp + j*dw, of length
#     L = (Ho - 1)*Wp + Wo
# A plain copy (vectorized) instead of a gather with bounds checks, about 3x faster; the GEMM
# does Wp/Wo more work (7% for 28x28, pad 1). The batch goes in chunks of a few samples
# (cols of about CHUNK_BYTES), so that cols stays in cache for the GEMM: measured 1.2-1.5x
# faster than one product over the whole batch for B3's 3x3 layer, single-threaded. (Each
# chunk is one BLAS call; on a machine overloaded by other jobs every multithreaded OpenBLAS
# call can stall for milliseconds, and fewer, larger chunks then do better.)

@njit(parallel=True, cache=True)
def _pad(x, ph, pw, xpad):
    N, C, H, W = x.shape
    Hp, Wp = xpad.shape[2], xpad.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        for h in range(Hp):
            for w in range(Wp):
                xpad[n, c, h, w] = 0
        for h in range(H):
            src = x[n, c, h]
            dst = xpad[n, c, h + ph, pw: pw + W]
            for w in range(W):  # indexed from 0: no wraparound check, vectorized copy
                dst[w] = src[w]


@njit(parallel=True, cache=True)
def _shifted_rows(xflat, n0, n1, kh, kw, dh, dw, Wp, L, cols):
    # xflat (N, C, Hp*Wp) padded planes; cols (C*kh*kw, (n1 - n0)*L), one block of L per sample
    K = cols.shape[0]
    for r in prange(K):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        shift = i * dh * Wp + j * dw
        for n in range(n0, n1):
            src = xflat[n, c, shift: shift + L]
            dst = cols[r, (n - n0) * L: (n - n0 + 1) * L]
            for t in range(L):
                dst[t] = src[t]


@njit(parallel=True, cache=True)
def _crop_rows(y_wide, Wp, L, y, n0):
    # y_wide (C_out, nb*L) on the padded width -> y[n0:n0+nb] (nb, C_out, Ho, Wo)
    C_out, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    nb = y_wide.shape[1] // L
    for t in prange(nb * C_out):
        b = t // C_out
        o = t % C_out
        for p in range(Ho):
            src = y_wide[o, b * L + p * Wp: b * L + p * Wp + Wo]
            dst = y[n0 + b, o, p]
            for q in range(Wo):
                dst[q] = src[q]


@njit(parallel=True, cache=True)
def _widen_rows(gy, n0, Wp, L, gy_wide):
    # gy[n0:n0+nb] (nb, C_out, Ho, Wo) -> gy_wide (C_out, nb*L), zeros in the junk columns
    C_out, Ho, Wo = gy.shape[1], gy.shape[2], gy.shape[3]
    nb = gy_wide.shape[1] // L
    for t in prange(nb * C_out):
        b = t // C_out
        o = t % C_out
        for p in range(Ho):
            dst = gy_wide[o, b * L + p * Wp: b * L + min(p * Wp + Wp, L)]
            src = gy[n0 + b, o, p]
            for q in range(Wo):
                dst[q] = src[q]
            for q in range(Wo, dst.shape[0]):
                dst[q] = 0


def _padded_planes(x, padding):
    """x zero-padded, as flat planes: (N, C, H, W) -> (N, C, Hp*Wp) scratch, and Wp."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * padding[0], W + 2 * padding[1]
    xpad = _scratch("xpad", (N, C, Hp, Wp), x.dtype)
    _pad(x, padding[0], padding[1], xpad)
    return xpad.reshape(N, C, Hp * Wp), Wp


CHUNK_BYTES = 8 << 20   # cols of one chunk of samples: about the size of a core's L2 x 4


def _sample_chunks(N, K, L, itemsize):
    """[(n0, n1)]: consecutive samples whose cols (K, (n1 - n0)*L) take about CHUNK_BYTES."""
    per_chunk = max(1, min(N, CHUNK_BYTES // max(1, K * L * itemsize)))
    return [(n0, min(N, n0 + per_chunk)) for n0 in range(0, N, per_chunk)]


def _conv2d_stride1(x, w, padding, dilation, Ho, Wo):
    N, C = x.shape[:2]
    C_out, _, kh, kw = w.shape
    K = C * kh * kw
    xflat, Wp = _padded_planes(x, padding)
    L = (Ho - 1) * Wp + Wo
    w2 = np.ascontiguousarray(w).reshape(C_out, K)
    y = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)
    for n0, n1 in _sample_chunks(N, K, L, x.itemsize):
        cols = _scratch("cols", (K, (n1 - n0) * L), x.dtype)
        _shifted_rows(xflat, n0, n1, kh, kw, dilation[0], dilation[1], Wp, L, cols)
        y_wide = np.matmul(w2, cols, out=_scratch("y2", (C_out, (n1 - n0) * L), x.dtype))
        _crop_rows(y_wide, Wp, L, y, n0)
    return y


def _conv2d_weight_grad_stride1(x, gy, kernel_size, padding, dilation):
    N, C = x.shape[:2]
    _, C_out, Ho, Wo = gy.shape
    kh, kw = kernel_size
    K = C * kh * kw
    xflat, Wp = _padded_planes(x, padding)
    L = (Ho - 1) * Wp + Wo
    gy = np.ascontiguousarray(gy)
    part = np.empty((K, C_out), dtype=x.dtype)
    gw_t = np.zeros((K, C_out), dtype=x.dtype)
    for n0, n1 in _sample_chunks(N, K, L, x.itemsize):
        cols = _scratch("cols", (K, (n1 - n0) * L), x.dtype)
        _shifted_rows(xflat, n0, n1, kh, kw, dilation[0], dilation[1], Wp, L, cols)
        gy_wide = _scratch("gy2", (C_out, (n1 - n0) * L), x.dtype)
        _widen_rows(gy, n0, Wp, L, gy_wide)
        # gw.T += cols @ gy_wide.T: this orientation is the faster one in OpenBLAS here
        gw_t += np.matmul(cols, gy_wide.T, out=part)
    return np.ascontiguousarray(gw_t.T).reshape(C_out, C, kh, kw)


# ---- any stride: the gather im2col, one GEMM over the batch ---------------------------------

def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Receptive fields as columns: (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo) (a scratch array)."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    if out_size is None:
        out_size = (conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw))
    Ho, Wo = out_size
    cols = _scratch("cols", (C * kh * kw, N * Ho * Wo), x.dtype)
    _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation, out_size):
    """Adjoint of im2col: cols (C*kh*kw, N*Ho*Wo) -> (N, C, H, W), overlapping taps summed."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    x = np.empty(x_shape, dtype=cols.dtype)
    _col2im(np.ascontiguousarray(cols), kh, kw, sh, sw, ph, pw, dh, dw, out_size[0], out_size[1], x)
    return x


def _gemm(name, a, b):
    """a @ b into a reusable scratch array (BLAS)."""
    out = _scratch(name, (a.shape[0], b.shape[1]), np.result_type(a, b))
    return np.matmul(a, b, out=out)


def conv2d(x, w, stride, padding, dilation):
    """y = x (*) w: x (N, C_in, H, W), w (C_out, C_in, kh, kw) -> y (N, C_out, Ho, Wo)."""
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
        # a 1x1 convolution is a matrix product over channels, image by image: no cols at all
        y = np.matmul(np.ascontiguousarray(w).reshape(C_out, C), np.ascontiguousarray(x).reshape(N, C, H * W))
        return y.reshape(N, C_out, H, W)
    if tuple(stride) == (1, 1):
        return _conv2d_stride1(x, w, padding, dilation, Ho, Wo)
    cols = im2col(x, (kh, kw), stride, padding, dilation)                  # (C*kh*kw, N*Ho*Wo)
    y2 = _gemm("y2", np.ascontiguousarray(w).reshape(C_out, C * kh * kw), cols)  # (C_out, N*Ho*Wo)
    y = np.empty((N, C_out, Ho, Wo), dtype=y2.dtype)
    _rows_to_images(y2, y)
    return y


def conv_transpose2d(x, w, stride, padding, output_padding, dilation):
    """Transposed convolution: x (N, C_in, H, W), w (C_in, C_out, kh, kw) -> (N, C_out, Ho, Wo)."""
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    fh, fw = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    if (sh, sw) == (1, 1) and tuple(output_padding) == (0, 0) and fh >= 0 and fw >= 0 and C_in <= C_out:
        # stride 1: a convolution with the flipped kernel, channels swapped, padding d(k-1)-p.
        # Its cols matrix has C_in*kh*kw rows against C_out*kh*kw for GEMM + col2im, and its
        # GEMM's inner dimension is C_in*kh*kw instead of C_in: the better path when C_in <= C_out
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C_out, C_in, kh, kw)
        return conv2d(x, w_flip, (1, 1), (fh, fw), dilation)
    Ho = conv_transpose_output_size(H, kh, sh, ph, output_padding[0], dh)
    Wo = conv_transpose_output_size(W, kw, sw, pw, output_padding[1], dw)
    x = np.ascontiguousarray(x)
    x2 = _scratch("x2", (C_in, N * H * W), x.dtype)
    _images_to_rows(x, x2)                                                   # (C_in, N*H*W)
    w2 = np.ascontiguousarray(w).reshape(C_in, C_out * kh * kw)
    cols = _gemm("cols", w2.T, x2)                                           # (C_out*kh*kw, N*H*W)
    return col2im(cols, (N, C_out, Ho, Wo), (kh, kw), stride, padding, dilation, (H, W))


def conv2d_weight_grad(x, gy, kernel_size, stride, padding, dilation):
    """gw = d<gy, conv2d(x, w)>/dw: x (N, C_in, H, W), gy (N, C_out, Ho, Wo) -> (C_out, C_in, kh, kw)."""
    N, C, H, W = x.shape
    _, C_out, Ho, Wo = gy.shape
    kh, kw = kernel_size
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0) and (Ho, Wo) == (H, W):
        gy3 = np.ascontiguousarray(gy).reshape(N, C_out, Ho * Wo)
        x3 = np.ascontiguousarray(x).reshape(N, C, H * W)
        return np.matmul(gy3, x3.transpose(0, 2, 1)).sum(axis=0).reshape(C_out, C, 1, 1)
    if tuple(stride) == (1, 1):
        return _conv2d_weight_grad_stride1(x, gy, kernel_size, padding, dilation)
    cols = im2col(x, kernel_size, stride, padding, dilation, (Ho, Wo))     # (C*kh*kw, N*Ho*Wo)
    gy2 = _scratch("gy2", (C_out, N * Ho * Wo), gy.dtype)
    _images_to_rows(np.ascontiguousarray(gy), gy2)                        # (C_out, N*Ho*Wo)
    gw = gy2 @ cols.T                                                     # (C_out, C*kh*kw)
    return gw.reshape(C_out, C, kh, kw)
