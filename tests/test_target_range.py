"""Out-of-range class targets of every integer dtype: an IndexError naming the
value and its position, raised before any kernel indexes memory with the
target, through every entry point; nothing is written to ``out`` or to an
input given as ``out``. Under the sanitizer build (.ci/sanitize) these tests
run with AddressSanitizer watching every read of the kernels.
"""

import numpy as np
import pytest

import fastloss

import reference as ref
from support import assert_close, logits

C = 3
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def bad_values(dtype):
    """Values of ``dtype`` that are not classes of C = 3: C itself, C + 1, the
    dtype's extremes, negatives, and uint64 values of 2**63 and beyond (one of
    which would wrap to -100, the default ignore_index, as int64)."""
    info = np.iinfo(dtype)
    values = {C, C + 1, int(info.max)}
    if info.min < 0:
        values |= {-1, -101, int(info.min)}
    if dtype == np.uint64:
        values |= {2**63, 2**63 + 5, 2**64 - 100, 2**64 - 1}
    return sorted(values)


CASES = [(d, v) for d in INT_DTYPES for v in bad_values(d)]


def entry_points(x, out):
    """name -> call(target) of every function and loss method taking class targets."""
    return {
        "cross_entropy": lambda t: fastloss.cross_entropy(x, t),
        "cross_entropy smoothed none": lambda t: fastloss.cross_entropy(
            x, t, label_smoothing=0.1, reduction="none"),
        "nll_loss": lambda t: fastloss.nll_loss(x, t, weight=[1.0, 2.0, 3.0]),
        "CrossEntropyLoss()": lambda t: fastloss.CrossEntropyLoss()(x, t),
        "CrossEntropyLoss.grad": lambda t: fastloss.CrossEntropyLoss().grad(x, t, out=out),
        "CrossEntropyLoss.value_and_grad": lambda t: fastloss.CrossEntropyLoss(
            reduction="sum").value_and_grad(x, t, out=out),
        "NLLLoss.grad": lambda t: fastloss.NLLLoss(reduction="none").grad(
            x, t, grad_output=np.ones(len(t)), out=out),
        "NLLLoss.value_and_grad": lambda t: fastloss.NLLLoss().value_and_grad(x, t, out=out),
    }


def message(value, position):
    pos = ", ".join(str(p) for p in position) + ("," if len(position) == 1 else "")
    return rf"target: class index {value} at position \({pos}\) is out of range"


@pytest.mark.parametrize("dtype,value", CASES)
@pytest.mark.parametrize("where", [0, 5, 9])
def test_every_entry_point_refuses(rng, dtype, value, where):
    x = logits(rng, (10, C))
    t = rng.integers(0, C, 10).astype(dtype)
    t[where] = value
    out = np.full_like(x, 7.25)
    for name, call in entry_points(x, out).items():
        with pytest.raises(IndexError, match=message(value, (where,))):
            call(t)
        np.testing.assert_array_equal(out, 7.25, err_msg=name)


@pytest.mark.parametrize("dtype,value", CASES)
def test_input_given_as_out_is_untouched(rng, dtype, value):
    x = logits(rng, (6, C))
    t = np.array([0, 1, 2, value, 1, 0], dtype)
    for loss_fn in (fastloss.CrossEntropyLoss(label_smoothing=0.2), fastloss.NLLLoss()):
        x_in_place = x.copy()
        with pytest.raises(IndexError, match=message(value, (3,))):
            loss_fn.value_and_grad(x_in_place, t, out=x_in_place)
        np.testing.assert_array_equal(x_in_place, x)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("num_threads", [1, 2, 3])
def test_parallel_check_names_the_first_bad_target(rng, dtype, num_threads):
    # 100,000 targets: the range check runs in blocks on several threads and
    # must name the first bad position, not the first one a thread found
    # (uint64 values of 2**63 and beyond are refused before the conversion to
    # int64, and that check names the largest)
    n = 100_000
    x = logits(rng, (n, C), np.float32)
    t = rng.integers(0, C, n).astype(dtype)
    bad = bad_values(dtype)
    t[[70_000, 31_000, 99_999]] = [bad[-1], bad[0], bad[1]]
    first = bad[-1] if dtype == np.uint64 and bad[-1] >= 2**63 else bad[0]
    position = 70_000 if first == bad[-1] else 31_000
    with pytest.raises(IndexError, match=message(first, (position,))):
        fastloss.cross_entropy(x, t, num_threads=num_threads)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_class_axis_inside_names_the_position(rng, dtype):
    # PyTorch's (N, C, d1, d2) layout: the target's own position is named
    x = logits(rng, (2, C, 4, 5))
    t = rng.integers(0, C, (2, 4, 5)).astype(dtype)
    t[1, 2, 3] = C
    with pytest.raises(IndexError, match=message(C, (1, 2, 3)) + f" for {C} classes"):
        fastloss.CrossEntropyLoss(axis=1).value_and_grad(x, t)


@pytest.mark.parametrize("dtype,value", CASES)
def test_a_bad_value_that_is_ignore_index_is_ignored(rng, dtype, value):
    # the same value as ignore_index is no class and no error: that row is left out
    x = logits(rng, (6, C))
    t = np.array([0, 1, 2, value, 1, 0], dtype)
    if value >= 2**63:                  # cannot be an ignore_index (a 64-bit integer)
        with pytest.raises(IndexError, match=message(value, (3,))):
            fastloss.cross_entropy(x, t, ignore_index=-1)
        return
    kept = np.array([0, 1, 2, -100, 1, 0])
    loss, grad = fastloss.CrossEntropyLoss(ignore_index=value).value_and_grad(x, t)
    assert_close(loss, ref.cross_entropy(x, kept), np.float64)
    assert_close(grad, ref.cross_entropy_grad(x, kept), np.float64)
    assert (grad[3] == 0).all()
