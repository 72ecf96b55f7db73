"""Module and Parameter: registration, walking the tree, modes, devices, state_dict, repr;
and the default initializations of nn.init."""
import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from tinygen import backend
from tinygen.autograd.tensor import Tensor


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.register_buffer("scale", tg.ones(4))
        self.register_buffer("cache", tg.zeros(2), persistent=False)

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 1, bias=False)])
        self.temperature = nn.Parameter(tg.tensor([1.0]))
        self.not_a_param = tg.zeros(3)  # a plain Tensor attribute: not registered

    def forward(self, x):
        h = self.block(x)
        return [head(h) * self.temperature for head in self.heads]


# ---- Parameter -----------------------------------------------------------------------------

def test_parameter_is_a_leaf_tensor_that_requires_grad_and_shares_memory():
    t = tg.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert p.array is t.array
    assert type(p * 2) is Tensor and type(Tensor.wrap(p.array, "cpu", False)) is Tensor
    assert nn.Parameter(np.zeros(3)).dtype == np.float64          # arrays keep their dtype
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32           # lists become float32
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")


def test_parameter_gets_gradients():
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])


# ---- registration and walking ----------------------------------------------------------

def test_named_parameters_buffers_modules_of_a_nested_model():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["temperature", "block.fc.weight", "block.fc.bias", "block.bn.weight",
                     "block.bn.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "block.scale", "block.cache", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == [
        "", "block", "block.fc", "block.bn", "heads", "heads.0", "heads.1"]
    assert [n for n, _ in net.named_children()] == ["block", "heads"]
    assert list(net.children()) == [net.block, net.heads]
    assert len(list(net.modules())) == 7
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["temperature"]
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert "not_a_param" not in dict(net.named_parameters())


def test_shared_parameters_are_listed_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]   # as torch


def test_reassignment_and_deletion_update_the_tables():
    m = nn.Module()
    m.w = nn.Parameter(tg.zeros(2))
    m.w = nn.Linear(1, 1)                            # now a sub-module, no longer a parameter
    assert "w" not in m._parameters and "w" in m._modules
    m.w = None
    assert list(m.children()) == []
    m.p = nn.Parameter(tg.zeros(1))
    with pytest.raises(TypeError, match="parameter 'p'"):
        m.p = tg.zeros(1)                            # a plain Tensor cannot replace a parameter
    m.p = None
    assert list(m.parameters()) == []
    m.register_buffer("b", tg.zeros(1))
    m.b = tg.ones(1)                                 # buffers accept Tensors
    assert m.b.item() == 1.0 and "b" in m.state_dict()
    del m.b
    assert "b" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing


def test_assigning_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_sequential_and_module_list():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = tg.randn(5, 3)
    y = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).numpy(), y.numpy())
    assert len(seq) == 3 and isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert isinstance(seq[-1], nn.Linear)
    ml = nn.ModuleList()
    ml.append(nn.Linear(1, 1)).extend([nn.Tanh(), nn.Linear(1, 2)])
    ml.insert(1, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Linear", "Identity", "Tanh", "Linear"]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert isinstance(ml[1:3], nn.ModuleList) and ml[-1] is ml[3]
    with pytest.raises(IndexError):
        ml[4]


# ---- modes, grads, devices and dtypes ------------------------------------------------------

def test_train_eval_propagate_to_every_module():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_sets_to_none_by_default_or_zeros():
    net = Net()
    sum(y.sum() for y in net(tg.randn(4, 3))).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_double_casts_floating_state_in_place_and_keeps_the_parameter_objects():
    net = Net()
    params = list(net.parameters())
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.block.bn.running_mean.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64   # integer buffers stay integer
    y = net(tg.randn(4, 3, dtype="float64"))
    assert y[0].dtype == np.float64
    net.to(tg.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_to_cuda_moves_parameters_buffers_and_grads():
    if not backend.cuda_is_available():
        pytest.skip("no cuda device (and no simulator)")
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    m(tg.randn(4, 2)).sum().backward()
    m.to("cuda")
    assert all(t.device == "cuda" for t in list(m.parameters()) + list(m.buffers()))
    assert all(p.grad.device == "cuda" for p in m.parameters())
    y = m(tg.randn(4, 2, device="cuda"))
    assert y.device == "cuda"
    m.cpu()
    assert all(t.device == "cpu" for t in list(m.parameters()) + list(m.buffers()))


# ---- state_dict ----------------------------------------------------------------------------

def test_state_dict_keys_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["temperature", "block.scale", "block.fc.weight", "block.fc.bias",
                        "block.bn.weight", "block.bn.bias", "block.bn.running_mean",
                        "block.bn.running_var", "block.bn.num_batches_tracked",
                        "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert "block.cache" not in sd                          # non-persistent buffer
    assert not sd["block.fc.weight"].requires_grad          # detached ...
    assert sd["block.fc.weight"].array is net.block.fc.weight.array   # ... sharing memory
    assert net.state_dict(keep_vars=True)["block.fc.weight"] is net.block.fc.weight


def _snapshot(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


def test_state_dict_round_trip_is_bitwise():
    tg.manual_seed(1)
    a = Net()
    a(tg.randn(8, 3))                                       # move the running statistics
    tg.manual_seed(2)
    b = Net()
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    sa, sb = _snapshot(a), _snapshot(b)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and sa[k].tobytes() == sb[k].tobytes(), k
    # loading copies: changing a afterwards does not change b
    with tg.no_grad():
        a.block.fc.weight.add_(1.0)
    assert _snapshot(b)["block.fc.weight"].tobytes() == sb["block.fc.weight"].tobytes()


def test_load_state_dict_accepts_numpy_arrays_and_casts_to_the_parameter_dtype():
    a, b = Net(), Net().double()
    b.load_state_dict({k: v.numpy() for k, v in a.state_dict().items()})
    np.testing.assert_array_equal(b.block.fc.weight.numpy(),
                                  a.block.fc.weight.numpy().astype(np.float64))
    assert b.block.fc.weight.dtype == np.float64


def test_load_state_dict_reports_every_problem_by_name_and_changes_nothing():
    net = Net()
    before = _snapshot(net)
    sd = {k: v.numpy().copy() + 1 for k, v in net.state_dict().items()}
    del sd["block.fc.bias"]
    sd["block.fc.extra"] = np.zeros(2)
    sd["heads.0.weight"] = np.zeros((5, 4))
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "block.fc.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "block.fc.extra"' in msg
    assert "size mismatch for heads.0.weight" in msg and "(5, 4)" in msg and "(2, 4)" in msg
    after = _snapshot(net)
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)
    # strict=False tolerates missing/unexpected keys, never a wrong shape
    with pytest.raises(RuntimeError, match="size mismatch for heads.0.weight"):
        net.load_state_dict(sd, strict=False)
    sd["heads.0.weight"] = np.zeros((2, 4))
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["block.fc.bias"] and unexpected == ["block.fc.extra"]
    np.testing.assert_array_equal(net.heads[0].weight.numpy(), 0)


def test_repr_shows_the_tree():
    text = repr(Net())
    assert "(block): Block(" in text
    assert "(fc): Linear(in_features=3, out_features=4, bias=True)" in text
    assert "(1): Linear(in_features=4, out_features=1, bias=False)" in text
    assert repr(nn.ReLU()) == "ReLU()"


# ---- initialization ------------------------------------------------------------------------

def _check_uniform(values, bound):
    values = values.ravel()
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.9 * bound          # the range is used, not a smaller one
    assert abs(values.mean()) < 0.05 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound


def test_linear_default_init_bounds():
    m = nn.Linear(200, 300)
    _check_uniform(m.weight.numpy(), 1 / math.sqrt(200))
    _check_uniform(nn.Linear(50, 3000).bias.numpy(), 1 / math.sqrt(50))


def test_conv_default_init_bounds():
    c = nn.Conv2d(16, 32, 3)                                  # fan_in = 16 * 9
    _check_uniform(c.weight.numpy(), 1 / math.sqrt(16 * 9))
    _check_uniform(nn.Conv2d(8, 4000, 3).bias.numpy(), 1 / math.sqrt(8 * 9))
    t = nn.ConvTranspose2d(32, 16, 4)                         # torch's fan_in = C_out * kh * kw
    assert t.weight.shape == (32, 16, 4, 4)
    _check_uniform(t.weight.numpy(), 1 / math.sqrt(16 * 16))


def test_seeded_initialization_is_reproducible():
    tg.manual_seed(7)
    a = Net()
    tg.manual_seed(7)
    b = Net()
    assert all(x.numpy().tobytes() == y.numpy().tobytes()
               for x, y in zip(a.parameters(), b.parameters()))


def test_init_functions():
    w = tg.empty(400, 300)
    _check_uniform(nn.init.xavier_uniform_(w, gain=2.0).numpy(), 2.0 * math.sqrt(6 / 700))
    _check_uniform(nn.init.kaiming_uniform_(w, nonlinearity="relu").numpy(),
                   math.sqrt(2) * math.sqrt(3 / 300))
    _check_uniform(nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu").numpy(),
                   math.sqrt(2) * math.sqrt(3 / 400))
    assert abs(nn.init.kaiming_normal_(w, nonlinearity="relu").numpy().std()
               - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    assert abs(nn.init.xavier_normal_(w).numpy().std() - math.sqrt(2 / 700)) < 0.02 * math.sqrt(2 / 700)
    assert abs(nn.init.normal_(w, 3.0, 0.5).numpy().mean() - 3.0) < 0.01
    _check_uniform(nn.init.uniform_(w, -0.2, 0.2).numpy(), 0.2)
    np.testing.assert_array_equal(nn.init.constant_(w, 0.25).numpy(), 0.25)
    np.testing.assert_array_equal(nn.init.zeros_(w).numpy(), 0)
    np.testing.assert_array_equal(nn.init.ones_(w).numpy(), 1)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    p = nn.Parameter(tg.zeros(3, 3))                          # parameters are filled in place
    assert nn.init.uniform_(p) is p and p.requires_grad and p.grad is None
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(tg.zeros(3))


def test_deepcopy_gives_an_independent_module():
    import copy
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    c = copy.deepcopy(m)
    assert isinstance(c[0].weight, nn.Parameter) and c[0].weight.requires_grad
    assert c[0].weight.array is not m[0].weight.array
    np.testing.assert_array_equal(c[0].weight.numpy(), m[0].weight.numpy())


def test_functional_exports_the_api_list():
    import tinygen.nn.functional as F
    names = """relu leaky_relu sigmoid tanh softplus logsigmoid softmax log_softmax logsumexp linear
        conv2d conv_transpose2d max_pool2d avg_pool2d batch_norm layer_norm dropout pad
        binary_cross_entropy binary_cross_entropy_with_logits cross_entropy nll_loss mse_loss
        gaussian_nll_loss elu""".split()
    assert [n for n in names if not callable(getattr(F, n, None))] == []
