"""The stated special-value semantics (those of torch), with values worked by hand."""

import warnings

import numpy as np
import pytest

import fastloss

inf, nan = np.inf, np.nan
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp(dtype):
    x = np.array([[-inf, -inf], [inf, 1.0], [inf, -inf], [nan, 1.0], [inf, nan],
                  [-inf, 0.0]], dtype)
    np.testing.assert_array_equal(fastloss.logsumexp(x), [-inf, inf, inf, nan, nan, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax(dtype):
    x = np.array([[inf, 1.0, 0.0], [-inf, -inf, -inf], [nan, 1.0, 0.0], [-inf, 0.0, 0.0]],
                 dtype)
    p = fastloss.softmax(x)
    lp = fastloss.log_softmax(x)
    assert np.isnan(p[:3]).all() and np.isnan(lp[:3]).all()
    np.testing.assert_array_equal(p[3], [0.0, 0.5, 0.5])
    np.testing.assert_array_equal(lp[3], np.array([-inf, np.log(0.5), np.log(0.5)], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_rows_that_are_nan(dtype):
    x = np.array([[inf, 1.0, 0.0], [-inf, -inf, -inf], [nan, 1.0, 0.0], [0.0, 0.0, 0.0]],
                 dtype)
    t = np.array([1, 0, 2, 0])
    loss_fn = fastloss.CrossEntropyLoss(reduction="none")
    loss, grad = loss_fn.value_and_grad(x, t)
    assert np.isnan(loss[:3]).all() and np.isnan(grad[:3]).all()
    np.testing.assert_allclose(loss[3], np.log(3), rtol=1e-6)
    assert np.isnan(fastloss.cross_entropy(x, t))
    # ... unless ignored: an ignored row is never read
    np.testing.assert_allclose(fastloss.cross_entropy(x, [-100, -100, -100, 0]), np.log(3),
                               rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_class(dtype):
    # p = (0, e/(e+1), 1/(e+1)) for logits (-inf, 1, 0)
    x = np.array([[-inf, 1.0, 0.0]], dtype)
    e = np.e
    loss, grad = fastloss.CrossEntropyLoss(reduction="sum").value_and_grad(x, [1])
    np.testing.assert_allclose(loss, np.log1p(1 / e), rtol=1e-6)
    np.testing.assert_allclose(grad, [[0.0, e / (e + 1) - 1, 1 / (e + 1)]], rtol=1e-6)
    # the masked class as target: an infinite loss, a finite gradient (p - onehot)
    loss, grad = fastloss.CrossEntropyLoss(reduction="sum").value_and_grad(x, [0])
    assert loss == inf
    np.testing.assert_allclose(grad, [[-1.0, e / (e + 1), 1 / (e + 1)]], rtol=1e-6)
    # label smoothing puts mass on the masked class: infinite
    assert fastloss.cross_entropy(x, [1], label_smoothing=0.1) == inf
    # a probability target of zero on the masked class: 0 * log 0 = NaN, as torch
    assert np.isnan(fastloss.cross_entropy(x, np.array([[0.0, 0.5, 0.5]], dtype)))
    # ... while a positive one is infinite
    assert fastloss.cross_entropy(x, np.array([[0.2, 0.4, 0.4]], dtype)) == inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_large_logits_are_finite(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4], dtype)
    t = np.array([1.0, 1.0, 0.0, 0.0], dtype)
    loss, grad = fastloss.BCEWithLogitsLoss(reduction="none").value_and_grad(x, t)
    np.testing.assert_array_equal(loss, [0.0, 1e4, 1e4, 0.0])
    np.testing.assert_array_equal(grad, [0.0, -1.0, 1.0, 0.0])
    loss, grad = fastloss.BCEWithLogitsLoss(pos_weight=[2.0], reduction="none").value_and_grad(x, t)
    np.testing.assert_array_equal(loss, [0.0, 2e4, 1e4, 0.0])
    np.testing.assert_array_equal(grad, [0.0, -2.0, 1.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_infinite_logits(dtype):
    # (1-t) x - lw logsigmoid(x) term by term: 0 * inf is NaN
    x = np.array([inf, inf, -inf, -inf, nan], dtype)
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0], dtype)
    loss, grad = fastloss.BCEWithLogitsLoss(reduction="none").value_and_grad(x, t)
    np.testing.assert_array_equal(loss, [inf, nan, nan, nan, nan])
    # sigmoid(+-inf) is 1 and 0: the gradient sigmoid(x) - t stays finite
    np.testing.assert_array_equal(grad, [1.0, 0.0, 0.0, -1.0, nan])


def test_nan_propagates_through_reductions():
    x = np.array([[nan, 0.0], [0.0, 0.0]])
    assert np.isnan(fastloss.cross_entropy(x, [1, 0], reduction="sum"))
    assert np.isnan(fastloss.mse_loss([nan, 1.0], [0.0, 1.0]))
    assert np.isnan(fastloss.binary_cross_entropy_with_logits([nan, 1.0], [0.0, 1.0]))
    assert fastloss.mse_loss([inf, 1.0], [0.0, 1.0], reduction="sum") == inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("targets", [[0, 0, 2], [-100, 0, -100]])
def test_label_smoothing_mean_over_zero_weight_is_nan(dtype, targets):
    # Every target kept has weight 0: torch's mean adds (1-eps) * nll_sum / 0 =
    # 0/0 = NaN to the smooth part's positive sum / 0 = inf; the loss and the
    # gradient rows are NaN (an earlier version gave inf and inf entries).
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0], [2.0, 2.0, 2.0]], dtype)
    loss_fn = fastloss.CrossEntropyLoss(weight=[0.0, 1.0, 0.0], label_smoothing=0.2)
    loss, grad = loss_fn.value_and_grad(x, targets)
    assert np.isnan(loss) and loss.dtype == dtype
    kept = np.array(targets) != -100
    assert np.isnan(grad[kept]).all()
    assert (grad[~kept] == 0.0).all()
    assert np.isnan(fastloss.cross_entropy(x, targets, weight=[0.0, 1.0, 0.0],
                                           label_smoothing=0.2))
    assert np.isnan(loss_fn.grad(x, targets, grad_output=2.0)[kept]).all()


def test_float32_sum_beyond_range_is_inf_without_a_warning():
    x = np.array([1e30, -1e30], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastloss.mse_loss(x, -x, reduction="sum") == inf
        assert fastloss.mse_loss(x, -x) == inf
