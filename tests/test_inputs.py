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
from support import assert_close, logits, probabilities


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


def unaligned(arr):
    """A copy of arr at an odd byte offset: not aligned for its dtype."""
    arr = np.asarray(arr)
    buf = bytearray(arr.nbytes + 1)
    out = np.frombuffer(buf, dtype=arr.dtype, offset=1).reshape(arr.shape)
    out[...] = arr
    assert not out.flags.aligned or arr.dtype.itemsize == 1
    return out


class AlignmentCheckingKernels:
    """The kernels module, checking that every array handed to a kernel is
    aligned (a misaligned load is undefined behaviour; the sanitizer build
    reported it for arrays deserialized by dask)."""

    def __init__(self, kernels):
        self._kernels = kernels
        self.arrays_seen = 0

    def __getattr__(self, name):
        attr = getattr(self._kernels, name)
        if not callable(attr):
            return attr

        def call(*args):
            for a in args:
                if isinstance(a, np.ndarray):
                    assert a.flags.aligned, f"{name}: an unaligned array"
                    self.arrays_seen += 1
            return attr(*args)
        return call


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unaligned_arrays_are_copied_before_the_kernels(rng, dtype, monkeypatch):
    checking = AlignmentCheckingKernels(fastloss._api._kernels)
    monkeypatch.setattr(fastloss._api, "_kernels", checking)
    x = logits(rng, (300, 7), dtype)
    y = rng.integers(0, 7, 300)
    p = probabilities(rng, (300, 7), -1, dtype)
    s = rng.uniform(0.05, 0.95, (300, 7)).astype(dtype)
    w = (rng.random(7) + 0.5).astype(dtype)
    ux, uy, up, us, uw = map(unaligned, (x, y, p, s, w))
    cases = [
        (lambda a, b, c, d, e: fastloss.logsumexp(a)),
        (lambda a, b, c, d, e: fastloss.log_softmax(a)),
        (lambda a, b, c, d, e: fastloss.CrossEntropyLoss(e).value_and_grad(a, b)),
        (lambda a, b, c, d, e: fastloss.cross_entropy(a, c, weight=e, reduction="none")),
        (lambda a, b, c, d, e: fastloss.NLLLoss(e).grad(a, b)),
        (lambda a, b, c, d, e: fastloss.BCEWithLogitsLoss(e, pos_weight=e).value_and_grad(a, d)),
        (lambda a, b, c, d, e: fastloss.BCELoss(weight=e, reduction="none").grad(d, d)),
        (lambda a, b, c, d, e: fastloss.MSELoss().value_and_grad(a, d)),
    ]
    for case in cases:
        expected = case(x, y, p, s, w)
        got = case(ux, uy, up, us, uw)
        parts = zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,))
        for g, e in parts:
            np.testing.assert_array_equal(g, e)
    # and an unaligned out: computed elsewhere, copied into it
    out = unaligned(np.zeros_like(x))
    assert fastloss.softmax(ux, out=out) is out
    np.testing.assert_array_equal(out, fastloss.softmax(x))
    assert fastloss.CrossEntropyLoss().grad(x, y, out=out) is out
    np.testing.assert_array_equal(out, fastloss.CrossEntropyLoss().grad(x, y))
    assert checking.arrays_seen > 50
