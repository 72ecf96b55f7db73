"""Tests of tinygen.checkpoint: bitwise round trips, key reports, random-state restore,
atomic writes (a write that dies midway leaves the previous checkpoint intact), and
checkpoints as tg.save files."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tinygen as tg
from tinygen import backend
from tinygen import checkpoint as ckpt
from tinygen import rng as tg_rng
from tinygen.autograd.tensor import Tensor
from tinygen.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


class FakeModel:
    """The duck type load_checkpoint needs: state_dict() and load_state_dict(sd, strict)."""

    def __init__(self, **params):
        self.params = {name: tg.tensor(value) for name, value in params.items()}
        self.loaded = None

    def state_dict(self):
        return dict(self.params)

    def load_state_dict(self, state_dict, strict=True):
        if strict:
            assert set(state_dict) == set(self.params)
        for name, value in state_dict.items():
            self.params[name] = tg.tensor(value.numpy() if isinstance(value, Tensor) else value)
        self.loaded = dict(state_dict)


class FakeOptimizer:
    """torch's optimizer state_dict shape: {"state": {int: {...}}, "param_groups": [...]}."""

    def __init__(self, state=None, param_groups=None):
        self.state = state or {}
        self.param_groups = param_groups or []

    def state_dict(self):
        return {"state": self.state, "param_groups": self.param_groups}

    def load_state_dict(self, state_dict):
        self.state, self.param_groups = state_dict["state"], state_dict["param_groups"]


def odd_arrays(rng):
    """Arrays whose bits matter: NaN payloads, -0.0, denormals, big ints, bools."""
    w = rng.standard_normal((3, 4)).astype(np.float32)
    w[0, :3] = [-0.0, np.float32(1e-45), np.inf]
    w.view(np.uint32)[0, 3] = 0x7FC01234  # a NaN with a payload
    return {"fc.weight": w,
            "fc.bias": rng.standard_normal(3),                            # float64
            "bn.num_batches_tracked": np.array(2**40 + 3, dtype=np.int64),  # 0-d
            "mask": rng.random((2, 2)) > 0.5}


def same_bits(a, b):
    a, b = (np.asarray(v.numpy() if isinstance(v, Tensor) else v) for v in (a, b))
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_model_state_round_trip_is_bitwise(tmp_path):
    params = odd_arrays(np.random.default_rng(0))
    save_checkpoint(tmp_path / "c.npz", FakeModel(**params), step=12, epoch=3)
    other = FakeModel(**{k: np.zeros_like(v) for k, v in params.items()})
    info = load_checkpoint(tmp_path / "c.npz", other)
    assert info["step"] == 12 and info["epoch"] == 3 and info["version"] == ckpt.VERSION
    assert info["missing"] == info["unexpected"] == info["mismatched"] == []
    for name, value in params.items():
        assert same_bits(other.loaded[name], value), name
        assert same_bits(other.params[name].numpy(), value), name
    # the file is a tg.save file: tg.load opens it as the dict a torch user would save
    opened = tg.load(tmp_path / "c.npz")
    assert opened["step"] == 12 and opened["format"] == ckpt.FORMAT
    assert same_bits(opened["model"]["fc.weight"], params["fc.weight"])


def test_optimizer_state_round_trip_keeps_kinds(tmp_path):
    rng = np.random.default_rng(1)
    m = rng.standard_normal(5).astype(np.float32)
    state = {0: {"step": 7, "exp_avg": m, "exp_avg_sq": tg.tensor(m * m),
                 "scale": np.float32(0.1), "flag": True},
             3: {"momentum_buffer": None}}
    groups = [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
               "params": [0, 1, 2, 3], "amsgrad": False}]
    save_checkpoint(tmp_path / "c.npz", optimizer=FakeOptimizer(state, groups))
    opt = FakeOptimizer()
    load_checkpoint(tmp_path / "c.npz", optimizer=opt)
    assert set(opt.state) == {0, 3}  # integer keys come back as integers
    s = opt.state[0]
    assert s["step"] == 7 and type(s["step"]) is int and s["flag"] is True
    assert isinstance(s["exp_avg"], np.ndarray) and same_bits(s["exp_avg"], m)
    assert isinstance(s["exp_avg_sq"], Tensor) and s["exp_avg_sq"].device == "cpu"
    assert same_bits(s["exp_avg_sq"].numpy(), m * m)
    assert type(s["scale"]) is np.float32 and s["scale"] == np.float32(0.1)
    assert opt.state[3] == {"momentum_buffer": None}
    assert opt.param_groups == groups and type(opt.param_groups[0]["betas"]) is tuple


@pytest.mark.skipif(not backend.cuda_is_available(), reason="no GPU and no CUDA simulator")
def test_optimizer_tensors_come_back_on_their_device(tmp_path):
    m = np.arange(4, dtype=np.float32)
    state = {0: {"exp_avg": tg.tensor(m, device="cuda")}}
    save_checkpoint(tmp_path / "c.npz", optimizer=FakeOptimizer(state, []))
    opt = FakeOptimizer()
    load_checkpoint(tmp_path / "c.npz", optimizer=opt)
    assert opt.state[0]["exp_avg"].device == "cuda"
    assert same_bits(backend.to_numpy(opt.state[0]["exp_avg"].array), m)
    load_checkpoint(tmp_path / "c.npz", optimizer=opt, map_location="cpu")
    assert opt.state[0]["exp_avg"].device == "cpu"


def test_extra_is_json_with_tuples(tmp_path):
    extra = {"loss": [88.5, 87.25], "shape": (1, 28, 28), "name": "vae", "best": None}
    save_checkpoint(tmp_path / "c.npz", extra=extra)
    assert read_checkpoint(tmp_path / "c.npz")["extra"] == extra
    with pytest.raises(TypeError, match="cannot store"):
        save_checkpoint(tmp_path / "d.npz", extra={"f": object()})
    assert not (tmp_path / "d.npz").exists()


def test_key_reports_strict_and_not(tmp_path):
    save_checkpoint(tmp_path / "c.npz", FakeModel(a=np.ones(3), b=np.ones((2, 2)), c=np.ones(1)))
    model = FakeModel(a=np.zeros(3), b=np.zeros((2, 3)), d=np.zeros(4))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "c.npz", model)
    message = str(info.value)
    assert "missing keys" in message and "d" in message.split("missing keys")[1].splitlines()[0]
    assert "unexpected keys" in message and ": c" in message
    assert "shape mismatch for b: checkpoint (2, 2), model (2, 3)" in message
    assert model.loaded is None  # a strict failure changes nothing
    info = load_checkpoint(tmp_path / "c.npz", model, strict=False)
    assert info["missing"] == ["d"] and info["unexpected"] == ["c"]
    assert info["mismatched"] == [("b", (2, 2), (2, 3))]
    assert set(model.loaded) == {"a"} and (model.params["a"].numpy() == 1).all()
    assert (model.params["b"].numpy() == 0).all()


def test_rng_restore_continues_the_same_stream(tmp_path):
    tg_rng.manual_seed(123)
    tg.randn(10)
    save_checkpoint(tmp_path / "c.npz")
    expected = [tg.randn(4).numpy(), tg.rand(3).numpy(),
                tg_rng.generator("cpu").random(5, dtype=np.float32)]
    tg_rng.manual_seed(999)
    load_checkpoint(tmp_path / "c.npz")
    got = [tg.randn(4).numpy(), tg.rand(3).numpy(),
           tg_rng.generator("cpu").random(5, dtype=np.float32)]
    for a, b in zip(expected, got):
        assert same_bits(a, b)
    tg_rng.manual_seed(999)
    load_checkpoint(tmp_path / "c.npz", restore_rng=False)
    assert not np.array_equal(tg.randn(4).numpy(), expected[0])


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_checkpoint(path, FakeModel(w=np.arange(6.0)), step=1)
    before = path.read_bytes()

    def savez_dies_midway(f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial zip")  # some bytes reach the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_dies_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, FakeModel(w=np.arange(600.0)), step=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]  # the temporary file was removed
    assert load_checkpoint(path, FakeModel(w=np.zeros(6)))["step"] == 1


def test_killed_write_leaves_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, FakeModel(w=np.arange(6.0)), step=1)
    before = path.read_bytes()
    # a second process starts writing a big checkpoint and is SIGKILLed halfway through
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from tinygen import checkpoint as ckpt
        real_savez = np.savez
        def savez_killed_midway(f, *args, **kwargs):
            real_savez(f, *args, **kwargs)
            f.flush()
            f.truncate(f.tell() // 2)
            os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        np.savez = savez_killed_midway
        class Model:
            def state_dict(self):
                return {{"w": np.ones(1_000_000)}}
        ckpt.save_checkpoint({str(path)!r}, Model(), step=2)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT)
    assert result.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    leftovers = [p for p in os.listdir(tmp_path) if p != "c.npz"]
    assert all(p.startswith(".c.npz.") and p.endswith(".tmp") for p in leftovers)
    assert load_checkpoint(path, FakeModel(w=np.zeros(6)))["step"] == 1


def test_unreadable_files_name_the_file(tmp_path):
    save_checkpoint(tmp_path / "c.npz", FakeModel(w=np.arange(1000.0)))
    data = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable tinygen file") as info:
        load_checkpoint(tmp_path / "cut.npz")
    assert str(tmp_path / "cut.npz") in str(info.value)
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(CheckpointError, match="not a tinygen file"):
        load_checkpoint(tmp_path / "plain.npz")
    tg.save({"fc.weight": tg.ones(2)}, tmp_path / "weights.npz")   # a tg.save file, no checkpoint
    with pytest.raises(CheckpointError, match="not a tinygen checkpoint"):
        load_checkpoint(tmp_path / "weights.npz")
    future = tg.load(tmp_path / "c.npz") | {"version": ckpt.VERSION + 1}
    tg.save(future, tmp_path / "future.npz")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "future.npz")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.npz")


def test_a_checkpoint_of_the_first_format_fails_in_one_clear_line(tmp_path):
    """Before checkpoints were tg.save files they were .npz files of tinygen's own layout
    (a JSON 'meta' entry, 'model/<name>' arrays): loading one says so, in one line."""
    meta = json.dumps({"format": ckpt.FORMAT, "version": 1, "step": 3, "epoch": 1,
                       "extra": None, "model": ["w"], "optimizer": None}).encode()
    np.savez(tmp_path / "old.npz", meta=np.frombuffer(meta, np.uint8),
             rng=np.frombuffer(b"{}", np.uint8), **{"model/w": np.ones(3)})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "old.npz", FakeModel(w=np.zeros(3)))
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(tmp_path / "old.npz") in message
    assert "older tinygen" in message and "version 1" in message


def test_loading_what_was_not_saved_is_an_error(tmp_path):
    save_checkpoint(tmp_path / "c.npz", step=5)
    with pytest.raises(CheckpointError, match="no model state"):
        load_checkpoint(tmp_path / "c.npz", FakeModel(w=np.zeros(1)))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(tmp_path / "c.npz", optimizer=FakeOptimizer())


def test_resumed_training_continues_bitwise(tmp_path):
    """A real nn model + Adam, with dropout drawing from tinygen's random state: training
    k steps, saving, and training k more gives bitwise the same weights as loading the
    checkpoint into a freshly built model and optimizer and training those k steps."""
    import tinygen.nn as nn
    import tinygen.optim as optim

    def build(seed):
        tg.manual_seed(seed)
        model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                              nn.Linear(8, 2))
        return model, optim.Adam(model.parameters(), lr=1e-2)

    x = tg.tensor(np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32))

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()

    model, opt = build(0)
    train(model, opt, 3)
    save_checkpoint(tmp_path / "c.npz", model, opt, step=3)
    train(model, opt, 4)
    expected = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model2, opt2 = build(1)  # other initial weights, other random state
    info = load_checkpoint(tmp_path / "c.npz", model2, opt2)
    assert info["step"] == 3 and "0.weight" in model2.state_dict()
    train(model2, opt2, 4)
    got = model2.state_dict()
    assert set(got) == set(expected)  # parameters and BatchNorm buffers
    for name, value in expected.items():
        assert same_bits(got[name].numpy(), value), name
