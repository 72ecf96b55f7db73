"""Data-parallel `tinygen train` under mpirun: `mpirun -n N tinygen train MODEL ...`.

Every rank reads its share of each global batch (--batch-size B): data.image_loader's
DistributedSampler gives rank r every N-th image of the epoch's seeded order, B/N a step, so
the images of global step k are the same whatever N, and their dynamic binarization (drawn
per image, ImageDataset.set_epoch) too: functions of the seed and the global step, not of N. DistributedDataParallel
averages the gradients, so each step is the step of the global batch (the models' losses are
batch means). Rank 0 alone holds the lock and writes the run directory and shows the
progress bar; the other ranks write into a private temporary directory, starting, on
--resume, from a copy of rank 0's checkpoint (the run directory must be visible to every
rank: one machine, or a shared file system).

Noise: each rank's draws inside a step (the VAE's eps, dropout, the GAN's z) come from a
stream of its own, seeded with rng.derive_seed(seed, RANK_STREAM, rank, step) (`step_stream`),
so the ranks' shards get independent noise, as the rows of one process's global batch do.
The stream is a function of the seed, the rank and the global step alone, so the checkpoint's
step is all a resume needs: resumed on the same number of ranks, every rank draws exactly
what it would have, and the run ends bitwise equal to an uninterrupted one. Resumed on a
different number of ranks (or on one process, which draws from the global stream the
checkpoint restores), the data order is reproduced but the noise is not: a row then meets
another rank's (or the global) stream, so the run goes on statistically the same, not
bitwise.

Several optimizers (the GAN's D and G): each optimizer's parameters are those of one
submodule (the discriminator, the generator), which gets a DistributedDataParallel of its own
(`wrap_per_optimizer`), so D's backward averages D's gradients before D's step and G's
backward G's before G's step: the D step then G step of one process on the global batch.
BatchNorm layers become SyncBatchNorm (statistics over the global batch, as one process
computes them; the state_dict keys stay the same), so a run equals one process's up to
float32 rounding.

Ending: mpirun passes a Ctrl-C on to every rank; the ranks agree on it (`any_rank`, one
all-reduce of a flag per step), finish the same step, rank 0 writes the checkpoint, and all
exit with 130 (--resume goes on from there). A rank killed by a signal makes mpirun kill the
others at once. A rank that fails with an error on its own (a busy run directory on rank 0)
would leave the others waiting in a collective, and itself in MPI_Finalize, forever:
`ends_job_on_error` prints its one line and calls MPI_Abort, which ends every rank. A
non-finite loss term of one rank's shard stops every rank at that step (fit's any_rank, a
second all-reduce per step), without the anomaly-mode replay (its collectives would not
match). In each case rank 0's last checkpoint, written atomically (temporary file, fsync,
rename), is intact, and --resume continues from it.

Limits: the logged terms are rank 0's shard's.
"""
import functools
import os
import shutil
import sys
import tempfile
import time

from tinygen import rng

RANK_STREAM = 2   # key of the ranks' in-step streams (train/loop.py's pictures use 1)

_LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def launched_by_mpirun():
    """Whether an MPI launcher started this process (its environment variables say so)."""
    return any(v in os.environ for v in _LAUNCHER_VARIABLES)


def init_world():
    """(rank, world size): the MPI world when started by mpirun with mpi4py installed, else
    (0, 1) without touching MPI."""
    from tinygen import distributed as dist
    if not (launched_by_mpirun() and dist.is_available()):
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    return dist.get_rank(), dist.get_world_size()


def step_stream(seed, rank):
    """step -> a context in which the draws of that step on `rank` come from the stream
    derive_seed(seed, RANK_STREAM, rank, step); outside, the global stream is untouched."""
    def stream(step):
        return rng.fork_rng(rng.derive_seed(seed, RANK_STREAM, rank, step))
    return stream


def wrap_per_optimizer(model, optimizers):
    """Make `model` data-parallel for `optimizers` (name -> optimizer, from
    model.configure_optimizers): BatchNorm -> SyncBatchNorm in place, then one
    DistributedDataParallel on the model (one optimizer) or on the submodule whose
    parameters are exactly each optimizer's (several). The DDPs' hooks stay on the
    parameters, so the model is trained as it is. Returns the DDPs; ValueError when an
    optimizer's parameters are no submodule's."""
    from tinygen.nn import SyncBatchNorm
    from tinygen.nn.parallel import DistributedDataParallel
    if SyncBatchNorm.convert_sync_batchnorm(model) is not model:
        raise ValueError(f"{type(model).__name__} is itself a BatchNorm layer")
    if len(optimizers) == 1:
        return [DistributedDataParallel(model)]
    modules = [(name, m) for name, m in model.named_modules() if name]
    wrapped = []
    for opt_name, opt in optimizers.items():
        want = {id(p) for g in opt.param_groups for p in g["params"]}
        found = [m for _, m in modules
                 if {id(p) for p in m.parameters() if p.requires_grad} == want]
        if not found:
            raise ValueError(f"the parameters of optimizer {opt_name!r} are not those of one "
                             f"submodule of {type(model).__name__}: data-parallel training "
                             "needs one submodule per optimizer")
        wrapped.append(DistributedDataParallel(found[0]))
    return wrapped


def any_rank(flag):
    """Whether `flag` is set on any rank (an all-reduce MAX: every rank must call it)."""
    import numpy as np

    from tinygen import distributed as dist
    from tinygen.autograd.tensor import tensor
    t = tensor(np.array([int(bool(flag))], dtype=np.int64))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.array[0])


def ends_job_on_error(command):
    """Decorate a CLI command: under mpirun, an error (or an interrupt outside training) on
    one rank prints `tinygen train: rank R: <first line>` and calls MPI_Abort, ending every
    rank, rather than leaving the others blocked in a collective. Else the command as is.
    (A non-finite loss on one rank's shard stops every rank at that step, train/loop.py:
    each prints its line, the failing rank's naming the term.)"""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BaseException as e:
            from tinygen import distributed as dist
            if (isinstance(e, SystemExit) or not dist.is_initialized()
                    or dist.get_world_size() < 2):
                raise
            text = (str(e).splitlines() or [""])[0] or type(e).__name__
            print(f"tinygen train: rank {dist.get_rank()}: {text}", file=sys.stderr, flush=True)
            from mpi4py import MPI
            code = 128 + getattr(e, "signum", 2) if isinstance(e, KeyboardInterrupt) else 1
            time.sleep(0.5)   # ranks that stop at the same step (a non-finite loss) all say why
            MPI.COMM_WORLD.Abort(code)
            os._exit(code)   # MPICH's Abort may return before the launcher kills this rank
    return run


def rank_run_dir(out, rank):
    """Where this rank's fit writes: out on rank 0; else a fresh temporary directory holding
    a copy of out's checkpoint and metrics (call after a barrier that follows rank 0's
    checks, before rank 0 writes anything)."""
    if rank == 0:
        return out
    private = tempfile.mkdtemp(prefix=f"tinygen-rank{rank}-")
    for name in ("checkpoint.npz", "metrics.jsonl"):
        if os.path.exists(os.path.join(out, name)):
            shutil.copy2(os.path.join(out, name), os.path.join(private, name))
    return private


def remove_rank_run_dir(run_dir, out):
    if run_dir != out:
        shutil.rmtree(run_dir, ignore_errors=True)
