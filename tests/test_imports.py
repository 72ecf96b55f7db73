"""tinygen's modules form layers: no import cycle among them, counting the imports inside
functions too (a lazy import hides a cycle from Python, not from a reader). A module reads
only what is below it, so the package can be read in one direction (docs/reading-order.md)."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tinygen"


def _modules():
    """{dotted name: path} of every module of tinygen."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(node, module, is_package):
    """The dotted names an import statement names (absolute, relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" for a in node.names] + [base]


def import_graph():
    """{module: the tinygen modules it imports anywhere in its text}."""
    modules = _modules()

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = _imported(node, module, path.name == "__init__.py")
                if isinstance(node, ast.ImportFrom):      # `from pkg import sub`: the submodule
                    named = [n for n in names[:-1] if n in modules]
                    names = named or names[-1:]
                targets |= {resolve(n) for n in names}
        graph[module] = {t for t in targets if t and t != module and t.startswith("tinygen")}
    return graph


def find_cycle(graph):
    """One import cycle as [a, b, ..., a], or None."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_tinygens_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "tinygen.ops.shape" in graph["tinygen.ops.elementwise"]   # lazy imports count too
