"""Per-op overhead: an 8-element add with requires_grad, forward and forward+backward, and
a mul and a relu on 1k float32 elements (forward, requires_grad), in us.

The work is trivial, so the time is tinygen's own Python: building the node, wrapping the
output, walking the graph (and, for relu, calling its kernel). NumPy's plain add on the same
arrays is timed in the same run as the floor; PyTorch's CPU ops too (one thread), where
installed, with the ratio tinygen / torch per row. Medians of many repeats.

    python benchmarks/bench_overhead.py [--repeat 2000] [--json out.json]
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np


def _median_us(fn, repeat, inner=50):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner * 1e6)
    return statistics.median(times)


def measure(repeat=400):
    import tinygen as tg
    a = tg.randn(8, requires_grad=True)
    b = tg.randn(8, requires_grad=True)
    na, nb = a.numpy(), b.numpy()

    def fwd_bwd():
        y = a + b
        y.backward(tg.ones(8))

    results = {
        "numpy add": _median_us(lambda: na + nb, repeat),
        "tinygen add forward": _median_us(lambda: a + b, repeat),
        "tinygen add forward+backward": _median_us(fwd_bwd, repeat),
    }
    with tg.no_grad():
        results["tinygen add forward (no_grad)"] = _median_us(lambda: a + b, repeat)
    x = tg.randn(1000, requires_grad=True)
    y = tg.randn(1000, requires_grad=True)
    results["tinygen mul 1k forward"] = _median_us(lambda: x * y, repeat)
    results["tinygen relu 1k forward"] = _median_us(lambda: tg.relu(x), repeat)
    try:
        import torch
        torch.set_num_threads(1)
        ta = torch.randn(8, requires_grad=True)
        tb = torch.randn(8, requires_grad=True)
        ones = torch.ones(8)

        def t_fwd_bwd():
            y = ta + tb
            y.backward(ones)

        results["torch add forward"] = _median_us(lambda: ta + tb, repeat)
        results["torch add forward+backward"] = _median_us(t_fwd_bwd, repeat)
        tx = torch.randn(1000, requires_grad=True)
        ty = torch.randn(1000, requires_grad=True)
        results["torch mul 1k forward"] = _median_us(lambda: tx * ty, repeat)
        results["torch relu 1k forward"] = _median_us(lambda: torch.relu(tx), repeat)
    except ImportError:
        pass
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=400)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    results = measure(args.repeat)
    width = max(len(k) for k in results)
    print(f"{'case':<{width}}  median us/op")
    for k, v in results.items():
        print(f"{k:<{width}}  {v:8.2f}")
    for case in ("add forward", "add forward+backward", "mul 1k forward", "relu 1k forward"):
        if f"torch {case}" in results:
            print(f"tinygen/torch {case}: "
                  f"{results[f'tinygen {case}'] / results[f'torch {case}']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
