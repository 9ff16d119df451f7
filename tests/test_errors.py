"""Every refusal: the exception type and its message (part of the API), and
that nothing is written to ``out`` when an error is raised."""

import warnings

import numpy as np
import pytest

import fastloss

import reference as ref

X = np.zeros((4, 3))
Y = np.array([0, 1, 2, 1])
P = np.full((4, 3), 1 / 3)


# ------------------------------------------------------------------ logits

@pytest.mark.parametrize("bad,what", [
    (np.zeros((4, 3), np.int64), "int64"),
    (np.zeros((4, 3), np.int32), "int32"),
    (np.zeros((4, 3), bool), "bool"),
    (np.zeros((4, 3), np.complex128), "complex128"),
    (np.zeros((4, 3), object), "object"),
    ([[True, False]], "bool"),
    ([[1j, 2]], "complex128"),
    (np.zeros((4, 3), np.longdouble), "float128"),
])
@pytest.mark.parametrize("fn", [
    lambda x: fastloss.softmax(x),
    lambda x: fastloss.log_softmax(x),
    lambda x: fastloss.logsumexp(x),
    lambda x: fastloss.cross_entropy(x, np.zeros(np.shape(x)[:-1], int)),
    lambda x: fastloss.nll_loss(x, np.zeros(np.shape(x)[:-1], int)),
    lambda x: fastloss.binary_cross_entropy_with_logits(x, np.zeros(np.shape(x))),
    lambda x: fastloss.binary_cross_entropy(x, np.zeros(np.shape(x))),
    lambda x: fastloss.mse_loss(x, np.zeros(np.shape(x))),
])
def test_non_float_input(fn, bad, what):
    if what == "float128" and np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(TypeError, match=rf"expected a float32 or float64 array.*got {what}"):
        fn(bad)


def test_ragged_input():
    with pytest.raises(TypeError, match="input: could not be converted to an array"):
        fastloss.cross_entropy([[1.0, 2.0], [3.0]], [0, 0])


# ---------------------------------------------------------- class targets

@pytest.mark.parametrize("target,value", [
    (np.array([0, 3, 1, 1]), 3),                                 # == C
    (np.array([0, 1, -1, 1]), -1),
    (np.array([0, 1, 2, -101]), -101),
    (np.array([0, 1, 2, 2**40]), 2**40),
    (np.array([0, -5, 1, 1], np.int8), -5),
    (np.array([0, 200, 1, 1], np.uint8), 200),
    (np.array([0, 1, 2**63, 1], np.uint64), 2**63),
    (np.array([0, 1, 2**64 - 100, 1], np.uint64), 2**64 - 100),  # would wrap to -100
    (np.array([0, 1, 2**64 - 1, 1], np.uint64), 2**64 - 1),
])
@pytest.mark.parametrize("fn", [fastloss.cross_entropy, fastloss.nll_loss])
def test_target_out_of_range(fn, target, value):
    with pytest.raises(IndexError, match=rf"target: class index {value} at position .* "
                                         r"out of range"):
        fn(X, target)


def test_target_out_of_range_names_position():
    with pytest.raises(IndexError, match=r"class index 7 at position \(1, 2\) is out of "
                                         r"range for 3 classes"):
        fastloss.cross_entropy(np.zeros((2, 3, 4)), np.array([[0, 0, 0, 0], [0, 0, 7, 0]]),
                               axis=1)


def test_target_shape():
    with pytest.raises(ValueError, match=r"target: expected class indices of shape \(4,\)"):
        fastloss.cross_entropy(X, [0, 1, 2])
    with pytest.raises(ValueError, match=r"target: expected class indices of shape \(4,\)"):
        fastloss.nll_loss(X, np.zeros((4, 1), int))


def test_float_target_shape():
    # float targets are probabilities: the input's shape
    with pytest.raises(TypeError, match=r"target: probability targets need the input's "
                                        r"shape \(4, 3\), got float64 array of shape \(4,\)"):
        fastloss.cross_entropy(X, Y.astype(float))
    with pytest.raises(ValueError, match=r"target: probability targets need the input's "
                                         r"shape \(4, 3\)"):
        fastloss.cross_entropy(X, np.zeros((4, 2)))


@pytest.mark.parametrize("target", [np.zeros(4, bool), np.zeros(4, complex), ["a"] * 4])
def test_target_dtype(target):
    with pytest.raises(TypeError, match="target: expected integer class indices or float"):
        fastloss.cross_entropy(X, target)


def test_nll_refuses_probability_targets():
    with pytest.raises(TypeError, match="target: expected integer class indices, got float64"):
        fastloss.nll_loss(X, P)


def test_zero_dimensional_input():
    with pytest.raises(ValueError, match="input: expected an array with a class axis"):
        fastloss.cross_entropy(1.0, 0)


# ----------------------------------------------------------------- options

@pytest.mark.parametrize("call", [
    lambda **kw: fastloss.cross_entropy(X, Y, **kw),
    lambda **kw: fastloss.nll_loss(X, Y, **kw),
    lambda **kw: fastloss.binary_cross_entropy_with_logits(X, P, **kw),
    lambda **kw: fastloss.binary_cross_entropy(P, P, **kw),
    lambda **kw: fastloss.mse_loss(X, P, **kw),
])
def test_reduction_and_num_threads(call):
    with pytest.raises(ValueError, match=r"reduction: expected 'none', 'mean' or 'sum', "
                                         r"got 'avg'"):
        call(reduction="avg")
    with pytest.raises(ValueError, match="reduction: .* got None"):
        call(reduction=None)
    with pytest.raises(ValueError, match="num_threads: expected a positive integer or None, "
                                         "got 0"):
        call(num_threads=0)
    with pytest.raises(ValueError, match="num_threads: .* got -2"):
        call(num_threads=-2)
    with pytest.raises(TypeError, match="num_threads: .* got 1.5"):
        call(num_threads=1.5)


@pytest.mark.parametrize("eps", [-0.1, 1.5, np.nan])
def test_label_smoothing_range(eps):
    with pytest.raises(ValueError, match=r"label_smoothing: expected a float in \[0, 1\]"):
        fastloss.cross_entropy(X, Y, label_smoothing=eps)
    with pytest.raises(ValueError, match="label_smoothing"):
        fastloss.CrossEntropyLoss(label_smoothing=eps)


def test_label_smoothing_type():
    with pytest.raises(TypeError, match="label_smoothing: expected a float"):
        fastloss.cross_entropy(X, Y, label_smoothing="a")


@pytest.mark.parametrize("fn", [fastloss.softmax, fastloss.log_softmax, fastloss.logsumexp])
def test_axis(fn):
    with pytest.raises(ValueError, match="axis: axis 2 is out of bounds for array of "
                                         "dimension 2"):
        fn(X, axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of bounds"):
        fn(X, axis=-3)
    with pytest.raises(TypeError, match="axis: expected an integer, got 1.0"):
        fn(X, axis=1.0)
    with pytest.raises(ValueError, match="axis -1 is out of bounds for array of dimension 0"):
        fn(1.0)


def test_loss_axis():
    with pytest.raises(ValueError, match="axis: axis 2 is out of bounds"):
        fastloss.cross_entropy(X, Y, axis=2)
    with pytest.raises(ValueError, match="axis 5 is out of bounds"):
        fastloss.nll_loss(X, Y, axis=5)


def test_ignore_index_type():
    with pytest.raises(TypeError, match="ignore_index: expected an integer, got 1.5"):
        fastloss.cross_entropy(X, Y, ignore_index=1.5)
    with pytest.raises(ValueError, match="ignore_index: expected a 64-bit integer"):
        fastloss.cross_entropy(X, Y, ignore_index=2**70)


# ----------------------------------------------------------------- weights

def test_class_weight():
    with pytest.raises(ValueError, match=r"weight: expected one weight per class, "
                                         r"shape \(3,\), got shape \(2,\)"):
        fastloss.cross_entropy(X, Y, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"got shape \(1, 3\)"):
        fastloss.nll_loss(X, Y, weight=[[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="weight: expected a real numeric array"):
        fastloss.cross_entropy(X, Y, weight=np.ones(3, complex))
    with pytest.raises(ValueError, match=r"weight: expected one weight per class"):
        fastloss.CrossEntropyLoss([1.0, 2.0])(X, Y)


def test_binary_weights():
    with pytest.raises(ValueError, match=r"pos_weight: expected an array broadcastable to the "
                                         r"input's shape \(4, 3\) \(one weight per class on "
                                         r"the last axis: shape \(3,\)\), got shape \(4,\)"):
        fastloss.binary_cross_entropy_with_logits(X, P, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match=r"weight: expected an array broadcastable to the "
                                         r"input's shape \(4, 3\), got shape \(2, 4, 3\)"):
        fastloss.binary_cross_entropy(P, P, weight=np.ones((2, 4, 3)))


@pytest.mark.parametrize("fn", [fastloss.binary_cross_entropy_with_logits,
                                fastloss.binary_cross_entropy, fastloss.mse_loss])
def test_binary_target_shape(fn):
    with pytest.raises(ValueError, match=r"target: expected the input's shape \(4, 3\), "
                                         r"got shape \(3,\)"):
        fn(P, np.zeros(3))
    with pytest.raises(TypeError, match="target: expected a real numeric array, got <U1"):
        fn(P, np.full((4, 3), "a"))


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_bce_probabilities_in_unit_interval(bad):
    x = P.copy()
    x[2, 1] = bad
    with pytest.raises(ValueError, match=rf"input: expected probabilities in \[0, 1\], "
                                         rf"got {bad} at position \(2, 1\)"):
        fastloss.binary_cross_entropy(x, P)
    with pytest.raises(ValueError, match=r"target: expected probabilities in \[0, 1\]"):
        fastloss.binary_cross_entropy(P, x)
    with pytest.raises(ValueError, match="input: expected probabilities"):
        fastloss.BCELoss().grad(x, P)


# ------------------------------------------------------------------ out

@pytest.mark.parametrize("fn", [fastloss.softmax, fastloss.log_softmax])
def test_out(fn):
    with pytest.raises(ValueError, match=r"out: expected shape \(4, 3\), got \(3, 4\)"):
        fn(X, out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="out: expected dtype float64, got float32"):
        fn(X, out=np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match="out: expected a numpy.ndarray, got list"):
        fn(X, out=[0.0] * 12)
    ro = np.empty((4, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out: the array is read-only"):
        fn(X, out=ro)


def test_logsumexp_out():
    with pytest.raises(ValueError, match=r"out: expected shape \(4,\), got \(4, 1\)"):
        fastloss.logsumexp(X, out=np.empty((4, 1)))
    with pytest.raises(TypeError, match="out: expected dtype float32, got float64"):
        fastloss.logsumexp(X.astype(np.float32), out=np.empty(4))


@pytest.mark.parametrize("loss_fn,target", [
    (fastloss.CrossEntropyLoss(), Y), (fastloss.NLLLoss(), Y),
    (fastloss.BCEWithLogitsLoss(), P), (fastloss.BCELoss(), P), (fastloss.MSELoss(), P),
])
def test_grad_out_and_grad_output(loss_fn, target):
    with pytest.raises(ValueError, match=r"out: expected shape \(4, 3\), got \(4,\)"):
        loss_fn.grad(P, target, out=np.empty(4))
    with pytest.raises(TypeError, match="out: expected dtype float64, got float32"):
        loss_fn.value_and_grad(P, target, out=np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="grad_output: expected a real scalar for "
                                         "reduction='mean', got float64 array of shape"):
        loss_fn.grad(P, target, grad_output=np.ones(4))
    loss_fn.reduction = "none"
    with pytest.raises(ValueError, match="grad_output: expected an array broadcastable to "
                                         "the loss's shape"):
        loss_fn.grad(P, target, grad_output=np.ones(7))
    loss_fn.reduction = "mean"


def test_loss_objects_check_options_when_made():
    with pytest.raises(ValueError, match="reduction: expected"):
        fastloss.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="num_threads"):
        fastloss.MSELoss(num_threads=0)
    with pytest.raises(TypeError, match="ignore_index"):
        fastloss.NLLLoss(ignore_index="x")
    with pytest.raises(TypeError, match="pos_weight: expected a real numeric array"):
        fastloss.BCEWithLogitsLoss(pos_weight="x")


def test_set_num_threads():
    with pytest.raises(ValueError, match="n: expected a positive integer or None, got 0"):
        fastloss.set_num_threads(0)
    with pytest.raises(TypeError, match="n: expected a positive integer"):
        fastloss.set_num_threads("2")
    with pytest.raises(ValueError, match="mode: expected 'stdout' or 'dicts'"):
        fastloss.show_config(mode="json")


# ------------------------------------------ nothing written on an error

SENTINEL = 123.25


def untouched(shape, dtype=np.float64):
    return np.full(shape, SENTINEL, dtype)


@pytest.mark.parametrize("case", [
    lambda out: fastloss.CrossEntropyLoss().grad(X, [0, 1, 3, 1], out=out),
    lambda out: fastloss.CrossEntropyLoss().value_and_grad(X, [0, 1, 2], out=out),
    lambda out: fastloss.CrossEntropyLoss(reduction="none").grad(X, Y, grad_output=[1, 2],
                                                                 out=out),
    lambda out: fastloss.NLLLoss(weight=[1.0, 2.0]).grad(X, Y, out=out),
    lambda out: fastloss.BCELoss().grad(P + 1, P, out=out),
    lambda out: fastloss.BCEWithLogitsLoss(pos_weight=[1.0, 2.0]).grad(X, P, out=out),
    lambda out: fastloss.MSELoss().grad(X, P[:, :2], out=out),
    lambda out: fastloss.softmax(X, axis=3, out=out),
    lambda out: fastloss.log_softmax(X, out=out, num_threads=0),
    lambda out: fastloss.softmax(X.astype(int), out=out),
])
def test_nothing_written_to_out_on_error(case):
    out = untouched((4, 3))
    with pytest.raises((TypeError, ValueError, IndexError)):
        case(out)
    np.testing.assert_array_equal(out, SENTINEL)


def test_in_place_input_untouched_on_error():
    x = untouched((4, 3))
    with pytest.raises(IndexError):
        fastloss.CrossEntropyLoss().value_and_grad(x, [0, 9, 0, 0], out=x)
    np.testing.assert_array_equal(x, SENTINEL)


# ------------------------------------------- refusals that were missing or unclear

def test_ignore_index_with_probability_targets():
    """It was silently ignored; torch refuses it. The default -100 (given or
    not) is the only value accepted with probability targets."""
    for value in (0, 2, -1, -5):
        message = (r"ignore_index: not supported with probability targets \(a float "
                   rf"target\), got ignore_index={value}")
        with pytest.raises(ValueError, match=message):
            fastloss.cross_entropy(X, P, ignore_index=value)
        with pytest.raises(ValueError, match=message):
            fastloss.CrossEntropyLoss(ignore_index=value).value_and_grad(X, P)
    fastloss.cross_entropy(X, P, ignore_index=-100)
    fastloss.cross_entropy(X, Y, ignore_index=2)          # class indices: as always


def test_bool_class_weights_refused_by_functions_and_loss_objects():
    """The loss objects accepted bool class weights that cross_entropy refused."""
    w = np.array([True, False, True])
    message = r"weight: expected a real numeric array, got bool array of shape \(3,\)"
    for call in (lambda: fastloss.cross_entropy(X, Y, weight=w),
                 lambda: fastloss.nll_loss(X, Y, weight=w),
                 lambda: fastloss.CrossEntropyLoss(w),
                 lambda: fastloss.NLLLoss(w)):
        with pytest.raises(TypeError, match=message):
            call()


def test_subnormal_mean_denominator_warns_nothing():
    """The gradient's scale 1 / denominator overflowed with a RuntimeWarning
    for a subnormal "mean" denominator (here the sum of three 5e-324s)."""
    w = np.full(3, 5e-324)
    loss_fn = fastloss.CrossEntropyLoss(w)
    x = np.arange(12.0).reshape(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = loss_fn.value_and_grad(x, Y)
        loss_fn.grad(x, Y)
        value = fastloss.cross_entropy(x, Y, weight=w)
    # the value is the sum over the denominator, which is finite
    with np.errstate(all="ignore"):
        expected = ref.cross_entropy(x, Y, w)
    assert np.isfinite(expected) and np.isclose(loss, expected) and value == loss


# ------------------------------------------------------------ unusual out arrays

def as_matrix(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # NumPy's advice
        return np.asmatrix(a)


@pytest.mark.parametrize("make", [as_matrix, lambda a: a.astype(a.dtype.newbyteorder())],
                         ids=["matrix", "byteswapped"])
def test_matrix_and_byteswapped_out_are_written(make):
    """An np.matrix out reached a kernel that refused it without naming out;
    a byte-swapped out was refused while byte-swapped inputs are accepted.
    Both are written like any out, and returned."""
    x = np.arange(12.0).reshape(4, 3) / 7
    for call, expected in [
        (lambda out: fastloss.softmax(x, out=out), fastloss.softmax(x)),
        (lambda out: fastloss.log_softmax(x, out=out), fastloss.log_softmax(x)),
        (lambda out: fastloss.CrossEntropyLoss().grad(x, Y, out=out),
         fastloss.CrossEntropyLoss().grad(x, Y)),
        (lambda out: fastloss.BCEWithLogitsLoss().value_and_grad(x, P, out=out)[1],
         fastloss.BCEWithLogitsLoss().grad(x, P)),
    ]:
        out = make(np.zeros((4, 3)))
        assert call(out) is out
        np.testing.assert_array_equal(np.asarray(out, np.float64), expected)
    out = np.zeros(4, np.dtype(np.float32).newbyteorder())
    assert fastloss.logsumexp(x.astype(np.float32), out=out) is out
    np.testing.assert_array_equal(out, fastloss.logsumexp(x.astype(np.float32)))


# ------------------------------------- masked, dask and other libraries' arrays

class DuckArray:
    """Another library's array: NumPy converts it through ``__array__``."""

    def __init__(self, data):
        self._data = np.asarray(data)
        self.dtype, self.shape = self._data.dtype, self._data.shape

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)


def every_call(x, target=Y, binary_target=P, weight=None):
    """Every function and loss method, as calls of no argument: the softmax
    family on ``x``, the class losses on ``x`` and class indices ``target``
    (class ``weight``), the elementwise ones on ``x`` and ``binary_target``."""
    ce, t = fastloss.CrossEntropyLoss(weight), binary_target
    return [
        lambda: fastloss.logsumexp(x), lambda: fastloss.softmax(x),
        lambda: fastloss.log_softmax(x),
        lambda: fastloss.cross_entropy(x, target, weight=weight),
        lambda: fastloss.nll_loss(x, target, weight=weight),
        lambda: ce(x, target), lambda: ce.grad(x, target), lambda: ce.value_and_grad(x, target),
        lambda: fastloss.binary_cross_entropy_with_logits(x, t),
        lambda: fastloss.BCEWithLogitsLoss().value_and_grad(x, t),
        lambda: fastloss.mse_loss(x, t), lambda: fastloss.MSELoss().grad(x, t),
    ]


CLASS_CALLS = slice(3, 8)                    # every_call's calls with class targets
INPUT = "(x|input): "                        # the softmax family's name, the losses'
MASKED_MESSAGE = (r"expected an array without a mask, got a masked array \(.*\), whose mask "
                  r"fastloss would ignore; leave elements out with weight=0 .* ignore_index")


def test_masked_input_refused():
    """A masked array's mask was silently dropped."""
    x = np.ma.masked_array(X + 0.5, mask=X == 0)
    for call in every_call(x):
        with pytest.raises(TypeError, match=INPUT + MASKED_MESSAGE):
            call()


def test_masked_targets_and_weights_refused():
    y = np.ma.masked_array(Y, mask=[0, 1, 0, 0])
    for call in every_call(X, y)[CLASS_CALLS]:
        with pytest.raises(TypeError, match="target: " + MASKED_MESSAGE):
            call()
    with pytest.raises(TypeError, match="target: " + MASKED_MESSAGE):
        fastloss.mse_loss(X, np.ma.masked_array(P))
    w = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 0, 1])
    with pytest.raises(TypeError, match="weight: " + MASKED_MESSAGE):
        fastloss.cross_entropy(X, Y, weight=w)
    with pytest.raises(TypeError, match="weight: " + MASKED_MESSAGE):
        fastloss.binary_cross_entropy_with_logits(X, P, weight=w)
    with pytest.raises(TypeError, match="grad_output: " + MASKED_MESSAGE):
        fastloss.MSELoss(reduction="none").grad(X, P, grad_output=np.ma.masked_array(P))


def test_masked_out_refused():
    """A masked ``out`` had its data written and its mask dropped."""
    ce = fastloss.CrossEntropyLoss()
    calls = [
        (lambda o: fastloss.logsumexp(X, out=o), (X.shape[0],)),
        (lambda o: fastloss.softmax(X, out=o), X.shape),
        (lambda o: fastloss.log_softmax(X, out=o), X.shape),
        (lambda o: ce.grad(X, Y, out=o), X.shape),
        (lambda o: ce.value_and_grad(X, Y, out=o), X.shape),
        (lambda o: fastloss.MSELoss().grad(X, P, out=o), X.shape),
    ]
    for call, shape in calls:
        mask = np.zeros(shape, bool)
        mask.flat[0] = True
        out = np.ma.masked_array(np.full(shape, 7.0, X.dtype), mask=mask)
        with pytest.raises(TypeError, match=r"out: expected an array without a mask, got a "
                                            r"masked array .*numpy\.ma\.getdata"):
            call(out)
        assert (out.data == 7.0).all() and (out.mask == mask).all()


def test_dask_arrays_refused_without_computing_them():
    """A dask array was computed whole into memory by np.asarray."""
    da = pytest.importorskip("dask.array")

    def never(block):
        raise AssertionError("the dask array was computed")

    x = da.zeros((4, 3), chunks=2).map_blocks(never, dtype=np.float64,
                                               meta=np.array((), np.float64))
    y = da.from_array(Y, chunks=2).map_blocks(never, dtype=np.int64,
                                               meta=np.array((), np.int64))
    message = (r"expected an in-memory array, got a dask collection \(dask\.array\.core\.Array "
               r"of shape \(4, 3\)\), which would be computed whole into memory; use the "
               r"function of the same name in fastloss\.dask")
    for call in every_call(x):
        with pytest.raises(TypeError, match=INPUT + message):
            call()
    for call in every_call(X, y)[CLASS_CALLS]:
        with pytest.raises(TypeError, match="target: expected an in-memory array, got a dask"):
            call()
    with pytest.raises(TypeError, match="weight: expected an in-memory array, got a dask"):
        fastloss.binary_cross_entropy_with_logits(X, P, weight=x)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool])
def test_other_libraries_integer_arrays_refused_as_numpys(dtype):
    """A torch int64 tensor was converted to float64 where a NumPy integer
    array is a TypeError: the dtype decides, whatever the library."""
    what = np.dtype(dtype).name
    message = (INPUT + r"expected a float32 or float64 array \(float16 is computed as "
               rf"float32\), got {what} array of shape \((4, 3)?\) \(from a ")
    scalar = np.zeros((), dtype)[()]                            # a NumPy integer scalar
    for call in every_call(DuckArray(np.zeros((4, 3), dtype))) + every_call(scalar)[:3]:
        with pytest.raises(TypeError, match=message):
            call()


def flat(result):
    """A result (or a (loss, grad) pair) as one 1-D array."""
    parts = result if isinstance(result, tuple) else (result,)
    return np.concatenate([np.ravel(p) for p in parts])


def test_other_libraries_float_arrays_and_integer_targets_accepted():
    x = np.arange(12.0).reshape(4, 3) / 5
    for dtype in (np.float32, np.float64):
        ours = every_call(DuckArray(x.astype(dtype)), DuckArray(Y), DuckArray(P))
        for got, want in zip(ours, every_call(x.astype(dtype))):
            np.testing.assert_array_equal(flat(got()), flat(want()))
    # Python numbers and lists: integers are converted as NumPy does
    assert fastloss.mse_loss(3, 1) == 4.0 and fastloss.mse_loss([3, 3], [1, 1]) == 4.0


def test_torch_integer_tensor_refused_as_numpys():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"input: expected a float32 or float64 array .* got "
                                        r"int64 array of shape \(4, 3\) \(from a torch\.Tensor\)"):
        fastloss.cross_entropy(torch.zeros((4, 3), dtype=torch.int64), Y)
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    assert fastloss.cross_entropy(x, torch.from_numpy(Y)) == fastloss.cross_entropy(
        x.numpy(), Y)


# ------------------------------------------------------- PyTorch's names

DIM = r"dim: not a fastloss parameter \(PyTorch's name\); "


@pytest.mark.parametrize("call", [
    lambda: fastloss.logsumexp(X, dim=1), lambda: fastloss.softmax(X, dim=1),
    lambda: fastloss.log_softmax(X, dim=1), lambda: fastloss.cross_entropy(X, Y, dim=1),
    lambda: fastloss.nll_loss(X, Y, dim=1), lambda: fastloss.CrossEntropyLoss(dim=1),
    lambda: fastloss.NLLLoss(dim=1),
    # the general path too: options that leave the fast path out
    lambda: fastloss.softmax(X, dim=1, num_threads=1),
    lambda: fastloss.cross_entropy(X, Y, dim=1, weight=[1.0, 1.0, 1.0]),
])
def test_dim_says_use_axis(call):
    """dim= was "got an unexpected keyword argument 'dim'", a bare TypeError."""
    with pytest.raises(TypeError, match=DIM + r"use axis= \(NumPy's name\): axis=1, got dim=1"):
        call()


@pytest.mark.parametrize("loss_fn,target", [
    (fastloss.CrossEntropyLoss(), Y), (fastloss.NLLLoss(), Y),
    (fastloss.CrossEntropyLoss(num_threads=1), Y),
    (fastloss.BCEWithLogitsLoss(), P), (fastloss.BCELoss(), P), (fastloss.MSELoss(), P),
])
def test_dim_given_to_a_loss_method(loss_fn, target):
    name = type(loss_fn).__name__
    if "axis" in loss_fn._options:
        message = (DIM + rf"the class axis is an option of the loss object: "
                   rf"{name}\(axis=0\), got dim=0")
    else:
        message = DIM + rf"{name} has no axis \(its loss is elementwise\), got dim=0"
    for call in (lambda: loss_fn(X, target, dim=0), lambda: loss_fn.grad(X, target, dim=0),
                 lambda: loss_fn.value_and_grad(X, target, dim=0),
                 lambda: loss_fn.grad(X, target, dim=0, out=np.empty_like(X))):
        with pytest.raises(TypeError, match=message):
            call()


def test_the_hidden_parameters_stay_out_of_the_signatures():
    import inspect

    for obj in (fastloss.logsumexp, fastloss.softmax, fastloss.cross_entropy,
                fastloss.CrossEntropyLoss, fastloss.MSELoss().value_and_grad):
        assert "dim" not in inspect.signature(obj).parameters, obj
