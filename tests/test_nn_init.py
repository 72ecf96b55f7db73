"""nn.init: every initializer's distribution checked by its bounds and moments (large draws,
tolerances of several standard errors), the deterministic ones exactly, and calculate_gain
against torch's."""
import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.nn import init

N = 200_000


def _draw(fn, shape=(400, 500), **kwargs):
    return fn(tg.empty(*shape, dtype="float64"), **kwargs).numpy()


def _moments(x, mean, std, k=6):
    """Sample mean and std within k standard errors of the expected ones."""
    n = x.size
    assert abs(x.mean() - mean) < k * std / math.sqrt(n)
    assert abs(x.std() - std) < k * std / math.sqrt(2 * n)


def test_uniform_and_normal():
    x = _draw(init.uniform_, a=-2.0, b=3.0)
    assert x.min() >= -2 and x.max() < 3
    _moments(x, 0.5, 5 / math.sqrt(12))
    _moments(_draw(init.normal_, mean=1.5, std=0.3), 1.5, 0.3)


def test_constant_zeros_ones_eye():
    assert np.all(_draw(init.constant_, (3, 4), val=0.25) == 0.25)
    assert np.all(_draw(init.zeros_, (3, 4)) == 0) and np.all(_draw(init.ones_, (3, 4)) == 1)
    np.testing.assert_array_equal(_draw(init.eye_, (3, 5)), np.eye(3, 5))
    with pytest.raises(ValueError, match="eye_"):
        init.eye_(tg.empty(2, 2, 2))


@pytest.mark.parametrize("groups", [1, 2])
def test_dirac_makes_the_identity_convolution(groups):
    w = init.dirac_(tg.empty(4, 4 // groups, 3, 3, dtype="float64"), groups)
    assert w.numpy().sum() == 4
    if groups == 1:
        x = tg.randn(2, 4, 5, 5, dtype="float64")
        np.testing.assert_array_equal(F.conv2d(x, w, padding=1).numpy(), x.numpy())
    w1 = init.dirac_(tg.empty(3, 3, 5, dtype="float64"))
    x = tg.randn(1, 3, 7, dtype="float64")
    np.testing.assert_array_equal(F.conv1d(x, w1, padding=2).numpy(), x.numpy())


def test_xavier():
    fan_in, fan_out = 500, 400
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    x = _draw(init.xavier_uniform_, gain=2.0)
    assert x.min() >= -bound and x.max() <= bound
    _moments(x, 0, bound / math.sqrt(3))
    _moments(_draw(init.xavier_normal_), 0, math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("mode, fan", [("fan_in", 3 * 9), ("fan_out", 40 * 9)])
def test_kaiming(mode, fan):
    shape = (40, 3, 3, 3)
    draws = np.concatenate([_draw(init.kaiming_uniform_, shape, mode=mode, nonlinearity="relu").ravel()
                            for _ in range(200)])
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert draws.min() >= -bound and draws.max() <= bound
    _moments(draws, 0, bound / math.sqrt(3))
    draws = np.concatenate([_draw(init.kaiming_normal_, shape, a=0.2, mode=mode).ravel()
                            for _ in range(200)])
    _moments(draws, 0, math.sqrt(2 / (1 + 0.04)) / math.sqrt(fan))


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3, 3)])
def test_orthogonal(shape):
    w = _draw(init.orthogonal_, shape, gain=1.5).reshape(shape[0], -1) / 1.5
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_orthogonal_is_uniform_over_rotations():
    # the first entry of a Haar-random 2x2 rotation/reflection is cos(theta), theta uniform
    entries = np.array([_draw(init.orthogonal_, (2, 2))[0, 0] for _ in range(4000)])
    assert abs(entries.mean()) < 0.05 and abs((entries ** 2).mean() - 0.5) < 0.03


def test_trunc_normal():
    x = _draw(init.trunc_normal_, mean=0.0, std=1.0, a=-1.0, b=2.0)
    assert x.min() >= -1 and x.max() <= 2
    # moments of N(0, 1) truncated to [a, b]
    a, b = -1.0, 2.0
    phi = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)       # noqa: E731
    Phi = lambda t: (1 + math.erf(t / math.sqrt(2))) / 2                  # noqa: E731
    z = Phi(b) - Phi(a)
    mean = (phi(a) - phi(b)) / z
    var = 1 + (a * phi(a) - b * phi(b)) / z - mean ** 2
    _moments(x, mean, math.sqrt(var))
    with pytest.raises(ValueError, match="trunc_normal_"):
        init.trunc_normal_(tg.empty(3), a=1.0, b=0.0)


def test_initializers_are_reproducible_and_outside_the_graph():
    w = tg.empty(3, 4, requires_grad=True)
    tg.manual_seed(5)
    a = init.orthogonal_(w).numpy().copy()
    tg.manual_seed(5)
    assert np.array_equal(init.orthogonal_(w).numpy(), a)
    assert w.is_leaf and w.requires_grad
    tg.manual_seed(5)
    b = init.trunc_normal_(w, std=0.02).numpy().copy()
    tg.manual_seed(5)
    assert np.array_equal(init.trunc_normal_(w, std=0.02).numpy(), b)


def test_calculate_gain_equals_torch():
    torch = pytest.importorskip("torch")
    cases = [("linear", None), ("conv1d", None), ("conv_transpose2d", None), ("sigmoid", None),
             ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]
    for name, param in cases:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


@pytest.mark.parametrize("values", [lambda p: p.data, lambda p: p.array],
                         ids=["torch's .data", "the raw .array"])
def test_initializers_write_through_data_as_torch_scripts_do(values):
    # the DCGAN tutorial's weights_init: nn.init.normal_(m.weight.data, 0.0, 0.02)
    import tinygen.nn as nn
    conv, bn = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)
    init.normal_(values(conv.weight), 0.0, 0.02)
    init.normal_(values(bn.weight), 1.0, 0.02)
    init.constant_(values(bn.bias), 0)
    assert abs(conv.weight.numpy().std() - 0.02) < 0.01 and abs(bn.weight.numpy().mean() - 1) < 0.05
    assert np.all(bn.bias.numpy() == 0)
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_, init.dirac_,
               init.trunc_normal_, init.zeros_):
        a = np.full((3, 2, 3, 3), 7.0, dtype=np.float32)
        assert fn(a) is a and a.dtype == np.float32 and not np.any(a == 7.0)   # every entry written
    assert init.eye_(np.empty((2, 3))).tolist() == np.eye(2, 3).tolist()
