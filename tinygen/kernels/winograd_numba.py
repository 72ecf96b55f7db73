"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), fast CPU version.

Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks". Cut the output into
2x2 tiles; each reads a 4x4 tile d of the padded input (tiles overlap by 2). Per tile and
per (output channel o, input channel c):

    y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A          (.) elementwise, g the 3x3 kernel

          [1  0 -1  0]          [1    0    0 ]
    B^T = [0  1  1  0]      G = [1/2  1/2  1/2]      A^T = [1  1  1  0]
          [0 -1  1  0]          [1/2 -1/2  1/2]            [0  1 -1 -1]
          [0  1  0 -1]          [0    0    1 ]

The sum over c happens inside the brackets, position by position: for each of the 16
positions k of the 4x4 tile, one matrix product over channels,

    M_k (C_out, tiles) = U_k (C_out, C_in) @ V_k (C_in, tiles)   U = G g G^T, V = B^T d B

So a 2x2 output tile costs 16 multiplies per channel pair instead of 36: 2.25x fewer flops
than im2col + GEMM, and V is 4x the input where im2col's cols is 9x. The transforms are adds
only (B, A) or done once per call (G, on the 3x3 weights).

The input gradient of a 3x3 stride-1 conv is a 3x3 stride-1 conv with the kernel flipped
and its channel axes swapped (conv_numba.conv_transpose2d_flip routes it here). The weight
gradient could run the same machinery backwards (dL/dU_k = Z_k V_k^T with Z = A gy A^T,
then gw = G^T dL/dU G); written and measured, it was slower than im2col + GEMM here (18 ms
against 14 for a 3x3 64 -> 64 layer at batch 32: its K = tiles GEMMs come in small chunks),
so the weight gradient stays on im2col. Nor is it used for masked kernels (PixelCNN): every
transformed weight mixes all nine taps, so masked inputs would reach the output through terms
that cancel only up to rounding: conv2d_winograd refuses `taps`, and conv_numba.choose_algorithm
never picks it for them.

Work split: each worker thread takes a slice of the batch (tinygen/kernels/threads.py) and
does its transforms and its 16 GEMMs (single-threaded BLAS) chunk by chunk, a few samples at
a time so V and M stay in cache. Float32 error: the transforms only add, subtract and halve,
so the result agrees with im2col + GEMM to about 1e-6 relative (tests hold it to the reference).
"""
import numpy as np
from numba import njit

from tinygen.kernels._common import sample_chunks, scratch
from tinygen.kernels._common_numba import pad_phases, phase_planes
from tinygen.kernels.threads import over_slices

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])   # (4, 3)


@njit(nogil=True, cache=True)
def _input_tiles(xs, n0, n1, th, tw, V):
    # xs (N, C, 1, 2 th + 2, 2 tw + 2) padded planes -> V (16, C, (n1 - n0)*th*tw) = B^T d B per tile
    C = xs.shape[1]
    Wp = xs.shape[4]
    rows = np.empty((4, Wp), dtype=V.dtype)
    for n in range(n0, n1):
        for c in range(C):
            plane = xs[n, c, 0]
            for a in range(th):
                d0, d1, d2, d3 = plane[2 * a], plane[2 * a + 1], plane[2 * a + 2], plane[2 * a + 3]
                for w in range(Wp):                 # B^T: combine the tile rows, whole rows at once
                    rows[0, w] = d0[w] - d2[w]
                    rows[1, w] = d1[w] + d2[w]
                    rows[2, w] = d2[w] - d1[w]
                    rows[3, w] = d1[w] - d3[w]
                t0 = ((n - n0) * th + a) * tw
                for i in range(4):                  # (.) B: combine the tile columns
                    r = rows[i]
                    v0, v1, v2, v3 = V[4 * i, c], V[4 * i + 1, c], V[4 * i + 2, c], V[4 * i + 3, c]
                    for b in range(tw):
                        v0[t0 + b] = r[2 * b] - r[2 * b + 2]
                        v1[t0 + b] = r[2 * b + 1] + r[2 * b + 2]
                        v2[t0 + b] = r[2 * b + 2] - r[2 * b + 1]
                        v3[t0 + b] = r[2 * b + 1] - r[2 * b + 3]


@njit(nogil=True, cache=True)
def _output_tiles(M, n0, th, tw, y):
    # M (16, C_out, nb*th*tw) -> y[n0:n0+nb] (nb, C_out, Ho, Wo): A^T m A per tile
    C_out, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    nb = M.shape[2] // (th * tw)
    top = np.empty(2 * tw, dtype=y.dtype)
    bottom = np.empty(2 * tw, dtype=y.dtype)
    for o in range(C_out):
        m0, m1, m2, m3 = M[0, o], M[1, o], M[2, o], M[3, o]          # the 16 positions' rows
        m4, m5, m6, m7 = M[4, o], M[5, o], M[6, o], M[7, o]
        m8, m9, m10, m11 = M[8, o], M[9, o], M[10, o], M[11, o]
        m12, m13, m14, m15 = M[12, o], M[13, o], M[14, o], M[15, o]
        for n in range(nb):
            for a in range(th):
                t0 = (n * th + a) * tw
                for b in range(tw):
                    t = t0 + b
                    # A^T on the rows of the 4x4 tile m: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
                    s00 = m0[t] + m4[t] + m8[t]
                    s01 = m1[t] + m5[t] + m9[t]
                    s02 = m2[t] + m6[t] + m10[t]
                    s03 = m3[t] + m7[t] + m11[t]
                    s10 = m4[t] - m8[t] - m12[t]
                    s11 = m5[t] - m9[t] - m13[t]
                    s12 = m6[t] - m10[t] - m14[t]
                    s13 = m7[t] - m11[t] - m15[t]
                    # (.) A on the columns
                    top[2 * b] = s00 + s01 + s02
                    top[2 * b + 1] = s01 - s02 - s03
                    bottom[2 * b] = s10 + s11 + s12
                    bottom[2 * b + 1] = s11 - s12 - s13
                row = y[n0 + n, o, 2 * a]
                for q in range(Wo):
                    row[q] = top[q]
                if 2 * a + 1 < Ho:
                    row = y[n0 + n, o, 2 * a + 1]
                    for q in range(Wo):
                        row[q] = bottom[q]


def _tiles(Ho, Wo):
    return -(-Ho // 2), -(-Wo // 2)


def _padded_planes(x, th, tw):
    """Scratch for x's planes padded to (2 th + 2, 2 tw + 2): the workers fill it (pad_phases)."""
    return phase_planes(x, 2 * th + 2, 2 * tw + 2, (1, 1))


def conv2d_winograd(x, w, stride, padding, dilation, taps=None):
    """conv2d for a 3x3 kernel, stride 1, dilation 1, without taps (conv_numba's signature):
    x (N, C_in, H, W), w (C_out, C_in, 3, 3) -> y (N, C_out, H + 2ph - 2, W + 2pw - 2)."""
    if w.shape[2:] != (3, 3) or tuple(stride) != (1, 1) or tuple(dilation) != (1, 1):
        raise ValueError(f"conv2d_winograd: F(2x2, 3x3) needs a 3x3 kernel, stride 1, dilation 1; "
                         f"got weight {w.shape}, stride {stride}, dilation {dilation}")
    if taps is not None and not np.all(taps):
        raise ValueError("conv2d_winograd: a kernel with taps (a mask) cannot go through Winograd: "
                         "masked inputs would leak in up to rounding; use conv2d_phases")
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    C_out = w.shape[0]
    Ho, Wo = H + 2 * padding[0] - 2, W + 2 * padding[1] - 2
    th, tw = _tiles(Ho, Wo)
    U = np.einsum("ai,ocij,bj->aboc", G, w, G).reshape(16, C_out, C).astype(x.dtype)  # G g G^T
    xs = _padded_planes(x, th, tw)
    y = np.empty((N, C_out, Ho, Wo), dtype=x.dtype)
    T = th * tw

    def part(n_lo, n_hi):
        pad_phases(x, n_lo, n_hi, padding[0], padding[1], 1, 1, xs)
        for n0, n1 in sample_chunks(n_lo, n_hi, 16 * (C + C_out), T, x.itemsize):   # V and M
            V = scratch("V", (16, C, (n1 - n0) * T), x.dtype)
            _input_tiles(xs, n0, n1, th, tw, V)
            M = np.matmul(U, V, out=scratch("M", (16, C_out, (n1 - n0) * T), x.dtype))
            _output_tiles(M, n0, th, tw, y)

    over_slices(N, part)
    return y
