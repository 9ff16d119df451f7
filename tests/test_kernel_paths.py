"""Every way the kernels walk an array, against the references.

The row kernels pick a path by the shape: rows in the lanes of a vector
(rows of up to four vectors of classes: 32 float32 or 16 float64 classes on
AVX2, half that on the baseline path), one row at a time (longer rows), or
rows cut into chunks (rows longer than two chunks, LIMITS["chunk"], and than
LIMITS["long_bytes"]).
The shapes here, built from the limits the kernels export (support.py), sit
on each side of every boundary, with groups of rows that are ragged, that
hold a special row (+inf, NaN, all -inf) among ordinary ones, and ignored
rows holding inf or NaN (never read). Elementwise losses run in blocks of
LIMITS["block_elems"] elements with operands that are one value,
contiguous, a row repeated (a weight per class) or anything else.
"""

import numpy as np
import pytest

import fastloss

import reference as ref
from support import (
    BLOCK,
    CHUNK,
    DTYPES,
    LIMITS,
    LONG,
    SMALL,
    assert_close,
    logits,
    probabilities,
)

inf, nan = np.inf, np.nan

LANES = LIMITS["lanes"]["float32"]
# long rows in either dtype, many of them
WIDE = LIMITS["long_bytes"] // 4 + 1000
# rows in lanes: a vector and more, up to and past the float64 and float32
# limits; one row at a time; long rows, in few rows or wide
SHAPES = sorted({(37, 1), (37, 2), (40, LANES - 1), (23, LANES), (41, LANES + 1),
                 (17, SMALL["float64"]), (33, SMALL["float64"] + 1), (9, SMALL["float32"] - 1),
                 (35, SMALL["float32"]), (18, SMALL["float32"] + 1), (12, 64), (10, 65),
                 (12, 100), (5, BLOCK + 1), (20, LONG + 1), (3, LONG + 1),
                 (2, 4 * CHUNK + 100), (17, WIDE)})


def with_specials(x):
    """Special rows among ordinary ones: +inf (row 1), NaN (2), all -inf (4),
    and a masked class (-inf) in row 5."""
    x = x.copy()
    n = x.shape[1]
    if x.shape[0] > 5:
        x[1, n // 2] = inf
        x[2, n - 1] = nan
        x[4, :] = -inf
        if n > 1:
            x[5, 0] = -inf
    return x


def shape_id(shape):
    return "x".join(map(str, shape))


def check_softmax_family(x, axis, dtype):
    """logsumexp, softmax and log_softmax over axis against the references,
    softmax and log_softmax also in place."""
    assert_close(fastloss.logsumexp(x, axis=axis), ref.logsumexp(x, axis=axis), dtype)
    for ours, theirs in [(fastloss.softmax, ref.softmax),
                         (fastloss.log_softmax, ref.log_softmax)]:
        expected = theirs(x, axis=axis)
        assert_close(ours(x, axis=axis), expected, dtype)
        inplace = x.copy()
        ours(inplace, axis=axis, out=inplace)
        assert_close(inplace, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("specials", [False, True])
def test_softmax_family(rng, dtype, shape, specials):
    x = logits(rng, shape, dtype)
    if specials:
        x = with_specials(x)
    check_softmax_family(x, -1, dtype)


def ce_inputs(rng, dtype, shape, kind):
    x = with_specials(logits(rng, shape, dtype))
    n_rows, n = shape
    if kind == "prob":
        return x, probabilities(rng, shape, -1, dtype)
    t = rng.integers(0, n, n_rows)
    t[::4] = -100                       # rows 0, 4 (all -inf), 8, ... are ignored
    if n_rows > 8:
        x[8, 0] = nan                   # ignored rows are never read
        x[12 % n_rows, -1] = inf
        t[12 % n_rows] = -100
    return x, t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("kind", ["index", "prob"])
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.2)])
def test_cross_entropy(rng, dtype, shape, kind, weighted, smoothing):
    x, t = ce_inputs(rng, dtype, shape, kind)
    opts = dict(weight=rng.random(shape[1]) + 0.5 if weighted else None,
                label_smoothing=smoothing)
    expected = ref.cross_entropy(x, t, reduction="none", **opts)
    loss_fn = fastloss.CrossEntropyLoss(reduction="none", **opts)
    assert_close(loss_fn(x, t), expected, dtype)
    g_out = rng.standard_normal(shape[0])
    assert_close(loss_fn.grad(x, t, grad_output=g_out),
                 ref.cross_entropy_grad(x, t, reduction="none", grad_output=g_out, **opts),
                 dtype)
    for reduction in ("mean", "sum"):
        loss_fn = fastloss.CrossEntropyLoss(reduction=reduction, **opts)
        inplace = x.copy()
        loss, grad = loss_fn.value_and_grad(inplace, t, out=inplace)
        assert_close(loss, ref.cross_entropy(x, t, reduction=reduction, **opts), dtype)
        assert_close(grad, ref.cross_entropy_grad(x, t, reduction=reduction, **opts), dtype)
        assert grad is inplace


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3, 7, 8, 9, 16, 17, 40, 100])
def test_nan_in_any_column_gives_nan(dtype, n):
    """A NaN in column j of row j (every column, in rows in lanes and one at a
    time) makes that row's logsumexp, log_softmax, softmax and loss NaN, and
    no other row's. (The vector max may drop a NaN; the exps keep it.)"""
    rng = np.random.default_rng(n)
    rows = max(n, 9)
    x = logits(rng, (rows, n), dtype)
    x[np.arange(n), np.arange(n)] = nan
    bad = np.arange(rows) < n
    t = rng.integers(0, n, rows)
    lse = fastloss.logsumexp(x, axis=1)
    loss, grad = fastloss.CrossEntropyLoss(reduction="none").value_and_grad(x, t)
    for rowwise in (lse, loss):
        np.testing.assert_array_equal(np.isnan(rowwise), bad)
    for full in (fastloss.log_softmax(x, axis=1), fastloss.softmax(x, axis=1), grad):
        np.testing.assert_array_equal(np.isnan(full).all(axis=1), bad)
        assert not np.isnan(full[~bad]).any()
    assert_close(lse[~bad], ref.logsumexp(x[~bad]), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("special", [nan, inf])
@pytest.mark.parametrize("shape", [(1, 3 * CHUNK), (40, 9), (3, 40)], ids=shape_id)
def test_special_among_minus_inf(dtype, special, shape):
    """A NaN or +inf followed by -inf in the same lanes (which the vector max
    can drop for the -inf) in a row whose other values are finite: the row
    is special for every function (found by review in the chunks of long
    rows: a chunk of NaN and -inf looked empty)."""
    x = np.zeros(shape, dtype)
    x[0, 0] = special
    x[0, 1:CHUNK] = -inf
    if special == inf:
        x[0, 16 % shape[1]] = nan
    t = np.zeros(shape[0], np.int64)
    expect_lse = ref.logsumexp(x)
    assert np.isnan(expect_lse[0])
    assert_close(fastloss.logsumexp(x), expect_lse, dtype)
    for full in (fastloss.log_softmax(x), fastloss.softmax(x)):
        assert np.isnan(full[0]).all() and not np.isnan(full[1:]).any()
    loss, grad = fastloss.CrossEntropyLoss(reduction="none").value_and_grad(x, t)
    assert np.isnan(loss[0]) and np.isnan(grad[0]).all()
    assert not np.isnan(loss[1:]).any() and not np.isnan(grad[1:]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 8), (40, 9), (35, 33), (3, LONG + 1), (17, WIDE)],
                         ids=shape_id)
def test_ignored_rows_of_a_group_are_never_read(dtype, shape):
    """A group of rows in lanes, or a row's chunks, where an ignored row holds
    NaN and inf: the other rows' results do not change, the ignored rows give 0."""
    rng = np.random.default_rng(5)
    x = logits(rng, shape, dtype)
    t = rng.integers(0, shape[1], shape[0])
    t[1] = -100
    clean = fastloss.CrossEntropyLoss(reduction="none").value_and_grad(x, t)
    x[1, :] = nan
    x[1, ::2] = inf
    dirty = fastloss.CrossEntropyLoss(reduction="none").value_and_grad(x, t)
    for a, b in zip(clean, dirty):
        np.testing.assert_array_equal(a, b)
    assert dirty[0][1] == 0 and not dirty[1][1].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1000, 10), (300, 33), (60, 100), (3, 4 * CHUNK + 100),
                                   (17, WIDE)], ids=shape_id)
def test_bitwise_the_same_for_any_thread_count(dtype, shape):
    rng = np.random.default_rng(11)
    x = logits(rng, shape, dtype)
    t = rng.integers(0, shape[1], shape[0])
    p = probabilities(rng, shape, -1, dtype)
    w = rng.random(shape[1]) + 0.5

    def run(n):
        out = [fastloss.logsumexp(x, num_threads=n), fastloss.softmax(x, num_threads=n),
               fastloss.log_softmax(x, num_threads=n)]
        for target in (t, p):
            loss_fn = fastloss.CrossEntropyLoss(w, label_smoothing=0.1, num_threads=n)
            out.extend(loss_fn.value_and_grad(x, target))
        return out

    first = run(1)
    for n in (2, 3):
        for a, b in zip(first, run(n)):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------- elementwise losses

BINARY_SHAPES = [(1,), (7,), (BLOCK - 1,), (BLOCK,), (BLOCK + 1,), (3, 1000), (700, 10),
                 (2, 3000)]


def operands(rng, shape, dtype):
    """weight and pos_weight of each kind the kernel reads differently."""
    n_cols = shape[-1]
    return {
        "none": (None, None),
        "scalar": (np.array(0.7, dtype), np.array(1.5, dtype)),
        "per-class": (rng.random(n_cols) + 0.5, rng.random(n_cols) + 0.5),
        "contiguous": (rng.random(shape) + 0.5, rng.random(shape) + 0.5),
        "per-row": (rng.random(shape[:-1] + (1,)) + 0.5, rng.random(n_cols) + 0.5),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BINARY_SHAPES, ids=shape_id)
@pytest.mark.parametrize("kind", ["none", "scalar", "per-class", "contiguous", "per-row"])
def test_binary_losses(rng, dtype, shape, kind):
    x = logits(rng, shape, dtype, scale=6.0)
    t = rng.random(shape).astype(dtype)
    t.reshape(-1)[::3] = 1.0
    t.reshape(-1)[1::3] = 0.0
    w, pw = operands(rng, shape, dtype)[kind]
    g_out = rng.standard_normal(shape)
    loss_fn = fastloss.BCEWithLogitsLoss(w, pos_weight=pw, reduction="none")
    assert_close(loss_fn(x, t), ref.binary_cross_entropy_with_logits(
        x, t, w, pw, reduction="none"), dtype)
    assert_close(loss_fn.grad(x, t, grad_output=g_out),
                 ref.binary_cross_entropy_with_logits_grad(
                     x, t, w, pw, reduction="none", grad_output=g_out), dtype)
    loss, grad = fastloss.BCEWithLogitsLoss(w, pos_weight=pw).value_and_grad(x, t)
    assert_close(loss, ref.binary_cross_entropy_with_logits(x, t, w, pw), dtype)
    assert_close(grad, ref.binary_cross_entropy_with_logits_grad(x, t, w, pw), dtype)

    p = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(dtype)
    loss, grad = fastloss.BCELoss(w, reduction="sum").value_and_grad(p, t)
    assert_close(loss, ref.binary_cross_entropy(p, t, w, reduction="sum"), dtype)
    assert_close(grad, ref.binary_cross_entropy_grad(p, t, w, reduction="sum"), dtype)
    loss, grad = fastloss.MSELoss().value_and_grad(x, t)
    assert_close(loss, ref.mse_loss(x, t), dtype)
    assert_close(grad, ref.mse_loss_grad(x, t), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_keeps_small_losses_accurate(dtype):
    """Far from the decision boundary the loss is about exp(-|x|): it must not
    cancel to 0 (x < 0, t = 0) nor lose its digits (x > 0, t = 1)."""
    x = np.array([-30.0, -20.0, -5.0, 5.0, 20.0, 30.0], dtype)
    t = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype)
    loss, grad = fastloss.BCEWithLogitsLoss(reduction="none").value_and_grad(x, t)
    exact = np.log1p(np.exp(-np.abs(x.astype(np.float64))))    # softplus(-|x|)
    np.testing.assert_allclose(loss, exact, rtol=4 * np.finfo(dtype).eps)
    sig = np.exp(-np.abs(x.astype(np.float64))) / (1 + np.exp(-np.abs(x.astype(np.float64))))
    np.testing.assert_allclose(np.abs(grad), sig, rtol=4 * np.finfo(dtype).eps)


# ------------------------------------------------------------ inner class axis

# (N, C, d) with the class axis 1: rows (o, i) in lanes along d
INNER_SHAPES = [(3, 1, 5), (2, 4, 7), (3, 10, 8), (2, 17, 9), (2, 5, 37), (1, 100, 3),
                (2, 300, 20), (4, 3, 1000)]


def inner_specials(x):
    """Special rows (o, :, i) among ordinary ones: +inf, NaN, all -inf, a
    masked class."""
    x = x.copy()
    n_out, n, d = x.shape
    if d > 4:
        x[0, n // 2, 1] = inf
        x[0, n - 1, 2] = nan
        x[-1, :, 3] = -inf
        if n > 1:
            x[-1, 0, 4] = -inf
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", INNER_SHAPES, ids=shape_id)
@pytest.mark.parametrize("specials", [False, True])
def test_inner_axis_softmax_family(rng, dtype, shape, specials):
    x = logits(rng, shape, dtype)
    if specials:
        x = inner_specials(x)
    check_softmax_family(x, 1, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", INNER_SHAPES, ids=shape_id)
@pytest.mark.parametrize("kind", ["index", "prob"])
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.2)])
def test_inner_axis_cross_entropy(rng, dtype, shape, kind, weighted, smoothing):
    x = inner_specials(logits(rng, shape, dtype))
    n_out, n, d = shape
    if kind == "prob":
        t = probabilities(rng, shape, 1, dtype)
    else:
        t = rng.integers(0, n, (n_out, d))
        t[:, ::3] = -100
        if d > 6:
            x[0, :, 6] = nan                    # an ignored row is never read
            t[0, 6] = -100
    opts = dict(weight=rng.random(n) + 0.5 if weighted else None, label_smoothing=smoothing,
                axis=1)
    g_out = rng.standard_normal((n_out, d))
    loss_fn = fastloss.CrossEntropyLoss(reduction="none", **opts)
    assert_close(loss_fn(x, t), ref.cross_entropy(x, t, reduction="none", **opts), dtype)
    assert_close(loss_fn.grad(x, t, grad_output=g_out),
                 ref.cross_entropy_grad(x, t, reduction="none", grad_output=g_out, **opts),
                 dtype)
    inplace = x.copy()
    loss, grad = fastloss.CrossEntropyLoss(**opts).value_and_grad(inplace, t, out=inplace)
    assert_close(loss, ref.cross_entropy(x, t, **opts), dtype)
    assert_close(grad, ref.cross_entropy_grad(x, t, **opts), dtype)


# ---------------------------------------------- a row's value, wherever it sits

def row_results(x, t, dtype):
    """Every per-row result of the rows of x (targets t): the softmax family,
    per-row losses, and gradients of "sum" (which do not depend on the other
    rows)."""
    ce = fastloss.CrossEntropyLoss(reduction="sum", label_smoothing=0.1)
    per_column = np.linspace(0.5, 2.0, x.shape[1]).astype(dtype)   # NaN x NaN: x and t
    return [fastloss.logsumexp(x), fastloss.softmax(x), fastloss.log_softmax(x),
            fastloss.cross_entropy(x, t, reduction="none"), ce.grad(x, t),
            fastloss.nll_loss(x, t, reduction="none"),
            fastloss.binary_cross_entropy_with_logits(x, np.abs(np.tanh(x)), reduction="none"),
            fastloss.BCEWithLogitsLoss(weight=per_column, pos_weight=per_column[::-1],
                                       reduction="none").value_and_grad(x, np.abs(np.tanh(x)))[1]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 5), (37, 10), (19, 33), (21, 100), (45, 3),
                                   (3, LONG + 1), (20, LONG + 1), (3, WIDE)], ids=shape_id)
def test_a_rows_value_does_not_depend_on_where_it_sits(dtype, shape):
    """Rows computed in slices of any length give the bits of the whole call:
    a partial group of rows in lanes is computed as a full one, a special row
    does not change its neighbours, whether a row is long depends on its
    length alone (fastloss.dask's blocks, e.g. softmax of 5 x 5 chunked
    ((1, 4), (5,)), differed in row 4 by an ulp), and a row whose exps go
    with its neighbour's (fl_vsumexp2_) has the bits it has alone."""
    rng = np.random.default_rng(3)
    x = with_specials(logits(rng, shape, dtype))
    t = rng.integers(0, shape[1], shape[0])
    whole = row_results(x, t, dtype)
    for cuts in ([1], [shape[0] - 1], sorted(rng.choice(np.arange(1, shape[0]), 3))):
        bounds = [0, *cuts, shape[0]]
        parts = [row_results(x[a:b], t[a:b], dtype) for a, b in zip(bounds, bounds[1:]) if b > a]
        for k, full in enumerate(whole):
            pieces = np.concatenate([p[k] for p in parts])
            assert pieces.tobytes() == full.tobytes(), (k, cuts)


def placed(a, offset):
    """A copy of a whose data starts offset elements past a 64-byte boundary."""
    buf = np.empty(a.size + 64, a.dtype)
    skip = (-buf.ctypes.data % 64) // a.itemsize + offset
    out = buf[skip:skip + a.size].reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [100, 1000, LONG + 1])
def test_a_rows_value_does_not_depend_on_its_address(dtype, n):
    """The bits of a row do not depend on where its input and output lie:
    the passes over a row group its lanes by index, not by address (on the
    avx512 path too, whose 64-byte vectors start 16 bytes past a cache line
    in NumPy's arrays)."""
    rng = np.random.default_rng(4)
    x = logits(rng, (3, n), dtype)
    first = None
    for offset in range(0, 64 // x.itemsize + 1):
        xs, out, lout = placed(x, offset), placed(x, (3 * offset) % 16), placed(x, offset // 2)
        fastloss.softmax(xs, out=out)
        fastloss.log_softmax(xs, out=lout)
        got = [out.tobytes(), lout.tobytes(), fastloss.logsumexp(xs).tobytes()]
        first = first or got
        assert got == first, offset


def tail_calls(x, t, dtype):
    """The row kernels' calls whose exps run over a row's last, partial vector
    (reduction "sum": NumPy clears the flags in the arithmetic of a "mean"
    after the kernel)."""
    n = x.shape[1]
    a = np.abs(np.sin(x))
    p = a / a.sum(axis=1, keepdims=True)                               # of x's dtype
    b = np.tile((np.arange(n) % 3).astype(dtype), (x.shape[0], 1))   # a zero weight in three
    return [lambda: fastloss.logsumexp(x), lambda: fastloss.softmax(x),
            lambda: fastloss.log_softmax(x),
            lambda: fastloss.cross_entropy(x, t, label_smoothing=0.1, reduction="sum"),
            lambda: fastloss.CrossEntropyLoss(reduction="sum").value_and_grad(x, t),
            lambda: fastloss.CrossEntropyLoss(reduction="sum").value_and_grad(x, p),
            lambda: fastloss.logsumexp(x, b=b)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [SMALL["float32"] + 3, 100, 101])
def test_row_tails_raise_no_underflow(dtype, n):
    """The lanes past a row's end in its last vector are not taken as exp(-inf)
    (they were: exp underflows there, and on Intel cores every instruction
    whose result underflows costs a microcode assist, so float32 rows of 100
    classes ran at half the speed of rows of 96 or 104). Nothing in these
    rows underflows, so the calling thread's underflow flag stays clear; a
    row whose exps do underflow sets it, so the flag is read."""
    kernels = fastloss._kernels.kernels
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, n)).astype(dtype)          # one thread: the caller's
    t = rng.integers(0, n, 6)
    low = x.copy()
    low[:, 1] -= 1000.0                                    # exp(-1000 - ...) underflows
    for k, (call, check) in enumerate(zip(tail_calls(x, t, dtype), tail_calls(low, t, dtype))):
        kernels.underflow_raised(clear=True)
        call()
        assert not kernels.underflow_raised(clear=True), k
        check()
        assert kernels.underflow_raised(clear=True), k
