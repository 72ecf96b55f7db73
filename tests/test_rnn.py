"""Recurrent layers (tinygen/nn/rnn.py): values and gradients equal torch's in float64 with
torch's weights loaded through state_dict; gradcheck and gradgradcheck on tiny shapes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn
from tinygen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

LAYERS = ["RNN", "LSTM", "GRU"]
CELLS = ["RNNCell", "LSTMCell", "GRUCell"]


def pair(name, *args, **kwargs):
    """The same layer in torch (float64, its own init) and tinygen, with torch's weights."""
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def both(a):
    return (torch.tensor(a, requires_grad=True),
            tg.tensor(a, dtype="float64", requires_grad=True))


def flat(out):
    """The output's tensors in order: output, then h_n (and c_n)."""
    if isinstance(out, tuple):
        return [t for o in out for t in flat(o)]
    return [out]


def lstm_call(layer, x, h, c):
    return layer(x, (h, c))                                   # (h_0, c_0) as one argument


def compare(theirs, ours, inputs, rng, call=None):
    """Run both (as call(layer, *inputs)), check every output, then the gradients of a random
    projection of all of them with respect to the inputs and every parameter."""
    call = call or (lambda layer, *xs: layer(*xs))
    tt, gg = zip(*[both(a) for a in inputs])
    t_out, g_out = flat(call(theirs, *tt)), flat(call(ours, *gg))
    assert len(t_out) == len(g_out)
    for a, b in zip(t_out, g_out):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-10, atol=1e-12)
    vs = [rng.standard_normal(tuple(a.shape)) for a in t_out]
    sum(((a * torch.tensor(v)).sum() for a, v in zip(t_out, vs))).backward()
    sum(((b * tg.tensor(v)).sum() for b, v in zip(g_out, vs))).backward()
    for a, b in zip(tt, gg):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-9, atol=1e-11)
    t_params, g_params = dict(theirs.named_parameters()), dict(ours.named_parameters())
    assert list(t_params) == list(g_params)                  # torch's names, torch's order
    for name, p in t_params.items():
        np.testing.assert_allclose(g_params[name].grad.numpy(), p.grad.numpy(), rtol=1e-9,
                                   atol=1e-11, err_msg=name)


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=6, deadline=None)
@given(L=st.integers(1, 4), N=st.integers(1, 3), I=st.integers(1, 3), H=st.integers(1, 3),
       num_layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), with_state=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_layers_equal_torch(name, L, N, I, H, num_layers, bidirectional, batch_first, bias,
                            with_state, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    theirs, ours = pair(name, I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                        bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((N, L, I) if batch_first else (L, N, I))
    inputs = [x]
    if with_state:
        states = [rng.standard_normal((num_layers * D, N, H)) for _ in range(1 + (name == "LSTM"))]
        inputs += states
    compare(theirs, ours, inputs, rng, lstm_call if with_state and name == "LSTM" else None)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_and_relu_rnn(name):
    rng = np.random.default_rng(0)
    kwargs = {"nonlinearity": "relu"} if name == "RNN" else {}
    theirs, ours = pair(name, 3, 2, num_layers=2, bidirectional=True, **kwargs)
    compare(theirs, ours, [rng.standard_normal((4, 3))], rng)   # (L, I): no batch dim


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cells_equal_torch(name, batched, with_state):
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    theirs, ours = pair(name, 3, 4)
    lead = (2,) if batched else ()
    inputs = [rng.standard_normal(lead + (3,))]
    if not with_state:
        compare(theirs, ours, inputs, rng)
    elif name == "LSTMCell":
        states = [rng.standard_normal(lead + (4,)) for _ in range(2)]
        compare(theirs, ours, inputs + states, rng, lstm_call)
    else:
        compare(theirs, ours, inputs + [rng.standard_normal(lead + (4,))], rng)


def test_init_is_uniform_within_one_over_sqrt_hidden():
    tg.manual_seed(0)
    lstm = nn.LSTM(5, 16, num_layers=2, bidirectional=True)
    bound = 1 / math.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound                  # the whole interval is used
    assert abs(values.mean()) < 0.01 and abs(values.var() - bound ** 2 / 3) < 0.003
    assert tuple(lstm.weight_ih_l1_reverse.shape) == (64, 32)   # layer 1 reads 2 H features


def test_dropout_between_layers_only_in_training():
    lstm = nn.LSTM(2, 3, num_layers=2, dropout=0.5).double()
    x = tg.tensor(np.random.default_rng(2).standard_normal((3, 2, 2)))
    tg.manual_seed(0)
    a = lstm(x)[0].numpy()
    tg.manual_seed(1)
    b = lstm(x)[0].numpy()
    assert not np.allclose(a, b)                                # a fresh mask each call
    lstm.eval()
    np.testing.assert_array_equal(lstm(x)[0].numpy(), lstm(x)[0].numpy())
    one = nn.LSTM(2, 3, num_layers=1, dropout=0.5).double()     # nothing between: no dropout
    np.testing.assert_array_equal(one(x)[0].numpy(), one(x)[0].numpy())


@pytest.mark.parametrize("name", LAYERS + CELLS)
def test_gradcheck_and_gradgradcheck(name):
    """First and second derivatives with respect to the input, the state and every
    parameter (gradcheck perturbs the parameters in place, so they are inputs here)."""
    tg.manual_seed(3)
    rng = np.random.default_rng(3)
    if name in LAYERS:   # two layers, both directions: every path between the parameters
        layer = getattr(nn, name)(1, 2, num_layers=2, bidirectional=True).double()
        x, h = rng.standard_normal((2, 1, 1)), rng.standard_normal((4, 1, 2))
    else:
        layer = getattr(nn, name)(2, 2).double()
        x, h = rng.standard_normal((1, 2)), rng.standard_normal((1, 2))
    x, h = tg.tensor(x, requires_grad=True), tg.tensor(h, requires_grad=True)
    params = tuple(layer.parameters())

    def fn(x, h, *ps):
        return tuple(flat(layer(x, (h, h * 0.5) if "LSTM" in name else h)))

    assert gradcheck(fn, (x, h) + params)
    assert gradgradcheck(fn, (x, h) + params, fast_mode=True)


def test_bad_input_names_the_layer_and_shapes():
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM.*\(2, 5, 2\)"):
        lstm(tg.zeros(2, 5, 2))
    with pytest.raises(ValueError, match="state"):
        lstm(tg.zeros(2, 5, 3), (tg.zeros(1, 4, 4), tg.zeros(1, 4, 4)))
    with pytest.raises(ValueError, match="GRUCell"):
        nn.GRUCell(3, 4)(tg.zeros(2, 2))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 2, nonlinearity="sigmoid")
