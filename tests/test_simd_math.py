"""The vectorized exp, log and log1p of the kernels, in ulps of the exact value.

Every SIMD path this CPU runs is checked through the same vector functions
the kernels use (``math_map``), in float32 and float64, over each function's
whole input range: for exp that is x <= 0 (every exponential the kernels
take is exp(x - max) or exp(-|x|)), for log and log1p every value. The exact
value is NumPy's function evaluated in x87 long double (64-bit significand),
so an error is measured to about 1/2000 of an ulp of float64; where long
double is no wider than double the checks are skipped.
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
    """Sign-negative bit patterns at random (-0, subnormals, -inf, NaN), and
    dense grids of the range: down to the underflow threshold, through the
    subnormal results, and around 0."""
    lo = -104.5 if dtype == np.float32 else -746.5
    x = np.concatenate([
        -np.abs(random_bits(rng, dtype, 2_000_000)),
        np.linspace(lo, 0.0, 2_000_001, dtype=dtype),            # the whole finite range
        np.linspace(lo, lo + 18, 200_001, dtype=dtype),          # subnormal results
        -rng.uniform(0.0, 1e-6, 100_000).astype(dtype),          # around 0
        specials(dtype),
    ])
    return x[~(x > 0)]                                           # NaN stays


def log_inputs(rng, dtype):
    info = np.finfo(dtype)
    lo, hi = np.log10(float(info.smallest_subnormal)), np.log10(float(info.max)) - 1e-9
    return np.concatenate([
        np.abs(random_bits(rng, dtype, 1_000_000)),
        random_bits(rng, dtype, 200_000),                       # negatives: NaN
        np.logspace(lo, hi, 1_000_000).astype(dtype),           # subnormal to max
        np.linspace(0.5, 2.0, 1_000_001, dtype=dtype),          # around 1
        (1.0 + rng.uniform(-1e-6, 1e-6, 100_000)).astype(dtype),
        specials(dtype),
    ])


def log1p_inputs(rng, dtype):
    tiny = np.log10(float(np.finfo(dtype).smallest_subnormal))
    return np.concatenate([
        log_inputs(rng, dtype),
        -np.logspace(tiny, -1e-7, 500_000).astype(dtype),        # (-1, 0): toward -1
        np.linspace(-1.0, 1.0, 1_000_001, dtype=dtype),
        rng.uniform(-1e-10, 1e-10, 100_000).astype(dtype),
        np.array([-1.0, np.nextafter(-1.0, 0), np.nextafter(-1.0, -2), -2.0], dtype),
    ])


INPUTS = {"exp": exp_inputs, "log": log_inputs, "log1p": log1p_inputs}


@pytest.mark.skipif(not LONG_DOUBLE, reason="no long double wider than float64")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "log", "log1p"])
def test_within_bound(path, name, dtype, rng):
    x = INPUTS[name](rng, dtype) if name != "exp" else exp_inputs(dtype, rng)
    err = ulp_error(evaluate(path, name, x), exact(name, x), dtype)
    worst = np.argmax(err)
    assert err[worst] <= ULPS[dtype], f"{name}({x[worst]!r}) is {err[worst]} ulp off"


@pytest.mark.skipif(not LONG_DOUBLE, reason="no long double wider than float64")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["exp", "log", "log1p"])
def test_float32_bit_patterns(path, name):
    """Every 251st float32 bit pattern of the function's domain (the 2**31
    non-positive values for exp, all 2**32 for log and log1p): every exponent,
    every sign, mantissas spread evenly."""
    start, stop = (0x80000000, 0x100000000) if name == "exp" else (0, 0x100000000)
    chunk = 251 << 20
    worst, where = 0.0, None
    for lo in range(start, stop, chunk):
        bits = np.arange(lo, min(lo + chunk, stop), 251, dtype=np.uint64)
        x = bits.astype(np.uint32).view(np.float32)
        err = ulp_error(evaluate(path, name, x), exact(name, x), np.float32)
        k = int(np.argmax(err))
        if err[k] > worst:
            worst, where = float(err[k]), x[k]
    assert worst <= ULPS[np.float32], f"{name}({where!r}) is {worst} ulp off"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_exactly(path, dtype):
    inf, nan = np.inf, np.nan
    tiny = np.finfo(dtype).smallest_subnormal
    got = evaluate(path, "exp", np.array([-inf, nan, 0.0, -0.0, -800.0, -tiny], dtype))
    np.testing.assert_array_equal(got, np.array([0.0, nan, 1.0, 1.0, 0.0, 1.0], dtype))
    got = evaluate(path, "log", np.array([0.0, -0.0, -1.0, inf, -inf, nan, 1.0], dtype))
    np.testing.assert_array_equal(got, np.array([-inf, -inf, nan, inf, nan, nan, 0.0], dtype))
    got = evaluate(path, "log1p", np.array([-1.0, -2.0, inf, -inf, nan, 0.0, -0.0, tiny],
                                           dtype))
    np.testing.assert_array_equal(
        got, np.array([-inf, nan, inf, nan, nan, 0.0, -0.0, tiny], dtype))


def test_every_path_is_tested():
    assert "baseline" in PATHS
    assert _dispatch.path == PATHS[0] or _dispatch.forced
