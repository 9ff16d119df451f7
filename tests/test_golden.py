"""The worked examples of the PyTorch tutorials our users learn from.

Each value is quoted from the tutorial (and can be checked by hand: e.g.
log(e + e**2 + e**3) - 3 = 0.4076 and log(e**2 + e**4 + e**6) - 4 = 2.1429,
whose mean is 1.2753).
"""

import numpy as np
import pytest

import fastloss

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_two_rows(dtype):
    x = np.array([[1, 2, 3], [2, 4, 6]], dtype)
    assert round(float(fastloss.cross_entropy(x, [2, 1])), 4) == 1.2753


def test_cross_entropy_from_python_ints():
    assert round(float(fastloss.cross_entropy([[1, 2, 3], [2, 4, 6]], [2, 1])), 4) == 1.2753


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_good_predictions(dtype):
    x = np.array([[0.1, 1.0, 2.1], [2.0, 1.0, 0.1], [0.1, 3.0, 0.1]], dtype)
    y = np.array([2, 0, 1])
    assert round(float(fastloss.cross_entropy(x, y)), 4) == 0.3018
    assert round(float(fastloss.cross_entropy(x, y, reduction="sum")), 4) == 0.9055


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_bad_predictions(dtype):
    x = np.array([[2.1, 1.0, 0.1], [0.1, 1.0, 2.1], [0.1, 3.0, 0.1]], dtype)
    got = fastloss.cross_entropy(x, [2, 0, 1], reduction="none")
    np.testing.assert_array_equal(np.round(got.astype(np.float64), 4), [2.3840, 2.3840, 0.1044])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_single_row(dtype):
    x = np.array([[2.0, 1.0, 0.1]], dtype)
    assert round(float(fastloss.cross_entropy(x, [0])), 4) == 0.4170


def test_nll_loss():
    assert float(fastloss.nll_loss([[1, 2, 3], [2, 4, 6]], [2, 2])) == -4.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy(dtype):
    x = np.array([0.1582, 0.4139, 0.2287], dtype)
    assert round(float(fastloss.binary_cross_entropy(x, [0, 1, 0])), 5) == 0.43801


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(dtype):
    got = fastloss.softmax(np.array([2.0, 1.0, 0.1], dtype))
    np.testing.assert_array_equal(np.round(got.astype(np.float64), 4), [0.6590, 0.2424, 0.0986])
