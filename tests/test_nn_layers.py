"""Layers: Linear / Conv2d / ConvTranspose2d gradients and agreement with torch; the PixelCNN
MaskedConv2d (mask values, exactly-zero masked gradients, receptive field); the small
activation and shape layers."""
import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.nn.conv import causal_mask


def _x(shape, seed=0):
    rs = np.random.default_rng(seed)
    return tg.tensor(rs.standard_normal(shape), dtype="float64", requires_grad=True)


# ---- gradients of the modules' forward, in float64 ----------------------------------------

@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(3, 2), (4, 3)),
    (lambda: nn.Linear(3, 2, bias=False), (2, 5, 3)),
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5)),
    (lambda: nn.Conv2d(1, 2, (2, 3), dilation=(2, 1), bias=False), (1, 1, 5, 4)),
    (lambda: nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (1, 2, 3, 3)),
    (lambda: nn.ConvTranspose2d(2, 1, 3, stride=2, output_padding=1), (1, 2, 2, 3)),
    (lambda: nn.MaskedConv2d(2, 2, 3, "B", padding=1), (1, 2, 3, 3)),
])
def test_module_forward_gradcheck_and_gradgradcheck(make, shape):
    m = make().double()
    params = tuple(m.parameters())
    x = _x(shape)

    def fn(x, *ps):
        return m(x)

    assert gradcheck(fn, (x,) + params)
    assert gradgradcheck(fn, (x,) + params)


def _torch_copy(torch, ours, theirs):
    with torch.no_grad():
        for name, t in ours.state_dict().items():
            getattr(theirs, name).copy_(torch.from_numpy(t.numpy().copy()))


@pytest.mark.parametrize("ours_make, torch_name, args, kwargs, shape", [
    (nn.Linear, "Linear", (5, 3), {}, (4, 5)),
    (nn.Conv2d, "Conv2d", (3, 4, 3), dict(stride=2, padding=1), (2, 3, 7, 6)),
    (nn.Conv2d, "Conv2d", (2, 2, (3, 2)), dict(dilation=2, bias=False), (1, 2, 7, 7)),
    (nn.ConvTranspose2d, "ConvTranspose2d", (4, 2, 4), dict(stride=2, padding=1), (2, 4, 3, 3)),
    (nn.ConvTranspose2d, "ConvTranspose2d", (2, 3, 3), dict(stride=2, output_padding=1), (1, 2, 3, 4)),
])
def test_layers_match_torch(ours_make, torch_name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    ours = ours_make(*args, **kwargs).double()
    theirs = getattr(torch.nn, torch_name)(*args, **kwargs).double()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    _torch_copy(torch, ours, theirs)
    a = np.random.default_rng(0).standard_normal(shape)
    x, xt = tg.tensor(a, dtype="float64", requires_grad=True), torch.tensor(a, requires_grad=True)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (n, p), pt in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=n)


# ---- MaskedConv2d --------------------------------------------------------------------------

def test_causal_masks():
    np.testing.assert_array_equal(causal_mask(3, "A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask(3, "B"), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask(5, "A")[2], [1, 1, 0, 0, 0])
    assert causal_mask(7, "A").sum() == 24 and causal_mask(7, "B").sum() == 25
    assert causal_mask((1, 3), "B").tolist() == [[True, True, False]]
    with pytest.raises(ValueError, match="mask_type"):
        causal_mask(3, "C")
    with pytest.raises(ValueError, match="causal_mask: kernel_size must be an int or a pair"):
        causal_mask((3, 3, 3), "A")


@pytest.mark.parametrize("build, message", [
    (lambda: nn.Conv2d(1, 2, (3, 3, 3)), "Conv2d: kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(1, 2, 3, stride=(1, 2.5)), "Conv2d: stride must be"),
    (lambda: nn.MaskedConv2d(1, 2, "3"), "MaskedConv2d: kernel_size must be"),
    (lambda: nn.ConvTranspose2d(1, 2, 3, output_padding=None), "ConvTranspose2d: output_padding"),
    (lambda: nn.Conv1d(1, 2, (3, 3)), "Conv1d: kernel_size must be an int or a 1-tuple"),
])
def test_conv_layers_name_themselves_and_the_argument_in_a_bad_size(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_masked_weights_are_zero_from_the_start_and_the_mask_is_not_saved():
    m = nn.MaskedConv2d(3, 4, 5, "A", padding=2)
    hidden = ~causal_mask(5, "A")
    w = m.weight.numpy()
    assert (w[..., hidden] == 0).all() and not np.signbit(w[..., hidden]).any()   # +0.0
    assert (w[..., ~hidden] != 0).all()
    assert list(m.state_dict()) == ["weight", "bias"]
    m.reset_parameters()
    assert (m.weight.numpy()[..., hidden] == 0).all()
    assert "mask_type='A'" in repr(m)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_weights_get_exactly_zero_gradient_and_never_change_under_adam(mask_type):
    m = nn.MaskedConv2d(2, 3, 3, mask_type, padding=1)
    hidden = ~causal_mask(3, mask_type)
    w0 = m.weight.numpy().copy()
    opt = optim.Adam(m.parameters(), lr=0.1, weight_decay=0.1)
    for step in range(4):
        opt.zero_grad()
        loss = (m(tg.randn(2, 2, 4, 4)) ** 2).sum()
        loss.backward()
        g = m.weight.grad.numpy()
        assert (g[..., hidden] == 0).all()
        assert np.abs(g[..., ~hidden]).min() > 0
        opt.step()
    w = m.weight.numpy()
    assert w[..., hidden].tobytes() == w0[..., hidden].tobytes()     # still exactly +0.0
    assert (w[..., ~hidden] != w0[..., ~hidden]).all()                # the rest did learn
    sgd = optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    for step in range(2):
        sgd.zero_grad()
        m(tg.randn(1, 2, 3, 3)).sum().backward()
        sgd.step()
    assert m.weight.numpy()[..., hidden].tobytes() == w0[..., hidden].tobytes()


def _dependence(model, H, W):
    """D[i, j] = True when output pixel i (raster order) depends on input pixel j, by autograd."""
    x = tg.randn(1, 1, H, W, dtype="float64", requires_grad=True)
    y = model(x)                                                 # (1, 1, H, W)
    D = np.zeros((H * W, H * W), dtype=bool)
    for i in range(H * W):
        (gx,) = tg.grad(y[0, 0, i // W, i % W], x, retain_graph=True)
        D[i] = gx.numpy().reshape(-1) != 0
    return D


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_receptive_field(mask_type):
    H, W = 4, 5
    m = nn.MaskedConv2d(1, 1, 3, mask_type, padding=1).double()
    D = _dependence(m, H, W)
    i, j = np.indices(D.shape)
    assert not D[j > i].any()                                    # never a later pixel
    if mask_type == "B":
        assert D.diagonal().all()                                # x_i sees itself ...
    else:
        assert not D.diagonal().any()                            # ... only with mask B
    # and it does see the causal 3x3 neighbourhood: the pixel to the left and the row above
    for p in range(H * W):
        r, c = divmod(p, W)
        if c > 0:
            assert D[p, p - 1]
        if r > 0:
            assert D[p, p - W]


def test_stacked_masks_a_then_b_stay_strictly_causal():
    H, W = 5, 5
    tg.manual_seed(3)
    model = nn.Sequential(nn.MaskedConv2d(1, 4, 3, "A", padding=1), nn.Tanh(),
                          nn.MaskedConv2d(4, 4, 3, "B", padding=1), nn.Tanh(),
                          nn.MaskedConv2d(4, 1, 3, "B", padding=1)).double()
    D = _dependence(model, H, W)
    i, j = np.indices(D.shape)
    assert not D[j >= i].any()                                   # x_i never sees x_i or later
    assert D[W * H - 1, :W * H - 1].sum() > 10                   # the last pixel sees much before it


# ---- small layers --------------------------------------------------------------------------

def test_activation_and_shape_layers():
    x = tg.tensor([[-2.0, -0.5, 0.0, 1.5]])
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), [[0, 0, 0, 1.5]])
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(x).numpy(), [[-0.4, -0.1, 0, 1.5]], rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(nn.ELU(0.5)(x).numpy(), np.where(x.numpy() > 0, x.numpy(),
                               0.5 * np.expm1(x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(nn.Softplus(beta=2.0)(x).numpy(),
                               np.log1p(np.exp(2 * x.numpy())) / 2, rtol=1e-6)
    assert nn.Identity(3, k=1)(x) is x
    img = tg.randn(2, 3, 4, 5)
    assert nn.Flatten()(img).shape == (2, 60)
    assert nn.Unflatten(1, (3, 4, 5))(nn.Flatten()(img)).shape == (2, 3, 4, 5)
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = tg.ones(200, 100)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert d.eval()(x) is x
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


@pytest.mark.parametrize("build, x_shape, y_shape", [
    (lambda m: m.nn.Linear(0, 3), (2, 0), (2, 3)),
    (lambda m: m.nn.Conv2d(0, 2, 3), (1, 0, 5, 5), (1, 2, 3, 3)),
    (lambda m: m.nn.ConvTranspose2d(0, 2, 3), (1, 0, 4, 4), (1, 2, 6, 6)),
    (lambda m: m.nn.Linear(4, 0), (2, 4), (2, 0)),
])
def test_layers_with_zero_features_build_and_run_as_torch(build, x_shape, y_shape):
    """torch builds them (its kaiming init warns and leaves the empty weight); tinygen raised
    ZeroDivisionError computing 1/sqrt(fan_in). The output is the bias (a sum over no inputs;
    torch's Conv2d gives (1, 0, 3, 3) for an input of no channels, tinygen the bias's planes)."""
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="zero-element"):
        layer = build(tg)
    with pytest.warns(UserWarning, match="zero-element"):
        reference = build(torch)
    assert tuple(layer.weight.shape) == tuple(reference.weight.shape)
    y = layer(tg.ones(*x_shape))
    bias = layer.bias.numpy().reshape((-1,) + (1,) * (len(y_shape) - 2))
    assert tuple(y.shape) == y_shape
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(bias, y_shape))
    y.sum().backward()
    assert tuple(layer.weight.grad.shape) == tuple(layer.weight.shape)
    assert tuple(layer.bias.grad.shape) == tuple(layer.bias.shape)
