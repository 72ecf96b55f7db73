"""Optimizers, schedules and gradient clipping: hand-computed steps, torch.optim step by
step, parameter groups, state_dict round trips, version counters."""
import copy
import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim
from tinygen.optim.lr_scheduler import ExponentialLR, StepLR


def _param(values, dtype="float64"):
    return nn.Parameter(tg.tensor(values, dtype=dtype))


def _set_grad(p, values):
    p.grad = tg.tensor(values, dtype=p.dtype)


GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.2, 1.0]), np.array([1.0, 1.0, -4.0])]


# ---- hand-computed steps -------------------------------------------------------------------

@pytest.mark.parametrize("momentum, dampening, nesterov, wd", [
    (0.0, 0.0, False, 0.0), (0.9, 0.0, False, 0.0), (0.9, 0.1, False, 0.01),
    (0.8, 0.0, True, 0.05)])
def test_sgd_equals_hand_computed_steps(momentum, dampening, nesterov, wd):
    lr = 0.1
    p = _param([1.0, 2.0, -3.0])
    opt = optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                    weight_decay=wd)
    x, buf = np.array([1.0, 2.0, -3.0]), None
    for g in GRADS:
        _set_grad(p, g)
        opt.step()
        d = g + wd * x
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        x = x - lr * d
        np.testing.assert_allclose(p.numpy(), x, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_equals_hand_computed_steps(wd):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    p = _param([1.0, 2.0, -3.0])
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    x, m, v = np.array([1.0, 2.0, -3.0]), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        _set_grad(p, g)
        opt.step()
        g = g + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(p.numpy(), x, rtol=1e-12)
        assert opt.state[p]["step"] == t
    # the first Adam step moves every coordinate by about lr (m_hat / sqrt(v_hat) = sign(g))
    q = _param([0.0, 0.0])
    _set_grad(q, [3.0, -0.001])
    optim.Adam([q], lr=0.5).step()
    np.testing.assert_allclose(q.numpy(), [-0.5, 0.5], rtol=1e-4)


def test_parameters_without_gradient_are_left_alone():
    a, b = _param([1.0]), _param([2.0])
    opt = optim.Adam([a, b], lr=0.1)
    _set_grad(a, [1.0])
    opt.step()
    assert b.item() == 2.0 and b not in opt.state and a.item() != 1.0


def test_param_groups_use_their_own_hyperparameters():
    a, b = _param([1.0]), _param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert opt.param_groups[1]["momentum"] == 0.0 and opt.param_groups[0]["lr"] == 0.1
    _set_grad(a, [1.0])
    _set_grad(b, [1.0])
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)


def test_zero_grad_and_argument_checks():
    p = _param([1.0])
    opt = optim.SGD([p], lr=0.1)
    _set_grad(p, [2.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad.item() == 0.0
    opt.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))


def test_a_step_bumps_the_version_so_a_stale_graph_refuses_backward():
    w = _param([1.0, 2.0])
    x = tg.tensor([3.0, 4.0], dtype="float64")
    opt = optim.Adam([w])
    loss = (w * x).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


# ---- against torch.optim -------------------------------------------------------------------

def _torch_pair(torch, shapes, dtype):
    rs = np.random.default_rng(0)
    values = [rs.standard_normal(s).astype(dtype) for s in shapes]
    ours = [nn.Parameter(tg.tensor(v)) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    return ours, theirs


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=2e-4, betas=(0.5, 0.999), weight_decay=0.1, eps=1e-6)),
])
def test_optimizers_match_torch_step_by_step(name, kwargs, dtype, rtol):
    torch = pytest.importorskip("torch")
    shapes = [(3, 4), (4,), (2, 2, 3)]
    ours, theirs = _torch_pair(torch, shapes, dtype)
    # two groups; the second with its own lr
    opt = getattr(optim, name)([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.03}], **kwargs)
    opt_t = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.03}],
                                       **kwargs)
    rs = np.random.default_rng(1)
    for step in range(6):
        for p, pt, s in zip(ours, theirs, shapes):
            g = rs.standard_normal(s).astype(dtype)
            p.grad = tg.tensor(g)
            pt.grad = torch.tensor(g)
        opt.step()
        opt_t.step()
        for p, pt in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), pt.detach().numpy(), rtol=rtol, atol=rtol)


def test_schedulers_and_clipping_match_torch():
    torch = pytest.importorskip("torch")
    schedules = torch.optim.lr_scheduler
    for make, make_t in [(lambda o: StepLR(o, 3, 0.5), lambda o: schedules.StepLR(o, 3, 0.5)),
                         (lambda o: ExponentialLR(o, 0.9), lambda o: schedules.ExponentialLR(o, 0.9))]:
        opt = optim.SGD([_param([1.0])], lr=0.2)
        opt_t = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.2)
        s, s_t = make(opt), make_t(opt_t)
        for epoch in range(10):
            assert s.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-15)
            opt.step(), opt_t.step()
            s.step(), s_t.step()
    rs = np.random.default_rng(2)
    grads = [rs.standard_normal(s) for s in [(3, 4), (5,)]]
    for norm_type in (2.0, 1.0, math.inf):
        ours = [_param(np.zeros_like(g)) for g in grads]
        theirs = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
        for p, pt, g in zip(ours, theirs, grads):
            _set_grad(p, g)
            pt.grad = torch.tensor(g)
        total = optim.clip_grad_norm_(ours, 0.7, norm_type)
        total_t = torch.nn.utils.clip_grad_norm_(theirs, 0.7, norm_type)
        assert total.item() == pytest.approx(total_t.item(), rel=1e-12)
        for p, pt in zip(ours, theirs):
            np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-12)


# ---- schedules and clipping by hand --------------------------------------------------------

def test_step_lr_and_exponential_lr():
    opt = optim.SGD([{"params": [_param([1.0])]}, {"params": [_param([1.0])], "lr": 1.0}], lr=0.1)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for epoch in range(8):
        lrs.append(sched.get_last_lr())
        sched.step()
    expected = [[0.1 * 0.5 ** (e // 3), 1.0 * 0.5 ** (e // 3)] for e in range(8)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-15)
    assert opt.param_groups[0]["initial_lr"] == 0.1
    state = sched.state_dict()
    assert state["last_epoch"] == 8 and "optimizer" not in state
    opt2 = optim.Adam([_param([1.0])], lr=2.0)
    exp = ExponentialLR(opt2, gamma=0.9)
    for _ in range(4):
        exp.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(2.0 * 0.9 ** 4, rel=1e-14)


def test_clip_grad_norm():
    a, b = _param(np.zeros(2)), _param(np.zeros(1))
    _set_grad(a, [3.0, 0.0])
    _set_grad(b, [4.0])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    clipped = math.sqrt((a.grad.numpy() ** 2).sum() + (b.grad.numpy() ** 2).sum())
    assert clipped == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    # below the bound: nothing changes
    total = optim.clip_grad_norm_([a, b], max_norm=10.0)
    assert total.item() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    assert optim.clip_grad_norm_([_param([1.0])], 1.0).item() == 0.0       # no gradients
    _set_grad(a, [np.inf, 0.0])
    with pytest.raises(RuntimeError, match="total norm"):
        optim.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


# ---- state_dict ----------------------------------------------------------------------------

def _model_and_data(seed):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 1))
    data = [tg.randn(16, 4) for _ in range(6)]
    return model, data


def _train(model, opt, batches):
    for x in batches:
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
    lambda ps: optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True)])
@pytest.mark.parametrize("as_arrays", [False, True])
def test_state_dict_round_trip_resumes_bitwise(make, as_arrays):
    model, data = _model_and_data(0)
    opt = make(model.parameters())
    _train(model, opt, data[:3])
    saved_model = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    saved_opt = copy.deepcopy(opt.state_dict())    # state_dict shares the live state, as torch
    if as_arrays:   # as a checkpoint file returns it: arrays and plain numbers
        saved_opt = {"state": {i: {k: (v.numpy().copy() if isinstance(v, tg.Tensor) else v)
                                   for k, v in s.items()} for i, s in saved_opt["state"].items()},
                     "param_groups": [dict(g) for g in saved_opt["param_groups"]]}
    _train(model, opt, data[3:])                               # the uninterrupted run

    resumed, _ = _model_and_data(1)                            # different initial weights
    resumed.load_state_dict(saved_model)
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(saved_opt)
    _train(resumed, opt2, data[3:])
    for (k, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert a.numpy().tobytes() == b.numpy().tobytes(), k


def test_state_dict_shape_and_loading_copies():
    p, q = _param([1.0, 2.0]), _param([3.0])
    opt = optim.Adam([{"params": [p]}, {"params": [q], "lr": 0.5}])
    _set_grad(p, [1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"} and list(sd["state"]) == [0]
    assert sd["state"][0]["step"] == 1 and sd["state"][0]["exp_avg"].shape == (2,)
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    opt2 = optim.Adam([{"params": [_param([0.0, 0.0])]}, {"params": [_param([0.0])]}], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.5 and opt2.param_groups[0]["lr"] == 1e-3
    (p2,) = opt2.param_groups[0]["params"]
    assert opt2.state[p2]["exp_avg"].array is not opt.state[p]["exp_avg"].array      # a copy
    np.testing.assert_array_equal(opt2.state[p2]["exp_avg"].numpy(), opt.state[p]["exp_avg"].numpy())


def test_a_subclass_written_for_torch_keeps_its_state_in_a_defaultdict():
    """Custom optimizers (RAdam, AdamW before torch had them) read `state = self.state[p]`
    and initialise it when len(state) == 0; their __setstate__ calls super()'s, on
    copy.deepcopy and unpickling. As torch.optim.Optimizer, before and after loading."""
    class Momentum(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super(Momentum, self).__init__(params, dict(lr=lr))

        def __setstate__(self, state):
            super(Momentum, self).__setstate__(state)

        def step(self):
            for group in self.param_groups:
                for p in group['params']:
                    state = self.state[p]
                    if len(state) == 0:
                        state['buf'] = tg.zeros_like(p.data)
                    state['buf'].mul_(0.5).add_(p.grad.data)
                    p.data.add_(state['buf'], alpha=-group['lr'])

    p = _param([1.0, 2.0])
    opt = Momentum([p])
    for _ in range(2):
        _set_grad(p, [1.0, -1.0])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 - 0.15, 2.0 + 0.1 + 0.15])
    assert opt.state[p]['buf'].tolist() == [1.5, -1.5]
    clone = copy.deepcopy(opt)
    assert isinstance(clone, Momentum) and len(clone.state) == 1
    q = _param([0.0, 0.0])
    fresh = Momentum([q])
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[q]['buf'].tolist() == [1.5, -1.5] and fresh.state[_param([0.0])] == {}


def test_load_state_dict_errors():
    opt = optim.SGD([_param([1.0]), _param([2.0])], lr=0.1, momentum=0.9)
    for p in opt.param_groups[0]["params"]:
        _set_grad(p, [1.0])
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="group 0: loaded state_dict has 2 parameters, this optimizer 1"):
        optim.SGD([_param([1.0])], lr=0.1).load_state_dict(sd)
    two_groups = optim.SGD([{"params": [_param([1.0])]}, {"params": [_param([1.0])]}], lr=0.1)
    with pytest.raises(ValueError, match="1 parameter groups, this optimizer has 2"):
        two_groups.load_state_dict(sd)
    with pytest.raises(ValueError, match="has shape \\(1,\\), its parameter \\(2,\\)"):
        optim.SGD([_param([1.0, 1.0]), _param([1.0])], lr=0.1).load_state_dict(sd)


def test_optimizers_on_the_cuda_device():
    from tinygen import backend
    if not backend.cuda_is_available():
        pytest.skip("no cuda device (and no simulator)")
    for make in (lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.01),
                 lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)):
        tg.manual_seed(0)
        cpu = nn.Linear(3, 2)
        gpu = nn.Linear(3, 2)
        gpu.load_state_dict(cpu.state_dict())
        gpu.to("cuda")
        opts = make(cpu.parameters()), make(gpu.parameters())
        x = tg.randn(4, 3)
        for _ in range(3):
            for model, opt, xd in zip((cpu, gpu), opts, (x, x.to("cuda"))):
                opt.zero_grad()
                (model(xd) ** 2).sum().backward()
                opt.step()
        assert all(t.device == "cuda" for s in opts[1].state.values() for t in s.values()
                   if isinstance(t, tg.Tensor))
        for a, b in zip(cpu.parameters(), gpu.parameters()):
            assert b.device == "cuda"
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        total = optim.clip_grad_norm_(gpu.parameters(), 0.01)
        assert total.item() > 0.01


def test_bench_optim_steps_every_variant_on_the_same_values():
    """benchmarks/bench_optim.py without the timing: its variants (tinygen's group step and
    foreach=False, torch's where installed) step optimizers over the same values, and agree."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_optim.py"
    spec = importlib.util.spec_from_file_location("bench_optim", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    frameworks = ["tinygen"] + (["torch"] if importlib.util.find_spec("torch") else [])
    for optimizer in ("adam", "sgd"):
        variants = {name: step for framework in frameworks
                    for name, step in bench.variants(optimizer, [(3, 2), (), (4,)], framework).items()}
        assert {"tinygen (a call per group)", "tinygen foreach=False"} <= set(variants)
        results = []
        for step in variants.values():
            step()
            step()
            params = step.__self__.param_groups[0]["params"]
            results.append([np.asarray(p.detach().numpy(), np.float64) for p in params])
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
