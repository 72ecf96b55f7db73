"""How much of torch's API that generative-model code uses exists in tinygen.

- every name in docs/api.md (the contract) exists in tinygen;
- tests/torch_names.txt lists a few hundred torch names (torch.*, torch.nn.*, F.*, optim.*,
  torch.utils.data.*, Tensor methods); the coverage test prints how many tinygen has, and
  which are missing, and fails if fewer than COVERAGE_FLOOR are present (raise it as names
  are added, so none is lost);
- every listed name exists in torch (where installed), so the list stays honest.
"""
import importlib
import inspect
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAMES_FILE = ROOT / "tests" / "torch_names.txt"
API_MD = ROOT / "docs" / "api.md"     # the public API contract

COVERAGE_FLOOR = 725   # 725 of 729 (701 of 710 after issues 22 and 26; 572 of 608 after issue 11); raise it as names are added


def resolve(dotted):
    """The object named 'pkg.a.b' (importing submodules on the way), or None."""
    parts = dotted.split(".")
    try:
        obj = root = importlib.import_module(parts[0])
    except ImportError:
        return None
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            try:
                obj = importlib.import_module(".".join(parts[:i + 1]))
            except ImportError:
                return None
        if inspect.ismodule(obj) and not _same_package(root, obj):
            return None
    return obj


def _same_package(root, module):
    """True if module lives inside root's folder: an editable install of another checkout
    (its import finder) must not lend this checkout the submodules it lacks."""
    home = pathlib.Path(root.__file__).parent
    where = getattr(module, "__file__", None)
    return where is None or pathlib.Path(where).is_relative_to(home)


def torch_names():
    lines = NAMES_FILE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def tinygen_name(torch_name):
    """torch.nn.Linear -> tinygen.nn.Linear; torch.Tensor.view -> tinygen.Tensor.view."""
    assert torch_name.startswith("torch."), torch_name
    return "tinygen" + torch_name[len("torch"):]


def coverage():
    names = torch_names()
    present = [n for n in names if resolve(tinygen_name(n)) is not None]
    missing = [n for n in names if n not in present]
    return names, present, missing


def test_torch_names_list_is_well_formed_and_exists_in_torch():
    names = torch_names()
    assert len(names) >= 300 and len(set(names)) == len(names)
    pytest.importorskip("torch")
    not_in_torch = [n for n in names if resolve(n) is None]
    assert not not_in_torch, not_in_torch


def test_coverage_of_torch_names(capsys):
    names, present, missing = coverage()
    with capsys.disabled():
        print(f"\ntinygen has {len(present)} of {len(names)} torch names "
              f"({100 * len(present) / len(names):.0f}%); missing: {' '.join(missing)}")
    assert len(present) >= COVERAGE_FLOOR, (
        f"tinygen has {len(present)} of the listed torch names, fewer than the floor "
        f"{COVERAGE_FLOOR}: a name was removed")


# ---- docs/api.md ---------------------------------------------------------------------------

# what a name in each part of api.md is looked up in (the part is the paragraph's first words;
# "X()" means an instance of X built with no arguments, for attributes set in __init__)
SECTIONS = [
    ("Tensor:", ["tinygen.Tensor"]),
    ("`F`:", ["tinygen.nn.functional"]),
    ("`nn`:", ["tinygen.nn", "tinygen.nn.Module"]),
    ("`optim`:", ["tinygen.optim", "tinygen.optim.Optimizer"]),
    ("`tg.autograd.gradcheck", ["tinygen.autograd", "tinygen"]),
    ("`tg.distributions`:", ["tinygen.distributions", "tinygen.distributions.Normal"]),
    ("Devices:", ["tinygen"]),
    ("- `PixelCNN", ["tinygen.models", "tinygen.models.PixelCNN()"]),
    ("- `AutoEncoder", ["tinygen.models", "tinygen.models.AutoEncoder()"]),
    ("- `VAE", ["tinygen.models", "tinygen.models.VAE()"]),
    ("- `GAN", ["tinygen.models", "tinygen.models.GAN()"]),
]
# words in those paragraphs that are not API names: argument names and values, record
# fields (checked by the models' own tests), shape letters
NOT_NAMES = {"in", "out", "x", "n", "k", "p", "q", "loc", "scale", "logits", "shape", "mask_type",
             "log_p", "nll", "recon", "kl", "elbo", "log_px_z", "d_real", "d_fake", "loss_d",
             "loss_g", "latent_dim", "N", "C", "H", "W", "inputs", "fn", "eps", "atol", "rtol",
             "record", "name", "cpu", "cuda", "dim", "keepdim"}
# the paragraphs' own markers, as tinygen names
ALIASES = {"F": "nn.functional", "nn": "nn", "optim": "optim", "nn.init": "nn.init"}


def lookup(space, name):
    """resolve(space.name), where a space "X()" is an instance of X built without arguments."""
    if space.endswith("()"):
        cls = resolve(space[:-2])
        return None if cls is None else getattr(cls(), name, None)
    return resolve(f"{space}.{name}")


def api_md_names():
    """(name, namespaces) for every API name in docs/api.md: tg.* names of the code block, and
    the words of the backticked spans of the paragraphs listed in SECTIONS."""
    text = API_MD.read_text()
    found = []
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    for group in re.findall(r"\btg\.([A-Za-z_][\w./]*)", code):
        for name in group.split("/"):
            found.append((name.strip("."), ["tinygen"]))
    paragraphs = [p.strip() for block in re.split(r"\n\s*\n", text)
                  for p in re.split(r"\n(?=- )", block)]      # a bulleted item on its own
    for para in paragraphs:
        spaces = next((ns for prefix, ns in SECTIONS if para.startswith(prefix)), None)
        if spaces is None:
            continue
        for span in re.findall(r"`([^`]+)`", para):
            while re.search(r"\([^()]*\)", span):            # drop argument lists
                span = re.sub(r"\([^()]*\)", " ", span)
            span = re.sub(r"\w+=\S+", " ", span)           # and keyword=value fragments
            for word in re.findall(r"[A-Za-z_][\w.]*", span):
                word = word.strip(".")
                if word.startswith("tg."):
                    found.append((word[3:], ["tinygen"]))
                elif word in ALIASES:
                    found.append((ALIASES[word], ["tinygen"]))
                elif word and word not in NOT_NAMES and not word.startswith("__"):
                    found.append((word, spaces))
    return found


def test_every_name_in_api_md_exists_in_tinygen():
    names = api_md_names()
    assert len(names) > 80  # the parser found the contract's lists
    absent = sorted({f"{name} (looked up in {', '.join(spaces)})" for name, spaces in names
                     if all(lookup(space, name) is None for space in spaces)})
    assert not absent, "docs/api.md names missing from tinygen:\n  " + "\n  ".join(absent)
