"""The fast CPU convolution's algorithms: contiguous copies in numba + BLAS GEMMs, and the choice.

conv_numba.py's ops run these (read conv_numpy.py, then conv_numba.py, first). The reference
gathers every receptive field into cols (im2col) and scatters the input gradient back
(col2im). Both are scattered memory accesses. Here each op has several named algorithms,
each a function of its own with the op's signature, and `choose_algorithm` picks one from
the shapes, strides, dilation and the explicit `taps` argument only (never from weight values):

    op                   algorithm    what it does
    conv2d               gemm_1x1     1x1, stride 1, no padding: a matrix product over channels
                         im2col       the reference's way: numba im2col + one GEMM per chunk
                         phases       shifted slices of (phase) planes + GEMM (steps 1-2 below)
                         winograd     F(2x2, 3x3) for 3x3 stride 1 (winograd_numba.py)
                         sample_last  im2col + GEMM with the sample index fastest (step 4)
                         winograd_s2  4x4 stride 2: F(4x4, 2x2) on the 4 phase planes (winograd_numba.py)
    conv_transpose2d     flip         stride 1: conv2d with the kernel flipped (conv2d's choice follows)
                         phases       s*s stride-1 convolutions, one per output phase (step 3)
                         col2im       the reference's way: GEMM, then numba col2im (step 4's layout)
                         col2im_planes  the same on x's own planes: a GEMM per sample, then col2im
                         winograd_s2  4x4 stride 2: step 3's 4 phases, each 2x2, by F(4x4, 2x2)
    conv2d_weight_grad   gemm_1x1     1x1: a batched matrix product
                         im2col       numba im2col, one GEMM per chunk
                         phases       shifted slices of (phase) planes + GEMM
                         sample_last  im2col + GEMM with the sample index fastest (step 4)
                         winograd_s2  4x4 stride 2: F(4x4, 2x2)'s transforms backwards
                         per_sample   numba im2col, one small GEMM per sample on gy as it lies

Every algorithm takes its op's parameters, `reserve` included: a dict in which conv2d may
keep work that conv2d_weight_grad of the same input reuses. Only winograd_s2 uses it (its
transformed input tiles, winograd_numba.py); the others keep nothing and ignore it.

`TINYGEN_CONV_ALGO=<name>` or `with tinygen.settings.use_conv_algorithm(name):` forces an
algorithm wherever it applies (elsewhere the choice stands); ALGORITHMS is the table.

taps: None, or a (kh, kw) bool array, the kernel's support: every op computes with the kernel
w * taps (MaskedConv2d's mask). im2col, col2im and gemm_1x1 multiply; phases leave the other
taps' rows out of cols and of the GEMM, which gives the same sums exactly (5/9 of the work
for a 3x3 type-B mask, 24/49 for a 7x7 type-A); Winograd refuses a kernel with taps: it
mixes every tap into every transformed weight, so masked inputs would reach the output
through terms that cancel only up to rounding, where a mask must give exact zeros
(PixelCNN's causality).

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
   y[Y] sums x[X] w[i] over s*X - p + i*d = Y. Write Y + p = s*P + r: only the kernel rows
   with (i*d) % s == r reach the outputs of residue r, each from x[P - u_i], u_i = (i*d) // s.
   So each output phase r is a stride-1 convolution of x (zero-padded) with its own subset
   of the kernel's taps (flipped), and its outputs go to every s-th row, Y = s*P + r - p.
   No col2im: every output is written exactly once. When a transposed convolution has many
   more input than output channels (a GAN's last layer, 64 -> 1) the GEMM + col2im of the
   reference copies far less, and that algorithm is chosen for it.

4. The sample index fastest: small images, strides (sample_last, and col2im's layout).
   On a 14x14 or 7x7 image a row of cols is a run of 7-14 pixels, and phases compute on a
   padded width (7 of every 8 columns useful for B2's 14 -> 7 layer). Lay a chunk of nb
   samples out as (C, H, W, nb) instead: pixel (c, h, w) of every sample is one contiguous
   run of nb numbers. cols (C*kh*kw, Ho*Wo*nb) is then made of runs of nb (im2col with the
   stride on the outer indices, no junk columns), the GEMM is the same, and y comes back by
   one transposition; col2im's adds, likewise, are runs of nb. Costs: that transposition and
   x's. It pays where strides make rows short and phases' widths padded (B2/B4's strided
   layers, 12-25% single-threaded); on B3's 28x28 stride-1 layers, or one input channel, not.

The cols matrix of a whole batch would not fit in cache, so each worker's samples go in chunks
of a few (cols of about common.CHUNK_BYTES): the GEMM then reads cols while it is still in
cache. Measured 1.2-1.5x faster than one product over the whole batch for B3's 3x3 layer.

- Threads: the batch is split, not the loops (tinygen/kernels/threads.py). Each worker
  thread takes its own slice of the samples and does everything for it: padding, copies
  (serial numba loops that release the GIL) and GEMMs (NumPy's BLAS, one thread). Only the
  weight gradient's partial sums are added up at the end.
- The GEMMs are np.matmul with `out=`, called from Python: a numba-compiled np.dot cannot be
  cached (it holds a pointer to the BLAS routine).
- The big scratch matrices (cols, the GEMM output) are reused between calls (common.scratch,
  one set per thread): allocating 50 MB fresh each call costs page faults comparable to the copy.
- Every kernel is specialized once per dtype on C-contiguous arrays (inputs are made
  contiguous first), which keeps the number of compilations, and CI's time, small.
"""
import numpy as np
from numba import njit

from tinygen.kernels.common import (
    contiguous, conv_output_size, conv_transpose_output_size, empty, masked_kernel, sample_chunks,
    scratch, zeros)
from tinygen.kernels.common_numba import (
    col2im_chunk, im2col_chunk, inside, pad_phases, phase_planes, transpose_phases)
from tinygen.kernels.threads import over_slices
from tinygen.kernels.winograd_numba import (
    conv2d_weight_grad_winograd_s2, conv2d_winograd, conv2d_winograd_s2, conv_transpose2d_winograd_s2)
from tinygen.settings import CONV_ALGORITHM_NAMES, conv_algorithm


# ---- the numba kernels: copies only (im2col_chunk, col2im_chunk: common_numba.py) -----------

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
                if width == Wn:                                     # no junk columns: one block
                    flat = plane.reshape(Hn * Wn)
                    for k in range(Hn * Wn):
                        flat[k] = src[k]
                    continue
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
def _col2im_sample_last(cols, nb, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, out):
    # cols (C*kh*kw, Ho*Wo*nb), column (p, q, n) -> out (C, H, W, nb), the sample index fastest.
    # col2im_chunk's sums (common_numba.py), with the nb samples of a pixel innermost: each tap
    # of each pixel adds one contiguous run of nb numbers (vectorized), where col2im_chunk adds
    # rows of Wo (a few) with a stride: measured 3-4x faster on B2/B4's 7x7 -> 14x14 layers.
    C, H, W = out.shape[:3]
    out[...] = 0
    for c in range(C):
        for i in range(kh):
            p_lo, p_hi = inside(Ho, sh, i * dh - ph, H)
            for j in range(kw):
                q_lo, q_hi = inside(Wo, sw, j * dw - pw, W)
                src_row = cols[(c * kh + i) * kw + j]
                for p in range(p_lo, p_hi):
                    dst_row = out[c, p * sh - ph + i * dh]
                    for q in range(q_lo, q_hi):
                        dst = dst_row[q * sw - pw + j * dw]
                        src = src_row[(p * Wo + q) * nb: (p * Wo + q + 1) * nb]
                        for b in range(nb):
                            dst[b] += src[b]


@njit(nogil=True, cache=True)
def _im2col_sample_last(x_last, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols):
    # x_last (C, H, W, nb), the sample index fastest -> cols (C*kh*kw, Ho*Wo*nb): row (c, i, j),
    # column (p, q, n), 0 where the tap falls into the padding. im2col_chunk's copies, each a
    # contiguous run of nb samples (vectorized) instead of Wo strided pixels; the adjoint of
    # _col2im_sample_last.
    C, H, W, nb = x_last.shape
    for r in range(C * kh * kw):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        p_lo, p_hi = inside(Ho, sh, i * dh - ph, H)
        q_lo, q_hi = inside(Wo, sw, j * dw - pw, W)
        row = cols[r]
        for p in range(Ho):
            for q in range(Wo):
                dst = row[(p * Wo + q) * nb: (p * Wo + q + 1) * nb]
                if p_lo <= p < p_hi and q_lo <= q < q_hi:
                    src = x_last[c, p * sh - ph + i * dh, q * sw - pw + j * dw]
                    for b in range(nb):
                        dst[b] = src[b]
                else:
                    for b in range(nb):
                        dst[b] = 0


@njit(nogil=True, cache=True)
def _images_to_rows_sample_last(x, n0, n1, rows):
    # x[n0:n1] (nb, C, H, W) -> rows (C, H*W*nb), column (h, w, n): the sample index fastest
    # (written in order, read with a stride: 15-25% faster than the other way round)
    N, C, H, W = x.shape
    nb = n1 - n0
    for c in range(C):
        for h in range(H):
            for w in range(W):
                dst = rows[c, (h * W + w) * nb: (h * W + w + 1) * nb]
                for b in range(nb):
                    dst[b] = x[n0 + b, c, h, w]


@njit(nogil=True, cache=True)
def _sample_last_to_images(out, n0, y):
    # out (C, H, W, nb) -> y[n0:n0+nb] (nb, C, H, W)
    C, H, W, nb = out.shape
    for c in range(C):
        for h in range(H):
            for w in range(W):
                src = out[c, h, w]
                for b in range(nb):
                    y[n0 + b, c, h, w] = src[b]


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


# ---- taps: the kernel's support -------------------------------------------------------------

def _support(taps, kernel_size):
    """taps as the ops take it -> None (every tap) or a (kh, kw) bool array with a zero tap."""
    if taps is None:
        return None
    taps = np.asarray(taps).astype(bool)
    if taps.shape != tuple(kernel_size):
        raise ValueError(f"conv kernels: taps of shape {taps.shape} for a kernel of size {tuple(kernel_size)}")
    return None if taps.all() else taps


def _masked(w, taps):
    """w * taps over the kernel's (kh, kw) axes (w itself without taps)."""
    return masked_kernel(w, _support(taps, w.shape[2:]))


# ---- phase planes: the rows of cols, chunk by chunk ------------------------------------------

def _conv_rows(C, kernel_size, stride, dilation, Ws):
    """Where each row (c, i, j) of cols starts: (phase plane index, shift in it), each (C*kh*kw,)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    i = np.arange(kh)[:, None] * dh                                  # tap offsets in padded pixels
    j = np.arange(kw)[None, :] * dw
    phase = (i % sh) * sw + j % sw                                   # (kh, kw)
    shift = (i // sh) * Ws + j // sw
    plane = np.arange(C)[:, None, None] * (sh * sw) + phase          # (C, kh, kw)
    return plane.ravel(), np.broadcast_to(shift, plane.shape).ravel().copy()


class _ConvLayout:
    """conv2d's cols on phase planes: the planes' scratch, where each row of cols starts, L.

    taps (kh, kw) bool or None: only the rows (c, i, j) of the taps kept, c-major."""

    def __init__(self, x, kernel_size, stride, padding, dilation, Ho, Wo, taps=None):
        H, W = x.shape[2:]
        self.x, self.stride, self.padding = contiguous(x), stride, padding
        self.xs = phase_planes(x, H + 2 * padding[0], W + 2 * padding[1], stride)
        self.Ws = self.xs.shape[4]
        self.plane, self.shift = _conv_rows(x.shape[1], kernel_size, stride, dilation, self.Ws)
        if taps is not None:
            keep = np.broadcast_to(taps.reshape(1, -1), (x.shape[1], taps.size)).ravel()
            self.plane, self.shift = self.plane[keep], self.shift[keep]
        self.L = (Ho - 1) * self.Ws + Wo

    def planes(self, n_lo, n_hi):
        """Pad samples [n_lo, n_hi) into the phase planes: xs flat (N, C*sh*sw, Hs*Ws)."""
        (sh, sw), (ph, pw) = self.stride, self.padding
        pad_phases(self.x, n_lo, n_hi, ph, pw, sh, sw, self.xs)
        return self.xs.reshape(self.xs.shape[0], -1, self.xs.shape[3] * self.Ws)

    def cols(self, n_lo, n_hi):
        """Pad samples [n_lo, n_hi), then yield (n0, n1, cols) chunk by chunk."""
        xs = self.planes(n_lo, n_hi)
        K, L = self.plane.size, self.L
        for n0, n1 in sample_chunks(n_lo, n_hi, K, L, self.x.itemsize):
            cols = scratch("cols", (K, (n1 - n0) * L), self.x.dtype)
            _gather_rows(xs, n0, n1, self.plane, self.shift, L, cols)
            yield n0, n1, cols


# ---- the algorithms of conv2d ---------------------------------------------------------------

def conv2d_gemm_1x1(x, w, stride, padding, dilation, taps=None, reserve=None):
    """1x1 kernel, stride 1, no padding: y[n] = w (C_out, C_in) @ x[n] (C_in, H*W), no cols."""
    if w.shape[2:] != (1, 1) or tuple(stride) != (1, 1) or tuple(padding) != (0, 0):
        raise ValueError(f"conv2d_gemm_1x1: needs a 1x1 kernel, stride 1, padding 0; got weight "
                         f"{w.shape}, stride {stride}, padding {padding}")
    N, C, H, W = x.shape
    C_out = w.shape[0]
    w2 = np.ascontiguousarray(_masked(w, taps)).reshape(C_out, C)
    x3 = contiguous(x).reshape(N, C, H * W)
    y = empty((N, C_out, H * W), dtype=np.result_type(x, w))
    over_slices(N, lambda lo, hi: np.matmul(w2, x3[lo:hi], out=y[lo:hi]))
    return y.reshape(N, C_out, H, W)


def _gemm_operands(x, w, stride, padding, dilation, taps):
    """(Ho, Wo, w2, y) of an im2col-style conv2d: the output size, the (masked) weight as the
    GEMM's (C_out, C*kh*kw) left factor, and y (N, C_out, Ho, Wo) to write into."""
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    w2 = np.ascontiguousarray(_masked(w, taps)).reshape(C_out, C * kh * kw)
    return Ho, Wo, w2, empty((N, C_out, Ho, Wo), dtype=x.dtype)


def conv2d_im2col(x, w, stride, padding, dilation, taps=None, reserve=None):
    """The reference's algorithm on the fast path: cols by numba's im2col, chunk by chunk, one
    GEMM per sample straight into y (any geometry; strided gathers, where `phases` copies
    contiguous slices). One batched matmul writing y's planes, not one GEMM then a copy into
    y: single thread, B2/B4's one-channel 28 -> 14 layers 0.97 ms against 1.38 (0.87 + 0.51)."""
    x = contiguous(x)
    N, C, _, _ = x.shape
    C_out, _, kh, kw = w.shape
    Ho, Wo, w2, y = _gemm_operands(x, w, stride, padding, dilation, taps)

    def part(n_lo, n_hi):
        for n0, n1 in sample_chunks(n_lo, n_hi, C * kh * kw, Ho * Wo, x.itemsize):
            cols = scratch("cols", (C * kh * kw, (n1 - n0) * Ho * Wo), x.dtype)
            im2col_chunk(x, n0, n1, kh, kw, *stride, *padding, *dilation, Ho, Wo, cols)
            # (C_out, K) @ (nb, K, Ho*Wo): sample n's columns are a (K, Ho*Wo) block of cols
            np.matmul(w2, cols.reshape(-1, n1 - n0, Ho * Wo).transpose(1, 0, 2),
                      out=y[n0:n1].reshape(n1 - n0, C_out, Ho * Wo))

    over_slices(N, part)
    return y


def conv2d_phases(x, w, stride, padding, dilation, taps=None, reserve=None):
    """cols from contiguous shifted slices of the padded (phase) planes (steps 1-2), one GEMM
    per chunk; with taps, only the kept taps' rows."""
    N, C, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    taps = _support(taps, (kh, kw))
    layout = _ConvLayout(x, (kh, kw), stride, padding, dilation, Ho, Wo, taps)
    w2 = np.ascontiguousarray(w).reshape(C_out, C, kh * kw)
    w2 = np.ascontiguousarray(w2 if taps is None else w2[:, :, taps.ravel()]).reshape(C_out, -1)
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)

    def part(n_lo, n_hi):
        for n0, n1, cols in layout.cols(n_lo, n_hi):
            y_wide = np.matmul(w2, cols, out=scratch("y2", (C_out, cols.shape[1]), x.dtype))
            _scatter_rows(y_wide, layout.Ws, Ho, Wo, y, n0, 0, 1, 0, 1)

    over_slices(N, part)
    return y


def conv2d_sample_last(x, w, stride, padding, dilation, taps=None, reserve=None):
    """im2col + GEMM on a few samples at a time laid out with the sample index fastest
    (C, H, W, nb): cols' copies are contiguous runs of samples, no junk columns (phases
    compute on the padded width), and y comes back by one transposition."""
    x = contiguous(x)
    N, C, _, _ = x.shape
    C_out, _, kh, kw = w.shape
    Ho, Wo, w2, y = _gemm_operands(x, w, stride, padding, dilation, taps)

    def part(n_lo, n_hi):
        for n0, n1 in sample_chunks(n_lo, n_hi, C * kh * kw, Ho * Wo, x.itemsize):
            cols = _cols_sample_last(x, n0, n1, (kh, kw), stride, padding, dilation, Ho, Wo)
            y_last = np.matmul(w2, cols, out=scratch("y2", (C_out, cols.shape[1]), x.dtype))
            _sample_last_to_images(y_last.reshape(C_out, Ho, Wo, n1 - n0), n0, y)

    over_slices(N, part)
    return y


def _cols_sample_last(x, n0, n1, kernel_size, stride, padding, dilation, Ho, Wo):
    """cols (C*kh*kw, Ho*Wo*nb) of samples [n0, n1), column (p, q, n): scratch."""
    C, H, W = x.shape[1:]
    nb = n1 - n0
    x_last = scratch("x2", (C, H * W * nb), x.dtype)
    _images_to_rows_sample_last(x, n0, n1, x_last)                   # (C, H*W*nb)
    cols = scratch("cols", (C * kernel_size[0] * kernel_size[1], Ho * Wo * nb), x.dtype)
    _im2col_sample_last(x_last.reshape(C, H, W, nb), *kernel_size, *stride, *padding, *dilation, Ho, Wo, cols)
    return cols


# conv2d_winograd(x, w, stride, padding, dilation, taps=None) is winograd_numba.py's


# ---- the algorithms of conv_transpose2d -----------------------------------------------------

def conv_transpose2d_flip(x, w, stride, padding, output_padding, dilation, taps=None):
    """Stride 1: a conv2d with the kernel flipped and its channel axes swapped, padded by
    d(k - 1) - p (so conv2d's algorithms, Winograd included, serve it; taps flip too)."""
    kh, kw = w.shape[2:]
    fh, fw = dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1]
    if tuple(stride) != (1, 1) or tuple(output_padding) != (0, 0) or min(fh, fw) < 0:
        raise ValueError(f"conv_transpose2d_flip: needs stride 1, output_padding 0 and padding <= "
                         f"dilation*(k - 1); got stride {stride}, output_padding {output_padding}, "
                         f"padding {padding}, weight {w.shape}")
    w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    taps = _support(taps, (kh, kw))
    taps = None if taps is None else taps[::-1, ::-1]
    # conv2d's choice for the flipped kernel, as conv_numba.conv2d makes it
    y_shape = x.shape[:1] + w_flip.shape[:1] + tuple(
        conv_output_size(x.shape[2 + a], w.shape[2 + a], 1, (fh, fw)[a], dilation[a]) for a in (0, 1))
    name = choose_algorithm("conv2d", x.shape, w_flip.shape, y_shape, (1, 1), (fh, fw), dilation, taps)
    return ALGORITHMS["conv2d"][name](x, w_flip, (1, 1), (fh, fw), dilation, taps)


def conv_transpose2d_phases(x, w, stride, padding, output_padding, dilation, taps=None):
    """s*s stride-1 convolutions, one per output phase (step 3): no col2im, each output
    written once; with taps, each phase keeps only the taps kept."""
    x = contiguous(x)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    Ho = conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    Wo = conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    taps = _support(taps, (kh, kw))
    rows, lo_h, hi_h = transpose_phases(H, Ho, kh, stride[0], padding[0], dilation[0])
    columns, lo_w, hi_w = transpose_phases(W, Wo, kw, stride[1], padding[1], dilation[1])
    Hp, Wp = H + lo_h + hi_h, W + lo_w + hi_w
    xs = phase_planes(x, Hp, Wp, (1, 1))                             # (N, C_in, 1, Hp, Wp)
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)
    phases = []                  # per output phase: cols' rows (plane, shift), L, w2, where y goes
    for r, rows_h, u, P_lo, Hn in rows:
        for q, rows_w, v, Q_lo, Wn in columns:
            kept = np.ones((len(rows_h), len(rows_w)), bool) if taps is None else taps[np.ix_(rows_h, rows_w)]
            if not kept.any():
                continue
            # rows (c, i, j) of cols: x's plane c from row P_lo - u_i + lo_h, column Q_lo - v_j + lo_w
            start = ((P_lo - np.array(u) + lo_h)[:, None] * Wp
                     + (Q_lo - np.array(v) + lo_w)[None, :])[kept]              # (kept taps,)
            w_phase = w[:, :, rows_h][:, :, :, rows_w][:, :, kept]              # (C_in, C_out, kept)
            phases.append((np.repeat(np.arange(C_in), start.size), np.tile(start, C_in),
                           (Hn - 1) * Wp + Wn, Hn, Wn,
                           np.ascontiguousarray(w_phase.transpose(1, 0, 2)).reshape(C_out, -1),
                           stride[0] * P_lo + r - padding[0], stride[1] * Q_lo + q - padding[1]))
    if len(phases) < len(rows) * len(columns):
        y[...] = 0                                                   # outputs no tap reaches
    K_max = max((ph[0].size for ph in phases), default=1)
    L_max = max((ph[2] for ph in phases), default=1)

    def part(n_lo, n_hi):
        pad_phases(x, n_lo, n_hi, lo_h, lo_w, 1, 1, xs)
        planes = xs.reshape(N, C_in, Hp * Wp)
        for n0, n1 in sample_chunks(n_lo, n_hi, K_max, L_max, x.itemsize):
            for plane, shift, L, Hn, Wn, w2, h0, w0 in phases:
                cols = scratch("cols", (plane.size, (n1 - n0) * L), x.dtype)
                _gather_rows(planes, n0, n1, plane, shift, L, cols)
                y_wide = np.matmul(w2, cols, out=scratch("y2", (C_out, (n1 - n0) * L), x.dtype))
                _scatter_rows(y_wide, Wp, Hn, Wn, y, n0, h0, stride[0], w0, stride[1])

    over_slices(N, part)
    return y


def conv_transpose2d_col2im(x, w, stride, padding, output_padding, dilation, taps=None):
    """The reference's way: cols = w2.T @ x, then col2im adds each column back onto y; a few
    samples at a time, laid out with the sample index fastest (x's rows, cols and y's sums:
    contiguous runs of samples where the image layout has rows of a few pixels)."""
    x = contiguous(x)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    Ho = conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    Wo = conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    w2_t = np.ascontiguousarray(np.ascontiguousarray(_masked(w, taps)).reshape(C_in, C_out * kh * kw).T)
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)

    def part(n_lo, n_hi):
        for n0, n1 in sample_chunks(n_lo, n_hi, C_out * kh * kw, H * W, x.itemsize):
            x2 = scratch("x2", (C_in, H * W * (n1 - n0)), x.dtype)
            _images_to_rows_sample_last(x, n0, n1, x2)                       # (C_in, H*W*nb)
            cols = np.matmul(w2_t, x2, out=scratch("cols", (C_out * kh * kw, x2.shape[1]), x.dtype))
            out = scratch("y_last", (C_out, Ho, Wo, n1 - n0), x.dtype)
            _col2im_sample_last(cols, n1 - n0, kh, kw, *stride, *padding, *dilation, H, W, out)
            _sample_last_to_images(out, n0, y)

    over_slices(N, part)
    return y


def conv_transpose2d_col2im_planes(x, w, stride, padding, output_padding, dilation, taps=None):
    """The reference's way on x's own planes: per sample, cols (C_out*kh*kw, H*W) = w2.T @ x[n]
    (one batched matmul, no transposition of x), then numba's col2im plane by plane. With few
    output channels the sample-last layout of `col2im` costs more than it saves: two threads,
    B2/B4's 64 -> 1 and 32 -> 1 layers 1.0-1.3 ms against 1.6-1.8 (with 32 it is 12% slower)."""
    x = contiguous(x)
    N, C_in, H, W = x.shape
    _, C_out, kh, kw = w.shape
    Ho = conv_transpose_output_size(H, kh, stride[0], padding[0], output_padding[0], dilation[0])
    Wo = conv_transpose_output_size(W, kw, stride[1], padding[1], output_padding[1], dilation[1])
    K = C_out * kh * kw
    w2_t = np.ascontiguousarray(np.ascontiguousarray(_masked(w, taps)).reshape(C_in, K).T)
    x3 = x.reshape(N, C_in, H * W)
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)

    def part(n_lo, n_hi):
        for n0, n1 in sample_chunks(n_lo, n_hi, K, H * W, x.itemsize):
            cols = scratch("cols", (K, (n1 - n0) * H * W), x.dtype)         # column (n, h, w)
            np.matmul(w2_t, x3[n0:n1], out=cols.reshape(K, n1 - n0, H * W).transpose(1, 0, 2))
            col2im_chunk(cols, n0, n1, kh, kw, *stride, *padding, *dilation, H, W, y)

    over_slices(N, part)
    return y


# ---- the algorithms of conv2d_weight_grad ---------------------------------------------------

def conv2d_weight_grad_gemm_1x1(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """1x1 kernel, stride 1, no padding, same grid: gw = sum_n gy[n] (C_out, H*W) @ x[n].T."""
    N, C, H, W = x.shape
    _, C_out, Ho, Wo = gy.shape
    if (tuple(kernel_size) != (1, 1) or tuple(stride) != (1, 1) or tuple(padding) != (0, 0)
            or (Ho, Wo) != (H, W)):
        raise ValueError(f"conv2d_weight_grad_gemm_1x1: needs a 1x1 kernel, stride 1, padding 0 and "
                         f"one grid; got kernel {kernel_size}, stride {stride}, padding {padding}, "
                         f"x {x.shape}, gy {gy.shape}")
    gy3 = contiguous(gy).reshape(N, C_out, Ho * Wo)
    x3 = contiguous(x).reshape(N, C, H * W)
    parts = over_slices(N, lambda lo, hi: np.matmul(gy3[lo:hi], x3[lo:hi].transpose(0, 2, 1)).sum(axis=0))
    return _masked(sum(parts).reshape(C_out, C, 1, 1), taps)


def _weight_grad_operands(x, gy, kernel_size):
    """(x, gy, C_out, Ho, Wo, K) of a cols-based weight gradient: x and gy contiguous, gy's
    channels and grid, and K = C*kh*kw, the rows of cols (and of gw.T)."""
    x, gy = contiguous(x), contiguous(gy)
    _, C_out, Ho, Wo = gy.shape
    return x, gy, C_out, Ho, Wo, x.shape[1] * kernel_size[0] * kernel_size[1]


def conv2d_weight_grad_im2col(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """gw = gy (C_out, N*Ho*Wo) @ cols.T, cols by numba's im2col, chunk by chunk."""
    x, gy, C_out, Ho, Wo, K = _weight_grad_operands(x, gy, kernel_size)
    (N, C), (kh, kw) = x.shape[:2], kernel_size

    def part(n_lo, n_hi):
        gw = zeros((C_out, K), dtype=x.dtype)
        for n0, n1 in sample_chunks(n_lo, n_hi, K, Ho * Wo, x.itemsize):
            cols = scratch("cols", (K, (n1 - n0) * Ho * Wo), x.dtype)
            im2col_chunk(x, n0, n1, kh, kw, *stride, *padding, *dilation, Ho, Wo, cols)
            gy2 = scratch("gy2", (C_out, cols.shape[1]), x.dtype)
            _images_to_rows(gy, n0, n1, gy2)                             # (C_out, nb*Ho*Wo)
            gw += np.matmul(gy2, cols.T, out=scratch("gw", gw.shape, x.dtype))
        return gw

    return _masked(sum(over_slices(N, part)).reshape(C_out, C, kh, kw), taps)


def conv2d_weight_grad_per_sample(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """gw.T = sum over the samples n of cols_n (K, Ho*Wo) @ gy_n.T (Ho*Wo, C_out): numba's
    im2col, then one small GEMM per sample that reads gy where it lies. The other algorithms
    first copy gy into rows (C_out, nb*Ho*Wo), which costs more than the GEMM itself when
    K = C_in*kh*kw is a handful of rows (PER_SAMPLE_MAX_ROWS)."""
    x, gy, C_out, Ho, Wo, K = _weight_grad_operands(x, gy, kernel_size)
    (N, C), (kh, kw), L = x.shape[:2], kernel_size, Ho * Wo

    def part(n_lo, n_hi):
        gw_t = zeros((K, C_out), dtype=x.dtype)
        for n0, n1 in sample_chunks(n_lo, n_hi, K, L, x.itemsize):
            nb = n1 - n0
            cols = scratch("cols", (K, nb * L), x.dtype)
            im2col_chunk(x, n0, n1, kh, kw, *stride, *padding, *dilation, Ho, Wo, cols)
            products = np.matmul(cols.reshape(K, nb, L).transpose(1, 0, 2),        # (nb, K, L)
                                 gy[n0:n1].reshape(nb, C_out, L).transpose(0, 2, 1),  # (nb, L, C_out)
                                 out=scratch("gw", (nb, K, C_out), x.dtype))
            gw_t += products.sum(axis=0)
        return gw_t

    gw_t = sum(over_slices(N, part))                               # the workers' partial sums
    return _masked(np.ascontiguousarray(gw_t.T).reshape(C_out, C, kh, kw), taps)


def conv2d_weight_grad_sample_last(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """gw.T += cols @ gy_last.T, cols and gy a few samples at a time with the sample index
    fastest (as conv2d_sample_last): K of the GEMM = Ho*Wo*nb, no junk columns."""
    x, gy, C_out, Ho, Wo, K = _weight_grad_operands(x, gy, kernel_size)
    (N, C), (kh, kw) = x.shape[:2], kernel_size

    def part(n_lo, n_hi):
        gw_t = zeros((K, C_out), dtype=x.dtype)
        for n0, n1 in sample_chunks(n_lo, n_hi, K, Ho * Wo, x.itemsize):
            cols = _cols_sample_last(x, n0, n1, kernel_size, stride, padding, dilation, Ho, Wo)
            gy_last = scratch("gy2", (C_out, cols.shape[1]), x.dtype)
            _images_to_rows_sample_last(gy, n0, n1, gy_last)             # (C_out, Ho*Wo*nb)
            gw_t += np.matmul(cols, gy_last.T, out=scratch("gw", gw_t.shape, x.dtype))
        return gw_t

    gw_t = sum(over_slices(N, part))                               # the workers' partial sums
    return _masked(np.ascontiguousarray(gw_t.T).reshape(C_out, C, kh, kw), taps)


def conv2d_weight_grad_phases(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """cols from shifted slices of the (phase) planes, as conv2d_phases; with taps, only the
    kept taps' rows are built and multiplied, the others are 0."""
    N, C = x.shape[:2]
    _, C_out, Ho, Wo = gy.shape
    taps = _support(taps, kernel_size)
    layout = _ConvLayout(x, kernel_size, stride, padding, dilation, Ho, Wo, taps)
    gy = contiguous(gy)

    def part(n_lo, n_hi):
        gw_t = zeros((layout.plane.size, C_out), dtype=x.dtype)
        for n0, n1, cols in layout.cols(n_lo, n_hi):
            gy_wide = scratch("gy2", (C_out, cols.shape[1]), x.dtype)
            _widen_rows(gy, n0, layout.Ws, layout.L, gy_wide)
            # gw.T += cols @ gy_wide.T: this orientation is the faster one in OpenBLAS here
            gw_t += np.matmul(cols, gy_wide.T, out=scratch("gw", gw_t.shape, x.dtype))
        return gw_t

    gw_t = sum(over_slices(N, part))                               # the workers' partial sums
    if taps is None:
        return np.ascontiguousarray(gw_t.T).reshape(C_out, C, *kernel_size)
    gw = zeros((C_out, C, taps.size), dtype=x.dtype)            # 0 at the taps left out
    gw[:, :, taps.ravel()] = gw_t.T.reshape(C_out, C, -1)
    return gw.reshape(C_out, C, *kernel_size)


# ---- the choice ---------------------------------------------------------------------------

ALGORITHMS = {
    "conv2d": {"gemm_1x1": conv2d_gemm_1x1, "im2col": conv2d_im2col, "phases": conv2d_phases,
               "winograd": conv2d_winograd, "sample_last": conv2d_sample_last,
               "winograd_s2": conv2d_winograd_s2},
    "conv_transpose2d": {"flip": conv_transpose2d_flip, "phases": conv_transpose2d_phases,
                         "col2im": conv_transpose2d_col2im, "col2im_planes": conv_transpose2d_col2im_planes,
                         "winograd_s2": conv_transpose2d_winograd_s2},
    "conv2d_weight_grad": {"gemm_1x1": conv2d_weight_grad_gemm_1x1, "im2col": conv2d_weight_grad_im2col,
                           "phases": conv2d_weight_grad_phases, "sample_last": conv2d_weight_grad_sample_last,
                           "winograd_s2": conv2d_weight_grad_winograd_s2,
                           "per_sample": conv2d_weight_grad_per_sample},
}
NAMES = tuple(dict.fromkeys(name for table in ALGORITHMS.values() for name in table))
assert set(NAMES) == set(CONV_ALGORITHM_NAMES), "settings.CONV_ALGORITHM_NAMES lists these names"

# 3x3 stride-1 convolutions with enough channels for the GEMMs to dominate go through
# F(2x2, 3x3): a 3x3 64 -> 64 layer's forward measured 11-16 ms against 15-19 (phases);
# 4x4 stride-2 ones and their transposes through F(4x4, 2x2) on the phases (winograd_s2):
# single thread, CPU time, B2's 64 -> 128 14 -> 7 conv 20.8 ms against 28.1 (sample_last) and
# 23.3 (torch), its transpose 21 against 30 (col2im) and 25.6 (torch); with one channel
# in or out 1.6-7x slower than im2col / col2im (GEMMs of one row or column)
WINOGRAD_MIN_CHANNELS = 16

# strided convolutions with this many input channels or more run sample_last: single thread,
# CPU time, B2's 4x4 s2 64 -> 128 forward 26.8 ms against 30.9 (phases), weight gradient 27.4
# against 31.7; B4's 3x3 s2 32 -> 64 10.0 and 9.7 against 11.4 and 11.4. With one input
# channel it is 0-15% slower (its copies gain nothing), with stride 1 (B3) 1.4-1.5x slower.
SAMPLE_LAST_MIN_CHANNELS = 16

# weight gradients whose cols have at most this many rows (C_in*kh*kw: one input channel)
# run per_sample: two threads, medians, B2's 4x4 s2 1 -> 64 layer 0.40 ms against 0.99
# (phases), B4's 3x3 s2 1 -> 32 0.35 against 1.10, B4's last layer (1 channel, 32 out)
# 0.63 against 1.03, a 3x3 stride-1 1 -> 32 layer at 28x28 0.48 against 2.0; with 27 rows
# (3 channels, 3x3) even, with 72 (8 channels) 1.35 against 1.11 (phases)
PER_SAMPLE_MAX_ROWS = 16


def applicable(op, x_shape, w_shape, y_shape, stride, padding, dilation, taps=None):
    """The algorithms of ALGORITHMS[op] that compute this case, in the table's order.

    Shapes as the op's: conv2d x, w (C_out, C_in, kh, kw), y; conv_transpose2d x,
    w (C_in, C_out, kh, kw), y; conv2d_weight_grad x, gw's shape, gy."""
    kernel = tuple(w_shape[2:])
    taps = _support(taps, kernel)
    one, zero = (1, 1), (0, 0)
    names = []
    for name in ALGORITHMS[op]:
        if name == "gemm_1x1":
            ok = (kernel == one and tuple(stride) == one and tuple(padding) == zero
                  and tuple(y_shape[2:]) == tuple(x_shape[2:]))
        elif name == "winograd":
            ok = kernel == (3, 3) and tuple(stride) == one and tuple(dilation) == one and taps is None
        elif name == "winograd_s2":
            ok = kernel == (4, 4) and tuple(stride) == (2, 2) and tuple(dilation) == one and taps is None
        elif name == "flip":
            ok = tuple(stride) == one and all(
                dilation[a] * (kernel[a] - 1) - padding[a] >= 0
                and y_shape[2 + a] == conv_transpose_output_size(x_shape[2 + a], kernel[a], 1, padding[a], 0,
                                                                 dilation[a])
                for a in (0, 1))
        else:                                        # im2col, phases, col2im, sample_last: any geometry
            ok = True
        if ok:
            names.append(name)
    return names


def choose_algorithm(op, x_shape, w_shape, y_shape, stride, padding, dilation, taps=None):
    """The algorithm (a key of ALGORITHMS[op]) for this case: the forced one where it applies
    (tinygen.settings.conv_algorithm()), else by these rules, measured on B2-B4's layers:

    conv2d              gemm_1x1 where it applies; winograd for 3x3 stride 1 and winograd_s2
                        for 4x4 stride 2, without taps and with at least WINOGRAD_MIN_CHANNELS
                        channels in and out; for stride > 1,
                        sample_last from SAMPLE_LAST_MIN_CHANNELS input channels on, im2col
                        below (one input channel, B2/B4's first layers and the input gradients
                        of their last: 2.1-3.0 ms against 2.7-3.6 for phases, one thread);
                        else phases
    conv_transpose2d    winograd_s2 as for conv2d; else flip where it applies (stride 1:
                        a conv2d, whose algorithms are the fast ones; measured against col2im on
                        the stride-1 input gradients of the PixelRNN and Gated PixelCNN presets,
                        C_in = 2 or 4 C_out, batch 64: 2x3 kernel 11.1 ms against 23.2, 1x3 4.6
                        against 8.5, 1x1 0.4-3.3 against 1.7-6.9); else C_in <= C_out: phases;
                        C_in > C_out: col2im (phases copy C_in*kh*kw rows of cols, col2im writes
                        C_out*kh*kw rows and adds them back: col2im 5-15% faster on the stride-2
                        C_in = 2 C_out layers of B2/B4), col2im_planes below
                        SAMPLE_LAST_MIN_CHANNELS output channels
    conv2d_weight_grad  gemm_1x1 where it applies; sample_last as for conv2d; per_sample up
                        to PER_SAMPLE_MAX_ROWS rows of cols; else phases
                        (Winograd's weight gradient was written and measured slower:
                        winograd_numba.py)

    From shapes, geometry and taps only, never from the weights' values."""
    names = applicable(op, x_shape, w_shape, y_shape, stride, padding, dilation, taps)
    forced = conv_algorithm()           # a name of NAMES, or None (the settings check it)
    if forced in names:
        return forced
    if "gemm_1x1" in names:
        return "gemm_1x1"
    if "winograd_s2" in names and min(w_shape[0], w_shape[1]) >= WINOGRAD_MIN_CHANNELS:
        return "winograd_s2"
    if op != "conv_transpose2d" and max(stride) > 1 and x_shape[1] >= SAMPLE_LAST_MIN_CHANNELS:
        return "sample_last"
    if op == "conv2d_weight_grad" and x_shape[1] * w_shape[2] * w_shape[3] <= PER_SAMPLE_MAX_ROWS:
        return "per_sample"
    if op == "conv2d" and max(stride) > 1:
        return "im2col"
    if op == "conv2d":
        channels = min(x_shape[1], w_shape[0])
        return "winograd" if "winograd" in names and channels >= WINOGRAD_MIN_CHANNELS else "phases"
    if op == "conv_transpose2d":
        C_in, C_out = w_shape[0], w_shape[1]
        if "flip" in names:
            return "flip"
        if C_in > C_out:
            return "col2im" if C_out >= SAMPLE_LAST_MIN_CHANNELS else "col2im_planes"
        return "phases"
    return "phases"
