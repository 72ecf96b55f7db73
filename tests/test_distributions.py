"""tinygen.distributions: log_prob, entropy and KL against closed forms and Monte Carlo.

Monte-Carlo checks use a statistical bound: with n draws of f, |mean(f) - E f| < 5 std/sqrt(n)
fails by chance with probability about 6e-7; the draws are seeded (conftest), so the tests
are deterministic.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen.autograd import gradcheck
from tinygen.distributions import Bernoulli, Categorical, Normal, kl_divergence

finite = st.floats(-3.0, 3.0)
positive = st.floats(0.2, 3.0)
shapes = st.sampled_from([(), (1,), (3,), (2, 3)])


def arrays(shape, elements):
    n = int(np.prod(shape))
    return st.lists(elements, min_size=n, max_size=n).map(lambda v: np.array(v, np.float64).reshape(shape))


def t64(a, requires_grad=False):
    return tg.tensor(np.asarray(a, np.float64), dtype="float64", requires_grad=requires_grad)


def mc_bound(f):
    """(mean, 5 standard errors) of the draws f (a 1-D array)."""
    return f.mean(), 5 * f.std(ddof=1) / math.sqrt(len(f))


# ---- log_prob against the closed forms (float64) ---------------------------------------------

@given(shapes.flatmap(lambda s: st.tuples(arrays(s, finite), arrays(s, positive), arrays(s, finite))))
def test_normal_log_prob_closed_form(args):
    mu, sigma, x = args
    lp = Normal(t64(mu), t64(sigma)).log_prob(t64(x))
    expected = -(x - mu) ** 2 / (2 * sigma ** 2) - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    assert lp.shape == mu.shape and lp.dtype == np.float64
    np.testing.assert_allclose(lp.numpy(), expected, rtol=1e-12, atol=1e-12)


@given(shapes.flatmap(lambda s: st.tuples(arrays(s, st.floats(-8, 8)),
                                          arrays(s, st.sampled_from([0.0, 1.0])))))
def test_bernoulli_log_prob_closed_form(args):
    logits, x = args
    p = 1 / (1 + np.exp(-logits))
    expected = x * np.log(p) + (1 - x) * np.log(1 - p)
    np.testing.assert_allclose(Bernoulli(logits=t64(logits)).log_prob(t64(x)).numpy(), expected,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Bernoulli(probs=t64(p)).log_prob(t64(x)).numpy(), expected,
                               rtol=1e-7, atol=1e-10)


def test_bernoulli_logits_stable_at_extremes():
    logits = t64([-1e4, -1e4, 1e4, 1e4], requires_grad=True)
    x = t64([0.0, 1.0, 0.0, 1.0])
    lp = Bernoulli(logits=logits).log_prob(x)
    np.testing.assert_array_equal(lp.numpy(), [0.0, -1e4, -1e4, 0.0])
    lp.sum().backward()
    # d log p / d l = x - sigmoid(l)
    np.testing.assert_array_equal(logits.grad.numpy(), [0.0, 1.0, -1.0, 0.0])
    h = Bernoulli(logits=logits).entropy()
    assert np.all(np.isfinite(h.numpy())) and np.all(h.numpy() >= 0)
    # float32 too
    lp32 = Bernoulli(logits=tg.tensor([-1e4, 1e4])).log_prob(tg.tensor([1.0, 0.0]))
    np.testing.assert_array_equal(lp32.numpy(), np.float32([-1e4, -1e4]))


@given(st.integers(1, 3), st.integers(2, 5), st.data())
def test_categorical_log_prob_closed_form(n, K, data):
    logits = data.draw(arrays((n, K), finite))
    k = np.array(data.draw(st.lists(st.integers(0, K - 1), min_size=n, max_size=n)), np.int64)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    lp = Categorical(logits=t64(logits)).log_prob(tg.tensor(k))
    assert lp.shape == (n,)
    np.testing.assert_allclose(lp.numpy(), np.log(p[np.arange(n), k]), rtol=1e-10, atol=1e-12)
    lp2 = Categorical(probs=t64(p * 3.0)).log_prob(tg.tensor(k))   # unnormalized probs
    np.testing.assert_allclose(lp2.numpy(), lp.numpy(), rtol=1e-10, atol=1e-12)


def test_log_prob_is_elementwise_and_broadcasts():
    d = Normal(tg.zeros(4), tg.ones(4))
    assert d.log_prob(tg.zeros(3, 4)).shape == (3, 4)
    b = Bernoulli(logits=tg.zeros(2, 1, 5))
    assert b.log_prob(tg.ones(2, 3, 5)).shape == (2, 3, 5)
    c = Categorical(logits=tg.zeros(2, 3, 4))
    assert c.log_prob(tg.tensor(np.zeros((5, 2, 3), np.int64))).shape == (5, 2, 3)


# ---- entropy -------------------------------------------------------------------------------

@given(arrays((3,), positive), arrays((3,), st.floats(-10, 10)))
def test_entropies_closed_form(sigma, logits):
    h = Normal(t64(np.zeros(3)), t64(sigma)).entropy().numpy()
    np.testing.assert_allclose(h, 0.5 * np.log(2 * np.pi * np.e * sigma ** 2), rtol=1e-12)
    p = 1 / (1 + np.exp(-logits))
    h = Bernoulli(logits=t64(logits)).entropy().numpy()
    np.testing.assert_allclose(h, -(p * np.log(p) + (1 - p) * np.log(1 - p)), rtol=1e-8, atol=1e-12)
    q = np.exp(logits) / np.exp(logits).sum()
    h = Categorical(logits=t64(logits)).entropy().numpy()
    np.testing.assert_allclose(h, -(q * np.log(q)).sum(), rtol=1e-8, atol=1e-12)


def test_categorical_entropy_with_zero_probs():
    h = Categorical(probs=t64([0.5, 0.5, 0.0])).entropy()
    np.testing.assert_allclose(h.numpy(), np.log(2), rtol=1e-12)


# ---- KL: closed form against the exact sum and Monte Carlo -----------------------------------

@given(arrays((2,), finite), arrays((2,), positive), arrays((2,), finite), arrays((2,), positive))
def test_kl_normal_matches_monte_carlo(m1, s1, m2, s2):
    p, q = Normal(t64(m1), t64(s1)), Normal(t64(m2), t64(s2))
    kl = kl_divergence(p, q).numpy()
    expected = np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
    np.testing.assert_allclose(kl, expected, rtol=1e-10, atol=1e-12)
    z = p.sample((20000,))                                          # (20000, 2)
    f = (p.log_prob(z) - q.log_prob(z)).numpy()
    for j in range(2):
        mc, bound = mc_bound(f[:, j])
        assert abs(mc - kl[j]) < bound + 1e-9, (mc, kl[j], bound)


@given(arrays((3,), st.floats(-6, 6)), arrays((3,), st.floats(-6, 6)))
def test_kl_bernoulli_exact_and_monte_carlo(l1, l2):
    p, q = Bernoulli(logits=t64(l1)), Bernoulli(logits=t64(l2))
    kl = kl_divergence(p, q).numpy()
    exact = sum(np.exp(p.log_prob(t64(np.full(3, v))).numpy())
                * (p.log_prob(t64(np.full(3, v))) - q.log_prob(t64(np.full(3, v)))).numpy()
                for v in (0.0, 1.0))
    np.testing.assert_allclose(kl, exact, rtol=1e-9, atol=1e-12)
    x = p.sample((20000,))
    f = (p.log_prob(x) - q.log_prob(x)).numpy()
    for j in range(3):
        mc, bound = mc_bound(f[:, j])
        assert abs(mc - kl[j]) < bound + 1e-9


def test_kl_categorical_exact():
    a, b = np.array([0.2, 0.3, 0.5]), np.array([0.6, 0.1, 0.3])
    kl = kl_divergence(Categorical(probs=t64(a)), Categorical(probs=t64(b))).numpy()
    np.testing.assert_allclose(kl, (a * np.log(a / b)).sum(), rtol=1e-12)


# ---- KL at the edge of the support, against torch -------------------------------------------

EDGE_PROBS = st.sampled_from([0.0, 0.0, 0.25, 0.5, 1.0])
EDGE_LOGITS = st.sampled_from([-math.inf, -math.inf, -1.0, 0.0, 2.0])


def _torch_kl(kind, p, q, **dtype):
    torch = pytest.importorskip("torch")
    D = getattr(torch.distributions, kind)
    return torch.distributions.kl_divergence(D(**{k: torch.tensor(v, **dtype) for k, v in p.items()}),
                                             D(**{k: torch.tensor(v, **dtype) for k, v in q.items()}))


def _check_edge_kl(kind, p, q):
    """Value as torch's (inf, 0 and finite at the same places) in float64 and float32, and
    a gradient without NaN wherever the KL is finite."""
    torch = pytest.importorskip("torch")
    for dtype in ("float64", "float32"):
        D = Categorical if kind == "Categorical" else Bernoulli
        ours = kl_divergence(D(**{k: tg.tensor(v, dtype=dtype) for k, v in p.items()}),
                             D(**{k: tg.tensor(v, dtype=dtype) for k, v in q.items()})).numpy()
        theirs = _torch_kl(kind, p, q, dtype=getattr(torch, dtype)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"{dtype} {p} {q}")
    leaves = {name: {k: t64(v, True) for k, v in d.items()} for name, d in (("p", p), ("q", q))}
    kl = kl_divergence(D(**leaves["p"]), D(**leaves["q"]))
    tg.where(tg.tensor(np.isfinite(kl.numpy())), kl, 0.0).sum().backward()
    for d in leaves.values():
        for leaf in d.values():
            assert not np.isnan(leaf.grad.numpy()).any()


@given(st.integers(2, 4).flatmap(lambda k: st.tuples(arrays((2, k), EDGE_PROBS), arrays((2, k), EDGE_PROBS))))
def test_kl_categorical_probs_at_the_edge_of_the_support_matches_torch(pq):
    a, b = pq
    a[:, 0] += a.sum(1) == 0           # every row a distribution
    b[:, 0] += b.sum(1) == 0
    _check_edge_kl("Categorical", {"probs": a / a.sum(1, keepdims=True)},
                   {"probs": b / b.sum(1, keepdims=True)})


@given(st.integers(2, 4).flatmap(lambda k: st.tuples(arrays((2, k), EDGE_LOGITS), arrays((2, k), EDGE_LOGITS))))
def test_kl_categorical_logits_at_the_edge_of_the_support_matches_torch(pq):
    a, b = pq
    a[:, 0] = np.where(np.isinf(a).all(1), 0.0, a[:, 0])     # some category possible
    b[:, 0] = np.where(np.isinf(b).all(1), 0.0, b[:, 0])
    _check_edge_kl("Categorical", {"logits": a}, {"logits": b})


@given(arrays((4,), EDGE_PROBS), arrays((4,), EDGE_PROBS))
def test_kl_bernoulli_probs_at_the_edge_of_the_support_matches_torch(a, b):
    _check_edge_kl("Bernoulli", {"probs": a}, {"probs": b})


@given(arrays((4,), st.sampled_from([-math.inf, -1.0, 0.0, 2.0, math.inf])),
       arrays((4,), st.sampled_from([-math.inf, -1.0, 0.0, 2.0, math.inf])))
def test_kl_bernoulli_logits_at_the_edge_of_the_support_matches_torch(a, b):
    _check_edge_kl("Bernoulli", {"logits": a}, {"logits": b})


def test_kl_examples_from_the_issue():
    half = Categorical(probs=tg.tensor([0.0, 0.5, 0.5]))
    assert kl_divergence(half, Categorical(probs=tg.tensor([0.5, 0.5, 0.0]))).item() == math.inf
    assert kl_divergence(Bernoulli(tg.tensor(0.5)), Bernoulli(tg.tensor(0.0))).item() == math.inf
    logits = ([-math.inf, 0.0, 1.0], [-math.inf, 1.0, 0.0])     # category 0 impossible in both
    same = kl_divergence(*(Categorical(logits=tg.tensor(l)) for l in logits)).item()
    assert same == pytest.approx(_torch_kl("Categorical", {"logits": logits[0]},
                                           {"logits": logits[1]}).item(), rel=1e-6)
    assert same == pytest.approx(math.tanh(0.5), rel=1e-6)      # (p_2 - p_1) (1 - 0)


def test_kl_is_zero_for_equal_arguments_and_broadcasts():
    p = Normal(tg.randn(4, 3), tg.rand(4, 3) + 0.5)
    np.testing.assert_allclose(kl_divergence(p, p).numpy(), 0, atol=1e-6)
    assert kl_divergence(p, Normal(0.0, 1.0)).shape == (4, 3)


def test_kl_normal_gradcheck():
    m, s = t64([0.3, -1.0], True), t64([0.7, 1.4], True)
    assert gradcheck(lambda m, s: kl_divergence(Normal(m, s), Normal(0.5, 2.0)), (m, s))


# ---- sampling ------------------------------------------------------------------------------

def test_rsample_gradcheck_with_fixed_noise():
    def draw(loc, scale):
        tg.manual_seed(7)  # the same eps on every evaluation
        return Normal(loc, scale).rsample((4,))
    loc, scale = t64([0.5, -1.0, 2.0], True), t64([1.0, 0.3, 2.0], True)
    assert gradcheck(draw, (loc, scale))
    tg.manual_seed(7)
    eps = tg.randn(4, 3, dtype="float64").numpy()
    np.testing.assert_allclose(draw(loc, scale).numpy(), loc.numpy() + scale.numpy() * eps)


def test_sample_has_no_grad_rsample_has():
    loc = tg.zeros(3, requires_grad=True)
    d = Normal(loc, 1.0)
    assert not d.sample().requires_grad
    assert d.rsample().requires_grad
    with pytest.raises(NotImplementedError, match="rsample"):
        Bernoulli(logits=tg.zeros(2)).rsample()


def test_sample_moments():
    n = 40000
    z = Normal(t64([1.0, -2.0]), t64([0.5, 3.0])).sample((n,)).numpy()
    for j, (m, s) in enumerate([(1.0, 0.5), (-2.0, 3.0)]):
        assert abs(z[:, j].mean() - m) < 5 * s / math.sqrt(n)
        assert abs(z[:, j].var() - s * s) < 5 * s * s * math.sqrt(2 / n)
    x = Bernoulli(probs=t64([0.1, 0.8])).sample((n,)).numpy()
    assert set(np.unique(x)) <= {0.0, 1.0}
    for j, p in enumerate([0.1, 0.8]):
        assert abs(x[:, j].mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    probs = np.array([0.1, 0.0, 0.6, 0.3])
    k = Categorical(probs=t64(probs)).sample((n,)).numpy()
    assert k.dtype == np.int64 and k.shape == (n,)
    freq = np.bincount(k, minlength=4) / n
    assert freq[1] == 0
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / n) + 1e-12)


def test_sample_shapes_and_seeding():
    d = Normal(tg.zeros(2, 3), tg.ones(2, 3))
    assert d.sample().shape == (2, 3) and d.sample(5).shape == (5, 2, 3)
    assert d.rsample((4, 1)).shape == (4, 1, 2, 3)
    tg.manual_seed(3)
    a = d.sample((2,)).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(a, d.sample((2,)).numpy())
    assert Categorical(logits=tg.zeros(2, 5)).sample((3,)).shape == (3, 2)
    assert Bernoulli(probs=tg.full((2,), 0.5)).sample((6,)).shape == (6, 2)


def test_mean_variance():
    d = Normal(tg.tensor([1.0, 2.0]), tg.tensor([2.0, 3.0]))
    np.testing.assert_allclose(d.mean.numpy(), [1, 2])
    np.testing.assert_allclose(d.variance.numpy(), [4, 9])
    b = Bernoulli(probs=tg.tensor([0.25]))
    np.testing.assert_allclose(b.mean.numpy(), [0.25])
    np.testing.assert_allclose(b.variance.numpy(), [0.1875])


# ---- errors ----------------------------------------------------------------------------------

def test_clear_errors():
    with pytest.raises(ValueError, match="do not broadcast"):
        Normal(tg.zeros(3), tg.ones(2))
    with pytest.raises(ValueError, match="does not broadcast"):
        Normal(tg.zeros(3), tg.ones(3)).log_prob(tg.zeros(4))
    with pytest.raises(ValueError, match="positive"):
        Normal(0.0, tg.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="exactly one"):
        Bernoulli(probs=tg.zeros(2), logits=tg.zeros(2))
    with pytest.raises(ValueError, match="exactly one"):
        Categorical()
    with pytest.raises(ValueError, match="0s and 1s"):
        Bernoulli(logits=tg.zeros(2)).log_prob(tg.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Bernoulli(probs=tg.tensor([1.5]))
    with pytest.raises(TypeError, match="integer"):
        Categorical(logits=tg.zeros(3)).log_prob(tg.tensor(1.0))
    with pytest.raises(IndexError):
        Categorical(logits=tg.zeros(3)).log_prob(tg.tensor(np.array(3)))
    with pytest.raises(NotImplementedError, match=r"\(Normal, Bernoulli\)"):
        kl_divergence(Normal(0.0, 1.0), Bernoulli(logits=tg.zeros(1)))
    with pytest.raises(ValueError, match="batch shapes"):
        kl_divergence(Normal(tg.zeros(3), 1.0), Normal(tg.zeros(2), 1.0))
    with pytest.raises(ValueError, match="categories"):
        kl_divergence(Categorical(logits=tg.zeros(3)), Categorical(logits=tg.zeros(4)))


def test_against_torch():
    torch = pytest.importorskip("torch")
    rs = np.random.default_rng(0)
    mu, s, x = rs.normal(size=5), rs.uniform(0.5, 2, 5), rs.normal(size=5)
    ours = Normal(t64(mu), t64(s)).log_prob(t64(x)).numpy()
    theirs = torch.distributions.Normal(torch.tensor(mu), torch.tensor(s)).log_prob(torch.tensor(x))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
    l = rs.normal(size=(3, 4)) * 3
    k = np.array([0, 3, 1])
    ours = Categorical(logits=t64(l)).entropy().numpy()
    theirs = torch.distributions.Categorical(logits=torch.tensor(l)).entropy().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    ours = Categorical(logits=t64(l)).log_prob(tg.tensor(k)).numpy()
    theirs = torch.distributions.Categorical(logits=torch.tensor(l)).log_prob(torch.tensor(k)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_log_prob_gradcheck():
    mu, s = t64([0.2, -0.4], True), t64([0.9, 1.7], True)
    assert gradcheck(lambda mu, s: Normal(mu, s).log_prob(t64([1.0, 0.0])), (mu, s))
    l = t64([[-2.0, 0.5, 3.0]], True)
    assert gradcheck(lambda l: Bernoulli(logits=l).log_prob(t64([[1.0, 0.0, 1.0]])), (l,))
    assert gradcheck(lambda l: Bernoulli(logits=l).entropy(), (l,))
    assert gradcheck(lambda l: Categorical(logits=l).log_prob(tg.tensor(np.array([2]))), (l,))
    assert gradcheck(lambda l: Categorical(logits=l).entropy(), (l,))


@pytest.mark.skipif(not tg.backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
def test_on_the_cuda_device():
    n = Normal(tg.zeros(3, device="cuda"), tg.ones(3, device="cuda"))
    assert n.rsample((2,)).device == "cuda" and n.log_prob(n.sample()).device == "cuda"
    b = Bernoulli(logits=tg.zeros(3, device="cuda"))
    assert b.log_prob(b.sample()).device == "cuda" and b.entropy().device == "cuda"
    c = Categorical(logits=tg.zeros(2, 4, device="cuda"))
    k = c.sample((5,))
    assert k.device == "cuda" and k.shape == (5, 2)
    assert c.log_prob(k).shape == (5, 2)
    q = Normal(tg.ones(3, device="cuda"), tg.full((3,), 2.0, device="cuda"))
    assert kl_divergence(n, q).device == "cuda"


@given(st.integers(2, 5).flatmap(lambda k: arrays((2, k), st.sampled_from([0.0, 0.0, 0.1, 1.0, 3.0]))),
       st.lists(st.sampled_from([0.0, 0.5, 1 - 2.0 ** -24, 1 - 2.0 ** -40, 1 - 2.0 ** -53]),
                min_size=6, max_size=6),
       st.sampled_from(["float32", "float64"]))
def test_categorical_never_samples_a_category_of_probability_zero(probs, us, dtype):
    """Whatever u the stream draws, up to the largest float below 1 (float32 rounds it up to
    1 itself, past the cumsum's end), the sample has positive probability."""
    from tinygen import rng
    probs[:, 0] += probs.sum(1) == 0
    draws = np.array(us * 2)[:12]

    def random(g, shape, dtype):
        return draws[:int(np.prod(shape))].reshape(shape)

    original = rng.random
    rng.random = random
    try:
        k = Categorical(probs=tg.tensor(probs, dtype=dtype)).sample((6,)).numpy()   # (6, 2)
    finally:
        rng.random = original
    chosen = np.take_along_axis(np.broadcast_to(probs, (6,) + probs.shape), k[..., None], -1)
    assert (chosen > 0).all(), (k, probs)


# ---- issue 26: Uniform, Independent, MultivariateNormal ----------------------------------------

from tinygen.autograd import gradgradcheck  # noqa: E402
from tinygen.distributions import Independent, MultivariateNormal, Uniform  # noqa: E402


@st.composite
def _mvn_params(draw):
    """(loc (B, d), A (B, d, d), x (S, B, d)): Sigma = A A^T + I is positive definite."""
    b, d = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return draw(arrays((b, d), finite)), draw(arrays((b, d, d), st.floats(-1, 1))), draw(arrays((2, b, d), finite))


def _covariance(a):
    return a @ a.mT + tg.eye(a.shape[-1], dtype=a.dtype)


@settings(max_examples=10)
@given(_mvn_params(), st.sampled_from(["covariance_matrix", "precision_matrix", "scale_tril"]))
def test_multivariate_normal_gradcheck_and_gradgradcheck(params, which):
    loc, a, x = (t64(p, True) for p in params)

    def terms(loc, a, x):
        matrix = _covariance(a)
        d = MultivariateNormal(loc, **{which: matrix.tril() if which == "scale_tril" else matrix})
        return d.log_prob(x).sum() + d.entropy().sum()
    assert gradcheck(terms, (loc, a, x))
    assert gradgradcheck(terms, (loc, a, x))


@settings(max_examples=10)
@given(arrays((2, 3), finite), arrays((2, 3), positive), arrays((4, 2, 3), st.floats(0, 1)))
def test_uniform_and_independent_gradcheck(low, width, u):
    low, width = t64(low, True), t64(width, True)
    value = low.detach() + width.detach() * t64(u) * 0.98 + 0.01 * width.detach()   # inside the support

    def terms(low, width):
        tg.manual_seed(3)                          # the same u in every rsample
        d = Independent(Uniform(low, low + width), 1)
        return d.log_prob(value).sum() + d.entropy().sum() + d.rsample((2,)).sum() + d.mean.sum()
    assert gradcheck(terms, (low, width))
    assert gradgradcheck(terms, (low, width))


def test_new_distributions_against_torch():
    torch = pytest.importorskip("torch")
    TD = torch.distributions
    rs = np.random.default_rng(1)
    loc, a, x = rs.normal(size=(2, 3)), rs.normal(size=(2, 3, 3)), rs.normal(size=(4, 2, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)

    def both(make_tg, make_torch, arrays, value):
        ours = [t64(v, True) for v in arrays]
        theirs = [torch.tensor(v, requires_grad=True) for v in arrays]
        p, q = make_tg(*ours), make_torch(*theirs)
        terms = (p.log_prob(t64(value)), p.entropy(), p.mean, p.variance)
        terms_t = (q.log_prob(torch.tensor(value)), q.entropy(), q.mean, q.variance)
        for o, t in zip(terms, terms_t):
            np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
        total = sum(o.sum() for o in terms)
        total_t = sum(t.sum() for t in terms_t)
        for g, gt in zip(tg.grad(total, ours), torch.autograd.grad(total_t, theirs)):
            np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-9, atol=1e-12)
        assert p.batch_shape == tuple(q.batch_shape) and p.event_shape == tuple(q.event_shape)

    both(MultivariateNormal, TD.MultivariateNormal, [loc, cov], x)
    both(lambda m, c: MultivariateNormal(m, precision_matrix=c), lambda m, c: TD.MultivariateNormal(m, precision_matrix=c),
         [loc, cov], x)
    L = np.linalg.cholesky(cov)
    both(lambda m, l: MultivariateNormal(m, scale_tril=l), lambda m, l: TD.MultivariateNormal(m, scale_tril=l),
         [loc[0], L], x)
    low, high = rs.normal(size=(2, 3)), rs.normal(size=(2, 3)) ** 2 + 3
    both(Uniform, TD.Uniform, [low, high], low + 0.5)
    both(lambda m, s: Independent(Normal(m, s), 1), lambda m, s: TD.Independent(TD.Normal(m, s), 1),
         [loc, cov[:, 0] ** 2 + 0.5], x)
    both(lambda lo, hi: Independent(Uniform(lo, hi), 2), lambda lo, hi: TD.Independent(TD.Uniform(lo, hi), 2),
         [low, high], np.stack([low + 0.1, low + 1.5]))
    u = Uniform(t64(low), t64(high))
    q = TD.Uniform(torch.tensor(low), torch.tensor(high))
    np.testing.assert_allclose(u.cdf(t64(low + 1)).numpy(), q.cdf(torch.tensor(low + 1)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(u.icdf(t64(np.full((2, 3), 0.3))).numpy(),
                               q.icdf(torch.tensor(np.full((2, 3), 0.3))).numpy(), rtol=1e-12)


def test_multivariate_normal_with_diagonal_covariance_is_independent_normals():
    """A property of the definition: Sigma = diag(s^2) factorizes the density."""
    loc, s, x = t64([[0.5, -1.0, 2.0]]), t64([[0.7, 1.3, 0.4]]), t64(np.random.default_rng(2).normal(size=(5, 1, 3)))
    mvn = MultivariateNormal(loc, covariance_matrix=tg.diag_embed(s * s))
    diagonal = Independent(Normal(loc, s), 1)
    np.testing.assert_allclose(mvn.log_prob(x).numpy(), diagonal.log_prob(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(mvn.entropy().numpy(), diagonal.entropy().numpy(), rtol=1e-12)
    assert mvn.batch_shape == diagonal.batch_shape == (1,) and mvn.event_shape == diagonal.event_shape == (3,)


def test_new_distributions_sample_moments_and_shapes():
    n = 40000
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    z = MultivariateNormal(t64([1.0, -2.0]), t64(cov)).sample((n,)).numpy()
    assert z.shape == (n, 2)
    np.testing.assert_array_less(np.abs(z.mean(0) - [1.0, -2.0]), 5 * np.sqrt(np.diag(cov) / n))
    np.testing.assert_array_less(np.abs(np.cov(z.T) - cov), 0.05)
    u = Uniform(t64([0.0, -3.0]), t64([1.0, 5.0])).sample((n,)).numpy()
    assert u.shape == (n, 2) and (u[:, 0] >= 0).all() and (u[:, 0] < 1).all() and (u[:, 1] >= -3).all()
    assert abs(u[:, 1].mean() - 1.0) < 5 * 8 / math.sqrt(12 * n)
    assert Independent(Normal(tg.zeros(4, 2, 3), 1.0), 2).sample((5,)).shape == (5, 4, 2, 3)
    assert Uniform(0.0, 1.0).log_prob(t64([-0.5, 0.5, 1.0])).numpy().tolist() == [-np.inf, 0.0, -np.inf]
    with pytest.raises(ValueError, match="exactly one"):
        MultivariateNormal(t64([0.0]))
    with pytest.raises(ValueError, match="low must be less"):
        Uniform(t64([1.0]), t64([1.0]))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        Independent(Normal(tg.zeros(3), 1.0), 2)


def test_kl_of_the_new_distributions_against_torch_and_monte_carlo():
    torch = pytest.importorskip("torch")
    TD = torch.distributions
    rs = np.random.default_rng(3)
    a, b = rs.normal(size=(2, 2, 2)), rs.normal(size=(2, 2, 2))
    cp, cq = a @ a.transpose(0, 2, 1) + np.eye(2), b @ b.transpose(0, 2, 1) + np.eye(2)
    mp, mq = rs.normal(size=(2, 2)), rs.normal(size=(2, 2))
    params = [t64(v, True) for v in (mp, cp, mq, cq)]
    kl = kl_divergence(MultivariateNormal(params[0], params[1]), MultivariateNormal(params[2], params[3]))
    theirs = [torch.tensor(v, requires_grad=True) for v in (mp, cp, mq, cq)]
    kl_t = TD.kl_divergence(TD.MultivariateNormal(theirs[0], theirs[1]), TD.MultivariateNormal(theirs[2], theirs[3]))
    np.testing.assert_allclose(kl.numpy(), kl_t.detach().numpy(), rtol=1e-10)
    for g, gt in zip(tg.grad(kl.sum(), params), torch.autograd.grad(kl_t.sum(), theirs)):
        np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=1e-8, atol=1e-12)
    # Monte Carlo: E_p[log p - log q]
    p, q = MultivariateNormal(t64(mp[0]), t64(cp[0])), MultivariateNormal(t64(mq[0]), t64(cq[0]))
    x = p.sample((20000,))
    mean, bound = mc_bound((p.log_prob(x) - q.log_prob(x)).numpy())
    assert abs(mean - float(kl_divergence(p, q).numpy())) < bound
    lo, hi = t64([0.0, -1.0]), t64([1.0, 2.0])
    uq = Uniform(t64([-0.5, -1.0]), t64([1.0, 1.0]))
    np.testing.assert_allclose(kl_divergence(Uniform(lo, hi), uq).numpy(),
                               TD.kl_divergence(TD.Uniform(torch.tensor([0.0, -1.0], dtype=torch.float64),
                                                           torch.tensor([1.0, 2.0], dtype=torch.float64)),
                                                TD.Uniform(torch.tensor([-0.5, -1.0], dtype=torch.float64),
                                                           torch.tensor([1.0, 1.0], dtype=torch.float64))).numpy())
    ind = kl_divergence(Independent(Normal(t64(mp), 1.0), 1), Independent(Normal(t64(mq), 2.0), 1))
    np.testing.assert_allclose(ind.numpy(), kl_divergence(Normal(t64(mp), 1.0), Normal(t64(mq), 2.0)).numpy().sum(-1))
    assert gradgradcheck(lambda m, c: kl_divergence(MultivariateNormal(m, _covariance(c)),
                                                    MultivariateNormal(t64(mq), t64(cq))), (t64(mp, True), t64(a, True)))
