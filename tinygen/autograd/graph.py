"""to_dot: the recorded graph of a tensor as Graphviz DOT text (no graphviz package needed).

    print(tg.autograd.to_dot(loss))      # paste into any DOT viewer, or `dot -Tpng`

Tensors are boxes (shape, dtype; leaves that require grad are filled), ops are ellipses
listing the arrays they saved for backward (their attributes that are arrays), which is
where a graph's memory goes.
"""
from tinygen.autograd.tensor import Tensor


def _label(t):
    name = f"{t.name}\\n" if t.name else ""
    return f"{name}{tuple(t.shape)}\\n{t.dtype}"


def _saved_arrays(fn):
    out = []
    for key, value in vars(fn).items():
        if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor):
            out.append(f"{key}: {tuple(value.shape)} {value.dtype}")
    return out


def to_dot(*outputs):
    """DOT text of the graph that produced `outputs` (Tensors)."""
    lines = ["digraph tinygen {", '  rankdir=BT;', '  node [fontname="monospace", fontsize=10];']
    seen_t, seen_f = set(), set()

    def tensor_node(t):
        if id(t) not in seen_t:
            seen_t.add(id(t))
            style = ', style=filled, fillcolor="lightblue"' if t.is_leaf and t.requires_grad else ""
            lines.append(f'  t{id(t)} [shape=box, label="{_label(t)}"{style}];')
        return f"t{id(t)}"

    stack = list(outputs)
    for y in outputs:
        tensor_node(y)
    while stack:
        y = stack.pop()
        fn = y.creator
        if fn is None:
            continue
        fid = f"f{id(fn)}"
        lines.append(f"  {fid} -> t{id(y)};")
        if id(fn) in seen_f:
            continue
        seen_f.add(id(fn))
        saved = "\\n".join(_saved_arrays(fn))
        label = fn.name + (f"\\nsaved: {saved}" if saved else "")
        if fn.released:
            label += "\\n(released)"
        lines.append(f'  {fid} [shape=ellipse, label="{label}"];')
        for x in fn.inputs or ():
            lines.append(f"  {tensor_node(x)} -> {fid};")
            stack.append(x)
    lines.append("}")
    return "\n".join(lines) + "\n"
