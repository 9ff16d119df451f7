"""Every gradient against central finite differences of the reference loss (float64)."""

import numpy as np
import pytest

import fastloss

import reference as ref
from support import logits, probabilities

H = 1e-6


def finite_difference(loss, x, grad_output):
    """d sum(grad_output * loss(x)) / dx by central differences."""
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + H
        up = np.sum(grad_output * loss(x))
        flat[k] = old - H
        down = np.sum(grad_output * loss(x))
        flat[k] = old
        g.reshape(-1)[k] = (up - down) / (2 * H)
    return g


def assert_fd(loss_fn, ref_loss, x, t, grad_output, **ref_kwargs):
    expected = finite_difference(lambda z: ref_loss(z, t, **ref_kwargs), x.copy(), grad_output)
    got = loss_fn.grad(x, t, grad_output=grad_output)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def g_out(rng, reduction, shape):
    return rng.standard_normal(shape) if reduction == "none" else 0.8


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("target_kind", ["index", "ignore", "prob"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((2, 3, 4), 1)])
def test_cross_entropy(rng, reduction, target_kind, smoothing, shape, axis):
    x = logits(rng, shape)
    n_classes = shape[axis]
    tshape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    if target_kind == "prob":
        t = probabilities(rng, shape, axis)
    else:
        t = rng.integers(0, n_classes, tshape)
        if target_kind == "ignore":
            t.reshape(-1)[::2] = -100
    w = rng.random(n_classes) + 0.5
    opts = dict(weight=w, reduction=reduction, label_smoothing=smoothing, axis=axis)
    assert_fd(fastloss.CrossEntropyLoss(**opts), ref.cross_entropy, x, t,
              g_out(rng, reduction, tshape), **opts)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nll_loss(rng, reduction):
    x = ref.log_softmax(logits(rng, (5, 4)))
    t = np.array([0, 3, -100, 1, 2])
    w = rng.random(4) + 0.5
    opts = dict(weight=w, reduction=reduction)
    assert_fd(fastloss.NLLLoss(**opts), ref.nll_loss, x, t, g_out(rng, reduction, (5,)), **opts)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_with_logits(rng, reduction):
    x = logits(rng, (3, 4), scale=4.0)
    t = rng.random((3, 4))
    w, pw = rng.random((3, 4)) + 0.5, rng.random(4) + 0.5
    assert_fd(fastloss.BCEWithLogitsLoss(w, pos_weight=pw, reduction=reduction),
              ref.binary_cross_entropy_with_logits, x, t, g_out(rng, reduction, (3, 4)),
              weight=w, pos_weight=pw, reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce(rng, reduction):
    x = rng.uniform(0.05, 0.95, (3, 4))
    t = rng.random((3, 4))
    w = rng.random(4) + 0.5
    assert_fd(fastloss.BCELoss(w, reduction=reduction), ref.binary_cross_entropy, x, t,
              g_out(rng, reduction, (3, 4)), weight=w, reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_mse(rng, reduction):
    x, t = logits(rng, (3, 4)), logits(rng, (3, 4))
    assert_fd(fastloss.MSELoss(reduction=reduction), ref.mse_loss, x, t,
              g_out(rng, reduction, (3, 4)), reduction=reduction)


def test_cross_entropy_is_minus_log_softmax_at_the_target(rng):
    # the FD of -log_softmax(x)[y], a route that does not use ref.cross_entropy
    x = logits(rng, (3, 5))
    t = np.array([1, 4, 0])
    expected = finite_difference(
        lambda z: -ref.log_softmax(z)[np.arange(3), t], x.copy(), np.ones(3))
    got = fastloss.CrossEntropyLoss(reduction="sum").grad(x, t)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
