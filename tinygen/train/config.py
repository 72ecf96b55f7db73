"""The settings of a run: TrainConfig, the schema of its config.json, and the resume policy.

    config = resolve_config(given, out, resume, REGISTRY)   # flags + the model's defaults,
                                                            # or the run's saved settings
    config = read_config(run, REGISTRY)                     # config.json, checked

A fresh run takes each setting from its flag, else from the model's ModelSpec
(tinygen/models/base.py: lr, epochs, batch size), else the defaults below. `--resume`
continues a run with its saved settings: a new lr, epochs, device or data_dir is applied;
a different model, data, batch size or seed (or variant, preset, conditional) is refused.
Every refusal is a ConfigError: one line the user can act on.
"""
import dataclasses
import json
import math
import os

from tinygen.data.sources import DATASETS

# the settings `tinygen train` takes from its flags (None where a flag is not given)
SETTINGS = ("model", "data", "batch_size", "seed", "epochs", "lr", "device", "data_dir",
            "variant", "preset", "conditional")
# settings a run keeps for life (--resume refuses others); lr and epochs may change
FIXED_ON_RESUME = ("model", "variant", "preset", "conditional", "data", "batch_size", "seed")
DEFAULTS = {"data": "mnist5k", "seed": 0, "conditional": False, "device": "cpu"}


@dataclasses.dataclass
class TrainConfig:
    model: str = "vae"
    data: str = "mnist5k"
    data_dir: str = None
    binarize: str = "dynamic"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    device: str = "cpu"
    seed: int = 0
    variant: str = None     # pixelrnn's "row" or "diagonal" (None: the model's default)
    preset: str = None      # one of the model's presets (None: its default)
    conditional: bool = False   # gated-pixelcnn: conditioned on the class labels
    out: str = None
    log_every: int = 10


class ConfigError(ValueError):
    """Settings that cannot make a run (or a damaged config.json); the message is one line."""


def _checks(specs):
    """config.json's keys and a check of each value."""
    variants = {v for spec in specs.values() for v in spec.variants}
    return {"model": lambda v: v in specs, "data": lambda v: v in DATASETS,
            "batch_size": lambda v: type(v) is int and v >= 1,
            "epochs": lambda v: type(v) is int and v >= 1,
            "seed": lambda v: type(v) is int and 0 <= v < 2**63,
            "lr": lambda v: type(v) in (int, float) and math.isfinite(v) and v > 0,
            "device": lambda v: v in ("cpu", "cuda"),
            "data_dir": lambda v: v is None or isinstance(v, str),
            "variant": lambda v: v is None or v in variants,
            "preset": lambda v: v is None or isinstance(v, str),
            "conditional": lambda v: type(v) is bool}


def read_config(run, specs):
    """The run's config.json as a dict, checked against the schema (`specs`: the models'
    ModelSpecs by name); a damaged file is a ConfigError."""
    path = os.path.join(run, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: corrupt config ({type(e).__name__}: {e})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: corrupt config (a JSON {type(config).__name__}, not an object)")
    config.setdefault("variant", None)   # runs written before pixelrnn existed
    config.setdefault("preset", None)    # runs written before --preset existed
    config.setdefault("conditional", False)   # runs written before --conditional existed
    for key, ok in _checks(specs).items():
        if key not in config or not ok(config[key]):
            raise ConfigError(f"{path}: corrupt config ({key} is {config.get(key, 'missing')!r})")
    return config


def check_options(spec, specs, variant=None, preset=None, conditional=None):
    """--variant, --preset and --conditional are options that `spec`'s model has."""
    for flag, given, has in (("--variant", variant, lambda s: s.variants),
                             ("--conditional", conditional, lambda s: s.conditional)):
        if given and not has(spec):
            names = " and ".join(s.name for s in specs.values() if has(s))
            raise ConfigError(f"{flag} applies to {names} only, not {spec.name}")
    if preset is None:
        return
    if not spec.presets:
        raise ConfigError(f"--preset: {spec.name} has no presets (these models have: "
                          f"{', '.join(s.name for s in specs.values() if s.presets)})")
    if preset not in spec.presets:
        raise ConfigError(f"--preset {preset!r}: {spec.name} has the presets "
                          f"{', '.join(spec.presets)}")


def _resumed(given, out, specs):
    """The saved settings of the run in `out`, with the given lr, epochs, device, data_dir."""
    values = read_config(out, specs)
    for key in FIXED_ON_RESUME:
        if given[key] is not None and given[key] != values[key]:
            flag = key if key == "model" else "--" + key.replace("_", "-")
            raise ConfigError(f"--resume: {flag} {given[key]!r} differs from the run's "
                              f"{values[key]!r} in {out} (model, data, batch size and seed are "
                              "fixed for a run; train a new --out)")
    return {key: values[key] for key in given} | {
        key: value for key, value in given.items() if value is not None}


def resolve_config(given, out, resume, specs):
    """The TrainConfig of a fresh run (the flags in `given`, None where not given, else the
    defaults), or of a resumed one (its saved settings; the fixed ones must not change)."""
    ckpt = os.path.join(out, "checkpoint.npz")
    if resume:
        if not os.path.exists(ckpt):
            raise ConfigError(f"--resume: no checkpoint at {ckpt}")
        values = _resumed(given, out, specs)
    else:
        if os.path.exists(ckpt):
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or "
                              "--out NEW_DIR")
        spec = specs[given["model"]]
        check_options(spec, specs, given["variant"], given["preset"], given["conditional"])
        defaults = DEFAULTS | {"epochs": spec.epochs, "lr": spec.lr,
                               "batch_size": spec.batch_size}
        values = {key: value if value is not None else defaults.get(key)
                  for key, value in given.items()}
    return TrainConfig(binarize=specs[values["model"]].binarize, out=out, **values)
