"""The vector exp, log, log1p and log-of-a-sum of the kernels, against their contracts.

Each function of c/vmath.h (and c/vmath_t.h) opens with its contract: the largest error in
ulps of the correctly rounded result, and the inputs it holds for. CONTRACTS
restates them (and a test checks the restatement against the header the
package ships); the tests measure every one on every SIMD path this CPU
runs, through the same vector functions the kernels use (``math_map``), over
the whole valid range: x <= 0 for exp (every exponential the kernels take is
exp(x - max) or exp(-|x|)), every value for exp_any (exp of any sign, KL
divergence's exp(target)), log and log1p, s >= 1 for the log of a sum of
exponentials. The exact value is NumPy's function evaluated
in x87 long double (64-bit significand), so an error is measured to about
1/2000 of an ulp of float64; where long double is no wider than double the
checks are skipped. ``python -m pytest -s tests/test_simd_math.py`` prints
the worst error measured against each bound.
"""

import os
import re

import numpy as np
import pytest

from fastloss import _kernels

PATHS = _kernels.available_paths()
LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63

# The contracts of c/vmath.h: the C function, its largest error in ulps, and
# the inputs it holds for, by the name math_map gives it.
CONTRACTS = {
    ("exp", np.float32): ("vf_exp_neg", 2.0, "x <= 0"),
    ("exp", np.float64): ("vd_exp_neg", 4.0, "x <= 0"),
    ("log", np.float32): ("vf_log", 2.0, "every float"),
    ("log", np.float64): ("vd_log", 4.0, "every double"),
    ("log1p", np.float32): ("vf_log1p", 2.0, "every float"),
    ("log1p", np.float64): ("vd_log1p", 4.0, "every double"),
    ("log_sum", np.float32): ("vf_log_sum", 2.0, "1 <= s < +inf"),
    ("log_sum", np.float64): ("vd_log_sum", 4.0, "1 <= s < +inf"),
    ("log1p_unit", np.float32): ("vf_log1p_unit", 2.0, "0 <= z <= 1"),
    ("log1p_unit", np.float64): ("vd_log1p_unit", 4.0, "0 <= z <= 1"),
    ("exp_any", np.float32): ("vf_exp", 2.0, "every float"),
    ("exp_any", np.float64): ("vd_exp", 4.0, "every double"),
}
VMATH = [os.path.join(os.path.dirname(_kernels.__file__), "c", name)
         for name in ("vmath.h", "vmath_t.h")]


def kernels(path):
    return _kernels.load(path)


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
    fn = {"log_sum": "log", "log1p_unit": "log1p", "exp_any": "exp"}.get(name, name)
    with np.errstate(all="ignore"):
        return getattr(np, fn)(x.astype(np.longdouble))


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


def log_sum_inputs(rng, dtype):
    """Sums of exponentials: at least 1 (the max's own term), finite: random
    bit patterns from 1 up, and dense grids just above 1 and up to 2^20."""
    bits = np.abs(random_bits(rng, dtype, 1_000_000))
    x = np.concatenate([
        bits[np.isfinite(bits) & (bits >= 1)],
        (1.0 + rng.uniform(0.0, 1e-5, 200_000)).astype(dtype),
        np.linspace(1.0, 2.0, 1_000_001, dtype=dtype),
        np.logspace(0.0, 20 * np.log10(2.0), 500_000).astype(dtype),
        np.array([1.0, np.nextafter(dtype(1), dtype(2)), np.finfo(dtype).max], dtype),
    ])
    return x[x >= 1]


def log1p_unit_inputs(rng, dtype):
    """z = exp(-|x|) of BCE with logits: [0, 1] densely, down to the
    smallest subnormal, and the bit patterns of [0, 1] at random."""
    tiny = np.log10(float(np.finfo(dtype).smallest_subnormal))
    bits = np.abs(random_bits(rng, dtype, 1_000_000))
    return np.concatenate([
        np.linspace(0.0, 1.0, 2_000_001, dtype=dtype),
        np.logspace(tiny, 0.0, 1_000_000).astype(dtype),
        rng.uniform(0.0, 1.0, 1_000_000).astype(dtype),
        bits[bits <= 1],
        np.array([0.0, 1.0, np.nextafter(dtype(1), dtype(0)), np.nan], dtype),
    ])


def exp_any_inputs(rng, dtype):
    """exp of any sign (KL divergence's exp(target)): every bit pattern at
    random, exp_neg's grids, the positive range densely up to and past the
    overflow threshold."""
    hi = 89.5 if dtype == np.float32 else 710.5
    return np.concatenate([
        random_bits(rng, dtype, 2_000_000),
        exp_inputs(dtype, rng),
        np.linspace(0.0, hi, 2_000_001, dtype=dtype),
        np.linspace(hi - 2, hi, 200_001, dtype=dtype),             # around the overflow
        rng.uniform(0.0, 1e-6, 100_000).astype(dtype),
    ])


INPUTS = {"exp": lambda rng, dtype: exp_inputs(dtype, rng), "log": log_inputs,
          "log1p": log1p_inputs, "log_sum": log_sum_inputs,
          "log1p_unit": log1p_unit_inputs, "exp_any": exp_any_inputs}


def contract(function, header):
    """The contract comment that opens ``function`` in vmath.h (a comment
    whose first line names it, alone or with its twin), on one line."""
    for m in re.finditer(r"/\* ([\w, ]+): (.*?)\*/", header, re.S):
        names = [name.strip() for name in m.group(1).split(",")]
        if function in names:
            return names, " ".join(m.group(2).split())
    raise AssertionError(f"{function} has no contract in vmath.h")


def test_contracts_are_those_of_the_header():
    """CONTRACTS restates the contract that opens each function of vmath.h."""
    header = ""
    for path in VMATH:
        with open(path) as f:
            header += f.read()
    for function, ulps, domain in CONTRACTS.values():
        names, text = contract(function, header)
        bound = f"Max error: {ulps:g} ulp" if len(names) == 1 else f"{ulps:g} ulp ({function})"
        assert bound in text, (function, text)
        assert domain in text, (function, domain, text)


@pytest.mark.skipif(not LONG_DOUBLE, reason="no long double wider than float64")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "log", "log1p", "log_sum", "log1p_unit", "exp_any"])
def test_within_contract(path, name, dtype, rng):
    function, bound, domain = CONTRACTS[(name, dtype)]
    x = INPUTS[name](rng, dtype)
    err = ulp_error(evaluate(path, name, x), exact(name, x), dtype)
    worst = np.argmax(err)
    print(f"{path} {function} on {domain}: worst {err[worst]:.3f} ulp "
          f"(contract {bound:g}) at {x[worst]!r}")
    assert err[worst] <= bound, f"{function}({x[worst]!r}) is {err[worst]} ulp off"


@pytest.mark.skipif(not LONG_DOUBLE, reason="no long double wider than float64")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["exp", "log", "log1p", "log1p_unit"])
def test_float32_bit_patterns(path, name):
    """Every 251st float32 bit pattern of the function's domain (the 2**31
    non-positive values for exp, all 2**32 for log and log1p; every 16th of
    the 2**30 + 1 in [0, 1] for log1p_unit, whose worst over all of them,
    measured once, is 1.59 ulp on avx2 and 1.96 on baseline): every exponent,
    every sign, mantissas spread evenly."""
    start, stop, step = {"exp": (0x80000000, 0x100000000, 251),
                         "log1p_unit": (0, 0x3f800001, 16)}.get(name, (0, 0x100000000, 251))
    chunk = step << 20
    worst, where = 0.0, None
    for lo in range(start, stop, chunk):
        bits = np.arange(lo, min(lo + chunk, stop), step, dtype=np.uint64)
        x = bits.astype(np.uint32).view(np.float32)
        err = ulp_error(evaluate(path, name, x), exact(name, x), np.float32)
        k = int(np.argmax(err))
        if err[k] > worst:
            worst, where = float(err[k]), x[k]
    function, bound, _ = CONTRACTS[(name, np.float32)]
    print(f"{path} {function}, every {step}th float32: worst {worst:.3f} ulp (contract {bound:g})")
    assert worst <= bound, f"{function}({where!r}) is {worst} ulp off"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_exactly(path, dtype):
    inf, nan = np.inf, np.nan
    tiny = np.finfo(dtype).smallest_subnormal
    got = evaluate(path, "exp", np.array([-inf, nan, 0.0, -0.0, -800.0, -tiny], dtype))
    np.testing.assert_array_equal(got, np.array([0.0, nan, 1.0, 1.0, 0.0, 1.0], dtype))
    big = 89.0 if dtype == np.float32 else 710.0
    got = evaluate(path, "exp_any", np.array([-inf, nan, 0.0, -0.0, -800.0, inf, big, 1e30],
                                             dtype))
    np.testing.assert_array_equal(got, np.array([0.0, nan, 1.0, 1.0, 0.0, inf, inf, inf], dtype))
    got = evaluate(path, "log", np.array([0.0, -0.0, -1.0, inf, -inf, nan, 1.0], dtype))
    np.testing.assert_array_equal(got, np.array([-inf, -inf, nan, inf, nan, nan, 0.0], dtype))
    got = evaluate(path, "log1p", np.array([-1.0, -2.0, inf, -inf, nan, 0.0, -0.0, tiny],
                                           dtype))
    np.testing.assert_array_equal(
        got, np.array([-inf, nan, inf, nan, nan, 0.0, -0.0, tiny], dtype))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_passes_exp_is_exp_bit_for_bit(path, dtype, rng):
    """The passes over long rows take their exps on 512-bit vectors on the
    avx512 path (c/row_passes.h): the same arithmetic lane for lane as exp,
    so the same bits, in whole vectors and in every length of tail."""
    bits = np.uint32 if dtype == np.float32 else np.uint64
    x = exp_inputs(dtype, rng)
    for part in [x, *(x[-k:] for k in range(1, 34))]:
        np.testing.assert_array_equal(evaluate(path, "exp_rows", part).view(bits),
                                      evaluate(path, "exp", part).view(bits))


def test_every_path_is_tested():
    assert "baseline" in PATHS
    assert _kernels.path == PATHS[0] or _kernels.forced
