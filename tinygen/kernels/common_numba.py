"""What the numba conv files share (conv_numba.py, conv_algorithms_numba.py, winograd_numba.py).

    inside(n_out, s, off, n_in)   the k in [0, n_out) with k*s + off inside [0, n_in): [lo, hi)
    phase_planes(x, Hp, Wp, stride)
                                  scratch for x zero-padded to (Hp, Wp), split into stride
                                  phases: (N, C, sh*sw, ceil(Hp/sh), ceil(Wp/sw))
    pad_phases(x, n0, n1, top, left, sh, sw, xs)
                                  fills samples [n0, n1) of those planes:
                                  xs[n, c, a*sw + b, h', w'] = xpad[n, c, a + sh*h', b + sw*w']
    im2col_chunk(x, n0, n1, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols)
                                  the reference's im2col, as a numba loop over samples [n0, n1)
    col2im_chunk(cols, n0, n1, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x)
                                  its adjoint, col2im, into samples [n0, n1) of x
    transpose_phases(size, out_size, k, s, p, d)
                                  a transposed conv's output phases along one axis (step 3 of
                                  conv_algorithms_numba.py): which kernel taps reach which outputs

Stride 1 is one phase: the image zero-padded. conv_algorithms_numba.py's docstring says why
phases, and why the algorithms call im2col_chunk on a few samples at a time.
"""
from numba import njit

from tinygen.kernels.common import scratch


@njit(inline="always")
def inside(n_out, s, off, n_in):
    # [lo, hi): the k in [0, n_out) whose k*s + off falls inside [0, n_in)
    lo = 0 if off >= 0 else (s - 1 - off) // s
    hi = min(n_out, (n_in - 1 - off) // s + 1) if off <= n_in - 1 else 0
    return lo, max(lo, hi)


def phase_planes(x, Hp, Wp, stride):
    """Scratch for x zero-padded to (Hp, Wp) and split into stride phases (pad_phases fills it).

    -> xs (N, C, sh*sw, Hs, Ws), Hs = ceil(Hp/sh), Ws = ceil(Wp/sw).
    """
    N, C = x.shape[:2]
    sh, sw = stride
    return scratch("xs", (N, C, sh * sw, -(-Hp // sh), -(-Wp // sw)), x.dtype)


@njit(nogil=True, cache=True)
def pad_phases(x, n0, n1, top, left, sh, sw, xs):
    # x (N, C, H, W) -> xs (N, C, sh*sw, Hs, Ws): phase (a, b) of the image padded by top/left
    # (and by zeros up to Hs*sh, Ws*sw), xs[n, c, a*sw + b, h', w'] = xpad[n, c, a + sh*h', b + sw*w']
    N, C, H, W = x.shape
    Hs, Ws = xs.shape[3], xs.shape[4]
    for t in range(n0 * C, n1 * C):
        n = t // C
        c = t % C
        for a in range(sh):
            h_lo, h_hi = inside(Hs, sh, a - top, H)        # phase rows that hold image rows
            for b in range(sw):
                w_lo, w_hi = inside(Ws, sw, b - left, W)
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
def im2col_chunk(x, n0, n1, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols):
    # x[n0:n1] (nb, C, H, W) -> cols (C*kh*kw, nb*Ho*Wo): row (c, i, j), column (n, p, q),
    # 0 where the tap falls into the padding. The adjoint of col2im_chunk, loop for loop: the
    # (p, q) that land inside the image are computed once per tap, no test per element.
    N, C, H, W = x.shape
    for r in range(C * kh * kw):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        p_lo, p_hi = inside(Ho, sh, i * dh - ph, H)
        q_lo, q_hi = inside(Wo, sw, j * dw - pw, W)
        for n in range(n0, n1):
            block = cols[r, (n - n0) * Ho * Wo: (n - n0 + 1) * Ho * Wo]
            block[:] = 0
            for p in range(p_lo, p_hi):
                src = x[n, c, p * sh - ph + i * dh, q_lo * sw - pw + j * dw:]
                dst = block[p * Wo + q_lo:]
                for k in range(q_hi - q_lo):
                    dst[k] = src[k * sw]


@njit(nogil=True, cache=True)
def col2im_chunk(cols, n0, n1, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x):
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
            p_lo, p_hi = inside(Ho, sh, i * dh - ph, H)
            for j in range(kw):
                q_lo, q_hi = inside(Wo, sw, j * dw - pw, W)
                src_row = cols[(c * kh + i) * kw + j]
                for p in range(p_lo, p_hi):
                    dst = plane[p * sh - ph + i * dh, q_lo * sw - pw + j * dw:]
                    src = src_row[((n - n0) * Ho + p) * Wo + q_lo:]
                    for k in range(q_hi - q_lo):
                        dst[k * sw] += src[k]


def transpose_phases(size, out_size, k, s, p, d):
    """Along one axis: [(r, rows, u, P_lo, count)] per output residue r, and the padding (lo, hi).

    Outputs Y = s*P + r - p for P in [P_lo, P_lo + count) read x[P - u_t] through kernel
    row (or column) rows[t].
    """
    phases = []
    lo = hi = 0
    for r in range(s):
        rows = [i for i in range(k) if (i * d) % s == r]
        u = [(i * d) // s for i in rows]
        P_lo = -((r - p) // s)                     # ceil((p - r) / s): the first Y >= 0
        count = (out_size - 1 + p - r) // s - P_lo + 1
        if count <= 0:
            continue
        phases.append((r, rows, u, P_lo, count))
        if rows:                                   # reads x[P_lo - max(u)] .. x[P_lo + count - 1 - min(u)]
            lo = max(lo, max(u) - P_lo)
            hi = max(hi, P_lo + count - 1 - min(u) - (size - 1))
    return phases, lo, hi
