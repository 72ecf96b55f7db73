"""Tensor.data is torch's (a Tensor sharing the values, outside the graph, with a version
counter of its own); Tensor.array is the raw NumPy/CuPy array. The idioms of published torch
scripts, checked against torch where it is installed."""
import numpy as np
import pytest

import tinygen as tg


def test_data_is_a_tensor_sharing_the_values_without_grad_or_history():
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * 2
    for t in (w, y):
        d = t.data
        assert isinstance(d, tg.Tensor) and not d.requires_grad and d.is_leaf
        assert d.grad_fn is None and d.array is t.array
    assert isinstance(w.array, np.ndarray)


def test_in_place_through_data_changes_the_tensor_and_records_nothing():
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w.data.add_(10.0)                   # a hand-written SGD step's p.data.add_(-lr * p.grad)
    w.data.clamp_(-11.5, 11.5)          # WGAN's weight clipping
    np.testing.assert_array_equal(w.numpy(), [11.0, 11.5, 11.5])
    assert w.is_leaf and w.requires_grad and w._version == 0


def test_in_place_through_data_raises_no_version_error_in_a_later_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    loss = (x * w).sum()                # saves w for x's gradient
    w.data.mul_(2)                      # the escape hatch: autograd does not see it
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 8.0])   # the new values, as torch
    loss = (x * w).sum()                # the same change made visibly is caught
    with tg.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_assigning_data_replaces_the_values_and_keeps_requires_grad():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    w.data = tg.zeros(3, 2, dtype="float64")
    assert w.shape == (3, 2) and w.dtype == tg.float64 and w.requires_grad and w.is_leaf
    (w * w).sum().backward()
    assert w.grad.shape == (3, 2)
    with pytest.raises(TypeError, match="must be a Tensor"):
        w.data = np.zeros(2)
    with pytest.raises(TypeError, match="requires grad cannot hold int64"):
        w.data = tg.tensor([1, 2])


def test_the_idioms_of_published_scripts():
    x = tg.arange(12, dtype="float32").reshape(4, 3).requires_grad_()
    assert x.data.size(0) == 4                                  # real.data.size(0)
    np.testing.assert_array_equal(x.data[:2].numpy(), x.numpy()[:2])    # imgs.data[:25]
    np.testing.assert_array_equal(x.data.cpu().numpy(), x.numpy())      # x.data.cpu().numpy()
    m = tg.nn.Conv2d(1, 4, 3)
    m.weight.data.normal_(0.0, 0.02)                            # DCGAN's weights_init
    m.bias.data.fill_(0)
    assert abs(float(m.weight.std()) - 0.02) < 0.015 and float(abs(m.bias).sum()) == 0
    version = m.weight._version
    mask = m.weight.data.clone()                                # PixelCNN's masked conv
    mask.fill_(1)
    mask[:, :, 2, :] = 0
    m.weight.data *= mask
    assert float(abs(m.weight[:, :, 2, :]).sum()) == 0 and m.weight._version == version


def test_detach_still_shares_the_version_counter():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    d, dd = w.detach(), w.data
    d.add_(1)
    assert w._version == 1
    dd.add_(1)
    assert w._version == 1
    np.testing.assert_array_equal(w.numpy(), [3.0, 4.0])


def test_device_predicates_as_torch():
    x = tg.zeros(2)
    assert x.is_cpu and not x.is_cuda
    assert not (x.is_xpu or x.is_mps or x.is_meta or x.is_sparse or x.is_quantized)
    assert x.device.type == "cpu" and x.device.index is None
    d = tg.device("cuda", 0)
    assert d.type == "cuda" and d.index == 0


def test_cuda_legacy_types_exist_and_refuse_without_a_gpu(monkeypatch):
    from tinygen import backend
    assert not isinstance(tg.zeros(2), tg.cuda.FloatTensor)
    assert isinstance(tg.zeros(2), tg.FloatTensor)
    monkeypatch.setattr(backend, "cuda_is_available", lambda: False)
    with pytest.raises(TypeError, match="type tinygen.cuda.FloatTensor not available"):
        tg.cuda.FloatTensor(2, 3)
    with pytest.raises(TypeError, match="type tinygen.cuda.LongTensor not available"):
        tg.cuda.LongTensor([1, 2])


def test_data_semantics_equal_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        loss = (x * w).sum()
        w.data.mul_(2)
        w.data.clamp_(-7.0, 7.0)
        loss.backward()
        d = w.data
        results.append((x.grad.numpy().tolist(), w.detach().numpy().tolist(), d.requires_grad,
                        d.grad_fn is None, d.is_leaf, w.requires_grad, w._version))
    assert results[0] == results[1]
