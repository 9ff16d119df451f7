"""Sphinx configuration of fastloss's documentation.

Build it with ``bash .ci/docs [OUTDIR]`` (what ``.ci/lint`` runs: the HTML
with ``-W --keep-going -n``, then the doctest builder), with fastloss
installed or ``PYTHONPATH=src`` on a build in place.

The API reference is generated: the names come from ``fastloss.__all__``,
``fastloss.estimators.__all__`` and ``fastloss.dask.__all__`` at build time
(written to ``_api_names.rst``, which ``api.rst`` includes and autosummary
scans), so a public name added to one of them appears without an edit here;
and once every page is read, each public name (and each loss object's
``grad`` and ``value_and_grad``) must have an entry, or the build warns
(and fails, under ``-W``).
"""

import doctest
import importlib
import inspect
import os

from sphinx.util import logging

HERE = os.path.dirname(os.path.abspath(__file__))
logger = logging.getLogger("fastloss.docs")

import fastloss  # noqa: E402

project = "fastloss"
author = "fastloss developers"
copyright = "2026, fastloss developers"
release = fastloss.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_api_names.rst", "Thumbs.db", ".DS_Store"]
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Fast, exact CPU loss kernels for NumPy",
                      "fixed_sidebar": True}
html_title = f"fastloss {release}"

# ---------------------------------------------------------------- autodoc
autosummary_generate = ["api.rst", "_api_names.rst"]
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"          # the signatures and numpydoc's Parameters say it
numpydoc_show_class_members = False  # the class template lists them (autodoc members)
numpydoc_class_members_toctree = False
# the types of Parameters stay text: without intersphinx (no network in CI)
# numpydoc's links to Python's and NumPy's types could not resolve
numpydoc_xref_param_type = False

# ---------------------------------------------------------------- nitpicky
# Every cross-reference must resolve (-n in .ci/docs), none ignored; the
# docstrings refer to fastloss's own names only (no intersphinx: CI has no
# network), and numpydoc leaves their types as text (above).
nitpicky = True

# ---------------------------------------------------------------- doctest
# Every >>> block of these pages and of the docstrings runs.
doctest_global_setup = """
import numpy as np
import fastloss
np.set_printoptions(legacy=False)
"""
# (an exception's message is compared too: the refusals' messages are shown)
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


# ---------------------------------------------------------------- the API's names
MODULES = (
    # (module, the section's title); _group sorts each module's names
    ("fastloss", "fastloss"),
    ("fastloss.estimators", "fastloss.estimators: scikit-learn classifiers"),
    ("fastloss.dask", "fastloss.dask: dask arrays"),
)
LOSS_METHODS = ("grad", "value_and_grad")
# (their score, get_params and set_params are scikit-learn's, documented there)
ESTIMATOR_METHODS = ("fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
                     "decision_function")


def public_names(module_name):
    """The documented names of a module: its ``__all__`` less ``__version__``."""
    module = importlib.import_module(module_name)
    return [n for n in module.__all__ if not n.startswith("__")]


def _group(module_name, name):
    obj = getattr(importlib.import_module(module_name), name)
    if module_name == "fastloss":
        if isinstance(obj, type):
            return "Loss objects"
        if getattr(obj, "__module__", "") == "fastloss._config":
            return "Threads and configuration"
        return "Functions"
    if module_name == "fastloss.dask":
        if name in ("value", "grad", "value_and_grad"):
            return "Loss objects on dask arrays"
        return "Functions on dask arrays"
    return "Classifiers"


def api_names_rst():
    """The autosummary tables of every public name, grouped."""
    lines = [".. This file is written by conf.py at each build: do not edit.", ""]
    for module_name, title in MODULES:
        lines += [title, "-" * len(title), "", f".. automodule:: {module_name}",
                  "   :no-members:", "",
                  f".. currentmodule:: {module_name}", ""]
        groups = {}
        for name in public_names(module_name):
            groups.setdefault(_group(module_name, name), []).append(name)
        for group, names in groups.items():
            lines += [group, "~" * len(group), "", ".. autosummary::",
                      "   :toctree: generated/", "   :nosignatures:", ""]
            lines += [f"   {name}" for name in names] + [""]
    return "\n".join(lines)


def _write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


_write_if_changed(os.path.join(HERE, "_api_names.rst"), api_names_rst())


def expected_objects():
    """Every object the API reference must document, by its full name."""
    for module_name, _ in MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            full = f"{module_name}.{name}"
            yield full
            obj = getattr(module, name)
            if inspect.isclass(obj):
                methods = ESTIMATOR_METHODS if module_name == "fastloss.estimators" \
                    else LOSS_METHODS
                for method in methods:
                    if hasattr(obj, method):
                        yield f"{full}.{method}"


def check_api_reference(app, env):
    """A warning (an error under -W) for each public name the API reference lacks."""
    documented = set(env.domains["py"].objects)
    for name in expected_objects():
        if name not in documented:
            logger.warning("the API reference has no entry for the public name %s", name)


def setup(app):
    app.connect("env-check-consistency", check_api_reference)
