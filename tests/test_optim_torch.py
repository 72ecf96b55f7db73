"""Every optimizer and option combination against torch.optim, step by step in float64:
the same initial parameters and the same sequence of gradients give the same parameters
after every step; parameter groups, add_param_group, lr changed between steps (as
schedulers do) and state_dict in torch's structure."""
import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,), (2, 3)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, betas=(0.8, 0.95), weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, centered=True)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9)),
    ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.7, eps=1e-4, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, maximize=True)),
    ("Adamax", dict(lr=1e-2)),
    ("Adamax", dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=1e-2)),
    ("NAdam", dict(lr=1e-2, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=1e-2)),
    ("RAdam", dict(lr=1e-2, betas=(0.9, 0.8), weight_decay=0.1)),   # rho_t > 5 from step 4
    ("RAdam", dict(lr=1e-2, betas=(0.5, 0.7), weight_decay=0.1, decoupled_weight_decay=True)),
]


def _pair(seed=0):
    rs = np.random.default_rng(seed)
    values = [rs.standard_normal(s) for s in SHAPES]
    return ([nn.Parameter(tg.tensor(v)) for v in values],
            [torch.nn.Parameter(torch.tensor(v)) for v in values])


def _set_grads(ours, theirs, rs):
    for p, pt in zip(ours, theirs):
        g = rs.standard_normal(tuple(p.shape))
        p.grad, pt.grad = tg.tensor(g), torch.tensor(g)


def _assert_same(ours, theirs, rtol=1e-12):
    for p, pt in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), pt.detach().numpy(), rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_optimizer_equals_torch_step_by_step(name, kwargs):
    ours, theirs = _pair()
    # two groups, the second with its own lr; the third parameter joins by add_param_group
    opt = getattr(optim, name)([{"params": ours[:1]}, {"params": ours[1:2], "lr": 0.03}],
                               **kwargs)
    opt_t = getattr(torch.optim, name)([{"params": theirs[:1]},
                                        {"params": theirs[1:2], "lr": 0.03}], **kwargs)
    opt.add_param_group({"params": ours[2:], "lr": 0.02})
    opt_t.add_param_group({"params": theirs[2:], "lr": 0.02})
    rs = np.random.default_rng(1)
    for step in range(7):
        if step == 4:  # a scheduler writes the lr between steps
            opt.param_groups[0]["lr"] *= 0.5
            opt_t.param_groups[0]["lr"] *= 0.5
        _set_grads(ours, theirs, rs)
        if step == 2:  # a parameter without a gradient is left alone
            ours[1].grad, theirs[1].grad = None, None
        opt.step()
        opt_t.step()
        _assert_same(ours, theirs)
    _assert_same_state_dict(opt.state_dict(), opt_t.state_dict())


def _assert_same_state_dict(sd, sd_t):
    assert sorted(sd) == sorted(sd_t) == ["param_groups", "state"]
    assert sorted(sd["state"]) == sorted(sd_t["state"])
    for i, entries in sd_t["state"].items():
        assert sorted(sd["state"][i]) == sorted(entries), i
        for key, value in entries.items():
            ours = sd["state"][i][key]
            ours = ours.numpy() if isinstance(ours, tg.Tensor) else ours
            np.testing.assert_allclose(np.asarray(ours, dtype=np.float64),
                                       value.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert len(sd["param_groups"]) == len(sd_t["param_groups"])
    for group, group_t in zip(sd["param_groups"], sd_t["param_groups"]):
        assert group["params"] == group_t["params"]
        for key in group:  # every option we keep, torch keeps with the same value
            value = group[key]
            assert key in group_t, key
            assert _plain(value) == _plain(group_t[key]), key


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("name, kwargs", [CASES[2], CASES[8], CASES[11], CASES[17], CASES[20],
                                          CASES[23], CASES[25], CASES[27], CASES[30]])
def test_state_dict_resumes_as_torch(name, kwargs):
    """Three steps, save, load into a fresh optimizer (ours from torch's state_dict made into
    arrays), three more steps: equal to torch running six."""
    ours, theirs = _pair()
    opt, opt_t = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    rs = np.random.default_rng(2)
    for _ in range(3):
        _set_grads(ours, theirs, rs)
        opt.step(), opt_t.step()
    sd_t = opt_t.state_dict()
    as_arrays = {"state": {i: {k: v.detach().numpy().copy()
                               for k, v in entries.items()}
                           for i, entries in sd_t["state"].items()},
                 "param_groups": sd_t["param_groups"]}
    fresh = getattr(optim, name)(ours, lr=123.0)
    fresh.load_state_dict(as_arrays)
    for _ in range(3):
        _set_grads(ours, theirs, rs)
        fresh.step(), opt_t.step()
        _assert_same(ours, theirs)


def test_closure_is_called_with_gradients_on():
    p = nn.Parameter(tg.tensor([1.0, -2.0]))
    opt = optim.RMSprop([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0 and p.grad is not None


@pytest.mark.parametrize("make", [
    lambda ps: optim.AdamW(ps, lr=-1.0), lambda ps: optim.Adam(ps, betas=(1.0, 0.9)),
    lambda ps: optim.RMSprop(ps, momentum=-0.1), lambda ps: optim.Adagrad(ps, lr_decay=-1),
    lambda ps: optim.Adadelta(ps, rho=1.5), lambda ps: optim.SGD(ps, nesterov=True),
    lambda ps: optim.Adamax(ps, eps=-1), lambda ps: optim.NAdam(ps, momentum_decay=-1),
    lambda ps: optim.RAdam(ps, betas=(0.9, 1.0))])
def test_bad_hyperparameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make([nn.Parameter(tg.tensor([1.0]))])


@pytest.mark.parametrize("name, kwargs", [CASES[3], CASES[8], CASES[12], CASES[17], CASES[20],
                                          CASES[23]])
def test_optimizer_on_the_cuda_device_equals_cpu(name, kwargs):
    from tinygen import backend
    if not backend.cuda_is_available():
        pytest.skip("no cuda device (and no simulator)")
    cpu, _ = _pair()
    gpu = [nn.Parameter(p.detach().to("cuda")) for p in cpu]
    opts = getattr(optim, name)(cpu, **kwargs), getattr(optim, name)(gpu, **kwargs)
    rs = np.random.default_rng(3)
    for _ in range(3):
        for p, q in zip(cpu, gpu):
            g = tg.tensor(rs.standard_normal(tuple(p.shape)))
            p.grad, q.grad = g, g.to("cuda")
        for opt in opts:
            opt.step()
    assert all(t.device == "cuda" for s in opts[1].state.values() for t in s.values()
               if isinstance(t, tg.Tensor))
    for p, q in zip(cpu, gpu):
        assert q.device == "cuda"
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12, atol=1e-14)


def _rosenbrock(lib, x, y):
    return (1 - x) ** 2 * 1.0 + ((y - x * x) ** 2).sum() * 100.0


def _logistic(lib, w, b, data=np.random.default_rng(4).standard_normal((16, 3))):
    X = lib.tensor(data)
    labels = lib.tensor((data.sum(1) > 0).astype(np.float64))
    z = (X * w).sum(1) + b
    # log(1 + exp(-z)) for label 1, log(1 + exp(z)) for label 0, plus a small L2 term
    return ((1 + (-z).exp()).log() * labels + (1 + z.exp()).log() * (1 - labels)).mean() \
        + (w * w).sum() * 0.01


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("problem, start, kwargs", [
    (_rosenbrock, ([-1.2], [1.0, 0.5]), dict(lr=1, max_iter=5, history_size=3)),
    (_rosenbrock, ([0.5], [0.2, -0.3]), dict(lr=0.5, max_iter=7, max_eval=9)),
    (_logistic, ([0.1, -0.2, 0.3], [0.0]), dict(lr=1, max_iter=4)),
])
def test_lbfgs_equals_torch(problem, start, kwargs, line_search_fn):
    """Three step() calls of up to max_iter iterations each: the same parameters, losses and
    numbers of evaluations as torch.optim.LBFGS (to 1e-9: the many dot products and the
    line search's divisions amplify the last bits of different summation orders)."""
    ours = [nn.Parameter(tg.tensor(np.array(v, dtype=np.float64))) for v in start]
    theirs = [torch.nn.Parameter(torch.tensor(np.array(v, dtype=np.float64))) for v in start]
    opt = optim.LBFGS(ours, line_search_fn=line_search_fn, **kwargs)
    opt_t = torch.optim.LBFGS(theirs, line_search_fn=line_search_fn, **kwargs)

    def closure_of(o, params, lib):
        def closure():
            o.zero_grad()
            loss = problem(lib, *params)
            loss.backward()
            return loss
        return closure

    for _ in range(3):
        loss = opt.step(closure_of(opt, ours, tg))
        loss_t = opt_t.step(closure_of(opt_t, theirs, torch))
        assert loss.item() == pytest.approx(loss_t.item(), rel=1e-9, abs=1e-14)
        _assert_same(ours, theirs, rtol=1e-9)
        state, state_t = opt.state[ours[0]], opt_t.state[theirs[0]]
        assert (state["func_evals"], state["n_iter"]) == (state_t["func_evals"], state_t["n_iter"])


def test_lbfgs_refuses_groups_and_unknown_line_search():
    p = nn.Parameter(tg.tensor([1.0]))
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(tg.tensor([1.0]))]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([p], line_search_fn="backtracking")


# ---- one fused update per group (kernels/fused_*.py adam_step, sgd_step) --------------------

GROUP_SHAPES = [(), (0,), (3, 4), (5,), (2, 1, 3)] * 4     # 20: more than one call takes


@pytest.mark.parametrize("name, kwargs", [
    ("Adam", dict(lr=1e-2, weight_decay=0.1)), ("Adam", dict(lr=1e-2, maximize=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.3)), ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True))],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_fused_group_equals_torch_step_by_step(name, kwargs, dtype):
    """One group of 20 parameters (0-d, empty, 1-d to 3-d) with non-contiguous gradients, in one
    fused call per step; foreach=False (a call per parameter) and fused=True give the same bits."""
    rs = np.random.default_rng(5)
    values = [rs.standard_normal(s).astype(dtype) for s in GROUP_SHAPES]
    ours = {switch: [nn.Parameter(tg.tensor(v)) for v in values]
            for switch in ("default", "foreach=False", "fused=True")}
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    opts = {"default": getattr(optim, name)(ours["default"], **kwargs),
            "foreach=False": getattr(optim, name)(ours["foreach=False"], foreach=False, **kwargs),
            "fused=True": getattr(optim, name)(ours["fused=True"], fused=True, **kwargs)}
    opt_t = getattr(torch.optim, name)(theirs, **kwargs)
    rtol = 1e-12 if dtype == "float64" else 2e-6
    for step in range(5):
        grads = [rs.standard_normal(s + (2,)).astype(dtype)[..., 0] for s in GROUP_SHAPES]
        for params in ours.values():
            for p, g in zip(params, grads):
                p.grad = tg.tensor(g)
        for pt, g in zip(theirs, grads):
            pt.grad = torch.tensor(g)
        for opt in opts.values():
            opt.step()
        opt_t.step()
        _assert_same(ours["default"], theirs, rtol=rtol)
        for switch in ("foreach=False", "fused=True"):
            for p, q in zip(ours["default"], ours[switch]):
                np.testing.assert_array_equal(q.numpy(), p.numpy(), strict=True)


def test_foreach_and_fused_together_raise_as_torch():
    for make in (optim.Adam, optim.AdamW, optim.SGD):
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
            make([nn.Parameter(tg.tensor([1.0]))], lr=0.1, foreach=True, fused=True)
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
            getattr(torch.optim, make.__name__)([torch.nn.Parameter(torch.ones(1))], lr=0.1,
                                                foreach=True, fused=True)
