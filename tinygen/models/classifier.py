"""A small MNIST classifier, trained by tinygen itself, whose features measure GAN samples.

The Fréchet distance of Heusel et al. (2017) compares Gaussians fitted to the features of
real and generated images (tinygen/eval/frechet.py). FID uses Inception-v3 features of
ImageNet images; for MNIST, tinygen uses the penultimate layer of this network instead, so
its number is reported as the "Fréchet distance in tinygen-classifier features" and is
not comparable with published FIDs.

    x (N, 1, 28, 28) -> Conv2d(1, 32, 4, 2, 1) -> ReLU                 (32, 14, 14)
                     -> Conv2d(32, 64, 4, 2, 1) -> ReLU                (64, 7, 7)
                     -> flatten -> Linear(64 7 7, 128) -> ReLU         features (N, 128)
                     -> Linear(128, 10)                                class logits

trained with cross-entropy, -log softmax(logits)_y, on gray images in [0, 1], by the
training loop of every model (tinygen/train/loop.py's fit: it keeps the GenerativeModel
contract, its labels as its condition). fit writes a run directory; the classifier's is a
temporary one, since what outlives the training is the weights alone: they are cached
(classifier.npz in the run directory of the model evaluated), so every evaluation of a run
uses the same feature map.
"""
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
import tinygen.optim as optim
from tinygen.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinygen.data import ImageDataset, image_loader
from tinygen.models.base import GenerativeModel
from tinygen.models.record import Record
from tinygen.train.config import TrainConfig
from tinygen.train.loop import fit


@dataclass
class ClassifierConfig:
    image_shape: tuple = (1, 28, 28)   # (C, H, W), H and W divisible by 4
    channels: int = 32                 # first conv's channels (the second has twice)
    n_features: int = 128              # the feature layer (Fréchet distance dimension)
    n_classes: int = 10
    epochs: int = 2                    # training by fit (train_classifier): epochs, batch, lr
    batch_size: int = 128
    lr: float = 1e-3                   # Adam


class MNISTClassifier(GenerativeModel):
    """Conv classifier; `features(x)` (N, n_features) is what the Fréchet distance compares.

    Not generative (no sample(), so no pictures and no `tinygen train classifier`), it keeps
    the rest of GenerativeModel's contract, so that fit trains it: the labels y are its
    condition, for terms and training_step alike."""

    def __init__(self, config=None, **overrides):
        super().__init__()
        config = replace(config or ClassifierConfig(), **overrides)
        self.config = config
        C, H, W = config.image_shape
        c = config.channels
        self.conv1 = nn.Conv2d(C, c, 4, 2, 1)
        self.conv2 = nn.Conv2d(c, 2 * c, 4, 2, 1)
        self.fc = nn.Linear(2 * c * (H // 4) * (W // 4), config.n_features)
        self.out = nn.Linear(config.n_features, config.n_classes)

    def features(self, x):                                   # (N, C, H, W) in [0, 1]
        h = F.relu(self.conv1(x))                            # (N, c, H/2, W/2)
        h = F.relu(self.conv2(h))                            # (N, 2c, H/4, W/4)
        return F.relu(self.fc(h.flatten(1)))                 # (N, n_features)

    def forward(self, x):
        return self.out(self.features(x))                    # (N, n_classes) logits

    def condition(self, y):
        return {"y": y}

    def terms(self, x, y):
        """log_p_y (N,) = log softmax(logits)_y, and correct (N,) 0/1."""
        logits = self(x)
        log_p_y = -F.cross_entropy(logits, y, reduction="none")
        correct = (logits.array.argmax(axis=1) == getattr(y, "array", y)).astype(logits.dtype)
        return Record(log_p_y=log_p_y, correct=tg.Tensor.wrap(correct, logits.device, False))

    def configure_optimizers(self, lr=None):
        return {"adam": optim.Adam(self.parameters(), lr=lr or self.config.lr)}

    def training_step(self, x, optimizers, y):
        opt = optimizers["adam"]
        opt.zero_grad()
        t = self.terms(x, y)
        loss = -t.log_p_y.mean()
        loss.backward()
        opt.step()
        return {"loss": loss.array, "accuracy": t.correct.array.mean()}   # 0-d arrays: no sync

    def accuracy(self, images, labels, batch_size=1000):
        """Fraction of images (N, C, H, W) classified as labels (N,)."""
        hits = 0
        with tg.no_grad():
            for i in range(0, len(images), batch_size):
                logits = self(tg.tensor(images[i:i + batch_size], dtype="float32"))
                hits += int((logits.numpy().argmax(axis=1) == labels[i:i + batch_size]).sum())
        return hits / len(images)


def classifier_features(model, images, batch_size=1000):
    """features(images) as float64 NumPy (N, n_features); images (N, C, H, W) in [0, 1]."""
    images = np.asarray(getattr(images, "array", images))
    out = []
    with tg.no_grad():
        for i in range(0, len(images), batch_size):
            x = tg.tensor(images[i:i + batch_size], dtype="float32")
            out.append(model.features(x).numpy().astype(np.float64))
    return np.concatenate(out)


def train_classifier(train_set, config=None, seed=0, test_set=None, progress=False):
    """Train an MNISTClassifier with fit on the gray images of an ImageDataset (whatever its
    binarization), in a temporary run directory; returns (model, info) with
    info = {"train_seconds", "test_accuracy" (when test_set is given)}."""
    config = config or ClassifierConfig()
    tg.manual_seed(seed)
    model = MNISTClassifier(config)
    # its gray images, in a dataset of its own (fit's set_epoch leaves train_set as it was)
    gray = ImageDataset(train_set.pixels, train_set.labels, name=train_set.name)
    loader = image_loader(gray, config.batch_size, seed=seed)
    run = TrainConfig(model="classifier", data=train_set.name, binarize=None, seed=seed,
                      epochs=config.epochs, batch_size=config.batch_size, lr=config.lr)
    t0 = time.time()
    with tg.enable_grad(), tempfile.TemporaryDirectory() as run_dir:   # also under no_grad
        fit(model, loader, run, run_dir, progress=progress, pictures=False)
    info = {"train_seconds": time.time() - t0}
    if test_set is not None:
        info["test_accuracy"] = model.accuracy(test_set.gray(slice(None)), test_set.labels)
    model.eval()
    return model, info


def load_or_train_classifier(cache_dir, train_set, config=None, seed=0, test_set=None,
                             progress=False):
    """The classifier cached in cache_dir/classifier.npz (same config), or a new one trained
    on train_set and saved there. cache_dir=None trains without caching."""
    config = config or ClassifierConfig()
    path = os.path.join(cache_dir, "classifier.npz") if cache_dir else None
    model = MNISTClassifier(config)
    if path and os.path.exists(path):
        try:
            info = load_checkpoint(path, model, restore_rng=False)
        except CheckpointError:   # a cache of an older tinygen, or damaged: trained anew
            info = {}
        if (info.get("extra") or {}).get("config") == asdict(config):
            return model.eval()
    model, info = train_classifier(train_set, config, seed, test_set, progress)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        save_checkpoint(path, model, extra={"config": asdict(config), **info})
    return model
