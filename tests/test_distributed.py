"""tinygen.distributed, DDP, SyncBatchNorm and DistributedSampler in one process, and the
multi-rank checks (tests/distributed/mpi_checks.py) run under `mpirun -n 2`."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn
from tinygen.utils.data import DistributedSampler

ROOT = Path(__file__).resolve().parent.parent


def _mpirun():
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    local = Path(sys.executable).parent / "mpirun"
    return str(local) if local.exists() else found


def test_importing_tinygen_does_not_import_mpi4py():
    code = "import tinygen as tg, sys; tg.distributed, tg.nn.parallel; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_world_of_one_without_mpirun():
    code = """
import numpy as np, tinygen as tg, tinygen.distributed as dist
assert not dist.is_initialized()
dist.init_process_group("mpi")
assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi")
t = tg.tensor([1.0, -2.0]); dist.all_reduce(t, op=dist.ReduceOp.AVG); assert t.tolist() == [1, -2]
w = dist.all_reduce(t, async_op=True); assert w.wait() and t.tolist() == [1, -2]
out = [tg.zeros(2)]; dist.all_gather(out, t); assert out[0].tolist() == [1, -2]
dist.broadcast(t, 0); dist.reduce(t, 0); dist.barrier()
ddp = tg.nn.parallel.DistributedDataParallel(tg.nn.Linear(2, 1))
ddp(tg.ones(3, 2)).sum().backward(); assert ddp.module.weight.grad.tolist() == [[3, 3]]
dist.destroy_process_group(); assert not dist.is_initialized()
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "HYDRA"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_collectives_need_init_process_group():
    import tinygen.distributed as dist
    if dist.is_initialized():
        pytest.skip("a process group is already initialized in this process")
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend 'nccl'"):
        dist.init_process_group("nccl")


def test_post_accumulate_grad_hook_fires_before_backward_ends():
    """The last layer's weight is final before the first layer's gradient exists: that is
    what lets DDP start its all-reduce while backward is still running."""
    first, last = nn.Linear(3, 4), nn.Linear(4, 2)
    seen = []
    last.weight.register_post_accumulate_grad_hook(
        lambda p: seen.append((p.grad is not None, first.weight.grad is None)))
    handle = first.weight.register_post_accumulate_grad_hook(lambda p: seen.append("first"))
    x = tg.randn(5, 3)
    last(first(x).relu()).sum().backward()
    assert seen == [(True, True), "first"]
    handle.remove()
    last(first(x).relu()).sum().backward()   # accumulates; the hook sees the sum
    assert seen[-1] == (True, False) and len(seen) == 3
    with pytest.raises(RuntimeError, match="non-leaf"):
        (first.weight * 2).register_post_accumulate_grad_hook(print)


def test_sync_batchnorm_is_batchnorm_in_one_process_and_converts():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(3)))
    bn = model[1]
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(converted[1], nn.SyncBatchNorm)
    assert isinstance(converted[2][0], nn.SyncBatchNorm)
    assert converted[1].weight is bn.weight and converted[1].running_mean is bn.running_mean
    x = tg.randn(4, 2, 3, 3)
    ref = nn.BatchNorm2d(2)
    np.testing.assert_allclose(nn.SyncBatchNorm(2)(x).array, ref(x).array, rtol=1e-6)


# ---- DistributedSampler: torch's index lists ------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 23), replicas=st.integers(1, 5), drop_last=st.booleans(),
       shuffle=st.booleans(), epoch=st.integers(0, 3), data=st.data())
def test_distributed_sampler_matches_torch(n, replicas, drop_last, shuffle, epoch, data):
    pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    rank = data.draw(st.integers(0, replicas - 1))
    ours = DistributedSampler(range(n), replicas, rank, shuffle=shuffle, seed=3,
                              drop_last=drop_last)
    ours.set_epoch(epoch)
    # torch's split and padding, applied to our epoch order (the shuffles' RNGs differ)
    theirs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
    order = (np.random.default_rng(3 + epoch).permutation(n) if shuffle else np.arange(n))
    assert list(ours) == [int(order[i]) for i in theirs]
    assert len(ours) == len(theirs) == len(list(ours))


def test_distributed_sampler_shares_cover_the_dataset_and_change_with_epoch():
    n, replicas = 10, 3
    shares = [list(DistributedSampler(range(n), replicas, r, seed=1)) for r in range(replicas)]
    together = sum(shares, [])
    assert set(together) == set(range(n)) and all(len(s) == 4 for s in shares)
    assert len(together) - n == 2    # padded with the epoch order's first two indices
    s = DistributedSampler(range(n), replicas, 0)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and list(s) == list(s)
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(n), 3, 3)


# ---- the multi-rank checks, under mpirun -------------------------------------------------

def test_mpi_checks_on_two_ranks():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install tinygen[mpi])")
    mpirun = _mpirun()
    if mpirun is None:
        pytest.skip("no mpirun found (pip install mpich, or a system MPI)")
    env = dict(os.environ, HYPOTHESIS_PROFILE="ci", PYTHONPATH=str(ROOT) + os.pathsep
               + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    cmd = [mpirun, "-n", "2", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "tests/distributed/mpi_checks.py"]
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=240)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not finish in 240 s (a rank failed while the other "
                    f"waited in a collective?):\n{e.stdout}\n{e.stderr}")
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    assert out.stdout.count("passed") >= 2 and "failed" not in out.stdout


def _checkpoint_params(run):
    import tinygen as tg
    model = tg.load(os.path.join(run, "checkpoint.npz"))["model"]
    return {f"model/{k}": v.numpy() for k, v in model.items() if v.numpy().dtype.kind == "f"}


def test_cli_on_two_ranks_equals_one_process_and_resumes_on_one(tmp_path):
    """mpirun -n 2 tinygen train ae: the global batch split over 2 ranks takes the steps of
    one process on the whole batch; rank 0 alone writes the run, which --resume continues on
    one process (the data order is a function of the seed and the step, not of N)."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install tinygen[mpi])")
    mpirun = _mpirun()
    if mpirun is None:
        pytest.skip("no mpirun found (pip install mpich, or a system MPI)")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    train = [sys.executable, "-m", "tinygen", "train", "ae", "--batch-size", "1000",
             "--no-progress"]

    def run(cmd):
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert out.returncode == 0, f"{' '.join(cmd)}:\n{out.stdout}\n{out.stderr}"
        return out.stdout

    two, one = str(tmp_path / "two"), str(tmp_path / "one")
    printed = run([mpirun, "-n", "2"] + train + ["--epochs", "1", "--out", two])
    assert printed.count("training ae") == 1 and "on 2 ranks" in printed   # rank 0 prints
    run(train + ["--epochs", "1", "--out", one])
    assert sorted(os.listdir(two)) == sorted(os.listdir(one))             # no lock left
    assert not [p for p in os.listdir(tmp_path) if p.startswith("tinygen-rank")]
    got, want = _checkpoint_params(two), _checkpoint_params(one)
    for k in want:
        if "code_" in k:   # a buffer of per-rank statistics (as BatchNorm's): rank 0's shard
            continue
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)
    run(train + ["--epochs", "2", "--resume", "--out", two])
    run(train + ["--epochs", "2", "--resume", "--out", one])
    got, want = _checkpoint_params(two), _checkpoint_params(one)
    for k in want:
        if "code_" not in k:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)


# ---- 2-rank runs ended mid-epoch (whole job killed, one rank killed or failing, Ctrl-C) ----
# ---- and resumed on 2 ranks == an uninterrupted 2-rank run, bitwise ----------------------

RANK_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from tinygen import cli
from tinygen.models.vae import VAE
from tinygen.train import plots
for name in ("save_image_grid", "save_curves", "save_kl_per_latent", "save_pixel_nll"):
    setattr(plots, name, lambda *a, **k: Path(a[1]).write_bytes(b""))  # draws run, no drawing
original, calls = VAE.training_step, [0]
fault, at, marker = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
rank = int(os.environ.get("PMI_RANK", "0"))
def step(self, x, optimizers):
    calls[0] += 1
    if calls[0] == at:                       # inside step `at`:
        if fault == "job" and rank == 0:     # rank 0 stops (rank 1 waits in the all-reduce)
            marker.write_text("in step")     # and the test kills the whole job
            while True:
                time.sleep(1)
        if fault == "rank" and rank == 1:    # rank 1 dies
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "error" and rank == 1:   # rank 1 fails alone
            raise RuntimeError("a failure on rank 1 only")
        if fault == "nan" and rank == 1:     # rank 1's shard alone gives a non-finite loss
            logs = original(self, x, optimizers)
            return dict(logs, loss=float("nan"))
        if fault == "ctrl-c" and rank == 0:  # the test sends SIGINT to mpirun meanwhile
            marker.write_text("in step")
            t0 = time.time()
            while not marker.with_suffix(".sent").exists() and time.time() - t0 < 10:
                time.sleep(0.02)
    return original(self, x, optimizers)
VAE.training_step = step
sys.exit(cli.main(sys.argv[4:]))
"""


def _tiny_idx(d):
    from tinygen.data.idx import write_idx
    g = np.random.default_rng(0)
    for stem, n in (("train", 64), ("t10k", 16)):
        images = g.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(d / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(d / f"{stem}-labels-idx1-ubyte.gz", g.integers(0, 10, n, dtype=np.uint8))


def _final_state(run):
    """What must be bitwise equal: every array of the checkpoint (model, optimizer), its
    step, epoch and random state, and the logged values."""
    import json

    from tinygen.checkpoint import read_checkpoint
    ckpt = read_checkpoint(run / "checkpoint.npz")
    arrays = {f"model/{k}": v.numpy().tobytes() for k, v in ckpt["model"].items()}
    arrays |= {f"opt/{i}/{k}": np.asarray(getattr(v, "array", v)).tobytes()
               for i, s in ckpt["optimizer"]["state"].items() for k, v in s.items()}
    metrics = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
               for line in (run / "metrics.jsonl").read_text().splitlines()]
    return (ckpt["step"], ckpt["epoch"], json.dumps(ckpt["rng"]), arrays,
            [m for m in metrics if m["kind"] != "resume"])


class _TinyRuns:
    """mpirun -n 2 of RANK_SCRIPT on a 64-image IDX set: VAE, global batch 16 (4 steps an
    epoch, 8 a rank), 3 epochs, pictures stubbed (their random draws still run)."""

    def __init__(self, root):
        self.root, self.mpirun = root, _mpirun()
        self.data = root / "idx"
        self.data.mkdir()
        _tiny_idx(self.data)
        self.env = dict(os.environ, OMP_NUM_THREADS="1", TMPDIR=str(root),
                        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def cmd(self, out, fault="none", at=0, *extra):
        return [self.mpirun, "-n", "2", sys.executable, "-c", RANK_SCRIPT, fault, str(at),
                str(out) + ".marker", "train", "vae", "--data", "mnist", "--data-dir",
                str(self.data), "--no-verify", "--epochs", "3", "--batch-size", "16",
                "--no-progress", "--out", str(out), *extra]

    def run(self, out, *extra):
        done = subprocess.run(self.cmd(out, "none", 0, *extra), cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install tinygen[mpi])")
    if _mpirun() is None:
        pytest.skip("no mpirun found (pip install mpich, or a system MPI)")
    runs = _TinyRuns(tmp_path_factory.mktemp("tiny"))
    runs.reference = runs.root / "reference"
    runs.run(runs.reference)                 # uninterrupted
    runs.want = _final_state(runs.reference)
    return runs


@pytest.mark.parametrize("fault", ["job", "rank", "error", "nan", "ctrl-c"])
def test_two_ranks_ended_mid_epoch_resume_on_two_bitwise(fault, tiny_runs, tmp_path):
    """Inside epoch 2's second step (step 6): SIGKILL of the whole mpirun job; SIGKILL of
    rank 1 (mpirun ends the job); an error on rank 1 alone (MPI_Abort ends the job, one
    line); a non-finite loss on rank 1's shard alone (every rank stops, the job ends);
    Ctrl-C to mpirun (every rank gets it at its own moment; they agree on the step to stop
    after, and rank 0 saves it). Then --resume on 2 ranks ends bitwise equal to an
    uninterrupted 2-rank run (each rank's noise is a function of the seed, its rank and the
    step; the data order of the seed and the step)."""
    import signal
    import time

    from tinygen.checkpoint import read_checkpoint
    out = tmp_path / "run"
    marker = Path(str(out) + ".marker")
    job = subprocess.Popen(tiny_runs.cmd(out, fault, 6), cwd=ROOT, env=tiny_runs.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        if fault in ("job", "ctrl-c"):
            deadline = time.time() + 120
            while not marker.exists():
                assert job.poll() is None and time.time() < deadline, "never reached step 6"
                time.sleep(0.02)
            if fault == "job":
                os.killpg(job.pid, signal.SIGKILL)     # mpirun, its proxy and both ranks
            else:
                os.kill(job.pid, signal.SIGINT)        # Ctrl-C: mpirun passes it on
                marker.with_suffix(".sent").write_text("sent")
        stdout, stderr = job.communicate(timeout=60)   # the job ends: no rank left waiting
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    ckpt = read_checkpoint(out / "checkpoint.npz")     # rank 0's last, intact
    if fault == "ctrl-c":
        assert job.returncode == 130, stderr
        assert ckpt["step"] >= 6 and ckpt["extra"]["batch"] == ckpt["step"] - 4, ckpt["step"]
        assert stdout.count("interrupted: checkpoint saved") == 1   # rank 0 speaks
    else:
        assert job.returncode != 0 and ckpt["step"] == 4       # epoch 1's checkpoint
    if fault == "error":
        assert "tinygen train: rank 1: a failure on rank 1 only" in stderr
    if fault == "nan":
        assert "tinygen train: rank 1: step 6: non-finite loss (nan)" in stderr, stderr
    tiny_runs.run(out, "--resume")
    got, want = _final_state(out), tiny_runs.want
    assert got[:3] == want[:3] and got[:2] == (12, 3)   # step, epoch, random state
    differ = [k for k in want[3] if got[3].get(k) != want[3][k]]
    assert got[3].keys() == want[3].keys() and not differ, f"differ bitwise: {differ[:3]}"
    assert got[4] == want[4]                            # every step logged once, same values


# ---- the GAN (two optimizers) on 2 ranks == one process on the global batch ---------------

GAN_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
import tinygen as tg
from tinygen import cli
from tinygen.models.gan import GAN
from tinygen.train import plots
for name in ("save_image_grid", "save_curves", "save_kl_per_latent", "save_pixel_nll"):
    setattr(plots, name, lambda *a, **k: Path(a[1]).write_bytes(b""))
original, calls = GAN.noise, [0]
def noise(self, n):   # training z: step k's global (B, z_dim) draw, this rank's rows of it
    if not self.training:
        return original(self, n)
    calls[0] += 1
    import tinygen.distributed as dist
    r, size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    z = np.random.default_rng(calls[0]).standard_normal((n * size, self.config.z_dim))
    return tg.tensor(z[r * n:(r + 1) * n].astype(np.float32))
GAN.noise = noise
sys.exit(cli.main(sys.argv[1:]))
"""


def test_gan_on_two_ranks_equals_one_process(tmp_path):
    """D's and G's gradients each averaged over the ranks before their step, BatchNorm
    synced: 2 ranks with 8 rows each take the D-then-G steps of one process with 16 (the
    same z rows given to both)."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install tinygen[mpi])")
    mpirun = _mpirun()
    if mpirun is None:
        pytest.skip("no mpirun found (pip install mpich, or a system MPI)")
    data = tmp_path / "idx"
    data.mkdir()
    _tiny_idx(data)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", TMPDIR=str(tmp_path), TINYGEN_CONV_ALGO="phases")

    def run(prefix, out):
        cmd = prefix + [sys.executable, "-c", GAN_SCRIPT, "train", "gan", "--data", "mnist",
                        "--data-dir", str(data), "--no-verify", "--epochs", "1",
                        "--batch-size", "16", "--no-progress", "--out", str(out)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    two, one = tmp_path / "two", tmp_path / "one"
    run([mpirun, "-n", "2"], two)
    run([], one)
    got, want = _checkpoint_params(two), _checkpoint_params(one)
    assert got.keys() == want.keys() and any("running_mean" in k for k in want)
    # Adam divides by sqrt(v): an element whose gradient is ~0 moves by up to lr (2e-4) a
    # step on float32 rounding of the sums, so: all close to lr / 2, nearly all (99.5%) to
    # 1e-6. The convolutions run by phases (TINYGEN_CONV_ALGO above): the sample-fastest
    # algorithms chosen for strided layers sum over a batch's samples in an order that
    # depends on its size, which these 4 GAN steps amplify past lr / 2 (measured: up to 6e-4
    # between two algorithms in one process) - rounding, not the ranks' arithmetic.
    # A bias just before a BatchNorm has gradient 0 exactly (the mean is taken out): its
    # Adam steps are rounding noise only, compared by nothing (nor the running means that
    # average the outputs they shift: running_var and every weight are compared).
    before_bn = {"model/generator.project.bias", "model/generator.up1.bias",
                 "model/discriminator.down2.bias", "model/generator.bn0.running_mean",
                 "model/generator.bn1.running_mean", "model/discriminator.norm.running_mean"}
    for k in sorted(set(want) - before_bn):   # 4 D and G steps, BatchNorm's statistics too
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-4, err_msg=k)
        assert np.mean(np.abs(got[k] - want[k]) > 1e-6) < 5e-3, k


def test_an_error_on_rank_0_alone_ends_the_job_in_one_line(tiny_runs, tmp_path):
    """A busy run directory fails rank 0 only (it alone takes the lock): rank 1, already in
    DDP's broadcast, would wait forever; MPI_Abort ends both, with rank 0's one line."""
    from tinygen.train.rundir import RunLock
    out = tmp_path / "busy"
    out.mkdir()
    with RunLock(str(out), "train"):             # held by this (live) process
        done = subprocess.run(tiny_runs.cmd(out), cwd=ROOT, env=tiny_runs.env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("tinygen train")]
    assert len(lines) == 1 and lines[0].startswith("tinygen train: rank 0: "), done.stderr
    assert "Traceback" not in done.stderr
