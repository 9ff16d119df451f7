"""cross_entropy and nll_loss (and their loss objects) against the references."""

import numpy as np
import pytest

import fastloss

import reference as ref
from support import (
    DTYPES,
    LAYOUTS,
    LONG,
    THREADS,
    assert_close,
    layout,
    logits,
    probabilities,
)

# (shape, axis): (N, C); PyTorch's (N, C, d) and (N, C, d1, d2); unbatched (C,)
SHAPES = [((7, 5), -1), ((3, 4, 6), 1), ((2, 3, 4, 5), 1), ((5,), -1)]
TARGETS = ["index", "ignore", "prob"]
REDUCTIONS = ["none", "mean", "sum"]


def loss_shape(shape, axis):
    ax = axis % len(shape)
    return shape[:ax] + shape[ax + 1:]


def make_target(rng, kind, shape, axis, dtype):
    if kind == "prob":
        return probabilities(rng, shape, axis, dtype)
    t = rng.integers(0, shape[axis], loss_shape(shape, axis))
    if kind == "ignore":
        t.reshape(-1)[::3] = -100
    return np.asarray(t)


def upstream(rng, reduction, shape):
    """A grad_output: a random array for "none", a scalar otherwise."""
    if reduction == "none":
        return rng.standard_normal(shape)
    return 0.7


def options(weighted, smoothing, reduction, rng, n_classes):
    return dict(
        weight=rng.random(n_classes) + 0.5 if weighted else None,
        label_smoothing=smoothing,
        reduction=reduction,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy(rng, dtype, shape, axis, target_kind, weighted, smoothing, reduction):
    x = logits(rng, shape, dtype)
    t = make_target(rng, target_kind, shape, axis, dtype)
    opts = options(weighted, smoothing, reduction, rng, shape[axis])
    expected = ref.cross_entropy(x, t, axis=axis, **opts)

    got = fastloss.cross_entropy(x, t, axis=axis, **opts)
    assert np.asarray(got).dtype == dtype
    assert np.shape(got) == np.shape(expected)
    if reduction != "none":
        assert isinstance(got, np.generic)
    assert_close(got, expected, dtype)

    loss_fn = fastloss.CrossEntropyLoss(axis=axis, **opts)
    assert_close(loss_fn(x, t), expected, dtype)

    g_out = upstream(rng, reduction, np.shape(expected))
    grad = loss_fn.grad(x, t, grad_output=g_out)
    assert grad.dtype == dtype and grad.shape == x.shape
    assert_close(grad, ref.cross_entropy_grad(x, t, axis=axis, grad_output=g_out, **opts), dtype)

    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, expected, dtype)
    assert_close(grad, ref.cross_entropy_grad(x, t, axis=axis, **opts), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("target_kind", ["index", "ignore"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(rng, dtype, shape, axis, target_kind, weighted, reduction):
    x = ref.log_softmax(logits(rng, shape), axis=axis).astype(dtype)
    t = make_target(rng, target_kind, shape, axis, dtype)
    opts = dict(weight=rng.random(shape[axis]) + 0.5 if weighted else None,
                reduction=reduction)
    expected = ref.nll_loss(x, t, axis=axis, **opts)
    got = fastloss.nll_loss(x, t, axis=axis, **opts)
    assert np.asarray(got).dtype == dtype and np.shape(got) == np.shape(expected)
    assert_close(got, expected, dtype)

    loss_fn = fastloss.NLLLoss(axis=axis, **opts)
    g_out = upstream(rng, reduction, np.shape(expected))
    assert_close(loss_fn.grad(x, t, grad_output=g_out),
                 ref.nll_loss_grad(x, t, axis=axis, grad_output=g_out, **opts), dtype)
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, expected, dtype)
    assert_close(grad, ref.nll_loss_grad(x, t, axis=axis, **opts), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("target_kind", ["ignore", "prob"])
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((3, 4, 6), 1)])
def test_layouts(rng, dtype, kind, target_kind, shape, axis):
    x = logits(rng, shape, dtype)
    t = make_target(rng, target_kind, shape, axis, dtype)
    w = rng.random(shape[axis]) + 0.5
    xl, tl, wl = layout(x, kind), layout(t, kind), layout(w, kind)
    loss_fn = fastloss.CrossEntropyLoss(wl, axis=axis, label_smoothing=0.1)
    value, grad = loss_fn.value_and_grad(xl, tl)
    opts = dict(weight=w, axis=axis, label_smoothing=0.1)
    assert_close(value, ref.cross_entropy(x, t, **opts), dtype)
    assert_close(grad, ref.cross_entropy_grad(x, t, **opts), dtype)
    if target_kind != "prob":
        lp = layout(ref.log_softmax(x, axis=axis).astype(dtype), kind)
        assert_close(fastloss.nll_loss(lp, tl, axis=axis, weight=wl),
                     ref.nll_loss(lp, t, axis=axis, weight=w), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_threads", THREADS)
@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,axis", [((5000, 13), -1), ((40, 11, 90), 1)])
def test_threads_large(rng, dtype, num_threads, target_kind, reduction, shape, axis):
    # large enough for several reduction blocks and the parallel path
    x = logits(rng, shape, dtype)
    t = make_target(rng, target_kind, shape, axis, dtype)
    opts = dict(weight=rng.random(shape[axis]) + 0.5, reduction=reduction,
                label_smoothing=0.05, axis=axis)
    loss_fn = fastloss.CrossEntropyLoss(num_threads=num_threads, **opts)
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, ref.cross_entropy(x, t, **opts), dtype)
    assert_close(grad, ref.cross_entropy_grad(x, t, **opts), dtype)
    if target_kind != "prob":
        del opts["label_smoothing"]
        loss_fn = fastloss.NLLLoss(num_threads=num_threads, **opts)
        value, grad = loss_fn.value_and_grad(x, t)
        assert_close(value, ref.nll_loss(x, t, **opts), dtype)
        assert_close(grad, ref.nll_loss_grad(x, t, **opts), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((3, 4, 6), 1), ((400, 11, 9), 1)])
def test_grad_out_and_in_place(rng, dtype, target_kind, shape, axis):
    x = logits(rng, shape, dtype)
    t = make_target(rng, target_kind, shape, axis, dtype)
    loss_fn = fastloss.CrossEntropyLoss(axis=axis, label_smoothing=0.2, reduction="sum")
    expected_value = ref.cross_entropy(x, t, axis=axis, label_smoothing=0.2, reduction="sum")
    expected = ref.cross_entropy_grad(x, t, axis=axis, label_smoothing=0.2, reduction="sum")

    out = np.empty_like(x)
    assert loss_fn.grad(x, t, out=out) is out
    assert_close(out, expected, dtype)
    out_f = np.empty_like(x, order="F")
    value, grad = loss_fn.value_and_grad(x, t, out=out_f)
    assert grad is out_f
    assert_close(value, expected_value, dtype)
    assert_close(out_f, expected, dtype)

    x_in_place = x.copy()
    value, grad = loss_fn.value_and_grad(x_in_place, t, out=x_in_place)
    assert grad is x_in_place
    assert_close(value, expected_value, dtype)
    assert_close(x_in_place, expected, dtype)

    x_in_place = x.copy()
    assert loss_fn.grad(x_in_place, t, out=x_in_place) is x_in_place
    assert_close(x_in_place, expected, dtype)


def test_nll_grad_in_place(rng):
    x = ref.log_softmax(logits(rng, (6, 5)))
    t = rng.integers(0, 5, 6)
    expected = ref.nll_loss_grad(x, t)
    assert fastloss.NLLLoss().grad(x, t, out=x) is x
    assert_close(x, expected, np.float64)


def test_out_overlapping_target_is_safe(rng):
    # out aliasing the probability target: computed as if into a new array
    x = logits(rng, (6, 5))
    t = probabilities(rng, (6, 5), -1)
    expected = ref.cross_entropy_grad(x, t)
    fastloss.CrossEntropyLoss().grad(x, t, out=t)
    assert_close(t, expected, np.float64)


@pytest.mark.parametrize("int_dtype", [np.int8, np.int16, np.int32, np.int64,
                                       np.uint8, np.uint16, np.uint32, np.uint64])
def test_any_integer_target_dtype(rng, int_dtype):
    x = logits(rng, (8, 4))
    t = rng.integers(0, 4, 8)
    expected = ref.cross_entropy(x, t)
    assert_close(fastloss.cross_entropy(x, t.astype(int_dtype)), expected, np.float64)


def test_ignore_index_inside_class_range(rng):
    x = logits(rng, (9, 4))
    t = rng.integers(0, 4, 9)
    for ii in (0, 3):
        assert_close(fastloss.cross_entropy(x, t, ignore_index=ii),
                     ref.cross_entropy(x, t, ignore_index=ii), np.float64)


def test_all_ignored_and_empty():
    x = np.zeros((3, 4))
    t = np.full(3, -100)
    assert np.isnan(fastloss.cross_entropy(x, t))
    assert np.isnan(fastloss.cross_entropy(x, t, label_smoothing=0.1))
    assert fastloss.cross_entropy(x, t, reduction="sum") == 0.0
    np.testing.assert_array_equal(fastloss.cross_entropy(x, t, reduction="none"), 0.0)
    np.testing.assert_array_equal(fastloss.CrossEntropyLoss().grad(x, t), 0.0)
    empty = np.zeros((0, 4))
    assert np.isnan(fastloss.cross_entropy(empty, np.zeros(0, int)))
    assert np.isnan(fastloss.cross_entropy(empty, empty))
    assert fastloss.cross_entropy(empty, np.zeros(0, int), reduction="sum") == 0.0
    assert fastloss.cross_entropy(empty, empty, reduction="none").shape == (0,)
    assert np.isnan(fastloss.nll_loss(empty, np.zeros(0, int)))


def test_ignored_rows_are_never_read():
    # an ignored row may hold anything: its loss and gradient are 0
    x = np.array([[np.nan, np.inf, 1.0], [1.0, 2.0, 3.0]])
    t = np.array([-100, 2])
    loss, grad = fastloss.CrossEntropyLoss(reduction="sum").value_and_grad(x, t)
    assert_close(loss, ref.cross_entropy(x[1:], t[1:], reduction="sum"), np.float64)
    np.testing.assert_array_equal(grad[0], 0.0)
    assert_close(grad[1:], ref.cross_entropy_grad(x[1:], t[1:], reduction="sum"), np.float64)


def test_grad_output_broadcasts_for_none(rng):
    x = logits(rng, (4, 3, 5))
    t = rng.integers(0, 3, (4, 5))
    loss_fn = fastloss.CrossEntropyLoss(axis=1, reduction="none")
    g = rng.standard_normal(5)                     # broadcast over the rows
    expected = ref.cross_entropy_grad(x, t, axis=1, reduction="none",
                                      grad_output=np.broadcast_to(g, (4, 5)))
    assert_close(loss_fn.grad(x, t, grad_output=g), expected, np.float64)


# ------------------------------------- weights of classes no target uses
#
# A NaN or inf weight on a class that no target uses (a 1/count weight of a
# class absent from the data is inf), or finite weights whose float64 sum
# overflows, made every element of the gradient NaN: the smoothing term of
# the gradient's coefficient, eps/C sum_c w_c, was evaluated with eps = 0.

def test_unused_infinite_class_weight_example():
    """The example of the issue, against torch's gradient (torch 2.13)."""
    loss_fn = fastloss.CrossEntropyLoss(np.array([np.inf, 1.0, 1.0]), reduction="sum")
    grad = loss_fn.grad([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], [1, 2])
    np.testing.assert_allclose(grad, [[0.090, -0.755, 0.665], [0.175, 0.039, -0.214]],
                               atol=5e-4)


# (float32 weights cannot be finite and sum beyond float64's range)
@pytest.mark.parametrize("dtype,unused", [(np.float32, "inf"), (np.float32, "nan"),
                                          (np.float64, "inf"), (np.float64, "nan"),
                                          (np.float64, "sum overflows")])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,axis", [((40, 3), -1), ((13, 100), -1), ((5, 4, 7), 1),
                                        ((3, LONG + 1), -1)])
def test_unused_class_weights_stay_out_of_the_gradient(rng, dtype, unused, reduction, shape,
                                                       axis):
    """Rows in lanes, one row at a time, an inner class axis and long rows;
    value_and_grad and grad; the weights of classes 0 and 1 unused."""
    n = shape[axis]
    w = rng.uniform(0.5, 2.0, n)
    if unused == "sum overflows":
        w[:2] = 1e308                # finite, but their float64 sum is inf
    else:
        w[0] = np.inf if unused == "inf" else np.nan
    x = logits(rng, shape, dtype)
    loss_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    y = rng.integers(2, n, loss_shape)
    y.reshape(-1)[::5] = -100
    loss_fn = fastloss.CrossEntropyLoss(w, reduction=reduction, axis=axis)
    loss, grad = loss_fn.value_and_grad(x, y)
    assert np.isfinite(grad).all()
    expected = ref.cross_entropy_grad(x, y, w, reduction=reduction, axis=axis)
    assert np.isfinite(expected).all()
    assert_close(grad, expected, dtype)
    np.testing.assert_array_equal(loss_fn.grad(x, y), grad)
    assert_close(loss, ref.cross_entropy(x, y, w, reduction=reduction, axis=axis), dtype)
