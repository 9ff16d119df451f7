"""sigmoid, log_sigmoid and softplus against their references.

Their contract (c/unary.h, and the docstrings): within 1 ulp of the exact
value in float32 (the kernels compute float inputs in double lanes and round
once) and 4 ulp in float64, on every SIMD path, over every input; the exact
value is the reference evaluated in x87 long double (as tests/test_simd_math.py
measures the vector functions). Softplus's exact value is torch's formula
with ``beta * x`` rounded in the input's dtype, as torch's kernel rounds it.
The public functions follow NumPy's conventions: any shape and layout,
``out`` (in place too; nothing written when refused), float32/float64 kept,
integer arrays refused; any number of threads gives the same bits, and so
does the fast path of small calls.
"""

import re

import numpy as np
import pytest

import fastloss
from fastloss import _kernels

import reference as ref
from support import BLOCK, DTYPES, LAYOUTS, PARALLEL_MIN, THREADS, assert_close, general, layout

PATHS = _kernels.available_paths()
LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63
ULPS = {np.dtype(np.float32): 1.0, np.dtype(np.float64): 4.0}
inf, nan = np.inf, np.nan

# name -> (public function, its reference, options)
ACTIVATIONS = {
    "sigmoid": (fastloss.sigmoid, ref.sigmoid, {}),
    "log_sigmoid": (fastloss.log_sigmoid, ref.log_sigmoid, {}),
    "softplus": (fastloss.softplus, ref.softplus, {}),
    "softplus_beta": (fastloss.softplus, ref.softplus, {"beta": 0.7, "threshold": 15.0}),
    "softplus_steep": (fastloss.softplus, ref.softplus, {"beta": 3.0, "threshold": 50.0}),
    "softplus_negative_beta": (fastloss.softplus, ref.softplus, {"beta": -2.0}),
}
KERNEL_OP = {"sigmoid": _kernels.kernels.SIGMOID, "log_sigmoid": _kernels.kernels.LOG_SIGMOID}


def op_of(name):
    return KERNEL_OP.get(name, _kernels.kernels.SOFTPLUS)


def run_path(path, name, x):
    """The activation through one SIMD path's kernel, one thread."""
    opts = ACTIVATIONS[name][2]
    out = np.empty_like(x)
    _kernels.load(path).unary(op_of(name), x, out, opts.get("beta", 1.0),
                              opts.get("threshold", 20.0), 1)
    return out


def ulp_error(approx, exact, dtype):
    """|approx - exact| in ulps of exact rounded to dtype (0 where both are
    the same inf or both NaN, inf where only one is)."""
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = exact.astype(dtype)
        spacing = np.spacing(np.abs(rounded)).astype(np.longdouble)
        err = np.abs(approx.astype(np.longdouble) - exact) / spacing
    same = (approx == rounded) | (np.isnan(approx) & np.isnan(rounded))
    err = np.where(np.isfinite(rounded) & np.isfinite(approx), err, np.inf)
    return np.where(same, 0.0, err)


def inputs(rng, dtype):
    """Dense grids through the whole interesting range (past exp's underflow
    of each dtype), around 0, random values, random bit patterns (every
    exponent, subnormals, inf, NaN) and the special values."""
    info = np.finfo(dtype)
    lim = 110.0 if dtype == np.float32 else 760.0
    itype = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(itype).max, 300_000, dtype=itype,
                        endpoint=True).view(dtype)
    return np.concatenate([
        np.linspace(-lim, lim, 1_000_001).astype(dtype),
        np.linspace(-3.0, 3.0, 600_001).astype(dtype),
        rng.uniform(-1e-3, 1e-3, 100_000).astype(dtype),
        (rng.standard_normal(300_000) * 8).astype(dtype),
        bits,
        np.array([0.0, -0.0, inf, -inf, nan, 1e4, -1e4, info.max, -info.max, info.tiny,
                  -info.tiny, info.smallest_subnormal, 20.0, 21.0, 15.0 / 0.7], dtype),
    ])


# ------------------------------------------------------ accuracy, every path

@pytest.mark.skipif(not LONG_DOUBLE, reason="no long double wider than float64")
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_within_contract_on_every_path(path, name, dtype, rng):
    _, reference, opts = ACTIVATIONS[name]
    x = inputs(rng, dtype)
    got = run_path(path, name, x)
    exact = reference(x, precision=np.longdouble, **opts)
    err = ulp_error(got, exact, dtype)
    worst = int(np.argmax(err))
    print(f"{path} {name} {np.dtype(dtype)}: worst {err[worst]:.3f} ulp at {x[worst]!r}")
    assert err[worst] <= ULPS[np.dtype(dtype)], (x[worst], got[worst], exact[worst])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values_exactly(path, dtype):
    """+-inf, +-1e4 and NaN, by hand: no overflow, no NaN from inf / inf."""
    x = np.array([-inf, inf, -1e4, 1e4, nan, 0.0, -0.0], dtype)
    half, log2 = dtype(0.5), dtype(np.log(2.0))
    expected = {
        "sigmoid": [0.0, 1.0, 0.0, 1.0, nan, half, half],
        "log_sigmoid": [-inf, 0.0, -1e4, 0.0, nan, -log2, -log2],
        "softplus": [0.0, inf, 0.0, 1e4, nan, log2, log2],
        "softplus_beta": [0.0, inf, 0.0, 1e4, nan, dtype(np.log(2.0) / dtype(0.7)),
                          dtype(np.log(2.0) / dtype(0.7))],
        # beta < 0: beta x > threshold at -inf and -1e4 (x itself); +inf gives
        # log(1 + 0) / beta = -0
        "softplus_negative_beta": [-inf, -0.0, -1e4, -0.0, nan, -log2 / 2, -log2 / 2],
    }
    for name, want in expected.items():
        got = run_path(path, name, x)
        want = np.array(want, dtype)
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all(), name


def test_hand_values():
    """sigmoid(0) = 1/2, log_sigmoid(0) = -log 2, softplus(0) = log 2 / beta;
    log_sigmoid(x) = -softplus(-x); sigmoid(x) + sigmoid(-x) = 1; softplus
    reverts to x just above the threshold, not at it."""
    assert fastloss.sigmoid(0.0) == 0.5
    assert fastloss.log_sigmoid(0.0) == pytest.approx(-np.log(2.0), rel=1e-15)
    assert fastloss.softplus(0.0, beta=2.0) == pytest.approx(np.log(2.0) / 2, rel=1e-15)
    x = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(fastloss.log_sigmoid(x),
                               -fastloss.softplus(-x, threshold=np.inf), rtol=2e-15)
    np.testing.assert_allclose(fastloss.sigmoid(x) + fastloss.sigmoid(-x), 1.0, rtol=2e-15)
    assert fastloss.softplus(20.0) == pytest.approx(20.0 + np.log1p(np.exp(-20.0)),
                                                    rel=1e-15)
    assert fastloss.softplus(np.nextafter(20.0, 21.0)) == np.nextafter(20.0, 21.0)
    assert fastloss.softplus(11.0, beta=2.0) == 11.0          # 22 > 20
    assert fastloss.softplus(100.0, threshold=np.inf) == 100.0  # no overflow: log(1 + e^100)
    assert fastloss.softplus(np.float32(95.0), threshold=200.0) == np.float32(95.0)


def test_small_results_keep_their_digits():
    """sigmoid of large negative x is exp(x), down to the subnormals (torch's
    float32 1 / (1 + exp(-x)) is 0 from x = -88.8)."""
    x = np.array([-90.0, -100.0, -103.0], np.float32)
    got = fastloss.sigmoid(x)
    np.testing.assert_array_equal(got, np.exp(x.astype(np.float64)).astype(np.float32))
    assert (got > 0).all()
    assert fastloss.sigmoid(-740.0) == np.exp(-740.0)


# ---------------------------------------------------- the public functions

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (BLOCK + 3,), (5, 0, 3), (33, 77),
                                   (3, 4, 1201)])
def test_values_and_dtype(rng, name, dtype, shape):
    fn, reference, opts = ACTIVATIONS[name]
    x = (rng.standard_normal(shape) * 12).astype(dtype)
    got = fn(x, **opts)
    assert got.dtype == dtype and got.shape == shape
    assert_close(got, reference(x, **opts), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus_beta"])
def test_layouts(rng, name, dtype, kind):
    fn, reference, opts = ACTIVATIONS[name]
    x = layout((rng.standard_normal((19, 23)) * 12).astype(dtype), kind)
    got = fn(x, **opts)
    assert got.dtype == np.dtype(dtype).newbyteorder("=") and got.shape == x.shape
    assert_close(got, reference(x, **opts), dtype)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_scalars_lists_and_float16(name):
    fn, reference, opts = ACTIVATIONS[name]
    got = fn(1.5, **opts)
    assert type(got) is np.float64
    assert_close(got, reference(1.5, **opts), np.float64)
    assert type(fn(np.float32(1.5), **opts)) is np.float32
    assert type(fn(np.array(1.5), **opts)) is np.float64         # 0-d: a scalar, as NumPy
    got = fn([[0.5, -2.0], [3.0, 40.0]], **opts)
    assert got.dtype == np.float64 and got.shape == (2, 2)
    got = fn(np.array([0.5, -2.0], np.float16), **opts)
    assert got.dtype == np.float32
    assert_close(got, reference(np.array([0.5, -2.0], np.float32), **opts), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_out(rng, name, dtype):
    fn, reference, opts = ACTIVATIONS[name]
    x = (rng.standard_normal((40, 30)) * 12).astype(dtype)
    expected = fn(x, **opts)
    out = np.empty_like(x)
    assert fn(x, out=out, **opts) is out
    np.testing.assert_array_equal(out, expected)
    inplace = x.copy()
    assert fn(inplace, out=inplace, **opts) is inplace
    np.testing.assert_array_equal(inplace, expected)
    # a 0-d out stays an array; an out of another layout or byte order is filled
    zero = np.empty((), dtype)
    assert fn(x[0, 0], out=zero, **opts) is zero and zero == expected[0, 0]
    for target in (np.empty((30, 40), dtype).T, np.empty_like(x, dtype=np.dtype(dtype)
                                                           .newbyteorder())):
        assert fn(x, out=target, **opts) is target
        np.testing.assert_array_equal(target, expected)
    # out overlapping x other than exactly: the result as if x were read first
    y = np.concatenate([x.ravel(), np.zeros(1, dtype)])
    fn(y[:-1], out=y[1:], **opts)
    np.testing.assert_array_equal(y[1:], expected.ravel())


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_out_refused_untouched(name):
    fn = ACTIVATIONS[name][0]
    x = np.linspace(-3, 3, 12)
    cases = [(np.zeros(12, np.float32), TypeError, "out: expected dtype float64, got float32"),
             (np.zeros(11), ValueError, r"out: expected shape \(12,\), got \(11,\)"),
             (np.zeros((12, 1)), ValueError, r"out: expected shape \(12,\)"),
             ([0.0] * 12, TypeError, "out: expected a numpy.ndarray, got list")]
    for out, error, match in cases:
        before = np.array(out, copy=True)
        with pytest.raises(error, match=match):
            fn(x, out=out)
        np.testing.assert_array_equal(np.asarray(out), before)
    masked = np.ma.masked_array(np.zeros(12), mask=[True] + [False] * 11)
    with pytest.raises(TypeError, match="out: expected an array without a mask"):
        fn(x, out=masked)
    assert (masked.data == 0).all() and masked.mask[0]
    readonly = np.zeros(12)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out: the array is read-only"):
        fn(x, out=readonly)
    out = np.full(12, 7.0)
    with pytest.raises(TypeError, match="x: expected a float32 or float64 array"):
        fn(np.arange(12), out=out)
    np.testing.assert_array_equal(out, 7.0)


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "softplus"])
@pytest.mark.parametrize("value,kind", [
    (np.arange(4), "int64"), (np.arange(4, dtype=np.uint8), "uint8"),
    (np.array([True, False]), "bool"), (np.array([1 + 2j]), "complex128"),
    (np.array(["a"]), "<U1"), (np.array([1.0], object), "object"),
    (np.int64(3), "int64")])
def test_refusals(name, value, kind):
    """Integer (any library's), bool, complex, string and object arrays are
    refused as by the other functions, naming what was got."""
    fn = ACTIVATIONS[name][0]
    with pytest.raises(TypeError, match=f"x: expected a float32 or float64 array .*got {kind}"):
        fn(value)


def test_masked_and_options_refused():
    x = np.ma.masked_array([0.0, 1.0], mask=[True, False])
    with pytest.raises(TypeError, match="x: expected an array without a mask"):
        fastloss.sigmoid(x)
    for bad in ("2", None, True, 1 + 0j, [1.0]):
        message = re.escape(f"beta: expected a real number, got {bad!r}")
        with pytest.raises(TypeError, match=message):
            fastloss.softplus([1.0], beta=bad)
        with pytest.raises(TypeError, match="threshold: expected a real number"):
            fastloss.softplus([1.0], threshold=bad)
    with pytest.raises(ValueError, match="num_threads: expected a positive integer"):
        fastloss.log_sigmoid([1.0], num_threads=0)
    with pytest.raises(TypeError):
        fastloss.sigmoid([1.0], dim=0)                    # no axis: torch's has none either
    # NumPy numbers are options too
    assert fastloss.softplus(1.0, beta=np.float32(2.0), threshold=np.int64(20)) == \
        fastloss.softplus(1.0, beta=2.0)


# ------------------------------------------------ threads and the fast path

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_threads_give_the_same_bits(rng, name, dtype):
    fn, _, opts = ACTIVATIONS[name]
    x = (rng.standard_normal(3 * PARALLEL_MIN + 17) * 12).astype(dtype)
    x[::97] = [inf, -inf, nan] * (len(x[::97]) // 3) + [0.0] * (len(x[::97]) % 3)
    results = [fn(x, num_threads=k, **opts) for k in THREADS]
    for r in results[1:]:
        assert r.tobytes() == results[0].tobytes()
    assert fn(x, **opts).tobytes() == results[0].tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(), (1,), (5, 3), (BLOCK + 1,), (PARALLEL_MIN,)])
def test_fast_path_gives_the_general_bits(rng, name, dtype, shape):
    fn, _, opts = ACTIVATIONS[name]
    x = np.asarray(rng.standard_normal(shape) * 12, dtype)
    fast, slow = fn(x, **opts), general(fn, x, **opts)
    assert type(fast) is type(slow) and np.asarray(fast).dtype == np.asarray(slow).dtype
    assert np.asarray(fast).shape == np.asarray(slow).shape
    assert np.asarray(fast).tobytes() == np.asarray(slow).tobytes()


# ------------------------------------------------------------------- dask

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_dask_is_bitwise_the_same(rng, name):
    """fastloss.dask's activations, any chunking, computed by the synchronous
    scheduler: the in-memory bits; a dask array given to the in-memory
    function is refused, naming fastloss.dask, whose function exists."""
    da = pytest.importorskip("dask.array")
    fd = pytest.importorskip("fastloss.dask")
    fn, _, opts = ACTIVATIONS[name]
    x = (rng.standard_normal((50, 31)) * 12).astype(np.float32)
    x[3, 4], x[7, 0], x[9, 9] = inf, -inf, nan
    for chunks in ((50, 31), (7, 5), (1, 31)):
        got = getattr(fd, fn.__name__)(da.from_array(x, chunks=chunks), **opts)
        assert got.chunks == da.from_array(x, chunks=chunks).chunks
        assert got.compute(scheduler="synchronous").tobytes() == fn(x, **opts).tobytes()
    with pytest.raises(TypeError, match="use the function of the same name in fastloss.dask"):
        fn(da.from_array(x), **opts)
    assert fn.__name__ in fd.__all__
