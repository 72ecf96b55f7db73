"""Convolutions by Winograd's minimal filtering, fast CPU version: F(2x2, 3x3) for 3x3 stride 1,
F(4x4, 2x2) on stride-2 phases for 4x4 stride 2 and its transpose (second half of this file).

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
and its channel axes swapped (conv_algorithms_numba.conv_transpose2d_flip routes it here). The weight
gradient could run the same machinery backwards (dL/dU_k = Z_k V_k^T with Z = A gy A^T,
then gw = G^T dL/dU G); written and measured, it was slower than im2col + GEMM here (18 ms
against 14 for a 3x3 64 -> 64 layer at batch 32: its K = tiles GEMMs come in small chunks),
so the weight gradient stays on im2col. Nor is it used for masked kernels (PixelCNN): every
transformed weight mixes all nine taps, so masked inputs would reach the output through terms
that cancel only up to rounding: conv2d_winograd refuses `taps`, and conv_algorithms_numba.choose_algorithm
never picks it for them.

Work split: each worker thread takes a slice of the batch (tinygen/kernels/threads.py) and
does its transforms and its 16 GEMMs (single-threaded BLAS) chunk by chunk, a few samples at
a time so V and M stay in cache. Float32 error: the transforms only add, subtract and halve,
so the result agrees with im2col + GEMM to about 1e-6 relative (tests hold it to the reference).
"""
import numpy as np
from numba import njit

from tinygen.kernels.common import (contiguous, conv_transpose_output_size, empty, sample_chunks,
                                    scratch)
from tinygen.kernels.common_numba import pad_phases, phase_planes, transpose_phases
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


def conv2d_winograd(x, w, stride, padding, dilation, taps=None, reserve=None):
    """conv2d for a 3x3 kernel, stride 1, dilation 1, without taps (conv_numba's signature):
    x (N, C_in, H, W), w (C_out, C_in, 3, 3) -> y (N, C_out, H + 2ph - 2, W + 2pw - 2)."""
    if w.shape[2:] != (3, 3) or tuple(stride) != (1, 1) or tuple(dilation) != (1, 1):
        raise ValueError(f"conv2d_winograd: F(2x2, 3x3) needs a 3x3 kernel, stride 1, dilation 1; "
                         f"got weight {w.shape}, stride {stride}, dilation {dilation}")
    if taps is not None and not np.all(taps):
        raise ValueError("conv2d_winograd: a kernel with taps (a mask) cannot go through Winograd: "
                         "masked inputs would leak in up to rounding; use conv2d_phases")
    x = contiguous(x)
    N, C, H, W = x.shape
    C_out = w.shape[0]
    Ho, Wo = H + 2 * padding[0] - 2, W + 2 * padding[1] - 2
    th, tw = _tiles(Ho, Wo)
    U = np.einsum("ai,ocij,bj->aboc", G, w, G).reshape(16, C_out, C).astype(x.dtype)  # G g G^T
    xs = _padded_planes(x, th, tw)
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)
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


# ---- F(4x4, 2x2) on stride-2 phases: 4x4 stride-2 convolutions and their transposes ---------
#
# A 4x4 stride-2 conv is a 2x2 stride-1 conv of the 4 phase planes (conv_algorithms_numba.py, step 2:
# tap (2u + a, 2v + b) meets phase (a, b) at offset (u, v)), so 4*C_in input channels; its
# transpose is 4 output phases, each a 2x2 stride-1 conv of x (step 3). A 2x2 kernel by
# F(4x4, 2x2): 25 products per 4x4 output tile instead of 64. On B2/B4's 7x7 phase outputs
# (two tiles a side, 8x8 computed for 49 kept) the GEMMs do 0.51 of im2col's flops.
#
# The transforms run on vectors of (tile, sample) numbers: a chunk of samples' tiles gathered
# per channel, then each row of B^T (or A^T) one loop over the whole vector (vectorized), so
# the GEMMs' columns are (tile, sample) as well: V (25, channels, tiles*nb). The weight
# gradient runs the transforms backwards (dU_k = (A dY A^T)_k V_k^T, gw = G^T dU G); unlike
# F(2x2, 3x3)'s above it wins, its K = tiles GEMMs coming in 16 MB chunks.
#
# Tried and rejected, the waste on 7x7 grids: a 4-wide tile then a 3-wide one by F(3, 2) (4
# points, float32 error 1.0e-6) computes 7x7 with 81 products instead of 100. Each tile size
# pair needs its own transformed weights, so U grew from 25 positions to 81 (B2's 64 -> 128
# layer: 3.3 -> 10.6 MB written a call, 0.3 -> 2.7 ms), and each size pair's GEMMs and
# transforms ran on one tile's columns instead of four: forward 5.0 -> 8.3 ms, weight
# gradient 6.8 -> 10.4 (two threads, alternating in one process). Nor one F(7, 2) tile a side
# (points 0, +-1, +-2, +-1/2): 64 products instead of 100, float32 error 1.4e-5 (F(4, 2):
# 2.5e-6), written with these loops for F(4, 2) and F(7, 2) both and measured on B2's 64 -> 128
# layer (two threads, alternating in one process, 15 rounds): forward 1.02x and weight gradient
# 1.02x F(4, 2)'s time. Its GEMMs have a quarter of the columns (one tile of each sample, 32
# a worker), on which OpenBLAS ran at 64 GFLOP/s against 93 (one thread), and its transforms
# run on vectors a quarter as long (input tiles 2.35 against 1.64 ms, one thread). With the
# GEMMs split by output channels instead (every sample's column in each: 64), a worker's GEMMs
# took 1.96 ms against F(4, 2)'s 2.49, but its input tiles 1.18 against 1.00 and the weight
# transform (64 positions) 0.55 against 0.32: nothing left to gain.
#
# Where the time goes (B2's 64 -> 128 forward on 32 samples, one thread, timed inside the call):
# weight transform 0.43 ms, input tiles 1.2, GEMMs 2.9, output tiles 0.45; the GEMMs run at
# OpenBLAS's rate for their shapes (95 GFLOP/s alone), the transforms at the memory's (their
# inputs and outputs no longer in cache once a GEMM has run). Of the input tiles, on warm
# memory 0.46 of 0.77 ms is the gather (scalar loads 50 KB apart); gathering each channel's
# samples first into an (H W, samples) block took 0.73 ms, writing the columns sample-major
# (one plane at a time) 0.65 to 1.09. Nor did the weight transform gain inside the convolution's
# own split (each thread its share of U, then its input tiles, the GEMMs once every share is
# done): a B2 step 1.006x the time of the separate split, alternating in one process. The
# weight gradient's GEMMs read V transposed (dM V^T: 2.5-3.2 ms a worker on B2's layer, 75-82
# GFLOP/s); V dM^T with dM written transposed is a plain GEMM (2.7 against 3.2 ms in the same
# run), but writing dM in blocks of 16 channels took 0.68 ms against 0.27, and the weight
# transform then read dU across channels (0.28 -> 1.15 ms): the whole gradient 7.1 against 5.7.

def _cook_toom(m, r, points):
    """Winograd's F(m, r) for a correlation y[i] = sum_j g[j] d[i + j] (i < m, j < r) from the
    n - 1 = m + r - 2 finite points and infinity: (A^T (m, n), G (n, r), B^T (n, n)), float64.

    Polynomial multiplication s = g * h evaluates g and h at the points, multiplies, and
    interpolates: s = C [(E_g g) (.) (E_h h)], C = E_s^-1. A correlation is that map's
    transpose in the data, y = E_h^T [(E_g g) (.) (C^T d)]: A^T = E_h^T, G = E_g, B^T = C^T.
    Each row of B^T is scaled to small integers and G's row divided to match."""
    n = m + r - 1

    def evaluation(k):                              # (n, k): row a = powers of point a; infinity last
        E = np.zeros((n, k))
        E[:-1] = np.array(points, dtype=float)[:, None] ** np.arange(k)
        E[-1, -1] = 1.0
        return E

    A_T, G_, B_T = evaluation(m).T, evaluation(r), np.linalg.inv(evaluation(n)).T
    B_T[np.abs(B_T) < 1e-12] = 0.0
    scale = 1.0 / np.array([np.abs(row[row != 0]).min() for row in B_T])
    return A_T, G_ / scale[:, None], np.round(B_T * scale[:, None], 12)


# F(4, 2) at 0, 1, -1, 2, infinity: 25 products per 4x4 output tile of a 2x2 kernel instead of
# 64; float32 error measured 2.4e-6 of the largest output over 256 channels (points 1/2 or -2:
# 2.9e-6, 4.2e-6)
A_T42, G42, B_T42 = _cook_toom(4, 2, (0.0, 1.0, -1.0, 2.0))

# chunks of samples 16x common.CHUNK_BYTES (16 MB): longer transform loops and wider GEMMs
# (whose rows of 25*channels numbers no cache holds anyway); single thread, B2's 64 -> 128
# layer: weight gradient 25.3 -> 19.6 ms, forward 19.8 -> 18.5 against 4 MB chunks; two
# threads, 8 and 16 MB alike, 4 MB 10-18% slower
S2_CHUNK_SCALE = 16


@njit(inline="always")
def _bt5(d0, d1, d2, d3, d4, o0, o1, o2, o3, o4, two, three):
    # (o0..o4) = B^T (d0..d4), elementwise over the vectors: one loop per output (vectorized)
    for k in range(o0.shape[0]):
        o0[k] = two * (d0[k] - d2[k]) - d1[k] + d3[k]
    for k in range(o0.shape[0]):
        o1[k] = two * d1[k] + d2[k] - d3[k]
    for k in range(o0.shape[0]):
        o2[k] = three * d2[k] - two * d1[k] - d3[k]
    for k in range(o0.shape[0]):
        o3[k] = d3[k] - d1[k]
    for k in range(o0.shape[0]):
        o4[k] = two * (d1[k] - d3[k]) - d2[k] + d4[k]


@njit(inline="always")
def _at5(m0, m1, m2, m3, m4, o0, o1, o2, o3, two, four, eight):
    # (o0..o3) = A^T (m0..m4), elementwise over the vectors
    for k in range(o0.shape[0]):
        o0[k] = m0[k] + m1[k] + m2[k] + m3[k]
    for k in range(o0.shape[0]):
        o1[k] = m1[k] - m2[k] + two * m3[k]
    for k in range(o0.shape[0]):
        o2[k] = m1[k] + m2[k] + four * m3[k]
    for k in range(o0.shape[0]):
        o3[k] = m1[k] - m2[k] + eight * m3[k] + m4[k]


@njit(nogil=True, cache=True)
def _input_tiles_f42(x, n0, n1, top, left, step, row0, col0, th, tw, consts, V):
    # x[n0:n1] (nb, C, H, W) -> V (25, P, C, th*tw*nb), column (t, b): V[(i, j), ph, c] = B^T d B
    # for the 5x5 tile t = (ti, tj) of phase ph, d[u, v] = x[n0 + b, c, row0[ph] + step*(4 ti + u)
    # - top, col0[ph] + step*(4 tj + v) - left] (0 outside the image). Per (c, ph) the tiles are
    # first gathered into D (5, 5, th*tw*nb), then transformed a whole row of D at a time:
    # vectors of th*tw*nb numbers, so that each loop is long and vectorized.
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    nb = n1 - n0
    L = th * tw * nb
    two, three = consts[0], consts[1]
    D = np.empty((5, 5, L), dtype=V.dtype)
    R = np.empty((5, 5, L), dtype=V.dtype)
    for c in range(C):
        for ph in range(row0.shape[0]):
            for u in range(5):
                for v in range(5):
                    d = D[u, v]
                    for ti in range(th):
                        h = row0[ph] + step * (4 * ti + u) - top
                        for tj in range(tw):
                            w = col0[ph] + step * (4 * tj + v) - left
                            seg = d[(ti * tw + tj) * nb: (ti * tw + tj + 1) * nb]
                            if 0 <= h < H and 0 <= w < W:
                                for b in range(nb):
                                    seg[b] = x[n0 + b, c, h, w]
                            else:
                                for b in range(nb):
                                    seg[b] = 0
            for v in range(5):                          # B^T d: along u
                _bt5(D[0, v], D[1, v], D[2, v], D[3, v], D[4, v],
                     R[0, v], R[1, v], R[2, v], R[3, v], R[4, v], two, three)
            for i in range(5):                          # (B^T d) B: along v
                _bt5(R[i, 0], R[i, 1], R[i, 2], R[i, 3], R[i, 4],
                     V[5 * i, ph, c], V[5 * i + 1, ph, c], V[5 * i + 2, ph, c], V[5 * i + 3, ph, c],
                     V[5 * i + 4, ph, c], two, three)


@njit(nogil=True, cache=True)
def _output_tiles_f42(M, o0, C_out, n0, th, tw, consts, lo_h, hi_h, lo_w, hi_w, y, h0, hstep, w0, wstep):
    # M (25, rows, th*tw*nb), column (t, b) -> the 4x4 tiles A^T M A of rows o0 .. o0 + C_out:
    # position (P, Q) = (4 ti + i, 4 tj + j) of a tile goes to y[n0 + b, o, h0 + hstep*P,
    # w0 + wstep*Q] where lo_h <= P < hi_h and lo_w <= Q < hi_w (the other positions are dropped)
    L = M.shape[2]
    nb = L // (th * tw)
    two, four, eight = consts[0], consts[2], consts[3]
    R = np.empty((4, 5, L), dtype=M.dtype)
    O = np.empty((4, 4, L), dtype=M.dtype)
    for o in range(C_out):
        m = o0 + o
        for beta in range(5):                           # A^T M: along alpha
            _at5(M[beta, m], M[5 + beta, m], M[10 + beta, m], M[15 + beta, m], M[20 + beta, m],
                 R[0, beta], R[1, beta], R[2, beta], R[3, beta], two, four, eight)
        for i in range(4):                              # (A^T M) A: along beta
            _at5(R[i, 0], R[i, 1], R[i, 2], R[i, 3], R[i, 4], O[i, 0], O[i, 1], O[i, 2], O[i, 3],
                 two, four, eight)
        for ti in range(th):
            for i in range(4):
                P = 4 * ti + i
                if P < lo_h or P >= hi_h:
                    continue
                h = h0 + hstep * P
                for tj in range(tw):
                    for j in range(4):
                        Q = 4 * tj + j
                        if Q < lo_w or Q >= hi_w:
                            continue
                        w = w0 + wstep * Q
                        src = O[i, j, (ti * tw + tj) * nb:]
                        for b in range(nb):
                            y[n0 + b, o, h, w] = src[b]


@njit(nogil=True, cache=True)
def _weights_f42(w, transposed, rows, cols, G, o_lo, o_hi, U):
    # conv2d: U (25, C_out, P, C), U[(p, q), o, ph, c] = (G g G^T)[p, q] for the 2x2 kernel of
    # phase ph, g[m, n] = w[o, c, rows[ph, m], cols[ph, n]]; transposed: U (25, P, C_out, C),
    # U[(p, q), ph, o, c] with g[m, n] = w[c, o, rows[ph, m], cols[ph, n]]; for o_lo <= o < o_hi.
    # Per (o, ph): the 4 taps of every c gathered into g, then each U row a run over c.
    P = rows.shape[0]
    C = U.shape[3]
    K = np.empty((25, 4), dtype=U.dtype)                # K[(p, q), (m, n)] = G[p, m] G[q, n]
    for p in range(5):
        for q in range(5):
            for m in range(2):
                for n in range(2):
                    K[p * 5 + q, m * 2 + n] = G[p, m] * G[q, n]
    g = np.empty((4, C), dtype=U.dtype)
    for o in range(o_lo, o_hi):
        for ph in range(P):
            for m in range(2):
                for n in range(2):
                    for c in range(C):
                        g[m * 2 + n, c] = w[c, o, rows[ph, m], cols[ph, n]] if transposed else \
                            w[o, c, rows[ph, m], cols[ph, n]]
            for pq in range(25):
                k0, k1, k2, k3 = K[pq, 0], K[pq, 1], K[pq, 2], K[pq, 3]
                dst = U[pq, ph, o] if transposed else U[pq, o, ph]
                for c in range(C):
                    dst[c] = k0 * g[0, c] + k1 * g[1, c] + k2 * g[2, c] + k3 * g[3, c]


@njit(nogil=True, cache=True)
def _grad_tiles_f42(gy, n0, n1, th, tw, consts, dM):
    # gy[n0:n1] (nb, C_out, Ho, Wo) -> dM (25, C_out, th*tw*nb), column (t, b): A dY A^T for the
    # 4x4 tile t = (ti, tj) of gy (0 beyond Ho, Wo): the adjoint of _output_tiles_f42 (conv2d's)
    C_out, Ho, Wo = gy.shape[1], gy.shape[2], gy.shape[3]
    nb = n1 - n0
    L = th * tw * nb
    two, four, eight = consts[0], consts[2], consts[3]
    D = np.empty((4, 4, L), dtype=dM.dtype)
    R = np.empty((5, 4, L), dtype=dM.dtype)
    for o in range(C_out):
        for i in range(4):
            for j in range(4):
                d = D[i, j]
                for ti in range(th):
                    for tj in range(tw):
                        seg = d[(ti * tw + tj) * nb: (ti * tw + tj + 1) * nb]
                        P, Q = 4 * ti + i, 4 * tj + j
                        if P < Ho and Q < Wo:
                            for b in range(nb):
                                seg[b] = gy[n0 + b, o, P, Q]
                        else:
                            for b in range(nb):
                                seg[b] = 0
        for j in range(4):                              # A dY: along i
            _a5(D[0, j], D[1, j], D[2, j], D[3, j], R[0, j], R[1, j], R[2, j], R[3, j], R[4, j],
                two, four, eight)
        for alpha in range(5):                          # (A dY) A^T: along j
            _a5(R[alpha, 0], R[alpha, 1], R[alpha, 2], R[alpha, 3], dM[5 * alpha, o], dM[5 * alpha + 1, o],
                dM[5 * alpha + 2, o], dM[5 * alpha + 3, o], dM[5 * alpha + 4, o], two, four, eight)


@njit(inline="always")
def _a5(d0, d1, d2, d3, o0, o1, o2, o3, o4, two, four, eight):
    # (o0..o4) = A (d0..d3), A = (A^T)^T, elementwise over the vectors
    for k in range(o0.shape[0]):
        o0[k] = d0[k]
    for k in range(o0.shape[0]):
        o1[k] = d0[k] + d1[k] + d2[k] + d3[k]
    for k in range(o0.shape[0]):
        o2[k] = d0[k] - d1[k] + d2[k] - d3[k]
    for k in range(o0.shape[0]):
        o3[k] = d0[k] + two * d1[k] + four * d2[k] + eight * d3[k]
    for k in range(o0.shape[0]):
        o4[k] = d3[k]


@njit(nogil=True, cache=True)
def _weights_grad_f42(dU, rows, cols, G, gw):
    # dU (25, C_out, P, C), the gradient of _weights_f42's U (conv2d's) -> gw (C_out, C, kh, kw):
    # gw[o, c, rows[ph, m], cols[ph, n]] = (G^T dU G)[m, n], the adjoint of _weights_f42
    C_out, P, C = dU.shape[1], dU.shape[2], dU.shape[3]
    K = np.empty((25, 4), dtype=dU.dtype)
    for p in range(5):
        for q in range(5):
            for m in range(2):
                for n in range(2):
                    K[p * 5 + q, m * 2 + n] = G[p, m] * G[q, n]
    g = np.empty((4, C), dtype=dU.dtype)
    g0, g1, g2, g3 = g[0], g[1], g[2], g[3]
    for o in range(C_out):
        for ph in range(P):
            g[...] = 0
            for pq in range(25):
                # one pass over a row of dU for the four taps (four passes, one a tap, took
                # 0.43 ms a call against 0.28 on B2's 64 -> 128 layer; the same sums, in order)
                src = dU[pq, o, ph]
                k0, k1, k2, k3 = K[pq, 0], K[pq, 1], K[pq, 2], K[pq, 3]
                for c in range(C):
                    s = src[c]
                    g0[c] += k0 * s
                    g1[c] += k1 * s
                    g2[c] += k2 * s
                    g3[c] += k3 * s
            for m in range(2):
                for n in range(2):
                    for c in range(C):
                        gw[o, c, rows[ph, m], cols[ph, n]] = g[m * 2 + n, c]


def _check_s2(name, w_shape, stride, dilation, taps):
    if tuple(w_shape[2:]) != (4, 4) or tuple(stride) != (2, 2) or tuple(dilation) != (1, 1):
        raise ValueError(f"{name}: F(4x4, 2x2) on stride-2 phases needs a 4x4 kernel, stride 2, "
                         f"dilation 1; got weight {tuple(w_shape)}, stride {stride}, dilation {dilation}")
    if taps is not None and not np.all(taps):
        raise ValueError(f"{name}: a kernel with taps (a mask) cannot go through Winograd: masked "
                         f"inputs would leak in up to rounding; use the phases algorithm")


def _weights(w, transposed, rows, cols, shape, dtype):
    """_weights_f42's U of `shape`, the output channels split over the worker threads."""
    w = np.ascontiguousarray(w, dtype=dtype)
    U = np.empty(shape, dtype=dtype)
    G = G42.astype(dtype)
    over_slices(w.shape[1] if transposed else w.shape[0],
                lambda lo, hi: _weights_f42(w, transposed, rows, cols, G, lo, hi, U))
    return U


def _reserved_tiles(reserve, x, padding):
    """The dict of input tiles V that conv2d_winograd_s2 kept in `reserve` for this very x
    (same memory, shape, strides, dtype, padding), keyed by chunk (n0, n1); else None."""
    if not reserve or reserve.get("input") != _input_key(x, padding):
        return None
    return reserve["tiles"]


def _input_key(x, padding):
    return (x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.str, tuple(padding))


def conv2d_winograd_s2(x, w, stride, padding, dilation, taps=None, reserve=None):
    """conv2d for a 4x4 kernel, stride 2, dilation 1, without taps: a 2x2 stride-1 convolution
    of the 4 phase planes (4*C_in channels) by F(4x4, 2x2), the sample index fastest.

    reserve: None, or a dict in which the transformed input tiles V are kept (as the chunks
    that made them, with x's identity) for conv2d_weight_grad_winograd_s2 of the same,
    unchanged x, which then skips its input transform: on B2's 64 -> 128 layer 1.4-2 ms of a
    5.5-7 ms weight gradient, for V's memory (about twice x's) held until the backward."""
    _check_s2("conv2d_winograd_s2", w.shape, stride, dilation, taps)
    x = contiguous(x)
    N, C, H, W = x.shape
    C_out = w.shape[0]
    Ho = (H + 2 * padding[0] - 4) // 2 + 1
    Wo = (W + 2 * padding[1] - 4) // 2 + 1
    th, tw = -(-Ho // 4), -(-Wo // 4)
    T = th * tw
    # phase (a, b) holds xpad[a + 2h', b + 2w'] and meets the taps (2u + a, 2v + b): a 2x2 kernel
    rows = np.array([[a, a + 2] for a in (0, 0, 1, 1)])
    cols = np.array([[b, b + 2] for b in (0, 1, 0, 1)])
    U = _weights(w, False, rows, cols, (25, C_out, 4, C), x.dtype).reshape(25, C_out, 4 * C)
    row0, col0 = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    consts = np.array([2, 3, 4, 8], dtype=x.dtype)            # the transforms' constants, in x's dtype
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)
    kept = None
    if reserve is not None:
        kept = reserve["tiles"] = {}
        reserve["input"] = _input_key(x, padding)

    def part(n_lo, n_hi):
        for n0, n1 in sample_chunks(n_lo, n_hi, 25 * (4 * C + C_out), T, x.itemsize, S2_CHUNK_SCALE):
            shape = (25, 4, C, T * (n1 - n0))
            if kept is None:
                V = scratch("V", shape, x.dtype)
            else:
                V = kept[(n0, n1)] = empty(shape, x.dtype)
            _input_tiles_f42(x, n0, n1, padding[0], padding[1], 2, row0, col0, th, tw, consts, V)
            M = np.matmul(U, V.reshape(25, 4 * C, -1), out=scratch("M", (25, C_out, T * (n1 - n0)), x.dtype))
            _output_tiles_f42(M, 0, C_out, n0, th, tw, consts, 0, Ho, 0, Wo, y, 0, 1, 0, 1)

    over_slices(N, part)
    return y


def conv_transpose2d_winograd_s2(x, w, stride, padding, output_padding, dilation, taps=None):
    """conv_transpose2d for a 4x4 kernel, stride 2, dilation 1, without taps: each of the 4
    output phases is a 2x2 stride-1 convolution of x (conv_algorithms_numba.py, step 3), by F(4x4, 2x2).
    The phases read the same input tiles, so one V serves all four, and one GEMM per tile
    position makes all four phases' outputs (their transformed kernels stacked: 4*C_out rows)."""
    _check_s2("conv_transpose2d_winograd_s2", w.shape, stride, dilation, taps)
    x = contiguous(x)
    N, C_in, H, W = x.shape
    C_out = w.shape[1]
    Ho = conv_transpose_output_size(H, 4, 2, padding[0], output_padding[0], 1)
    Wo = conv_transpose_output_size(W, 4, 2, padding[1], output_padding[1], 1)
    axes = []       # per axis: (first x index of the tiles, tiles, [(2 kernel taps, lo, hi, first output)])
    for size, out_size, p in ((H, Ho, padding[0]), (W, Wo, padding[1])):
        residues = transpose_phases(size, out_size, 4, 2, p, 1)[0]
        # residue r: outputs 2P + r - p for P in [P_lo, P_lo + count) read x[P - u_t]; as a
        # correlation over d = x[P - 1:], position 0 is the tap with u = 1, position 1 u = 0.
        # Tiles of 4 P's from the smallest P_lo on cover every residue; each keeps its own P's.
        start = min(P_lo for _, _, _, P_lo, _ in residues)
        tiles = -(-(max(P_lo + count for *_, P_lo, count in residues) - start) // 4)
        axes.append((start - 1, tiles, [((taps_r[u.index(1)], taps_r[u.index(0)]), P_lo - start,
                                         P_lo - start + count, 2 * start + r - p)
                                        for r, taps_r, u, P_lo, count in residues]))
    (row0, th, rows), (col0, tw, cols) = axes
    T = th * tw
    phases = [(rh, rw) for rh in rows for rw in cols]
    U = _weights(w, True, np.array([rh[0] for rh, _ in phases]), np.array([rw[0] for _, rw in phases]),
                 (25, len(phases), C_out, C_in), x.dtype).reshape(25, len(phases) * C_out, C_in)
    consts = np.array([2, 3, 4, 8], dtype=x.dtype)            # the transforms' constants, in x's dtype
    y = empty((N, C_out, Ho, Wo), dtype=x.dtype)

    def part(n_lo, n_hi):
        for n0, n1 in sample_chunks(n_lo, n_hi, 25 * (C_in + len(phases) * C_out), T, x.itemsize,
                                    S2_CHUNK_SCALE):
            V = scratch("V", (25, 1, C_in, T * (n1 - n0)), x.dtype)
            _input_tiles_f42(x, n0, n1, 0, 0, 1, np.array([row0]), np.array([col0]), th, tw, consts, V)
            M = np.matmul(U, V.reshape(25, C_in, -1),
                          out=scratch("M", (25, len(phases) * C_out, T * (n1 - n0)), x.dtype))
            for k, ((_, lo_h, hi_h, h0), (_, lo_w, hi_w, w0)) in enumerate(phases):
                _output_tiles_f42(M, k * C_out, C_out, n0, th, tw, consts, lo_h, hi_h, lo_w, hi_w,
                                  y, h0, 2, w0, 2)

    over_slices(N, part)
    return y


def conv2d_weight_grad_winograd_s2(x, gy, kernel_size, stride, padding, dilation, taps=None, reserve=None):
    """The weight gradient of conv2d_winograd_s2, through its transforms backwards: per tile
    position k, dU_k += dM_k (C_out, tiles) @ V_k^T (tiles, 4*C_in) with dM = A dY A^T, then
    gw = G^T dU G per phase's 2x2 kernel (float32 error as the forward's). V comes from
    `reserve` where the forward of this same x kept it, chunk by chunk (the same chunks when
    the thread count is unchanged; any other chunk is transformed here)."""
    _check_s2("conv2d_weight_grad_winograd_s2", (0, 0) + tuple(kernel_size), stride, dilation, taps)
    x = contiguous(x)
    gy = contiguous(gy)
    N, C = x.shape[:2]
    _, C_out, Ho, Wo = gy.shape
    th, tw = -(-Ho // 4), -(-Wo // 4)
    T = th * tw
    row0, col0 = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    consts = np.array([2, 3, 4, 8], dtype=x.dtype)

    rows = np.array([[a, a + 2] for a in (0, 0, 1, 1)])
    cols = np.array([[b, b + 2] for b in (0, 1, 0, 1)])
    kept = _reserved_tiles(reserve, x, padding) or {}

    def part(n_lo, n_hi):
        dU = scratch("dU", (25, C_out, 4 * C), x.dtype)
        for n0, n1 in sample_chunks(n_lo, n_hi, 25 * (4 * C + C_out), T, x.itemsize, S2_CHUNK_SCALE):
            V = kept.get((n0, n1))
            if V is None:
                V = scratch("V", (25, 4, C, T * (n1 - n0)), x.dtype)
                _input_tiles_f42(x, n0, n1, padding[0], padding[1], 2, row0, col0, th, tw, consts, V)
            dM = scratch("M", (25, C_out, T * (n1 - n0)), x.dtype)
            _grad_tiles_f42(gy, n0, n1, th, tw, consts, dM)
            Vt = V.reshape(25, 4 * C, -1).transpose(0, 2, 1)
            if n0 == n_lo:
                np.matmul(dM, Vt, out=dU)
            else:
                dU += np.matmul(dM, Vt, out=scratch("dU2", dU.shape, x.dtype))
        # G^T dU G is linear: each worker transforms its own partial sum (in parallel)
        gw = empty((C_out, C, 4, 4), dtype=x.dtype)
        _weights_grad_f42(dU.reshape(25, C_out, 4, C), rows, cols, G42.astype(x.dtype), gw)
        return gw

    return sum(over_slices(N, part))                               # the workers' partial sums
