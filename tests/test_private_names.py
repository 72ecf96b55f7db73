"""No test reaches a private name of tinygen, and no tinygen package imports another's
private names: what a test needs is public (an argument, a function, a documented
attribute), so the code behind it can change without the tests noticing."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# single-underscore names that are public by convention elsewhere: torch's (Tensor._version,
# Module._modules/_parameters/_buffers, which tinygen mirrors), the standard library's
PUBLIC_BY_CONVENTION = {"_version", "_modules", "_parameters", "_buffers", "_exit", "_getframe",
                        "_asdict", "_replace", "_fields", "_make"}


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _reaches(tree):
    """(line, name) of each private name the module imports from tinygen or reads as an
    attribute."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinygen"):
            for part in node.module.split("."):
                if _private(part):
                    yield node.lineno, node.module
            for alias in node.names:
                if _private(alias.name):
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygen") and any(map(_private, alias.name.split("."))):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.Attribute) and _private(node.attr) \
                and node.attr not in PUBLIC_BY_CONVENTION:
            yield node.lineno, "." + node.attr


def _test_files():
    return sorted(p for p in (ROOT / "tests").rglob("*.py") if p.name != pathlib.Path(__file__).name)


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_tests_touch_no_private_name(path):
    found = sorted(set(_reaches(ast.parse(path.read_text(), str(path)))))
    assert not found, f"{path.relative_to(ROOT)} reaches private names: {found}"


def test_no_package_imports_another_packages_private_names():
    found = []
    for path in sorted((ROOT / "tinygen").rglob("*.py")):
        package = path.relative_to(ROOT).parts[1] if len(path.relative_to(ROOT).parts) > 2 else None
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinygen."):
                other = node.module.split(".")[1]
                if other != package and any(_private(a.name) for a in node.names):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.module))
    assert not found, found
