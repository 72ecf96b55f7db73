"""The generative models: PixelCNN, PixelRNN, Gated PixelCNN, autoencoder, VAE, GAN (see each file's docstring).

    model = tg.models.build("vae")          # by the command line's name
    tg.models.REGISTRY["vae"]               # its ModelSpec: training defaults, presets, pictures
    tg.models.register(SPEC)                # a model of your own, in `tinygen train` too

Each model's module declares its SPEC (tinygen/models/base.py) beside its class; the registry
is built from them here, so a model added to the command line needs no edit of tinygen/cli.py.
"""
from tinygen.models import autoencoder, gan, gated_pixelcnn, pixelcnn, pixelrnn, vae
from tinygen.models.autoencoder import AutoEncoder  # noqa: F401
from tinygen.models.base import GenerativeModel, ModelSpec  # noqa: F401
from tinygen.models.gan import GAN  # noqa: F401
from tinygen.models.gated_pixelcnn import GatedPixelCNN  # noqa: F401
from tinygen.models.pixelcnn import PixelCNN  # noqa: F401
from tinygen.models.pixelrnn import PixelRNN  # noqa: F401
from tinygen.models.receptive import (  # noqa: F401
    receptive_field, receptive_fields, save_receptive_fields)
from tinygen.models.record import Record  # noqa: F401
from tinygen.models.vae import VAE  # noqa: F401

REGISTRY = {}   # command-line name -> ModelSpec


def register(spec):
    """Make the model of `spec` (a ModelSpec) one of `tinygen train`'s (and build's);
    returns spec. A name already taken is a ValueError."""
    if spec.name in REGISTRY:
        raise ValueError(f"a model named {spec.name!r} is registered already")
    REGISTRY[spec.name] = spec
    return spec


def unregister(name):
    """Remove the model registered as `name` (the inverse of register)."""
    del REGISTRY[name]


for _module in (pixelcnn, pixelrnn, gated_pixelcnn, autoencoder, vae, gan):
    register(_module.SPEC)


def build(name, **kwargs):
    """A model by its command-line name, with default (or overridden) configuration."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(REGISTRY)}")
    return REGISTRY[name].model(**kwargs)
