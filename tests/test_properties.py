"""Property-based comparison with the references over random shapes and options
(hypothesis, derandomized so that every run tries the same examples)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastloss

import reference as ref
from conftest import assert_close

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)
finite = st.floats(-60, 60, allow_nan=False, width=32)


@st.composite
def class_problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_classes = draw(st.integers(1, 9))
    lead = draw(st.lists(st.integers(0, 5), min_size=0, max_size=2))
    inner = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))
    shape = tuple(lead) + (n_classes,) + tuple(inner)
    axis = len(lead) if draw(st.booleans()) else len(lead) - len(shape)
    x = draw(arrays(dtype, shape, elements=finite))
    tshape = shape[:len(lead)] + shape[len(lead) + 1:]
    if draw(st.booleans()):
        t = draw(arrays(dtype, shape, elements=st.floats(0, 1, width=32)))
    else:
        t = draw(arrays(np.int64, tshape, elements=st.sampled_from(
            list(range(n_classes)) + [-100])))
    weight = draw(st.none() | arrays(dtype, (n_classes,), elements=st.floats(0.125, 3, width=32)))
    options = dict(
        weight=weight,
        reduction=draw(st.sampled_from(["none", "mean", "sum"])),
        label_smoothing=draw(st.sampled_from([0.0, 0.1, 1.0])),
    )
    return x, t, axis, options


@SETTINGS
@given(class_problems(), st.integers(1, 3))
def test_cross_entropy(problem, num_threads):
    x, t, axis, options = problem
    loss_fn = fastloss.CrossEntropyLoss(axis=axis, num_threads=num_threads, **options)
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, ref.cross_entropy(x, t, axis=axis, **options), x.dtype)
    assert_close(grad, ref.cross_entropy_grad(x, t, axis=axis, **options), x.dtype)


@st.composite
def binary_problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    x = draw(arrays(dtype, shape, elements=finite))
    t = draw(arrays(dtype, shape, elements=st.floats(0, 1, width=32)))
    last = shape[-1:] if shape else ()
    pos_weight = draw(st.none() | arrays(dtype, last, elements=st.floats(0.125, 3, width=32)))
    return x, t, pos_weight, draw(st.sampled_from(["none", "mean", "sum"]))


@SETTINGS
@given(binary_problems())
def test_bce_with_logits(problem):
    x, t, pos_weight, reduction = problem
    loss_fn = fastloss.BCEWithLogitsLoss(pos_weight=pos_weight, reduction=reduction)
    value, grad = loss_fn.value_and_grad(x, t)
    assert_close(value, ref.binary_cross_entropy_with_logits(
        x, t, pos_weight=pos_weight, reduction=reduction), x.dtype)
    assert_close(grad, ref.binary_cross_entropy_with_logits_grad(
        x, t, pos_weight=pos_weight, reduction=reduction), x.dtype)
