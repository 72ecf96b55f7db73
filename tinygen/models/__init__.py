"""The generative models: PixelCNN, PixelRNN, Gated PixelCNN, autoencoder, VAE, GAN (see each file's docstring).

    model = tg.models.build("vae")          # by the command line's name
"""
import importlib

from tinygen.models.receptive import (  # noqa: F401
    receptive_field, receptive_fields, save_receptive_fields)
from tinygen.models.record import Record  # noqa: F401

# command-line name -> (module, class)
REGISTRY = {
    "pixelcnn": ("tinygen.models.pixelcnn", "PixelCNN"),
    "pixelrnn": ("tinygen.models.pixelrnn", "PixelRNN"),
    "gated-pixelcnn": ("tinygen.models.gated_pixelcnn", "GatedPixelCNN"),
    "ae": ("tinygen.models.autoencoder", "AutoEncoder"),
    "vae": ("tinygen.models.vae", "VAE"),
    "gan": ("tinygen.models.gan", "GAN"),
}


def build(name, **kwargs):
    """A model by its command-line name, with default (or overridden) configuration."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(REGISTRY)}")
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)(**kwargs)


def __getattr__(name):
    # tg.models.VAE etc., imported on first use so that one model's import never pulls all
    for module, cls in REGISTRY.values():
        if cls == name:
            return getattr(importlib.import_module(module), cls)
    raise AttributeError(f"module 'tinygen.models' has no attribute {name!r}")
