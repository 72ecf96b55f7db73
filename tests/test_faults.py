"""Fault injection: runs killed (SIGKILL), interrupted (SIGINT) or terminated (SIGTERM) at drawn
steps and resumed are bitwise equal to uninterrupted ones; two trainings into one run
directory; truncated, bit-flipped and malformed checkpoints, configs and IDX files; bad
command lines; grad mode under threads; file modes under the umask. Each fault ends with the
data intact and one line on stderr with a non-zero exit.

Kept fast: a 64-image IDX dataset written here (read with --no-verify or --sha256), VAE
batches of 16 (4 steps an epoch, 3 epochs), and the picture files stubbed out: the pictures'
random draws still run (they are what must not move the training stream), only matplotlib's
drawing is skipped. A killed run is a subprocess whose training_step kills itself at step k.
"""
import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen import cli
from tinygen.checkpoint import read_checkpoint
from tinygen.data.idx import write_idx
from tinygen.models.vae import VAE
from tinygen.train import plots, run

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH, EPOCHS = 4, 3
PICTURES = ("save_image_grid", "save_curves", "save_kl_per_latent", "save_pixel_nll")


def _touch(*args, **kwargs):
    """A picture saver's stand-in: an empty file at the path (the second argument)."""
    Path(args[1]).write_bytes(b"")
    return args[1]


@pytest.fixture(autouse=True)
def _no_drawing(monkeypatch):
    for name in PICTURES:
        monkeypatch.setattr(plots, name, _touch)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A tiny dataset in MNIST's four IDX files (64 train, 16 test images)."""
    d = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for stem, n in (("train", 64), ("t10k", 16)):
        write_idx(d / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(d / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    return d


def train_args(out, data_dir, *extra):
    return ["train", "vae", "--data", "mnist", "--data-dir", str(data_dir), "--no-verify",
            "--epochs", str(EPOCHS), "--batch-size", "16", "--no-progress", "--out", str(out),
            *extra]


def handled(line):
    """A line of a failure the CLI knows (not its catch-all 'unexpected <error>')."""
    return "Traceback" not in line and not line.split(": ", 1)[-1].startswith("unexpected")


def run_cli(argv):
    """cli.main(argv) in this process: (exit status, stderr lines)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cli.main([str(a) for a in argv])
        except SystemExit as e:   # argparse
            rc = e.code
    return rc, err.getvalue().strip().splitlines()


SUBPROCESS = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from tinygen import cli
    from tinygen.models.vae import VAE
    from tinygen.train import plots
    for name in {pictures!r}:
        setattr(plots, name, lambda *a, **k: Path(a[1]).write_bytes(b""))
    original, calls = VAE.training_step, [0]
    def step(self, x, optimizers):
        calls[0] += 1
        if calls[0] == {kill_at}:      # SIGKILL in the middle of step k
            os.kill(os.getpid(), signal.SIGKILL)
        if calls[0] == {wait_at}:      # hold the run directory until told to go on
            Path({ready!r}).write_text("ready")
            while not Path({go!r}).exists():
                time.sleep(0.05)
        return original(self, x, optimizers)
    VAE.training_step = step
    sys.exit(cli.main(sys.argv[1:]))
""")


def spawn(argv, kill_at=0, wait_at=0, ready="", go=""):
    script = SUBPROCESS.format(pictures=PICTURES, kill_at=kill_at, wait_at=wait_at,
                               ready=str(ready), go=str(go))
    return subprocess.Popen([sys.executable, "-c", script, *map(str, argv)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Outcome(dict):
    def __repr__(self):   # hypothesis prints its test's arguments: not every weight
        return f"Outcome(progress={self['progress']})"


def outcome(run):
    """What must be bitwise equal between two runs: the final checkpoint's arrays, step,
    epoch and random state, and the logged values of every step and epoch."""
    ckpt = read_checkpoint(run / "checkpoint.npz")
    opt = ckpt["optimizer"]
    arrays = {f"model/{k}": v.numpy() for k, v in ckpt["model"].items()}
    arrays |= {f"opt/{i}/{k}": np.asarray(getattr(v, "array", v))   # Tensors or arrays
               for i, s in opt["state"].items() for k, v in s.items()}
    metrics = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
               for line in (run / "metrics.jsonl").read_text().splitlines()]
    metrics = [r for r in metrics if r["kind"] in ("train_step", "epoch")]
    return Outcome(arrays={k: (v.dtype.str, v.shape, v.tobytes()) for k, v in arrays.items()},
                   progress=(ckpt["step"], ckpt["epoch"], ckpt["extra"]["batch"]),
                   rng=json.dumps(ckpt["rng"]), groups=opt["param_groups"], metrics=metrics)


def assert_same_run(a, b):
    assert a["progress"] == b["progress"] == (STEPS_PER_EPOCH * EPOCHS, EPOCHS, 0)
    assert a["arrays"].keys() == b["arrays"].keys()
    differ = [k for k in a["arrays"] if a["arrays"][k] != b["arrays"][k]]
    assert not differ, f"{len(differ)} arrays differ bitwise, e.g. {differ[:3]}"
    assert a["rng"] == b["rng"] and a["groups"] == b["groups"]
    assert a["metrics"] == b["metrics"]     # each step logged once, with the same values


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """The uninterrupted run (pictures stubbed by hand: this fixture is module-scoped)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    saved = {name: getattr(plots, name) for name in PICTURES}
    try:
        for name in PICTURES:
            setattr(plots, name, _touch)
        rc, err = run_cli(train_args(out, data_dir))
    finally:
        for name, fn in saved.items():
            setattr(plots, name, fn)
    assert rc == 0, err
    return Reference(out, outcome(out))


class Reference(tuple):
    def __new__(cls, *items):
        return super().__new__(cls, items)

    def __repr__(self):
        return f"Reference({self[0]})"


# ---- interruptions -----------------------------------------------------------------------

@settings(max_examples=3, deadline=None)
@given(k=st.integers(1, STEPS_PER_EPOCH * EPOCHS))
def test_sigkill_at_any_step_then_resume_is_bitwise_uninterrupted(k, reference, data_dir,
                                                                   tmp_path_factory):
    out = tmp_path_factory.mktemp("kill") / "run"
    proc = spawn(train_args(out, data_dir), kill_at=k)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "lock").exists()                       # left behind by the dead process
    if not (out / "checkpoint.npz").exists():            # killed in epoch 1: start again
        rc, err = run_cli(train_args(out, data_dir))
    else:
        rc, err = run_cli(train_args(out, data_dir, "--resume"))
    assert rc == 0, err
    assert any("taking over the stale lock" in line and str(proc.pid) in line for line in err)
    assert not (out / "lock").exists()
    assert_same_run(outcome(out), reference[1])


def test_sigkill_while_writing_pictures_then_resume(reference, data_dir, tmp_path):
    """The old failure: a resume from an epoch-end checkpoint drew pictures from the
    training stream. Killed right after epoch 1's checkpoint, inside its pictures."""
    out = tmp_path / "run"
    script = SUBPROCESS.format(pictures=PICTURES, kill_at=0, wait_at=0, ready="", go="") + ""
    script = script.replace("sys.exit(cli.main", textwrap.dedent("""
        plots.save_image_grid = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        sys.exit(cli.main"""))
    proc = subprocess.run([sys.executable, "-c", script, *train_args(out, data_dir)], cwd=ROOT,
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert read_checkpoint(out / "checkpoint.npz")["epoch"] == 1
    rc, err = run_cli(train_args(out, data_dir, "--resume"))
    assert rc == 0, err
    assert (out / "samples_e001.png").exists()           # the cut-off pictures are redrawn
    assert_same_run(outcome(out), reference[1])


@settings(max_examples=3, deadline=None)
@given(k=st.integers(1, STEPS_PER_EPOCH * EPOCHS))
def test_sigint_at_any_step_then_resume_is_bitwise_uninterrupted(k, reference, data_dir,
                                                                  tmp_path_factory):
    out = tmp_path_factory.mktemp("int") / "run"
    original, calls = VAE.training_step, [0]

    def step(self, x, optimizers):
        calls[0] += 1
        if calls[0] == k:
            signal.raise_signal(signal.SIGINT)   # Ctrl-C: the step finishes, then it stops
        return original(self, x, optimizers)

    saved = {name: getattr(plots, name) for name in PICTURES}
    try:
        VAE.training_step = step
        for name in PICTURES:
            setattr(plots, name, _touch)
        rc, err = run_cli(train_args(out, data_dir))
        VAE.training_step = original
        assert rc == 130, err
        info = read_checkpoint(out / "checkpoint.npz")
        assert info["step"] == k
        if k < STEPS_PER_EPOCH * EPOCHS:
            rc, err = run_cli(train_args(out, data_dir, "--resume"))
            assert rc == 0, err
    finally:
        VAE.training_step = original
        for name, fn in saved.items():
            setattr(plots, name, fn)
    assert_same_run(outcome(out), reference[1])


@settings(max_examples=3, deadline=None)
@given(k=st.integers(1, STEPS_PER_EPOCH * EPOCHS - 1))
def test_sigterm_mid_epoch_then_resume_is_bitwise_uninterrupted(k, reference, data_dir,
                                                                 tmp_path_factory):
    """SIGTERM (kill, SLURM, docker stop) sent from outside while step k runs: the step
    finishes, the checkpoint is written, one line, exit 143; --resume continues bitwise."""
    tmp = tmp_path_factory.mktemp("term")
    out, ready, go = tmp / "run", tmp / "ready", tmp / "go"
    proc = spawn(train_args(out, data_dir), wait_at=k, ready=ready, go=go)
    try:
        deadline = time.time() + 120
        while not ready.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)          # mid-step: step k has begun, not finished
        go.write_text("go")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    said = [line for line in stdout.splitlines() if "checkpoint saved" in line]
    assert len(said) == 1 and said[0].startswith("terminated (SIGTERM)"), stdout
    assert "Traceback" not in stderr, stderr
    assert read_checkpoint(out / "checkpoint.npz")["step"] == k
    assert not (out / "lock").exists()
    rc, err = run_cli(train_args(out, data_dir, "--resume"))
    assert rc == 0, err
    assert_same_run(outcome(out), reference[1])


def test_sigterm_during_start_up_is_one_line(data_dir, tmp_path, monkeypatch):
    def terminated(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        time.sleep(1)

    monkeypatch.setattr(run, "build_model", terminated)
    before = signal.getsignal(signal.SIGTERM)
    rc, err = run_cli(train_args(tmp_path / "run", data_dir))
    assert rc == 143 and err == ["tinygen train: terminated (SIGTERM)"], (rc, err)
    assert not (tmp_path / "run" / "lock").exists()
    assert signal.getsignal(signal.SIGTERM) is before     # the handler is given back


def test_ctrl_c_during_start_up_is_one_line(data_dir, tmp_path, monkeypatch):
    handlers = []

    def interrupted(*args, **kwargs):
        # raise_signal, not os.kill: a process-directed signal may land on one of the worker
        # threads earlier tests left alive, and CPython acts on it only later, in the main thread
        handlers.append(signal.getsignal(signal.SIGINT))
        signal.raise_signal(signal.SIGINT)
        time.sleep(1)

    monkeypatch.setattr(run, "build_model", interrupted)
    rc, err = run_cli(train_args(tmp_path / "run", data_dir))
    # (it failed, handler SIG_IGN, in a suite started in the background: conftest.py's
    # _interactive_sigint now gives every test Python's handler)
    assert rc == 130 and err == ["tinygen train: interrupted"], (rc, err, handlers)
    assert not (tmp_path / "run" / "lock").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ignored_when_training_begins_stays_ignored(signum, data_dir, tmp_path, monkeypatch):
    """A run started with SIGINT ignored (in the background of a script), or SIGTERM, trains
    to its end through that signal, as any Python program would, and leaves it ignored."""
    original, calls = VAE.training_step, [0]

    def step(self, x, optimizers):
        calls[0] += 1
        if calls[0] == 2:
            signal.raise_signal(signum)
        return original(self, x, optimizers)

    monkeypatch.setattr(VAE, "training_step", step)
    previous = signal.signal(signum, signal.SIG_IGN)
    try:
        rc, err = run_cli(train_args(tmp_path / "run", data_dir))
        after = signal.getsignal(signum)
    finally:
        signal.signal(signum, previous)
    assert rc == 0 and err == [], (rc, err)
    assert calls[0] == STEPS_PER_EPOCH * EPOCHS and after is signal.SIG_IGN


# ---- two processes, one run directory ----------------------------------------------------

def test_second_training_into_a_busy_run_is_refused(data_dir, tmp_path):
    out = tmp_path / "run"
    ready, go = tmp_path / "ready", tmp_path / "go"
    first = spawn(train_args(out, data_dir), wait_at=2, ready=ready, go=go)
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        config = (out / "config.json").read_bytes()
        for argv in (train_args(out, data_dir, "--seed", "1"),
                     train_args(out, data_dir, "--resume"),
                     ["sample", out, "-n", "2"],
                     ["eval", out, "--data-dir", data_dir, "--no-verify", "--k", "2"]):
            rc, err = run_cli(argv)
            assert rc == 2 and len(err) == 1, err
            assert f"is in use by pid {first.pid} on " in err[0], err
        assert (out / "config.json").read_bytes() == config
        assert not (out / "samples.png").exists() and not (out / "eval.json").exists()
    finally:
        go.write_text("go")
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert (out / "config.json").read_bytes() == config
    info = read_checkpoint(out / "checkpoint.npz")
    assert (info["step"], info["epoch"]) == (STEPS_PER_EPOCH * EPOCHS, EPOCHS)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2, 3]
    assert not (out / "lock").exists()


# ---- damaged files -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(reference):
    return reference[0]


def _copy_run(src, dst):
    dst.mkdir()
    for name in ("config.json", "checkpoint.npz", "metrics.jsonl"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _flip(data, position, bit=0):
    data = bytearray(data)
    data[position % len(data)] ^= 1 << bit
    return bytes(data)


def _members_with(src, **replace):
    """The bytes of the .npz file `src` with some members replaced (name=array) or dropped
    (name=None): damage below tg.load's dict."""
    with np.load(src) as npz:
        members = {k: npz[k] for k in npz.files}
    members.update(replace)
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in members.items() if v is not None})
    return buf.getvalue()


def _saved_with(src, **replace):
    """The bytes of the checkpoint `src` with entries of its dict replaced or dropped (None),
    as tg.save writes them: a well-formed file holding a malformed checkpoint."""
    checkpoint = tg.load(src)
    for key, value in replace.items():
        if value is None:
            del checkpoint[key]
        else:
            checkpoint[key] = value
    buf = io.BytesIO()
    tg.save(checkpoint, buf)
    return buf.getvalue()


def _json_member(obj):
    return np.frombuffer(json.dumps(obj).encode(), np.uint8)


def _damaged_checkpoints(src):
    data = src.read_bytes()
    model = tg.load(src)["model"]
    name = next(iter(model))
    weight = model[name].numpy()
    return {
        "empty": b"",
        "truncated to half": data[: len(data) // 2],
        "truncated by one byte": data[:-1],
        "random bytes": np.random.default_rng(0).bytes(len(data)),
        "bit flipped in the first member": _flip(data, 100),
        "bit flipped in the middle": _flip(data, len(data) // 2, 3),
        "bit flipped in the zip directory": _flip(data, len(data) - 30, 5),
        "manifest not JSON": _members_with(src, manifest=np.frombuffer(b"{not json", np.uint8)),
        "manifest not UTF-8": _members_with(src, manifest=np.frombuffer(b"\xff\xfe{}", np.uint8)),
        "manifest names a missing array": _members_with(src, a0=None),
        "manifest of an unknown tag": _members_with(src, manifest=_json_member(
            {"format": "tinygen-save", "version": 1, "object": {"pickle": 0}})),
        "a tg.save file of a list": _list_file(),
        "a checkpoint of the first format": _first_format(weight, name),
        "without step": _saved_with(src, step=None),
        "step a string": _saved_with(src, step="ten"),
        "version a list": _saved_with(src, version=[1]),
        "model a list": _saved_with(src, model=[1, 2]),
        "a model entry a string": _saved_with(src, model=model | {name: "w"}),
        "optimizer state not a dict": _saved_with(src, optimizer={"state": [], "param_groups": []}),
        "NaN weights": _saved_with(src, model=model | {name: tg.full(weight.shape, np.nan)}),
        "float64 weights beyond float32": _saved_with(
            src, model=model | {name: np.full(weight.shape, 1e300)}),
    }


def _list_file():
    buf = io.BytesIO()
    tg.save([1, 2], buf)
    return buf.getvalue()


def _first_format(weight, name):
    """A checkpoint as tinygen wrote them before they were tg.save files."""
    meta = {"format": "tinygen-checkpoint", "version": 1, "step": 4, "epoch": 1, "extra": None,
            "model": [name], "optimizer": None}
    buf = io.BytesIO()
    np.savez(buf, meta=_json_member(meta), rng=_json_member({}), **{f"model/{name}": weight})
    return buf.getvalue()


@pytest.mark.parametrize("command", ["sample", "eval", "resume"])
def test_damaged_checkpoints_give_one_line(command, trained, data_dir, tmp_path):
    cases = _damaged_checkpoints(trained / "checkpoint.npz")
    outcomes = {}
    for i, (case, data) in enumerate(cases.items()):
        run = _copy_run(trained, tmp_path / f"run{i}")
        (run / "checkpoint.npz").write_bytes(data)
        argv = {"sample": ["sample", run, "-n", "2"],
                "eval": ["eval", run, "--data-dir", data_dir, "--no-verify", "--k", "2"],
                "resume": train_args(run, data_dir, "--resume", "--epochs", "4")}[command]
        rc, err = run_cli(argv)
        outcomes[case] = (rc, err)
        assert (run / "checkpoint.npz").read_bytes() == data, case           # left as it was
        assert (run / "config.json").read_bytes() == (trained / "config.json").read_bytes()
        assert not (run / "lock").exists()
    bad = {case: o for case, o in outcomes.items()
           if not (o[0] == 2 and len(o[1]) == 1 and "checkpoint.npz" in o[1][0]
                   and handled(o[1][0]))}
    assert not bad, bad


def _damaged_configs(src):
    text = src.read_text()
    config = json.loads(text)
    return {
        "empty": "",
        "truncated": text[: len(text) // 2],
        "bit flipped brace": _flip(text.encode(), 0, 1).decode("latin-1"),
        "not UTF-8": "\udcff",
        "a list": "[1, 2]",
        "model renamed": json.dumps(config | {"model": "vaf"}),
        "batch size a string": json.dumps(config | {"batch_size": "16"}),
        "seed negative": json.dumps(config | {"seed": -1}),
        "lr NaN": json.dumps(config | {"lr": float("nan")}),
        "no data": json.dumps({k: v for k, v in config.items() if k != "data"}),
    }


@pytest.mark.parametrize("command", ["sample", "resume"])
def test_damaged_configs_give_one_line(command, trained, data_dir, tmp_path):
    for i, (case, text) in enumerate(_damaged_configs(trained / "config.json").items()):
        run = _copy_run(trained, tmp_path / f"run{i}")
        data = text.encode("utf-8", "surrogateescape")
        (run / "config.json").write_bytes(data)
        argv = ["sample", run, "-n", "2"] if command == "sample" else \
            train_args(run, data_dir, "--resume", "--epochs", "4")
        rc, err = run_cli(argv)
        assert rc == 2 and len(err) == 1 and "config.json: corrupt config" in err[0], (case, err)
        assert (run / "config.json").read_bytes() == data
        assert (run / "checkpoint.npz").read_bytes() == (trained / "checkpoint.npz").read_bytes()


def _damaged_idx(path):
    """(case, bytes, verify flags) for one gzipped IDX file."""
    import gzip
    data = path.read_bytes()
    raw = gzip.decompress(data)
    sha = hashlib.sha256(raw).hexdigest()
    stem = path.name.removesuffix(".gz")
    own = ["--sha256", f"{stem}={sha}"]
    return [
        ("gz truncated", data[: len(data) // 2], ["--no-verify"]),
        ("gz bit flipped in the data", _flip(data, len(data) // 2, 2), ["--no-verify"]),
        ("gz CRC flipped", _flip(data, len(data) - 6, 0), ["--no-verify"]),
        ("empty", b"", ["--no-verify"]),
        ("raw truncated", raw[:-7], ["--no-verify"]),
        ("raw header flipped", _flip(raw, 2, 4), ["--no-verify"]),
        ("raw with extra bytes", raw + b"\0", ["--no-verify"]),
        ("raw pixel flipped, own SHA-256 given", _flip(raw, 500, 0), own),
        ("raw pixel flipped, published SHA-256", _flip(raw, 500, 0), []),
    ]


def test_damaged_idx_files_give_one_line(data_dir, tmp_path):
    images = data_dir / "train-images-idx3-ubyte.gz"
    for i, (case, data, flags) in enumerate(_damaged_idx(images)):
        d = tmp_path / f"d{i}"
        d.mkdir()
        for f in data_dir.iterdir():
            (d / f.name).write_bytes(f.read_bytes())
        (d / images.name).write_bytes(data)
        argv = train_args(tmp_path / f"run{i}", d, *flags)
        argv.remove("--no-verify")
        rc, err = run_cli(argv)
        assert rc == 2 and len(err) == 1, (case, err)
        assert "train-images-idx3-ubyte" in err[0] and handled(err[0]), (case, err)
        assert (d / images.name).read_bytes() == data
        assert not (tmp_path / f"run{i}" / "checkpoint.npz").exists()
    # the SHA-256 of your own files, given on the command line, is accepted
    flags = []
    for f in sorted(data_dir.iterdir()):
        import gzip
        flags += ["--sha256", f"{f.name}={hashlib.sha256(gzip.decompress(f.read_bytes())).hexdigest()}"]
    argv = train_args(tmp_path / "own", data_dir, *flags, "--epochs", "1")
    argv.remove("--no-verify")
    rc, err = run_cli(argv)
    assert rc == 0, err


# ---- bad command lines -------------------------------------------------------------------

def _bad_inputs(tmp_path, data_dir, trained):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    busy = tmp_path / "other_stuff"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    finished = _copy_run(trained, tmp_path / "finished")
    T = lambda *extra: train_args(tmp_path / "new", data_dir, *extra)   # noqa: E731
    V = lambda *extra: [a for a in T(*extra) if a != "--no-verify"]     # noqa: E731
    R = lambda *extra: train_args(finished, data_dir, "--resume", *extra)  # noqa: E731
    return [
        ("--seed -1", T("--seed", "-1"), "seed"),
        ("--seed 2**64", T("--seed", str(2**64)), "seed"),
        ("--seed abc", T("--seed", "abc"), "seed"),
        ("--lr inf", T("--lr", "inf"), "finite"),
        ("--lr nan", T("--lr", "nan"), "positive"),
        ("--lr 0", T("--lr", "0"), "positive"),
        ("--epochs 0", T("--epochs", "0"), "positive integer"),
        ("--batch-size -3", T("--batch-size", "-3"), "positive integer"),
        ("--batch-size > dataset", T("--batch-size", "65"), "0 steps"),
        ("--out is a file", train_args(a_file, data_dir), "is a file"),
        ("--out holds other files", train_args(busy, data_dir), "not a tinygen run"),
        ("--data-dir missing", train_args(tmp_path / "new", tmp_path / "nodir"), "does not exist"),
        ("--sha256 malformed", V("--sha256", "train-images-idx3-ubyte=abc"), "64-digit"),
        ("--sha256 unknown file", V("--sha256", "train-imgs=" + "0" * 64), "unknown file"),
        ("--sha256 with --no-verify", T("--sha256", "train-images-idx3-ubyte=" + "0" * 64),
         "not allowed with"),
        ("--resume without a checkpoint", T("--resume"), "no checkpoint"),
        ("train into a finished run", train_args(finished, data_dir), "already holds a run"),
        ("--resume, other model", ["train", "ae", "--out", finished, "--resume"], "differs"),
        ("--resume --seed 1", R("--seed", "1"), "--seed 1 differs"),
        ("--resume --batch-size 8", R("--batch-size", "8"), "--batch-size 8 differs"),
        ("--resume --data mnist5k", R("--data", "mnist5k"), "--data 'mnist5k' differs"),
        ("--resume, all epochs done", R(), "nothing to train"),
        ("--lr 1e38 (diverges)", T("--lr", "1e38"), "step "),
        ("gradcheck --ops typo", ["gradcheck", "--ops", "exp", "typo"], "unknown op 'typo'"),
        ("sample a missing run", ["sample", tmp_path / "nowhere"], "not a tinygen run"),
        ("sample --out a directory", ["sample", finished, "--out", tmp_path], "is a directory"),
        ("sample --out in a missing dir", ["sample", finished, "--out", tmp_path / "no/s.png"],
         "no/s.png"),
        ("sample -n 0", ["sample", finished, "-n", "0"], "positive integer"),
        ("eval --data-dir missing", ["eval", finished, "--data-dir", tmp_path / "nodir"],
         "does not exist"),
        ("data path, no name", ["data", "path"], "name a dataset"),
    ]


def test_bad_inputs_give_one_line_and_nonzero_exit(tmp_path, data_dir, trained):
    failures = {}
    for case, argv, message in _bad_inputs(tmp_path, data_dir, trained):
        rc, err = run_cli(argv)
        ok = rc not in (0, None) and len(err) == 1 and message in err[0] and handled(err[0])
        if not ok:
            failures[case] = (rc, err)
    assert not failures, failures
    assert not (tmp_path / "nodir").exists()          # a missing --data-dir is not created


def test_non_finite_step_names_the_step_and_the_op_and_keeps_the_checkpoint(data_dir, tmp_path):
    out = tmp_path / "run"
    assert run_cli(train_args(out, data_dir, "--epochs", "1"))[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    rc, err = run_cli(train_args(out, data_dir, "--resume", "--lr", "1e38"))
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith("tinygen train: step ")
    assert "last good checkpoint (step 4)" in err[0]
    assert "first non-finite value:" in err[0] or "update" in err[0], err
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_applies_and_records_a_new_lr_and_keeps_a_custom_one(data_dir, tmp_path):
    out = tmp_path / "run"

    def state():
        info = read_checkpoint(out / "checkpoint.npz")
        config = json.loads((out / "config.json").read_text())
        resumes = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                   if json.loads(line)["kind"] == "resume"]
        return ({g["lr"] for g in info["optimizer"]["param_groups"]}, config["lr"],
                config["epochs"], info["epoch"], resumes[-1]["changed"] if resumes else None)

    assert run_cli(train_args(out, data_dir, "--epochs", "1", "--lr", "0.002"))[0] == 0
    assert state() == ({0.002}, 0.002, 1, 1, None)
    assert run_cli(train_args(out, data_dir, "--resume", "--epochs", "2"))[0] == 0
    assert state() == ({0.002}, 0.002, 2, 2, {"epochs": [1, 2]})       # the custom lr is kept
    assert run_cli(train_args(out, data_dir, "--resume", "--lr", "0.0005"))[0] == 0
    assert state() == ({0.0005}, 0.0005, 3, 3, {"lr": [0.002, 0.0005], "epochs": [2, 3]})


def test_missing_dataset_lists_every_place_looked_in_one_line(tmp_path, monkeypatch):
    import tinygen.data.sources as sources
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGEN_DATA", raising=False)

    def offline(*args, **kwargs):
        raise sources.DownloadError("offline")

    monkeypatch.setattr(sources, "download", offline)
    (tmp_path / "empty").mkdir()
    rc, err = run_cli(train_args(tmp_path / "run", tmp_path / "empty"))
    assert rc == 2 and len(err) == 1, err
    for place in (tmp_path / "empty" / "mnist", tmp_path / "empty", tmp_path / "cache" / "tinygen" / "mnist"):
        assert f"{place}  (" in err[0], err
    assert "Looked in:" in err[0] and "The download failed: offline" in err[0]
    assert not (tmp_path / "empty" / "mnist").exists()


def test_run_lock_names_its_holder_and_takes_over_a_dead_ones(tmp_path):
    from tinygen.train.rundir import RunLock, RunLockedError
    messages = io.StringIO()
    with RunLock(tmp_path, "train", stream=messages):
        record = json.loads((tmp_path / "lock").read_text())
        assert record["pid"] == os.getpid() and record["command"] == "train"
        with pytest.raises(RunLockedError, match=f"in use by pid {os.getpid()} on "):
            RunLock(tmp_path, "eval").acquire()        # a second open file: refused
    assert not (tmp_path / "lock").exists() and messages.getvalue() == ""
    # a lock file whose owner died (its flock went with it) is taken over, with a message
    (tmp_path / "lock").write_text(json.dumps({"pid": 99999999, "host": "gone", "command": "train",
                                               "started": "then"}))
    with RunLock(tmp_path, "sample", stream=messages):
        assert json.loads((tmp_path / "lock").read_text())["command"] == "sample"
    assert "taking over the stale lock" in messages.getvalue() and "pid 99999999 on gone" in messages.getvalue()


# ---- threads: grad mode is each thread's own ---------------------------------------------

def test_no_grad_in_one_thread_leaves_the_others_recording():
    import threading

    import tinygen as tg
    inside, leave = threading.Event(), threading.Event()
    seen = {}

    def evaluate():
        with tg.no_grad():
            seen["eval inside"] = tg.is_grad_enabled()
            inside.set()
            leave.wait(10)
        seen["eval after"] = tg.is_grad_enabled()

    t = threading.Thread(target=evaluate)
    t.start()
    inside.wait(10)
    w = tg.ones(3, requires_grad=True)
    y = (w * w).sum()                       # recorded here while the other thread is in no_grad
    leave.set()
    t.join()
    assert seen == {"eval inside": False, "eval after": True}
    assert tg.is_grad_enabled() and y.requires_grad
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2, 2, 2])


def test_overlapping_no_grad_blocks_in_two_threads_restore_each_threads_mode():
    """Thread A enters, B enters, A leaves, B leaves: a process-wide flag would be left False
    (B restores the False it saw on entering)."""
    import threading

    import tinygen as tg
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def a():
        with tg.no_grad():
            a_in.set()
            b_in.wait(10)
        after["a"] = tg.is_grad_enabled()
        a_out.set()

    def b():
        a_in.wait(10)
        with tg.no_grad():
            b_in.set()
            a_out.wait(10)
        after["b"] = tg.is_grad_enabled()

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert after == {"a": True, "b": True} and tg.is_grad_enabled()


def test_a_new_thread_starts_with_grad_enabled_as_torch():
    import threading

    import tinygen as tg
    seen = []
    with tg.no_grad():
        t = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        t.start()
        t.join()
        assert not tg.is_grad_enabled()
    assert seen == [True]


class _NoGradDataset:
    """A dataset whose samples are made by tinygen ops under no_grad (a normalization)."""

    def __init__(self, n=256):
        rng = np.random.default_rng(5)
        self.x = rng.standard_normal((n, 8)).astype(np.float32)
        self.y = rng.integers(0, 3, n)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        import tinygen as tg
        with tg.no_grad():
            x = tg.tensor(self.x[i])
            x = (x - x.mean()) / (x.std() + 1.0)
            time.sleep(0.0005)               # stay inside no_grad while the main thread trains
        return x.array, int(self.y[i])


def _train_on_loader(num_workers):
    import tinygen as tg
    import tinygen.nn as nn
    import tinygen.nn.functional as F
    from tinygen.utils.data import DataLoader
    tg.manual_seed(3)
    body, head = nn.Linear(8, 8), nn.Linear(8, 3)
    opt = tg.optim.SGD([*body.parameters(), *head.parameters()], lr=0.1)
    loader = DataLoader(_NoGradDataset(), batch_size=8, num_workers=num_workers)
    for x, y in loader:
        opt.zero_grad()
        h = x + F.relu(body(x))              # a residual block
        F.cross_entropy(head(h), y).backward()
        assert body.weight.grad is not None
        opt.step()
    return [p.array.tobytes() for p in (*body.parameters(), *head.parameters())]


def test_training_beside_dataloader_workers_running_no_grad_equals_no_workers_bitwise():
    """The issue's case: with num_workers=2 whose dataset ran ops under no_grad, 127 of 128
    steps raised in backward(), and a residual block silently got no weight gradient."""
    assert _train_on_loader(num_workers=2) == _train_on_loader(num_workers=0)


def _thread_training_data(seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((6, 32, 1, 16, 16)).astype(np.float32),
            rng.integers(0, 10, (6, 32)))


def _small_classifier(seed):
    """Big enough that its convolutions are split over tinygen's worker threads."""
    import tinygen as tg
    import tinygen.nn as nn
    tg.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 10))


def _train_small(model, data):
    """Adam steps on fixed batches: the final weights' bytes and the losses."""
    import tinygen as tg
    import tinygen.nn.functional as F
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    xs, ys = data
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = F.cross_entropy(model(tg.tensor(x)), tg.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return [p.array.tobytes() for p in model.parameters()], losses


def _evaluate_small(model, data, rounds):
    import tinygen as tg
    outputs = []
    with tg.no_grad():
        for _ in range(rounds):
            for x in data[0]:
                y = model(tg.tensor(x))
                assert not y.requires_grad
                outputs.append(y.array.tobytes())
    return outputs


def test_two_training_threads_and_a_no_grad_evaluation_equal_one_thread_bitwise():
    """Two models trained in two threads while a third thread evaluates under no_grad, all
    at once: each result equal bitwise to the same work done alone on one thread."""
    import threading
    data = [_thread_training_data(seed) for seed in (1, 2, 3)]
    alone = [_train_small(_small_classifier(seed), data[i]) for i, seed in enumerate((10, 11))]
    evaluated_alone = _evaluate_small(_small_classifier(12), data[2], rounds=3)

    models = [_small_classifier(seed) for seed in (10, 11, 12)]
    results, errors = {}, []
    start = threading.Barrier(3)

    def run(name, fn, *args):
        try:
            start.wait(10)
            results[name] = fn(*args)
        except BaseException as e:   # reported below, with the thread's name
            errors.append((name, repr(e)))

    threads = [threading.Thread(target=run, args=("train 0", _train_small, models[0], data[0])),
               threading.Thread(target=run, args=("train 1", _train_small, models[1], data[1])),
               threading.Thread(target=run, args=("eval", _evaluate_small, models[2], data[2], 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i in (0, 1):
        weights, losses = results[f"train {i}"]
        assert losses == alone[i][1], f"thread {i}'s losses differ"
        assert weights == alone[i][0], f"thread {i}'s weights differ bitwise"
    assert results["eval"] == evaluated_alone


# ---- file modes: the umask, as torch.save and np.savez ------------------------------------

@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@settings(max_examples=12, deadline=None)
@given(mask=st.sampled_from([0o022, 0o002, 0o077, 0o027]),
       existing=st.sampled_from([None, 0o664, 0o640, 0o600, 0o644]))
def test_saved_files_get_the_umasks_mode_and_an_overwrite_keeps_the_files(mask, existing):
    """Every atomic writer leaves the mode np.savez leaves on the same path (umask's for a new
    file, the file's own on an overwrite): mkstemp made them 0600 before."""
    import tempfile

    import tinygen as tg
    from tinygen.checkpoint import save_checkpoint
    from tinygen.train.rundir import write_json_atomic
    writers = {
        "tg.save": lambda p: tg.save({"w": tg.ones(2)}, p),
        "save_checkpoint": lambda p: save_checkpoint(p, extra={"k": 1}),
        "write_json_atomic": lambda p: write_json_atomic(p, {"a": 1}),
        "write_idx": lambda p: write_idx(p, np.zeros((2, 2), np.uint8)),
        "np.savez (the oracle)": lambda p: np.savez(p, a=np.ones(2)),
    }
    with tempfile.TemporaryDirectory() as d, _umask(mask):
        modes = {}
        for name, write in writers.items():
            path = Path(d) / (name.split()[0] + ".npz")     # np.savez adds .npz otherwise
            if existing is not None:
                path.write_bytes(b"old")
                os.chmod(path, existing)
            write(path)
            modes[name] = path.stat().st_mode & 0o777
    expected = existing if existing is not None else 0o666 & ~mask
    assert modes == dict.fromkeys(writers, expected), {k: oct(v) for k, v in modes.items()}


def test_a_run_directory_is_readable_by_the_group_under_umask_002(data_dir, tmp_path):
    out = tmp_path / "run"
    with _umask(0o002):
        rc, err = run_cli(train_args(out, data_dir, "--epochs", "1"))
    assert rc == 0, err
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir() if p.is_file()}
    assert set(modes.values()) == {oct(0o664)}, modes
    assert {"checkpoint.npz", "config.json", "metrics.jsonl"} <= modes.keys()


# ---- data the model cannot take: one line before any step ----------------------------------

def _idx_dir(root, side=28, bad_label=None):
    rng = np.random.default_rng(0)
    root.mkdir()
    for stem, n in (("train", 64), ("t10k", 16)):
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        if bad_label is not None:
            labels[5] = bad_label
        write_idx(root / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, side, side), dtype=np.uint8))
        write_idx(root / f"{stem}-labels-idx1-ubyte.gz", labels)
    return root


@pytest.mark.parametrize("model, side, bad_label, expected", [
    ("vae", 32, None, "mnist's images are 1 x 32 x 32, but vae is built for 1 x 28 x 28 images"),
    ("gan", 32, None, "but gan is built for 1 x 28 x 28"),
    ("gated-pixelcnn", 28, 12, "--conditional: 1 of mnist's 64 labels lie outside [0, 10), "
                               "the first 12 (image 5)"),
])
def test_data_the_model_cannot_take_is_one_short_line_before_any_step(model, side, bad_label,
                                                                      expected, tmp_path):
    data = _idx_dir(tmp_path / "idx", side, bad_label)
    extra = ["--conditional"] if bad_label is not None else []
    argv = train_args(tmp_path / "run", data, *extra)
    argv[1] = model
    rc, err = run_cli(argv)
    assert rc == 2 and len(err) == 1 and expected in err[0] and len(err[0]) < 200, err
    assert handled(err[0])
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize("fails, named", [("numpy.savez", "checkpoint.npz"), ("os.fsync", "config.json"),
                                          ("os.write", "lock")])
def test_disk_full_names_the_file_it_could_not_write(fails, named, data_dir, tmp_path, monkeypatch):
    """A write into an open file that fails (ENOSPC) raises an OSError without a file name;
    the one line now says which file (it said only 'No space left on device')."""
    import errno
    module, name = fails.rsplit(".", 1)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(__import__(module), name, full)
    out = tmp_path / "run"
    rc, err = run_cli(train_args(out, data_dir, "--epochs", "1"))
    assert rc == 2 and len(err) == 1, err
    assert "No space left on device" in err[0] and str(out / named) in err[0], err
    assert handled(err[0])


def test_blas_scopes_of_two_threads_overlapping_keep_blas_on_one_thread_until_both_end():
    """Thread A's kernel begins, B's begins, A's ends while B's runs: BLAS stays on one thread
    for B (A used to give it its threads back, and B's GEMMs then rounded otherwise), and
    gets its count back when B's ends."""
    import threading

    from tinygen.kernels import threads
    with threads.blas_on_one_thread():          # finds the BLAS libraries to limit
        pass
    counts = threads.blas_thread_counts
    before = counts()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with threads.blas_on_one_thread():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with threads.blas_on_one_thread():
            b_in.set()
            a_out.wait(10)
            seen["B after A ended"] = counts()
        seen["both ended"] = counts()

    ts = [threading.Thread(target=f) for f in (a, b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    assert seen == {"B after A ended": [1] * len(before), "both ended": before}, (seen, before)


def test_anomaly_mode_checks_one_threads_forward_while_another_runs_a_backward():
    """Anomaly mode suspends forward checks inside a backward (they are reported through the
    backward's result); that suspension is the backward's thread's alone: it used to switch
    them off for a forward in every other thread."""
    import threading

    import tinygen as tg
    from tinygen.autograd import AnomalyError, Function
    inside, leave = threading.Event(), threading.Event()

    class HeldBackward(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            inside.set()
            leave.wait(10)
            return gy * 2

    def train():
        HeldBackward()(tg.ones(2, requires_grad=True)).sum().backward()

    with tg.autograd.detect_anomaly():
        t = threading.Thread(target=train)
        t.start()
        inside.wait(10)
        try:
            with pytest.raises(AnomalyError, match="returned non-finite values in forward"):
                tg.tensor([0.0], requires_grad=True).log()       # -inf, in this thread
        finally:
            leave.set()
            t.join(10)


def test_a_forced_conv_algorithm_is_the_threads_own_and_the_kernel_setting_the_processes():
    """As documented (tinygen/settings.py): use_conv_algorithm is a context variable,
    use_kernels a process-wide setting like torch.backends' flags."""
    import threading

    from tinygen import settings
    seen = {}

    def other():
        seen["conv algorithm"] = settings.conv_algorithm()
        seen["kernel mode"] = settings.kernel_mode()

    with settings.use_conv_algorithm("im2col"), settings.use_kernels("reference"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert settings.conv_algorithm() == "im2col"
    forced_by_env = os.environ.get("TINYGEN_CONV_ALGO") or None
    assert seen == {"conv algorithm": None if forced_by_env == "auto" else forced_by_env,
                    "kernel mode": "reference"}
