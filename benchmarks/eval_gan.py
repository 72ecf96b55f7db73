"""Train the DCGAN (B2) on MNIST for a wall-clock budget, then score its samples.

Two scores, both from 10,000 samples (gray values in [0, 1], generator in eval mode):

    Parzen   the protocol of Goodfellow et al. 2014 (Table 1: GAN 225 +- 2 nats on MNIST):
             Gaussian Parzen window on the samples, sigma chosen on the validation images
             (MNIST train[50000:60000]) from np.logspace(-1, 0, 10), mean log-likelihood of
             the 10,000 test images +- standard error. (A poor measure of sample quality,
             Theis et al. 2016; kept to compare with the literature.)
    Fréchet  the Fréchet distance between Gaussians fitted to the features of the samples
             and of the test images, in the 128-d penultimate layer of tinygen's own MNIST
             classifier (tinygen/models/classifier.py, trained here and cached in --out).
             Not FID (no Inception network): comparable only with itself. The distance
             between 10,000 real training images and the test images is printed as a floor.

Training follows the paper's split: the first 50,000 training images (gray values), batch
--batch-size, Adam lr 2e-4, betas (0.5, 0.999), one D step then one G step per batch.

    python benchmarks/eval_gan.py --data-dir DIR --minutes 15

Measured on the shared 2-core machine (non-saturating loss, batch 64):
    15 min, 1943 steps (2.5 epochs):  Parzen  86.6 +- 1.5 nats (sigma 0.215);
                                      Fréchet (tinygen-classifier features) 103.3
    35 min, 3462 steps (4.4 epochs):  Parzen 108.1 +- 1.5 nats (sigma 0.215);
                                      Fréchet 69.0  (resumed at 15 min with fresh Adam moments)
    10,000 real training images in place of samples: Parzen 241.2 +- 2.1 (sigma 0.167);
    Fréchet real train vs test 3.7 (classifier: 2 epochs, 98.3% test accuracy)
    python benchmarks/eval_gan.py ... --minutes 20 --resume        # 20 more minutes

The model and both Adam states are saved in --out/gan.npz; --resume continues from them and
reports the total training time and steps (a checkpoint without optimizer state resumes
with fresh Adam moments, and says so).
"""
import argparse
import json
import os
import time

import numpy as np

import tinygen as tg
from tinygen.data import image_loader, load_dataset
from tinygen.eval.frechet import frechet_distance
from tinygen.eval.parzen import SIGMA_GRID, parzen_evaluate
from tinygen.models.classifier import (ClassifierConfig, classifier_features,
                                       load_or_train_classifier)
from tinygen.models.gan import GAN
from tinygen.train.checkpointing import OptimizerSet
from tinygen.train.plots import save_image_grid

import budget


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist", help="mnist | fashion-mnist")
    p.add_argument("--data-dir", default=None, help="directory holding the IDX files")
    p.add_argument("--loss", default="nonsaturating", help="nonsaturating | minimax | wgan-gp")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget (wall clock)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--samples", type=int, default=10_000, help="samples for Parzen and Fréchet")
    p.add_argument("--classifier-epochs", type=int, default=2, help="training of the feature net")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from --out/gan.npz")
    p.add_argument("--out", default="runs/eval_gan", help="directory for results, pictures and "
                                                          "the cached classifier")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tg.runtime.configure()           # process-wide tuning for training (tinygen/runtime.py)
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)
    train_set = load_dataset(args.data, "train", data_dir=args.data_dir, validation=True)
    valid = load_dataset(args.data, "valid", data_dir=args.data_dir, validation=True)
    test = load_dataset(args.data, "test", data_dir=args.data_dir)
    loader = image_loader(train_set, args.batch_size, seed=args.seed)
    model = GAN(loss=args.loss)
    opts = model.configure_optimizers(args.lr)
    ckpt = os.path.join(args.out, "gan.npz")
    optimizer = OptimizerSet(opts)
    before = budget.resume(ckpt, model, optimizer, loader) if args.resume else budget.NOTHING_DONE
    print(f"GAN ({args.loss}, B2 networks) on {train_set!r} for {args.minutes} min, batch "
          f"{args.batch_size}, Adam lr {args.lr}", flush=True)
    done = budget.train_for(model, opts, loader, args.minutes, log_every=100)
    total = budget.save(ckpt, model, optimizer, before, done, len(train_set))
    steps, seen, seconds, last = total["steps"], total["seen"], total["seconds"], done["last"]

    model.eval()
    t0 = time.time()
    samples = model.samples_numpy(args.samples)                         # (n, 1, 28, 28)
    gray = lambda ds: ds.gray(slice(None)).astype(np.float64)           # noqa: E731
    parzen = parzen_evaluate(samples, gray(valid), gray(test), SIGMA_GRID)
    parzen_seconds = time.time() - t0
    print(f"Parzen: {parzen['parzen_ll']:.1f} +- {parzen['parzen_se']:.1f} nats "
          f"(sigma {parzen['parzen_sigma']:.3f}; {parzen_seconds:.0f} s)", flush=True)

    t0 = time.time()
    config = ClassifierConfig(epochs=args.classifier_epochs)
    classifier = load_or_train_classifier(args.out, train_set, config, test_set=test, progress=True)
    classifier_seconds = time.time() - t0
    accuracy = classifier.accuracy(test.gray(slice(None)), test.labels)
    f_test = classifier_features(classifier, gray(test))
    frechet = frechet_distance(classifier_features(classifier, samples), f_test)
    floor = frechet_distance(classifier_features(classifier, gray(train_set)[:10_000]), f_test)
    print(f"Fréchet distance in tinygen-classifier features: {frechet:.3f} (real train vs "
          f"test: {floor:.3f}; classifier test accuracy {accuracy:.4f})", flush=True)

    result = {
        "model": f"GAN {args.loss}, B2 (DCGAN 28x28)", "train_minutes": seconds / 60,
        "steps": steps, "epochs": seen / len(train_set), "batch_size": args.batch_size,
        "lr": args.lr, "last_100_steps": last,
        "parzen_ll_nats": parzen["parzen_ll"], "parzen_se": parzen["parzen_se"],
        "parzen_sigma": parzen["parzen_sigma"], "parzen_valid_by_sigma": parzen["parzen_valid"],
        "parzen_samples": parzen["n_samples"], "published_parzen_nats": "225 +- 2",
        "frechet_tinygen_classifier": frechet,
        "frechet_tinygen_classifier_train_vs_test": floor,
        "classifier_test_accuracy": accuracy, "classifier_seconds": classifier_seconds,
    }
    result["pictures"] = [os.path.join(args.out, "gan_samples.png")]
    save_image_grid(samples[:64], result["pictures"][0],
                    title=f"GAN samples after {seconds / 60:.0f} min ({steps} steps)")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
