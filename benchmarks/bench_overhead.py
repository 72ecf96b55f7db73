"""Per-op overhead: an 8-element add with requires_grad, forward and forward+backward, and
a mul and a relu on 1k float32 elements (forward, requires_grad), in us.

The work is trivial, so the time is tinygen's own Python: building the node, wrapping the
output, walking the graph (and, for relu, calling its kernel). NumPy's plain add on the same
arrays is timed beside tinygen's as the floor; PyTorch's CPU ops too, where installed.

Each framework runs in a fresh process of its own, with the environment this script was
started with (PyTorch's defaults, nothing of tinygen's in its process), round after round,
alternating: a round is one tinygen process then one PyTorch process, each timing its cases
(medians of many repeats). The ratio tinygen / torch is taken per round; its median and
range are printed, so that a busy spell on a shared machine lands on both sides of a ratio.

    python benchmarks/bench_overhead.py [--repeat 2000] [--rounds 5] [--json out.json]
"""
from fresh_process import json_from_child, torch_available  # noqa: I001  (first: it records the environment)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


def median_us(fn, repeat, inner=50):
    """The median over `repeat` runs of fn's time per call (us), each run `inner` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner * 1e6)
    return statistics.median(times)


def _cases(framework):
    """{name: fn}: each a call of the op on ready inputs, in `framework` ("tinygen", with
    NumPy's add as the floor, or "torch"); only that framework is imported."""
    if framework == "torch":
        import torch
        ta = torch.randn(8, requires_grad=True)
        tb = torch.randn(8, requires_grad=True)
        ones = torch.ones(8)
        tx = torch.randn(1000, requires_grad=True)
        ty = torch.randn(1000, requires_grad=True)

        def t_fwd_bwd():
            (ta + tb).backward(ones)

        return {"torch add forward": lambda: ta + tb,
                "torch add forward+backward": t_fwd_bwd,
                "torch mul 1k forward": lambda: tx * ty,
                "torch relu 1k forward": lambda: torch.relu(tx)}
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

    return {"numpy add": lambda: na + nb,
            "tinygen add forward": lambda: a + b,
            "tinygen add forward+backward": fwd_bwd,
            "tinygen add forward (a no_grad block a call)": no_grad_add,
            "tinygen mul 1k forward": lambda: x * y,
            "tinygen relu 1k forward": lambda: tg.relu(x)}


def time_cases(framework, repeat):
    """{case: us per call} of `framework`'s cases, in this process (a child's job)."""
    cases = _cases(framework)
    for fn in cases.values():             # first calls: imports, compilation, caches
        for _ in range(100):
            fn()
    return {name: median_us(fn, repeat) for name, fn in cases.items()}


def _in_child(framework, repeat):
    return json_from_child([sys.executable, os.path.abspath(__file__), "--child", framework,
                            "--repeat", str(repeat)])


RATIOS = ("add forward", "add forward+backward", "mul 1k forward", "relu 1k forward")


def measure(repeat=400, rounds=5):
    """({case: median us over the rounds}, {op: (median, min, max) of the per-round ratios
    tinygen / torch}). Each round times tinygen in a fresh process, then PyTorch in another."""
    frameworks = ["tinygen"] + (["torch"] if torch_available() else [])
    times = {}
    for _ in range(rounds):
        for framework in frameworks:
            for name, us in _in_child(framework, max(1, repeat // rounds)).items():
                times.setdefault(name, []).append(us)
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
    p.add_argument("--child", choices=("tinygen", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(time_cases(args.child, args.repeat)))
        return None
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
