"""The fast path of small calls gives the general path's bits.

A call on a small plain array (see drivers.pxi, fast_*) skips the Python
layer's conversions; ``support.general`` sends the same call through the
general path (the fast path's entry points answer NotImplemented, as for an
option the fast path does not take). Every function and loss method, both
dtypes, every reduction and option the fast path handles, rows in lanes and
one at a time, special values: the two must agree byte for byte, and
everything the fast path passes on must still be refused as before.
"""

import numpy as np
import pytest

import fastloss
from fastloss import _api

from support import DTYPES, FAST_ENTRIES, PARALLEL_MIN, general, logits

SHAPES = [(1, 1), (5, 3), (32, 10), (37, 33), (8, 300), (3, 2049)]
REDUCTIONS = ["none", "mean", "sum"]


def same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for p, q in zip(a, b):
            same(p, q)
        return
    assert type(a) is type(b)
    assert np.asarray(a).dtype == np.asarray(b).dtype
    assert np.asarray(a).shape == np.asarray(b).shape
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def with_specials(x):
    x = x.copy()
    if x.shape[0] > 3 and x.shape[1] > 1:
        x[1, 0] = np.inf
        x[2, :] = -np.inf
        x[3, -1] = np.nan
    return x


@pytest.fixture(params=[False, True], ids=["plain", "special"])
def special(request):
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(7,), (2, 3, 4)])
def test_softmax_family(rng, dtype, shape, special):
    x = logits(rng, shape, dtype)
    if special and x.ndim == 2:
        x = with_specials(x)
    for fn in (fastloss.logsumexp, fastloss.softmax, fastloss.log_softmax):
        same(fn(x), general(fn, x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}, {"ignore_index": 1},
                                     {"weight": "random"}],
                         ids=["plain", "smoothed", "ignore", "weighted"])
def test_class_losses(rng, dtype, shape, reduction, options, special):
    x = logits(rng, shape, dtype)
    if special:
        x = with_specials(x)
    y = rng.integers(0, shape[1], shape[0])
    options = dict(options)
    if options.get("weight") == "random":
        options["weight"] = rng.uniform(0.5, 2.0, shape[1])
    for target in (y, y.astype(np.int32), y.astype(np.uint8)):
        for cls, kw in ((fastloss.CrossEntropyLoss, options),
                        (fastloss.NLLLoss, {k: v for k, v in options.items()
                                            if k != "label_smoothing"})):
            fast = cls(reduction=reduction, **kw)
            same(fast(x, target), general(fast, x, target))
            same(fast.grad(x, target), general(fast.grad, x, target))
            same(fast.value_and_grad(x, target), general(fast.value_and_grad, x, target))
            if reduction != "none":
                same(fast.grad(x, target, grad_output=0.37),
                     general(fast.grad, x, target, grad_output=0.37))
        if "weight" not in options:
            same(fastloss.cross_entropy(x, target, reduction=reduction, **options),
                 general(fastloss.cross_entropy, x, target, reduction=reduction, **options))
            kw = {k: v for k, v in options.items() if k != "label_smoothing"}
            same(fastloss.nll_loss(x, target, reduction=reduction, **kw),
                 general(fastloss.nll_loss, x, target, reduction=reduction, **kw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_of_many_elements_in_few_rows(rng, dtype, reduction):
    """nll_loss's fast path takes any number of classes (it reads one
    element a row): the general path's bits, on one thread or two."""
    x = logits(rng, (1024, 100), dtype)
    y = rng.integers(-1, 100, 1024)
    for n_threads in (1, 2):
        same(fastloss.nll_loss(x, y, reduction=reduction, ignore_index=-1),
             general(fastloss.nll_loss, x, y, reduction=reduction, ignore_index=-1,
                     num_threads=n_threads))
    y[5] = 100
    with pytest.raises(IndexError, match=r"class index 100 at position \(5,\)"):
        fastloss.nll_loss(x, y, reduction=reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (2047,), (2049,), (32, 10), (3, 4, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_elementwise_losses(rng, dtype, shape, reduction, special):
    x = logits(rng, shape, dtype)
    if special:
        x.reshape(-1)[:3] = [np.inf, -np.inf, np.nan][:x.size]
    t = rng.random(shape).astype(dtype)
    with np.errstate(over="ignore"):
        p = (1 / (1 + np.exp(-np.nan_to_num(x.astype(np.float64))))).astype(dtype)
    for cls, a in ((fastloss.BCEWithLogitsLoss, x), (fastloss.BCELoss, p),
                   (fastloss.MSELoss, x)):
        fast = cls(reduction=reduction)
        same(fast(a, t), general(fast, a, t))
        same(fast.grad(a, t), general(fast.grad, a, t))
        same(fast.value_and_grad(a, t), general(fast.value_and_grad, a, t))
    for fn, a in ((fastloss.binary_cross_entropy_with_logits, x),
                  (fastloss.binary_cross_entropy, p), (fastloss.mse_loss, x)):
        same(fn(a, t, reduction=reduction), general(fn, a, t, reduction=reduction))


def test_the_fast_path_takes_the_common_case():
    """It does take the calls it is for (else the tests above compare the
    general path with itself)."""
    x = np.zeros((32, 10), np.float32)
    y = np.zeros(32, np.int64)
    assert _api._fast_softmax(x, _api._SOFTMAX) is not NotImplemented
    assert _api._fast_class(_api._CE, x, y, None, -100, 0.0, "mean", 0, 1.0) \
        is not NotImplemented
    assert _api._fast_binary(fastloss._kernels.kernels.MSE, x, x, "sum", 2, 1.0) \
        is not NotImplemented
    # NLL's value reads one element a row: a larger array of few rows is taken
    x_wide = np.zeros((32, PARALLEL_MIN), np.float32)
    assert _api._fast_class(_api._NLL, x_wide, y, None, -100, 0.0, "mean", 0, 1.0) \
        is not NotImplemented
    assert _api._fast_class(_api._NLL, x_wide, y, None, -100, 0.0, "mean", 2, 1.0) \
        is NotImplemented
    big = np.zeros((PARALLEL_MIN + 1,), np.float32)
    assert _api._fast_softmax(big, _api._SOFTMAX) is NotImplemented
    for bad in (x.astype(np.float16), x[:, ::2], x.astype(">f4"), np.asfortranarray(x[:4])):
        assert _api._fast_softmax(bad, _api._SOFTMAX) is NotImplemented


def test_a_thread_count_takes_the_fast_path(monkeypatch):
    """num_threads=n (a positive int) takes the fast path too, with the
    default's bits (its arrays run on one thread on either path); any other
    count is the general path's to take (a NumPy integer) or refuse."""
    x = np.linspace(-3, 3, 320, dtype=np.float32).reshape(32, 10)
    y = np.arange(32) % 10
    t = (x > 0).astype(np.float32)
    functions = [
        (fastloss.logsumexp, (x,)), (fastloss.softmax, (x,)), (fastloss.log_softmax, (x,)),
        (fastloss.sigmoid, (x,)), (fastloss.cross_entropy, (x, y)),
        (fastloss.nll_loss, (x, y)), (fastloss.binary_cross_entropy_with_logits, (x, t)),
        (fastloss.binary_cross_entropy, (np.abs(x) / 3, t)), (fastloss.mse_loss, (x, t)),
        (fastloss.l1_loss, (x, t)),
    ]
    methods = [
        (fastloss.CrossEntropyLoss(num_threads=4).value_and_grad, (x, y)),
        (fastloss.BCEWithLogitsLoss(num_threads=1).grad, (x, t)),
        (fastloss.MSELoss(num_threads=2).value_and_grad, (x, t)),
    ]
    taken = []

    def spy(entry):
        def call(*args, **kwargs):
            taken.append(entry)
            return entry(*args, **kwargs)
        return call

    for name in FAST_ENTRIES:
        monkeypatch.setattr(_api, name, spy(getattr(_api, name)))
    for fn, args in methods:
        expected = general(fn, *args)
        del taken[:]
        same(fn(*args), expected)
        assert taken, fn
    for fn, args in functions:
        expected = general(fn, *args)
        for n in (1, 2, 64):
            del taken[:]
            same(fn(*args, num_threads=n), expected)
            assert taken, (fn, n)
        del taken[:]
        same(fn(*args, num_threads=np.int64(2)), expected)
        assert not taken, fn
        for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError),
                           (True, TypeError)):
            with pytest.raises(error, match="num_threads"):
                fn(*args, num_threads=bad)


@pytest.mark.parametrize("call,error,match", [
    (lambda: fastloss.cross_entropy(np.zeros((4, 3)), [0, 1, 3, 0]), IndexError,
     r"class index 3 at position \(2,\)"),
    (lambda: fastloss.cross_entropy(np.zeros((4, 3)), np.array([0, 1, 3, 0])), IndexError,
     r"class index 3 at position \(2,\)"),
    (lambda: fastloss.CrossEntropyLoss().value_and_grad(np.zeros((4, 3)),
                                                        np.array([0, -1, 2, 0])),
     IndexError, r"class index -1 at position \(1,\)"),
    (lambda: fastloss.cross_entropy(np.zeros((4, 3)), np.array([0, 1, 2, 0]),
                                    reduction="avg"), ValueError, "reduction: expected"),
    (lambda: fastloss.cross_entropy(np.zeros((4, 3)), np.array([0, 1, 2, 0]),
                                    label_smoothing=1.5), ValueError, "label_smoothing"),
    (lambda: fastloss.cross_entropy(np.zeros((4, 3)), np.array([0, 1, 2, 0]),
                                    ignore_index=True), TypeError, "ignore_index"),
    (lambda: fastloss.binary_cross_entropy(np.full(4, 1.5), np.zeros(4)), ValueError,
     r"input: expected probabilities in \[0, 1\], got 1.5"),
    (lambda: fastloss.mse_loss(np.zeros(4), np.zeros(3)), ValueError, "target: expected"),
    # a 0-d array has no last axis (the fast path read the size of axis -1)
    (lambda: fastloss.logsumexp(np.zeros(())), np.exceptions.AxisError,
     "axis"),
    (lambda: fastloss.softmax(np.zeros((), np.float32)), np.exceptions.AxisError, "axis"),
    (lambda: fastloss.MSELoss(reduction="none").grad(np.zeros(4), np.zeros(4),
                                                     grad_output=np.ones(5)),
     ValueError, "grad_output: expected an array broadcastable"),
    (lambda: fastloss.CrossEntropyLoss().grad(np.zeros((4, 3)), np.array([0, 1, 2, 0]),
                                              grad_output=np.ones(2)),
     ValueError, "grad_output: expected a real scalar"),
    # an int beyond uint64 is an object array to NumPy (the fast path took it as a double)
    (lambda: fastloss.CrossEntropyLoss().grad(np.zeros((4, 3)), np.array([0, 1, 2, 0]),
                                              grad_output=2**64),
     ValueError, "grad_output: expected a real scalar.*object array"),
    (lambda: fastloss.MSELoss().grad(np.zeros(4), np.ones(4), grad_output=-2**70),
     ValueError, "grad_output: expected a real scalar.*object array"),
])
def test_refusals_are_the_general_paths(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", [fastloss.MSELoss, fastloss.BCELoss, fastloss.BCEWithLogitsLoss])
def test_a_nan_grad_output_gives_the_same_bits_anywhere(dtype, loss):
    """A NaN grad_output and a NaN gradient: two NaN operands, whose result
    depended on the copy of the loop (the full vectors' or the tail's)."""
    bits = np.uint32(0x7fc00123) if dtype == np.float32 else np.uint64(0x7ff8000000000123)
    x = np.full(37, bits).view(dtype)
    if loss is fastloss.BCELoss:                  # probabilities: NaN refused
        x = np.full(37, 0.25, dtype)
    t = np.zeros(37, dtype)
    fn = loss(reduction="sum")
    whole = fn.grad(x, t, grad_output=float("nan"))
    assert np.isnan(whole).all()
    for k in (1, 5, 33):
        part = fn.grad(x[:k], t[:k], grad_output=float("nan"))
        assert part.tobytes() == whole[:k].tobytes(), k
