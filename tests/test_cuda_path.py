"""The GPU path without a GPU (issue 13): the availability probe, CuPy-only random draws,
the cuda stream in checkpoints, copies onto the device."""
import sys
import types

import numpy as np
import pytest

import tinygen as tg
from tinygen import backend


# ---- availability: tg.cuda.is_available() probes and says why not -----------------------
def test_why_unavailable_says_simulated_under_the_simulator():
    if not backend.simulator_enabled():
        pytest.skip("needs the CUDA simulator")
    assert tg.cuda.is_available()
    assert "simulat" in tg.cuda.why_unavailable()
    assert not backend.gpu_available()


def _fake_cupy(matmul_error=None):
    """A module shaped like CuPy whose one device's cuBLAS call raises `matmul_error`."""
    class Array:
        def __init__(self, a):
            self.a = a

        def __matmul__(self, other):
            raise matmul_error

    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), float32=np.float32,
                                 ones=lambda shape, dtype: Array(np.ones(shape, dtype)))


def test_probe_names_missing_cupy(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setitem(sys.modules, "cupy", None)   # import cupy -> ImportError
    cupy, why = backend.probe_gpu()
    assert cupy is None and "CuPy does not import" in why and "gpu" in why


def test_probe_names_a_failing_cublas_call(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(RuntimeError("libcublas.so.12: not found")))
    cupy, why = backend.probe_gpu()
    assert cupy is None and "cuBLAS" in why and "libcublas.so.12" in why and "[ctk]" in why


@pytest.mark.parametrize("driver, extra, cupy_package", [
    ((13, 0), "gpu-cuda13", "cupy-cuda13x[ctk]"), ((12, 4), "gpu", "cupy-cuda12x[ctk]"),
    ((14, 1), "gpu-cuda13", "cupy-cuda13x[ctk]")])
def test_probe_names_the_extra_that_fits_the_driver(monkeypatch, driver, extra, cupy_package):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setattr(backend, "driver_cuda_version", lambda: driver)
    monkeypatch.setitem(sys.modules, "cupy", None)
    why = backend.probe_gpu()[1]
    assert f"supports CUDA {driver[0]}.{driver[1]}" in why and f"tinygen[{extra}]" in why, why
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(RuntimeError("libcublas.so: not found")))
    why = backend.probe_gpu()[1]
    assert f"{cupy_package} (the '{extra}' extra)" in why, why


def test_probe_without_a_driver_names_both_extras(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setattr(backend, "driver_cuda_version", lambda: None)
    monkeypatch.setitem(sys.modules, "cupy", None)
    why = backend.probe_gpu()[1]
    assert "no NVIDIA driver found" in why and "'gpu-cuda13'" in why and "'gpu'" in why, why
    assert backend.gpu_extra((11, 8)) == backend.GPU_EXTRAS[12]


def test_the_extras_named_are_setup_pys():
    import ast
    with open("setup.py") as f:
        extras = next(node for node in ast.walk(ast.parse(f.read()))
                      if isinstance(node, ast.keyword) and node.arg == "extras_require").value
    declared = {key.value: [item.value for item in value.elts]
                for key, value in zip(extras.keys, extras.values)}
    for extra, cupy_package, numba_package in backend.GPU_EXTRAS.values():
        assert cupy_package.split("[")[0] in " ".join(declared[extra]), declared[extra]
        assert numba_package in " ".join(declared[extra]), declared[extra]


def test_probe_names_no_device(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    fake = _fake_cupy()
    fake.cuda.runtime.getDeviceCount = lambda: 0
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert backend.probe_gpu() == (None, "CuPy finds no CUDA GPU (getDeviceCount() == 0)")


def test_install_check_flags_cuda13_and_missing_libraries():
    sys.path.insert(0, "benchmarks")
    try:
        import check_install
    finally:
        sys.path.remove("benchmarks")
    good = {"cupy-cuda12x": "14.2.0", "nvidia-cublas-cu12": "12.9.2.10", "nvidia-curand-cu12": "10.3",
            "nvidia-cusolver-cu12": "11.7", "nvidia-cuda-nvrtc-cu12": "12.9", "numba-cuda": "0.30.4",
            "nvidia-nvjitlink-cu12": "12.9.86", "cuda-bindings": "12.9.10", "numpy": "2.4.6"}
    assert check_install.problems(good, "gpu") == []
    bad = dict(good, **{"cuda-bindings": "13.5.0"})
    del bad["nvidia-curand-cu12"]
    found = check_install.problems(bad, "gpu")
    assert any("cuda-bindings==13.5.0" in p for p in found) and "nvidia-curand-cu12 missing" in found
    assert check_install.problems({"cuda-bindings": "13.5.0", "numba-cuda": "0.30.4"}, "test")
    cuda13 = {"cupy-cuda13x": "14.2.0", "cuda-toolkit": "13.5.0", "nvidia-cublas": "13.10.0.20",
              "nvidia-curand": "10.4.5.25", "nvidia-cusolver": "12.4.1.2", "nvidia-cuda-nvrtc": "13.5.37",
              "nvidia-nvjitlink": "13.5.37", "nvidia-nvvm": "13.5.37", "numba-cuda": "0.30.4",
              "cuda-bindings": "13.5.0"}   # what pip resolved it to here, 2026-12
    assert check_install.problems(cuda13, "gpu-cuda13") == []
    found = check_install.problems(dict(cuda13, **{"cuda-bindings": "12.9.10", "nvidia-cublas-cu12": "12.9"}),
                                   "gpu-cuda13")
    assert any("cuda-bindings==12.9.10" in p for p in found) and any("nvidia-cublas-cu12" in p for p in found)


# ---- the strict fake CuPy: what a real GPU refuses fails here too ---------------------------
@pytest.fixture
def fake_gpu(monkeypatch):
    """The cuda device backed by tinygen.fake_cupy (strict CuPy stand-in) for one test."""
    if not backend.simulator_enabled():
        pytest.skip("the fake CuPy runs the kernels in the CUDA simulator")
    monkeypatch.setenv("TINYGEN_FAKE_CUPY", "1")
    from tinygen import fake_cupy
    tg.manual_seed(0)                     # the cuda stream is recreated from fake_cupy.random
    yield fake_cupy
    tg.manual_seed(0)


def test_fake_cupy_refuses_implicit_host_use(fake_gpu):
    xp = fake_gpu
    a = xp.arange(6, dtype=np.float32).reshape(2, 3)
    assert backend.array_module("cuda") is xp and isinstance(tg.zeros(2, device="cuda").array, xp.ndarray)
    for host_call in (lambda: np.asarray(a), lambda: np.add(a, np.ones(3)), lambda: np.sum(a),
                      lambda: np.shape(a), lambda: a + np.ones(3, np.float32),
                      lambda: np.ones(3, np.float32) * a, lambda: a.__setitem__(0, np.zeros(3))):
        with pytest.raises(TypeError):
            host_call()
    assert "data" in a.__cuda_array_interface__ and a.__cuda_array_interface__["version"] == 3
    assert isinstance(xp.exp(a) + 1, xp.ndarray) and isinstance(a.sum(), xp.ndarray)
    assert isinstance(np.float32(2) * a, xp.ndarray) and isinstance(np.exp(a), xp.ndarray)  # as CuPy
    with fake_gpu.counting_syncs() as syncs:
        assert float(a.sum()) == 15.0 and a.get().shape == (2, 3) and a[1, 2].item() == 5.0
    assert syncs == {"float": 1, "get": 1, "item": 1}
    g = xp.random.default_rng(0)                        # CuPy's Generator: no normal/permutation
    assert not hasattr(g, "normal") and not hasattr(g, "permutation")


def test_fake_cupy_counts_data_dependent_sizes_as_syncs(fake_gpu):
    """A result whose size depends on the values: CuPy reads a count back first (a sync),
    for a boolean mask in an index or an assignment, nonzero, flatnonzero, argwhere, unique,
    where(c), compress, extract; not for an integer index, or where(c, a, b)."""
    xp = fake_gpu
    a = xp.arange(6, dtype=np.float32).reshape(2, 3)
    mask = a > 2
    calls = {"mask": [lambda: a[mask], lambda: a.__setitem__(mask, 0.0), lambda: a[0, mask[1]]],
             "nonzero": [lambda: xp.nonzero(mask), lambda: mask.nonzero()],
             "flatnonzero": [lambda: xp.flatnonzero(mask)], "argwhere": [lambda: xp.argwhere(mask)],
             "unique": [lambda: xp.unique(a)], "where": [lambda: xp.where(mask)],
             "compress": [lambda: xp.compress(mask[0], a, axis=1)], "extract": [lambda: xp.extract(mask, a)]}
    for kind, fns in calls.items():
        for fn in fns:
            with fake_gpu.counting_syncs() as syncs:
                fn()
            assert dict(syncs) == {kind: 1}, (kind, dict(syncs))
    with fake_gpu.counting_syncs() as syncs:
        a[xp.asarray(np.array([1, 0]))], xp.where(mask, a, 0.0), a[:, 1:]
    assert not syncs
    x = tg.tensor(np.arange(-3.0, 3.0, dtype=np.float32), device="cuda", requires_grad=True)
    with fake_gpu.counting_syncs() as syncs:    # through tinygen: x[x > 0], forward and backward
        x[x > 0].sum().backward()
    assert syncs["mask"] >= 1, dict(syncs)
    np.testing.assert_array_equal(x.grad.array.get(), [0, 0, 0, 0, 1, 1])


def test_fake_cupy_counts_a_launch_per_new_array_and_none_for_views(fake_gpu):
    xp = fake_gpu
    a = xp.ones((4, 3), dtype=np.float32)
    with fake_gpu.counting_launches() as launches:
        a.reshape(3, 4), a.T, a[1:], a.astype(np.float32, copy=False), xp.empty((5,))
        xp.broadcast_to(a[0], (2, 4, 3))
    assert not launches, dict(launches)
    with fake_gpu.counting_launches() as launches:
        b = a * 2                     # 1
        b += 1                        # 1, in place
        a.sum(), xp.exp(a), a @ a.T   # 3
        a[xp.asarray(np.array([0, 2]))]   # 1: a gather
        b[0] = 5.0                    # 1
        xp.concatenate([a] * 9)       # 1: CuPy's single kernel for more than 8 arrays
        xp.concatenate([a] * 3)       # 3: a copy each
        xp.random.default_rng(0).standard_normal(3, dtype=np.float32)   # 1
    assert sum(launches.values()) == 12, dict(launches)


def test_a_linear_adam_step_and_conv_make_no_host_sync(fake_gpu):
    import tinygen.nn as nn
    import tinygen.nn.functional as F
    m = nn.Linear(4, 3).to("cuda")
    opt = tg.optim.Adam(m.parameters(), lr=1e-2)
    x, y = tg.randn(5, 4, device="cuda"), tg.randn(5, 3, device="cuda")
    w0 = m.weight.array.get()
    with fake_gpu.counting_syncs() as syncs:
        opt.zero_grad()
        F.mse_loss(m(x), y).backward()
        nn.utils.clip_grad_norm_(m.parameters(), 0.1)
        opt.step()
        xc = tg.randn(1, 2, 5, 5, device="cuda", requires_grad=True)
        wc = tg.randn(3, 2, 3, 3, device="cuda", requires_grad=True)
        F.conv2d(xc, wc, padding=1).sum().backward()
        mc = nn.MaskedConv2d(2, 2, 3, mask_type="B", padding=1).to("cuda")
        mc(xc).sum().backward()
        F.nll_loss(F.log_softmax(m(x), 1), tg.tensor([0, 1, 2, 0, 1], device="cuda")).backward()
    assert not syncs, dict(syncs)
    assert not np.array_equal(m.weight.array.get(), w0) and xc.grad is not None and mc.weight.grad is not None


@pytest.mark.parametrize("name, kwargs", [("Adam", {}), ("AdamW", dict(weight_decay=0.1)),
                                          ("SGD", dict(momentum=0.9, nesterov=True))])
def test_an_optimizer_step_is_one_kernel_launch_per_group(fake_gpu, name, kwargs):
    """B1's 10 parameters (the VAE MLP: 784x400, 400, 400x20 x2, 20 x2, 20x400, 400, 400x784,
    784, here at width 8) in one group: an Adam, AdamW or SGD step is one launch of the
    fused kernel and no other GPU work; a call per parameter (foreach=False, as before) is 10.
    The first step adds the state's allocation (zeros, per parameter), counted apart."""
    import tinygen.nn as nn
    shapes = [(8, 16), (8,), (4, 8), (4, 8), (4,), (4,), (8, 4), (8,), (16, 8), (16,)]
    counts = {}
    for foreach in (None, False):
        params = [nn.Parameter(tg.randn(*s, device="cuda")) for s in shapes]
        opt = getattr(tg.optim, name)(params, lr=1e-2, foreach=foreach, **kwargs)
        for p in params:
            p.grad = tg.randn(*p.shape, device="cuda")
        opt.step()                                        # the state is made here
        with fake_gpu.counting_launches() as launches, fake_gpu.counting_syncs() as syncs:
            opt.step()
        assert not syncs, dict(syncs)
        counts[foreach] = dict(launches)                  # every kernel, numba's and CuPy's
    kernel = "numba:_adam" if name.startswith("Adam") else "numba:_sgd"
    assert counts[None] == {kernel: 1}
    assert counts[False] == {kernel: len(shapes)}


_LOWER_OPTIMIZER_KERNELS = """
import sys
import numba
import numpy as np
try:
    from numba.cuda.compiler import compile_cuda
except ImportError:
    sys.exit(3)
sys.path.insert(0, "benchmarks")
import ptx_check
for dtype in (np.float32, np.float64):
    for name in ("fused.adam", "fused.sgd"):
        kernel, args = ptx_check.kernel_table(dtype)[name]
        compile_cuda(kernel.py_func, numba.types.void, tuple(numba.typeof(a) for a in args),
                     cc=(8, 0))
"""


def test_the_optimizer_kernels_type_and_lower_for_a_gpu():
    """The simulator runs a kernel as Python, so a tuple-of-arrays kernel that numba.cuda
    cannot type would pass here and fail on a GPU: numba-cuda's compiler types and lowers
    fused_cuda's adam and sgd kernels with the arguments their launches pass (to NVVM IR;
    the PTX needs NVRTC, benchmarks/ptx_check.py), in a process with the simulator off."""
    import os
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "-c", _LOWER_OPTIMIZER_KERNELS], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode == 3:
        pytest.skip("numba-cuda's compiler is not installed")
    assert done.returncode == 0, done.stderr[-3000:]


def test_model_training_steps_make_no_host_sync(fake_gpu):
    """A VAE / PixelCNN step returns its logged terms as 0-d device arrays, and the Bernoulli
    likelihood's input check makes no sync on the device: 0 syncs a step."""
    from tinygen.models.pixelcnn import PixelCNN
    from tinygen.models.vae import VAE
    x = tg.tensor((np.random.default_rng(0).random((2, 1, 8, 8)) > 0.5).astype(np.float32), device="cuda")
    for model in (VAE(image_shape=(1, 8, 8), hidden=(6,), latent_dim=2),
                  PixelCNN(channels=4, n_layers=1, head_channels=4)):
        model = model.to("cuda")
        with fake_gpu.counting_syncs() as syncs:
            logs = model.training_step(x, model.configure_optimizers())
        assert not syncs, dict(syncs)
        assert all(isinstance(v, fake_gpu.ndarray) and v.shape == () for v in logs.values())
        assert all(np.isfinite(float(v)) for v in logs.values())


def test_input_checks_on_the_device_make_no_sync_and_give_nan(fake_gpu):
    """Loss targets and distribution values and parameters out of range: a host array raises,
    a device one makes no sync and gives NaN where invalid (backend.check_values)."""
    import tinygen.nn.functional as F
    from tinygen import distributions as D

    def dev(a, dtype=np.float32):
        return tg.tensor(np.asarray(a, dtype), device="cuda")
    logits = tg.randn(3, 4, device="cuda")
    with fake_gpu.counting_syncs() as syncs, np.errstate(invalid="ignore"):   # log of -1: NaN
        bad = {"nll_loss": F.nll_loss(F.log_softmax(logits, 1), dev([0, 5, 1], np.int64), reduction="none"),
               "cross_entropy": F.cross_entropy(logits, dev([0, -1, 1], np.int64)),
               "smoothed": F.cross_entropy(logits, dev([0, 4, -100], np.int64), label_smoothing=0.1),
               "bce": F.binary_cross_entropy(dev([0.5, 1.5]), dev([1.0, 0.0]), reduction="none"),
               "gaussian_nll": F.gaussian_nll_loss(dev([0.0, 0.0]), dev([1.0, 1.0]), dev([1.0, -1.0]),
                                                   reduction="none"),
               "Bernoulli value": D.Bernoulli(logits=dev([0.0, 0.0])).log_prob(dev([1.0, 0.5])),
               "Bernoulli probs": D.Bernoulli(probs=dev([0.5, 1.5])).log_prob(dev([1.0, 1.0])),
               "Categorical value": D.Categorical(logits=logits).log_prob(dev([0, 7, 1], np.int64)),
               "Categorical probs": D.Categorical(probs=dev([[0.5, 0.5], [1.0, -0.5]])).log_prob(
                   dev([0, 0], np.int64)),
               "Normal": D.Normal(dev([0.0, 0.0]), dev([1.0, -1.0])).log_prob(dev([0.0, 0.0]))}
        good = F.nll_loss(F.log_softmax(logits, 1), dev([0, 3, 1], np.int64), reduction="none")
    assert not syncs, dict(syncs)
    for name, out in bad.items():
        values = out.array.get().reshape(-1)
        assert np.isnan(values).any(), name
        if values.size > 1:   # the valid entries keep their values
            assert np.isfinite(values).sum() == values.size - 1, (name, values)
    np.testing.assert_array_equal(bad["nll_loss"].array.get()[[0, 2]], good.array.get()[[0, 2]])
    weight = tg.randn(3, 2, device="cuda")
    with fake_gpu.counting_syncs() as syncs:
        rows = F.embedding(dev([[2, 7], [-1, 0]], np.int64), weight).array.get()   # the get: 1 sync
    assert dict(syncs) == {"get": 1}
    assert np.isnan(rows[0, 1]).all() and np.isnan(rows[1, 0]).all()
    np.testing.assert_array_equal(rows[[0, 1], [0, 1]], weight.array.get()[[2, 0]])
    with pytest.raises(IndexError, match="nll_loss: target values"):
        F.nll_loss(tg.zeros(2, 3), tg.tensor([0, 3]))
    with pytest.raises(ValueError, match="Bernoulli.log_prob"):
        D.Bernoulli(logits=tg.zeros(2)).log_prob(tg.tensor([1.0, 0.5]))
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 3\), got values in \[0, 7\]"):
        F.embedding(tg.tensor([0, 7]), tg.zeros(3, 2))


def _fit_counting_syncs(fake_gpu, tmp_path, model, device, log_every=3, wrap=None):
    """fit() for one epoch on 14 random 8x8 binary images in batches of 2 (7 steps): the host
    syncs made between the starts of consecutive steps, the logs each step returned, and the
    run's metrics.jsonl records."""
    from tinygen.data import ImageDataset, image_loader
    from tinygen.train import loop
    from tinygen.train.config import TrainConfig
    from tinygen.train.metrics import read_metrics
    pixels = (np.random.default_rng(1).random((14, 8, 8)) * 255).astype(np.uint8)
    loader = image_loader(ImageDataset(pixels, np.zeros(14), binarize="threshold"), 2, seed=0,
                          device=device)
    model = model.to(device)
    counts, returned, step = [], [], model.training_step

    def counted(x, optimizers):
        counts.append(sum(fake_gpu.SYNCS.values()))
        returned.append((wrap or step)(x, optimizers))
        return returned[-1]
    model.training_step = counted
    config = TrainConfig(epochs=1, batch_size=2, device=device, log_every=log_every)
    loop.fit(model, loader, config, str(tmp_path / device), progress=False)
    return list(np.diff(counts)), returned, read_metrics(str(tmp_path / device))


def test_fit_on_the_device_syncs_once_per_logging_step_and_logs_as_on_the_cpu(fake_gpu, tmp_path,
                                                                              monkeypatch):
    """The loop keeps the logged terms and the guards' finite flags on the device and reads
    them in one sync every log_every (3) steps: syncs per step 0, 0, 1, 0, 0, 1. The records
    are those of a cpu run."""
    from tinygen.models.vae import VAE
    from tinygen.train import loop
    monkeypatch.setattr(loop, "write_pictures", lambda *args, **kwargs: None)
    make = lambda: VAE(image_shape=(1, 8, 8), hidden=(6,), latent_dim=2)   # noqa: E731
    per_step, returned, on_device = _fit_counting_syncs(fake_gpu, tmp_path, make(), "cuda")
    assert per_step == [0, 0, 1, 0, 0, 1], per_step
    _, _, on_cpu = _fit_counting_syncs(fake_gpu, tmp_path, make(), "cpu")
    shape = lambda records: [(r["kind"], r["step"], sorted(r)) for r in records]   # noqa: E731
    assert shape(on_device) == shape(on_cpu)
    logged = {r["step"]: r for r in on_device if r["kind"] == "train_step"}
    assert sorted(logged) == [3, 6]
    values = [{k: float(v) for k, v in logs.items()} for logs in returned]
    for s, record in logged.items():
        assert {k: record[k] for k in values[0]} == values[s - 1]
    epoch, = [r for r in on_device if r["kind"] == "epoch"]
    for k in values[0]:
        assert epoch[k] == pytest.approx(sum(v[k] for v in values) / 7, rel=1e-12)


def test_fit_on_the_device_names_a_non_finite_step_at_the_next_sync(fake_gpu, tmp_path, monkeypatch):
    from tinygen.models.vae import VAE
    from tinygen.train import loop
    monkeypatch.setattr(loop, "write_pictures", lambda *args, **kwargs: None)
    model, calls = VAE(image_shape=(1, 8, 8), hidden=(6,), latent_dim=2), []

    def step(x, optimizers):
        logs = type(model).training_step(model, x, optimizers)
        calls.append(1)
        return dict(logs, loss=logs["loss"] * np.float32("nan")) if len(calls) == 2 else logs
    from tinygen.train.guards import TrainingError
    with pytest.raises(TrainingError, match=r"^step 2: non-finite loss \(nan\)") as e:
        _fit_counting_syncs(fake_gpu, tmp_path, model, "cuda", wrap=step)
    assert len(calls) == 4 and "no checkpoint was written" in str(e.value)   # 3 steps + the replay
    assert "not reproduced by an anomaly-mode replay" in str(e.value)   # it ran, on the device


def _fit_with_a_poisoned_step(fake_gpu, tmp_path, monkeypatch, poison):
    """fit() on the device where step 2's optimizer step first calls poison(model)."""
    from tinygen.models.vae import VAE
    from tinygen.train import loop
    monkeypatch.setattr(loop, "write_pictures", lambda *args, **kwargs: None)
    model, calls = VAE(image_shape=(1, 8, 8), hidden=(6,), latent_dim=2), []

    class Poisoning:
        def __init__(self, opt):
            self.opt = opt

        def __getattr__(self, attr):
            return getattr(self.opt, attr)

        def step(self):
            if len(calls) == 2:
                poison(model)
            return self.opt.step()

    def step(x, optimizers):
        calls.append(1)
        return type(model).training_step(model, x, {k: Poisoning(o) for k, o in optimizers.items()})
    from tinygen.train.guards import TrainingError
    with pytest.raises(TrainingError) as e:
        _fit_counting_syncs(fake_gpu, tmp_path, model, "cuda", wrap=step)
    return str(e.value)


# the inf gradient makes Adam's update inf / inf: nan, on a GPU silently; the simulator runs the
# kernel on NumPy scalars, which warn
@pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning")
def test_fit_on_the_device_names_the_parameter_with_a_non_finite_gradient(fake_gpu, tmp_path, monkeypatch):
    """One check over all of an optimizer step's gradients and parameters, read at the next
    logging step; the parameter is found from the index it gives."""
    def poison(model):
        dict(model.named_parameters())["decoder.0.2.bias"].grad.array[1] = np.float32("inf")
    message = _fit_with_a_poisoned_step(fake_gpu, tmp_path, monkeypatch, poison)
    assert message.startswith("step 2: non-finite gradient of decoder.0.2.bias;"), message


def test_fit_on_the_device_names_the_parameter_an_update_made_non_finite(fake_gpu, tmp_path, monkeypatch):
    def poison(model):
        dict(model.named_parameters())["mu.weight"].array[0, 0] = np.float32("nan")   # its gradient is finite
    message = _fit_with_a_poisoned_step(fake_gpu, tmp_path, monkeypatch, poison)
    assert message.startswith("step 2: the adam update (lr 0.001) made mu.weight non-finite;"), message


def test_the_guard_of_an_optimizer_step_is_three_kernels_and_no_sync(fake_gpu):
    """The loop's check of a device step: the concatenation of every gradient and parameter
    (one kernel for more than 8 arrays), isfinite, argmin: 3 launches a step whatever the
    number of parameters, no sync. It was isfinite + all on each gradient and on each
    parameter: 4 a parameter, 40 for this VAE's 10."""
    import contextlib

    from tinygen.models.vae import VAE
    from tinygen.train.guards import NonFiniteGuard
    model = VAE(image_shape=(1, 8, 8), hidden=(6,), latent_dim=2).to("cuda")
    names = {id(p): n for n, p in model.named_parameters()}
    x = tg.tensor((np.random.default_rng(0).random((2, 1, 8, 8)) > 0.5).astype(np.float32), device="cuda")
    optimizers = model.configure_optimizers()
    guard = NonFiniteGuard(optimizers, names)
    model.training_step(x, optimizers)            # Adam's state made, the sentinel too
    with guard:
        model.training_step(x, optimizers)
    counted = []
    for watched in (contextlib.nullcontext(), guard):
        with watched, fake_gpu.counting_launches() as launches, fake_gpu.counting_syncs() as syncs:
            model.training_step(x, optimizers)
        counted.append((sum(launches.values()), dict(syncs)))
    assert len(names) == 10 and counted[1][1] == {} and counted[1][0] - counted[0][0] == 3, counted
    flags = guard.take_flags()
    assert len(flags) == 2 and all(culprit(int(index.get())) is None for index, culprit in flags)


# Kernel launches and host syncs of one B1-B4 training step (benchmarks/bench_models.py's
# models at their "tiny" sizes: the same layers and ops; the counts do not depend on sizes) on the cuda device, as CuPy and
# numba.cuda would make them (fake_cupy.LAUNCHES: one kernel per array-making call, none for a
# view; Adam: one kernel a parameter group). A change to these numbers is a change to what a step
# costs on a GPU in launches (~5-20 us of host time each): update them with the reason.
# B3 was 161 before masked_conv2d stopped multiplying its masked weight by the taps again on
# the device; B1 78 -> 70, B2 398 -> 384, B3 144 -> 130, B4 78 -> 68 when Adam became one
# launch per parameter group (kernels/fused_cuda.adam_step) instead of one a parameter. B1 70 ->
# 69 when the step counted became bench_models' own (its KL adds -0.5 * sum where the separate
# tiny copy subtracted 0.5 * sum, whose backward negates). Then 68, 382, 129, 67 when the fake
# stopped counting the fused optimizer's empty padding slice ([:0], a view) as a gather kernel.
STEP_LAUNCHES = {"B1": 68, "B2": 382, "B3": 129, "B4": 67}


@pytest.mark.parametrize("mid", ["B1", "B2", "B3", "B4"])
def test_launches_and_syncs_of_a_cuda_training_step(fake_gpu, mid):
    sys.path.insert(0, "benchmarks")
    try:
        import bench_models
    finally:
        sys.path.remove("benchmarks")
    step = bench_models.tinygen_step(mid, "cuda", size="tiny")
    step()                                        # the optimizers' state is made here
    with fake_gpu.counting_launches() as launches, fake_gpu.counting_syncs() as syncs:
        step()
    assert dict(syncs) == {}
    assert sum(launches.values()) == STEP_LAUNCHES[mid], sorted(launches.items(), key=lambda kv: -kv[1])


# ---- random numbers on CuPy's generator -------------------------------------------------------
def test_draws_on_the_device_use_cupy_methods_in_the_target_dtype(fake_gpu, monkeypatch):
    import tinygen.nn as nn
    import tinygen.nn.functional as F
    asked = []
    for name in ("random", "standard_normal", "standard_exponential"):
        method = getattr(fake_gpu.Generator, name)
        monkeypatch.setattr(fake_gpu.Generator, name,
                            lambda self, size=None, dtype=np.float64, _m=method, _n=name, **kw:
                            asked.append((_n, np.dtype(dtype))) or _m(self, size, dtype, **kw))
    n = 4000
    draws = {"randn": tg.randn(n, device="cuda"), "rand": tg.rand(n, device="cuda"),
             "normal_": tg.empty(n, device="cuda").normal_(2.0, 3.0),
             "uniform_": tg.empty(n, device="cuda").uniform_(-1.0, 1.0),
             "exponential_": tg.empty(n, device="cuda").exponential_(2.0),
             "init.normal_": nn.init.normal_(tg.empty(n, device="cuda"), 0.0, 0.5),
             "init.trunc_normal_": nn.init.trunc_normal_(tg.empty(n, device="cuda"), 0.0, 1.0, -1.0, 1.0),
             "tg.normal": tg.normal(1.0, 2.0, (n,), device="cuda"),
             "dropout": F.dropout(tg.ones(n, device="cuda"), 0.25),
             "bernoulli": tg.bernoulli(tg.full((n,), 0.3, device="cuda"))}
    assert asked and all(dtype == np.float32 for _, dtype in asked), asked
    stats = {k: (float(v.array.mean()), float(v.array.std()), v.dtype) for k, v in draws.items()}
    assert all(dtype == np.float32 for _, _, dtype in stats.values())
    for key, mean, std in (("randn", 0, 1), ("rand", 0.5, 0.289), ("normal_", 2, 3), ("uniform_", 0, 0.577),
                           ("exponential_", 0.5, 0.5), ("init.normal_", 0, 0.5), ("tg.normal", 1, 2),
                           ("dropout", 1, 0.577), ("bernoulli", 0.3, 0.458)):
        assert abs(stats[key][0] - mean) < 0.1 * max(std, 0.5) and abs(stats[key][1] / std - 1) < 0.1, key
    assert float(abs(draws["init.trunc_normal_"].array).max()) <= 1.0
    assert tg.randn(3, dtype=tg.float64, device="cuda").array.dtype == np.float64
    perm = tg.randperm(50, device="cuda")
    assert perm.dtype == np.int64 and sorted(perm.array.get().tolist()) == list(range(50))


def test_the_cuda_stream_continues_after_get_state_and_a_checkpoint(fake_gpu, tmp_path):
    import json
    import tinygen.nn as nn
    from tinygen import rng
    from tinygen.checkpoint import load_checkpoint, save_checkpoint
    tg.manual_seed(7)
    first = tg.randn(5, device="cuda").array.get()
    state = json.loads(json.dumps(rng.get_state()))     # what a checkpoint stores
    after = tg.randn(5, device="cuda").array.get()
    rng.set_state(state)
    np.testing.assert_array_equal(tg.randn(5, device="cuda").array.get(), after)
    assert not np.array_equal(first, after)
    model = nn.Linear(2, 2).to("cuda")
    save_checkpoint(tmp_path / "ck.npz", model)
    live = [tg.randn(4, device="cuda").array.get(), tg.randperm(9, device="cuda").array.get()]
    tg.manual_seed(123)                                  # a fresh process, as far as rng knows
    load_checkpoint(tmp_path / "ck.npz", model)
    resumed = [tg.randn(4, device="cuda").array.get(), tg.randperm(9, device="cuda").array.get()]
    for a, b in zip(live, resumed):
        np.testing.assert_array_equal(a, b)


def test_a_snapshot_without_the_cuda_stream_still_loads():
    from tinygen import rng
    state = rng.get_state()
    del state["cuda"]
    rng.set_state(state)
    assert rng.get_state()["cuda"]["generation"] == 0


# ---- copies onto and off the device -------------------------------------------------------------
def test_tensor_of_a_device_array_copies_and_host_sources_move_to_the_device(fake_gpu):
    a = fake_gpu.asarray(np.ones(3, np.float32))
    t = tg.tensor(a, device="cuda")
    a[0] = 5.0
    assert t.array.get().tolist() == [1.0, 1.0, 1.0]
    z = tg.zeros(3, device="cuda")
    z.copy_(np.full(3, 2.0, np.float32))
    assert z.array.get().tolist() == [2.0, 2.0, 2.0]
    z[1:] = np.array([7.0, 8.0], np.float32)
    assert z.array.get().tolist() == [2.0, 7.0, 8.0]


def test_checkpoint_keeps_raw_device_arrays_apart_from_tensors(fake_gpu, tmp_path):
    from tinygen.checkpoint import read_checkpoint, save_checkpoint

    class Optimizer:   # an optimizer state holding a raw device array beside a Tensor
        def state_dict(self):
            return {"state": {0: {"step": 3, "buf": fake_gpu.asarray(np.arange(4.0)),
                                  "t": tg.ones(2, device="cuda")}}, "param_groups": []}
    save_checkpoint(tmp_path / "ck.npz", optimizer=Optimizer())
    back = read_checkpoint(tmp_path / "ck.npz")["optimizer"]["state"][0]
    assert isinstance(back["buf"], fake_gpu.ndarray) and back["buf"].get().tolist() == [0, 1, 2, 3]
    assert back["t"].device == "cuda" and back["step"] == 3
    on_cpu = read_checkpoint(tmp_path / "ck.npz", map_location="cpu")["optimizer"]["state"][0]
    assert type(on_cpu["buf"]) is np.ndarray and on_cpu["t"].device == "cpu"


def test_gpu_check_script_parses_and_its_probe_imports():
    import shutil
    import subprocess
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    subprocess.run(["bash", "-n", "benchmarks/gpu_check.sh"], check=True)
    sys.path.insert(0, "benchmarks")
    try:
        import gpu_probe   # cupy is imported only when it runs
    finally:
        sys.path.remove("benchmarks")
    assert callable(gpu_probe.main)


# ---- kernel launches on CuPy arrays: no implicit sync, CuPy's current stream ----------------
class _Kernel:
    """A numba kernel stand-in that records its launch configuration and arguments."""

    def __init__(self):
        self.launches = []

    def __getitem__(self, config):
        return lambda *args: self.launches.append((config, args))


@pytest.mark.parametrize("stream_ptr", [0xBEEF, 0])
def test_launch_passes_cupy_arrays_unsynchronised_on_cupys_current_stream(monkeypatch, stream_ptr):
    from numba import cuda

    from tinygen.kernels.common import launch

    class DeviceArray:
        pass

    stream = types.SimpleNamespace(ptr=stream_ptr)
    fake = types.SimpleNamespace(ndarray=DeviceArray,
                                 cuda=types.SimpleNamespace(get_current_stream=lambda: stream))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    views = []
    monkeypatch.setattr(cuda, "as_cuda_array", lambda a, sync=True: views.append(sync) or ("view", a),
                        raising=False)
    monkeypatch.setattr(cuda, "external_stream", lambda ptr: ("external", ptr), raising=False)
    monkeypatch.setattr(cuda, "default_stream", lambda: ("default",), raising=False)
    a, b, kernel = DeviceArray(), DeviceArray(), _Kernel()
    launch(kernel, 4, 128, a, 3, b)
    (config, args), = kernel.launches
    assert config == (4, 128, ("external", stream_ptr) if stream_ptr else ("default",))
    assert args == (("view", a), 3, ("view", b)) and views == [False, False]
    # tuples of arrays (the optimizer steps'): each element a view, each array wrapped once
    c = DeviceArray()
    views.clear()
    launch(kernel, 1, 32, (a, c, c, c), (b, c, c, c), 0.5)
    assert kernel.launches[1][1] == ((("view", a),) + (("view", c),) * 3,
                                     (("view", b),) + (("view", c),) * 3, 0.5)
    assert views == [False] * 3


def test_launch_of_host_arrays_is_a_plain_launch():
    from tinygen.kernels.common import launch
    kernel, x = _Kernel(), np.zeros(3)
    launch(kernel, 2, 64, x, 1.5)
    assert kernel.launches == [((2, 64), (x, 1.5))]


def test_special_functions_and_exact_gelu_run_on_the_fake_device(fake_gpu):
    import tinygen.nn.functional as F
    x = np.linspace(-2.0, 2.0, 7).astype(np.float32)
    cpu, dev = tg.tensor(x), tg.tensor(x, device="cuda")
    for fn in (tg.erf, tg.lgamma, F.gelu):
        np.testing.assert_allclose(fn(dev).array.get(), fn(cpu).array, rtol=1e-6, atol=1e-7)




def test_ptx_check_counts_float64_and_64_bit_division_lines():
    sys.path.insert(0, "benchmarks")
    try:
        import ptx_check
    finally:
        sys.path.remove("benchmarks")
    ptx = "\n".join(["\t.reg .f64 \t%fd<4>;", "\tcvt.f64.f32 \t%fd1, %f1;", "\tadd.f32 \t%f2, %f1, %f1;",
                     "\tfma.rn.f64 \t%fd3, %fd1, 0d0, %fd2;", "\tdiv.s64 \t%rd3, %rd1, %rd2;",
                     "\trem.u64 \t%rd4, %rd1, %rd2;", "\tdiv.rn.f32 \t%f3, %f1, %f2;"])
    assert ptx_check.count(ptx) == (2, 2)
    assert set(ptx_check.kernel_table(np.float32)) >= {"conv.col2im", "fused.adam", "pool.avg_pool2d"}


def test_ptx_check_compiles_every_kernel_of_the_cuda_modules():
    """Each *_cuda.py lists its numba.cuda kernels (the functions under a bare @cuda.jit) in
    DEVICE_KERNELS, and ptx_check compiles every entry of every table: a kernel left out
    would go unchecked."""
    import ast
    import importlib
    import inspect
    import pathlib
    sys.path.insert(0, "benchmarks")
    try:
        import ptx_check
    finally:
        sys.path.remove("benchmarks")
    listed = set()
    for path in sorted(pathlib.Path(tg.__file__).parent.glob("kernels/*_cuda.py")):
        module = importlib.import_module(f"tinygen.kernels.{path.stem}")
        kernels = {node.name for node in ast.parse(inspect.getsource(module)).body
                   if isinstance(node, ast.FunctionDef)
                   and any(ast.unparse(d) == "cuda.jit" for d in node.decorator_list)}
        table = getattr(module, "DEVICE_KERNELS", {})
        assert kernels <= {kernel.py_func.__name__ for kernel, _ in table.values()
                           if hasattr(kernel, "py_func")}, path.stem
        listed |= {f"{path.stem.removesuffix('_cuda')}.{name}" for name in table}
    assert set(ptx_check.kernel_table(np.float32)) == listed


# ---- the data loader's copies ----------------------------------------------------------------
@pytest.mark.parametrize("binarize", ["dynamic", "fixed", "threshold", None])
def test_loader_copies_each_batch_once_as_uint8_and_labels_only_when_asked(fake_gpu, binarize):
    """On the device a batch of images is one host-to-device copy of uint8 (B*C*H*W bytes),
    made float32 there, bitwise the cpu loader's images; labels cost a second copy, and none
    with labels=False (what the training loop asks for)."""
    from tinygen.data import ImageDataset, image_loader
    pixels = (np.random.default_rng(2).random((10, 2, 5, 4)) * 255).astype(np.uint8)
    ds = ImageDataset(pixels, np.arange(10) % 3, binarize=binarize, seed=3)
    ds.set_epoch(0)                    # the same 'dynamic' bits in each pass
    cpu = list(image_loader(ds, 4, seed=5, drop_last=False))
    for labels in (False, True):
        loader = image_loader(ds, 4, seed=5, drop_last=False, device="cuda", labels=labels)
        with fake_gpu.counting_copies() as copies, fake_gpu.counting_syncs() as syncs:
            batches = list(loader)
        sizes = [len(x) for x, _ in batches]
        assert copies["h2d"] == len(batches) * (1 + labels) and not syncs
        assert copies["h2d_bytes"] == sum(sizes) * 40 + labels * 8 * sum(sizes)
        for (x, y), (x_cpu, y_cpu) in zip(batches, cpu):
            assert x.device == "cuda" and x.dtype == np.float32
            np.testing.assert_array_equal(x.array.get(), x_cpu.array)
            assert (y is None) if not labels else y.array.get().tolist() == y_cpu.array.tolist()


# ---- deterministic scatter-add on the device -------------------------------------------------
def test_scatter_add_on_the_device_is_bitwise_the_cpus_and_repeatable(fake_gpu):
    """Repeated positions are summed in order by one thread each (kernels/scatter_cuda.py), not
    by atomics: bitwise np.add.at, run after run, through every op that scatters."""
    from tinygen import kernels
    scatter = kernels.implementation("scatter", kernels.device_of(fake_gpu.zeros(1)))
    assert scatter.__name__ == "tinygen.kernels.scatter_cuda"
    g = np.random.default_rng(4)
    values = (g.standard_normal((6, 40)) * 10.0 ** g.integers(-4, 5, (6, 40))).astype(np.float32)
    rows = g.integers(0, 3, 40)                         # many repeats: the order of the sum matters
    index = (slice(None), rows)
    expected = np.zeros((6, 3), np.float32)
    np.add.at(expected, index, values)
    rows_dev = fake_gpu.asarray(rows)
    for _ in range(2):
        got = scatter.scatter_add(fake_gpu.zeros((6, 3), np.float32), (slice(None), rows_dev),
                                  fake_gpu.asarray(values))
        np.testing.assert_array_equal(got.get(), expected)
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    strided = fake_gpu.asarray(base).T                  # not contiguous: updated in place all the same
    scatter.scatter_add(strided, (fake_gpu.asarray([1, 1, 3]),), fake_gpu.asarray(np.ones(3)))
    expected = base.T.copy()
    np.add.at(expected, ([1, 1, 3],), 1.0)
    np.testing.assert_array_equal(strided.get(), expected)

    src = g.standard_normal((5, 4)).astype(np.float32) * 1e3
    idx = np.array([2, 0, 2, 2, 1])
    scatter_idx = g.integers(0, 3, (5, 4))
    for dev in ("cpu", "cuda"):
        x = tg.tensor(src, device=dev, requires_grad=True)
        out = {"index_add": tg.zeros(3, 4, device=dev).index_add(0, tg.tensor(idx, device=dev), x),
               "scatter_add": tg.zeros(3, 4, device=dev).scatter_add(0, tg.tensor(scatter_idx, device=dev), x),
               "getitem backward": None}
        y = x[tg.tensor(np.array([0, 3, 0, 0, 4]), device=dev)]
        (y * tg.tensor(np.arange(20, dtype=np.float32).reshape(5, 4), device=dev)).sum().backward()
        out["getitem backward"] = x.grad
        values = {k: backend.to_numpy(v.array) for k, v in out.items()}
        if dev == "cpu":
            cpu = values
    for k in cpu:
        np.testing.assert_array_equal(values[k], cpu[k], err_msg=k)


def test_32_bit_index_math_and_its_limit():
    """div32/mod32 (the kernels' index math, kernels/common_cuda.py) are // and % on
    non-negative ints below 2**31, and no kernel is launched over more."""
    if not backend.simulator_enabled():
        pytest.skip("device functions run as Python in the simulator only")
    from tinygen.kernels.common import launch_config
    from tinygen.kernels.common_cuda import div32, mod32
    for a, b in ((0, 1), (7, 2), (2 ** 31 - 1, 3), (123456789, 1000), (5, 7)):
        assert (int(div32(a, b)), int(mod32(a, b))) == (a // b, a % b)
    assert launch_config(2 ** 31 - 1)[1] > 0
    with pytest.raises(ValueError, match="2\\*\\*31"):
        launch_config(2 ** 31)
