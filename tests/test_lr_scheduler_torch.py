"""Every learning-rate schedule against torch.optim.lr_scheduler: the same lr sequence
(get_last_lr() and param_groups[i]["lr"], two groups with different lrs), the same
momentum/beta1 for OneCycleLR, state_dict round trips, step(epoch) closed forms."""
import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim
from tinygen.optim import lr_scheduler as ours_sched

torch = pytest.importorskip("torch")


def _lam(e):
    return 0.9 ** e + 0.1 * (e % 3)


def _mul(e):
    return 0.95 if e % 2 else 1.02


SCHEDULES = {
    "LambdaLR": lambda S, o: S.LambdaLR(o, _lam),
    "LambdaLR-per-group": lambda S, o: S.LambdaLR(o, [_lam, lambda e: 1.0 / (e + 1)]),
    "MultiplicativeLR": lambda S, o: S.MultiplicativeLR(o, _mul),
    "StepLR": lambda S, o: S.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda S, o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda S, o: S.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda S, o: S.CosineAnnealingLR(o, T_max=6, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                             eta_min=0.01),
    "CosineAnnealingWarmRestarts-1": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=4),
    "LinearLR": lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
    "ConstantLR": lambda S, o: S.ConstantLR(o, factor=0.4, total_iters=4),
    "PolynomialLR": lambda S, o: S.PolynomialLR(o, total_iters=8, power=2.0),
    "OneCycleLR": lambda S, o: S.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=20),
    "OneCycleLR-linear-3": lambda S, o: S.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=5,
                                                     anneal_strategy="linear", three_phase=True,
                                                     pct_start=0.25),
    "CyclicLR": lambda S, o: S.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                        step_size_down=5),
    "CyclicLR-triangular2-adam": lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                         step_size_up=4, mode="triangular2"),
    "CyclicLR-exp_range": lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="exp_range",
                                                  gamma=0.9, cycle_momentum=False),
    "SequentialLR": lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=4), S.ExponentialLR(o, gamma=0.8),
            S.StepLR(o, 2, 0.5)], milestones=[5, 12]),
    "ChainedScheduler": lambda S, o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, gamma=0.9)]),
}


def _optimizers(name):
    """The same two-group optimizer in both frameworks (Adam for OneCycleLR's beta1)."""
    kind = "Adam" if name.startswith("OneCycleLR") or name.endswith("adam") else "SGD"
    extra = {} if kind == "Adam" else {"momentum": 0.9}
    ours = getattr(optim, kind)([{"params": [nn.Parameter(tg.zeros(2))]},
                                 {"params": [nn.Parameter(tg.zeros(2))], "lr": 0.03}],
                                lr=0.1, **extra)
    theirs = getattr(torch.optim, kind)([{"params": [torch.nn.Parameter(torch.zeros(2))]},
                                         {"params": [torch.nn.Parameter(torch.zeros(2))],
                                          "lr": 0.03}], lr=0.1, **extra)
    return ours, theirs


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_lr_sequence_equals_torch(name):
    opt, opt_t = _optimizers(name)
    s, s_t = SCHEDULES[name](ours_sched, opt), SCHEDULES[name](torch.optim.lr_scheduler, opt_t)
    steps = 19 if name.startswith("OneCycleLR") else 20
    for step in range(steps + 1):
        assert s.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-14, abs=1e-16), step
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [g["lr"] for g in opt_t.param_groups], rel=1e-14, abs=1e-16), step
        assert _momenta(opt) == pytest.approx(_momenta(opt_t), rel=1e-14), step
        if step < steps:
            opt.step(), opt_t.step()
            s.step(), s_t.step()


@pytest.mark.parametrize("mode, threshold_mode, kwargs", [
    ("min", "rel", dict(patience=2)),
    ("max", "abs", dict(patience=1, threshold=0.05, cooldown=2, factor=0.5)),
    ("min", "abs", dict(patience=0, min_lr=[0.02, 0.001], factor=0.3)),
])
def test_reduce_lr_on_plateau_equals_torch(mode, threshold_mode, kwargs):
    opt, opt_t = _optimizers("ReduceLROnPlateau")
    s = ours_sched.ReduceLROnPlateau(opt, mode=mode, threshold_mode=threshold_mode, **kwargs)
    s_t = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, mode=mode,
                                                     threshold_mode=threshold_mode, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.7, 0.8, 0.9, 0.4, 0.41, 0.42]
    for m in metrics:
        s.step(tg.tensor(m, dtype="float64")), s_t.step(m)  # a 0-d tensor, as a loss
        assert s.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-15)
        assert (s.num_bad_epochs, s.cooldown_counter, s.best) == \
            (s_t.num_bad_epochs, s_t.cooldown_counter, s_t.best)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR", "ConstantLR", "PolynomialLR"])
def test_step_with_epoch_uses_the_closed_form_as_torch(name):
    opt, opt_t = _optimizers(name)
    s, s_t = SCHEDULES[name](ours_sched, opt), SCHEDULES[name](torch.optim.lr_scheduler, opt_t)
    for epoch in [3, 7, 2, 10]:
        s.step(epoch)
        with pytest.warns(UserWarning):
            s_t.step(epoch)
        assert s.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-14)


def test_warm_restarts_with_fractional_epochs_equals_torch():
    opt, opt_t = _optimizers("CosineAnnealingWarmRestarts")
    make = SCHEDULES["CosineAnnealingWarmRestarts"]
    s, s_t = make(ours_sched, opt), make(torch.optim.lr_scheduler, opt_t)
    for epoch in [0.5, 1.25, 2.9, 3.0, 7.5, 10.0, 21.3]:
        s.step(epoch), s_t.step(epoch)
        assert s.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-13)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR",
                                  "CosineAnnealingWarmRestarts", "LinearLR", "CyclicLR"])
def test_state_dict_resumes_the_sequence(name):
    """Five steps, save the optimizer and scheduler, rebuild both, load: the next ten lrs are
    those of an uninterrupted run."""
    opt, _ = _optimizers(name)
    s = SCHEDULES[name](ours_sched, opt)
    for _ in range(5):
        opt.step(), s.step()
    saved_opt, saved = opt.state_dict(), s.state_dict()
    expected = []
    for _ in range(10):
        opt.step(), s.step()
        expected.append(s.get_last_lr())
    opt2, _ = _optimizers(name)
    s2 = SCHEDULES[name](ours_sched, opt2)
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved)
    got = []
    for _ in range(10):
        opt2.step(), s2.step()
        got.append(s2.get_last_lr())
    assert got == expected


def test_lambda_state_dict_saves_callable_objects_not_functions():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    opt, _ = _optimizers("LambdaLR")
    s = ours_sched.LambdaLR(opt, [Warmup(4), _lam])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}, None] and "optimizer" not in sd
    s2 = ours_sched.LambdaLR(opt, [Warmup(100), _lam])
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[0].n == 4


def test_scheduler_errors():
    opt, _ = _optimizers("x")
    with pytest.raises(TypeError, match="not an Optimizer"):
        ours_sched.StepLR(object(), 3)
    with pytest.raises(ValueError, match="lr_lambda"):
        ours_sched.LambdaLR(opt, [_lam])
    with pytest.raises(ValueError, match="total_steps"):
        ours_sched.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="Tried to step"):
        s = ours_sched.OneCycleLR(opt, max_lr=0.1, total_steps=2)
        for _ in range(3):
            s.step()
    with pytest.raises(ValueError, match="milestone"):
        ours_sched.SequentialLR(opt, [ours_sched.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(KeyError, match="initial_lr"):
        fresh = optim.SGD([nn.Parameter(tg.zeros(1))], lr=0.1)
        ours_sched.StepLR(fresh, 3, last_epoch=4)
    assert math.isfinite(np.float64(opt.param_groups[0]["lr"]))
