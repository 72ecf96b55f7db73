"""Per-op overhead: an 8-element add with requires_grad, forward and forward+backward, and
a mul and a relu on 1k float32 elements (forward, requires_grad), in us.

The work is trivial, so the time is tinygen's own Python: building the node, wrapping the
output, walking the graph (and, for relu, calling its kernel). NumPy's plain add on the same
arrays is timed in the same run as the floor; PyTorch's CPU ops too (one thread), where
installed. The cases take turns over several rounds (medians of many repeats each), and the
ratio tinygen / torch is taken per round: its median and range are printed.

    python benchmarks/bench_overhead.py [--repeat 2000] [--rounds 5] [--json out.json]
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np


def median_us(fn, repeat, inner=50):
    """The median over `repeat` runs of fn's time per call (us), each run `inner` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner * 1e6)
    return statistics.median(times)


def _cases():
    """{name: fn}: each case a call of the op on ready inputs."""
    import tinygen as tg
    a = tg.randn(8, requires_grad=True)
    b = tg.randn(8, requires_grad=True)
    na, nb = a.numpy(), b.numpy()
    x = tg.randn(1000, requires_grad=True)
    y = tg.randn(1000, requires_grad=True)

    def fwd_bwd():
        (a + b).backward(tg.ones(8))

    def no_grad_add():
        with tg.no_grad():
            return a + b

    cases = {"numpy add": lambda: na + nb,
             "tinygen add forward": lambda: a + b,
             "tinygen add forward+backward": fwd_bwd,
             "tinygen add forward (a no_grad block a call)": no_grad_add,
             "tinygen mul 1k forward": lambda: x * y,
             "tinygen relu 1k forward": lambda: tg.relu(x)}
    try:
        import torch
    except ImportError:
        return cases
    torch.set_num_threads(1)
    ta = torch.randn(8, requires_grad=True)
    tb = torch.randn(8, requires_grad=True)
    ones = torch.ones(8)
    tx = torch.randn(1000, requires_grad=True)
    ty = torch.randn(1000, requires_grad=True)

    def t_fwd_bwd():
        (ta + tb).backward(ones)

    cases.update({"torch add forward": lambda: ta + tb,
                  "torch add forward+backward": t_fwd_bwd,
                  "torch mul 1k forward": lambda: tx * ty,
                  "torch relu 1k forward": lambda: torch.relu(tx)})
    return cases


RATIOS = ("add forward", "add forward+backward", "mul 1k forward", "relu 1k forward")


def measure(repeat=400, rounds=5):
    """({case: median us over the rounds}, {op: (median, min, max) of the per-round ratios
    tinygen / torch}). The cases take turns, round after round, so that a busy spell on a
    shared machine lands on both frameworks of a ratio alike."""
    cases = _cases()
    times = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(median_us(fn, max(1, repeat // rounds)))
    results = {name: statistics.median(ts) for name, ts in times.items()}
    ratios = {}
    for op in RATIOS:
        if f"torch {op}" in times:
            per_round = [a / b for a, b in zip(times[f"tinygen {op}"], times[f"torch {op}"])]
            ratios[op] = (statistics.median(per_round), min(per_round), max(per_round))
    return results, ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=400)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    results, ratios = measure(args.repeat, args.rounds)
    width = max(len(k) for k in results)
    print(f"{'case':<{width}}  median us/op")
    for k, v in results.items():
        print(f"{k:<{width}}  {v:8.2f}")
    for op, (median, low, high) in ratios.items():
        print(f"tinygen/torch {op}: {median:.2f} (rounds {low:.2f} .. {high:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"us_per_op": results, "tinygen_over_torch": ratios}, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
