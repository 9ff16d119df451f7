"""Every Python example of the README runs as written, as a script.

Each ```python block is saved to a file and run with ``python file.py`` in a
fresh interpreter (as a user who copies it would), so a missing
``if __name__ == "__main__":`` guard (dask's worker processes import the
script) fails here. An example that needs a module that is not installed
(dask, scikit-learn) is skipped. An example whose full size is too large for
a test is preceded in the README by a comment

    <!-- example test: NAME[, NAME...] = VALUES -->

whose assignment replaces the example's line that assigns the same names;
the test fails if the example has no such line (the comment went stale).
"""

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastloss

README = Path(__file__).resolve().parent.parent / "README.md"
_MARKER = re.compile(r"<!--\s*example test:\s*(.+?)\s*-->")


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


EXAMPLES = examples(README.read_text(encoding="utf-8"))


def test_readme_has_examples():
    assert len(EXAMPLES) >= 3, EXAMPLES


def test_substitute_replaces_one_assignment():
    code = "import x\nn_rows, chunk = 10, 2   # big\nprint(n_rows)\n"
    assert substitute(code, "n_rows, chunk = 1, 1") == (
        "import x\nn_rows, chunk = 1, 1\nprint(n_rows)\n")
    with pytest.raises(AssertionError, match="found 0"):
        substitute(code, "rows = 1")


@pytest.mark.parametrize("line, code, assignment", EXAMPLES,
                         ids=[f"README.md:{e[0]}" for e in EXAMPLES])
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
        f"README.md line {line}: exit status {proc.returncode}\n{proc.stderr[-4000:]}")
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
