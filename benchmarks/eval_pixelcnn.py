"""Train a PixelCNN on MNIST for a wall-clock budget, then measure its exact test NLL.

The reference figure: van den Oord, Kalchbrenner & Kavukcuoglu 2016 ("Pixel Recurrent Neural
Networks"), Table 4: PixelCNN 81.30 nats on binarized MNIST (their run: many GPU-hours, the
residual architecture, the fixed binarization of Larochelle & Murray).

Here, under a budget of minutes on the CPU:

    train   the 60,000 MNIST training images (data directory), dynamic binarization (a fresh
            Bernoulli draw of every image each time it is used), Adam at --lr, batch --batch-size
    test    the 10,000 test images, binarized by one seeded Bernoulli draw; the NLL is exact
            (an autoregressive model needs no bound): mean -log p(x) in nats +- standard error,
            and bits/dim
    samples a grid of --samples images drawn pixel by pixel, and completions of test images
            whose top half is given (PNG in --out)

    python benchmarks/eval_pixelcnn.py --data-dir DIR --minutes 15

Measured on the shared 2-core machine (batch 32, Adam 1e-3; 10,000 test images):
    residual, 15 min, 1066 steps (0.57 epochs):  95.47 +- 0.22 nats (0.1757 bits/dim)
    b3,       15 min,  217 steps (0.12 epochs): 101.67 +- 0.23 nats   (machine heavily loaded)
    b3,       30 min,  541 steps (0.29 epochs):  97.83 +- 0.22 nats   (machine heavily loaded)
    python benchmarks/eval_pixelcnn.py ... --minutes 20 --resume     # 20 more minutes

The model and Adam state are saved in --out/pixelcnn.npz; --resume continues from them and
reports the total training time and steps.
"""
import argparse
import json
import os
import time

import numpy as np

import tinygen as tg
from tinygen.data import image_loader, load_dataset
from tinygen.models.pixelcnn import PixelCNN
from tinygen.train.plots import save_image_grid

import budget


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist", help="mnist | fashion-mnist | mnist5k")
    p.add_argument("--data-dir", default=None, help="directory holding the IDX files")
    p.add_argument("--preset", default="residual", help="PixelCNN preset: residual (the "
                   "paper's blocks) | b3 (the speed benchmark's plain stack)")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget (wall clock)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--test-limit", type=int, default=None, help="at most this many test images")
    p.add_argument("--samples", type=int, default=16, help="images to sample (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from --out/pixelcnn.npz")
    p.add_argument("--out", default="runs/eval_pixelcnn", help="directory for results and pictures")
    return p.parse_args(argv)


def save_pictures(model, test, n, out):
    """Samples and top-half completions as PNG grids."""
    paths = []
    t0 = time.time()
    images = model.sample(n).numpy()
    paths.append(os.path.join(out, "pixelcnn_samples.png"))
    save_image_grid(images, paths[-1], title=f"PixelCNN samples ({time.time() - t0:.0f} s)")
    given = tg.tensor(test.images(np.arange(n // 2)))
    completed = model.complete(given).numpy()                        # (n/2, 1, 28, 28)
    pairs = np.concatenate([given.numpy(), completed])              # originals, then completions
    paths.append(os.path.join(out, "pixelcnn_completions.png"))
    save_image_grid(pairs, paths[-1], nrow=n // 2,
                    title="top: test images; bottom: top half given, bottom half sampled")
    return paths


def main(argv=None):
    args = parse_args(argv)
    tg.runtime.configure()           # process-wide tuning for training (tinygen/runtime.py)
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)
    train_set = load_dataset(args.data, "train", data_dir=args.data_dir, binarize="dynamic")
    test = load_dataset(args.data, "test", data_dir=args.data_dir, binarize="fixed", seed=args.seed)
    loader = image_loader(train_set, args.batch_size, seed=args.seed)
    model = PixelCNN(preset=args.preset)
    opts = model.configure_optimizers(args.lr)
    ckpt = os.path.join(args.out, "pixelcnn.npz")
    before = budget.resume(ckpt, model, opts["adam"], loader) if args.resume else budget.NOTHING_DONE
    n_params = sum(p.numel() for p in model.parameters())
    print(f"PixelCNN preset {args.preset!r}: {n_params} parameters; training on {train_set!r} "
          f"for {args.minutes} min, batch {args.batch_size}, Adam lr {args.lr}", flush=True)
    done = budget.train_for(model, opts, loader, args.minutes, log_every=50)
    total = budget.save(ckpt, model, opts["adam"], before, done, len(train_set))
    steps, seen, seconds = total["steps"], total["seen"], total["seconds"]
    model.eval()
    t0 = time.time()
    metrics = model.evaluate(test, limit=args.test_limit)
    eval_seconds = time.time() - t0
    result = {
        "model": f"PixelCNN preset {args.preset}", "parameters": n_params,
        "train_minutes": seconds / 60, "steps": steps, "epochs": seen / len(train_set),
        "batch_size": args.batch_size, "lr": args.lr,
        "binarization": "train dynamic; test one seeded Bernoulli draw",
        "test_nll_nats": metrics["nll"], "test_nll_se": metrics["nll_se"],
        "test_bits_per_dim": metrics["bits_per_dim"], "test_images": metrics["n"],
        "eval_seconds": eval_seconds, "published_nll_nats": 81.30,
    }
    print(f"test NLL {metrics['nll']:.2f} +- {metrics['nll_se']:.2f} nats "
          f"({metrics['bits_per_dim']:.4f} bits/dim) on {metrics['n']} images, after "
          f"{seconds / 60:.1f} min of training ({steps} steps, {seen / len(train_set):.2f} epochs); "
          f"published PixelCNN: 81.30 nats", flush=True)
    if args.samples:
        result["pictures"] = save_pictures(model, test, args.samples, args.out)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
