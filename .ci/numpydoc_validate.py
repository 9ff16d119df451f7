"""Validate the numpydoc docstrings of every public name of the installed fastloss.

numpydoc's own ``numpydoc lint`` reads source files, which misses docstrings
set at import time (softmax's) and methods' shared docstrings; this imports
the objects instead. The checks, and those left out, are
``[tool.numpydoc_validation]`` in pyproject.toml. Exit status 1 on any error.
"""

import os
import sys

try:
    import tomllib
except ImportError:      # Python < 3.11
    import tomli as tomllib

from numpydoc.validate import validate

import fastloss
import fastloss.dask
import fastloss.estimators

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def public_names():
    for name in fastloss.__all__:
        if name == "__version__":
            continue
        yield f"fastloss.{name}"
        obj = getattr(fastloss, name)
        if isinstance(obj, type):
            for method in ("grad", "value_and_grad"):
                if hasattr(obj, method):
                    yield f"fastloss.{name}.{method}"
    for name in fastloss.dask.__all__:
        yield f"fastloss.dask.{name}"
    for name in fastloss.estimators.__all__:
        yield f"fastloss.estimators.{name}"
        obj = getattr(fastloss.estimators, name)
        for method in ("fit", "partial_fit", "predict", "predict_proba",
                       "predict_log_proba", "decision_function"):
            if hasattr(obj, method):
                yield f"fastloss.estimators.{name}.{method}"


def main():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        config = tomllib.load(f)["tool"]["numpydoc_validation"]
    checks = set(config["checks"])
    excluded = checks - {"all"} if "all" in checks else set()
    failures = 0
    names = list(public_names())
    for name in names:
        for code, message in validate(name)["errors"]:
            if code in excluded or ("all" not in checks and code not in checks):
                continue
            failures += 1
            print(f"{name}: {code} {message}")
    print(f"numpydoc: {len(names)} public names, {failures} errors")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
