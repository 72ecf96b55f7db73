"""Batch norm and layer norm: the functional forms' gradients (first and second order), the
modules' train/eval semantics and running statistics, and agreement with torch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck, gradgradcheck


def _t(shape, seed, requires_grad=True):
    rs = np.random.default_rng(seed)
    return tg.tensor(rs.standard_normal(shape), dtype="float64", requires_grad=requires_grad)


# ---- functional forms: values and gradients ------------------------------------------------

@settings(max_examples=8)
@given(shape=st.sampled_from([(3, 2), (4, 3, 2), (2, 2, 2, 3), (3, 1, 2, 2)]),
       seed=st.integers(0, 100))
def test_batch_norm_training_gradcheck_and_gradgradcheck(shape, seed):
    x, w, b = _t(shape, seed), _t(shape[1], seed + 1), _t(shape[1], seed + 2)

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


@settings(max_examples=10)
@given(shape=st.sampled_from([(3, 2), (4, 3, 2), (2, 2, 2, 3), (5, 1)]), seed=st.integers(0, 100),
       activation=st.sampled_from([("relu", 0.01), ("leaky_relu", 0.2), ("leaky_relu", -0.7)]),
       affine=st.sampled_from(["both", "weight", "none"]), training=st.booleans())
def test_batch_norm_with_activation_gradcheck_and_gradgradcheck(shape, seed, activation, affine,
                                                                training):
    x = _t(shape, seed)
    w = _t(shape[1], seed + 1) if affine != "none" else None
    b = _t(shape[1], seed + 2) if affine == "both" else None
    rm = tg.tensor(np.linspace(-0.5, 0.5, shape[1]), dtype="float64")
    rv = tg.tensor(np.linspace(0.5, 2.0, shape[1]), dtype="float64")
    name, slope = activation
    inputs = tuple(t for t in (x, w, b) if t is not None)

    def fn(*args):
        wb = list(args[1:]) + [None] * (3 - len(args))
        return F.batch_norm(args[0], rm, rv, wb[0], wb[1], training=training,
                            activation=name, negative_slope=slope)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_batch_norm_activation_equals_the_two_ops():
    x, w, b = _t((6, 3, 2, 2), 0), _t(3, 1), _t(3, 2)
    for name, act in [("relu", F.relu), ("leaky_relu", lambda y: F.leaky_relu(y, 0.2))]:
        fused = F.batch_norm(x, None, None, w, b, True, activation=name, negative_slope=0.2)
        plain = act(F.batch_norm(x, None, None, w, b, True))
        np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-12, atol=1e-14)
        gy = _t(x.shape, 3, requires_grad=False)
        got = tg.grad(fused, (x, w, b), gy)
        want = tg.grad(plain, (x, w, b), gy)
        for g, r in zip(got, want):
            np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="activation must be"):
        F.batch_norm(x, None, None, training=True, activation="gelu")


def test_batch_norm_eval_gradcheck_and_gradgradcheck():
    x, w, b = _t((3, 2, 2, 2), 0), _t(2, 1), _t(2, 2)
    rm = tg.tensor([0.3, -0.2], dtype="float64")
    rv = tg.tensor([1.5, 0.7], dtype="float64")

    def fn(x, w, b):
        return F.batch_norm(x, rm, rv, w, b, training=False)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


@settings(max_examples=8)
@given(shape=st.sampled_from([(3, 4), (2, 3, 4), (2, 2, 3)]), k=st.sampled_from([1, 2]),
       seed=st.integers(0, 100))
def test_layer_norm_gradcheck_and_gradgradcheck(shape, k, seed):
    normalized = shape[-k:]
    x, w, b = _t(shape, seed), _t(normalized, seed + 1), _t(normalized, seed + 2)

    def fn(x, w, b):
        return F.layer_norm(x, normalized, w, b)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_batch_norm_training_output_is_standardized_per_channel():
    x = tg.randn(16, 3, 4, 4) * 5 + 2
    y = F.batch_norm(x, None, None, training=True).numpy().astype(np.float64)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)


def test_batch_norm_needs_more_than_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tg.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="layer_norm"):
        F.layer_norm(tg.randn(2, 3), (4,))


# ---- module semantics ----------------------------------------------------------------------

def test_batchnorm_running_statistics_follow_momentum_with_unbiased_variance():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x1, x2 = tg.randn(4, 3, 2, 2) + 1, tg.randn(4, 3, 2, 2) * 3
    bn(x1)
    bn(x2)
    n = 4 * 2 * 2
    rm, rv = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        a = x.numpy().astype(np.float64)
        rm = 0.8 * rm + 0.2 * a.mean(axis=(0, 2, 3))
        rv = 0.8 * rv + 0.2 * a.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 2


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [tg.randn(5, 2) + i for i in range(3)]
    for x in xs:
        bn(x)
    means = [x.numpy().astype(np.float64).mean(axis=0) for x in xs]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-5)


def test_batchnorm_eval_uses_running_statistics_and_changes_nothing():
    bn = nn.BatchNorm1d(3)
    with tg.no_grad():
        bn.weight.copy_(np.array([1.0, 2.0, 0.5], dtype=np.float32))
        bn.bias.copy_(np.array([0.0, -1.0, 3.0], dtype=np.float32))
        bn.running_mean.copy_(np.array([0.5, -0.5, 2.0], dtype=np.float32))
        bn.running_var.copy_(np.array([4.0, 0.25, 1.0], dtype=np.float32))
    bn.eval()
    x = tg.randn(6, 3, 5)                                        # (N, C, L)
    y = bn(x).numpy()
    expected = ((x.numpy() - bn.running_mean.numpy()[:, None])
                / np.sqrt(bn.running_var.numpy()[:, None] + 1e-5)
                * bn.weight.numpy()[:, None] + bn.bias.numpy()[:, None])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0.5, -0.5, 2.0])
    assert bn.num_batches_tracked.item() == 0
    # eval mode gives each example an output that does not depend on the rest of the batch
    np.testing.assert_allclose(bn(x[:1]).numpy(), y[:1], rtol=1e-6)


def test_batchnorm_without_running_stats_always_uses_the_batch():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False).eval()
    assert bn.running_mean is None and list(bn.parameters()) == [] and list(bn.state_dict()) == []
    y = bn(tg.randn(8, 2) * 4 + 1).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)


def test_batchnorm_checks_its_input():
    with pytest.raises(ValueError, match="BatchNorm2d\\(3\\)"):
        nn.BatchNorm2d(3)(tg.randn(2, 3))
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm1d(3)(tg.randn(2, 4))


# ---- against torch -------------------------------------------------------------------------

def _copy_to_torch(torch, ours, theirs):
    with torch.no_grad():
        for name, t in ours.state_dict().items():
            getattr(theirs, name).copy_(torch.from_numpy(t.numpy().copy()))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 3, 3)])
def test_batchnorm_matches_torch_in_train_and_eval(shape):
    torch = pytest.importorskip("torch")
    ours = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(3, momentum=0.3).double()
    theirs = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(3, momentum=0.3).double()
    with tg.no_grad():
        ours.weight.copy_(np.array([1.5, -0.5, 2.0]))
        ours.bias.copy_(np.array([0.1, 0.2, -0.3]))
    _copy_to_torch(torch, ours, theirs)
    rs = np.random.default_rng(0)
    for step in range(3):
        a = rs.standard_normal(shape) * (step + 1) + step
        x, xt = tg.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, requires_grad=True)
        gy = rs.standard_normal(shape)
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        y.backward(tg.tensor(gy, dtype="float64"))
        yt.backward(torch.tensor(gy))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-9)
        np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-9)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(),
                                   rtol=1e-12)
    ours.eval(), theirs.eval()
    a = rs.standard_normal(shape)
    np.testing.assert_allclose(ours(tg.tensor(a, dtype="float64")).numpy(),
                               theirs(torch.tensor(a)).detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, act", [((8, 300), ("LeakyReLU", 0.2)), ((4, 3, 5), ("ReLU",)),
                                        ((4, 3, 3, 3), ("ReLU",)), ((4, 3, 3, 3), ("LeakyReLU", 0.2))])
def test_sequential_batchnorm_activation_matches_torch_in_train_and_eval(shape, act):
    # nn.Sequential runs BatchNorm + ReLU/LeakyReLU as one fused op: same values, gradients
    # and running estimates as torch's two modules, in training and evaluation
    torch = pytest.importorskip("torch")
    C = shape[1]
    bn, tbn = ((nn.BatchNorm2d, torch.nn.BatchNorm2d) if len(shape) == 4
               else (nn.BatchNorm1d, torch.nn.BatchNorm1d))
    ours = nn.Sequential(bn(C, momentum=0.3), getattr(nn, act[0])(*act[1:])).double()
    theirs = torch.nn.Sequential(tbn(C, momentum=0.3), getattr(torch.nn, act[0])(*act[1:])).double()
    rs = np.random.default_rng(1)
    with tg.no_grad():
        ours[0].weight.copy_(rs.standard_normal(C))
        ours[0].bias.copy_(rs.standard_normal(C))
    _copy_to_torch(torch, ours[0], theirs[0])
    for step in range(3):
        a = rs.standard_normal(shape) * (step + 1) + step
        x, xt = tg.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        assert y.creator.name == "BatchNorm"                         # one fused node
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        gy = rs.standard_normal(shape)
        y.backward(tg.tensor(gy, dtype="float64"))
        yt.backward(torch.tensor(gy))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours[0].weight.grad.numpy(), theirs[0].weight.grad.numpy(),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours[0].bias.grad.numpy(), theirs[0].bias.grad.numpy(),
                                   rtol=1e-9, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours[0], name).numpy(), getattr(theirs[0], name).numpy(),
                                   rtol=1e-12)
    ours.eval(), theirs.eval()
    a = rs.standard_normal(shape)
    x, xt = tg.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sequential_does_not_fuse_a_batchnorm_or_activation_with_hooks():
    model = nn.Sequential(nn.BatchNorm1d(3), nn.ReLU()).double()
    x = _t((4, 3), 0)
    assert model(x).creator.name == "BatchNorm"
    seen = []
    model[1].register_forward_hook(lambda m, args, out: seen.append(out))
    y = model(x)
    assert len(seen) == 1 and y.creator.name != "BatchNorm"
    np.testing.assert_array_equal(y.numpy(), np.maximum(F.batch_norm(x, None, None, training=True).numpy(), 0))


def test_layernorm_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LayerNorm((3, 4)).double(), torch.nn.LayerNorm((3, 4)).double()
    with tg.no_grad():
        nn.init.normal_(ours.weight)
        nn.init.normal_(ours.bias)
    _copy_to_torch(torch, ours, theirs)
    a = np.random.default_rng(1).standard_normal((2, 5, 3, 4))
    x, xt = tg.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-9)


def test_layernorm_module_options():
    ln = nn.LayerNorm(4, elementwise_affine=False)
    assert list(ln.parameters()) == []
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    y = ln(tg.randn(3, 4) * 7).numpy()
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
