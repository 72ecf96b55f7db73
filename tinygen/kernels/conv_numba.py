"""2-D convolution, fast CPU version: contiguous copies in numba + BLAS GEMMs.

Same functions and the same math as conv_numpy.py (read that first). The reference gathers
every receptive field into cols (im2col) and scatters the input gradient back (col2im).
Both are scattered memory accesses with a bounds test per element. Here every convolution,
of any stride, becomes copies of contiguous slices and GEMMs, in three steps:

1. Stride 1: one shifted slice per row of cols.
   Flatten the zero-padded image plane (Hp, Wp) to one row of Hp*Wp numbers. Output pixel
   (p, q) reads tap (i, j) at flat position (p*Wp + q) + (i*dh*Wp + j*dw): the same shift for
   every output pixel. Compute the output on the padded width Wp (the columns q >= Wo are
   junk and are dropped afterwards): then the row of cols for tap (c, i, j) is ONE contiguous
   slice of the padded plane, shifted by i*dh*Wp + j*dw, of length

       L = (Ho - 1)*Wp + Wo

   A plain copy (vectorized) instead of a gather, about 3x faster; the GEMM does Wp/Wo more
   work (7% for 28x28, pad 1).

2. Stride s: split the padded plane into s*s phase planes first (space-to-depth).
   Phase plane (a, b) holds xpad[a::sh, b::sw], of Hs = ceil(Hp/sh) rows by Ws = ceil(Wp/sw).
   Tap i lands at padded row p*sh + i*dh = sh*(p + u) + a with a = (i*dh) % sh and
   u = (i*dh) // sh: row p + u of phase plane a. So the row of cols for tap (c, i, j) is one
   contiguous slice of phase plane (c, a, b), shifted by u*Ws + v: step 1 on the phases.

3. Transposed convolution, stride s: s*s stride-1 convolutions (the "sub-pixel" view).
   y[Y] sums x[X] w[i] over s*X - p + i*d = Y. Write Y + p = s*P + r: only the taps with
   (i*d) % s == r reach the outputs of residue r, each from x[P - u_i], u_i = (i*d) // s.
   So each output phase r is a stride-1 convolution of x (zero-padded) with its own subset
   of the kernel's taps (flipped), and its outputs go to every s-th row, Y = s*P + r - p.
   No col2im: every output is written exactly once. When a transposed convolution has many
   more input than output channels (a GAN's last layer, 64 -> 1) the GEMM + col2im of the
   reference copies far less, and that path is kept for it (`_transpose_via_phases`).

The cols matrix of a whole batch would not fit in cache, so each worker's samples go in chunks
of a few (cols of about CHUNK_BYTES): the GEMM then reads cols while it is still in
cache. Measured 1.2-1.5x faster than one product over the whole batch for B3's 3x3 layer.

- Threads: the batch is split, not the loops (tinygen/kernels/threads.py). Each worker
  thread takes its own slice of the samples and does everything for it: padding, copies
  (serial numba loops that release the GIL) and GEMMs (NumPy's BLAS, one thread). Only the
  weight gradient's partial sums are added up at the end.
- The GEMMs are np.matmul with `out=`, called from Python: a numba-compiled np.dot cannot be
  cached (it holds a pointer to the BLAS routine).
- A 1x1 convolution (stride 1, no padding) is a matrix product over channels per image.
- A 3x3 stride-1 convolution with 16 or more channels goes through Winograd's F(2x2, 3x3)
  (winograd_numba.py: 2.25x fewer multiplies), unless its kernel has taps that are all zero:
  a masked kernel (PixelCNN) instead leaves those taps' rows out of cols, which is exact.
- The big scratch matrices (cols, the GEMM output) are reused between calls (`_scratch`, one
  set per thread): allocating 50 MB fresh each call costs page faults comparable to the copy.
- Every kernel is specialized once per dtype on C-contiguous arrays (inputs are made
  contiguous first), which keeps the number of compilations, and CI's time, small.
"""
import math
import threading

import numpy as np
from numba import njit

from tinygen.kernels.threads import over_slices

from tinygen.kernels.conv_numpy import conv_output_size, conv_transpose_output_size

_local = threading.local()


def _scratch(name, shape, dtype):
    """A reusable per-thread work array of `shape` (its contents are garbage)."""
    buffers = _local.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buf = buffers.get((name, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        buffers[(name, np.dtype(dtype))] = buf
    return buf[:size].reshape(shape)


# ---- the numba kernels: copies only ----------------------------------------------------------

@njit(inline="always")
def _inside(n_out, s, off, n_in):
    # [lo, hi): the k in [0, n_out) whose k*s + off falls inside [0, n_in)
    lo = 0 if off >= 0 else (s - 1 - off) // s
    hi = min(n_out, (n_in - 1 - off) // s + 1) if off <= n_in - 1 else 0
    return lo, max(lo, hi)


@njit(nogil=True, cache=True)
def _pad_phases(x, n0, n1, top, left, sh, sw, xs):
    # x (N, C, H, W) -> xs (N, C, sh*sw, Hs, Ws): phase (a, b) of the image padded by top/left
    # (and by zeros up to Hs*sh, Ws*sw), xs[n, c, a*sw + b, h', w'] = xpad[n, c, a + sh*h', b + sw*w']
    N, C, H, W = x.shape
    Hs, Ws = xs.shape[3], xs.shape[4]
    for t in range(n0 * C, n1 * C):
        n = t // C
        c = t % C
        for a in range(sh):
            h_lo, h_hi = _inside(Hs, sh, a - top, H)       # phase rows that hold image rows
            for b in range(sw):
                w_lo, w_hi = _inside(Ws, sw, b - left, W)
                plane = xs[n, c, a * sw + b]
                for r in range(Hs):
                    row = plane[r]
                    if r < h_lo or r >= h_hi:
                        row[:] = 0
                        continue
                    row[:w_lo] = 0
                    row[w_hi:] = 0
                    dst = row[w_lo:w_hi]
                    src = x[n, c, r * sh + a - top, w_lo * sw + b - left:]
                    if sw == 1:
                        for k in range(w_hi - w_lo):    # contiguous: a vectorized copy
                            dst[k] = src[k]
                    else:
                        for k in range(w_hi - w_lo):
                            dst[k] = src[k * sw]


@njit(nogil=True, cache=True)
def _gather_rows(xs, n0, n1, plane, shift, L, cols):
    # xs (N, planes, plane size) -> cols (K, (n1 - n0)*L): row r, block of sample n, is
    # the slice xs[n, plane[r], shift[r] : shift[r] + L]
    for r in range(cols.shape[0]):
        src_plane, s = plane[r], shift[r]
        for n in range(n0, n1):
            src = xs[n, src_plane, s: s + L]
            dst = cols[r, (n - n0) * L: (n - n0 + 1) * L]
            for t in range(L):
                dst[t] = src[t]


@njit(nogil=True, cache=True)
def _scatter_rows(y_wide, width, Hn, Wn, y, n0, h0, hstep, w0, wstep):
    # y_wide (C_out, nb*L), rows `width` apart in each sample's block of L = (Hn-1)*width + Wn
    #   -> y[n0 + b, o, h0 + hstep*P, w0 + wstep*Q] for P < Hn, Q < Wn (junk columns dropped)
    # (views taken once per plane; conv2d's case is a plain crop, indexed from 0 so that LLVM
    # vectorizes it: 3x faster than the general strided loop on B4's first layer)
    C_out = y.shape[1]
    L = (Hn - 1) * width + Wn
    nb = y_wide.shape[1] // L
    for b in range(nb):
        for o in range(C_out):
            src = y_wide[o, b * L: (b + 1) * L]
            plane = y[n0 + b, o]
            if h0 == 0 and w0 == 0 and hstep == 1 and wstep == 1:   # conv2d: a plain crop
                for P in range(Hn):
                    row = plane[P]
                    off = P * width
                    for Q in range(Wn):
                        row[Q] = src[off + Q]
                continue
            for P in range(Hn):
                row = plane[h0 + hstep * P, w0:]
                off = P * width
                for Q in range(Wn):
                    row[wstep * Q] = src[off + Q]


@njit(nogil=True, cache=True)
def _widen_rows(gy, n0, width, L, gy_wide):
    # gy[n0:n0+nb] (nb, C_out, Ho, Wo) -> gy_wide (C_out, nb*L) on rows `width` apart, zeros
    # in the junk columns: the layout of _scatter_rows' input, for the weight gradient
    C_out, Ho, Wo = gy.shape[1], gy.shape[2], gy.shape[3]
    nb = gy_wide.shape[1] // L
    for t in range(nb * C_out):
        b = t // C_out
        o = t % C_out
        for p in range(Ho):
            dst = gy_wide[o, b * L + p * width: b * L + min(p * width + width, L)]
            src = gy[n0 + b, o, p]
            for q in range(Wo):
                dst[q] = src[q]
            for q in range(Wo, dst.shape[0]):
                dst[q] = 0


@njit(nogil=True, cache=True)
def _col2im(cols, n0, n1, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x):
    # cols (C*kh*kw, (n1 - n0)*Ho*Wo) -> x[n0:n1]
    N, C, H, W = x.shape
    # one image plane (n, c) per task: the planes are disjoint, so no two tasks write one pixel.
    # Tasks go n-fastest: consecutive tasks read consecutive pieces of the same rows of cols.
    # Tap (i, j) adds cols row (c, i, j) onto x[p*sh - ph + i*dh, q*sw - pw + j*dw] for the
    # (p, q) that land inside the image: ranges computed once, no test per element.
    for t in range(C * (n1 - n0)):
        c = t // (n1 - n0)
        n = n0 + t % (n1 - n0)
        plane = x[n, c]
        plane[:, :] = 0
        for i in range(kh):
            p_lo, p_hi = _inside(Ho, sh, i * dh - ph, H)
            for j in range(kw):
                q_lo, q_hi = _inside(Wo, sw, j * dw - pw, W)
                src_row = cols[(c * kh + i) * kw + j]
                for p in range(p_lo, p_hi):
                    dst = plane[p * sh - ph + i * dh, q_lo * sw - pw + j * dw:]
                    src = src_row[((n - n0) * Ho + p) * Wo + q_lo:]
                    for k in range(q_hi - q_lo):
                        dst[k * sw] += src[k]


@njit(nogil=True, cache=True)
def _images_to_rows(x, n0, n1, rows):
    # x[n0:n1] (nb, C, H, W) -> rows (C, nb*H*W)
    N, C, H, W = x.shape
    for t in range(n0 * C, n1 * C):
        n = t // C
        c = t % C
        base = (n - n0) * H * W
        for h in range(H):
            for w in range(W):
                rows[c, base + h * W + w] = x[n, c, h, w]


# ---- step 1 + 2: conv2d and its weight gradient on phase planes -------------------------------

def _phase_planes(x, Hp, Wp, stride):
    """Scratch for x zero-padded to (Hp, Wp) and split into stride phases (the workers fill it).

    -> xs (N, C, sh*sw, Hs, Ws), Hs = ceil(Hp/sh), Ws = ceil(Wp/sw).
    """
    N, C = x.shape[:2]
    sh, sw = stride
    return _scratch("xs", (N, C, sh * sw, -(-Hp // sh), -(-Wp // sw)), x.dtype)


def _conv_rows(C, kernel_size, stride, dilation, Ws):
    """Where each row (c, i, j) of cols starts: (phase plane index, shift in it), each (C*kh*kw,)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    i = np.arange(kh)[:, None] * dh                                  # tap offsets in padded pixels
    j = np.arange(kw)[None, :] * dw
    phase = (i % sh) * sw + j % sw                                   # (kh, kw)
    shift = (i // sh) * Ws + j // sw
    plane = np.arange(C)[:, None, None] * (sh * sw) + phase          # (C, kh, kw)
    return plane.ravel(), np.broadcast_to(shift, plane.shape).ravel().copy()


CHUNK_BYTES = 4 << 20   # cols of one chunk of samples, per thread: about twice a core's L2


def _sample_chunks(n_lo, n_hi, K, L, itemsize):
    """[(n0, n1)]: consecutive samples of [n_lo, n_hi) whose cols (K, (n1 - n0)*L) take about CHUNK_BYTES."""
    per_chunk = max(1, CHUNK_BYTES // max(1, K * L * itemsize))
    return [(n0, min(n_hi, n0 + per_chunk)) for n0 in range(n_lo, n_hi, per_chunk)]


class _ConvLayout:
    """conv2d's cols on phase planes: the planes' scratch, where each row of cols starts, L."""

    def __init__(self, x, kernel_size, stride, padding, dilation, Ho, Wo, taps=None):
        H, W = x.shape[2:]
        self.x, self.stride, self.padding = np.ascontiguousarray(x), stride, padding
        self.xs = _phase_planes(x, H + 2 * padding[0], W + 2 * padding[1], stride)
        self.Ws = self.xs.shape[4]
        self.plane, self.shift = _conv_rows(x.shape[1], kernel_size, stride, dilation, self.Ws)
        if taps is not None:                      # only these taps' rows (c, i, j), c-major
            keep = np.broadcast_to(taps.reshape(1, -1), (x.shape[1], taps.size)).ravel()
            self.plane, self.shift = self.plane[keep], self.shift[keep]
        self.L = (Ho - 1) * self.Ws + Wo

    def cols(self, n_lo, n_hi):
        """Pad samples [n_lo, n_hi), then yield (n0, n1, cols) chunk by chunk."""
        (sh, sw), (ph, pw) = self.stride, self.padding
        _pad_phases(self.x, n_lo, n_hi, ph, pw, sh, sw, self.xs)
        xs = self.xs.reshape(self.xs.shape[0], -1, self.xs.shape[3] * self.Ws)
        K, L = self.plane.size, self.L
        for n0, n1 in _sample_chunks(n_lo, n_hi, K, L, self.x.itemsize):
            cols = _scratch("cols", (K, (n1 - n0) * L), self.x.dtype)
            _gather_rows(xs, n0, n1, self.plane, self.shift, L, cols)
            yield n0, n1, cols


def _nonzero_taps(w):
    """(kh*kw,) bool: the taps (i, j) where some weight is not zero, or None if all are.

    A masked kernel (PixelCNN's MaskedConv2d) has whole taps of zeros: leaving their rows out
    of cols and of the GEMM gives the same sums, exactly (the zeros added nothing), with
    5/9 of the work for a 3x3 type-B mask, 24/49 for a 7x7 type-A."""
    taps = np.any(w != 0, axis=(0, 1)).ravel()
    return None if taps.all() or not taps.any() else taps


def _conv2d_phases(x, w, stride, padding, dilation, Ho, Wo, taps):
    N, C, C_out = x.shape[0], x.shape[1], w.shape[0]
    layout = _ConvLayout(x, w.shape[2:], stride, padding, dilation, Ho, Wo, taps)
    w2 = np.ascontiguousarray(w).reshape(C_out, C, -1)
    w2 = np.ascontiguousarray(w2 if taps is None else w2[:, :, taps]).reshape(C_out, -1)
    y = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)

    def part(n_lo, n_hi):
        for n0, n1, cols in layout.cols(n_lo, n_hi):
            y_wide = np.matmul(w2, cols, out=_scratch("y2", (C_out, cols.shape[1]), x.dtype))
            _scatter_rows(y_wide, layout.Ws, Ho, Wo, y, n0, 0, 1, 0, 1)

    over_slices(N, part)
    return y


def _conv2d_weight_grad_phases(x, gy, kernel_size, stride, padding, dilation, taps):
    N, C = x.shape[:2]
    _, C_out, Ho, Wo = gy.shape
    layout = _ConvLayout(x, kernel_size, stride, padding, dilation, Ho, Wo, taps)
    gy = np.ascontiguousarray(gy)

    def part(n_lo, n_hi):
        gw_t = np.zeros((layout.plane.size, C_out), dtype=x.dtype)
        for n0, n1, cols in layout.cols(n_lo, n_hi):
            gy_wide = _scratch("gy2", (C_out, cols.shape[1]), x.dtype)
            _widen_rows(gy, n0, layout.Ws, layout.L, gy_wide)
            # gw.T += cols @ gy_wide.T: this orientation is the faster one in OpenBLAS here
            gw_t += np.matmul(cols, gy_wide.T, out=_scratch("gw", gw_t.shape, x.dtype))
        return gw_t

    gw_t = sum(over_slices(N, part))                               # the workers' partial sums
    if taps is None:
        return np.ascontiguousarray(gw_t.T).reshape(C_out, C, *kernel_size)
    gw = np.zeros((C_out, C, taps.size), dtype=x.dtype)            # 0 at the taps left out
    gw[:, :, taps] = gw_t.T.reshape(C_out, C, -1)
    return gw.reshape(C_out, C, *kernel_size)


# ---- step 3: conv_transpose2d as s*s stride-1 convolutions -----------------------------------

def _transpose_phases(size, out_size, k, s, p, d):
    """Along one axis: [(r, taps, u, P_lo, count)] per output residue r, and the padding (lo, hi).

    Outputs Y = s*P + r - p for P in [P_lo, P_lo + count) read x[P - u_t] through tap taps[t].
    """
    phases = []
    lo = hi = 0
    for r in range(s):
        taps = [i for i in range(k) if (i * d) % s == r]
        u = [(i * d) // s for i in taps]
        P_lo = -((r - p) // s)                     # ceil((p - r) / s): the first Y >= 0
        count = (out_size - 1 + p - r) // s - P_lo + 1
        if count <= 0:
            continue
        phases.append((r, taps, u, P_lo, count))
        if taps:                                   # reads x[P_lo - max(u)] .. x[P_lo + count - 1 - min(u)]
            lo = max(lo, max(u) - P_lo)
            hi = max(hi, P_lo + count - 1 - min(u) - (size - 1))
    return phases, lo, hi


def _conv_transpose2d_phases(x, w, stride, padding, dilation, Ho, Wo):
    x = np.ascontiguousarray(x)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    rows, lo_h, hi_h = _transpose_phases(H, Ho, kh, stride[0], padding[0], dilation[0])
    columns, lo_w, hi_w = _transpose_phases(W, Wo, kw, stride[1], padding[1], dilation[1])
    Hp, Wp = H + lo_h + hi_h, W + lo_w + hi_w
    xs = _phase_planes(x, Hp, Wp, (1, 1))                            # (N, C_in, 1, Hp, Wp)
    y = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)
    if any(not taps for _, taps, *_ in rows + columns):
        y[...] = 0                                                   # outputs no tap reaches
    phases = []                  # per output phase: cols' rows (plane, shift), L, w2, where y goes
    for r, taps_h, u, P_lo, Hn in rows:
        for q, taps_w, v, Q_lo, Wn in columns:
            if not (taps_h and taps_w):
                continue
            # rows (c, i, j) of cols: x's plane c from row P_lo - u_i + lo_h, column Q_lo - v_j + lo_w
            start = ((P_lo - np.array(u) + lo_h)[:, None] * Wp
                     + (Q_lo - np.array(v) + lo_w)[None, :]).ravel()           # (taps_h * taps_w,)
            w_phase = w[:, :, taps_h][:, :, :, taps_w]                         # (C_in, C_out, th, tw)
            phases.append((np.repeat(np.arange(C_in), start.size), np.tile(start, C_in),
                           (Hn - 1) * Wp + Wn, Hn, Wn,
                           np.ascontiguousarray(w_phase.transpose(1, 0, 2, 3)).reshape(C_out, -1),
                           stride[0] * P_lo + r - padding[0], stride[1] * Q_lo + q - padding[1]))
    K_max = max((ph[0].size for ph in phases), default=1)
    L_max = max((ph[2] for ph in phases), default=1)

    def part(n_lo, n_hi):
        _pad_phases(x, n_lo, n_hi, lo_h, lo_w, 1, 1, xs)
        planes = xs.reshape(N, C_in, Hp * Wp)
        for n0, n1 in _sample_chunks(n_lo, n_hi, K_max, L_max, x.itemsize):
            for plane, shift, L, Hn, Wn, w2, h0, w0 in phases:
                cols = _scratch("cols", (plane.size, (n1 - n0) * L), x.dtype)
                _gather_rows(planes, n0, n1, plane, shift, L, cols)
                y_wide = np.matmul(w2, cols, out=_scratch("y2", (C_out, (n1 - n0) * L), x.dtype))
                _scatter_rows(y_wide, Wp, Hn, Wn, y, n0, h0, stride[0], w0, stride[1])

    over_slices(N, part)
    return y


def _conv_transpose2d_col2im(x, w, stride, padding, dilation, Ho, Wo):
    """The reference's way: cols = w2.T @ x, then col2im adds each column back onto y."""
    x = np.ascontiguousarray(x)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    w2_t = np.ascontiguousarray(np.ascontiguousarray(w).reshape(C_in, C_out * kh * kw).T)
    y = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)

    def part(n_lo, n_hi):
        x2 = _scratch("x2", (C_in, (n_hi - n_lo) * H * W), x.dtype)
        _images_to_rows(x, n_lo, n_hi, x2)                                   # (C_in, nb*H*W)
        cols = np.matmul(w2_t, x2, out=_scratch("cols", (C_out * kh * kw, x2.shape[1]), x.dtype))
        _col2im(cols, n_lo, n_hi, kh, kw, *stride, *padding, *dilation, H, W, y)

    over_slices(N, part)
    return y


WINOGRAD_MIN_CHANNELS = 16


def _via_winograd(w, stride, dilation, C_in, taps):
    """3x3 stride-1 convolutions with enough channels for the GEMMs to dominate go through
    F(2x2, 3x3) (winograd_numba.py): a 3x3 64 -> 64 layer's forward measured 11-16 ms against
    15-19. Not with a masked kernel: Winograd mixes every tap into every transformed weight,
    so masked inputs would reach the output through terms that cancel only up to rounding,
    where a mask must give exact zeros (PixelCNN's causality); conv2d skips those taps instead."""
    from tinygen.kernels import winograd_numba
    return (winograd_numba.applies(w.shape[2:], stride, dilation)
            and min(C_in, w.shape[0]) >= WINOGRAD_MIN_CHANNELS and taps is None)


def _transpose_via_phases(C_in, C_out):
    """The phases copy C_in*kh*kw rows of cols; GEMM + col2im writes C_out*kh*kw rows and adds
    them back. Measured on B2's and B4's stride-2 layers (C_in = 2 C_out): col2im 5-15% faster."""
    return C_in <= C_out


# ---- the kernels ---------------------------------------------------------------------------

def conv2d(x, w, stride, padding, dilation):
    """y = x (*) w: x (N, C_in, H, W), w (C_out, C_in, kh, kw) -> y (N, C_out, Ho, Wo)."""
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
        # a 1x1 convolution is a matrix product over channels, image by image: no cols at all
        w2, x3 = np.ascontiguousarray(w).reshape(C_out, C), np.ascontiguousarray(x).reshape(N, C, H * W)
        y = np.empty((N, C_out, H * W), dtype=np.result_type(x, w))
        over_slices(N, lambda lo, hi: np.matmul(w2, x3[lo:hi], out=y[lo:hi]))
        return y.reshape(N, C_out, H, W)
    taps = _nonzero_taps(w)                       # None unless whole taps are zero (a mask)
    if _via_winograd(w, stride, dilation, C, taps):
        from tinygen.kernels import winograd_numba
        return winograd_numba.conv2d(x, w, padding)
    return _conv2d_phases(x, w, stride, padding, dilation, Ho, Wo, taps)


def conv_transpose2d(x, w, stride, padding, output_padding, dilation):
    """Transposed convolution: x (N, C_in, H, W), w (C_in, C_out, kh, kw) -> (N, C_out, Ho, Wo)."""
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    Ho = conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    Wo = conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    fh, fw = dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1]
    if tuple(stride) == (1, 1) and tuple(output_padding) == (0, 0) and min(fh, fw) >= 0 and C_in <= C_out:
        # stride 1: a convolution with the kernel flipped and its channel axes swapped, padded
        # by d(k - 1) - p (so Winograd and the zero-tap skipping of conv2d apply to it too)
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return conv2d(x, w_flip, (1, 1), (fh, fw), dilation)
    if _transpose_via_phases(C_in, C_out):
        return _conv_transpose2d_phases(x, w, stride, padding, dilation, Ho, Wo)
    return _conv_transpose2d_col2im(x, w, stride, padding, dilation, Ho, Wo)


def conv2d_weight_grad(x, gy, kernel_size, stride, padding, dilation, taps=None):
    """gw = d<gy, conv2d(x, w)>/dw: x (N, C_in, H, W), gy (N, C_out, Ho, Wo) -> (C_out, C_in, kh, kw).

    taps: None, or a (kh, kw) 0/1 array where the gradient is wanted (MaskedConv2d's mask):
    only those taps' rows of cols are built and multiplied; the others are 0."""
    N, C, H, W = x.shape
    _, C_out, Ho, Wo = gy.shape
    kh, kw = kernel_size
    if taps is not None:
        taps = np.asarray(taps).astype(bool).ravel()
        if taps.all():
            taps = None
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0) and (Ho, Wo) == (H, W):
        gy3 = np.ascontiguousarray(gy).reshape(N, C_out, Ho * Wo)
        x3 = np.ascontiguousarray(x).reshape(N, C, H * W)
        parts = over_slices(N, lambda lo, hi: np.matmul(gy3[lo:hi], x3[lo:hi].transpose(0, 2, 1)).sum(axis=0))
        return sum(parts).reshape(C_out, C, 1, 1)
    return _conv2d_weight_grad_phases(x, gy, kernel_size, stride, padding, dilation, taps)
