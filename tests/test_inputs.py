"""What is accepted: lists, Python numbers, float16, read-only and foreign
layouts. (That C-contiguous native inputs are used without a copy, and
``out`` is the result: tests/test_memory.py.)"""

import doctest
import pickle

import numpy as np
import pytest

import fastloss
import fastloss._api
import fastloss._config

import reference as ref
from conftest import assert_close, logits, probabilities


def test_lists_and_python_numbers():
    x = [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]
    assert_close(fastloss.cross_entropy(x, [0, 2]), ref.cross_entropy(x, [0, 2]), np.float64)
    assert fastloss.cross_entropy(x, [0, 2]).dtype == np.float64
    assert fastloss.logsumexp(x, axis=None).dtype == np.float64
    assert fastloss.mse_loss(3, 1) == 4.0
    assert fastloss.softmax(5.0, axis=None) == 1.0


def test_float16_is_computed_as_float32(rng):
    x = logits(rng, (6, 5), np.float16)
    y = rng.integers(0, 5, 6)
    got = fastloss.cross_entropy(x, y, reduction="none")
    assert got.dtype == np.float32
    assert_close(got, ref.cross_entropy(x.astype(np.float32), y, reduction="none"), np.float32)
    assert fastloss.softmax(x).dtype == np.float32
    assert fastloss.CrossEntropyLoss().grad(x, y).dtype == np.float32


def test_targets_and_weights_take_the_input_dtype(rng):
    x = logits(rng, (6, 5), np.float32)
    p = probabilities(rng, (6, 5), -1, np.float64)
    w = rng.random(5)
    got = fastloss.cross_entropy(x, p, weight=w)
    assert got.dtype == np.float32
    expected = ref.cross_entropy(x, p.astype(np.float32), weight=w.astype(np.float32))
    assert_close(got, expected, np.float32)


def test_mixed_layouts_in_one_call(rng):
    x = np.asfortranarray(logits(rng, (5, 3, 4)))
    t = rng.integers(0, 3, (5, 4))[:, ::-1]
    loss, grad = fastloss.CrossEntropyLoss(axis=1).value_and_grad(x, t)
    assert_close(loss, ref.cross_entropy(x, t, axis=1), np.float64)
    assert_close(grad, ref.cross_entropy_grad(x, t, axis=1), np.float64)


@pytest.mark.parametrize("module", [fastloss._api, fastloss._config])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("loss_fn", [
    fastloss.CrossEntropyLoss([1.0, 2.0, 0.5], ignore_index=1, label_smoothing=0.1),
    fastloss.NLLLoss(reduction="sum"),
    fastloss.BCEWithLogitsLoss(pos_weight=[2.0, 1.0, 1.0], reduction="none"),
    fastloss.BCELoss([1.0, 2.0, 3.0]),
    fastloss.MSELoss(num_threads=1),
])
def test_loss_objects_pickle_and_repr(rng, loss_fn):
    x = rng.uniform(0.05, 0.95, (4, 3))
    t = rng.integers(0, 3, 4) if isinstance(loss_fn, (fastloss.CrossEntropyLoss,
                                                       fastloss.NLLLoss)) else rng.random((4, 3))
    clone = pickle.loads(pickle.dumps(loss_fn))
    assert repr(clone) == repr(loss_fn)
    assert repr(loss_fn).startswith(type(loss_fn).__name__ + "(")
    np.testing.assert_array_equal(clone(x, t), loss_fn(x, t))
    np.testing.assert_array_equal(clone.grad(x, t), loss_fn.grad(x, t))
