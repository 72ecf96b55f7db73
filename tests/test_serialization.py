"""tg.save / tg.load: bitwise round trips of nested state, file objects, atomic writes, and
clear errors for truncated, foreign and future-version files."""
import collections
import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import nn, optim
from tinygen.serialization import MAX_DEPTH, SerializationError


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same(a, b):
    """Equal types all the way down, arrays and tensors bitwise."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, tg.Tensor):
        assert _bits_equal(a.numpy(), b.numpy()) and a.device == b.device
        assert a.requires_grad == b.requires_grad
    elif isinstance(a, (np.ndarray, np.generic)):
        assert _bits_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def _trained():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    model(tg.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


def test_state_dicts_round_trip_bitwise(tmp_path):
    model, opt = _trained()
    weird = np.array([np.nan, -0.0, np.inf, 1e-310], dtype=np.float64)
    obj = {"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3, "lr": 0.5,
           "name": "vae", "none": None, "flag": True, "shape": (2, 3), "ints": [1, 2],
           "weird": weird, "big": np.arange(6, dtype=">i4").reshape(2, 3),
           "scalar": np.float32(1.5), "u8": tg.tensor([0, 255], dtype=tg.uint8),
           "mask": tg.tensor([True, False]), "empty": tg.zeros(0, 3), "zerod": tg.tensor(2.0),
           "leaf": tg.ones(2, requires_grad=True), (1, "a"): "tuple key", 7: float("nan")}
    tg.save(obj, tmp_path / "ckpt.pt")
    back = tg.load(tmp_path / "ckpt.pt")
    _same(obj, back)
    assert isinstance(back["model"], collections.OrderedDict)
    assert back["big"].dtype.byteorder == ">"
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]   # no temporary file left


def test_state_dicts_load_back_into_fresh_objects(tmp_path):
    model, opt = _trained()
    tg.save({"model": model.state_dict(), "optim": opt.state_dict()}, str(tmp_path / "c.pt"))
    tg.manual_seed(1)
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh_opt = optim.Adam(fresh.parameters(), lr=1e-2)
    state = tg.load(str(tmp_path / "c.pt"), map_location="cpu", weights_only=True)
    fresh.load_state_dict(state["model"])
    fresh_opt.load_state_dict(state["optim"])
    for (k, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert _bits_equal(a.numpy(), b.numpy()), k
    x = tg.randn(2, 3)
    assert _bits_equal(model(x).numpy(), fresh(x).numpy())


def test_parameters_come_back_as_parameters(tmp_path):
    model, _ = _trained()
    tg.save(model.state_dict(keep_vars=True), tmp_path / "p.pt")
    back = tg.load(tmp_path / "p.pt")
    assert all(isinstance(v, nn.Parameter) and v.requires_grad for v in back.values())


def test_file_objects_and_map_location():
    buf = io.BytesIO()
    tg.save([tg.arange(3), {"x": tg.ones(2)}], buf)
    buf.seek(0)
    back = tg.load(buf, map_location=tg.device("cpu"))
    assert back[0].tolist() == [0, 1, 2] and type(back[0].device) is tg.device
    buf.seek(0)
    assert tg.load(buf, map_location={"cuda": "cpu"})[1]["x"].tolist() == [1.0, 1.0]
    buf.seek(0)
    back = tg.load(buf, map_location=lambda storage, loc: storage)   # old scripts' idiom
    assert back[1]["x"].tolist() == [1.0, 1.0] and back[1]["x"].device == "cpu"
    buf.seek(0)
    with pytest.raises(TypeError, match="map_location"):
        tg.load(buf, map_location=3)


def test_unsupported_objects_are_refused_and_leave_the_old_file(tmp_path):
    path = tmp_path / "c.pt"
    tg.save({"a": 1}, path)
    model, _ = _trained()
    with pytest.raises(TypeError, match=r"state_dict\(\)"):
        tg.save(model, path)
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\]"):
        tg.save({"a": [1, object()]}, path)
    assert tg.load(path) == {"a": 1} and os.listdir(tmp_path) == ["c.pt"]


def test_truncated_foreign_and_future_files(tmp_path):
    good = tmp_path / "good.pt"
    tg.save({"w": tg.randn(100)}, good)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(data[:cut])
        with pytest.raises(SerializationError, match="cut"):
            tg.load(bad)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello, not a zip at all" * 10)
    with pytest.raises(SerializationError, match="not a readable tinygen file"):
        tg.load(junk)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(2))
    with pytest.raises(SerializationError, match="no manifest"):
        tg.load(plain)
    future = tmp_path / "future.pt"
    manifest = {"format": "tinygen-save", "version": 99, "object": None}
    with open(future, "wb") as f:
        np.savez(f, manifest=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    with pytest.raises(SerializationError, match="version 99 is newer"):
        tg.load(future)
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "missing.pt")


def test_a_torch_file_is_named_as_such(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    assert zipfile.is_zipfile(path)
    with pytest.raises(SerializationError, match="torch.save file"):
        tg.load(path)


def test_round_trip_matches_torch(tmp_path):
    """The same nest through torch.save/load and tg.save/load: same structure, same bits."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4).astype(np.float32),
              "steps": np.arange(3)}
    t_obj = {"sd": collections.OrderedDict((k, torch.from_numpy(v)) for k, v in arrays.items()),
             "epoch": 2, "betas": (0.9, 0.999), "names": ["a", "b"]}
    g_obj = {"sd": collections.OrderedDict((k, tg.tensor(v)) for k, v in arrays.items()),
             "epoch": 2, "betas": (0.9, 0.999), "names": ["a", "b"]}
    torch.save(t_obj, tmp_path / "t.pt")
    tg.save(g_obj, tmp_path / "g.pt")
    t_back, g_back = torch.load(tmp_path / "t.pt"), tg.load(tmp_path / "g.pt")
    assert type(t_back["sd"]) is type(g_back["sd"]) and list(t_back["sd"]) == list(g_back["sd"])
    for k in arrays:
        assert _bits_equal(t_back["sd"][k].numpy(), g_back["sd"][k].numpy())
    for k in ("epoch", "betas", "names"):
        assert t_back[k] == g_back[k] and type(t_back[k]) is type(g_back[k])


def test_cuda_tensors_round_trip_and_map_location():
    if not tg.cuda.is_available():
        pytest.skip("no cuda device (nor the simulator)")
    buf = io.BytesIO()
    x = tg.randn(4, dtype=tg.float64, device="cuda")
    tg.save({"x": x}, buf)
    for where, device in ((None, "cuda"), ("cpu", "cpu"), ({"cuda": "cpu"}, "cpu")):
        buf.seek(0)
        back = tg.load(buf, map_location=where)["x"]
        assert back.device == device and _bits_equal(back.numpy(), x.numpy())


@settings(max_examples=10, deadline=None)
@given(depth=st.sampled_from([1, 50, MAX_DEPTH, MAX_DEPTH + 1, 500, 3000]),
       kind=st.sampled_from([list, tuple, dict]))
def test_deep_nests_round_trip_or_are_refused_by_name_not_by_recursion_error(depth, kind):
    obj = tg.ones(2)
    for _ in range(depth):
        obj = {"k": obj} if kind is dict else kind([obj])
    f = io.BytesIO()
    if depth > MAX_DEPTH:
        with pytest.raises(ValueError, match=f"nested more than {MAX_DEPTH} containers deep"):
            tg.save(obj, f)
        return
    tg.save(obj, f)
    f.seek(0)
    back = tg.load(f)
    for _ in range(depth):
        back = back["k"] if kind is dict else back[0]
    assert back.tolist() == [1.0, 1.0]


def test_an_object_array_is_refused_naming_its_place():
    for value in (np.array([1, "x", None], dtype=object), np.array([None], dtype=object)[0:1]):
        with pytest.raises(TypeError, match=r"dtype object at obj\['state'\]\[2\]"):
            tg.save({"state": [0, 1, value]}, io.BytesIO())
