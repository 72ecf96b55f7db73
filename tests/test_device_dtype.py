"""tg.device, dtype objects, factories' device=/dtype=, .to/.float/.type/..., legacy names."""
import pickle

import numpy as np
import pytest

import tinygen as tg

FACTORIES = [
    lambda **kw: tg.zeros(2, 3, **kw), lambda **kw: tg.ones((2, 3), **kw),
    lambda **kw: tg.empty(2, 3, **kw), lambda **kw: tg.full((2, 3), 1.5, **kw),
    lambda **kw: tg.arange(0, 6, **kw), lambda **kw: tg.linspace(0, 1, 5, **kw),
    lambda **kw: tg.eye(3, **kw), lambda **kw: tg.rand(2, 3, **kw),
    lambda **kw: tg.randn(2, 3, **kw), lambda **kw: tg.randint(0, 5, (2, 3), **kw),
    lambda **kw: tg.randperm(4, **kw), lambda **kw: tg.tensor([1.0, 2.0], **kw),
    lambda **kw: tg.zeros_like(tg.ones(2), **kw), lambda **kw: tg.ones_like(tg.ones(2), **kw),
    lambda **kw: tg.empty_like(tg.ones(2), **kw), lambda **kw: tg.full_like(tg.ones(2), 3, **kw),
    lambda **kw: tg.rand_like(tg.ones(2), **kw), lambda **kw: tg.randn_like(tg.ones(2), **kw),
    lambda **kw: tg.randint_like(tg.ones(2), 5, **kw),
]


def test_device_object_semantics():
    d = tg.device("cuda:0")
    assert d == "cuda:0" and d.type == "cuda" and d.index == 0 and repr(d) == \
        "device(type='cuda', index=0)"
    assert tg.device("cuda", 0) == d and tg.device(d) is d
    cpu = tg.device("cpu")
    assert cpu == "cpu" and cpu.type == "cpu" and cpu.index is None
    assert hash(cpu) == hash("cpu") and {cpu: 1}["cpu"] == 1
    assert tg.device("cuda") != tg.device("cuda:0")   # as torch
    assert pickle.loads(pickle.dumps(d)) == d and type(pickle.loads(pickle.dumps(d))) is tg.device
    with pytest.raises(RuntimeError, match="invalid device"):
        tg.device("tpu")


def test_tensor_device_is_a_device_object():
    x = tg.randn(2)
    for t in (x, x + 1, 1 + x, x * 2.0, tg.tensor(3.0), x.sum(), x[0], tg.ones_like(x)):
        assert type(t.device) is tg.device and t.device == "cpu" and t.device.type == "cpu"
    assert not x.is_cuda


@pytest.mark.parametrize("make", FACTORIES)
def test_every_factory_takes_device_and_dtype(make):
    t = make(device=tg.device("cpu"), dtype=tg.float64)
    assert t.dtype == tg.float64 and t.device == "cpu"
    assert make(device="cpu", dtype="int32").dtype == tg.int32   # the names still work


def test_dtype_objects_compare_with_everything():
    x = tg.randn(2)
    assert x.dtype == tg.float32 and tg.float32 == x.dtype and x.dtype == "float32"
    assert tg.float32 == "float32" and tg.float32 == np.float32 and str(tg.float32) == "float32"
    assert tg.float == tg.float32 and tg.double == tg.float64 and tg.long == tg.int64
    assert tg.tensor([1, 2]).dtype == tg.int64 and tg.tensor([True]).dtype == tg.bool
    assert {tg.float32: "f"}[x.dtype] == "f"
    assert np.zeros(2, dtype=tg.uint8).dtype == np.uint8
    assert tg.tensor([1.0], dtype="torch.float64").dtype == tg.float64
    assert isinstance(x.dtype, tg.dtype) and isinstance(tg.int64, tg.dtype)   # torch.dtype's role


def test_default_dtype():
    assert tg.get_default_dtype() == tg.float32
    try:
        tg.set_default_dtype(tg.float64)
        assert tg.tensor(1.5).dtype == tg.float64 and tg.zeros(2).dtype == tg.float64
        assert tg.randn(2).dtype == tg.float64 and tg.arange(0.0, 2.0).dtype == tg.float64
        assert tg.tensor([1, 2]).dtype == tg.int64
    finally:
        tg.set_default_dtype(tg.float32)
    assert tg.tensor(1.5).dtype == tg.float32
    with pytest.raises(TypeError, match="float32 and float64"):
        tg.set_default_dtype(tg.int64)


def test_to_and_casts():
    x = tg.randn(3, requires_grad=True)
    assert x.to(tg.float32) is x and x.to("cpu") is x and x.to(x) is x
    c = x.to(tg.float32, copy=True)
    assert c is not x and np.array_equal(c.numpy(), x.numpy())
    y = x.to(tg.float64)
    assert y.dtype == tg.float64 and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype == tg.float32 and np.array_equal(x.grad.numpy(), np.ones(3))
    assert x.to("cpu", tg.float64).dtype == tg.float64
    assert x.to(device="cpu", dtype="float64", non_blocking=True).dtype == tg.float64
    assert x.to(tg.zeros(1, dtype=tg.int64)).dtype == tg.int64
    assert not x.long().requires_grad and x.long().dtype == tg.int64
    for method, dtype in [("float", tg.float32), ("double", tg.float64), ("long", tg.int64),
                          ("int", tg.int32), ("bool", tg.bool)]:
        assert getattr(x, method)().dtype == dtype
    with pytest.raises(TypeError, match="float16"):
        x.half()
    assert x.type() == "tinygen.FloatTensor" and x.double().type() == "tinygen.DoubleTensor"
    assert x.type(tg.float64).dtype == tg.float64 and x.type(tg.LongTensor).dtype == tg.int64
    assert x.type("torch.DoubleTensor").dtype == tg.float64
    assert x.type_as(tg.zeros(1, dtype=tg.int32)).dtype == tg.int32
    assert [tg.zeros(1, dtype=d).element_size() for d in (tg.float32, tg.float64, tg.bool)] == \
        [4, 8, 1]
    assert x.cpu() is x


def test_accelerator_and_cuda():
    assert tg.accelerator.is_available() == tg.cuda.is_available()
    acc = tg.accelerator.current_accelerator()
    assert (acc == "cuda") if tg.cuda.is_available() else acc is None
    assert tg.cuda.device_count() == int(tg.cuda.is_available())
    if not tg.cuda.is_available():
        with pytest.raises(RuntimeError, match="no GPU"):
            tg.zeros(1, device="cuda")


def test_legacy_constructors_and_variable():
    assert tg.FloatTensor(2, 3).shape == (2, 3) and tg.FloatTensor(2, 3).dtype == tg.float32
    assert tg.LongTensor([1, 2]).tolist() == [1, 2] and tg.LongTensor([1, 2]).dtype == tg.int64
    assert tg.FloatTensor(np.ones(2)).dtype == tg.float32 and tg.FloatTensor().shape == (0,)
    assert isinstance(tg.LongTensor([1]), tg.LongTensor) and isinstance(tg.zeros(1), tg.Tensor)
    assert not isinstance(tg.zeros(1), tg.LongTensor)
    x = tg.zeros(2)
    v = tg.autograd.Variable(x, requires_grad=True)
    assert v is x and v.requires_grad


def test_generator_is_private_and_reproducible():
    tg.manual_seed(0)
    a = tg.randperm(10, generator=tg.Generator().manual_seed(3))
    b = tg.randperm(10, generator=tg.Generator().manual_seed(3))
    after = tg.randn(2)
    tg.manual_seed(0)
    assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(after.numpy(), tg.randn(2).numpy())
    assert tg.Generator().manual_seed(5).initial_seed() == 5


def test_torch_oracle_semantics():
    torch = pytest.importorskip("torch")
    pairs = [(torch.float32, tg.float32), (torch.float64, tg.float64), (torch.int64, tg.int64),
             (torch.int32, tg.int32), (torch.bool, tg.bool), (torch.uint8, tg.uint8)]
    for t_dtype, g_dtype in pairs:
        assert torch.zeros(1, dtype=t_dtype).element_size() == tg.zeros(1, dtype=g_dtype).element_size()
    assert torch.tensor(1.5).dtype == torch.float32 and tg.tensor(1.5).dtype == tg.float32
    assert str(torch.full((2,), 3).dtype) == "torch." + str(tg.full((2,), 3).dtype)
    assert str(torch.full((2,), True).dtype) == "torch." + str(tg.full((2,), True).dtype)
    assert str(torch.arange(3).dtype) == "torch." + str(tg.arange(3).dtype)
    assert torch.device("cuda:0").index == tg.device("cuda:0").index == 0
    assert torch.device("cuda").index is None and tg.device("cuda").index is None
    assert torch.zeros(1).type() == "torch.FloatTensor" and tg.zeros(1).type() == "tinygen.FloatTensor"
    assert torch.FloatTensor(2, 3).shape == tg.FloatTensor(2, 3).shape
    # older scripts' eps = torch.FloatTensor(std.size()).normal_(): a Size is a size, a plain
    # tuple or list is data
    for m in (torch, tg):
        x = m.zeros(2, 3)
        assert tuple(m.FloatTensor(x.size()).normal_().shape) == (2, 3)
        assert tuple(m.DoubleTensor(x.size()).shape) == (2, 3)
        assert tuple(x.new(x.size()).shape) == (2, 3)
        assert m.FloatTensor([2, 3]).tolist() == [2.0, 3.0] and tuple(m.FloatTensor(()).shape) == (0,)
        assert m.FloatTensor((2, 3)).tolist() == [2.0, 3.0]
        assert x.size() == (2, 3) and x.size().numel() == 6 and isinstance(x.size(), tuple)
    assert repr(tg.zeros(2, 3).size()) == "tinygen.Size([2, 3])"


def test_cuda_device_objects_and_factories():
    if not tg.cuda.is_available():
        pytest.skip("no cuda device (nor the simulator)")
    for make in FACTORIES:
        t = make(device=tg.device("cuda:0"))
        assert t.is_cuda and type(t.device) is tg.device and t.device == "cuda"
    x = tg.randn(3, requires_grad=True)
    y = x.to("cuda:0", tg.float64)
    assert y.is_cuda and y.dtype == tg.float64 and (y * 2).device.type == "cuda"
    (y * 2).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 2.0, 2.0]
    assert x.cuda().cpu().device == "cpu" and tg.zeros_like(y, device="cpu").device == "cpu"


def test_an_attention_mask_on_another_device_is_named():
    if not tg.cuda.is_available():
        pytest.skip("no cuda device (nor the simulator)")
    q = tg.randn(2, 3, device="cuda")
    mask = tg.tensor([[True, False], [True, True]])
    with pytest.raises(RuntimeError, match=r"scaled_dot_product_attention: attn_mask \(2, 2\) is on "
                                           r"cpu, query \(2, 3\) on cuda"):
        tg.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)


def test_from_numpy_as_tensor_and_predicates_as_torch():
    torch = pytest.importorskip("torch")
    a = np.arange(3.0)
    t, g = torch.from_numpy(a), tg.from_numpy(a)
    a[0] = 9.0                                   # both share the array's memory
    assert t.tolist() == g.tolist() == [9.0, 1.0, 2.0] and str(t.dtype) == f"torch.{g.dtype}"
    for data in ([1, 2], [1.5], np.arange(2, dtype=np.int32), 3.0, [True]):
        assert str(torch.as_tensor(data).dtype) == f"torch.{tg.as_tensor(data).dtype}"
    assert tg.as_tensor(a).array is a and tg.as_tensor(a, dtype=tg.float32).dtype == tg.float32
    x = tg.ones(2)
    assert tg.as_tensor(x) is x and tg.is_tensor(x) and not tg.is_tensor(a)
    assert x.is_floating_point() and tg.is_floating_point(x) and not tg.arange(2).is_floating_point()
    assert tg.finfo(tg.float32).eps == torch.finfo(torch.float32).eps
    assert tg.iinfo(tg.int64).max == torch.iinfo(torch.int64).max
    with pytest.raises(TypeError, match="from_numpy"):
        tg.from_numpy([1, 2])
