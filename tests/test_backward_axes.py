"""softmax_backward and log_softmax_backward; the softmax family over a
tuple of axes; logsumexp with SciPy's ``b`` and ``return_sign``;
``value_and_grad(grad_output=...)`` of every loss object; ``dim=`` refused by
fastloss.dask (issue 14, "what PyTorch users reach for next")."""

import inspect

import numpy as np
import pytest

import fastloss
from fastloss._kernels import LIMITS

import reference as ref
from support import (
    BLOCK,
    DTYPES,
    LAYOUTS,
    LONG,
    PARALLEL_MIN,
    SMALL,
    THREADS,
    assert_close,
    layout,
    logits,
    tol,
)

BACKWARD = [
    (fastloss.softmax_backward, ref.softmax_backward, ref.softmax),
    (fastloss.log_softmax_backward, ref.log_softmax_backward, ref.log_softmax),
]
IDS = ["softmax", "log_softmax"]
# float32 rows this long are cut into chunks (fl_long_rows: longer than two
# chunks and than long_bytes)
LONG_ROW = max(LONG, LIMITS["long_bytes"] // 4) + 3


def saved(rng, shape, axis, forward, dtype):
    """(grad_output, output) of a forward call at ``axis``, in ``dtype``."""
    x = logits(rng, shape)
    return (rng.standard_normal(shape).astype(dtype),
            forward(x, axis=axis).astype(dtype))


# ------------------------------------------------------------- backward

# rows in lanes and not, a block's end, an inner class axis, long rows
SHAPES_AXES = [
    ((7, 3), -1), ((33, SMALL["float32"]), -1), ((5, SMALL["float32"] + 1), -1),
    ((21, SMALL["float64"]), -1), ((17, 5), -1), ((3, 9), -1),
    ((BLOCK // 10 + 3, 10), -1), ((3, 1000), -1), ((2, LONG + 3), -1),
    ((6, 5, 9), 1), ((4, 3, 40), 0), ((5, 4, 3), None), ((1, 1), -1), ((0, 4), -1),
    ((4, 0), -1), ((3,), 0),
]


@pytest.mark.parametrize("fn,reference,forward", BACKWARD, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_backward_matches_reference(rng, fn, reference, forward, dtype, shape, axis):
    g, y = saved(rng, shape, axis, forward, dtype)
    got = fn(g, y, axis=axis)
    assert got.dtype == dtype and got.shape == y.shape
    assert_close(got, reference(g, y, axis=axis), dtype)


@pytest.mark.parametrize("fn,reference,forward", BACKWARD, ids=IDS)
@pytest.mark.parametrize("kind", LAYOUTS)
def test_backward_layouts(rng, fn, reference, forward, kind):
    g, y = saved(rng, (9, 6), -1, forward, np.float32)
    want = reference(g, y)
    assert_close(fn(layout(g, kind), y), want, np.float32)
    assert_close(fn(g, layout(y, kind)), want, np.float32)


def test_backward_is_the_vjp_of_the_forward():
    """Central finite differences of sum(g * f(x)) in float64: independent of
    the closed forms."""
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    for forward, backward in ((fastloss.softmax, fastloss.softmax_backward),
                              (fastloss.log_softmax, fastloss.log_softmax_backward)):
        h, fd = 1e-6, np.empty_like(x)
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = h
            fd[i] = (np.sum(g * forward(x + e)) - np.sum(g * forward(x - e))) / (2 * h)
        np.testing.assert_allclose(backward(g, forward(x)), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("fn,reference,forward", BACKWARD, ids=IDS)
@pytest.mark.parametrize("shape,axis", [((PARALLEL_MIN // 8, 16), -1), ((3, LONG + 5), -1),
                                        ((2, LONG_ROW), -1), ((40, 30, 75), 1)])
def test_backward_threads_same_bits(rng, fn, reference, forward, shape, axis):
    g, y = saved(rng, shape, axis, forward, np.float32)
    one = fn(g, y, axis=axis, num_threads=1)
    for k in THREADS[1:]:
        assert fn(g, y, axis=axis, num_threads=k).tobytes() == one.tobytes()
    assert_close(one, reference(g, y, axis=axis), np.float32)


@pytest.mark.parametrize("fn,reference,forward", BACKWARD, ids=IDS)
@pytest.mark.parametrize("axis", [-1, 0, (0, 2)])
def test_backward_out_and_in_place(rng, fn, reference, forward, axis):
    g, y = saved(rng, (4, 6, 5), axis, forward, np.float64)
    want = reference(g, y, axis=axis)
    out = np.empty_like(y)
    assert fn(g, y, axis=axis, out=out) is out
    assert_close(out, want, np.float64)
    for which in ("g", "y"):
        g2, y2 = g.copy(), y.copy()
        target = g2 if which == "g" else y2
        assert fn(g2, y2, axis=axis, out=target) is target
        assert_close(target, want, np.float64)
    swapped = np.empty(y.shape, y.dtype.newbyteorder())
    fn(g, y, axis=axis, out=swapped)
    assert_close(swapped, want, np.float64)


def test_backward_special_values():
    y = np.array([[0.5, 0.5], [0.25, 0.75], [0.1, 0.9]])
    g = np.array([[np.nan, 1.0], [1.0, 2.0], [np.inf, 0.0]])
    got = fastloss.softmax_backward(g, y)
    assert np.isnan(got[0]).all()                      # a NaN reaches its row only
    assert_close(got[1], ref.softmax_backward(g[1:2], y[1:2])[0], np.float64)
    with np.errstate(invalid="ignore"):
        assert_close(got, ref.softmax_backward(g, y), np.float64)
    # log_softmax's output is <= 0; any other value takes exp's other branch
    logp = np.array([[-np.inf, 0.0], [3.0, -1.0], [800.0, -800.0]])
    g = np.ones((3, 2))
    with np.errstate(over="ignore", invalid="ignore"):
        want = ref.log_softmax_backward(g, logp)
    assert_close(fastloss.log_softmax_backward(g, logp), want, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [7, 40])
def test_log_softmax_backward_element_ignores_its_neighbours(rng, dtype, n):
    """An element's result does not depend on whether another element of its
    vector is above 0 (not a log-probability; the C library's exp was once
    taken for the whole vector then): only that element's result changes
    when it is made positive (the row sum is of g alone)."""
    g = rng.standard_normal((3, n)).astype(dtype)
    y = -rng.random((3, n)).astype(dtype)
    base = fastloss.log_softmax_backward(g, y)
    for j in (0, n // 2, n - 1):
        up = y.copy()
        up[:, j] = 0.75
        got = fastloss.log_softmax_backward(g, up)
        keep = np.arange(n) != j
        assert got[:, keep].tobytes() == base[:, keep].tobytes()
        assert_close(got, ref.log_softmax_backward(g, up), dtype)


def test_backward_refusals():
    g, y = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"grad_output, output: expected the same shape, "
                                         r"got \(2, 3\) \(grad_output\) and \(3, 2\)"):
        fastloss.softmax_backward(g, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="grad_output, output: expected the same dtype, "
                                        r"got float32 \(grad_output\) and float64"):
        fastloss.log_softmax_backward(g.astype(np.float32), y)
    with pytest.raises(TypeError, match="output"):
        fastloss.softmax_backward(g, y.astype(np.int64))
    with pytest.raises(TypeError, match=r"dim: not a fastloss parameter.*use axis="):
        fastloss.softmax_backward(g, y, dim=1)
    out = np.full((2, 3), 7.0)
    for bad in (np.zeros((3, 2)), np.zeros((2, 3), np.float32)):
        with pytest.raises((TypeError, ValueError), match="out"):
            fastloss.softmax_backward(g, y, out=bad)
    with pytest.raises(ValueError, match="shape"):
        fastloss.softmax_backward(g, np.zeros((3, 2)), out=out)
    assert (out == 7.0).all()                          # nothing written on error
    assert "dim" not in inspect.signature(fastloss.softmax_backward).parameters


# ------------------------------------------------------- tuple axes

AXES = [(0, 2), (-1, 0), (1, 2), (0, 1, 2), (), (1,), None, (2, 0, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", AXES)
def test_tuple_axes(rng, dtype, axis):
    x = logits(rng, (4, 5, 6), dtype)
    assert_close(fastloss.softmax(x, axis=axis), ref.softmax(x, axis=axis), dtype)
    assert_close(fastloss.log_softmax(x, axis=axis), ref.log_softmax(x, axis=axis), dtype)
    for keepdims in (False, True):
        got = fastloss.logsumexp(x, axis=axis, keepdims=keepdims)
        want = ref.logsumexp(x, axis=axis, keepdims=keepdims)
        assert np.shape(got) == want.shape
        assert_close(got, want, dtype)
    for fn, reference, forward in BACKWARD:
        g, y = saved(rng, x.shape, axis, forward, dtype)
        assert_close(fn(g, y, axis=axis), reference(g, y, axis=axis), dtype)


def test_tuple_axes_like_scipy(rng):
    special = pytest.importorskip("scipy.special")
    x = logits(rng, (3, 4, 5, 2))
    for axis in [(0, 2), (1, 3), (0, 1, 3), None, (-1, -3)]:
        np.testing.assert_allclose(fastloss.softmax(x, axis=axis),
                                   special.softmax(x, axis=axis), **tol(np.float64))
        np.testing.assert_allclose(fastloss.log_softmax(x, axis=axis),
                                   special.log_softmax(x, axis=axis), **tol(np.float64))
        np.testing.assert_allclose(fastloss.logsumexp(x, axis=axis),
                                   special.logsumexp(x, axis=axis), **tol(np.float64))


@pytest.mark.parametrize("axis", [(0, 2), (1, 2)])
def test_tuple_axes_out(rng, axis):
    x = logits(rng, (3, 4, 5))
    out = np.empty_like(x)
    assert fastloss.softmax(x, axis=axis, out=out) is out
    assert_close(out, ref.softmax(x, axis=axis), np.float64)
    x2 = x.copy()
    fastloss.log_softmax(x2, axis=axis, out=x2)          # in place
    assert_close(x2, ref.log_softmax(x, axis=axis), np.float64)
    got = fastloss.softmax(x, axis=axis)
    assert got.flags.c_contiguous and got.shape == x.shape
    lse = np.empty(4 if axis == (0, 2) else 3)
    assert fastloss.logsumexp(x, axis=axis, out=lse) is lse
    assert_close(lse, ref.logsumexp(x, axis=axis), np.float64)


def test_tuple_axes_refusals():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"axis: expected distinct axes, got \(0, -3\)"):
        fastloss.softmax(x, axis=(0, -3))
    with pytest.raises(np.exceptions.AxisError):
        fastloss.logsumexp(x, axis=(0, 3))
    with pytest.raises(TypeError, match="axis"):
        fastloss.log_softmax(x, axis=(0, 1.5))
    out = np.full((2, 3, 4), 7.0)
    with pytest.raises(ValueError, match="out"):
        fastloss.softmax(x, axis=(0, 2), out=np.zeros((4, 3, 2)))
    with pytest.raises(TypeError, match="out"):
        fastloss.softmax(x, axis=(0, 2), out=out.astype(np.float32))
    assert (out == 7.0).all()


# --------------------------------------------- logsumexp's b and return_sign

def test_b_like_scipy(rng):
    special = pytest.importorskip("scipy.special")
    x = logits(rng, (6, 7, 3))
    cases = [
        (rng.random((6, 7, 3)) + 0.1, -1),                 # positive weights
        (rng.standard_normal((6, 7, 3)), -1),              # both signs
        (rng.standard_normal(3), 0),                       # broadcast
        (rng.standard_normal((2, 1, 7, 1)), (1, 3)),      # more dimensions than x
        (rng.standard_normal((6, 1, 3)), None),
        (rng.standard_normal((6, 7, 3)), (0, 2)),
    ]
    for b, axis in cases:
        for keepdims in (False, True):
            want, want_sign = special.logsumexp(x, axis=axis, b=b, keepdims=keepdims,
                                                return_sign=True)
            got, sign = fastloss.logsumexp(x, axis=axis, b=b, keepdims=keepdims,
                                           return_sign=True)
            assert np.shape(got) == np.shape(want) and np.shape(sign) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
            np.testing.assert_array_equal(sign, want_sign)
            with np.errstate(invalid="ignore"):
                plain = special.logsumexp(x, axis=axis, b=b, keepdims=keepdims)
            np.testing.assert_allclose(fastloss.logsumexp(x, axis=axis, b=b,
                                                          keepdims=keepdims),
                                       plain, rtol=1e-10, atol=1e-10, equal_nan=True)
            assert_close(got, ref.weighted_logsumexp(x, b, axis, keepdims, True)[0],
                         np.float64)


def test_b_special_values_like_scipy():
    special = pytest.importorskip("scipy.special")
    inf, nan = np.inf, np.nan
    x = np.array([[inf, 1.0, 2.0], [nan, 0.0, 1.0], [inf, inf, 0.0], [inf, inf, 0.0],
                  [-inf, -inf, -inf], [0.0, 0.0, 5.0], [0.0, 0.0, 1.0], [0.0, 1.0, 2.0]])
    b = np.array([[0.0, 1.0, 1.0], [0.0, -1.0, 1.0], [1.0, 1.0, 1.0], [1.0, -1.0, 1.0],
                  [1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [2.0, -2.0, 0.0], [1.0, nan, 1.0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        want, want_sign = special.logsumexp(x, axis=-1, b=b, return_sign=True)
        plain = special.logsumexp(x, axis=-1, b=b)
    got, sign = fastloss.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(sign, want_sign)
    np.testing.assert_allclose(fastloss.logsumexp(x, b=b), plain, rtol=1e-12, equal_nan=True)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        assert_close(got, ref.weighted_logsumexp(x, b, return_sign=True)[0], np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (BLOCK // 7 + 5, 7), (3, 1000), (PARALLEL_MIN // 4, 8)])
def test_b_matches_reference(rng, dtype, shape):
    x = logits(rng, shape, dtype)
    b = (rng.random(shape) + 0.01).astype(dtype)
    b[:, ::3] = 0
    x[::4, ::3] = np.inf                                # weight 0: adds nothing
    got = fastloss.logsumexp(x, b=b)
    assert got.dtype == dtype
    with np.errstate(invalid="ignore"):
        assert_close(got, ref.weighted_logsumexp(x, b), dtype)
    # both signs: |log s| is ill-conditioned where s nearly cancels; compare
    # with the tolerance scaled by sum |b exp(x - m)| / |s|
    b = rng.standard_normal(shape).astype(dtype)
    got, sign = fastloss.logsumexp(x, b=b, return_sign=True, num_threads=1)
    value, want_sign = ref.weighted_logsumexp(np.where(np.isinf(x), 0, x), b,
                                              return_sign=True)
    got, sign = fastloss.logsumexp(np.where(np.isinf(x), 0, x).astype(dtype), b=b,
                                   return_sign=True, num_threads=1)
    x64 = np.where(np.isinf(x), 0, x).astype(np.float64)
    m = x64.max(axis=-1, keepdims=True)
    terms = b.astype(np.float64) * np.exp(x64 - m)
    cond = np.abs(terms).sum(axis=-1) / np.abs(terms.sum(axis=-1))
    err = np.abs(got.astype(np.float64) - value)
    assert (err <= tol(dtype)["atol"] + 4 * tol(dtype)["rtol"] * cond * (1 + np.abs(value))
            ).all()
    sure = cond < 1e3
    np.testing.assert_array_equal(sign[sure], want_sign[sure])
    for k in THREADS[1:]:
        again = fastloss.logsumexp(np.where(np.isinf(x), 0, x).astype(dtype), b=b,
                                   return_sign=True, num_threads=k)
        assert again[0].tobytes() == got.tobytes() and again[1].tobytes() == sign.tobytes()


def test_return_sign_without_b():
    x = np.array([[0.0, 0.0], [-np.inf, -np.inf], [np.nan, 1.0], [np.inf, 0.0]])
    value, sign = fastloss.logsumexp(x, return_sign=True)
    assert_close(value, ref.logsumexp(x), np.float64)
    np.testing.assert_array_equal(sign, [1.0, 0.0, np.nan, 1.0])
    v, s = fastloss.logsumexp([1.0, 2.0], return_sign=True)
    assert isinstance(v, np.float64) and s == 1.0


def test_b_negative_sum_is_nan_and_empty_is_minus_inf():
    assert np.isnan(fastloss.logsumexp([0.0, 1.0], b=[1.0, -1.0]))
    value, sign = fastloss.logsumexp([0.0, 1.0], b=[1.0, -1.0], return_sign=True)
    assert sign == -1.0 and value == pytest.approx(np.log(np.e - 1))
    value, sign = fastloss.logsumexp(np.zeros((2, 0)), b=np.ones((2, 0)), return_sign=True)
    np.testing.assert_array_equal(value, [-np.inf, -np.inf])
    np.testing.assert_array_equal(sign, [0.0, 0.0])
    value, sign = fastloss.logsumexp([1.0, 2.0], b=[0.0, 0.0], return_sign=True)
    assert value == -np.inf and sign == 0.0


def test_b_refusals():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"b: expected an array broadcastable against x's "
                                         r"shape \(2, 3\), got shape \(2,\)"):
        fastloss.logsumexp(x, b=[1.0, 2.0])
    with pytest.raises(TypeError, match="b: expected a real numeric array"):
        fastloss.logsumexp(x, b=np.ones(3, complex))
    out = np.full(2, 7.0)
    with pytest.raises(ValueError, match="out"):
        fastloss.logsumexp(x, b=np.ones(3), out=np.zeros(3))
    with pytest.raises(ValueError, match="b"):
        fastloss.logsumexp(x, b=np.ones(4), out=out)
    assert (out == 7.0).all()
    got = fastloss.logsumexp(x, b=np.ones(3), out=out)
    assert got is out and np.allclose(out, np.log(3.0))


# ------------------------------------------- value_and_grad(grad_output=...)

def loss_cases(rng):
    x = logits(rng, (6, 4))
    x3 = logits(rng, (3, 4, 5))
    y = rng.integers(0, 4, 6)
    y3 = rng.integers(0, 4, (3, 5))
    p = ref.softmax(logits(rng, (6, 4)))
    t = rng.random((6, 4))
    s = np.clip(ref._sigmoid(x), 0.01, 0.99)
    w = rng.random(4) + 0.5
    lsm = ref.log_softmax(x)
    for red in ("mean", "sum", "none"):
        yield fastloss.CrossEntropyLoss(reduction=red), x, y
        yield fastloss.CrossEntropyLoss(w, reduction=red, label_smoothing=0.1), x, y
        yield fastloss.CrossEntropyLoss(reduction=red, num_threads=2), x, p
        yield fastloss.CrossEntropyLoss(reduction=red, axis=1), x3, y3
        yield fastloss.NLLLoss(reduction=red), lsm, y
        yield fastloss.NLLLoss(w, reduction=red, num_threads=1), lsm, y
        yield fastloss.BCEWithLogitsLoss(reduction=red), x, t
        yield fastloss.BCEWithLogitsLoss(pos_weight=w, reduction=red), x, t
        yield fastloss.BCELoss(reduction=red), s, t
        yield fastloss.MSELoss(reduction=red), x, t
        yield fastloss.MSELoss(reduction=red, num_threads=1), x.astype(np.float32), \
            t.astype(np.float32)


def test_value_and_grad_takes_grad_output(rng):
    n = 0
    for loss_fn, x, target in loss_cases(rng):
        value = loss_fn(x, target)
        shape = np.shape(value)
        outputs = [2.5, -0.75]
        if loss_fn.reduction == "none":
            outputs.append(rng.standard_normal(shape))
            outputs.append(rng.standard_normal(shape[-1:]))       # broadcast
        for g in outputs:
            v, grad = loss_fn.value_and_grad(x, target, grad_output=g)
            assert np.asarray(v).tobytes() == np.asarray(value).tobytes(), loss_fn
            assert grad.tobytes() == loss_fn.grad(x, target, grad_output=g).tobytes(), loss_fn
            out = np.empty_like(grad)
            assert loss_fn.value_and_grad(x, target, grad_output=g, out=out)[1] is out
            assert out.tobytes() == grad.tobytes()
            n += 1
        # the default is grad's default
        assert loss_fn.value_and_grad(x, target)[1].tobytes() == \
            loss_fn.grad(x, target).tobytes()
    assert n > 60


def test_value_and_grad_grad_output_matches_reference(rng):
    x, y = logits(rng, (8, 5)), rng.integers(0, 5, 8)
    g = rng.standard_normal(8)
    _, grad = fastloss.CrossEntropyLoss(reduction="none").value_and_grad(x, y, grad_output=g)
    assert_close(grad, ref.cross_entropy_grad(x, y, reduction="none", grad_output=g),
                 np.float64)
    _, grad = fastloss.NLLLoss().value_and_grad(x, y, grad_output=3.0)
    assert_close(grad, ref.nll_loss_grad(x, y, grad_output=3.0), np.float64)


def test_value_and_grad_grad_output_refusals():
    x, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match="grad_output: expected a real scalar for "
                                         "reduction='mean'"):
        fastloss.CrossEntropyLoss().value_and_grad(x, y, grad_output=[1.0, 2.0])
    with pytest.raises(ValueError, match="grad_output: expected an array broadcastable"):
        fastloss.MSELoss(reduction="none").value_and_grad(x, x, grad_output=np.ones(4))
    out = np.full((2, 3), 7.0)
    with pytest.raises(ValueError, match="grad_output"):
        fastloss.BCELoss().value_and_grad(x, x, grad_output="a", out=out)
    assert (out == 7.0).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_linear_value_and_grad_grad_output(rng, reduction):
    x, w, b = logits(rng, (10, 3)), logits(rng, (4, 3)), logits(rng, 4)
    y = rng.integers(0, 4, 10)
    loss_fn = fastloss.LinearCrossEntropyLoss(reduction=reduction, chunk_size=3)
    value, grads = loss_fn.value_and_grad(x, w, y, b)
    v2, grads2 = loss_fn.value_and_grad(x, w, y, b, grad_output=2.0)
    assert np.asarray(v2).tobytes() == np.asarray(value).tobytes()
    for a, a2 in zip(grads, grads2):
        assert (2 * a).tobytes() == a2.tobytes()         # a power of 2 scales exactly
    if reduction == "none":
        g = rng.standard_normal(10)
        _, (gx, gw, gb) = loss_fn.value_and_grad(x, w, y, b, grad_output=g)
        want = ref.linear_cross_entropy_grad(x, w, y, b, reduction="none", grad_output=g)
        for got, expected in zip((gx, gw, gb), want):
            assert_close(got, expected, np.float64)
        with pytest.raises(ValueError, match="grad_output"):
            loss_fn.value_and_grad(x, w, y, b, grad_output=np.ones(3))
    else:
        with pytest.raises(ValueError, match="grad_output"):
            loss_fn.value_and_grad(x, w, y, b, grad_output=np.ones(10))


# ------------------------------------------------------ fastloss.dask dim=

def test_dask_refuses_dim():
    pytest.importorskip("dask")
    import fastloss.dask as fd

    x, y = np.zeros((2, 3)), np.array([0, 1])
    use_axis = r"dim: not a fastloss parameter \(PyTorch's name\); use axis= \(NumPy's name\)"
    for call in (lambda: fd.logsumexp(x, dim=1), lambda: fd.softmax(x, dim=1),
                 lambda: fd.log_softmax(x, dim=1), lambda: fd.cross_entropy(x, y, dim=1),
                 lambda: fd.nll_loss(x, y, dim=1)):
        with pytest.raises(TypeError, match=use_axis + ": axis=1, got dim=1"):
            call()
    ce, mse = fastloss.CrossEntropyLoss(), fastloss.MSELoss()
    on_object = r"the class axis is an option of the loss object: CrossEntropyLoss\(axis=0\)"
    for call in (lambda: fd.value(ce, x, y, dim=0), lambda: fd.grad(ce, x, y, dim=0),
                 lambda: fd.value_and_grad(ce, x, y, dim=0)):
        with pytest.raises(TypeError, match=on_object):
            call()
    with pytest.raises(TypeError, match=r"MSELoss has no axis \(its loss is elementwise\)"):
        fd.value(mse, x, x, dim=0)
    for fn in (fd.logsumexp, fd.softmax, fd.cross_entropy, fd.value, fd.value_and_grad):
        assert "dim" not in inspect.signature(fn).parameters
