"""One training step of a small PixelCNN, followed by its real call stacks: from
`loss.backward()` down to the kernel that computes a masked convolution's weight gradient,
and from `opt.step()` down to Adam's update kernel. Nothing is patched: sys.setprofile sees
every Python call of the step, and the script prints the stack at the calls it looks for,
outermost first, each frame as its file, function and the line it is running.

docs/walkthrough.md embeds this script's output; tests/test_docs.py reruns the script and
fails when the document no longer shows what it prints:

    python benchmarks/walkthrough.py           # print the stacks and the algorithm table
    python benchmarks/walkthrough.py --write   # and rewrite the copy in docs/walkthrough.md

The fast CPU kernels run (the default setting), each convolution's algorithm chosen by
conv_algorithms_numba.choose_algorithm's rules (TINYGEN_CONV_ALGO is ignored here).
"""
import argparse
import linecache
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "walkthrough.md"
BEGIN = "<!-- begin: the output of python benchmarks/walkthrough.py -->"
END = "<!-- end: the output of python benchmarks/walkthrough.py -->"


def _where(frame):
    """A frame's file (relative to the repository), function and the source line it runs."""
    path = pathlib.Path(frame.f_code.co_filename).resolve()
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return name, frame.f_code.co_qualname, line


def _stack(frame, top):
    """The frames from `top` (a code object: the step's own function) down to `frame`,
    outermost first."""
    frames = []
    while frame is not None:
        frames.append(frame)
        if frame.f_code is top:
            break
        frame = frame.f_back
    return [_where(f) for f in reversed(frames)]


class Recorder:
    """The profile function: notes the stacks and the conv algorithm choices of one step."""

    def __init__(self, top):
        self.top = top
        self.weight_grad_stack = None     # the first 3x3 weight gradient's stack
        self.adam_stack = None            # the first adam_step's stack
        self.choices = []                 # (x shape, gy shape, w shape, candidates, algorithm)
        self._candidates = None

    def __call__(self, frame, event, arg):
        code = frame.f_code
        module = pathlib.Path(code.co_filename).name
        if module == "conv_algorithms_numba.py":
            if event == "return" and code.co_name == "applicable":
                self._candidates = arg
            elif (event == "return" and code.co_name == "choose_algorithm"
                  and frame.f_locals["op"] == "conv2d_weight_grad"):
                f = frame.f_locals
                self.choices.append((f["x_shape"], f["y_shape"], f["w_shape"],
                                     tuple(self._candidates), arg))
            elif (event == "call" and code.co_name.startswith("conv2d_weight_grad_")
                  and self.weight_grad_stack is None
                  and tuple(frame.f_locals.get("kernel_size", ())) == (3, 3)):
                self.weight_grad_stack = _stack(frame, self.top)
        elif module == "fused_numba.py" and event == "call" and code.co_name == "adam_step":
            if self.adam_stack is None:
                self.adam_stack = _stack(frame, self.top)


def one_step(model, x, opt):
    """What tinygen/train/loop.py's fit does for each batch: the model's training_step."""
    return model.training_step(x, {"adam": opt})


def _format_stack(stack):
    """One line per frame: number, file, function, the line it runs (the last: the kernel)."""
    path_width = max(len(path) for path, _, _ in stack)
    name_width = max(len(name) for _, name, _ in stack)
    lines = []
    for i, (path, name, line) in enumerate(stack, start=1):
        line = line if i < len(stack) else "(the kernel, called)"
        lines.append(f"{i:2d}  {path.ljust(path_width)}  {name.ljust(name_width)}  {line}")
    return lines


def run():
    """The step's report, as text."""
    os.environ.pop("TINYGEN_CONV_ALGO", None)
    sys.path.insert(0, str(ROOT))
    import tinygen as tg
    from tinygen.models import PixelCNN

    tg.manual_seed(0)
    model = PixelCNN(preset="small")
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    x = (tg.rand(8, 1, 28, 28) < 0.5).float()                       # (N, 1, H, W) binary
    recorder = Recorder(one_step.__code__)
    with tg.settings.use_kernels("fast"):
        sys.setprofile(recorder)
        try:
            one_step(model, x, opt)
        finally:
            sys.setprofile(None)

    out = ["One training step of PixelCNN(preset='small') on a batch x of shape (8, 1, 28, 28),",
           "fast CPU kernels.", "",
           "From loss.backward() to the weight gradient of a 3x3 mask-B convolution (the first",
           "that backward reaches: the last residual block's):", ""]
    out += _format_stack(recorder.weight_grad_stack)
    out += ["", "From opt.step() to Adam's update of the parameters (one call for the group):", ""]
    out += _format_stack(recorder.adam_stack)
    out += ["", "Every conv weight gradient of the step, in the order backward reached them",
            "(choose_algorithm's pick among the algorithms that apply):", ""]
    rows = [("x (N, C_in, H, W)", "gy (N, C_out, Ho, Wo)", "gw (C_out, C_in, kh, kw)",
             "applicable", "chosen")]
    rows += [(str(tuple(xs)), str(tuple(ys)), str(tuple(ws)), " ".join(cands), algo)
             for xs, ys, ws, cands, algo in recorder.choices]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(out) + "\n"


def embedded(text):
    """The script output that a document holds between BEGIN and END (inside a text fence)."""
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    block = text[start:stop].strip("\n")
    lines = block.splitlines()
    if lines[0] != "```text" or lines[-1] != "```":
        raise ValueError(f"{DOC.name}: the output between the markers must be one ```text block")
    return "\n".join(lines[1:-1]) + "\n"


def write(report):
    text = DOC.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n```text\n" + report + "```\n" + text[stop:], encoding="utf-8")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="rewrite the copy in docs/walkthrough.md")
    report = run()
    if p.parse_args().write:
        write(report)
    sys.stdout.write(report)


if __name__ == "__main__":
    main()
