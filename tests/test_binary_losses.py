"""binary_cross_entropy_with_logits, binary_cross_entropy and mse_loss
(and their loss objects) against the references."""

import numpy as np
import pytest

import fastloss
from fastloss import _kernels

import reference as ref
from support import DTYPES, LAYOUTS, LIMITS, THREADS, assert_close, layout, logits

inf, nan = np.inf, np.nan

SHAPES = [(9,), (4, 5), (2, 3, 4), ()]
REDUCTIONS = ["none", "mean", "sum"]


def weight_of(rng, kind, shape):
    """No weight, one of the input's shape, one per last-axis class, a scalar,
    or one broadcast along the first axis."""
    if kind is None:
        return None
    if kind == "full":
        return rng.random(shape) + 0.5
    if kind == "last":
        return rng.random(shape[-1:]) + 0.5
    if kind == "scalar":
        return 1.5
    if kind == "first":                      # shape (d0, 1, ..., 1)
        return rng.random(shape[:1] + (1,) * (len(shape) - 1)) + 0.5
    raise ValueError(kind)


def upstream(rng, reduction, shape):
    return rng.standard_normal(shape) if reduction == "none" else -1.3


def check(loss_fn, function, ref_loss, ref_grad, x, t, kwargs, dtype, rng, reduction):
    """Function, loss object, grad(grad_output) and value_and_grad against the references."""
    expected = ref_loss(x, t, reduction=reduction, **kwargs)
    got = function(x, t, reduction=reduction, **kwargs)
    assert np.asarray(got).dtype == dtype and np.shape(got) == np.shape(expected)
    assert_close(got, expected, dtype)
    assert_close(loss_fn(x, t), expected, dtype)
    g_out = upstream(rng, reduction, np.shape(x))
    grad = loss_fn.grad(x, t, grad_output=g_out)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    assert_close(grad, ref_grad(x, t, reduction=reduction, grad_output=g_out, **kwargs), dtype)
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, expected, dtype)
    assert_close(grad, ref_grad(x, t, reduction=reduction, **kwargs), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weight", [None, "full", "last", "scalar", "first"])
@pytest.mark.parametrize("pos_weight", [None, "last", "full"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(rng, dtype, shape, weight, pos_weight, reduction):
    x = logits(rng, shape, dtype, scale=4.0)
    t = rng.random(shape).astype(dtype)              # soft targets in [0, 1]
    kwargs = dict(weight=weight_of(rng, weight, shape),
                  pos_weight=weight_of(rng, pos_weight, shape))
    loss_fn = fastloss.BCEWithLogitsLoss(kwargs["weight"], pos_weight=kwargs["pos_weight"],
                                         reduction=reduction)
    check(loss_fn, fastloss.binary_cross_entropy_with_logits,
          ref.binary_cross_entropy_with_logits, ref.binary_cross_entropy_with_logits_grad,
          x, t, kwargs, dtype, rng, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weight", [None, "full", "last"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(rng, dtype, shape, weight, reduction):
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    t = (rng.random(shape) > 0.5).astype(dtype)
    kwargs = dict(weight=weight_of(rng, weight, shape))
    loss_fn = fastloss.BCELoss(kwargs["weight"], reduction=reduction)
    check(loss_fn, fastloss.binary_cross_entropy, ref.binary_cross_entropy,
          ref.binary_cross_entropy_grad, x, t, kwargs, dtype, rng, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_clamps(dtype):
    # log terms clamped at -100, gradient denominators at 1e-12
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 1 - 1e-7], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype)
    loss_fn = fastloss.BCELoss(reduction="none")
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, ref.binary_cross_entropy(x, t, reduction="none"), dtype)
    assert_close(grad, ref.binary_cross_entropy_grad(x, t, reduction="none"), dtype)
    assert value[2] == value[3] == 100.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse(rng, dtype, shape, reduction):
    x = logits(rng, shape, dtype)
    t = logits(rng, shape, dtype)
    check(fastloss.MSELoss(reduction=reduction), fastloss.mse_loss, ref.mse_loss,
          ref.mse_loss_grad, x, t, {}, dtype, rng, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", LAYOUTS)
def test_layouts(rng, dtype, kind):
    x = logits(rng, (5, 6), dtype)
    t = rng.random((5, 6)).astype(dtype)
    w, pw = rng.random((5, 6)) + 0.5, rng.random(6) + 0.5
    xl, tl, wl, pwl = (layout(a, kind) for a in (x, t, w, pw))
    value, grad = fastloss.BCEWithLogitsLoss(wl, pos_weight=pwl).value_and_grad(xl, tl)
    assert_close(value, ref.binary_cross_entropy_with_logits(x, t, w, pw), dtype)
    assert_close(grad, ref.binary_cross_entropy_with_logits_grad(x, t, w, pw), dtype)
    p = layout(ref._sigmoid(x).astype(dtype), kind)
    assert_close(fastloss.binary_cross_entropy(p, tl, weight=wl),
                 ref.binary_cross_entropy(p, t, weight=w), dtype)
    assert_close(fastloss.mse_loss(xl, tl), ref.mse_loss(x, t), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_threads", THREADS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(100_003,), (700, 130)])
def test_threads_large(rng, dtype, num_threads, reduction, shape):
    x = logits(rng, shape, dtype, scale=4.0)
    t = rng.random(shape).astype(dtype)
    pw = rng.random(shape[-1]) + 0.5
    loss_fn = fastloss.BCEWithLogitsLoss(pos_weight=pw, reduction=reduction,
                                         num_threads=num_threads)
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, ref.binary_cross_entropy_with_logits(x, t, None, pw, reduction), dtype)
    assert_close(grad, ref.binary_cross_entropy_with_logits_grad(x, t, None, pw, reduction),
                 dtype)
    p = ref._sigmoid(x).astype(dtype)
    assert_close(fastloss.binary_cross_entropy(p, t, reduction=reduction,
                                               num_threads=num_threads),
                 ref.binary_cross_entropy(p, t, reduction=reduction), dtype)
    value, grad = fastloss.MSELoss(reduction=reduction,
                                   num_threads=num_threads).value_and_grad(x, t)
    assert_close(value, ref.mse_loss(x, t, reduction=reduction), dtype)
    assert_close(grad, ref.mse_loss_grad(x, t, reduction=reduction), dtype)


@pytest.mark.parametrize("loss_fn", [fastloss.BCEWithLogitsLoss(), fastloss.BCELoss(),
                                     fastloss.MSELoss()])
def test_grad_out_and_in_place(rng, loss_fn):
    x = rng.uniform(0.05, 0.95, (40, 30))
    t = rng.random((40, 30))
    expected_value, expected = loss_fn.value_and_grad(x.copy(), t)
    out = np.empty_like(x, order="F")
    assert loss_fn.grad(x, t, out=out) is out
    np.testing.assert_array_equal(out, expected)
    x_in_place = x.copy()
    value, grad = loss_fn.value_and_grad(x_in_place, t, out=x_in_place)
    assert grad is x_in_place and value == expected_value
    np.testing.assert_array_equal(x_in_place, expected)


def test_soft_targets_and_list_inputs():
    # integer and bool targets are converted to the input's dtype
    x = np.array([0.5, -1.0, 2.0])
    for t in ([1, 0, 1], np.array([True, False, True])):
        assert_close(fastloss.binary_cross_entropy_with_logits(x, t),
                     ref.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0])),
                     np.float64)


def test_empty():
    for fn in (fastloss.binary_cross_entropy_with_logits, fastloss.binary_cross_entropy,
               fastloss.mse_loss):
        assert np.isnan(fn(np.zeros((0, 3)), np.zeros((0, 3))))
        assert fn(np.zeros((0, 3)), np.zeros((0, 3)), reduction="sum") == 0.0
        assert fn(np.zeros((3, 0)), np.zeros((3, 0)), reduction="none").shape == (3, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("operands", ["none", "weight", "pos_weight", "one pos_weight",
                                      "upstream"])
def test_bce_with_logits_elements_are_the_same_bits_on_every_fma_path(rng, dtype, operands):
    """On the avx512 path BCE with logits' loop runs on 512-bit vectors
    (c/elementwise.h), the avx2 path's on 256-bit ones: the same arithmetic
    lane for lane, so each element's loss and gradient are the same bits on
    both, in whole vectors, in every length of tail and for every kind of
    operand (their sums may differ in the last place: other lanes group).
    A check only where the CPU runs both paths."""
    paths = [p for p in _kernels.available_paths() if p in ("avx512", "avx2")]
    if len(paths) < 2:
        pytest.skip("this CPU runs no avx512 path to compare with avx2")
    n = 2 * LIMITS["block_elems"] + 45
    x = np.asarray(rng.standard_normal(n) * 6, dtype)
    x[::11] = np.resize([inf, -inf, nan, 0.0, -0.0, 1e30, -1e30, 80.0, -80.0], x[::11].size)
    t = np.asarray(rng.random(n), dtype)
    t[::7], t[3::13], t[5::17] = 0.0, 1.0, nan
    ones = np.broadcast_to(np.ones((), dtype), (1, n))
    weight = (np.asarray(rng.random((1, n)) + 0.5, dtype) if operands == "weight" else ones)
    pos_weight = {"pos_weight": np.asarray(rng.random((1, n)) * 3, dtype),
                  "one pos_weight": np.broadcast_to(np.asarray(2.5, dtype), (1, n))}
    pw = pos_weight.get(operands, ones)
    g_out = (np.asarray(rng.standard_normal((1, n)), dtype) if operands == "upstream"
             else ones)
    bits = np.uint32 if dtype == np.float32 else np.uint64
    for length in [n, *range(1, 34), 2 * 16 + 5]:
        got = []
        for path in paths:
            loss, grad = np.empty((1, length), dtype), np.empty((1, length), dtype)
            with np.errstate(invalid="ignore"):
                total = _kernels.load(path).binary_loss(
                    _kernels.kernels.BCE_LOGITS, x[None, -length:], t[None, -length:],
                    weight[:, -length:], pw[:, -length:], loss, grad, g_out[:, -length:],
                    1.0, 1)
            got.append((loss.view(bits), grad.view(bits), total))
        (loss0, grad0, total0), (loss1, grad1, total1) = got
        np.testing.assert_array_equal(loss1, loss0)
        np.testing.assert_array_equal(grad1, grad0)
        if np.isfinite(total0):
            assert_close(total1, total0, dtype)
        else:
            assert total1 == total0 or (np.isnan(total1) and np.isnan(total0))
