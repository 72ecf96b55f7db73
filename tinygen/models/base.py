"""What a model is to the training loop and the command line: one base class, one spec.

    class MyModel(GenerativeModel):          # the methods the loop calls (below)
        ...
    SPEC = ModelSpec("my-model", MyModel, lr=1e-3, epochs=5)
    tg.models.register(SPEC)                 # `tinygen train my-model` (models/__init__.py)

GenerativeModel is an nn.Module whose methods are the contract of tinygen/train/loop.py's
fit (docs/training.md has the table):

    configure_optimizers(lr)           {name: optimizer}, once; the names key the optimizers'
                                       state in the checkpoint (the GAN: {"d": ..., "g": ...})
    training_step(x, optimizers, **condition)
                                       one full step: zero the gradients, the loss,
                                       backward(), step() each optimizer it uses; returns
                                       {term: number or 0-d array} to log. `optimizers` is
                                       the dict configure_optimizers returned (the loop
                                       watches their steps through step hooks: guards.py)
    condition(y)                       the keyword arguments the methods take for labels y:
                                       {} (default), {"y": y} for a class-conditional model
    terms(x, **condition)              a Record of per-example Tensors (the pictures)
    sample(n, **condition)             n images (n, C, H, W) in [0, 1] (the pictures)
    evaluate(data, limit=None, ...)    {metric: number} over a test set (`tinygen eval`)

and optionally complete(x, known_rows, **condition) (autoregressive models: the completion
pictures). ModelSpec is how `tinygen train NAME` trains it: its defaults, presets, pictures.

eval_batches is the one way the models' evaluate() turn their data (an ImageDataset, a
DataLoader, a Tensor or an array) into batches.
"""
from dataclasses import dataclass

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import tensor
from tinygen.nn.module import Module


class GenerativeModel(Module):
    """The base class of the models that fit trains (see the module docstring)."""

    def configure_optimizers(self, lr):
        """{name: optimizer} over the model's parameters, with learning rate lr."""
        raise NotImplementedError(f"{type(self).__name__} defines no configure_optimizers()")

    def training_step(self, x, optimizers, **condition):
        """One full optimizer step on batch x; returns the terms to log."""
        raise NotImplementedError(f"{type(self).__name__} defines no training_step()")

    def condition(self, y):
        """What terms, sample, complete and training_step take besides x, for labels y:
        nothing, unless the model is conditioned on them."""
        return {}

    def terms(self, x, **condition):
        """A Record of the model's named per-example terms on batch x."""
        raise NotImplementedError(f"{type(self).__name__} defines no terms()")

    def sample(self, n, **condition):
        """n images (n, C, H, W) with values in [0, 1]."""
        raise NotImplementedError(f"{type(self).__name__} defines no sample()")

    def evaluate(self, data, limit=None, **options):
        """{metric: number} over the test images `data` (the first `limit` of them)."""
        raise NotImplementedError(f"{type(self).__name__} defines no evaluate()")


PICTURES = ("samples", "completions", "receptive_field")


@dataclass(frozen=True)
class ModelSpec:
    """How `tinygen train NAME` (and sample, eval) handles a model; declared beside the
    model's class, registered by tinygen.models.register.

    model(**options) builds it, options among preset=, variant= and n_classes= (the ones
    the spec allows). binarize: how its images are served ("dynamic": a fresh Bernoulli
    draw each time, None: gray values; tinygen/data/binarize.py). pictures: "samples" (every
    model, after each epoch), "completions" (of test images: training and eval),
    "receptive_field" (eval). eval_train_set: evaluate() also takes train_set= (gray
    images) and run_dir= (where it may cache what it trains on them: the GAN's classifier).
    """
    name: str
    model: type
    binarize: str = "dynamic"
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 64
    presets: tuple = ()
    variants: tuple = ()
    conditional: bool = False
    pictures: tuple = ("samples",)
    eval_train_set: bool = False

    def __post_init__(self):
        unknown = set(self.pictures) - set(PICTURES)
        if unknown:
            raise ValueError(f"ModelSpec {self.name!r}: unknown pictures {sorted(unknown)} "
                             f"(known: {', '.join(PICTURES)})")


def eval_batches(data, batch_size, limit=None, start=0, gray=False):
    """(x, y) batches of the images data[start:start + limit]: x a NumPy array or a Tensor
    (B, C, H, W), y the labels (B,) or None.

    data: an ImageDataset (served binarized as it is set, or its gray values with gray=True;
    one draw per image used), a DataLoader (its own batches, binarization and device; with
    gray=True its dataset's gray values), or a Tensor or array of images (no labels)."""
    if hasattr(data, "dataset") and hasattr(data, "batch_size"):     # DataLoader
        if gray:
            yield from eval_batches(data.dataset, batch_size, limit, start, gray)
            return
        yield from _loader_batches(data, limit)
        return
    dataset = hasattr(data, "batch") and hasattr(data, "__len__")     # ImageDataset
    stop = len(data) if limit is None else min(len(data), start + limit)
    for i in range(start, stop, batch_size):
        index = np.arange(i, min(i + batch_size, stop))
        if not dataset:
            yield data[i:min(i + batch_size, stop)], None
        elif gray:
            yield data.gray(index), data.labels[index]
        else:
            yield data.batch(index)


def _loader_batches(loader, limit):
    seen = 0
    for x, y in loader:
        if limit is not None and seen >= limit:
            return
        if limit is not None:
            x, y = x[:limit - seen], (None if y is None else y[:limit - seen])
        seen += x.shape[0]
        yield x, y


def as_numpy(x, dtype=np.float64):
    """A batch of eval_batches (array or Tensor, on any device) as a NumPy array."""
    return np.asarray(backend.to_numpy(getattr(x, "array", x)), dtype=dtype)


def as_tensor(x, device, dtype=None):
    """A batch of eval_batches as a Tensor on `device` (of `dtype`, or its own)."""
    return tensor(getattr(x, "array", x), dtype=dtype, device=device)
