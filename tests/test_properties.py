"""Property-based comparison with the references and the stated special-value
semantics (hypothesis, derandomized so that every run tries the same examples).

The examples cover every function and loss method; shapes with 0 rows, 1
class and up to 100,000 classes, the class axis anywhere; float32 and float64;
every layout of tests/conftest.py for the input, targets and weights; every
integer dtype of class targets; ``out`` given (C, Fortran, strided, the input
itself) or not; every option. Values are drawn row by row from a palette that
holds ±inf, NaN, ±1e30, subnormals, values where exp overflows, and rows whose
elements are all equal.

Hypothesis draws a compact description of each problem (shapes, kinds of rows,
options, a seed); the arrays are made from it by a seeded NumPy generator, so
that large arrays cost little to generate and a failing example prints short.
A float32 result is compared with the float64 reference rounded to float32 (a
sum of squares of 1e30 is +inf in float32, not 1e60).
"""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastloss

import reference
from support import BLOCK, LAYOUTS, PARALLEL_MIN, assert_close, tol
from support import layout as _layout

# fastloss computes NaN and inf silently, as torch: a RuntimeWarning from it
# fails these tests (the references' warnings are silenced below).
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


class _QuietReferences:
    """tests/reference.py with NumPy's floating-point warnings silenced."""

    def __getattr__(self, name):
        fn = getattr(reference, name)

        def call(*args, **kwargs):
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)
        return call


ref = _QuietReferences()

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

DTYPES = [np.float32, np.float64]
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
# Class counts around the kernels' boundaries (blocks of rows below 128
# classes, chunks of 2,048) and the largest the issue asks for.
LARGE_CLASSES = [127, 128, 129, BLOCK - 1, BLOCK, BLOCK + 1, 5000, 100_000]
MAX_ELEMENTS = 200_000            # per example, so that the references stay fast
# Row counts: none, a few, and enough for several reduction blocks and the
# parallel path (over 32,768 elements).
ROWS = st.one_of(st.integers(0, 7), st.sampled_from([0, 1, 2, 300, 2500, 4099]))
ROW_KINDS = ("normal", "wide", "equal", "huge", "tiny", "posinf", "neginf", "allneginf",
             "nan", "mixed")
REDUCTIONS = ["none", "mean", "sum"]
THREADS = [None, 1, 2, 3]
OUTS = ["none", "C", "F", "strided", "unaligned", "in place"]


# ------------------------------------------------------------------ values

def special_values(dtype):
    tiny = float(np.finfo(dtype).smallest_subnormal)
    overflow = 89.0 if dtype == np.float32 else 710.0          # exp overflows above
    return np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e30, -1e30, tiny, -tiny,
                     3 * tiny, overflow, -overflow, 0.5])


def fill_rows(rng, kinds, n_classes, dtype):
    """A float64 array of shape (len(kinds), n_classes), row r of kind kinds[r],
    every value representable in dtype."""
    out = np.empty((len(kinds), n_classes))
    specials = special_values(dtype)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    if n_classes == 0:
        return out
    for r, kind in enumerate(kinds):
        row = rng.standard_normal(n_classes) * 3
        if kind == "wide":
            row *= 40
        elif kind == "equal":
            row[:] = rng.choice(specials)
        elif kind == "huge":
            big = rng.choice([1e30, -1e30], n_classes)
            row = np.where(rng.random(n_classes) < 0.5, big, row)
        elif kind == "tiny":
            row = rng.integers(-40, 40, n_classes) * tiny
        elif kind == "posinf":
            row[rng.integers(n_classes)] = np.inf
        elif kind == "neginf":
            row[rng.random(n_classes) < 0.4] = -np.inf
        elif kind == "allneginf":
            row[:] = -np.inf
        elif kind == "nan":
            row[rng.integers(n_classes)] = np.nan
        elif kind == "mixed":
            pick = rng.random(n_classes) < 0.3
            row[pick] = rng.choice(specials, int(pick.sum()))
        out[r] = row
    return out.astype(dtype).astype(np.float64)


def layout(arr, kind):
    """conftest's layout, keeping 0-d arrays 0-d (np.ascontiguousarray and
    np.asfortranarray make them 1-d)."""
    if np.ndim(arr) == 0 and kind in ("C", "F"):
        return np.array(arr)
    return _layout(arr, kind)


def expected_in(expected, dtype):
    """The float64 reference rounded to the result's dtype."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(expected, np.float64).astype(dtype)


def check(actual, expected, dtype, slack=None):
    """actual against the reference at the dtype's tolerance; ``slack`` (of
    expected's shape) adds an absolute allowance per element."""
    assert np.asarray(actual).dtype == dtype
    assert np.shape(actual) == np.shape(expected)
    want = expected_in(expected, dtype)
    if slack is None:
        assert_close(actual, want, dtype)
        return
    got, want = np.asarray(actual, np.float64), np.asarray(want, np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    allowed = tol(dtype)["atol"] + tol(dtype)["rtol"] * np.abs(want) + slack
    with np.errstate(invalid="ignore"):
        excess = (np.abs(got - want) - allowed)[finite]
    assert (excess <= 0).all(), f"{excess.max()} beyond the allowance"


def out_array(kind, shape, dtype):
    """A writeable ``out`` of the given memory layout, filled with garbage."""
    base = np.full(shape, -7.25, dtype)
    return base if kind == "C" else layout(base, kind)


def call_with_out(fn, x, out_kind, dtype, out_shape=None, written=lambda result: result):
    """fn(x, out=...) for an ``out`` of the given kind (and shape, default
    x's), checking that ``written(result)`` is ``out``; None where the kind
    does not apply (in place on a read-only or byte-swapped input)."""
    if out_kind == "none":
        return fn(x)
    if out_kind == "in place":
        if not (x.flags.writeable and x.dtype.isnative):
            return None
        out = x.copy()
        got = fn(out, out=out)
    else:
        out = out_array(out_kind, np.shape(x) if out_shape is None else out_shape, dtype)
        got = fn(x, out=out)
    assert written(got) is out
    return got


# ------------------------------------------------------- class-axis arrays

@dataclass(frozen=True)
class ClassArray:
    """An input with a class axis: its rows (class-axis fibres) are of the
    given kinds, drawn from a palette by a generator seeded with ``seed``."""

    dtype: type
    n_classes: int
    loss_shape: tuple
    axis: int
    palette: tuple
    seed: int

    def make(self):
        """(x as float64 holding dtype's values, x's rows as a (rows, C) array)."""
        rng = np.random.default_rng(self.seed)
        n_rows = int(np.prod(self.loss_shape, dtype=np.int64))
        c = self.n_classes
        event(f"classes: {'1' if c == 1 else '2-9' if c < 10 else c}")
        event(f"rows: {'0' if n_rows == 0 else '1-49' if n_rows < 50 else '50+'}")
        event(f"parallel path: {n_rows * self.n_classes > PARALLEL_MIN}")
        for kind in self.palette:
            event(f"row kind: {kind}")
        kinds = rng.choice(self.palette, n_rows)
        rows = fill_rows(rng, kinds, self.n_classes, self.dtype)
        x_last = rows.reshape(self.loss_shape + (self.n_classes,))
        return np.moveaxis(x_last, -1, self.axis % (len(self.loss_shape) + 1)), rows


@st.composite
def class_arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n_classes = draw(st.one_of(st.integers(1, 9), st.sampled_from(LARGE_CLASSES)))
    n_rows = min(draw(ROWS), MAX_ELEMENTS // n_classes)
    form = draw(st.sampled_from(["last", "first", "middle", "lead", "single"]))
    if form == "single":                                          # (C,)
        loss_shape, axis = (), draw(st.sampled_from([0, -1]))
    elif form == "last":                                          # (N, C)
        loss_shape, axis = (n_rows,), draw(st.sampled_from([1, -1]))
    elif form == "first":                                         # (C, N)
        loss_shape, axis = (n_rows,), 0
    else:                                                         # (a, C, b) or (a, b, C)
        b = draw(st.sampled_from([d for d in (1, 2, 3, 5, 7) if n_rows % d == 0]))
        loss_shape = (n_rows // b, b) if n_rows else (0, draw(st.integers(0, 3)))
        axis = draw(st.sampled_from([1, -2])) if form == "middle" else -1
    palette = tuple(draw(st.lists(st.sampled_from(ROW_KINDS), min_size=1, max_size=4)))
    return ClassArray(dtype, n_classes, loss_shape, axis, palette,
                      draw(st.integers(0, 2**32 - 1)))


def as_rows(arr, axis, rows_shape):
    """An array of the input's shape as the (rows, C) array of its class-axis fibres."""
    arr = np.asarray(arr, np.float64)
    if axis is None:
        return arr.reshape(rows_shape)
    return np.moveaxis(arr, axis, -1).reshape(rows_shape)


def row_semantics(rows):
    """Per row: holds a NaN; holds +inf (no NaN); all -inf or empty (no NaN)."""
    has_nan = np.isnan(rows).any(axis=1)
    has_posinf = np.isposinf(rows).any(axis=1) & ~has_nan
    all_neginf = np.isneginf(rows).all(axis=1) & ~has_nan
    return has_nan, has_posinf, all_neginf


# ----------------------------------------------------------- softmax family

@SETTINGS
@given(class_arrays(), st.sampled_from(LAYOUTS), st.booleans(), st.booleans(),
       st.sampled_from(THREADS), st.sampled_from(OUTS))
def test_softmax_family(spec, kind, all_axes, keepdims, num_threads, out_kind):
    x64, rows = spec.make()
    dtype, axis = spec.dtype, spec.axis
    x = layout(x64.astype(dtype), kind)
    if all_axes:
        axis, rows = None, x64.reshape(1, -1)
    has_nan, has_posinf, all_neginf = row_semantics(rows)
    bad = has_nan | has_posinf | all_neginf

    expected = ref.logsumexp(x64, axis=axis, keepdims=keepdims)
    lse_out = "C" if out_kind == "in place" else out_kind      # no in place: another shape
    lse = call_with_out(lambda a, **kw: fastloss.logsumexp(
        a, axis=axis, keepdims=keepdims, num_threads=num_threads, **kw), x, lse_out, dtype,
        out_shape=np.shape(expected))
    check(lse, expected, dtype)
    # the stated semantics row by row, independently of the reference
    lse_rows = np.asarray(lse, np.float64).reshape(-1)       # rows' order, keepdims or not
    assert np.isnan(lse_rows[has_nan]).all()
    assert (lse_rows[has_posinf] == np.inf).all()
    assert (lse_rows[all_neginf] == -np.inf).all()
    assert np.isfinite(lse_rows[~bad]).all()

    for ours, theirs in ((fastloss.softmax, ref.softmax),
                         (fastloss.log_softmax, ref.log_softmax)):
        got = call_with_out(
            lambda a, ours=ours, **kw: ours(a, axis=axis, num_threads=num_threads, **kw),
            x, out_kind, dtype)
        if got is None:
            continue
        check(got, theirs(x64, axis=axis), dtype)
        got_rows = as_rows(got, axis, rows.shape)
        assert np.isnan(got_rows[bad]).all()
        good, masked = got_rows[~bad], np.isneginf(rows[~bad])
        if ours is fastloss.softmax:
            if rows.shape[1]:
                np.testing.assert_allclose(good.sum(axis=1), 1.0,
                                           rtol=1e-5 if dtype == np.float32 else 1e-12)
            assert (good[masked] == 0.0).all()
        else:
            assert (good[masked] == -np.inf).all()
            assert (good[~masked] <= 0.0).all()
    np.testing.assert_array_equal(x, x64.astype(dtype))       # the input is untouched


# ------------------------------------------------------ class-axis losses

@dataclass(frozen=True)
class ClassTargets:
    """Targets for a ClassArray: class indices of ``int_dtype`` (a fraction of
    them ``ignore_index`` where the dtype holds it), or probabilities."""

    kind: str                   # "index" or "prob"
    int_dtype: type
    ignore_index: int
    ignored: float
    prob_palette: tuple

    def make(self, spec):
        rng = np.random.default_rng(spec.seed + 1)
        n_classes = spec.n_classes
        if self.kind == "index":
            t = rng.integers(0, n_classes, spec.loss_shape)
            info = np.iinfo(self.int_dtype)
            if info.min <= self.ignore_index <= info.max:
                t[rng.random(spec.loss_shape) < self.ignored] = self.ignore_index
            return np.asarray(t.astype(self.int_dtype))
        n_rows = int(np.prod(spec.loss_shape, dtype=np.int64))
        t = rng.random((n_rows, n_classes))
        for r, kind in enumerate(rng.choice(self.prob_palette, n_rows)):
            if kind == "normalized":
                t[r] /= t[r].sum()
            elif kind == "onehot":
                t[r] = 0.0
                t[r, rng.integers(n_classes)] = 1.0
            elif kind == "zeros":
                t[r, rng.random(n_classes) < 0.5] = 0.0
            elif kind == "uniform":
                t[r] = 1.0 / n_classes
        t = t.astype(spec.dtype).reshape(spec.loss_shape + (n_classes,))
        return np.moveaxis(t, -1, spec.axis % (len(spec.loss_shape) + 1))


@st.composite
def class_targets(draw, spec, index_only=False):
    kind = "index" if index_only else draw(st.sampled_from(["index", "prob"]))
    fits = [d for d in INT_DTYPES if np.iinfo(d).max >= spec.n_classes - 1]
    # probability targets refuse any ignore_index but the default
    ignore_index = -100 if kind == "prob" else draw(
        st.sampled_from([-100, -1, 0, spec.n_classes - 1, 2**40]))
    return ClassTargets(
        kind, draw(st.sampled_from(fits)), ignore_index,
        draw(st.sampled_from([0.0, 0.3, 1.0])),
        tuple(draw(st.lists(st.sampled_from(["normalized", "onehot", "zeros", "uniform",
                                             "raw"]), min_size=1, max_size=3))),
    )


@st.composite
def class_problems(draw, index_only=False):
    spec = draw(class_arrays())
    targets = draw(class_targets(spec, index_only))
    options = dict(
        weight=draw(st.sampled_from([None, "positive", "some zero"])),
        reduction=draw(st.sampled_from(REDUCTIONS)),
        num_threads=draw(st.sampled_from(THREADS)),
    )
    if not index_only:
        options["label_smoothing"] = draw(st.one_of(
            st.sampled_from([0.0, 0.1, 1.0]), st.floats(0.0, 1.0)))
    layouts = tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(3))
    how = draw(st.sampled_from(["function", "object", "grad", "value_and_grad"]))
    return spec, targets, options, layouts, how, draw(st.sampled_from(OUTS))


def class_weight(kind, spec):
    if kind is None:
        return None
    w = np.random.default_rng(spec.seed + 2).uniform(0.125, 3.0, spec.n_classes)
    if kind == "some zero":
        w[::3] = 0.0
    return w.astype(spec.dtype).astype(np.float64)


def grad_output(spec, reduction, seed):
    """torch's upstream gradient: an array of the loss's shape for "none"."""
    rng = np.random.default_rng(seed)
    if reduction == "none":
        return rng.standard_normal(spec.loss_shape).astype(spec.dtype).astype(np.float64)
    return float(np.float32(rng.standard_normal()))


def run_class_problem(problem, log_probs):
    spec, targets, options, layouts, how, out_kind = problem
    dtype, axis = spec.dtype, spec.axis
    x64, rows = spec.make()
    t_raw = targets.make(spec)
    t64 = t_raw if targets.kind == "index" else t_raw.astype(np.float64)
    w64 = class_weight(options["weight"], spec)
    opts = {k: v for k, v in options.items() if k not in ("weight", "num_threads")}
    x = layout(x64.astype(dtype), layouts[0])
    t = layout(t_raw, layouts[1])
    w = None if w64 is None else layout(w64.astype(dtype), layouts[2])
    ii = dict(ignore_index=targets.ignore_index)
    ref_loss = ref.nll_loss if log_probs else ref.cross_entropy
    ref_grad = ref.nll_loss_grad if log_probs else ref.cross_entropy_grad
    function = fastloss.nll_loss if log_probs else fastloss.cross_entropy
    loss_fn = (fastloss.NLLLoss if log_probs else fastloss.CrossEntropyLoss)(
        w, axis=axis, num_threads=options["num_threads"], **ii, **opts)

    expected = ref_loss(x64, t64, weight=w64, axis=axis, **ii, **opts)
    loss, grad, g_out = None, None, 1.0
    if how == "function":
        loss = function(x, t, weight=w, axis=axis, num_threads=options["num_threads"],
                        **ii, **opts)
    elif how == "object":
        loss = loss_fn(x, t)
    elif how == "grad":
        g_out = grad_output(spec, opts["reduction"], spec.seed + 3)
        grad = call_with_out(lambda a, **kw: loss_fn.grad(a, t, grad_output=g_out, **kw),
                             x, out_kind, dtype)
    else:
        pair = call_with_out(lambda a, **kw: loss_fn.value_and_grad(a, t, **kw),
                             x, out_kind, dtype, written=lambda pair: pair[1])
        if pair is not None:
            loss, grad = pair
    if loss is not None:
        check(loss, expected, dtype)
        if opts["reduction"] != "none":
            assert isinstance(loss, np.generic)
    if grad is not None:
        check(grad, ref_grad(x64, t64, weight=w64, axis=axis, grad_output=g_out, **ii,
                             **opts), dtype)
    np.testing.assert_array_equal(x, x64.astype(dtype))       # the input is untouched

    # the stated semantics, independently of the reference
    n_rows = rows.shape[0]
    if targets.kind == "index":
        ignored = t64.reshape(-1) == targets.ignore_index
    else:
        ignored = np.zeros(n_rows, bool)
    if opts["reduction"] == "none" and loss is not None:
        loss_rows = np.asarray(loss, np.float64).reshape(-1)
        assert (loss_rows[ignored] == 0.0).all()             # ignored rows are never read
        if not log_probs:
            has_nan, has_posinf, all_neginf = row_semantics(rows)
            assert np.isnan(loss_rows[(has_nan | has_posinf | all_neginf) & ~ignored]).all()
    if grad is not None:
        grad_rows = as_rows(grad, axis, rows.shape)
        assert (grad_rows[ignored] == 0.0).all()


@SETTINGS
@given(class_problems())
def test_cross_entropy(problem):
    run_class_problem(problem, log_probs=False)


@SETTINGS
@given(class_problems(index_only=True))
def test_nll_loss(problem):
    run_class_problem(problem, log_probs=True)


# --------------------------------------------------------- elementwise losses

@dataclass(frozen=True)
class Elementwise:
    """An elementwise problem: input and target of ``shape``, rows of the last
    axis of the given kinds; weights by their broadcast form."""

    dtype: type
    shape: tuple
    palette: tuple
    weight: str
    pos_weight: str
    seed: int

    def values(self, rng):
        cols = self.shape[-1] if self.shape else 1
        n_rows = int(np.prod(self.shape[:-1], dtype=np.int64)) if self.shape else 1
        rows = fill_rows(rng, rng.choice(self.palette, n_rows), cols, self.dtype)
        return rows.reshape(self.shape)

    def unit(self, rng, palette):
        """Values in [0, 1]: 0, 1, 1 - ulp, subnormals, random."""
        one_minus = float(np.nextafter(self.dtype(1), self.dtype(0)))
        tiny = float(np.finfo(self.dtype).smallest_subnormal)
        n = self.size
        choices = {"random": rng.random(n), "ends": rng.choice([0.0, 1.0], n),
                   "edges": rng.choice([0.0, 1.0, one_minus, tiny, 3 * tiny, 0.5], n)}
        kinds = rng.choice(palette, n)
        flat = np.select([kinds == k for k in choices], list(choices.values()))
        return flat.astype(self.dtype).astype(np.float64).reshape(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def broadcast(self, kind, rng):
        """A weight of the given broadcast form, positive (a few zeros)."""
        shape = {"none": None, "scalar": (), "last": self.shape[-1:], "full": self.shape,
                 "first": self.shape[:1] + (1,) * (len(self.shape) - 1),
                 "ones": (1,) * len(self.shape)}[kind]
        if shape is None:
            return None
        w = rng.uniform(0.125, 3.0, shape)
        w.reshape(-1)[::4] = 0.0
        return w.astype(self.dtype).astype(np.float64)


@st.composite
def elementwise(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.one_of(
        st.lists(st.integers(0, 7), max_size=3),
        st.sampled_from([[40_000], [300, 129], [3, BLOCK + 1], [1, 100_000], [0, 5]]))))
    forms = ["none", "scalar", "last", "full", "ones"] + (["first"] if shape else [])
    return Elementwise(dtype, shape,
                       tuple(draw(st.lists(st.sampled_from(ROW_KINDS), min_size=1, max_size=4))),
                       draw(st.sampled_from(forms)), draw(st.sampled_from(forms)),
                       draw(st.integers(0, 2**32 - 1)))


def run_elementwise(spec, name, reduction, num_threads, layouts, how, out_kind, x64, t64,
                    kwargs64, slack=None):
    """The function, the loss object, grad or value_and_grad against the
    references; ``slack`` is an absolute allowance per element of the loss."""
    dtype = spec.dtype
    x = layout(x64.astype(dtype), layouts[0])
    t = layout(t64.astype(dtype), layouts[1])
    kwargs = {k: None if v is None else layout(v.astype(dtype), layouts[2])
              for k, v in kwargs64.items()}
    ref_loss = getattr(ref, name)
    ref_grad = getattr(ref, name + "_grad")
    function = getattr(fastloss, name)
    loss_class = {"binary_cross_entropy_with_logits": fastloss.BCEWithLogitsLoss,
                  "binary_cross_entropy": fastloss.BCELoss,
                  "mse_loss": fastloss.MSELoss}[name]
    loss_fn = loss_class(reduction=reduction, num_threads=num_threads, **kwargs)
    expected = ref_loss(x64, t64, reduction=reduction, **kwargs64)
    loss, grad, g_out = None, None, 1.0
    if how == "function":
        loss = function(x, t, reduction=reduction, num_threads=num_threads, **kwargs)
    elif how == "object":
        loss = loss_fn(x, t)
    elif how == "grad":
        rng = np.random.default_rng(spec.seed + 3)
        g_out = (rng.standard_normal(spec.shape).astype(dtype).astype(np.float64)
                 if reduction == "none" else float(np.float32(rng.standard_normal())))
        grad = call_with_out(lambda a, **kw: loss_fn.grad(a, t, grad_output=g_out, **kw),
                             x, out_kind, dtype)
    else:
        pair = call_with_out(lambda a, **kw: loss_fn.value_and_grad(a, t, **kw),
                             x, out_kind, dtype, written=lambda pair: pair[1])
        if pair is not None:
            loss, grad = pair
    if loss is not None:
        if slack is not None and reduction != "none":
            slack = slack.sum() / (max(slack.size, 1) if reduction == "mean" else 1)
        check(loss, expected, dtype, slack)
    if grad is not None:
        check(grad, ref_grad(x64, t64, reduction=reduction, grad_output=g_out, **kwargs64),
              dtype)
    np.testing.assert_array_equal(x, x64.astype(dtype))


HOWS = st.sampled_from(["function", "object", "grad", "value_and_grad"])
LAYOUT3 = st.tuples(*[st.sampled_from(LAYOUTS)] * 3)


def bce_logits_slack(x, t, weight, pos_weight):
    """What a float64 evaluation of w ((1-t) x + (1 + (pw-1) t) softplus(-x))
    may lose to rounding: a few ulps of its terms' magnitudes. The terms cancel
    for large |x| (x = -1e30, pw = 0: two terms of 1e30 whose exact sum is 0),
    and a fused multiply-add rounds them differently from the reference."""
    w = np.ones_like(x) if weight is None else np.broadcast_to(weight, x.shape)
    pw = np.ones_like(x) if pos_weight is None else np.broadcast_to(pos_weight, x.shape)
    with np.errstate(all="ignore"):
        terms = np.abs((1 - t) * x) + np.abs((1 + (pw - 1) * t) * np.logaddexp(0.0, -x))
        return np.nan_to_num(8 * np.finfo(np.float64).eps * w * terms, posinf=0.0)


@SETTINGS
@given(elementwise(), st.sampled_from(REDUCTIONS), st.sampled_from(THREADS), LAYOUT3, HOWS,
       st.sampled_from(OUTS), st.booleans())
def test_bce_with_logits(spec, reduction, num_threads, layouts, how, out_kind, nan_targets):
    rng = np.random.default_rng(spec.seed)
    x64 = spec.values(rng)
    # soft targets in [0, 1] (torch's domain), and NaN, which propagates
    t64 = spec.unit(rng, ("random", "ends", "edges"))
    if nan_targets:
        t64[rng.random(t64.shape) < 0.1] = np.nan
    kwargs = dict(weight=spec.broadcast(spec.weight, rng),
                  pos_weight=spec.broadcast(spec.pos_weight, rng))
    run_elementwise(spec, "binary_cross_entropy_with_logits", reduction, num_threads,
                    layouts, how, out_kind, x64, t64, kwargs,
                    slack=bce_logits_slack(x64, t64, **kwargs))


@SETTINGS
@given(elementwise(), st.sampled_from(REDUCTIONS), st.sampled_from(THREADS), LAYOUT3, HOWS,
       st.sampled_from(OUTS))
def test_mse_loss(spec, reduction, num_threads, layouts, how, out_kind):
    rng = np.random.default_rng(spec.seed)
    x64, t64 = spec.values(rng), spec.values(rng)
    run_elementwise(spec, "mse_loss", reduction, num_threads, layouts, how, out_kind,
                    x64, t64, {})


BAD_PROBABILITIES = [np.nan, 1.5, -1e-30, np.inf, -np.inf, 1e30, -0.5]


@SETTINGS
@given(elementwise(), st.sampled_from(REDUCTIONS), st.sampled_from(THREADS), LAYOUT3, HOWS,
       st.sampled_from(OUTS), st.lists(st.sampled_from(["random", "ends", "edges"]),
                                       min_size=1, max_size=3),
       st.sampled_from([None, "input", "target"]), st.sampled_from(BAD_PROBABILITIES))
def test_binary_cross_entropy(spec, reduction, num_threads, layouts, how, out_kind, palette,
                              invalid, bad_value):
    rng = np.random.default_rng(spec.seed)
    x64, t64 = spec.unit(rng, tuple(palette)), spec.unit(rng, tuple(palette))
    kwargs = dict(weight=spec.broadcast(spec.weight, rng))
    if invalid is None or spec.size == 0:
        run_elementwise(spec, "binary_cross_entropy", reduction, num_threads, layouts, how,
                        out_kind, x64, t64, kwargs)
        return
    # a value outside [0, 1] (NaN included) is a ValueError naming the argument
    # and the first bad position, and nothing is written to ``out``
    where = int(rng.integers(spec.size))
    (x64 if invalid == "input" else t64).reshape(-1)[where] = bad_value
    x = layout(x64.astype(spec.dtype), layouts[0])
    t = layout(t64.astype(spec.dtype), layouts[1])
    position = tuple(int(i) for i in np.unravel_index(where, spec.shape))
    out = np.full(spec.shape, 7.25, spec.dtype)
    message = rf"{invalid}: expected probabilities in \[0, 1\], got .* at position "
    with pytest.raises(ValueError, match=message + rf"{position}".replace("(", r"\(")
                       .replace(")", r"\)")):
        if how in ("function", "object"):
            fastloss.binary_cross_entropy(x, t, reduction=reduction, num_threads=num_threads)
        else:
            getattr(fastloss.BCELoss(reduction=reduction), how)(x, t, out=out)
    np.testing.assert_array_equal(out, 7.25)
