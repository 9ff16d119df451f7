"""linear_cross_entropy and LinearCrossEntropyLoss: against the reference
with materialized logits for every option, reduction, dtype, chunk size and
thread count; gradients against finite differences; refusals."""

import tracemalloc

import numpy as np
import pytest

import fastloss
from fastloss import _api

import reference as ref
from support import DTYPES, assert_close_products, layout

N, D, V = 20, 6, 11
# one row, a non-divisor of N, N, more than N, the default rule
CHUNKS = [1, 7, N, 3 * N, None]
REDUCTIONS = ["none", "mean", "sum"]
OPTIONS = {
    "plain": dict(),
    "weight": dict(weight=True),
    "ignore": dict(ignore=True),
    "smoothing": dict(label_smoothing=0.2),
    "all": dict(weight=True, ignore=True, label_smoothing=0.1),
    "ignore_index_3": dict(ignore_index=3, label_smoothing=0.3),
}


def problem(rng, dtype, opts, bias, n=N, d=D, v=V):
    x = rng.standard_normal((n, d)).astype(dtype)
    w = rng.standard_normal((v, d)).astype(dtype)
    b = rng.standard_normal(v).astype(dtype) if bias else None
    t = rng.integers(0, v, n)
    kwargs = dict(reduction="mean", label_smoothing=opts.get("label_smoothing", 0.0))
    if opts.get("weight"):
        kwargs["weight"] = rng.random(v) + 0.5
    if opts.get("ignore"):
        t[::4] = -100
    if "ignore_index" in opts:
        kwargs["ignore_index"] = opts["ignore_index"]
    return x, w, b, t, kwargs


def reference(x, w, t, b, kwargs):
    value = ref.linear_cross_entropy(x, w, t, b, **kwargs)
    return value, ref.linear_cross_entropy_grad(x, w, t, b, **kwargs)


def check(got, expected, dtype, bias):
    loss, grads = got
    value, expected_grads = expected
    assert np.asarray(loss).dtype == dtype
    assert_close_products(loss, value, dtype)
    for g, e in zip(grads[:2], expected_grads[:2]):
        assert g.dtype == dtype
        assert_close_products(g, e, dtype)
    if bias:
        assert grads[2].dtype == dtype and grads[2].shape == (V,)
        assert_close_products(grads[2], expected_grads[2], dtype)
    else:
        assert grads[2] is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("opts", OPTIONS.values(), ids=OPTIONS.keys())
def test_against_the_reference(rng, dtype, reduction, bias, opts):
    x, w, b, t, kwargs = problem(rng, dtype, opts, bias)
    kwargs["reduction"] = reduction
    expected = reference(x, w, t, b, kwargs)
    for chunk_size in CHUNKS:
        for num_threads in (1, 2):
            options = dict(kwargs, chunk_size=chunk_size, num_threads=num_threads)
            value = fastloss.linear_cross_entropy(x, w, t, linear_bias=b, **options)
            assert_close_products(value, expected[0], dtype)
            loss_fn = fastloss.LinearCrossEntropyLoss(**options)
            assert_close_products(loss_fn(x, w, t, b), expected[0], dtype)
            check(loss_fn.value_and_grad(x, w, t, b), expected, dtype, bias)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_without_scipy_blas(rng, monkeypatch, dtype, reduction):
    """The weight's gradient summed by NumPy alone, a few classes at a time."""
    monkeypatch.setattr(_api, "_scipy_gemm", lambda dtype: None)
    monkeypatch.setattr(_api, "_ACCUMULATE_BYTES", 4 * D * np.dtype(dtype).itemsize)
    x, w, b, t, kwargs = problem(rng, dtype, OPTIONS["all"], True)
    kwargs["reduction"] = reduction
    expected = reference(x, w, t, b, kwargs)
    for chunk_size in (1, 7, 3 * N):
        loss_fn = fastloss.LinearCrossEntropyLoss(**kwargs, chunk_size=chunk_size)
        check(loss_fn.value_and_grad(x, w, t, b), expected, dtype, True)


@pytest.mark.parametrize("kind", ["F", "strided", "readonly", "byteswapped", "unaligned"])
def test_layouts(rng, kind):
    x, w, b, t, kwargs = problem(rng, np.float64, OPTIONS["weight"], True)
    expected = reference(x, w, t, b, kwargs)
    got = fastloss.LinearCrossEntropyLoss(**kwargs, chunk_size=7).value_and_grad(
        layout(x, kind), layout(w, kind), layout(t, kind), layout(b, kind))
    check(got, expected, np.float64, True)


def finite_difference(f, a, h=1e-6):
    g = np.zeros_like(a)
    flat = a.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        up = f()
        flat[k] = old - h
        down = f()
        flat[k] = old
        g.reshape(-1)[k] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradients_against_finite_differences(rng, reduction):
    x, w, b, t, kwargs = problem(rng, np.float64, OPTIONS["all"], True, n=9, d=4, v=5)
    kwargs["reduction"] = reduction

    def f():
        return float(np.sum(ref.linear_cross_entropy(x, w, t, b, **kwargs)))

    loss_fn = fastloss.LinearCrossEntropyLoss(**kwargs, chunk_size=4)
    _, grads = loss_fn.value_and_grad(x, w, t, b)
    for got, arr in zip(grads, (x, w, b)):
        np.testing.assert_allclose(got, finite_difference(f, arr), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.5])
def test_mean_with_every_target_ignored_is_nan(rng, label_smoothing):
    x, w, b, t, _ = problem(rng, np.float64, {}, True)
    t[:] = -100
    loss, (gx, gw, gb) = fastloss.LinearCrossEntropyLoss(
        label_smoothing=label_smoothing, chunk_size=7).value_and_grad(x, w, t, b)
    assert np.isnan(loss)
    # ignored rows are never read: their gradient is 0 whatever the scale
    assert not gx.any() and not gw.any() and not gb.any()


def test_empty_input(rng):
    x, w = np.zeros((0, D)), rng.standard_normal((V, D))
    assert np.isnan(fastloss.linear_cross_entropy(x, w, np.zeros(0, int)))
    loss, (gx, gw, gb) = fastloss.LinearCrossEntropyLoss(reduction="sum").value_and_grad(
        x, w, np.zeros(0, int), np.zeros(V))
    assert loss == 0.0 and gx.shape == (0, D) and gw.shape == (V, D)
    assert not gw.any() and not gb.any()


def test_default_chunk_rule():
    # 0.09 of the logits a block, within 32 to 64 MiB, a multiple of 16 rows
    # from 16 up, at least 1
    assert _api._linear_chunk(None, 10**6, 32_000, 4) == 512
    assert _api._linear_chunk(None, 4096, 32_000, 4) == 368
    assert _api._linear_chunk(None, 4096, 32_000, 8) == 256
    assert _api._linear_chunk(None, 1000, 32_000, 4) == 256        # 32 MiB
    assert _api._linear_chunk(None, 10**6, 128_000, 4) == 128
    assert _api._linear_chunk(None, 10**6, 1000, 8) == 8384
    assert _api._linear_chunk(None, 100, 1000, 8) == 100
    assert _api._linear_chunk(None, 10**6, 2**20, 4) == 16
    assert _api._linear_chunk(None, 10**6, 2**23, 8) == 1
    assert _api._linear_chunk(5, 10**6, 2**23, 8) == 5


def test_default_tile_rule():
    # class tiles where a row block would hold fewer than 128 rows (and fewer
    # than all of them): 1,024 rows a block, a default block's bytes a tile
    assert _api._linear_tiles(None, 1024, 128_000, 4) == (1024, 11520)
    assert _api._linear_tiles(None, 10**6, 128_000, 8) == (1024, 8192)
    assert _api._linear_tiles(None, 300, 2**20, 4) == (300, 55920)
    assert _api._linear_tiles(None, 10**6, 32_000, 4) is None       # 512-row blocks
    assert _api._linear_tiles(None, 4096, 32_000, 8) is None        # 256-row blocks
    assert _api._linear_tiles(None, 40, 128_000, 4) is None         # one block
    assert _api._linear_tiles(64, 1024, 128_000, 4) is None         # an explicit size
    assert _api._linear_tiles(None, 10**6, 2**23, 8) == (1024, 8192)


def tiled(monkeypatch, dtype, rows=7, width=16):
    """Make the default rule take blocks of ``rows`` rows and tiles of
    ``width`` classes (of V_TILED: three whole tiles and one of 2)."""
    itemsize = np.dtype(dtype).itemsize
    monkeypatch.setattr(_api, "_LINEAR_BLOCK_BYTES", rows * width * itemsize)
    monkeypatch.setattr(_api, "_LINEAR_TILE_ROWS", rows)


V_TILED = 50


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("opts", OPTIONS.values(), ids=OPTIONS.keys())
def test_class_tiles_against_the_reference(rng, monkeypatch, dtype, reduction, bias, opts):
    x, w, b, t, kwargs = problem(rng, dtype, opts, bias, v=V_TILED)
    kwargs["reduction"] = reduction
    expected = reference(x, w, t, b, kwargs)
    tiled(monkeypatch, dtype)
    assert _api._LinearProblem(x, w, t, b, None, -100, "sum", 0.0, None, None).tiles \
        == (7, 16)
    for num_threads in (1, 2):
        loss_fn = fastloss.LinearCrossEntropyLoss(**kwargs, num_threads=num_threads)
        assert_close_products(loss_fn(x, w, t, b), expected[0], dtype)
        loss, grads = loss_fn.value_and_grad(x, w, t, b)
        assert_close_products(loss, expected[0], dtype)
        for g, e in zip(grads, expected[1]):
            if e is None:
                assert g is None
            else:
                assert g.dtype == dtype and g.shape == e.shape
                assert_close_products(g, e, dtype)
    # the same as row blocks, within the rounding of the products
    blocks = fastloss.LinearCrossEntropyLoss(**kwargs, chunk_size=7)
    assert_close_products(loss, blocks(x, w, t, b), dtype)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_class_tiles_special_values(rng, monkeypatch, label_smoothing, weighted):
    """Rows with +inf, -inf and NaN logits (in one tile, in several, a whole
    tile or a whole row of -inf) get cross_entropy's values on the full
    logits, gradients included; ignored rows are 0 whatever they hold."""
    n, d = 10, 3
    x, w = rng.standard_normal((n, d)), rng.standard_normal((V_TILED, d))
    b = rng.standard_normal(V_TILED)
    t = rng.integers(0, V_TILED, n)
    w[:, 0] = np.where(np.arange(V_TILED) < 40, 1.0, -1.0) * (np.abs(w[:, 0]) + 0.1)
    w[:, 1] = np.abs(w[:, 1]) + 0.1
    x[1] = [np.inf, 0.0, 0.0]               # +inf in three tiles, -inf in one
    x[2, 2] = np.nan
    x[5] = [np.nan, np.inf, 0.0]            # ignored
    t[5] = -100
    t[[0, 3]] = [2, 45]                     # finite rows, their targets' logits finite
    x[7] = [0.0, -np.inf, 0.0]              # every logit -inf
    b[16:32] = -np.inf                      # a whole tile of -inf in every row
    weight = rng.random(V_TILED) + 0.5 if weighted else None
    if weighted:
        weight[17] = 0.0                    # 0 * -inf in the smoothing sum
    kwargs = dict(weight=weight, label_smoothing=label_smoothing)
    with np.errstate(invalid="ignore"):
        logits = x @ w.T + b
    expected = fastloss.cross_entropy(logits, t, reduction="none", **kwargs)
    _, g = fastloss.CrossEntropyLoss(reduction="sum", **kwargs).value_and_grad(logits, t)
    with np.errstate(invalid="ignore"):
        expected_gx, expected_gw = g @ w, g.T @ x
    tiled(monkeypatch, np.float64, rows=4)
    loss_fn = fastloss.LinearCrossEntropyLoss(**kwargs, reduction="none")
    assert loss_fn._problem(x, w, t, b).tiles == (4, 16)
    assert np.isnan(expected[[1, 2, 7]]).all() and expected[5] == 0.0
    # smoothing: the tile of -inf logits makes every other row's loss +inf,
    # NaN with the weight of 0 there
    finite = expected[[0, 3]]
    assert (np.isfinite(finite).all() if label_smoothing == 0.0
            else np.isnan(finite).all() if weighted else (finite == np.inf).all())
    np.testing.assert_allclose(loss_fn(x, w, t, b), expected, rtol=1e-12, atol=1e-12)
    _, (gx, gw, gb) = fastloss.LinearCrossEntropyLoss(
        **kwargs, reduction="sum").value_and_grad(x, w, t, b)
    np.testing.assert_allclose(gb, g.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, expected_gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, expected_gw, rtol=1e-12, atol=1e-12)
    assert not gx[5].any()


def test_logits_are_never_materialized(rng):
    """Traced allocations of a call: the inputs' gradients and one block's
    logits, far below the (N, V) logits."""
    n, d, v = 2000, 4, 1000
    x, w = rng.standard_normal((n, d)), rng.standard_normal((v, d))
    b, t = rng.standard_normal(v), rng.integers(0, v, n)
    loss_fn = fastloss.LinearCrossEntropyLoss(chunk_size=50)
    loss_fn.value_and_grad(x, w, t, b)              # the first call's imports
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        loss, grads = loss_fn.value_and_grad(x, w, t, b)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    outputs = sum(g.nbytes for g in grads)
    logits_bytes = n * v * 8
    assert peak - outputs < 0.05 * logits_bytes, (peak, outputs, logits_bytes)
    assert_close_products(loss, ref.linear_cross_entropy(x, w, t, b), np.float64)


def test_loss_object(rng):
    loss_fn = fastloss.LinearCrossEntropyLoss([1.0, 2.0], ignore_index=1, reduction="sum",
                                              label_smoothing=0.5, chunk_size=3,
                                              num_threads=1)
    assert repr(loss_fn) == (
        "LinearCrossEntropyLoss(weight=array([1., 2.]), ignore_index=1, reduction='sum', "
        "label_smoothing=0.5, chunk_size=3, num_threads=1)")
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    value, _ = loss_fn.value_and_grad(x, w, [0, 1, 0, 0])
    assert_close_products(value, ref.linear_cross_entropy(
        x, w, [0, 1, 0, 0], weight=[1.0, 2.0], ignore_index=1, reduction="sum",
        label_smoothing=0.5), np.float64)


def test_float16_and_integer_lists():
    """float16 is computed as float32 (as cross_entropy); Python lists as float64."""
    x16 = np.array([[1.0, 2.0]], np.float16)
    w16 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float16)
    got = fastloss.linear_cross_entropy(x16, w16, [1])
    assert got.dtype == np.float32
    assert_close_products(got, ref.linear_cross_entropy(x16, w16, [1]), np.float32)
    got = fastloss.linear_cross_entropy([[1, 2]], [[1, 0], [0, 1]], [1])
    assert got.dtype == np.float64


# ------------------------------------------------------------- refusals

def arrays(dtype=np.float64):
    return np.zeros((4, 3), dtype), np.zeros((5, 3), dtype), np.array([0, 1, 2, 4])


@pytest.mark.parametrize("change,error,match", [
    (dict(input=np.zeros(3)), ValueError,
     r"input: expected a 2-D array of shape \(n_samples, n_features\), got float64 array "
     r"of shape \(3,\)"),
    (dict(linear_weight=np.zeros((5, 2))), ValueError,
     r"linear_weight: expected shape \(n_classes, 3\), one row of the input's 3 features "
     r"per class \(input has shape \(4, 3\)\), got shape \(5, 2\)"),
    (dict(linear_weight=np.zeros(3)), ValueError,
     r"linear_weight: expected shape \(n_classes, 3\).* got shape \(3,\)"),
    (dict(linear_weight=np.zeros((5, 3), np.float32)), TypeError,
     r"linear_weight: expected the input's dtype float64, got float32 array of shape "
     r"\(5, 3\)"),
    (dict(linear_bias=np.zeros(4)), ValueError,
     r"linear_bias: expected shape \(5,\), one per class \(linear_weight has shape "
     r"\(5, 3\)\), got shape \(4,\)"),
    (dict(linear_bias=np.zeros(5, np.float32)), TypeError,
     r"linear_bias: expected the input's dtype float64, got float32 array of shape \(5,\)"),
    (dict(target=np.array([0, 1, 2])), ValueError,
     r"target: expected class indices of shape \(4,\), one per row of the input "
     r"\(shape \(4, 3\)\), got shape \(3,\)"),
    (dict(target=np.zeros((4, 5))), TypeError,
     r"target: expected integer class indices, got float64 array of shape \(4, 5\)"),
    (dict(weight=np.ones(4)), ValueError,
     r"weight: expected one weight per class, shape \(5,\), got shape \(4,\)"),
    (dict(input=np.zeros((4, 3), complex)), TypeError,
     r"input: expected a float32 or float64 array"),
    (dict(chunk_size=0), ValueError, r"chunk_size: expected a positive integer or None, got 0"),
    (dict(chunk_size=2.5), TypeError,
     r"chunk_size: expected a positive integer or None, got 2.5"),
    (dict(chunk_size=True), TypeError,
     r"chunk_size: expected a positive integer or None, got True"),
    (dict(reduction="avg"), ValueError, r"reduction: expected 'none', 'mean' or 'sum'"),
    (dict(label_smoothing=1.5), ValueError, r"label_smoothing: expected a float in \[0, 1\]"),
    (dict(num_threads=0), ValueError, r"num_threads: expected a positive integer"),
])
def test_refusals(change, error, match):
    x, w, t = arrays()
    args = dict(input=x, linear_weight=w, target=t)
    for name in ("input", "linear_weight", "target"):
        args[name] = change.pop(name, args[name])
    with pytest.raises(error, match=match):
        fastloss.linear_cross_entropy(args["input"], args["linear_weight"], args["target"],
                                      **change)


@pytest.mark.parametrize("bad,where", [(5, 3), (-1, 0), (-100 + 1, 2)])
def test_target_out_of_range_before_any_product(monkeypatch, bad, where):
    x, w, t = arrays()
    t[where] = bad

    def no_product(*args, **kwargs):
        raise AssertionError("a product ran before the targets were checked")

    monkeypatch.setattr(np, "matmul", no_product)
    message = (rf"target: class index {bad} at position \({where},\) is out of range for 5 "
               rf"classes \(expected 0 <= target < 5, or ignore_index=-100\)")
    with pytest.raises(IndexError, match=message):
        fastloss.linear_cross_entropy(x, w, t, chunk_size=1)
    with pytest.raises(IndexError, match=message):
        fastloss.LinearCrossEntropyLoss().value_and_grad(x, w, t)


def test_loss_object_refuses_bad_options():
    with pytest.raises(ValueError, match=r"chunk_size: expected a positive integer"):
        fastloss.LinearCrossEntropyLoss(chunk_size=-3)
    with pytest.raises(TypeError, match=r"weight: expected a real numeric array"):
        fastloss.LinearCrossEntropyLoss(np.ones(3, bool))
    with pytest.raises(ValueError, match=r"reduction: expected"):
        fastloss.LinearCrossEntropyLoss(reduction="max")
