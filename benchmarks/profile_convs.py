"""Conv layers of B2-B4 op by op: forward, input gradient and weight gradient, tinygen's numba
kernels against PyTorch's aten convolution, each framework alone in its own process.

    python benchmarks/profile_convs.py [--only B2] [--pairs 3] [--min-time 0.3]

For each layer of bench_kernels.LAYERS, three ops timed separately (medians after warm-up):

    conv layer    fwd  y  = conv2d(x, w)             gx = conv_transpose2d(gy, w)    gw = W(x, gy)
    convT layer   fwd  y  = conv_transpose2d(x, w)   gx = conv2d(gy, w)              gw = W(gy, x)

tinygen: the kernel that conv_algorithms_numba.choose_algorithm picks (its name is printed; force another
with TINYGEN_CONV_ALGO); torch: F.conv2d / F.conv_transpose2d (inputs without grad), and
aten.convolution_backward with one output asked for (what autograd runs for that gradient).
The frameworks run in fresh processes, alternating (tinygen, torch, ... --pairs pairs), each
with the environment this script was started with; the ratio per op is the median of the
per-pair ratios tinygen / torch.
"""
import os  # noqa: I001
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fresh_process import json_from_child  # noqa: E402  (first: it records the environment)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402

from bench_kernels import LAYERS, layer_problem, median_time  # noqa: E402

OPS = ("fwd", "gx", "gw")


def tinygen_ops(prob):
    """{op: (closure, algorithm name)} on conv_numba, as the layer's autograd runs them."""
    from tinygen.kernels import conv_algorithms_numba, conv_numba as conv
    x, w, gy = prob["x"], prob["w"], prob["gy"]
    k, s, p, one = (prob["k"],) * 2, (prob["s"],) * 2, (prob["p"],) * 2, (1, 1)
    if prob["kind"] == "conv":
        H, Ho = x.shape[2], gy.shape[2]
        op = (H - ((Ho - 1) * s[0] - 2 * p[0] + k[0]),) * 2      # gives x's size back
        calls = {"fwd": (lambda: conv.conv2d(x, w, s, p, one), ("conv2d", x, w, gy)),
                 "gx": (lambda: conv.conv_transpose2d(gy, w, s, p, op, one), ("conv_transpose2d", gy, w, x)),
                 "gw": (lambda: conv.conv2d_weight_grad(x, gy, k, s, p, one), ("conv2d_weight_grad", x, w, gy))}
    else:
        calls = {"fwd": (lambda: conv.conv_transpose2d(x, w, s, p, (0, 0), one), ("conv_transpose2d", x, w, gy)),
                 "gx": (lambda: conv.conv2d(gy, w, s, p, one), ("conv2d", gy, w, x)),
                 "gw": (lambda: conv.conv2d_weight_grad(gy, x, k, s, p, one), ("conv2d_weight_grad", gy, w, x))}
    return {name: (fn, conv_algorithms_numba.choose_algorithm(op_name, a.shape, b.shape, c.shape, s, p, one))
            for name, (fn, (op_name, a, b, c)) in calls.items()}


def torch_ops(prob):
    """{op: (closure, "aten")}: the forward, and each gradient alone."""
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    F = torch.nn.functional
    x, w, gy = (torch.from_numpy(prob[a]) for a in ("x", "w", "gy"))
    s, p = [prob["s"]] * 2, [prob["p"]] * 2
    transposed = prob["kind"] == "convT"
    fwd = (lambda: F.conv_transpose2d(x, w, None, s, p)) if transposed else (lambda: F.conv2d(x, w, None, s, p))

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(gy, x, w, None, s, p, [1, 1], transposed,
                                                           [0, 0], 1, mask)

    return {"fwd": (fwd, "aten"), "gx": (backward([True, False, False]), "aten"),   # no graph:
            "gw": (backward([False, True, False]), "aten")}                        # no grads asked


def child(framework, only, min_time):
    """Run in a fresh process: {layer: {op: [ms, algorithm]}} for one framework."""
    out = {}
    for layer in LAYERS:
        if layer[0] not in only:
            continue
        prob = layer_problem(layer)
        ops = (torch_ops if framework == "torch" else tinygen_ops)(prob)
        out[f"{layer[0]} {layer[1]}"] = {op: [median_time(fn, min_time) * 1e3, name]
                                          for op, (fn, name) in ops.items()}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="B2B4", help="models whose layers to time: B2, B4, B2B4, ...")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--out", default=None, help="write the table as JSON here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.only, args.min_time)))
        return
    runs = {"tinygen": [], "torch": []}
    for _ in range(args.pairs):
        for framework in runs:
            runs[framework].append(json_from_child([sys.executable, os.path.abspath(__file__), "--child",
                                                    framework, "--only", args.only,
                                                    "--min-time", str(args.min_time)]))
    table = []
    print(f"{'layer':<38} {'op':<4} {'tinygen algorithm':<18} {'tinygen ms':>10} {'torch ms':>9} {'ratio':>6}")
    for layer in runs["tinygen"][0]:
        for op in OPS:
            ours = [run[layer][op][0] for run in runs["tinygen"]]
            theirs = [run[layer][op][0] for run in runs["torch"]]
            row = dict(layer=layer, op=op, algorithm=runs["tinygen"][0][layer][op][1],
                       tinygen_ms=statistics.median(ours), torch_ms=statistics.median(theirs),
                       ratio=statistics.median(a / b for a, b in zip(ours, theirs)))
            table.append(row)
            print(f"{layer:<38} {op:<4} {row['algorithm']:<18} {row['tinygen_ms']:10.2f} "
                  f"{row['torch_ms']:9.2f} {row['ratio']:6.2f}", flush=True)
    total = {f: sum(r[f"{f}_ms"] for r in table) for f in runs}
    print(f"{'all ops':<62} {total['tinygen']:10.2f} {total['torch']:9.2f} "
          f"{total['tinygen'] / total['torch']:6.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
