"""Shared tolerances, layouts and data for the fastloss tests."""

import numpy as np
import pytest

from fastloss._reference import TOLERANCES

DTYPES = [np.float32, np.float64]

LAYOUTS = ["C", "F", "strided", "readonly", "byteswapped", "unaligned"]
THREADS = [1, 2, 3]


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


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def logits(rng, shape, dtype=np.float64, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def probabilities(rng, shape, axis, dtype=np.float64):
    t = rng.random(shape)
    return (t / t.sum(axis=axis, keepdims=True)).astype(dtype)
