"""Every Python example of the README and of the docs runs as written, as a script.

Each ```python block of the README and each ``.. code-block:: python`` of
the docs' pages (docs/**/*.rst; their ``>>>`` examples are doctests, which
``.ci/docs`` runs) is saved to a file and run with ``python file.py`` in a
fresh interpreter (as a user who copies it would), so a missing
``if __name__ == "__main__":`` guard (dask's worker processes import the
script) fails here. An example that needs a module that is not installed
(dask, scikit-learn) is skipped. An example whose full size is too large for
a test is preceded in the README by a comment

    <!-- example test: NAME[, NAME...] = VALUES -->

(in a page of the docs, the comment ``.. example test: NAME = VALUES``)
whose assignment replaces the example's line that assigns the same names;
the test fails if the example has no such line (the comment went stale).
"""

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastloss

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
_MARKER = re.compile(r"<!--\s*example test:\s*(.+?)\s*-->")
_RST_MARKER = re.compile(r"^\.\.\s+example test:\s*(.+?)\s*$")
_RST_BLOCK = re.compile(r"^\.\.\s+code-block::\s*python\s*$")


def examples(text):
    """(line number, code, substitution or None) of each ```python block."""
    found = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = start
            while lines[end].strip() != "```":
                end += 1
            before = lines[i - 1] if i else ""
            marker = _MARKER.search(before)
            found.append((start, "\n".join(lines[start:end]) + "\n",
                          marker.group(1) if marker else None))
            i = end
        i += 1
    return found


def rst_examples(text):
    """(line number, code, substitution or None) of each python code-block."""
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not _RST_BLOCK.match(line):
            continue
        start = i + 1
        while start < len(lines) and (not lines[start].strip()
                                      or lines[start].lstrip().startswith(":")):
            start += 1                          # the blank line and any options
        end = start
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith("   ")):
            end += 1
        code = textwrap.dedent("\n".join(lines[start:end])).strip("\n") + "\n"
        before = [lines[j] for j in range(i) if lines[j].strip()]
        marker = _RST_MARKER.match(before[-1]) if before else None
        found.append((start + 1, code, marker.group(1) if marker else None))
    return found


def substitute(code, assignment):
    """``code`` with the line assigning ``assignment``'s names replaced by it."""
    names = assignment.split("=", 1)[0].strip()
    pattern = re.compile(rf"^(\s*){re.escape(names)}\s*=.*$", re.MULTILINE)
    new, count = pattern.subn(lambda m: m.group(1) + assignment, code)
    if count != 1:
        raise AssertionError(
            f"example test comment {assignment!r}: expected one line assigning "
            f"{names} in the example, found {count}"
        )
    return new


def imported_modules(code):
    """The top-level modules an example imports."""
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


def all_examples():
    """(where, code, substitution) of every example: the README's, then the docs'."""
    found = [(f"README.md:{line}", code, sub)
             for line, code, sub in examples(README.read_text(encoding="utf-8"))]
    for page in sorted(DOCS.rglob("*.rst")):
        if "_build" in page.parts or "generated" in page.parts:
            continue
        name = page.relative_to(ROOT).as_posix()
        found += [(f"{name}:{line}", code, sub)
                  for line, code, sub in rst_examples(page.read_text(encoding="utf-8"))]
    return found


EXAMPLES = all_examples()


def test_readme_has_examples():
    readme = [e for e in EXAMPLES if e[0].startswith("README.md:")]
    assert len(readme) >= 1, EXAMPLES
    # the docs' scripts: the dask cluster, the estimators' grid search, threads
    assert len(EXAMPLES) - len(readme) >= 3, EXAMPLES


def test_rst_examples_reads_a_code_block():
    text = ("Text\n\n.. example test: n = 2\n\n.. code-block:: python\n"
            "   :caption: x\n\n   n = 10\n\n   if n:\n       print(n)\n\nAfter\n")
    assert rst_examples(text) == [(8, "n = 10\n\nif n:\n    print(n)\n", "n = 2")]


def test_substitute_replaces_one_assignment():
    code = "import x\nn_rows, chunk = 10, 2   # big\nprint(n_rows)\n"
    assert substitute(code, "n_rows, chunk = 1, 1") == (
        "import x\nn_rows, chunk = 1, 1\nprint(n_rows)\n")
    with pytest.raises(AssertionError, match="found 0"):
        substitute(code, "rows = 1")


@pytest.mark.parametrize("line, code, assignment", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_readme_example_runs_as_a_script(tmp_path, line, code, assignment):
    missing = sorted(m for m in imported_modules(code) if importlib.util.find_spec(m) is None)
    if missing:
        pytest.skip(f"the example needs {', '.join(missing)}")
    if assignment is not None:
        code = substitute(code, assignment)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    # the fastloss under test, whatever the working directory
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(fastloss.__file__).resolve().parent.parent)]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"{line}: exit status {proc.returncode}\n{proc.stderr[-4000:]}")
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
