"""The vectorized exp, log and log1p of the kernels, in ulps of the exact value.

Every SIMD path this CPU runs is checked through the same vector loop the
kernels use (``math_map``). The exact value is NumPy's function evaluated in
x87 long double (64-bit significand), so an error is measured to about 1/2000
of an ulp of float64; where long double is no wider than double the float64
checks are skipped.
"""

import importlib

import numpy as np
import pytest

from fastloss import _dispatch

PATHS = _dispatch.available_paths()
LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63
ULPS = {np.float32: 2.0, np.float64: 4.0}     # the bounds the kernels promise


def kernels(path):
    return importlib.import_module(f"fastloss._kernels_{path}")


def ulp_error(approx, exact, dtype):
    """|approx - exact| in units of the last place of exact rounded to dtype
    (0 where both are the same inf or both NaN; inf where only one is)."""
    with np.errstate(over="ignore"):
        rounded = exact.astype(dtype)
    both_nan = np.isnan(approx) & np.isnan(rounded)
    same = (approx == rounded) | both_nan
    spacing = np.spacing(np.abs(rounded)).astype(np.longdouble)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(approx.astype(np.longdouble) - exact) / spacing
    err = np.where(np.isfinite(rounded) & np.isfinite(approx), err, np.inf)
    return np.where(same, 0.0, err)


def random_bits(rng, dtype, n):
    """Uniformly random bit patterns: every exponent, sign, subnormal, inf, NaN."""
    itype = np.uint32 if dtype == np.float32 else np.uint64
    return rng.integers(0, np.iinfo(itype).max, n, dtype=itype, endpoint=True).view(dtype)


def specials(dtype):
    info = np.finfo(dtype)
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, info.tiny, info.smallest_subnormal,
                     -info.smallest_subnormal, info.max, -info.max, 1.0, -1.0, 0.5, 2.0,
                     info.eps, -info.eps], dtype)


def evaluate(path, name, x):
    out = np.empty_like(x)
    kernels(path).math_map(name, x, out)
    return out


def exact(name, x):
    with np.errstate(all="ignore"):
        return getattr(np, name)(x.astype(np.longdouble))


def exp_inputs(dtype, rng):
    lo, hi = (-104.5, 89.5) if dtype == np.float32 else (-746.5, 710.5)
    return np.concatenate([
        random_bits(rng, dtype, 1_000_000),
        np.linspace(lo, hi, 2_000_001, dtype=dtype),          # the whole finite range
        np.linspace(lo, lo + 18, 200_001, dtype=dtype),        # subnormal results
        np.linspace(hi - 2, hi, 20_001, dtype=dtype),          # overflow threshold
        rng.uniform(-1e-6, 1e-6, 100_000).astype(dtype),       # around 0
        specials(dtype),
    ])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_within_bound(path, dtype, rng):
    if dtype == np.float64 and not LONG_DOUBLE:
        pytest.skip("no long double wider than float64 to measure against")
    x = exp_inputs(dtype, rng)
    err = ulp_error(evaluate(path, "exp", x), exact("exp", x), dtype)
    worst = np.argmax(err)
    assert err[worst] <= ULPS[dtype], f"exp({x[worst]!r}) is {err[worst]} ulp off"


def log_inputs(rng):
    return np.concatenate([
        np.abs(random_bits(rng, np.float64, 1_000_000)),
        random_bits(rng, np.float64, 200_000),                  # negatives: NaN
        np.logspace(-323, 308, 1_000_000),                      # subnormal to max
        np.linspace(0.5, 2.0, 1_000_001),                       # around 1
        1.0 + rng.uniform(-1e-8, 1e-8, 100_000),
        specials(np.float64),
    ])


def log1p_inputs(rng):
    return np.concatenate([
        log_inputs(rng),
        -np.logspace(-320, -1e-16, 500_000),                    # (-1, 0): toward -1
        np.linspace(-1.0, 1.0, 1_000_001),
        rng.uniform(-1e-10, 1e-10, 100_000),
        [-1.0, np.nextafter(-1.0, 0), np.nextafter(-1.0, -2), -2.0],
    ])


@pytest.mark.skipif(not LONG_DOUBLE, reason="no long double wider than float64")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["log", "log1p"])
def test_log_within_bound(path, name, rng):
    x = log_inputs(rng) if name == "log" else log1p_inputs(rng)
    err = ulp_error(evaluate(path, name, x), exact(name, x), np.float64)
    worst = np.argmax(err)
    assert err[worst] <= ULPS[np.float64], f"{name}({x[worst]!r}) is {err[worst]} ulp off"


@pytest.mark.parametrize("path", PATHS)
def test_special_values_exactly(path):
    inf, nan = np.inf, np.nan
    for dtype in (np.float32, np.float64):
        got = evaluate(path, "exp", np.array([inf, -inf, nan, 0.0, -0.0, 800.0, -800.0], dtype))
        np.testing.assert_array_equal(got, np.array([inf, 0.0, nan, 1.0, 1.0, inf, 0.0], dtype))
    got = evaluate(path, "log", np.array([0.0, -0.0, -1.0, inf, -inf, nan, 1.0]))
    np.testing.assert_array_equal(got, [-inf, -inf, nan, inf, nan, nan, 0.0])
    got = evaluate(path, "log1p", np.array([-1.0, -2.0, inf, -inf, nan, 0.0, -0.0, 5e-324]))
    np.testing.assert_array_equal(got, [-inf, nan, inf, nan, nan, 0.0, -0.0, 5e-324])


def test_every_path_is_tested():
    assert "baseline" in PATHS
    assert _dispatch.path == PATHS[0] or _dispatch.forced
