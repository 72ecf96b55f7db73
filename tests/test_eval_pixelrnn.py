"""benchmarks/eval_pixelrnn.py on tiny synthetic IDX files (8x8 images): a resumed run equals
an uninterrupted one bitwise, and the PyTorch twin trained on the same batches from the same
weights reaches the same test NLL."""
import json
import os

import numpy as np
import pytest

import tinygen as tg
from tinygen.data import write_idx


@pytest.fixture
def script(monkeypatch):
    """The eval_pixelrnn module, with the thread settings its main() makes undone afterwards."""
    import numba
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    monkeypatch.syspath_prepend("benchmarks")
    numba_threads = numba.get_num_threads()
    try:
        import torch
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    import eval_pixelrnn
    with tg.settings.use_num_threads(tg.get_num_threads()):     # main() sets its own count
        yield eval_pixelrnn
    numba.set_num_threads(numba_threads)
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)


@pytest.fixture
def data(tmp_path):
    """A directory with MNIST-named IDX files of 12 training and 5 test 8x8 images."""
    rng = np.random.default_rng(0)
    d = tmp_path / "idx"
    d.mkdir()
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(d / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
        write_idx(d / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return str(d)


def run(script, data, out, *args):
    return script.main(["--data", data, "--no-verify", "--out", str(out), "--batch-size", "4",
                        *args])


def test_resumed_run_equals_uninterrupted_one(script, data, tmp_path):
    # 3 batches per epoch: 2 steps, then resumed to 5, stops and restarts inside epoch 0
    straight = run(script, data, tmp_path / "a", "--model", "row", "--steps", "5")
    run(script, data, tmp_path / "b", "--model", "row", "--steps", "2")
    resumed = run(script, data, tmp_path / "b", "--model", "row", "--steps", "5", "--resume")
    assert straight["steps"] == resumed["steps"] == 5
    assert straight["epochs"] == resumed["epochs"] == 5 * 4 / 12
    a, b = (tg.load(tmp_path / d / "row_tinygen.npz")["model"] for d in "ab")
    weights = [k for k in a if "weight" in k or "bias" in k]
    assert weights and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in weights)
    assert straight["test_nll_nats"] == resumed["test_nll_nats"]
    # a zero budget only evaluates again
    again = run(script, data, tmp_path / "b", "--model", "row", "--budget", "0", "--resume")
    assert again["steps"] == 5 and again["test_nll_nats"] == resumed["test_nll_nats"]


@pytest.mark.parametrize("model", ["row", "diagonal", "gated"])
def test_torch_twin_trains_like_tinygen(script, data, tmp_path, model):
    pytest.importorskip("torch")
    ours = run(script, data, tmp_path, "--model", model, "--steps", "4", "--test-limit", "3")
    theirs = run(script, data, tmp_path, "--model", model, "--framework", "torch",
                 "--test-limit", "3")                     # steps: the tinygen run's
    assert theirs["steps"] == ours["steps"] == 4 and theirs["test_images"] == 3
    assert theirs["parameters"] == ours["parameters"]
    # same start, same batches, same Adam: only float32 rounding differs after 4 steps
    assert theirs["test_nll_nats"] == pytest.approx(ours["test_nll_nats"], rel=1e-4)
    script.main(["--table", "--out", str(tmp_path)])
    with open(tmp_path / "table.json") as f:
        assert json.load(f)["tinygen_vs_torch"][model]["no_worse"]
