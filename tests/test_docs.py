"""Every ```python block of README.md and docs/*.md runs on its own, as a reader would paste
it: each in a fresh Python process, in an empty temporary directory, with nothing defined
beforehand. A block that should not run says why on the line before its fence:

    <!-- not run: needs mpirun and a dataset of your own -->

and a block that is right but long is marked `<!-- slow -->` (run with the suite, marked
slow). Every other block must finish without an error within BLOCK_TIMEOUT seconds.

docs/walkthrough.md embeds the output of benchmarks/walkthrough.py; the last test here runs
the script and checks that the document still shows what it prints.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK_TIMEOUT = 120
FENCE = re.compile(r"(?:^<!--\s*(?P<note>[^>]*?)\s*-->\n)?^```python\n(?P<code>.*?)^```",
                   re.S | re.M)


def code_blocks(path):
    """(line, note, code) of every ```python block of the file: line is the fence's line,
    note the text of an HTML comment just above it ('' if none)."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start("code")), m.group("note") or "", m.group("code"))
            for m in FENCE.finditer(text)]


def _cases():
    cases = []
    for path in DOCUMENTS:
        for line, note, code in code_blocks(path):
            name = f"{path.relative_to(ROOT)}:{line}"
            marks = []
            if note.startswith("not run:"):
                marks.append(pytest.mark.skip(reason=f"{name}: {note}"))
            elif note == "slow":
                marks.append(pytest.mark.slow)
            elif note:
                raise ValueError(f"{name}: unknown note {note!r} (expected 'not run: why' or "
                                 f"'slow')")
            cases.append(pytest.param(code, id=name, marks=marks))
    return cases


def _environment():
    """This checkout first on the path (the tests run without an install too), nothing
    else carried over from the test process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    return env


@pytest.mark.parametrize("code", _cases())
def test_code_block_runs_on_its_own(code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_environment(),
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
    assert done.returncode == 0, f"the block failed:\n{code}\n---\n{done.stderr[-3000:]}"


def test_every_document_has_its_blocks_found():
    """The fence pattern finds the blocks (a typo in it would skip them all silently)."""
    counts = {path.name: len(code_blocks(path)) for path in DOCUMENTS}
    assert counts["README.md"] >= 3 and sum(counts.values()) >= 10, counts


def test_no_document_or_docstring_points_outside_the_repository():
    """Docs live in docs/; nothing names a file next to the repository."""
    pattern = re.compile(r"\.\./shared|shared/|\b(?:API|BENCHMARKS|MODELS|DESIGN|STYLE)\.md")
    files = [*DOCUMENTS, *ROOT.glob("tinygen/**/*.py"), *ROOT.glob("benchmarks/*.py"),
             *ROOT.glob("tests/**/*.py")]
    found = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}" for f in files if f != pathlib.Path(__file__)
             for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert not found, "\n".join(found)


def test_walkthrough_shows_what_the_script_prints():
    """docs/walkthrough.md holds the output of benchmarks/walkthrough.py between its
    markers; rerun the script and compare (regenerate: python benchmarks/walkthrough.py
    --write)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import walkthrough
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "walkthrough.py")],
                          cwd=ROOT, env=_environment(), capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = walkthrough.embedded((ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8"))
    assert shown == done.stdout, ("docs/walkthrough.md is out of date: run "
                                  "python benchmarks/walkthrough.py --write")
