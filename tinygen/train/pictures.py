"""The pictures of a run, after each epoch (and by `tinygen eval`):

    samples_eNNN.png      a grid of model.sample(64) (a class-conditional model: a row of 8
                          samples for each class)
    completions_eNNN.png  (models with complete(): autoregressive) test images' bottom halves
                          completed 4 times each
    curves.png            every logged term against the step
    kl_per_latent.png     (models whose terms have a per-latent 'kl') KL of each latent
    pixel_nll.png         (models whose terms have a per-pixel 'log_p') mean -log p per pixel

The random draws come from streams of their own, rng.derive_seed(seed, PICTURE_STREAM,
epoch[, 1]), so drawing them never moves the training stream: a run resumed from the
checkpoint written just before them trains on bitwise as if uninterrupted.
"""
import os

import numpy as np

from tinygen import rng
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import tensor
from tinygen.train import plots
from tinygen.train.metrics import read_metrics

PICTURE_STREAM = 1   # key of the pictures' random stream, derived from the run's seed
COMPLETIONS = 4      # completions drawn of each test image


def class_count(model):
    """The classes a class-conditional model is conditioned on (0: unconditional)."""
    return getattr(getattr(model, "config", None), "n_classes", 0)


def test_images(test_set, seed, device, n=8):
    """(x, y): the first n test images, binarized (if the set is) by a generator of their
    own (seeded: the same images every epoch; tinygen's stream does not move), and labels."""
    x, y = test_set.batch(np.arange(min(n, len(test_set))),
                          rng=np.random.default_rng(rng.derive_seed(seed, 3)))
    return tensor(x, device=device), tensor(y, device=device)


def write_completions(model, x, y, path, k=COMPLETIONS, title=None):
    """k completions by model.complete of each image x (N, C, H, W) from its top half (a
    class-conditional model also gets the labels y (N,)), drawn beside the originals."""
    N, C, H, W = x.shape
    labels = model.condition(None if y is None else y.repeat_interleave(k, 0))
    completed = model.complete(x.repeat_interleave(k, 0), known_rows=H // 2, **labels)
    return plots.save_completions(x.numpy(), completed.numpy().reshape(N, k, C, H, W), H // 2,
                                  path, title=title)


def _write_samples(model, path, epoch):
    """samples_eNNN.png: 64 samples, or for a class-conditional model 8 of each class."""
    name, n_classes = type(model).__name__, class_count(model)
    if n_classes:   # "draw a 7": a row of 8 samples for each class
        labels = np.repeat(np.arange(n_classes), 8)
        images = model.sample(len(labels), **model.condition(labels)).numpy()
        plots.save_image_grid(np.clip(images, 0, 1), path, nrow=8, row_labels=range(n_classes),
                              title=f"{name} samples of each class after epoch {epoch}")
    else:
        images = model.sample(64).numpy()
        plots.save_image_grid(np.clip(images, 0, 1), path,
                              title=f"{name} samples after epoch {epoch}")


def _write_term_pictures(terms, run_dir):
    """kl_per_latent.png from a 2-D 'kl' term, pixel_nll.png from a 4-D 'log_p' term."""
    if "kl" in terms and terms["kl"].ndim == 2:
        plots.save_kl_per_latent(terms["kl"].numpy().mean(axis=0),
                                 os.path.join(run_dir, "kl_per_latent.png"))
    if "log_p" in terms and terms["log_p"].ndim == 4:
        nll = -terms["log_p"].numpy().mean(axis=0).sum(axis=0)   # (H, W)
        plots.save_pixel_nll(nll, os.path.join(run_dir, "pixel_nll.png"))


def write_pictures(model, run_dir, epoch, probe, seed=0, test_batch=None):
    """Samples, completions, curves, and the per-term pictures that the model's terms allow.

    probe: a fixed batch x, or (x, y) with its labels, whose terms are pictured; test_batch:
    (x, y) test images whose bottom halves a model with complete() completes."""
    x, y = probe if isinstance(probe, (tuple, list)) else (probe, None)
    name = type(model).__name__
    with no_grad(), rng.fork_rng(rng.derive_seed(seed, PICTURE_STREAM, epoch)):
        was_training = model.training
        model.eval()
        try:
            if test_batch is not None and hasattr(model, "complete"):
                with rng.fork_rng(rng.derive_seed(seed, PICTURE_STREAM, epoch, 1)):
                    write_completions(model, *test_batch,
                                      os.path.join(run_dir, f"completions_e{epoch:03d}.png"),
                                      title=f"{name} completions after epoch {epoch}")
            _write_samples(model, os.path.join(run_dir, f"samples_e{epoch:03d}.png"), epoch)
            terms = model.terms(x, **model.condition(y)) if x is not None else None
        finally:
            model.train(was_training)
    plots.save_curves(read_metrics(run_dir), os.path.join(run_dir, "curves.png"),
                      title=f"{name} training terms")
    if terms is not None:
        _write_term_pictures(terms, run_dir)
