"""The .pyi stubs say what the code does: every function and method a stub
declares exists at run time with the same parameters (names, kinds,
defaults), and every public name has a type. mypy --strict itself runs in
CI's lint step (see README)."""

import ast
import importlib
import importlib.util
import inspect
import os

import pytest

import fastloss

STUBS = ["_api", "_kernels._baseline", "_kernels._openmp"]
if importlib.util.find_spec("sklearn") is not None:
    STUBS.append("estimators")
SOURCE = os.path.dirname(fastloss.__file__)         # the installed package's stubs

KINDS = {"posonlyargs": inspect.Parameter.POSITIONAL_ONLY,
         "args": inspect.Parameter.POSITIONAL_OR_KEYWORD,
         "kwonlyargs": inspect.Parameter.KEYWORD_ONLY}


def stub_parameters(node):
    """[(name, kind, default or inspect.Parameter.empty)] of a stub's def."""
    a = node.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [inspect.Parameter.empty] * (len(positional) - len(a.defaults)) + a.defaults
    for arg, default in zip(positional, defaults):
        kind = KINDS["posonlyargs" if arg in a.posonlyargs else "args"]
        out.append((arg.arg, kind, default))
    if a.vararg is not None:
        out.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.empty))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, KINDS["kwonlyargs"],
                    inspect.Parameter.empty if default is None else default))
    if a.kwarg is not None:
        out.append((a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty))
    return [(name, kind, d if d is inspect.Parameter.empty else ast.literal_eval(d))
            for name, kind, d in out]


def runtime_parameters(obj):
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


def stub_definitions():
    for module in STUBS:
        with open(os.path.join(SOURCE, *module.split(".")) + ".pyi") as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                yield module, node.name, node
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        yield module, f"{node.name}.{item.name}", item


@pytest.mark.parametrize("module,name,node", [
    pytest.param(m, n, d, id=f"{m}.{n}") for m, n, d in stub_definitions()])
def test_stub_matches_the_code(module, name, node):
    obj = importlib.import_module(f"fastloss.{module}")
    for part in name.split("."):
        obj = getattr(obj, part)
    stub, runtime = stub_parameters(node), runtime_parameters(obj)
    assert [p[:2] for p in stub] == [p[:2] for p in runtime]
    # an @overload may leave out a default to pick a case (reduction="none")
    for (name, _, default), (_, _, actual) in zip(stub, runtime):
        if default is not inspect.Parameter.empty:
            assert default == actual, name


def test_every_public_name_is_typed():
    typed = {n for m, n, _ in stub_definitions() if m == "_api"} | {
        n.split(".")[0] for m, n, _ in stub_definitions() if m == "_api"}
    annotated = {"get_num_threads", "set_num_threads", "num_threads", "show_config"}
    untyped = set(fastloss.__all__) - typed - annotated - {"__version__"}
    assert not untyped
    for name in annotated:
        hints = getattr(fastloss, name).__annotations__
        assert "return" in hints, name


def test_py_typed_ships():
    assert os.path.exists(os.path.join(os.path.dirname(fastloss.__file__), "py.typed"))
