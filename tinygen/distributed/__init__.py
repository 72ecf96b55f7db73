"""tinygen.distributed: torch.distributed's collectives, carried by MPI (mpi4py).

    mpirun -n 2 python train.py

    import tinygen.distributed as dist
    dist.init_process_group("mpi")              # the MPI world: rank 0..N-1 of N
    dist.all_reduce(t, op=dist.ReduceOp.AVG)    # every rank's t becomes the mean over ranks

Every collective works in place on a tensor's array through mpi4py's buffer (uppercase) calls,
Allreduce / Bcast / Allgather / Reduce / Iallreduce, on contiguous arrays: no pickling. A
non-contiguous array is copied to a contiguous one and written back.

async_op=True returns a Work whose wait() finishes the collective: all_reduce starts a
non-blocking Iallreduce (DistributedDataParallel overlaps it with backward); the others run
to completion before returning their (already completed) Work.

CuPy (cuda) arrays are staged through host memory: copied to a NumPy array, reduced there,
copied back. A CUDA-aware MPI (Open MPI or MPICH built with CUDA) could take the device
pointer directly and avoid both copies; the wheels (`pip install tinygen[mpi]`) are not.

Without mpirun (or without mpi4py installed) init_process_group("mpi") gives a world of one
process, where every collective is its single-process definition: importing tinygen never
imports mpi4py, and the same script runs with and without mpirun.
"""
import enum
import importlib.util

import numpy as np

from tinygen import backend

__all__ = ["ReduceOp", "Work", "init_process_group", "destroy_process_group", "is_available",
           "is_initialized", "is_mpi_available", "get_backend", "get_rank", "get_world_size",
           "barrier", "all_reduce", "broadcast", "all_gather", "reduce"]


class ReduceOp(enum.Enum):
    """How all_reduce / reduce combine the ranks' tensors (as torch.distributed.ReduceOp)."""
    SUM = "sum"
    AVG = "avg"        # SUM, then divided by the world size (floating dtypes only)
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class _ProcessGroup:
    """The default group: an MPI communicator (or _SelfComm) with its rank and size."""

    def __init__(self, comm, mpi):
        self.comm, self.mpi = comm, mpi
        self.rank, self.size = comm.Get_rank(), comm.Get_size()


class _SelfRequest:
    def Wait(self):
        return None

    def Test(self):
        return True


class _SelfComm:
    """A world of one process, for when mpi4py is not installed: every collective is the
    identity on the buffer, which is its definition for one rank."""
    IN_PLACE = object()

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Barrier(self):
        pass

    def Allreduce(self, sendbuf, recvbuf, op=None):
        if sendbuf is not self.IN_PLACE:
            recvbuf[...] = sendbuf

    def Iallreduce(self, sendbuf, recvbuf, op=None):
        self.Allreduce(sendbuf, recvbuf, op)
        return _SelfRequest()

    def Bcast(self, buf, root=0):
        pass

    def Allgather(self, sendbuf, recvbuf):
        recvbuf[0] = sendbuf

    def Reduce(self, sendbuf, recvbuf, op=None, root=0):
        self.Allreduce(sendbuf, recvbuf, op)


_group = [None]  # the default process group, set by init_process_group (as torch's)


def is_available():
    """True when mpi4py is installed (without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def init_process_group(backend="mpi", init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the MPI world (MPI_COMM_WORLD) as the default process group.

    world_size and rank, if given, must agree with what mpirun started."""
    if backend not in ("mpi", None):
        raise ValueError(f"init_process_group: backend {backend!r} is not supported: tinygen's "
                         f"only backend is 'mpi'")
    if _group[0] is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process "
                           "group twice")
    if is_available():
        from mpi4py import MPI  # initializes MPI (a world of 1 when not under mpirun)
        group = _ProcessGroup(MPI.COMM_WORLD, MPI)
    else:
        group = _ProcessGroup(_SelfComm(), None)
    if world_size not in (-1, None) and world_size != group.size:
        raise ValueError(f"init_process_group: world_size={world_size} but MPI started "
                         f"{group.size} processes")
    if rank not in (-1, None) and rank != group.rank:
        raise ValueError(f"init_process_group: rank={rank} but MPI says this is rank "
                         f"{group.rank}")
    _group[0] = group


def destroy_process_group(group=None):
    """Leave the default group (MPI itself is finalized by mpi4py at exit)."""
    _check_group(group)
    _group[0] = None


def is_initialized():
    return _group[0] is not None


def _default():
    if _group[0] is None:
        raise RuntimeError("Default process group has not been initialized, please make sure "
                           "to call init_process_group.")
    return _group[0]


def _check_group(group):
    if group is not None and group is not _group[0]:
        raise NotImplementedError("tinygen.distributed: only the default group (group=None) "
                                  "is supported")


def get_backend(group=None):
    _check_group(group)
    _default()
    return "mpi"


def get_rank(group=None):
    _check_group(group)
    return _default().rank


def get_world_size(group=None):
    _check_group(group)
    return _default().size


def barrier(group=None, async_op=False, device_ids=None):
    _check_group(group)
    _default().comm.Barrier()
    return Work(None, None) if async_op else None


# ---- buffers --------------------------------------------------------------------------------

def _host_buffer(tensor):
    """(a C-contiguous NumPy array MPI can read and write, whether it must be copied back).

    A contiguous NumPy array is used as it is; CuPy arrays (and non-contiguous ones) are
    staged through a host copy."""
    data = tensor.array
    if isinstance(data, np.ndarray) and data.flags.c_contiguous:
        return data, False
    return np.ascontiguousarray(backend.to_numpy(data)), True


def _write_back(tensor, buf, staged):
    if staged:
        tensor.array[...] = backend.to_device(buf, tensor.device)
    tensor._version += 1


def _mpi_op(group, op, name, dtype):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a tinygen.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating tensor, got {dtype}")
    if np.dtype(dtype) == np.bool_:
        raise TypeError(f"{name}: bool tensors are not supported")
    mpi = group.mpi
    if mpi is None:
        return None
    return {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD,
            ReduceOp.MIN: mpi.MIN, ReduceOp.MAX: mpi.MAX}[op]


def _in_place(group):
    return group.mpi.IN_PLACE if group.mpi is not None else group.comm.IN_PLACE


class Work:
    """The handle of a collective started with async_op=True: wait() finishes it (writes the
    result into the tensor) and returns True."""

    def __init__(self, request, finish):
        self._request, self._finish = request, finish
        self._done = request is None

    def is_completed(self):
        if not self._done and self._request.Test():
            self.wait()
        return self._done

    def wait(self, timeout=None):
        if not self._done:
            self._request.Wait()
            self._done = True
            if self._finish is not None:
                self._finish()
        return True


# ---- collectives ----------------------------------------------------------------------------

def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Every rank's tensor becomes op over all ranks' tensors (in place).

    async_op=True starts a non-blocking Iallreduce and returns a Work; the tensor holds the
    result after work.wait()."""
    _check_group(group)
    g = _default()
    mpi_op = _mpi_op(g, op, "all_reduce", tensor.array.dtype)
    buf, staged = _host_buffer(tensor)

    def finish():
        if op is ReduceOp.AVG:
            buf[...] /= buf.dtype.type(g.size)
        _write_back(tensor, buf, staged)

    if async_op:
        return Work(g.comm.Iallreduce(_in_place(g), buf, mpi_op), finish)
    g.comm.Allreduce(_in_place(g), buf, mpi_op)
    finish()
    return None


def broadcast(tensor, src, group=None, async_op=False):
    """Every rank's tensor becomes rank src's (in place)."""
    _check_group(group)
    g = _default()
    if not 0 <= src < g.size:
        raise ValueError(f"broadcast: src={src} is not a rank of a world of {g.size}")
    buf, staged = _host_buffer(tensor)
    g.comm.Bcast(buf, root=src)
    _write_back(tensor, buf, staged)
    return Work(None, None) if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] becomes rank r's tensor, on every rank (all of the same shape/dtype)."""
    _check_group(group)
    g = _default()
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a "
                         f"world of {g.size}")
    for i, t in enumerate(tensor_list):
        if tuple(t.shape) != tuple(tensor.shape) or t.array.dtype != tensor.array.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] is {tuple(t.shape)} {t.dtype}, "
                             f"the tensor is {tuple(tensor.shape)} {tensor.array.dtype}")
    send = np.ascontiguousarray(backend.to_numpy(tensor.array))
    recv = np.empty((g.size,) + send.shape, send.dtype)
    g.comm.Allgather(send, recv)
    for t, part in zip(tensor_list, recv):
        t.array[...] = backend.to_device(part, t.device)
        t._version += 1
    return Work(None, None) if async_op else None


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank dst's tensor becomes op over all ranks' tensors; the others' are left as they are."""
    _check_group(group)
    g = _default()
    if not 0 <= dst < g.size:
        raise ValueError(f"reduce: dst={dst} is not a rank of a world of {g.size}")
    mpi_op = _mpi_op(g, op, "reduce", tensor.array.dtype)
    buf, staged = _host_buffer(tensor)
    if g.rank == dst:
        g.comm.Reduce(_in_place(g), buf, mpi_op, root=dst)
        if op is ReduceOp.AVG:
            buf[...] /= buf.dtype.type(g.size)
        _write_back(tensor, buf, staged)
    else:
        g.comm.Reduce(buf, None, mpi_op, root=dst)
    return Work(None, None) if async_op else None
