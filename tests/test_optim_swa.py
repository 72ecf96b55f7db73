"""optim.swa_utils against torch.optim.swa_utils: AveragedModel (SWA, EMA, custom avg_fn,
use_buffers), update_bn and SWALR."""
import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim
from tinygen.optim import swa_utils

torch = pytest.importorskip("torch")


def _models():
    """The same small network in both frameworks (BatchNorm for the buffers)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.Linear(4, 2)).double()
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).to(dtype="float64")
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert all(p.dtype == np.float64 for p in ours.parameters())
    return ours, theirs


def _perturb(ours, theirs, rs):
    """A training step's worth of change, the same in both (parameters and BN statistics)."""
    with tg.no_grad(), torch.no_grad():
        for (name, p), pt in zip(ours.named_parameters(), theirs.parameters()):
            delta = rs.standard_normal(tuple(p.shape)) * 0.1
            p.copy_(p.numpy() + delta)
            pt.add_(torch.tensor(delta))
        x = rs.standard_normal((5, 3))
        ours(tg.tensor(x)), theirs(torch.tensor(x))


def _same_state(ours, theirs):
    sd, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(sd_t)
    for k in sd_t:
        np.testing.assert_allclose(np.asarray(sd[k].numpy(), dtype=np.float64),
                                   sd_t[k].numpy().astype(np.float64), rtol=1e-12, atol=1e-15,
                                   err_msg=k)


@pytest.mark.parametrize("kind", ["swa", "ema", "ema_avg_fn", "ema_buffers"])
def test_averaged_model_equals_torch(kind):
    ours, theirs = _models()
    make = {"swa": lambda u, m: u.AveragedModel(m),
            "ema": lambda u, m: u.AveragedModel(m, multi_avg_fn=u.get_ema_multi_avg_fn(0.9)),
            "ema_avg_fn": lambda u, m: u.AveragedModel(m, avg_fn=u.get_ema_avg_fn(0.8)),
            "ema_buffers": lambda u, m: u.AveragedModel(
                m, multi_avg_fn=u.get_ema_multi_avg_fn(0.7), use_buffers=True)}[kind]
    avg, avg_t = make(swa_utils, ours), make(torch.optim.swa_utils, theirs)
    rs = np.random.default_rng(1)
    for _ in range(5):
        _perturb(ours, theirs, rs)
        avg.update_parameters(ours)
        avg_t.update_parameters(theirs)
        _same_state(avg, avg_t)
    assert avg.n_averaged.item() == 5
    x = np.random.default_rng(2).standard_normal((3, 3))
    avg.eval(), avg_t.eval()
    np.testing.assert_allclose(avg(tg.tensor(x)).numpy(),
                               avg_t(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_update_bn_equals_torch():
    ours, theirs = _models()
    avg, avg_t = swa_utils.AveragedModel(ours), torch.optim.swa_utils.AveragedModel(theirs)
    avg.update_parameters(ours), avg_t.update_parameters(theirs)
    rs = np.random.default_rng(3)
    batches = [rs.standard_normal((6, 3)) * (i + 1) for i in range(4)]
    avg.eval(), avg_t.eval()
    swa_utils.update_bn([(tg.tensor(b), 0) for b in batches], avg)
    torch.optim.swa_utils.update_bn([(torch.tensor(b), 0) for b in batches], avg_t)
    _same_state(avg, avg_t)
    assert not avg.training and avg.module[1].momentum == 0.1


@pytest.mark.parametrize("kwargs", [dict(swa_lr=0.05, anneal_epochs=4),
                                    dict(swa_lr=[0.05, 0.01], anneal_epochs=3,
                                         anneal_strategy="linear"),
                                    dict(swa_lr=0.02, anneal_epochs=0)])
def test_swalr_equals_torch(kwargs):
    def groups(lib, Param):
        return [{"params": [Param(lib.zeros(2))]}, {"params": [Param(lib.zeros(2))], "lr": 0.3}]
    opt = optim.SGD(groups(tg, nn.Parameter), lr=0.5)
    opt_t = torch.optim.SGD(groups(torch, torch.nn.Parameter), lr=0.5)
    s = swa_utils.SWALR(opt, **kwargs)
    s_t = torch.optim.swa_utils.SWALR(opt_t, **kwargs)
    for step in range(8):
        assert s.get_last_lr() == pytest.approx(s_t.get_last_lr(), rel=1e-14), step
        opt.step(), opt_t.step()
        s.step(), s_t.step()
    with pytest.raises(ValueError, match="anneal_strategy"):
        swa_utils.SWALR(opt, 0.1, anneal_strategy="step")
