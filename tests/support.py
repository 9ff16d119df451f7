"""Shared tolerances, layouts, data and kernel limits of the fastloss tests.

Tests import these (``from support import ...``); ``conftest.py`` holds only
pytest's fixtures. Boundary shapes come from ``LIMITS``, the constants the
compiled kernels export (``fastloss._kernels.LIMITS``), never from literals
copied out of the C.
"""

import contextlib
from pathlib import Path

import numpy as np
import pytest

from fastloss import _api
from fastloss._kernels import LIMITS
from fastloss._tools.reference import TOLERANCES

DTYPES = [np.float32, np.float64]

LAYOUTS = ["C", "F", "strided", "readonly", "byteswapped", "unaligned"]
THREADS = [1, 2, 3]

# the kernels' boundaries (see drivers.pxi): elements of a reduction block,
# the smallest parallel region, the chunk of a long row
BLOCK = LIMITS["block_elems"]
PARALLEL_MIN = LIMITS["parallel_min"]
CHUNK = LIMITS["chunk"]
# rows longer than this are long (cut into chunks) when few or wide
LONG = 2 * CHUNK
# the most classes of a row that goes rows-in-lanes, float32 and float64
SMALL = LIMITS["small_classes"]


def tol(dtype):
    return TOLERANCES[np.dtype(dtype)]


def assert_close(actual, expected, dtype):
    """Compare with the reference at the dtype's tolerance, NaN/inf included."""
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64),
        equal_nan=True, **tol(dtype)
    )


def layout(arr, kind):
    """The same values as ``arr`` in a memory layout of the given kind."""
    arr = np.asarray(arr)
    if kind == "C":
        return np.ascontiguousarray(arr)
    if kind == "F":
        return np.asfortranarray(arr)
    if kind == "strided":
        if arr.ndim == 0:
            return arr
        wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        wide[..., ::2] = arr
        return wide[..., ::2]
    if kind == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if kind == "byteswapped":
        return arr.astype(arr.dtype.newbyteorder())
    if kind == "unaligned":                  # at an odd byte offset, as np.frombuffer makes
        buf = bytearray(arr.nbytes + 1)
        out = np.frombuffer(buf, dtype=arr.dtype, offset=1).reshape(arr.shape)
        out[...] = arr
        return out
    raise ValueError(kind)


def logits(rng, shape, dtype=np.float64, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def probabilities(rng, shape, axis, dtype=np.float64):
    t = rng.random(shape)
    return (t / t.sum(axis=axis, keepdims=True)).astype(dtype)


def extra_requirements(extra):
    """The requirements of one optional extra in the checkout's pyproject.toml
    (skips without a TOML reader: tomllib is Python >= 3.11)."""
    try:
        import tomllib
    except ImportError:                              # pragma: no cover - Python < 3.11
        tomllib = pytest.importorskip("tomli")
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    with open(pyproject, "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"][extra]


def assert_install_commands(message, extra):
    """An ImportError's message gives commands that work without the package
    index knowing fastloss: the extra's requirements themselves, and the
    extra installed from a checkout."""
    requirements = " ".join(f'"{r}"' for r in extra_requirements(extra))
    assert f"pip install {requirements}" in message, message
    assert f'pip install ".[{extra}]"' in message, message
    assert "fastloss[" not in message, message


# linear_cross_entropy against its reference: the logits are products of
# n_features terms rounded in the input's dtype (the reference's in float64)
PRODUCT_TOLERANCES = {
    np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
}


def assert_close_products(actual, expected, dtype):
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64),
        equal_nan=True, **PRODUCT_TOLERANCES[np.dtype(dtype)]
    )


# the fast path's entry points in fastloss._api (see its _fast_softmax ...)
FAST_ENTRIES = ("_fast_softmax", "_fast_class", "_fast_binary", "_fast_unary")


@contextlib.contextmanager
def general_path():
    """Inside, every call takes the general path: the fast path's entry
    points answer NotImplemented, as for a call they do not take."""
    saved = {name: getattr(_api, name) for name in FAST_ENTRIES}
    try:
        for name in FAST_ENTRIES:
            setattr(_api, name, lambda *args, **kwargs: NotImplemented)
        yield
    finally:
        for name, entry in saved.items():
            setattr(_api, name, entry)


def general(fn, *args, **kwargs):
    """fn(*args, **kwargs) through the general path (general_path)."""
    with general_path():
        return fn(*args, **kwargs)
