"""PyTorch as the oracle for issue 11 item 4's ops (skipped when torch is not installed).

Each case is one function `fn(m, *xs)` written once and run twice, with m = tinygen and with
m = torch (the names are the same: that is the point), on the same float64 inputs. Compared:
every output (values, dtypes kind, indices), the gradient of sum_k <out_k, v_k> for fixed
v_k, and the gradient of the squared norm of that gradient (second order).
"""
import math
import warnings

import numpy as np
import pytest

import tinygen as tg

torch = pytest.importorskip("torch")

R = np.random.default_rng(7)
A34 = R.standard_normal((3, 4))
A234 = R.standard_normal((2, 3, 4))
A5 = R.standard_normal(5)
DISTINCT = R.permutation(12).reshape(3, 4) * 0.37 - 2.0        # no ties: sort/topk/median
WITH_TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 0.5], [0.0, -4.0, 5.0, 5.0]])
POSITIVE = R.uniform(0.2, 4.0, (3, 4))
SPD = np.eye(3) * 2.0
ZEROS = np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 0.5], [2.0, -1.0, 0.7, 0.0]])


def _setitem(m, x, v):
    y = x * 1.0
    y[1] = v[0]
    y[:, m.tensor([0, 2, 3])] = v[1, :3] * 2.0        # advanced index
    y[y > 1.0] = 0.5
    return y * x


def _setitem_chain(m, x):
    y = x * 1.0
    y[1] = y[0] + 1.0                   # the new value reads y itself
    y[2] = y[1] * 2.0
    y[0] += y[2]                        # Python: t = y[0]; t += y[2]; y[0] = t
    y[1:] *= 3.0
    out = m.zeros(4, dtype=m.float64)   # fill a plain tensor row by row
    for i in range(4):
        out[i] = y[i % 3] * x[i]
    return y, out


def _one_hot_and_inplace_forms(m, x):
    labels = m.tensor([2, 0, 1])
    onehot = m.zeros(3, 4, dtype=m.float64)
    onehot.zero_()
    onehot.scatter_(1, labels.unsqueeze(1), 1)          # the one-hot idiom of older scripts
    y = x * 1.0
    y.scatter_add_(1, m.tensor([[0, 0], [3, 1], [2, 2]]), x[:, :2]).index_add_(0, labels, x)
    y.index_fill_(1, m.tensor([3]), -1.0)
    outs = [onehot, y * onehot + y]
    for name, args in [("exp_", ()), ("tanh_", ()), ("sigmoid_", ()), ("pow_", (3,)), ("abs_", ()),
                       ("neg_", ()), ("relu_", ())]:
        z = x * 0.5
        getattr(z, name)(*args)
        outs.append(z * x)
    p = x * x + 0.5
    p.sqrt_()                          # torch refuses sqrt_ then log_ (sqrt saves its output)
    q = x * x + 0.5
    q.log_()
    return outs + [p * x, q * x]


def _inplace(m, x, b):
    y = x * 2.0
    y.add_(b, alpha=0.5).mul_(b).div_(b * b + 1.0).clamp_(-0.4, 0.4).sub_(x)
    z = x * 2.0                         # (torch refuses this after exp, which saves its output)
    z.masked_fill_(x > 0.5, 1.5)
    w = x * 1.0
    w.copy_(b[0])
    u = x * 3.0
    u.fill_(b.sum())
    t = x * 1.0
    t.zero_()
    return y + z * b + w + u + t


CASES = {
    # indexing
    "gather": (lambda m, x: m.gather(x, 1, m.tensor([[0, 3, 3], [2, 1, 0], [1, 1, 1]])), [A34]),
    "gather_dim0": (lambda m, x: x.gather(0, m.tensor([[2, 0, 1, 1]])), [A34]),
    "scatter_src": (lambda m, x, s: x.scatter(1, m.tensor([[0, 3], [2, 1], [1, 0]]), s[:, :2]), [A34, A34]),
    "scatter_value": (lambda m, x: m.scatter(x, 0, m.tensor([[2, 0, 1, 1]]), value=-1.5), [A34]),
    "scatter_add": (lambda m, x, s: m.scatter_add(x, 1, m.tensor([[0, 0], [2, 1], [3, 3]]), s[:, :2]), [A34, A34]),
    "index_select": (lambda m, x: m.index_select(x, 2, m.tensor([3, 0, 3])), [A234]),
    "index_add": (lambda m, x, s: x.index_add(0, m.tensor([2, 0, 2]), s, alpha=-0.5), [A34, A34[::-1].copy()]),
    "masked_fill": (lambda m, x: x.masked_fill(x > 0.3, -2.0), [A234]),
    "masked_fill_tensor": (lambda m, x, v: m.masked_fill(x, m.tensor([True, False, True, False]), v.sum()), [A34, A5]),
    "masked_select": (lambda m, x: m.masked_select(x, x < 0.1), [A234]),
    "getitem_int_tensor": (lambda m, x: x[m.tensor([2, 0, 2, 1])], [A34]),
    "getitem_mask": (lambda m, x: x[x > 0], [A234]),
    "getitem_two_tensors": (lambda m, x: x[m.tensor([0, 2, 2]), m.tensor([3, 1, 1])], [A34]),
    "getitem_slice_tensor": (lambda m, x: x[:, 1:, m.tensor([0, 0, 3])], [A234]),
    "getitem_row_mask": (lambda m, x: x[m.tensor([True, False, True])], [A34]),
    "setitem": (_setitem, [A34, A34[:2]]),
    "setitem_chain": (_setitem_chain, [A5[:4]]),
    "inplace_ops": (_inplace, [A34, POSITIVE]),
    "inplace_functional_forms": (_one_hot_and_inplace_forms, [A34]),
    "index_fill": (lambda m, x, v: (x.index_fill(1, m.tensor([0, 2]), -2.0), m.index_fill(x, 0, m.tensor([1]), v.sum())),
                   [A34, A5]),
    "nonzero": (lambda m, x: m.nonzero(x > 0), [A234]),
    "where_one_arg": (lambda m, x: m.where(x > 0), [A34]),
    # comparisons and logic
    "compare": (lambda m, x, y: (x == y[0], x != 0.5, x < y, x <= y[1], x > 0, x >= y,
                                 m.eq(x, x), x.ne(y), x.lt(0), x.le(y), x.gt(y), x.ge(0)), [A34, A34[::-1].copy()]),
    "logical": (lambda m, x, y: (m.logical_and(x > 0, y), m.logical_or(x > 0, y > 1), m.logical_xor(x, y > 0),
                                 m.logical_not(x > 0), (x > 0).logical_not()), [A34, ZEROS]),
    "bitwise": (lambda m, x, y: ((x > 0) & (y > 0), (x > 0) | (y != 0), (x > 0) ^ True, ~(x > 0),
                                 m.bitwise_and(m.tensor([5, 3]), 6), ~m.tensor([1, -2]), True & (x > 0),
                                 m.tensor([0.5 in x, 0.0 in y, float(A34[1, 2]) in x]),
                                 m.bitwise_xor(x > 0, y > 0)), [A34, ZEROS]),
    "all_any": (lambda m, x: (m.all(x > -1), m.any(x > 2), (x > 0).all(dim=1), (x > 0).any(1, keepdim=True),
                              x.all(), m.any(x, dim=0)), [ZEROS]),
    "isclose": (lambda m, x, y: (m.isclose(x, x + 1e-9), m.isnan(x), m.isfinite(x / y)), [A34, ZEROS]),
    # cutting, repeating, reordering
    "chunk": (lambda m, x: [c * (i + 1) for i, c in enumerate(x.chunk(3, 2))], [A234]),
    "chunk_uneven": (lambda m, x: [c * (i + 1) for i, c in enumerate(m.chunk(x, 3, dim=0))], [R.standard_normal((7, 2))]),
    "split": (lambda m, x: [c * (i + 1) for i, c in enumerate(x.split(3, dim=-1))], [A234]),
    "split_sections": (lambda m, x: [c * (i + 1) for i, c in enumerate(m.split(x, [1, 0, 3], 2))], [A234]),
    "unbind": (lambda m, x: [c * (i + 1) for i, c in enumerate(x.unbind(1))], [A234]),
    "narrow": (lambda m, x: (x.narrow(2, -3, 2), m.narrow(x, 0, 1, 1)), [A234]),
    "select": (lambda m, x: (x.select(1, -1), m.select(x, 0, 1)), [A234]),
    "flip": (lambda m, x: (x.flip(0), m.flip(x, (0, 2)), x.flip([-1])), [A234]),
    "roll": (lambda m, x: (x.roll(2), m.roll(x, (1, -3), (0, 2)), x.roll(5, 1)), [A234]),
    "repeat": (lambda m, x: (x.repeat(2, 1, 3), x.repeat(1, 2)), [A34]),
    "tile": (lambda m, x: (x.tile((2,)), m.tile(x, (2, 1, 1))), [A34]),
    "repeat_interleave": (lambda m, x: (x.repeat_interleave(2), x.repeat_interleave(3, dim=1),
                                        m.repeat_interleave(x, m.tensor([2, 0, 1]), dim=0)), [A34]),
    "repeat_interleave_counts": (lambda m: m.repeat_interleave(m.tensor([2, 0, 3])), []),
    "view_expand_reshape_as": (lambda m, x, y: (x.view_as(y.T), x.reshape_as(y.T), x[:1].expand_as(y)), [A34, A34]),
    # sorting
    "sort": (lambda m, x: (tuple(m.sort(x, 1)), tuple(x.sort(0, descending=True))), [DISTINCT]),
    "sort_stable_ties": (lambda m, x: (tuple(x.sort(dim=1, stable=True)), tuple(x.sort(dim=1, descending=True, stable=True)),
                                       m.argsort(x, dim=1, stable=True)), [WITH_TIES]),
    "argsort": (lambda m, x: (x.argsort(), m.argsort(x, 0, descending=True)), [DISTINCT]),
    "topk": (lambda m, x: (tuple(x.topk(2)), tuple(m.topk(x, 3, dim=0, largest=False))), [DISTINCT]),
    "median": (lambda m, x: (x.median(), tuple(x.median(1)), tuple(m.median(x, 0, keepdim=True))), [DISTINCT]),
    "median_even": (lambda m, x: (x.median(), tuple(x[:, :4].median(1))), [DISTINCT]),
    "kthvalue": (lambda m, x: (tuple(x.kthvalue(2, 1)), tuple(m.kthvalue(x, 3, 0, True))), [DISTINCT]),
    "mode": (lambda m, x: (tuple(m.mode(x, 1)), tuple(x.mode(0)), tuple(x.mode(1, keepdim=True)), tuple(x[0].mode())),
             [WITH_TIES]),
    "argmin_argmax": (lambda m, x: (x.argmin(), m.argmin(x, 1), x.argmin(0, keepdim=True), x.argmax(1)), [DISTINCT]),
    # cumulative and norms
    "cumsum": (lambda m, x: (x.cumsum(1), m.cumsum(x, dim=0), m.cumsum(x, -1)), [A234]),
    "cumprod": (lambda m, x: (x.cumprod(1), m.cumprod(x, dim=0)), [A34]),
    "cumprod_with_zeros": (lambda m, x: (x.cumprod(1), m.cumprod(x, 0)), [ZEROS]),
    "cumsum_int": (lambda m: m.cumsum(m.tensor([[1, 2], [3, 4]]), 0), []),
    "norm": (lambda m, x: (x.norm(), m.norm(x, 1), x.norm(3, dim=1), x.norm(float("inf"), dim=0, keepdim=True),
                           x.norm(p=0.5, dim=(0, 1)), m.norm(x, -float("inf"), 1), x.norm(0), x.norm("fro", 1)), [A234]),
    "norm_zero_vector": (lambda m, x: (x * 0.0).norm(dim=1) + x.norm(), [A34]),
    "dist": (lambda m, x, y: (m.dist(x, y), x.dist(y, 1), m.dist(x, y, float("inf")), x.dist(y, 3)), [A34, A34[::-1].copy()]),
    # rounding and special functions
    "rounding": (lambda m, x: (m.sign(x), x.floor(), x.ceil(), m.round(x), x.trunc(), x.frac(),
                               x.round(decimals=2)), [A34 * 3]),
    "round_half_even": (lambda m, x: m.round(x), [np.array([0.5, 1.5, 2.5, -0.5, -1.5])]),
    "fmod_remainder": (lambda m, x, y: (m.fmod(x, y), x.fmod(0.7), m.remainder(x, y), x.remainder(-0.7), x % y,
                                        x % 0.6), [A34 * 3, A34[::-1] + 0.1]),
    "atan2_hypot": (lambda m, x, y: (m.atan2(x, y), x.atan2(y[0]), m.hypot(x, y), x.hypot(y)), [A34, A34[::-1].copy()]),
    "erf": (lambda m, x: (m.erf(x), x.erfc(), m.erfc(x * 4)), [A34 * 2]),
    "erfinv": (lambda m, x: (m.erfinv(x), x.erfinv()), [np.tanh(A34)]),
    "lgamma_digamma": (lambda m, x: (m.lgamma(x), x.digamma(), m.lgamma(-x - 0.5), m.digamma(-x + 0.25)), [POSITIVE]),
    "normal_cdf_icdf": (lambda m, mu, s, x: (m.distributions.Normal(mu, s.abs() + 0.1).cdf(x),
                                             m.distributions.Normal(mu, s.abs() + 0.1).icdf(m.sigmoid(x))),
                        [A34, A34[::-1].copy(), A34 * 2]),
    "trig_and_logs": (lambda m, x, p: (m.tan(x), m.asin(m.tanh(x)), x.tanh().acos(), m.atan(x), m.sinh(x), x.cosh(),
                                       m.exp2(x), p.log2(), m.log10(p), m.reciprocal(p), x.reciprocal()),
                      [A34, POSITIVE]),
    "lerp_nan_to_num": (lambda m, x, y: (m.lerp(x, y, 0.3), x.lerp(y, y), m.nan_to_num(x.log()),
                                         m.nan_to_num(x / 0.0, posinf=5.0, neginf=-5.0)), [A34, A34[::-1].copy()]),
    "matrix_ops": (lambda m, x, y, v: (m.mm(x, y.T), x.mm(y.T), m.bmm(x[None], y.T[None]), m.dot(v, v * 2), v.dot(v),
                                       m.outer(v, v[:3]), v.outer(v), m.tril(x), x.triu(1),
                                       m.tril(x, -1), m.diag(v), m.diag(v, -2), x.diag(1), m.diagonal(x),
                                       x.diagonal(-1), m.diagonal(A234_T(m, x), 1, 0, 2), m.trace(x), x.trace(),
                                       x.mT, x.tril(5)), [A34, A34, A5]),
    "einsum": (lambda m, x, y, v: (m.einsum("ij,kj->ik", x, y), m.einsum("bij,jk->bik", A234_T(m, x).permute(2, 0, 1), y.T),
                                    m.einsum("i,i->", v, v), m.einsum("ij->j", x), m.einsum("...j,j", x, y[0]),
                                    m.einsum("i,j", v, v[:2]), m.einsum(" ij , jk ", x, y.T), m.einsum("ij,ij->i", [x, y])),
               [A34, A34[::-1].copy(), A5]),
    "kron_cross_cdist": (lambda m, x, y: (m.kron(x, y[:2, :2]), x.kron(y[0]), m.cross(x[:, :3], y[:, :3], dim=1),
                                          x[:, 1:].cross(y[:, 1:], dim=-1), m.cross(x[:, :3].T, y[:, :3].T)),
                         [A34, A34[::-1].copy()]),
    "cdist": (lambda m, x, y: (m.cdist(x, y), m.cdist(x, y[:2], p=1.0), m.cdist(x[None], y[None], 3.0)),
              [A34, A34[::-1].copy()]),
    "concat_movedim": (lambda m, x: (m.concat([x, x * 2], 1), m.hstack([x, x]), m.vstack([x[0], x[1]]),
                                     m.hstack([x[0], x[1]]), m.movedim(x, 0, -1), x.movedim((0, 2), (2, 0)),
                                     m.t(x[0])), [A234]),
    "prod": (lambda m, x, z: (x.prod(), m.prod(x, 1), x.prod(0, keepdim=True), z.prod(1), z.prod(), z.prod(0)),
             [A34, ZEROS]),
    "count_nonzero_unique_numel": (lambda m, z: (m.count_nonzero(z), z.count_nonzero(0), m.tensor(m.numel(z)),
                                                 *m.unique(m.tensor([3, 1, 3, 2, 1]), return_inverse=True,
                                                           return_counts=True)), [ZEROS]),
    "method_forms": (lambda m, x, y: (x.add(y, alpha=2), x.sub(y, alpha=0.5), x.mul(y), x.div(y), x.div(y, rounding_mode="floor"),
                                      x.div(y, rounding_mode="trunc"), x.where(x > 0, y), x.neg(), x.expm1(),
                                      y.abs().log1p(), y.abs().rsqrt(), x.square(), x.sin(), x.cos(), x.maximum(y),
                                      x.minimum(y), *[r * 2 for r in x]), [A34, A34[::-1] + 0.05]),
    "polygamma": (lambda m, x: (m.polygamma(1, x), m.polygamma(2, x), x.polygamma(3)), [POSITIVE]),
    # issue 26
    "inverse_hyperbolic": (lambda m, x, p: (m.asinh(x), x.asinh(), m.acosh(p + 1), (p + 1.5).acosh(),
                                            m.atanh(m.tanh(x)), x.tanh().atanh()), [A34, POSITIVE]),
    "sinc_logit": (lambda m, x, p: (m.sinc(x), x.sinc(), m.sinc(x.detach() * 0.0), m.logit(m.sigmoid(x)),
                                    m.sigmoid(x).logit(eps=0.3), m.logit(p / 5, 1e-3)), [A34, POSITIVE]),
    "xlogy": (lambda m, x, y: (m.xlogy(x, y), x.xlogy(y[0]), m.xlogy(x * (x > 0), y), m.xlogy(x, 2.5),
                               m.xlogy(x.detach() * 0.0, y.detach() * 0.0)), [A34, POSITIVE]),   # (torch: d/dy nan at 0, 0; ours 0)
    "copysign": (lambda m, x, y: (m.copysign(x, y), x.copysign(-y[0]), m.copysign(x, -0.0), m.copysign(x, 0.0)),
                 [A34, A34[::-1].copy()]),
    # a // b is the floor of the exact quotient (1 // 0.1 is 9: floor(1 / 0.1) would give 10);
    # torch's floor_divide has no derivative (its div(rounding_mode="floor") a zero one)
    "floor_divide": (lambda m, x, y: (m.floor_divide(x.detach(), y.detach()), x.detach() // y.detach(),
                                      x.detach() // 0.1, 7.0 // x.detach(), x.detach().floor_divide(-y[0].detach()),
                                      m.tensor([1.0, 0.7, -1.0, 0.3, 5.0]) // m.tensor([0.1, 0.1, 0.1, 0.1, 0.0]),
                                      m.tensor([7, -7, 7]) // m.tensor([2, 2, -2]), m.tensor([7, -7]) // 3,
                                      x.div(y, rounding_mode="floor"), x.div(0.1, rounding_mode="floor")),
                     [A34, POSITIVE]),
    "meshgrid_aliases": (lambda m, x, v: (*m.meshgrid(v, v[:3], indexing="ij"), *m.meshgrid([v[:2], v, v[1:3]], indexing="xy"),
                                          *m.meshgrid(v[0], v[:2], indexing="ij"), m.swapaxes(x, 0, 1), x.swapdims(0, -1),
                                          m.ravel(x), x.ravel(), m.clamp_min(x, 0.1), x.clamp_max(-0.2)), [A34, A5]),
    "logaddexp": (lambda m, x, y: (m.logaddexp(x, y), x.logaddexp(y[0]), m.logaddexp2(x, y),
                                   x.logaddexp2(y[1])), [A34, A34[::-1].copy()]),
    "logaddexp_far_apart": (lambda m, x, y: (m.logaddexp(x * 800, y * 800), x.logaddexp2(y * -900)),
                            [A34, A34[::-1].copy()]),
    "fmax_fmin": (lambda m, x, y: (m.fmax(x, y), x.fmin(y[0]), m.fmax(x, x * (x > 0) / (x > 0)),
                                   m.fmin(x / (x > 0) * (x > 0), y), m.fmax(x, x), m.fmin(x, x)),
                  [A34, A34[::-1].copy()]),
    "addcmul_addcdiv": (lambda m, x, a, b: (m.addcmul(x, a, b), x.addcmul(a[0], b, value=-0.5),
                                            m.addcdiv(x, a, b, value=2), x[0].addcdiv(a, b)), [A34, A34[::-1].copy(), POSITIVE]),
    "add_products": (lambda m, x, a, b: (m.addmm(x[:3, :3], a, b.T), x[0, :3].addmm(a, b.T, beta=0.5, alpha=2),
                                         m.addmm(x.detach()[:3, :3] / 0.0, a, b.T, beta=0), m.addmv(x[:, 0], a, b[0]),
                                         x[0, :3].addmv(a, b[1], alpha=-1),
                                         m.baddbmm(x[:3, :3], A234_T(m, a).permute(2, 0, 1), A234_T(m, b).permute(2, 1, 0)),
                                         m.addbmm(x[:3, :3], A234_T(m, a).permute(2, 0, 1), A234_T(m, b).permute(2, 1, 0),
                                                  beta=2, alpha=0.5)),
                     [A34, A34[::-1].copy(), POSITIVE]),
    "nansum_nanmean": (lambda m, x: (m.nansum(x / (x > -0.5)), x.where(x > 0, x / 0.0 * 0.0).nansum(1),
                                     m.nanmean(x.where(x > 0, x / 0.0 * 0.0)), x.where(x > -0.5, x / 0.0 * 0.0).nanmean(0, True)),
                       [A34]),
    "var_mean_std_mean": (lambda m, x: (*m.var_mean(x), *m.var_mean(x, 1, keepdim=True), *m.std_mean(x, (0, 2)),
                                        *m.std_mean(x, 0, correction=0)), [A234]),
    "cummax_cummin": (lambda m, x, t: (tuple(m.cummax(x, 1)), tuple(x.cummin(0)), tuple(m.cummax(t, 1)),
                                       tuple(t.cummin(dim=-1)), tuple(m.cummax(x[0, 0], 0))), [A34, WITH_TIES]),
    "linalg_inv_det": (lambda m, a: (m.linalg.inv(a), a.inverse(), m.linalg.det(a), a.det(), m.det(a[1]),
                                     *m.linalg.slogdet(a), *m.linalg.slogdet(-a[0]), m.logdet(a), a[0].logdet()),
                       [SPD + R.standard_normal((2, 3, 3)) * 0.3]),
    "linalg_solve": (lambda m, a, b: (m.linalg.solve(a, b), m.linalg.solve(a, b[0, :, 0]), m.linalg.solve(a[0], b),
                                      m.linalg.solve(a, b[:, :, 0])), [SPD + R.standard_normal((2, 3, 3)) * 0.3,
                                                                       R.standard_normal((2, 3, 2))]),
    "linalg_cholesky": (lambda m, a: (m.linalg.cholesky(a @ a.mT + m.eye(3, dtype=m.float64)),
                                      m.linalg.cholesky(a @ a.mT + 0.5 * m.eye(3, dtype=m.float64), upper=True)), [R.standard_normal((2, 3, 3))]),
    "linalg_norms": (lambda m, x: (m.linalg.vector_norm(x), m.linalg.vector_norm(x, 1, dim=-1),
                                   m.linalg.vector_norm(x, float("inf"), dim=(0, 2), keepdim=True),
                                   m.linalg.vector_norm(x, 3.0, 1), m.linalg.matrix_norm(x), m.linalg.matrix_norm(x, 1),
                                   m.linalg.matrix_norm(x, -1, dim=(0, 2)), m.linalg.matrix_norm(x, float("inf"), keepdim=True),
                                   m.linalg.matrix_norm(x, -float("inf")), m.linalg.norm(x), m.linalg.norm(x[0], 1),
                                   m.linalg.norm(x, dim=1), m.linalg.norm(x, float("inf"), dim=(1, 2)),
                                   m.linalg.norm(x[0, 0], 3), m.linalg.matrix_norm(x, "nuc"),
                                   m.linalg.matrix_norm(x, 2, dim=(0, 2)), m.linalg.matrix_norm(x, -2, keepdim=True),
                                   m.linalg.norm(x[0], 2), m.linalg.norm(x, "nuc", dim=(2, 1))), [A234]),
    "eigvalsh_svdvals": (lambda m, a, b: (m.linalg.eigvalsh(a + a.mT), m.linalg.svdvals(b), m.linalg.svdvals(b.mT),
                                          m.linalg.svdvals(a)), [R.standard_normal((2, 3, 3)), A234]),
    "diag_embed": (lambda m, x: (m.diag_embed(x), x.diag_embed(1), m.diag_embed(x, -2, 0, 2), x.diag_embed(dim1=-1, dim2=0),
                                 m.diag_embed(x[0, 0])), [A234]),
    "take_along_dim": (lambda m, x: (m.take_along_dim(x, m.tensor([[[0, 3]], [[2, 2]]]), 2), x.take_along_dim(m.tensor([5, 0, 5])),
                                     m.take_along_dim(x, x.argmax(1, keepdim=True), 1),
                                     m.take_along_dim(x, m.tensor([[[1], [0], [1]]]), dim=0)), [A234]),
    "einsum_diagonals": (lambda m, x, a: (m.einsum("ii->i", a[0]), m.einsum("bii->b", a), m.einsum("ii", a[1]),
                                          m.einsum("bii,bjj->bij", a, a * 2), m.einsum("iij->j", A234_T(m, a[0])),
                                          m.einsum("i,ii->i", x[0, 0, :3], a[0])), [A234, R.standard_normal((2, 3, 3))]),
    "logcumsumexp": (lambda m, x: (m.logcumsumexp(x, 1), x.logcumsumexp(-1), m.logcumsumexp(x * 30, 0)), [A234]),
    "addcmul_addcdiv_in_place": (lambda m, x, y, p: ((x * 1.0).addcmul_(y, p, value=0.5).addcdiv_(y, p[0]),
                                                     m.addcmul(x, y, y[0], value=-0.3), x.addcdiv(y[1], p)),
                                 [A34, A34[::-1].copy(), POSITIVE]),
}


FIRST_ORDER_ONLY = {"norm_zero_vector",   # torch's 2nd derivative of the 2-norm at 0 is nan, ours 0
                    "cdist",              # torch has no second derivative of cdist
                    "copysign",           # 0 (ours: None); torch's grad * y / x leaves 1e-15 terms
                    "logaddexp_far_apart"}  # torch's 2nd derivative: nan (its e^(b - a) overflows)
RTOL = {"polygamma": 1e-8}   # torch's trigamma is accurate to 5e-10 (ours to 1e-15: test_special_...)


def A234_T(m, x):
    """A 3-d tensor from a (3, 4) one: (3, 4, 2)."""
    return m.stack([x, x * 2], -1)


def _run(m, fn, arrays):
    xs = [m.tensor(a, dtype=m.float64, requires_grad=True) for a in arrays]
    outs = fn(m, *xs)
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    flat = []
    for o in outs:                       # nested (values, indices) pairs
        flat.extend(o if isinstance(o, (tuple, list)) else [o])
    return xs, flat


def _numpy(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # log(< 0), x / 0: nan_to_num's inputs on purpose
@pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim")
def test_matches_torch(name):
    fn, arrays = CASES[name]
    results = {}
    for m in (tg, torch):
        xs, outs = _run(m, fn, arrays)
        values = [_numpy(o) for o in outs]
        diff = [o for o in outs if o.requires_grad]
        if diff and xs:
            loss = sum(((o * m.tensor(np.linspace(-1, 1, o.numel()).reshape(tuple(o.shape)),
                                      dtype=m.float64)).sum() for o in diff))
            grads = m.autograd.grad(loss, xs, create_graph=True, allow_unused=True)
            second_terms = [(g * g).sum() for g in grads if g is not None and g.requires_grad
                            and name not in FIRST_ORDER_ONLY]
            second = m.autograd.grad(sum(second_terms), xs, allow_unused=True) if second_terms else [None] * len(xs)
        else:
            grads, second = [None] * len(xs), [None] * len(xs)
        results[m] = (values, grads, second)
    (v, g, g2), (vt, gt, g2t) = results[tg], results[torch]
    assert len(v) == len(vt)
    for a, b in zip(v, vt):
        assert a.shape == b.shape and a.dtype.kind == b.dtype.kind, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=RTOL.get(name, 1e-10), atol=1e-12)
    for order in ((g, gt), (g2, g2t)):
        for a, b in zip(*order):
            a = np.zeros(0) if a is None else _numpy(a)
            b = np.zeros(0) if b is None else _numpy(b)
            if a.size == 0 or b.size == 0:   # one side None: the other is all zeros
                assert not np.any(a) and not np.any(b)
            else:
                np.testing.assert_allclose(a, b, rtol=RTOL.get(name, 1e-9), atol=1e-11)


def test_inplace_on_leaf_and_view_errors_match_torch():
    for m in (tg, torch):
        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            x.add_(1)
        with m.no_grad():
            x.mul_(2)
        assert x._version == 1 and x.tolist() == [2.0, 4.0]


def test_deprecated_number_first_overloads_match_torch():
    """Older scripts' hand-written SGD step p.data.add_(-lr, p.grad.data): torch's deprecated
    op(Number alpha, Tensor other) still runs for add, sub, add_, sub_ (torch warns once per
    process, tinygen as Python's warnings do), and addcmul/addcdiv's op(Number value, Tensor,
    Tensor); other positional forms are refused with a TypeError naming the op."""
    results = {}
    for m in (tg, torch):
        x, g = m.tensor(A5), m.tensor(A5 * A5 + 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[m] = [x.clone().add_(-0.1, g), x.sub(3, g), x.add(-2, g),
                          x.clone().sub_(0.5, g)]
        with pytest.raises(TypeError):
            x.add_(-2, g, alpha=3)
    for ours, theirs in zip(results[tg], results[torch]):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-15)
    x = tg.tensor(A5)
    for op in ("add", "sub", "add_", "sub_"):
        with pytest.warns(UserWarning, match=f"overload of {op} is deprecated"):
            getattr(x.clone(), op)(2, x)
    with pytest.raises(TypeError, match=r"add_\(\): expected add_\(other, \*, alpha=1\)"):
        x.add_(x, x)
    # and of addcmul/addcdiv: op(Number value, Tensor tensor1, Tensor tensor2), as in the hand-
    # written Adam steps of 2019 (exp_avg_sq.mul_(beta2).addcmul_(1 - beta2, grad, grad))
    results = {}
    for m in (tg, torch):
        x, g, d = m.tensor(A5), m.tensor(A5[::-1].copy()), m.tensor(A5 * A5 + 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[m] = [x.clone().addcmul_(0.1, g, g), x.clone().addcdiv_(-0.2, g, d),
                          x.addcmul(3, g, d), x.addcdiv(0.5, g, d)]
    for ours, theirs in zip(results[tg], results[torch]):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-15)
    x = tg.tensor(A5)
    for op in ("addcmul", "addcdiv", "addcmul_", "addcdiv_"):
        with pytest.warns(UserWarning, match=f"overload of {op} is deprecated"):
            getattr(x.clone(), op)(2, x, x + 1)
    with pytest.raises(TypeError, match=r"addcdiv_\(\): expected addcdiv_\(tensor1, tensor2"):
        x.addcdiv_(x)
    with pytest.raises(TypeError, match=r"sub\(\): .* got positional arguments \(int, int\)"):
        x.sub(1, 2)


def test_resize_matches_torch_on_contiguous_tensors():
    """Older scripts' buffers reused batch after batch: label.resize_(n).fill_(1),
    input.resize_as_(real).copy_(real), noise.resize_(n, nz, 1, 1); shrinking keeps the first
    values in order, as torch; a tensor that requires grad refuses, its .data does not."""
    for m in (tg, torch):
        x = m.arange(12).view(3, 4)
        y = x.resize_(2, 3)
        assert y is x and x.tolist() == [[0, 1, 2], [3, 4, 5]]
        assert x.resize_((5,)).tolist() == [0, 1, 2, 3, 4] and x.resize_(5).tolist() == [0, 1, 2, 3, 4]
        assert tuple(x.resize_as_(m.zeros(2, 2)).shape) == (2, 2) and x.tolist() == [[0, 1], [2, 3]]
        assert tuple(x.resize_(3, 3).shape) == (3, 3) and x.view(-1)[:4].tolist() == [0, 1, 2, 3]
        label = m.zeros(4).resize_(2).fill_(1.0)
        assert label.tolist() == [1.0, 1.0]
        w = m.zeros(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="resize"):
            w.resize_(3)
        assert tuple(w.data.resize_(3).shape) == (3,) and tuple(w.shape) == (2,)
    x = tg.zeros(2)
    version = x._version
    x.resize_(4)
    assert x._version > version and x.tolist() == [0.0] * 4
    with pytest.raises(TypeError, match="resize_: sizes must be non-negative ints"):
        x.resize_(-1)


def test_special_functions_at_their_poles_and_edges_match_torch():
    edges = np.array([0.0, -0.0, -1.0, -2.0, 1.0, 2.0, -0.5, 1e-8, 30.0, 171.5, -math.inf, math.inf])
    for name in ("lgamma", "digamma", "erf", "erfc"):
        with np.errstate(all="ignore"):
            ours = getattr(tg, name)(tg.tensor(edges, dtype="float64")).numpy()
        theirs = getattr(torch, name)(torch.tensor(edges, dtype=torch.float64)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, equal_nan=True, err_msg=name)
    y = np.array([-1.0, 1.0, 1.5, -1 + 1e-12, 1 - 1e-12, 0.0])
    np.testing.assert_allclose(tg.erfinv(tg.tensor(y, dtype="float64")).numpy(),
                               torch.erfinv(torch.tensor(y, dtype=torch.float64)).numpy(), rtol=1e-12,
                               equal_nan=True)


def test_special_functions_are_accurate_to_float64_against_mpmath():
    mpmath = pytest.importorskip("mpmath")
    xs = np.concatenate([np.linspace(-9.7, 25.3, 301), np.logspace(-6, 4, 40)])
    xs = xs[np.abs(xs - np.round(xs)) > 1e-3]           # away from the poles at integers <= 0
    ys = np.concatenate([np.linspace(-0.999, 0.999, 201), 1 - np.logspace(-15, -1, 30)])
    table = [("digamma", xs, mpmath.digamma), ("lgamma", xs, lambda v: mpmath.log(abs(mpmath.gamma(v)))),
             ("erf", xs / 4, mpmath.erf), ("erfc", xs / 4, mpmath.erfc), ("erfinv", ys, mpmath.erfinv)]
    table += [(f"polygamma{n}", xs, lambda v, n=n: mpmath.polygamma(n, v)) for n in (1, 2, 3)]
    for name, x, ref in table:
        t = tg.tensor(x, dtype="float64")
        ours = (tg.polygamma(int(name[-1]), t) if name.startswith("polygamma") else getattr(tg, name)(t)).numpy()
        exact = np.array([float(ref(mpmath.mpf(v))) for v in x])
        err = np.abs(ours - exact) / np.maximum(np.abs(exact), 1e-2)   # absolute near roots
        assert err.max() < 1e-12, (name, x[err.argmax()], err.max())
