"""DistributedDataParallel: one model replica per process, gradients averaged over processes.

    dist.init_process_group("mpi")
    model = DistributedDataParallel(model)      # every rank starts from rank 0's weights
    loss = loss_fn(model(x_local), y_local)     # x_local: this rank's share of the batch
    loss.backward()                             # .grad = mean over ranks of the local grads
    optimizer.step()                            # same update on every rank: replicas agree

Averaging the gradients of equal local batches equals the gradient of the mean loss over the
global batch, so N ranks with B/N samples each take the same steps as one process with B.

Gradients are flattened into buckets of about bucket_cap_mb (parameters in reverse order, as
torch: the last layers' gradients are computed first in backward). Each parameter has a
post-accumulate-grad hook (autograd/engine.py fires it as soon as that parameter's last use
in the graph has been differentiated); when all of a bucket's gradients are ready, the bucket
is launched as a non-blocking all-reduce (MPI Iallreduce), so communication overlaps the rest
of backward. Buckets are launched in bucket order on every rank (MPI requires the same order
of collectives everywhere). When the last bucket has been launched, i.e. at the end of
backward, DDP waits for all of them and writes the averages back into the .grad's.

Every parameter that requires grad must receive a gradient in each backward (torch's
find_unused_parameters=False); otherwise the next forward raises, naming the parameters.
"""
import contextlib

from tinygen import backend
from tinygen import distributed as dist
from tinygen.autograd import grad_mode
from tinygen.autograd.tensor import Tensor
from tinygen.nn.module import Module


class _Bucket:
    """Parameters whose gradients travel as one flat array (one dtype, one device)."""

    def __init__(self, params):
        self.params = params
        self.ready = set()   # ids of the params whose gradient is ready in this backward
        self.work = self.flat = None


class DistributedDataParallel(Module):
    """Wraps `module` (kept as .module); forward passes through; backward averages the
    gradients over all ranks of the default process group."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=25,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if find_unused_parameters:
            raise NotImplementedError("DistributedDataParallel: find_unused_parameters=True is "
                                      "not supported: every parameter must get a gradient")
        dist._check_group(process_group)
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.bucket_cap_mb = bucket_cap_mb
        self.world_size = dist.get_world_size()
        self.require_backward_grad_sync = True
        with grad_mode.no_grad():   # every replica starts from rank 0's state
            for p in module.parameters():
                dist.broadcast(p, 0)
            for b in module.buffers():
                dist.broadcast(b, 0)
        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = _make_buckets(params[::-1], bucket_cap_mb * 2 ** 20)
        self._next_launch = 0
        self._handles = []
        for bucket in self._buckets:
            for p in bucket.params:
                self._handles.append(p.register_post_accumulate_grad_hook(
                    self._make_hook(bucket)))

    def _make_hook(self, bucket):
        def hook(param):
            if not self.require_backward_grad_sync:
                return
            bucket.ready.add(id(param))
            if len(bucket.ready) == len(bucket.params):
                self._launch_ready()
        return hook

    def _launch_ready(self):
        """Launch, in bucket order, every bucket whose gradients are all ready; after the last
        one, wait for all and write the averages back."""
        buckets = self._buckets
        while (self._next_launch < len(buckets)
               and len(buckets[self._next_launch].ready) == len(buckets[self._next_launch].params)):
            bucket = buckets[self._next_launch]
            xp = backend.array_module(bucket.params[0].device)
            flat = xp.concatenate([p.grad.array.reshape(-1) for p in bucket.params])
            bucket.flat = Tensor.wrap(flat, bucket.params[0].device, False)
            bucket.work = dist.all_reduce(bucket.flat, op=dist.ReduceOp.AVG, async_op=True)
            self._next_launch += 1
        if self._next_launch == len(buckets):
            for bucket in buckets:
                bucket.work.wait()
                offset = 0
                for p in bucket.params:
                    n = p.array.size
                    p.grad = Tensor.wrap(bucket.flat.array[offset:offset + n].reshape(p.shape),
                                          p.device, False)
                    offset += n
                bucket.ready, bucket.work, bucket.flat = set(), None, None
            self._next_launch = 0

    def forward(self, *inputs, **kwargs):
        if self._next_launch or any(b.ready for b in self._buckets):
            ready = set().union(*(b.ready for b in self._buckets))
            missing = [name for name, p in self.module.named_parameters()
                       if p.requires_grad and id(p) not in ready]
            raise RuntimeError(
                f"DistributedDataParallel: the previous backward did not give every parameter "
                f"a gradient, so its reduction never finished; parameters without a gradient: "
                f"{', '.join(missing) or '(none; a backward was interrupted)'}")
        if self.broadcast_buffers and self.world_size > 1 and grad_mode.is_grad_enabled():
            with grad_mode.no_grad():
                for b in self.module.buffers():
                    dist.broadcast(b, 0)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside accumulates local gradients without communicating; the first
        backward outside averages the accumulated gradients (gradient accumulation)."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old


def _make_buckets(params, cap_bytes):
    """Consecutive runs of params (one dtype and device each) of at most cap_bytes (a
    parameter larger than the cap gets a bucket of its own)."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = p.array.size * p.array.dtype.itemsize
        if current and (size + nbytes > cap_bytes or p.array.dtype != current[0].array.dtype
                        or p.device != current[0].device):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets
