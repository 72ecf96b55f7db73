"""The port suite: PyTorch tutorial scripts run unchanged under tinygen.

Each script in this folder is torch code, written once as functions of the imported
framework (`build(torch, nn, F, rng)` makes the models, `run(torch, nn, F, optim, data,
steps, models, rng)` trains and returns the losses). The test runs it under torch (where
installed), copies torch's initial weights into the tinygen models through state_dict (as
NumPy arrays), runs it again with `torch, nn, F, optim` bound to tinygen's modules, and
compares every returned loss within float32 tolerance. Random draws come from `Rng`, one
NumPy stream turned into the framework's tensors, so both runs see the same noise; dropout
is set to p=0 for the comparison (its masks are framework-drawn) and run with the scripts'
own p in a second test.

A script that needs torch names tinygen does not have yet is an expected failure, and the
reason lists those names: they are found by reading the script (every torch./nn./F./optim.
name, every keyword argument given to one, every method called on a tensor or module).
"""
import ast
import importlib
import importlib.util
import inspect
import math
import pathlib
import sys
import tempfile

import numpy as np
import pytest

import tinygen as tg
from test_api_coverage import resolve as _resolve  # tests/ is on sys.path (conftest.py)

HERE = pathlib.Path(__file__).parent
STEPS = 4
# word_language_model's p.data.add_(-lr, p.grad.data) and radam's addcmul_(1 - beta2, g, g) are
# torch's deprecated number-first overloads, as the scripts were written
# (Variable(data, volatile=True), size_average=False, F.log_softmax(x) of the 2017 scripts too)
pytestmark = [pytest.mark.filterwarnings("ignore:This overload of"),
              pytest.mark.filterwarnings("ignore:volatile was removed"),
              pytest.mark.filterwarnings("ignore:Implicit dimension choice"),
              pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated")]

# script -> (build kwargs, run kwargs) for the exact comparison; on the cpu (the tests' cuda
# device is numba's simulator, far too slow for training)
CPU = {"no_cuda": True}
PORTS = {
    "vae_mnist": ({}, CPU),
    "dcgan": ({}, CPU),
    "wgan_gp": ({}, CPU),
    "cgan": ({"dropout": 0.0}, CPU),
    "mnist_classifier": ({"p1": 0.0, "p2": 0.0}, CPU),
    "conv_autoencoder": ({}, CPU),
    "aae": ({}, CPU),
    "pixelcnn": ({}, CPU),
    "sgd_by_hand": ({}, CPU),
    "wgan": ({}, CPU),
    "lstm_classifier": ({}, CPU),
    "time_sequence_prediction": ({}, {}),
    "word_language_model": ({"dropout": 0.0}, CPU),
    "radam": ({}, CPU),
    "vae_2017": ({}, CPU),
    "mnist_2017": ({"p": 0.0}, CPU),
    "dcgan_2017": ({}, CPU),
}
WITH_DROPOUT = ["cgan", "mnist_classifier", "word_language_model", "mnist_2017"]


class Rng:
    """The scripts' random draws (torch.randn/rand/randint in the originals), from one NumPy
    stream, returned as the framework's tensors: float32 noise, int64 labels. `np_random`
    stands for `np.random` in scripts that draw NumPy arrays and wrap them in tensors
    (`Tensor(np.random.normal(0, 1, size))`): the same stream, float64 arrays."""

    def __init__(self, lib, seed):
        self.lib, self.rs = lib, np.random.default_rng(seed)
        self.np_random = self.rs          # .normal(loc, scale, size), .random(size)

    def randn(self, *size):
        return self.lib.tensor(self.rs.standard_normal(tuple(size)).astype(np.float32))

    def randn_like(self, t):
        return self.randn(*t.shape).to(t.device)

    def rand(self, *size):
        return self.lib.tensor(self.rs.random(tuple(size)).astype(np.float32))

    def randint(self, low, high, size):
        return self.lib.tensor(self.rs.integers(low, high, tuple(size)).astype(np.int64))


def mnist_like(n=32, seed=0):
    """n MNIST-shaped examples: mostly dark 1x28x28 images in [0, 1], int64 labels 0-9."""
    rs = np.random.default_rng(seed)
    return {"images": (rs.random((n, 1, 28, 28)) ** 4).astype(np.float32),
            "labels": rs.integers(0, 10, n).astype(np.int64)}


def load(name):
    spec = importlib.util.spec_from_file_location(f"tinygen_ports_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- which torch names a script needs that tinygen lacks --------------------------------

ROOTS = {"torch": "tinygen", "nn": "tinygen.nn", "F": "tinygen.nn.functional",
         "optim": "tinygen.optim"}
# methods of Python's own types and of the test's Rng that scripts call
PLAIN_METHODS = {"append", "items", "find", "randn", "randn_like", "rand", "randint", "block",
                 "format", "chain", "make_optimizers", "normal", "random", "startswith"}


def _chain(node):
    """'a.b.c' for an attribute chain rooted at a Name, else None."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + names[::-1])
    return None


def _accepts(obj, keywords):
    """The keywords obj's signature does not accept (none if it takes **kwargs)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    return [k for k in keywords if k not in sig.parameters]


def missing_names(name):
    """torch names (and keyword arguments) the script uses that tinygen does not have."""
    tree = ast.parse((HERE / f"{name}.py").read_text())
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    missing = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _chain(node)
            root = dotted.split(".")[0] if dotted else None
            if root in ROOTS and _resolve(ROOTS[root] + dotted[len(root):]) is None:
                # report the shortest prefix that is missing
                parts = dotted.split(".")
                for i in range(2, len(parts) + 1):
                    if _resolve(ROOTS[root] + "." + ".".join(parts[1:i])) is None:
                        missing.add(".".join(parts[:i]))
                        break
        if not isinstance(node, ast.Call):
            continue
        keywords = [k.arg for k in node.keywords if k.arg is not None]
        dotted = _chain(node.func)
        root = dotted.split(".")[0] if dotted else None
        if root in ROOTS:
            obj = _resolve(ROOTS[root] + dotted[len(root):])
            if obj is not None:
                missing.update(f"{dotted}({k}=)" for k in _accepts(obj, keywords))
        elif isinstance(node.func, ast.Attribute):
            method = node.func.attr
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id == "self":
                continue  # the script's own submodules and methods
            if method in defined or method in PLAIN_METHODS or method.startswith("__"):
                continue
            owners = [c for c in (tg.Tensor, tg.nn.Module, tg.optim.Optimizer,
                                  tg.optim.lr_scheduler.LRScheduler) if hasattr(c, method)]
            if not owners:
                missing.add(f"Tensor.{method}")
            elif not any(not _accepts(getattr(c, method), keywords) for c in owners):
                rejected = _accepts(getattr(owners[0], method), keywords)
                missing.update(f"Tensor.{method}({k}=)" for k in rejected)
    return sorted(missing)


def _param(name, args):
    missing = missing_names(name)
    marks = [pytest.mark.xfail(strict=True, reason="tinygen lacks " + ", ".join(missing))] \
        if missing else []
    return pytest.param(name, *args, marks=marks, id=name)


# ---- running a script under both frameworks -----------------------------------------------

def _frameworks(lib):
    return lib, lib.nn, lib.nn.functional, lib.optim


def _with_checkpoint_path(name, run_kwargs, folder):
    """The scripts that save a checkpoint get a file in a fresh temporary folder."""
    script = load(name)
    if "checkpoint_path" in inspect.signature(script.run).parameters:
        return dict(run_kwargs, checkpoint_path=str(pathlib.Path(folder) / f"{name}.pt"))
    return run_kwargs


def run_torch(name, build_kwargs, run_kwargs):
    """Torch's results and its models' initial state_dicts as NumPy arrays."""
    torch = pytest.importorskip("torch")
    with tempfile.TemporaryDirectory() as folder:
        return _run_torch(torch, name, build_kwargs,
                          _with_checkpoint_path(name, run_kwargs, folder))


def _run_torch(torch, name, build_kwargs, run_kwargs):
    script = load(name)
    torch.manual_seed(0)
    torch_, nn, F, optim = _frameworks(torch)
    models = script.build(torch_, nn, F, Rng(torch, 1), **build_kwargs)
    initial = {key: {k: v.detach().cpu().numpy().copy() for k, v in m.state_dict().items()}
               for key, m in models.items()}
    out = script.run(torch_, nn, F, optim, mnist_like(), STEPS, models, Rng(torch, 2),
                     **run_kwargs)
    return out, initial


def load_weights(model, arrays):
    """torch's state_dict (arrays) into a tinygen model: every tinygen entry must come from
    it, under the same name and shape; only torch's BatchNorm step counters may be left."""
    own = model.state_dict()
    assert set(own) <= set(arrays), f"tinygen keys not in torch's: {set(own) - set(arrays)}"
    extra = set(arrays) - set(own)
    assert all(k.endswith("num_batches_tracked") for k in extra), extra
    model.load_state_dict({k: arrays[k] for k in own})


def run_tinygen(name, build_kwargs, run_kwargs, initial):
    with tempfile.TemporaryDirectory() as folder:
        return _run_tinygen(name, build_kwargs, _with_checkpoint_path(name, run_kwargs, folder),
                            initial)


def _run_tinygen(name, build_kwargs, run_kwargs, initial):
    script = load(name)
    tg.manual_seed(0)
    torch_, nn, F, optim = _frameworks(tg)
    models = script.build(torch_, nn, F, Rng(tg, 1), **build_kwargs)
    if initial is not None:
        for key, model in models.items():
            load_weights(model, initial[key])
    return script.run(torch_, nn, F, optim, mnist_like(), STEPS, models, Rng(tg, 2),
                      **run_kwargs)


def assert_same_results(ours, theirs, where="result"):
    """Equal structure; floats within float32 tolerance (a few steps of training)."""
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), where
        for k in theirs:
            assert_same_results(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_results(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert math.isfinite(ours), where
        assert ours == pytest.approx(theirs, rel=2e-5, abs=1e-6), where
    else:
        assert ours == theirs, where


@pytest.mark.parametrize("name, build_kwargs, run_kwargs",
                         [_param(n, args) for n, args in PORTS.items()])
def test_script_under_tinygen_equals_torch(name, build_kwargs, run_kwargs):
    theirs, initial = run_torch(name, build_kwargs, run_kwargs)
    ours = run_tinygen(name, build_kwargs, run_kwargs, initial)
    print(f"{name}: tinygen {ours}\n{' ' * len(name)}  torch   {theirs}")
    assert_same_results(ours, theirs)


@pytest.mark.parametrize("name", [_param(n, ()) for n in WITH_DROPOUT])
def test_script_with_dropout_runs_under_tinygen(name):
    """With the scripts' own dropout (masks drawn by tinygen): finite losses, same structure."""
    out = run_tinygen(name, {}, CPU, None)
    for key, values in out.items():
        for v in values if isinstance(values, list) else [values]:
            assert math.isfinite(v), (key, out)


@pytest.mark.parametrize("name", list(PORTS))
def test_script_runs_under_torch(name):
    """The scripts are real torch code: they run, and train (the first loss is finite)."""
    out, _ = run_torch(name, *PORTS[name])
    first = next(iter(out.values()))
    assert math.isfinite(first[0])


def test_dcgan_weights_init_through_data_sets_the_parameters():
    """dcgan's weights_init writes through `.data` (m.weight.data.normal_(0.0, 0.02),
    m.bias.data.fill_(0)), and the comparison test overwrites those draws with torch's
    weights: here, tinygen's own draws are N(0, 0.02) (kurtosis 3, where the default
    uniform init's is 1.8) in the parameters themselves, which stay leaves without history."""
    tg.manual_seed(0)
    models = load("dcgan").build(tg, tg.nn, tg.nn.functional, Rng(tg, 1))
    convs = bns = 0
    for model in models.values():
        for module in model.modules():
            if module.__class__.__name__.find("Conv") != -1 and module.weight.numel() >= 2000:
                w = module.weight.detach().numpy().ravel().astype(np.float64)
                kurtosis = np.mean((w - w.mean()) ** 4) / w.var() ** 2
                assert abs(w.std() - 0.02) < 0.002 and abs(kurtosis - 3) < 0.6, kurtosis
                convs += 1
            elif module.__class__.__name__.find("BatchNorm") != -1:
                w = module.weight.detach().numpy()
                assert abs(w.mean() - 1) < 0.02 and 0 < w.std() < 0.05
                assert not module.bias.detach().numpy().any()
                bns += 1
    assert convs == 3 and bns == 3
    for model in models.values():
        assert all(p.is_leaf and p.requires_grad and p.grad_fn is None
                   for p in model.parameters())


def test_missing_names_are_found_by_reading_the_script(tmp_path, monkeypatch):
    script = tmp_path / "fake.py"
    script.write_text("def run(torch, nn, F, optim):\n"
                      "    x = torch.zeros(3, device='cpu', no_such_kw=1)\n"
                      "    nn.NoSuchLayer(3)\n"
                      "    return x.no_such_method(dim=1), F.relu(x)\n")
    monkeypatch.setattr(sys.modules[__name__], "HERE", tmp_path)
    found = missing_names("fake")
    assert "nn.NoSuchLayer" in found and "Tensor.no_such_method" in found
    assert "torch.zeros(no_such_kw=)" in found and "F.relu" not in found


@pytest.mark.parametrize("name", list(PORTS))
def test_script_is_plain_torch_code(name):
    """Nothing in a script's code knows about tinygen: it imports only the standard library
    and receives torch (or tinygen) as arguments."""
    tree = ast.parse((HERE / f"{name}.py").read_text())
    identifiers = ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
                   | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})
    assert not {i for i in identifiers if "tinygen" in i or i == "tg"}
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported
