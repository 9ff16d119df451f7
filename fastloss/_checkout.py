"""Importing fastloss from a source checkout that was not built in place.

``pip install .`` compiles the kernels into site-packages, not into the
checkout. ``python -m fastloss`` (or a notebook) started in the checkout puts
the checkout first on sys.path, so ``import fastloss`` would find this
uncompiled tree. Then the installed build is imported in its place; with no
installed build, the ImportError says what to do.
"""

import importlib.machinery
import importlib.util
import os
import sys


def is_built(package_dir: str) -> bool:
    """Whether the compiled kernels sit in package_dir."""
    return any(
        os.path.exists(os.path.join(package_dir, "_kernels_baseline" + suffix))
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def load_installed_build(name: str, package_dir: str) -> bool:
    """Replace the unbuilt package ``name`` at package_dir by the installed build.

    Returns False (and does nothing) when package_dir holds a build; True
    after ``sys.modules[name]`` has become the installed package, which the
    import statement then returns.
    """
    if is_built(package_dir):
        return False
    checkout = os.path.dirname(os.path.abspath(package_dir))
    elsewhere = [p for p in sys.path if os.path.abspath(p or os.curdir) != checkout]
    spec = importlib.machinery.PathFinder.find_spec(name, elsewhere)
    locations = spec.submodule_search_locations if spec is not None else None
    if spec is None or spec.loader is None or not locations or not is_built(
            list(locations)[0]):
        raise ImportError(
            f"fastloss is being imported from the source checkout {checkout}, whose "
            "kernels are not compiled, and no installed build was found. Install it "
            "with `pip install .` (or build in place with `python setup.py build_ext "
            "--inplace`)."
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(__name__, None)      # the installed package imports its own copy
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return True
