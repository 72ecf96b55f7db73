"""An optimizer step on B1's parameters (the VAE MLP: 784x400, 400, 400x20 x2, 20 x2, 20x400,
400, 400x784, 784; 643k float32), in us: tinygen's fused group step (one call for the
group), tinygen with foreach=False (a call per parameter), and PyTorch's Adam / SGD with
foreach=False, foreach=True and fused=True where installed.

Each framework runs in a fresh process of its own with the environment this script was
started with (PyTorch's defaults, nothing of tinygen's in its process), round after round,
alternating; within a process its variants take turns. Per variant the median over the
rounds of each round's median, and the range of the rounds, are printed. --tiny: ten
2-element tensors instead (the step's own overhead).

    python benchmarks/bench_optim.py [--optimizer adam|sgd] [--rounds 7] [--tiny]
"""
import os  # noqa: I001
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fresh_process import json_from_child, torch_available  # noqa: E402  (first: it records the environment)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402

from bench_overhead import median_us  # noqa: E402

B1_SHAPES = [(400, 784), (400,), (20, 400), (20, 400), (20,), (20,), (400, 20), (400,),
             (784, 400), (784,)]


def variants(optimizer, shapes, framework):
    """{name: step()} of `framework` ("tinygen" or "torch"; only it is imported): each an
    optimizer over its own copy of the same values and gradients."""
    rs = np.random.default_rng(0)
    values = [rs.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rs.standard_normal(s).astype(np.float32) for s in shapes]
    kwargs = dict(lr=1e-3) if optimizer == "adam" else dict(lr=1e-2, momentum=0.9)
    name = "Adam" if optimizer == "adam" else "SGD"
    if framework == "tinygen":
        import tinygen as tg
        from tinygen import nn

        def ours(**switch):
            params = [nn.Parameter(tg.tensor(v.copy())) for v in values]
            for p, g in zip(params, grads):
                p.grad = tg.tensor(g)
            return getattr(tg.optim, name)(params, **kwargs, **switch).step

        return {"tinygen (a call per group)": ours(), "tinygen foreach=False": ours(foreach=False)}
    import torch

    def theirs(**switch):
        params = [torch.nn.Parameter(torch.tensor(v.copy())) for v in values]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        return getattr(torch.optim, name)(params, **kwargs, **switch).step

    steps = {}
    for switch in (dict(foreach=False), dict(foreach=True), dict(fused=True)):
        label = ", ".join(f"{k}={v}" for k, v in switch.items())
        try:
            steps[f"torch {label}"] = theirs(**switch)
        except (RuntimeError, ValueError) as e:     # an older torch without a CPU fused step
            print(f"torch {label}: not run ({e})", file=sys.stderr)
    return steps


def time_variants(optimizer, shapes, framework, inner):
    """{variant: median us a step} of `framework`'s variants, in this process (a child's job)."""
    steps = variants(optimizer, shapes, framework)
    for step in steps.values():                    # state made, kernels compiled
        for _ in range(3):
            step()
    return {name: median_us(step, 30, inner) for name, step in steps.items()}


def _in_child(args, framework):
    return json_from_child([sys.executable, os.path.abspath(__file__), "--child", framework,
                            "--optimizer", args.optimizer] + (["--tiny"] if args.tiny else []))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--child", choices=("tinygen", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shapes = [(2,)] * 10 if args.tiny else B1_SHAPES
    if args.child:
        print(json.dumps(time_variants(args.optimizer, shapes, args.child, 20 if args.tiny else 2)))
        return None
    frameworks = ["tinygen"] + (["torch"] if torch_available() else [])
    rounds = {}
    for _ in range(args.rounds):
        for framework in frameworks:
            for name, us in _in_child(args, framework).items():
                rounds.setdefault(name, []).append(us)
    print(f"{args.optimizer} step, {len(shapes)} tensors, {sum(int(np.prod(s)) for s in shapes)} "
          f"float32 values: median us (range of {args.rounds} rounds)")
    width = max(len(name) for name in rounds)
    for name, times in rounds.items():
        print(f"  {name:<{width}}  {statistics.median(times):9.1f}  "
              f"({min(times):.1f} .. {max(times):.1f})")
    return rounds


if __name__ == "__main__":
    main(sys.argv[1:])
