"""The fast kernels' caching allocator (tinygen/kernels/common.py: empty, zeros): a freed
output's memory is reused, memory that any array still uses never is, and a training step
stops page-faulting once warm."""
import resource
import sys
import threading

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.kernels import common

BIG = (256, 512)                                   # 512 KiB of float32: pooled


def test_a_freed_output_is_reused_and_small_arrays_are_numpys():
    a = common.empty(BIG, np.float32)
    address = a.ctypes.data
    del a
    b = common.empty(BIG, np.float32)
    assert b.ctypes.data == address and b.shape == BIG and b.dtype == np.float32
    small = common.empty((4, 4), np.float64)
    assert small.base is None                      # NumPy's own, not a view of a buffer
    z = common.zeros(BIG, np.float64)
    assert not z.any() and z.flags.c_contiguous


@pytest.mark.parametrize("shape", [(4, 6), (512, 256)], ids=["small", "pooled"])
def test_empty_like_is_c_contiguous_with_the_shape_and_dtype_of_any_layout(shape):
    a = np.zeros(shape, np.float64)
    for view in (a, a.T, a[::2], a[:, 1:]):
        out = common.empty_like(view)
        assert out.shape == view.shape and out.dtype == view.dtype and out.flags.c_contiguous
        assert not np.shares_memory(out, a)
    assert (common.empty_like(a).base is None) == (a.nbytes < common.POOL_MIN_BYTES)


@pytest.mark.parametrize("keep", [lambda a: a[::2].T, lambda a: a.reshape(-1)[7:],
                                  lambda a: tg.Tensor.wrap(a, "cpu", False),
                                  lambda a: memoryview(a)],
                         ids=["a strided view", "a flat slice", "a tensor over it", "a memoryview"])
def test_memory_still_used_by_any_array_is_never_handed_out(keep):
    a = common.empty(BIG, np.float32)
    a.fill(1.0)
    kept = keep(a)
    del a
    for _ in range(3):
        b = common.empty(BIG, np.float32)
        b.fill(2.0)
        values = np.asarray(kept.array if isinstance(kept, tg.Tensor) else kept)
        assert (values == 1.0).all()
        del b


def test_kernel_outputs_held_by_tensors_stay_theirs():
    x = tg.randn(64, 32, 16, 16)
    first = F.relu(x)
    want = first.numpy().copy()
    for _ in range(3):
        F.relu(-x)                                  # freed at once: its buffer is reused
    np.testing.assert_array_equal(first.numpy(), want)


def test_threads_allocating_at_once_never_share_a_buffer():
    errors = []

    def work(k):
        for _ in range(200):
            a = common.empty(BIG, np.float32)
            a.fill(k)
            if not (a == k).all():
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []


def test_release_free_buffers_keeps_the_busy_ones():
    busy = common.empty((300, 700), np.float32)
    free = common.empty((301, 700), np.float32)             # the same 206 pages as busy
    del free
    common.release_free_buffers()
    reserved = common.memory_reserved()
    again = common.empty((301, 700), np.float32)            # free's buffer was given back: a new one
    assert common.memory_reserved() == reserved + 206 * 4096
    address = busy.ctypes.data
    del busy, again
    assert common.empty((300, 700), np.float32).ctypes.data == address   # busy's stayed, first


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="minor page faults: Linux")
def test_a_warm_conv_step_does_not_page_fault():
    conv1, conv2 = tg.nn.Conv2d(1, 32, 3, 2, 1), tg.nn.ConvTranspose2d(32, 1, 4, 2, 1)
    x = tg.rand(64, 1, 28, 28)

    def step():
        y = conv2(F.relu(conv1(x)))
        F.binary_cross_entropy_with_logits(y[:, :, :28, :28], x, reduction="sum").backward()

    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        step()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    assert faults < 100, f"{faults} minor page faults a step"     # fresh arrays: thousands


@pytest.mark.parametrize("make", [
    lambda rs: rs.standard_normal((28, 64, 28, 16)).astype(np.float32).transpose(1, 3, 0, 2),
    lambda rs: rs.standard_normal((9, 7, 5))[:, ::2],
    lambda rs: np.broadcast_to(rs.standard_normal(5), (3, 4, 5)),
    lambda rs: rs.standard_normal((6, 4)).T,
])
def test_contiguous_copies_what_is_not_and_keeps_what_is(make):
    # a permuted operand: the workers copy slices of its leading axis into a pooled buffer
    a = make(np.random.default_rng(0))
    c = common.contiguous(a)
    assert c.flags.c_contiguous and c.shape == a.shape and c.dtype == a.dtype
    np.testing.assert_array_equal(c, np.ascontiguousarray(a), strict=True)
    assert common.contiguous(c) is c
