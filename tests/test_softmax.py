"""logsumexp, softmax and log_softmax against the references."""

import numpy as np
import pytest

import fastloss

import reference as ref
from support import DTYPES, LAYOUTS, PARALLEL_MIN, THREADS, assert_close, layout, logits

# (shape, axis): class axis last, first, inside, all elements
SHAPES = [((7, 5), -1), ((7, 5), 0), ((3, 4, 6), 1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 2),
          ((9,), 0), ((4, 5), None), ((), None)]
SOFTMAX = [(fastloss.softmax, ref.softmax), (fastloss.log_softmax, ref.log_softmax)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp(rng, dtype, shape, axis, keepdims):
    x = logits(rng, shape, dtype)
    got = fastloss.logsumexp(x, axis=axis, keepdims=keepdims)
    expected = ref.logsumexp(x, axis=axis, keepdims=keepdims)
    assert got.dtype == dtype
    assert np.shape(got) == np.shape(expected)
    assert_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("ours,theirs", SOFTMAX)
def test_softmax_family(rng, dtype, shape, axis, ours, theirs):
    x = logits(rng, shape, dtype)
    got = ours(x, axis=axis)
    assert got.dtype == dtype and np.shape(got) == x.shape
    assert_close(got, theirs(x, axis=axis), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("axis", [-1, 1])
def test_layouts(rng, dtype, kind, axis):
    x = logits(rng, (4, 6, 5), dtype)
    xl = layout(x, kind)
    for ours, theirs in SOFTMAX:
        assert_close(ours(xl, axis=axis), theirs(x, axis=axis), dtype)
    assert_close(fastloss.logsumexp(xl, axis=axis), ref.logsumexp(x, axis=axis), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_threads", THREADS)
@pytest.mark.parametrize("axis", [-1, 1])
def test_threads_large(rng, dtype, num_threads, axis):
    x = logits(rng, (300, 40, 7), dtype)
    assert x.size > PARALLEL_MIN            # the parallel path
    for ours, theirs in SOFTMAX:
        assert_close(ours(x, axis=axis, num_threads=num_threads), theirs(x, axis=axis), dtype)
    assert_close(fastloss.logsumexp(x, axis=axis, num_threads=num_threads),
                 ref.logsumexp(x, axis=axis), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours,theirs", SOFTMAX)
@pytest.mark.parametrize("axis", [-1, 0])
def test_out(rng, dtype, ours, theirs, axis):
    x = logits(rng, (6, 5), dtype)
    expected = theirs(x, axis=axis)
    out = np.empty_like(x)
    assert ours(x, axis=axis, out=out) is out
    assert_close(out, expected, dtype)
    # a Fortran-ordered out is filled too
    out_f = np.empty_like(x, order="F")
    assert ours(x, axis=axis, out=out_f) is out_f
    assert_close(out_f, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours,theirs", SOFTMAX)
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((3, 4, 6), 1), ((300, 40, 7), 1)])
def test_in_place(rng, dtype, ours, theirs, shape, axis):
    x = logits(rng, shape, dtype)
    expected = theirs(x, axis=axis)
    result = ours(x, axis=axis, out=x)
    assert result is x
    assert_close(x, expected, dtype)


def test_in_place_overlapping_views(rng):
    # out overlapping x without being x: computed as if from a copy
    base = logits(rng, (40,))
    x = base[:30].reshape(6, 5)
    out = base[5:35].reshape(6, 5)
    assert x.flags.c_contiguous and out.flags.c_contiguous
    expected = ref.softmax(x)
    fastloss.softmax(x, out=out)
    assert_close(out, expected, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_out(rng, dtype):
    x = logits(rng, (6, 5), dtype)
    out = np.empty(6, dtype)
    assert fastloss.logsumexp(x, out=out) is out
    assert_close(out, ref.logsumexp(x), dtype)
    out = np.empty((1, 5), dtype)
    assert fastloss.logsumexp(x, axis=0, keepdims=True, out=out) is out
    assert_close(out, ref.logsumexp(x, axis=0, keepdims=True), dtype)
    out = np.empty((), dtype)
    assert fastloss.logsumexp(x, axis=None, out=out) is out
    assert_close(out, ref.logsumexp(x, axis=None), dtype)


def test_scalar_result_is_numpy_scalar(rng):
    x = logits(rng, (6,), np.float32)
    got = fastloss.logsumexp(x)
    assert isinstance(got, np.float32)


def test_empty(rng):
    assert fastloss.logsumexp(np.zeros((0, 3))).shape == (0,)
    np.testing.assert_array_equal(fastloss.logsumexp(np.zeros((2, 0))), [-np.inf, -np.inf])
    assert fastloss.softmax(np.zeros((2, 0))).shape == (2, 0)
    assert fastloss.log_softmax(np.zeros((0, 4, 2)), axis=1).shape == (0, 4, 2)


def test_large_logits_do_not_overflow():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], np.float32)
    np.testing.assert_allclose(fastloss.softmax(x), 0.5)
    np.testing.assert_allclose(fastloss.logsumexp(x), [1000 + np.log(2), -1000 + np.log(2)])
