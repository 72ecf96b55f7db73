"""Train a VAE for a wall-clock budget, then estimate its test NLL with k = 5000 importance samples.

The reference figure: Burda, Grosse & Salakhutdinov 2016 ("Importance Weighted Autoencoders"),
Table 1, one stochastic layer, VAE trained with k = 1: test NLL 86.76 nats on dynamically
binarized MNIST, estimated as -L_5000. Their model is our preset "iwae" (784-200-200-50,
tanh, decoder 50-200-200-784); they trained 3,280 passes over the data (Adam, lr
1e-3 * 10^(-i/7) for 3^i passes, i = 0..7, batch 20).

Here, under a budget of minutes:

    train   the 60,000 MNIST training images (data directory), dynamic binarization (a fresh
            Bernoulli draw of every image each time it is used), Adam, batch --batch-size,
            learning rate decayed log-linearly in time from --lr to --lr / 10 over the budget
    test    the 10,000 test images binarized once (a fixed, seeded Bernoulli draw), in a seeded
            random order; -L_k for as many as --eval-minutes allows (or --test-limit), with its
            standard error over the images evaluated; also the test ELBO (single draw)

    python benchmarks/eval_vae.py --data-dir DIR --minutes 15 --eval-minutes 25

Small GEMMs on a shared 2-core machine run much slower with OpenBLAS's thread pool than on
one thread (measured here: 18 ms against 0.19 ms for a 20x784 @ 784x200 product), so this
script pins BLAS to one thread unless OPENBLAS_NUM_THREADS is already set.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tinygen as tg  # noqa: E402
from tinygen.data import image_loader, load_dataset, set_epoch  # noqa: E402
from tinygen.models.vae import VAE  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist", help="mnist | fashion-mnist | mnist5k")
    p.add_argument("--data-dir", default=None, help="directory holding the IDX files")
    p.add_argument("--preset", default="iwae", help="VAE preset (iwae | b1 | conv)")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget (wall clock)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=5000, help="importance samples for the test NLL")
    p.add_argument("--eval-minutes", type=float, default=20.0, help="budget of the NLL estimate")
    p.add_argument("--test-limit", type=int, default=None, help="at most this many test images")
    p.add_argument("--eval-batch", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    return p.parse_args()


def train(model, loader, minutes, lr0):
    """Adam steps until the budget is spent; returns (steps, epochs, seconds, last epoch's ELBO)."""
    opts = model.configure_optimizers(lr0)
    budget, t0, steps, epoch = 60.0 * minutes, time.time(), 0, 0
    last_elbo = float("nan")
    while time.time() - t0 < budget:
        elbos = []
        set_epoch(loader, epoch)
        for x, _ in loader:
            elapsed = time.time() - t0
            if elapsed >= budget:
                break
            for group in opts["adam"].param_groups:
                group["lr"] = lr0 * 10 ** (-elapsed / budget)   # lr0 -> lr0 / 10 over the budget
            elbos.append(model.training_step(x, opts)["elbo"])
            steps += 1
        else:
            epoch += 1
            last_elbo = float(np.mean(elbos))
            print(f"epoch {epoch:4d}  {time.time() - t0:7.1f} s  train elbo {last_elbo:8.3f}", flush=True)
    return steps, epoch, time.time() - t0, last_elbo


def evaluate(model, test, k, minutes, limit, batch, seed):
    """-L_k and the ELBO per image over a seeded random order of the test set, within budget."""
    order = np.random.default_rng(seed).permutation(len(test))
    if limit is not None:
        order = order[:limit]
    nll, neg_elbo, t0 = [], [], time.time()
    for i in range(0, len(order), batch):
        if time.time() - t0 > 60.0 * minutes:
            break
        x = tg.tensor(test.images(np.sort(order[i:i + batch])))
        with tg.no_grad():
            nll.append(-model.log_likelihood(x, k=k).numpy().astype(np.float64))
            neg_elbo.append(-model.terms(x).elbo.numpy().astype(np.float64))
        n = sum(len(a) for a in nll)
        v = np.concatenate(nll)
        print(f"  {n:5d} test images  NLL {v.mean():8.3f} +- {v.std(ddof=1) / math.sqrt(n) if n > 1 else 0:.3f}"
              f"  ({time.time() - t0:6.1f} s)", flush=True)
    nll, neg_elbo = np.concatenate(nll), np.concatenate(neg_elbo)
    return nll, neg_elbo, time.time() - t0


def main():
    args = parse_args()
    tg.runtime.configure()           # process-wide tuning for training (tinygen/runtime.py)
    tg.manual_seed(args.seed)
    train_set = load_dataset(args.data, "train", data_dir=args.data_dir, binarize="dynamic")
    test_set = load_dataset(args.data, "test", data_dir=args.data_dir, binarize="fixed", seed=args.seed)
    loader = image_loader(train_set, args.batch_size, seed=args.seed, drop_last=False)
    model = VAE(args.preset)
    print(f"VAE preset {args.preset!r}: {model.config}")
    print(f"train: {train_set}, batch {args.batch_size}, {args.minutes} min; test: {test_set}")

    cpu0 = time.process_time()
    steps, epochs, train_s, train_elbo = train(model, loader, args.minutes, args.lr)
    train_cpu_s = time.process_time() - cpu0    # below wall time when the machine is shared
    print(f"trained {steps} steps ({epochs} full epochs) in {train_s / 60:.1f} min "
          f"({train_cpu_s / 60:.1f} CPU min)")

    model.eval()
    nll, neg_elbo, eval_s = evaluate(model, test_set, args.k, args.eval_minutes, args.test_limit,
                                     args.eval_batch, args.seed)
    n = len(nll)
    with tg.no_grad():
        active = model.evaluate(tg.tensor(test_set.images(slice(0, 2000))), k=1)["active_units"]
    result = {
        "preset": args.preset, "data": args.data, "train_minutes": train_s / 60,
        "train_cpu_minutes": train_cpu_s / 60, "steps": steps,
        "epochs": epochs, "batch_size": args.batch_size, "lr": args.lr,
        "train_elbo_last_epoch": train_elbo, "k": args.k, "test_images": n,
        "test_nll": float(nll.mean()), "test_nll_stderr": float(nll.std(ddof=1) / math.sqrt(n)),
        "test_neg_elbo": float(neg_elbo.mean()), "active_units": active,
        "eval_minutes": eval_s / 60, "published_nll": 86.76,
    }
    print(json.dumps(result, indent=2))
    print(f"test NLL (k={args.k}, {n} test images): {result['test_nll']:.2f} +- "
          f"{result['test_nll_stderr']:.2f} nats  vs  86.76 published  "
          f"(-ELBO {result['test_neg_elbo']:.2f}; {epochs} epochs in {train_s / 60:.1f} min)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
