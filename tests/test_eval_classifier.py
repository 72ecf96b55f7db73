"""The feature classifier behind tinygen's Fréchet distance (tinygen/models/classifier.py)."""
import os
from dataclasses import asdict

import numpy as np

import tinygen as tg
from tinygen.checkpoint import load_checkpoint
from tinygen.data import ImageDataset
from tinygen.eval.frechet import frechet_distance
from tinygen.models.classifier import (ClassifierConfig, MNISTClassifier, classifier_features,
                                       load_or_train_classifier)

SMALL = ClassifierConfig(image_shape=(1, 8, 8), channels=4, n_features=6, n_classes=2, epochs=3,
                         batch_size=20, lr=1e-2)


def bars(n, seed):
    """Two classes of 8 x 8 images: a bright row (0) or a bright column (1), plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.uniform(0, 60, (n, 8, 8))
    where = rng.integers(1, 7, n)
    for i in range(n):
        if labels[i] == 0:
            x[i, where[i], :] = 255
        else:
            x[i, :, where[i]] = 255
    return ImageDataset(x.astype(np.uint8), labels)


def test_shapes_and_terms():
    model = MNISTClassifier()
    x = tg.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, 128)
    y = tg.tensor(np.array([0, 3, 9]))
    t = model.terms(x, y)
    with tg.no_grad():
        logits = model(x).numpy()
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(t.log_p_y.numpy(), log_softmax[np.arange(3), [0, 3, 9]], rtol=1e-5)
    hits = (logits.argmax(1) == [0, 3, 9]).astype(np.float32)
    np.testing.assert_array_equal(t.correct.numpy(), hits)


def test_trains_caches_and_reloads(tmp_path):
    train, test = bars(400, 0), bars(200, 1)
    with tg.no_grad():                       # training must still record its graph
        model = load_or_train_classifier(str(tmp_path), train, SMALL, test_set=test)
    assert model.accuracy(test.gray(slice(None)), test.labels) > 0.9
    path = os.path.join(tmp_path, "classifier.npz")
    assert os.path.exists(path)
    mtime = os.path.getmtime(path)
    again = load_or_train_classifier(str(tmp_path), train, SMALL)      # loaded, not retrained
    assert os.path.getmtime(path) == mtime
    images = test.gray(slice(0, 50))
    np.testing.assert_array_equal(classifier_features(again, images),
                                  classifier_features(model, images))
    # features separate the classes: the two class-conditional sets are far apart, and the
    # distance between two halves of one class is small in comparison
    f = classifier_features(model, test.gray(slice(None)))
    zeros, ones = f[test.labels == 0], f[test.labels == 1]
    half = len(zeros) // 2
    assert frechet_distance(zeros, ones) > 5 * frechet_distance(zeros[:half], zeros[half:])


def test_unreadable_cache_is_retrained(tmp_path):
    path = os.path.join(tmp_path, "classifier.npz")
    with open(path, "wb") as f:
        f.write(b"not a checkpoint")
    train = bars(100, 0)
    model = load_or_train_classifier(str(tmp_path), train, SMALL)
    cached = MNISTClassifier(SMALL)
    info = load_checkpoint(path, cached, restore_rng=False)          # replaced by the new one
    assert info["extra"]["config"] == asdict(SMALL)
    images = train.gray(slice(0, 20))
    np.testing.assert_array_equal(classifier_features(cached, images),
                                  classifier_features(model, images))
