"""Checks that need several MPI ranks: run by tests/test_distributed.py as

    mpirun -n 2 python -m pytest -q tests/distributed/mpi_checks.py

(the file name does not match test_*.py, so a plain pytest run does not collect it alone).
Every rank runs every test; hypothesis is derandomized and has no database, so all ranks draw
the same examples and call the collectives in the same order.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen as tg
import tinygen.distributed as dist
import tinygen.nn as nn
from tinygen.models import VAE
from tinygen.nn.parallel import DistributedDataParallel as DDP

same_examples = settings(derandomize=True, database=None, deadline=None, max_examples=15)


@pytest.fixture(scope="module", autouse=True)
def world():
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    if dist.get_world_size() < 2:
        pytest.skip("run under mpirun -n 2 (or more)")
    yield


def rank_and_size():
    return dist.get_rank(), dist.get_world_size()


# ---- collectives against their single-process definitions ----------------------------------

dtypes = st.sampled_from([np.float32, np.float64, np.int32, np.int64])
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
ops = {dist.ReduceOp.SUM: lambda a: a.sum(0), dist.ReduceOp.MAX: lambda a: a.max(0),
       dist.ReduceOp.MIN: lambda a: a.min(0), dist.ReduceOp.PRODUCT: lambda a: a.prod(0),
       dist.ReduceOp.AVG: lambda a: a.mean(0)}


def per_rank(base, r):
    """Rank r's tensor: a different array on each rank, known to every rank."""
    return np.asarray(base * (r + 1) - r, dtype=base.dtype)


def base_arrays(dtype, shape):
    return hnp.arrays(dtype, shape, elements=st.integers(-3, 3).map(float) if np.issubdtype(
        dtype, np.floating) else st.integers(-3, 3))


@same_examples
@given(st.data(), dtypes, shapes, st.sampled_from(list(ops)), st.booleans())
def test_all_reduce_is_the_op_over_ranks(data, dtype, shape, op, async_op):
    if op is dist.ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
        op = dist.ReduceOp.SUM
    base = data.draw(base_arrays(dtype, shape))
    r, n = rank_and_size()
    t = tg.tensor(per_rank(base, r))
    work = dist.all_reduce(t, op=op, async_op=async_op)
    if async_op:
        assert work.wait()
    want = ops[op](np.stack([per_rank(base, k) for k in range(n)])).astype(dtype)
    assert t.array.dtype == dtype and t.shape == base.shape
    np.testing.assert_allclose(t.array, want, rtol=1e-6)


@same_examples
@given(st.data(), dtypes, shapes, st.integers(0, 1), st.booleans())
def test_broadcast_is_src_tensor(data, dtype, shape, src, transpose):
    base = data.draw(base_arrays(dtype, shape))
    r, n = rank_and_size()
    a = per_rank(base, r)
    t = tg.tensor(a.T.copy()).T if transpose else tg.tensor(a)   # a non-contiguous view too
    dist.broadcast(t, src)
    np.testing.assert_array_equal(t.array, per_rank(base, src))


@same_examples
@given(st.data(), dtypes, shapes)
def test_all_gather_lists_every_rank(data, dtype, shape):
    base = data.draw(base_arrays(dtype, shape))
    r, n = rank_and_size()
    out = [tg.zeros(*shape, dtype=dtype) if shape else tg.tensor(np.zeros((), dtype))
           for _ in range(n)]
    dist.all_gather(out, tg.tensor(per_rank(base, r)))
    for k in range(n):
        np.testing.assert_array_equal(out[k].array, per_rank(base, k))


@same_examples
@given(st.data(), st.sampled_from([np.float32, np.float64]), shapes,
       st.sampled_from([dist.ReduceOp.SUM, dist.ReduceOp.MAX, dist.ReduceOp.AVG]),
       st.integers(0, 1))
def test_reduce_lands_on_dst_only(data, dtype, shape, op, dst):
    base = data.draw(base_arrays(dtype, shape))
    r, n = rank_and_size()
    t = tg.tensor(per_rank(base, r))
    dist.reduce(t, dst, op=op)
    want = ops[op](np.stack([per_rank(base, k) for k in range(n)])) if r == dst \
        else per_rank(base, r)
    np.testing.assert_allclose(t.array, want, rtol=1e-6)


def test_barrier_and_errors():
    dist.barrier()
    with pytest.raises(ValueError, match="broadcast: src=9"):
        dist.broadcast(tg.zeros(2), 9)
    with pytest.raises(TypeError, match="AVG needs a floating"):
        dist.all_reduce(tg.tensor([1, 2]), op=dist.ReduceOp.AVG)


# ---- DistributedDataParallel: N ranks with B/N each == one process with B ------------------

def global_batch(B, shape, seed):
    g = np.random.default_rng(seed)
    return g.random((B,) + shape).astype(np.float32)


def local_part(a):
    r, n = rank_and_size()
    k = len(a) // n
    return a[r * k:(r + 1) * k]


class VAELoss(nn.Module):
    """-mean elbo with the noise eps given, so every sample sees the same draw either way."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x, eps):
        v = self.vae
        mu, logvar = v.encode(x)
        z = v.reparameterize(mu, logvar, eps)
        kl = 0.5 * (mu * mu + logvar.exp() - 1 - logvar)
        return -(v.log_px_z(x, z) - kl.sum(dim=1)).mean()


class ConvLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                 nn.Conv2d(4, 2, 3, stride=2), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x, target):
        return ((self.net(x) - target) ** 2).mean()


def train(model, batches, steps, momentum=0.9):
    opt = tg.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)
    for s in range(steps):
        opt.zero_grad()
        model(*[tg.tensor(b[s]) for b in batches]).backward()
        opt.step()
    return [p.array.copy() for p in model.parameters()]


def assert_same_training(make, batches, steps=3, bucket_cap_mb=25, sync_bn=False):
    tg.manual_seed(0)
    single = make()
    want = train(single, batches, steps)
    tg.manual_seed(1 + dist.get_rank())     # different init per rank: DDP broadcasts rank 0's
    local = make()
    if sync_bn:
        local = nn.SyncBatchNorm.convert_sync_batchnorm(local)
    tg.manual_seed(0)
    with tg.no_grad():
        for p, q in zip(local.parameters(), make().parameters()):
            if dist.get_rank() == 0:
                p.array[...] = q.array
    ddp = DDP(local, bucket_cap_mb=bucket_cap_mb)
    assert ddp.module is local
    got = train(ddp, [np.stack([local_part(b[s]) for s in range(steps)]) for b in batches],
                steps)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    return ddp


@pytest.mark.parametrize("bucket_cap_mb", [25, 1e-9])   # one bucket; one per parameter
def test_ddp_mlp_vae_equals_one_process(bucket_cap_mb, monkeypatch):
    steps, B = 3, 8
    x = np.stack([(global_batch(B, (1, 6, 6), s) > 0.5).astype(np.float32) for s in range(steps)])
    eps = np.stack([global_batch(B, (4,), 100 + s) - 0.5 for s in range(steps)])
    all_reduce, launched = dist.all_reduce, []

    def counted(tensor, *args, **kwargs):
        launched.append(kwargs.get("async_op", False))
        return all_reduce(tensor, *args, **kwargs)
    monkeypatch.setattr(dist, "all_reduce", counted)
    ddp = assert_same_training(
        lambda: VAELoss(VAE("b1", image_shape=(1, 6, 6), hidden=(16,), latent_dim=4)),
        [x, eps], steps, bucket_cap_mb)
    buckets = 1 if bucket_cap_mb == 25 else len(list(ddp.parameters()))
    assert launched.count(True) == buckets * steps       # one all-reduce a bucket a step


@pytest.mark.parametrize("bucket_cap_mb", [25, 1e-9])
def test_ddp_conv_model_with_sync_batchnorm_equals_one_process(bucket_cap_mb):
    # with one bucket per parameter, SyncBatchNorm's all-reduce in backward runs while the
    # later layers' buckets are in flight
    steps, B = 3, 8
    x = np.stack([global_batch(B, (1, 5, 5), s) for s in range(steps)])
    y = np.stack([global_batch(B, (3,), 50 + s) for s in range(steps)])
    ddp = assert_same_training(ConvLoss, [x, y], steps, bucket_cap_mb, sync_bn=True)
    bn = ddp.module.net[1]
    assert isinstance(bn, nn.SyncBatchNorm)
    tg.manual_seed(0)
    single = ConvLoss()
    train(single, [x, y], steps)
    np.testing.assert_allclose(bn.running_mean.array, single.net[1].running_mean.array,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.array, single.net[1].running_var.array,
                               rtol=1e-5, atol=1e-6)


def test_no_sync_accumulates_then_averages():
    r, n = rank_and_size()
    tg.manual_seed(0)
    model = nn.Linear(3, 2)
    ddp = DDP(model)
    xs = [tg.tensor(global_batch(4, (3,), s)) for s in range(2)]
    with ddp.no_sync():
        ddp(xs[0][r::n]).sum().backward()
    local = model.weight.grad.array.copy()
    ddp(xs[1][r::n]).sum().backward()            # averages the accumulated gradients
    tg.manual_seed(0)
    ref = nn.Linear(3, 2)
    for x in xs:
        ref(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad.array * n, ref.weight.grad.array, rtol=1e-5)
    assert not np.allclose(local * n, ref.weight.grad.array)   # no_sync did not communicate


def test_unused_parameter_is_named_at_next_forward():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x)

    ddp = DDP(TwoHeads(), bucket_cap_mb=0.00001)
    ddp(tg.ones(1, 2)).sum().backward()
    with pytest.raises(RuntimeError, match=r"b\.weight"):
        ddp(tg.ones(1, 2))


# ---- SyncBatchNorm == BatchNorm over the global batch -------------------------------------

@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 2)])
def test_sync_batchnorm_equals_batchnorm_over_global_batch(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    gy = np.random.default_rng(1).standard_normal(shape)
    Norm = nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d
    ref, sync = Norm(3, dtype=tg.float64), nn.SyncBatchNorm(3, dtype=tg.float64)
    for m in (ref, sync):
        with tg.no_grad():
            m.weight.array[...] = [1.0, 2.0, -0.5]
            m.bias.array[...] = [0.1, 0.0, 0.3]
    xg = tg.tensor(x, requires_grad=True)
    y = ref(xg)
    (y * tg.tensor(gy)).sum().backward()
    xl = tg.tensor(local_part(x), requires_grad=True)
    yl = sync(xl)
    (yl * tg.tensor(local_part(gy))).sum().backward()
    np.testing.assert_allclose(yl.array, local_part(y.array), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xl.grad.array, local_part(xg.grad.array), rtol=1e-9, atol=1e-12)
    for name in ("weight", "bias"):
        g = getattr(sync, name).grad
        dist.all_reduce(g)                        # DDP would average; here: sum of the parts
        np.testing.assert_allclose(g.array, getattr(ref, name).grad.array, rtol=1e-10)
    np.testing.assert_allclose(sync.running_mean.array, ref.running_mean.array, rtol=1e-10)
    np.testing.assert_allclose(sync.running_var.array, ref.running_var.array, rtol=1e-10)


# ---- the CLI's per-rank noise: independent across ranks, a function of (seed, rank, step) --

def test_each_rank_draws_its_own_vae_noise_and_the_global_stream_stays():
    """What `mpirun tinygen train vae` does in a step: the same x and weights on every rank,
    yet each rank's elbo (one draw of eps per row) differs, and repeats for the same step."""
    from tinygen import rng
    from tinygen.train.distributed import step_stream
    r, n = rank_and_size()
    tg.manual_seed(7)                                      # the same VAE on every rank
    vae = VAE("b1", image_shape=(1, 6, 6), hidden=(16,), latent_dim=4)
    x = tg.tensor((global_batch(4, (1, 6, 6), 0) > 0.5).astype(np.float32))
    before = rng.get_state()

    def elbo_of_step(step):
        with step_stream(0, r)(step), tg.no_grad():
            return vae.terms(x).elbo.array.copy()

    elbo = elbo_of_step(3)
    assert rng.get_state() == before                    # the global stream did not move
    np.testing.assert_array_equal(elbo_of_step(3), elbo)   # same (seed, rank, step): same eps
    assert not np.array_equal(elbo_of_step(4), elbo)       # the next step: new eps
    gathered = [tg.zeros(*elbo.shape) for _ in range(n)]
    dist.all_gather(gathered, tg.tensor(elbo))
    for k in range(1, n):                                  # every rank its own eps
        assert not np.allclose(gathered[k].array, gathered[0].array)


def test_any_rank_agrees_on_one_rank_s_flag():
    """A Ctrl-C seen by one rank before a step and by the other only after it: both stop."""
    from tinygen.train.distributed import any_rank
    r, n = rank_and_size()
    assert any_rank(r == 1) and any_rank(r == 0) and any_rank(True)
    assert not any_rank(False)
