"""Module's torch API: print(model) as torch prints it (a model zoo built by the same code in both
libraries), load_state_dict's strict and non-strict semantics and messages, forward hooks,
get_submodule/get_parameter, the containers, and nn.utils (clipping, flat vectors,
weight_norm, spectral_norm) against torch.
"""
import re
from collections import OrderedDict

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as tnn

torch = pytest.importorskip("torch")


# ---- the zoo: each builder takes the nn namespace (tinygen.nn or torch.nn) --------------------

def mnist_classifier(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10), nn.LogSoftmax(dim=1))


def dcgan_generator(nn, nz=100, ngf=64):
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, 3, 4, 2, 1, bias=False), nn.Tanh())


def dcgan_discriminator(nn, ndf=64):
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def vae(nn):
    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21, self.fc22 = nn.Linear(400, 20), nn.Linear(400, 20)
            self.decoder = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())
    return VAE()


def conditional_upsampler(nn):
    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.label_emb = nn.Embedding(10, 10)
            self.blocks = nn.ModuleList([nn.Sequential(nn.Upsample(scale_factor=2),
                                                       nn.Conv2d(16, 16, 3, 1, 1), nn.GroupNorm(4, 16),
                                                       nn.SiLU(inplace=True)) for _ in range(3)]
                                        + [nn.Identity()])
            self.heads = nn.ModuleDict({"rgb": nn.Conv2d(16, 3, 1), "alpha": nn.Conv1d(16, 1, 3)})
            self.named = nn.Sequential(OrderedDict([("pad", nn.ReflectionPad2d(1)),
                                                    ("norm", nn.InstanceNorm2d(16, affine=True)),
                                                    ("act", nn.GELU(approximate="tanh"))]))
    return Generator()


def every_layer(nn):
    return nn.Sequential(
        nn.Upsample(size=(4, 5), mode="bilinear", align_corners=True), nn.PixelShuffle(2),
        nn.PixelUnshuffle(2), nn.ZeroPad2d((1, 0, 2, 3)), nn.ConstantPad2d(1, 0.5),
        nn.ReplicationPad2d(2), nn.AvgPool2d(3, 1, 1), nn.AdaptiveAvgPool2d((None, 3)),
        nn.AdaptiveMaxPool2d(2), nn.MaxPool2d((2, 3), stride=1, padding=1), nn.Softmax(dim=1),
        nn.Softmax(), nn.GELU(), nn.Mish(), nn.Hardtanh(-2.0, 2.0), nn.ReLU6(inplace=True),
        nn.PReLU(3), nn.Softsign(), nn.ELU(alpha=0.5), nn.Softplus(beta=2.0), nn.Dropout2d(0.1),
        nn.Embedding(5, 3, padding_idx=0, max_norm=1.0), nn.ConvTranspose1d(2, 3, 4, 2, 1),
        nn.Conv1d(2, 3, 3, padding="same", bias=False), nn.Conv2d(2, 3, (3, 1), dilation=2),
        nn.BatchNorm1d(3, affine=False), nn.LayerNorm((2, 3)), nn.Unflatten(1, (2, 3)),
        nn.GroupNorm(1, 3, affine=False), nn.BCELoss(), nn.CrossEntropyLoss(label_smoothing=0.1),
        nn.KLDivLoss(reduction="batchmean"), nn.HuberLoss(), nn.GaussianNLLLoss(), nn.SELU(True),
        nn.CELU(0.5, True), nn.Hardsigmoid(), nn.Hardswish(True), nn.LogSigmoid(), nn.Softmin(1),
        nn.Unfold(2), nn.Fold((4, 5), 2, padding=1))


ZOO = [mnist_classifier, dcgan_generator, dcgan_discriminator, vae, conditional_upsampler,
       every_layer]


@pytest.mark.parametrize("build", ZOO, ids=lambda f: f.__name__)
def test_print_model_equals_torch(build):
    assert repr(build(tnn)) == repr(build(torch.nn))


@pytest.mark.parametrize("build", ZOO, ids=lambda f: f.__name__)
def test_state_dict_keys_and_shapes_equal_torch(build):
    ours = {k: tuple(v.shape) for k, v in build(tnn).state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in build(torch.nn).state_dict().items()}
    assert list(ours) == list(theirs) and ours == theirs


def test_parameter_containers_print_as_torch():
    ours = tnn.ParameterList([tnn.Parameter(tg.zeros(2, 3)), tnn.Parameter(tg.zeros(4))])
    theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(4))])
    # the dtype is named by its library
    assert repr(ours) == repr(theirs).replace("torch.float32", "tinygen.float32")
    ours = tnn.ParameterDict({"scale": tnn.Parameter(tg.ones(3)), "shift": tnn.Parameter(tg.zeros(1, 2))})
    theirs = torch.nn.ParameterDict({"scale": torch.nn.Parameter(torch.ones(3)),
                                     "shift": torch.nn.Parameter(torch.zeros(1, 2))})
    assert repr(ours) == repr(theirs).replace("torch.", "tinygen.")
    assert list(ours.state_dict()) == ["scale", "shift"]


# ---- load_state_dict ---------------------------------------------------------------------------

def _net(nn):
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _torch_message(message):
    """torch's error text with torch.Size([a, b]) written as the tuple (a, b)."""
    return re.sub(r"torch\.Size\(\[([^\]]*)\]\)",
                  lambda m: repr(tuple(int(n) for n in m.group(1).split(", ") if n)), message)


def _state_dicts(edit):
    """The same edited state_dict for both libraries (values from one tinygen model)."""
    sd = {k: v.numpy().copy() for k, v in _net(tnn).state_dict().items()}
    edit(sd)
    return sd, {k: torch.tensor(v) for k, v in sd.items()}


EDITS = {
    "missing": lambda sd: sd.pop("2.bias"),
    "unexpected": lambda sd: sd.update({"3.weight": np.zeros(2), "extra": np.zeros(1)}),
    "mismatched": lambda sd: sd.update({"0.weight": np.zeros((5, 3)), "1.running_var": np.zeros(2)}),
    "all": lambda sd: (sd.pop("1.weight"), sd.update({"x": np.ones(1), "2.weight": np.zeros((2, 5))})),
}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_load_state_dict_reports_problems_as_torch(edit, strict):
    ours, theirs = _state_dicts(EDITS[edit])
    mine, reference = _net(tnn), _net(torch.nn)
    try:
        expected = reference.load_state_dict(theirs, strict=strict)
    except RuntimeError as e:
        before = {k: v.numpy().copy() for k, v in mine.state_dict().items()}
        with pytest.raises(RuntimeError) as ours_error:
            mine.load_state_dict(ours, strict=strict)
        assert str(ours_error.value) == _torch_message(str(e))
        # nothing was copied (torch copies what fits before raising; tinygen is all or nothing)
        assert all(np.array_equal(v.numpy(), before[k]) for k, v in mine.state_dict().items())
        return
    result = mine.load_state_dict(ours, strict=strict)
    assert result == tuple(expected) and repr(result) == repr(expected)
    assert result.missing_keys == expected.missing_keys
    for k, v in mine.state_dict().items():
        if k not in result.missing_keys:
            np.testing.assert_array_equal(v.numpy(), reference.state_dict()[k].numpy())


def test_all_keys_matched_prints_as_torch():
    sd = _net(tnn).state_dict()
    assert repr(_net(tnn).load_state_dict(sd)) == "<All keys matched successfully>"


def test_non_persistent_buffers_are_neither_saved_nor_missing():
    m = tnn.Linear(2, 2)
    m.register_buffer("mask", tg.ones(2), persistent=False)
    m.register_buffer("count", tg.zeros(1))
    assert list(m.state_dict()) == ["weight", "bias", "count"]
    assert [n for n, _ in m.named_buffers()] == ["mask", "count"]
    assert m.load_state_dict({"weight": tg.zeros(2, 2), "bias": tg.zeros(2), "count": tg.ones(1)})
    assert m.count.item() == 1


# ---- hooks and the tree ------------------------------------------------------------------------

def test_forward_hooks_run_in_order_replace_values_and_are_removable():
    calls = []
    m = tnn.Linear(2, 2)
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre") or (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append("post"))
    m.register_forward_hook(lambda mod, args, out: out + 1, prepend=True)
    y = m(tg.ones(1, 2))
    np.testing.assert_allclose(y.numpy(), m.bias.numpy()[None] + 1, rtol=1e-6)   # input zeroed
    assert calls == ["pre", "post"]
    h1.remove(), h2.remove()
    with m.register_forward_hook(lambda mod, args, out: calls.append("scoped")):
        m(tg.ones(1, 2))
    m(tg.ones(1, 2))
    assert calls == ["pre", "post", "scoped"]


def test_hooks_see_what_torch_hooks_see():
    seen = {}
    for lib, nn in (("tg", tnn), ("torch", torch.nn)):
        model = mnist_classifier(nn)
        def hook(m, args, out, lib=lib):
            seen[lib] = (type(m).__name__, len(args), tuple(out.shape))   # returns None: keeps out
        model[0].register_forward_hook(hook)
        x = np.zeros((1, 1, 28, 28), dtype=np.float32)
        model(tg.tensor(x) if lib == "tg" else torch.tensor(x))
    assert seen["tg"] == seen["torch"] == ("Conv2d", 1, (1, 32, 26, 26))


def test_tree_walks_match_torch():
    ours, theirs = conditional_upsampler(tnn), conditional_upsampler(torch.nn)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert type(ours.get_submodule("blocks.1.2")).__name__ == "GroupNorm"
    assert ours.get_parameter("heads.rgb.bias") is ours.heads["rgb"].bias
    assert ours.get_buffer("named.norm.running_mean") is None        # affine, no running stats
    bn = dcgan_generator(tnn)
    assert bn.get_buffer("1.running_var") is bn[1].running_var
    with pytest.raises(AttributeError, match="nothere"):
        ours.get_submodule("blocks.nothere")
    with pytest.raises(AttributeError, match="gamma"):
        ours.get_parameter("heads.rgb.gamma")
    visited = []
    ours.apply(lambda m: visited.append(type(m).__name__))
    theirs_visited = []
    theirs.apply(lambda m: theirs_visited.append(type(m).__name__))
    assert visited == theirs_visited
    ours.requires_grad_(False)
    assert not any(p.requires_grad for p in ours.parameters())


def test_containers_behave_as_torch():
    d = tnn.ModuleDict({"a": tnn.Linear(1, 1)})
    d["b"] = tnn.ReLU()
    d.update([("c", tnn.Tanh())])
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert type(d.pop("b")).__name__ == "ReLU" and list(d.keys()) == ["a", "c"]
    p = tnn.ParameterList([tg.zeros(2)])
    p.append(tnn.Parameter(tg.ones(3)))
    assert isinstance(p[0], tnn.Parameter) and p[0].requires_grad and len(p) == 2
    assert [n for n, _ in p.named_parameters()] == ["0", "1"]
    m = tnn.Module()
    m.add_module("child", tnn.Linear(2, 2))
    m.register_parameter("scale", tnn.Parameter(tg.ones(1)))
    assert [n for n, _ in m.named_parameters()] == ["scale", "child.weight", "child.bias"]


# ---- nn.utils ----------------------------------------------------------------------------------

def _twins(build):
    """A tinygen model and a torch model with the same (float64) weights."""
    ours = build(tnn).double()
    theirs = build(torch.nn).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def test_clip_grad_value_and_flat_vectors_equal_torch():
    ours, theirs = _twins(lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))
    x = np.random.default_rng(0).standard_normal((5, 3)) * 10
    (ours(tg.tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    tnn.utils.clip_grad_value_(ours.parameters(), 0.5)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9)
    vec = tnn.utils.parameters_to_vector(ours.parameters())
    np.testing.assert_array_equal(vec.numpy(), torch.nn.utils.parameters_to_vector(theirs.parameters()).detach().numpy())
    tnn.utils.vector_to_parameters(vec * 2, ours.parameters())
    np.testing.assert_array_equal(ours[1].bias.numpy(), 2 * theirs[1].bias.detach().numpy())
    # parameters_to_vector is differentiable, as torch's
    ours.zero_grad()
    v = tnn.utils.parameters_to_vector(ours.parameters())
    (v * v).sum().backward()
    np.testing.assert_allclose(ours[0].weight.grad.numpy(), 2 * ours[0].weight.numpy())


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("layer", ["Linear", "Conv2d", "ConvTranspose2d"])
@pytest.mark.parametrize("dim", [0, None])
def test_weight_norm_equals_torch(layer, dim):
    args = (4, 3) if layer == "Linear" else (2, 3, 3)
    ours, theirs = _twins(lambda nn: getattr(nn, layer)(*args))
    tnn.utils.weight_norm(ours, dim=dim)
    torch.nn.utils.weight_norm(theirs, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 4) if layer == "Linear" else (2, 2, 5, 5))
    y, z = ours(tg.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), z.detach().numpy(), rtol=1e-9, atol=1e-12)
    (y * y).sum().backward(), (z * z).sum().backward()
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), getattr(theirs, name).grad.numpy(),
                                   rtol=1e-9, atol=1e-12)
    tnn.utils.remove_weight_norm(ours)
    assert list(ours.state_dict()) == ["bias", "weight"]


@pytest.mark.parametrize("layer", ["Linear", "Conv2d", "ConvTranspose2d"])
def test_spectral_norm_equals_torch_through_training_steps_and_eval(layer):
    args = (4, 3) if layer == "Linear" else (2, 3, 3)
    ours, theirs = _twins(lambda nn: getattr(nn, layer)(*args))
    tnn.utils.spectral_norm(ours, n_power_iterations=2)
    torch.nn.utils.spectral_norm(theirs, n_power_iterations=2)
    with torch.no_grad():   # the same random start for the power iteration
        theirs.weight_u.copy_(torch.tensor(ours.weight_u.numpy()))
        theirs.weight_v.copy_(torch.tensor(ours.weight_v.numpy()))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(2).standard_normal((2, 4) if layer == "Linear" else (2, 2, 5, 5))
    for _ in range(3):
        ours.zero_grad(), theirs.zero_grad()
        y, z = ours(tg.tensor(x)), theirs(torch.tensor(x))
        (y * y).sum().backward(), (z * z).sum().backward()
        np.testing.assert_allclose(y.numpy(), z.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.weight_orig.grad.numpy(), theirs.weight_orig.grad.numpy(),
                                   rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(ours.weight_u.numpy(), theirs.weight_u.numpy(), rtol=1e-9, atol=1e-12)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-9, atol=1e-12)
    # sigma is the top singular value: the normalized weight has spectral norm ~1 once converged
    for _ in range(50):
        ours.train()(tg.tensor(x))
    w = ours.weight.numpy()
    w = np.moveaxis(w, 1, 0) if layer == "ConvTranspose2d" else w
    assert abs(np.linalg.norm(w.reshape(w.shape[0], -1), 2) - 1) < 1e-6


# ---- the names issue 11 asks for -----------------------------------------------------------------

NN_NAMES = """BCELoss BCEWithLogitsLoss MSELoss L1Loss SmoothL1Loss HuberLoss CrossEntropyLoss NLLLoss
KLDivLoss GaussianNLLLoss MaxPool2d AvgPool2d AdaptiveAvgPool2d AdaptiveMaxPool2d Upsample
PixelShuffle PixelUnshuffle ZeroPad2d ConstantPad2d ReflectionPad2d ReplicationPad2d Softmax
LogSoftmax GELU SiLU Mish Hardtanh ReLU6 PReLU Softsign Dropout2d GroupNorm InstanceNorm2d
Embedding Conv1d ConvTranspose1d Identity ModuleDict ParameterList ParameterDict""".split()
F_NAMES = """interpolate one_hot normalize cosine_similarity unfold fold embedding l1_loss
smooth_l1_loss huber_loss kl_div gelu silu mish hardtanh relu6 softsign pixel_shuffle
pixel_unshuffle adaptive_avg_pool2d adaptive_max_pool2d dropout2d group_norm instance_norm conv1d
conv_transpose1d binary_cross_entropy binary_cross_entropy_with_logits mse_loss cross_entropy
nll_loss gaussian_nll_loss max_pool2d avg_pool2d pad softmax log_softmax prelu""".split()
UTILS_NAMES = """clip_grad_norm_ clip_grad_value_ parameters_to_vector vector_to_parameters
spectral_norm weight_norm""".split()
INIT_NAMES = """normal_ uniform_ constant_ zeros_ ones_ eye_ dirac_ xavier_uniform_ xavier_normal_
kaiming_uniform_ kaiming_normal_ orthogonal_ trunc_normal_ calculate_gain""".split()
MODULE_METHODS = """apply register_buffer register_parameter register_forward_hook
register_forward_pre_hook named_modules named_buffers buffers requires_grad_ add_module
get_submodule get_parameter extra_repr load_state_dict state_dict""".split()


def test_every_name_of_the_issue_exists_as_in_torch():
    import tinygen.nn.functional as F
    import tinygen.nn.init as tinit
    for names, ours, theirs in ((NN_NAMES, tnn, torch.nn), (F_NAMES, F, torch.nn.functional),
                                (UTILS_NAMES, tnn.utils, torch.nn.utils),
                                (INIT_NAMES, tinit, torch.nn.init),
                                (MODULE_METHODS, tnn.Module, torch.nn.Module)):
        missing = [n for n in names if not hasattr(ours, n)]
        assert not missing and all(hasattr(theirs, n) for n in names), missing


def test_editing_containers_and_reassigning_keep_torch_order():
    def edit(nn):
        s = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
        del s[1]
        s.insert(0, nn.Identity())
        s.append(nn.ReLU6())
        s.extend([nn.GELU()])
        s[0] = nn.SiLU()                   # replaced in place, not moved to the end
        popped = s.pop(-1)
        m = nn.Module()
        m.a, m.b = nn.ReLU(), nn.Tanh()
        m.a = nn.Linear(1, 1)              # re-assignment keeps its place
        m.register_buffer("b2", None)
        m.register_buffer("b2", nn.Linear(1, 1).weight.detach())
        ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
        ml[0] = nn.GELU()
        return repr(s), type(popped).__name__, list(m._modules), repr(ml), list(m.state_dict())
    assert edit(tnn) == edit(torch.nn)


def test_load_state_dict_assign_makes_the_given_tensors_the_modules():
    m = _net(tnn)
    sd = {k: tg.tensor(v.numpy() + 1, dtype="float64") for k, v in m.state_dict().items()}
    assert m.load_state_dict(sd, assign=True) == ([], [])
    assert m[0].weight.array is sd["0.weight"].array and isinstance(m[0].weight, tnn.Parameter)
    assert m[0].weight.requires_grad and m[0].weight.dtype == np.float64
    assert m[1].running_mean.array is sd["1.running_mean"].array
    m(tg.randn(5, 3, dtype="float64")).sum().backward()      # the assigned tensors are trained
    assert m[0].weight.grad is not None and m[0].weight.grad.shape == (4, 3)
