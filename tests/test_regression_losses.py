"""l1_loss, smooth_l1_loss, huber_loss and kl_div (and their loss objects)
against the references: values, gradients (and finite differences), every
reduction, both dtypes, the kinks, special values, refusals, layouts,
threads, every SIMD path and the fast path of small calls."""

import re

import numpy as np
import pytest

import fastloss
from fastloss import _api, _kernels

import reference as ref
from support import BLOCK, DTYPES, LAYOUTS, THREADS, assert_close, general, layout, tol
from test_binary_losses import check
from test_fast_path import same
from test_gradients import assert_fd

inf, nan = np.inf, np.nan
SHAPES = [(9,), (4, 5), (2, 3, 4), ()]
REDUCTIONS = ["none", "mean", "sum"]


class Spec:
    """One loss with its options: the function, the loss object's class and
    options, the references and how its inputs are drawn."""

    def __init__(self, name, function, cls, ref_loss, ref_grad, options, kind):
        self.name, self.function, self.cls = name, function, cls
        self.ref_loss, self.ref_grad, self.options, self.kind = (
            ref_loss, ref_grad, options, kind)

    def __repr__(self):
        return self.name

    def inputs(self, rng, shape, dtype):
        """Regression: quarters in [-3, 3], so that x - t is exactly 0, beta or
        delta in many places (the kinks). KL: log-probabilities, and
        probabilities with zeros (or log-probabilities: a target of -inf
        makes the loss NaN, see test_special_values)."""
        if self.kind == "regression":
            x = rng.integers(-12, 13, shape) / 4
            t = rng.integers(-12, 13, shape) / 4
        else:
            x = np.log(rng.uniform(0.02, 1.0, shape))
            t = rng.uniform(0.0, 1.0, shape)
            if self.options.get("log_target"):
                t = np.log(t + 0.01)
            else:
                t.reshape(-1)[::4] = 0.0
        return np.asarray(x, dtype), np.asarray(t, dtype)

    def loss_fn(self, reduction, **kw):
        return self.cls(reduction=reduction, **self.options, **kw)


SPECS = [
    Spec("l1", fastloss.l1_loss, fastloss.L1Loss, ref.l1_loss, ref.l1_loss_grad, {},
         "regression"),
    Spec("smooth_l1", fastloss.smooth_l1_loss, fastloss.SmoothL1Loss, ref.smooth_l1_loss,
         ref.smooth_l1_loss_grad, {}, "regression"),
    Spec("smooth_l1 beta=0.5", fastloss.smooth_l1_loss, fastloss.SmoothL1Loss,
         ref.smooth_l1_loss, ref.smooth_l1_loss_grad, {"beta": 0.5}, "regression"),
    Spec("smooth_l1 beta=0", fastloss.smooth_l1_loss, fastloss.SmoothL1Loss,
         ref.smooth_l1_loss, ref.smooth_l1_loss_grad, {"beta": 0.0}, "regression"),
    Spec("smooth_l1 beta=inf", fastloss.smooth_l1_loss, fastloss.SmoothL1Loss,
         ref.smooth_l1_loss, ref.smooth_l1_loss_grad, {"beta": inf}, "regression"),
    Spec("huber", fastloss.huber_loss, fastloss.HuberLoss, ref.huber_loss,
         ref.huber_loss_grad, {}, "regression"),
    Spec("huber delta=0.25", fastloss.huber_loss, fastloss.HuberLoss, ref.huber_loss,
         ref.huber_loss_grad, {"delta": 0.25}, "regression"),
    Spec("huber delta=2", fastloss.huber_loss, fastloss.HuberLoss, ref.huber_loss,
         ref.huber_loss_grad, {"delta": 2}, "regression"),
    Spec("kl_div", fastloss.kl_div, fastloss.KLDivLoss, ref.kl_div, ref.kl_div_grad, {},
         "kl"),
    Spec("kl_div log_target", fastloss.kl_div, fastloss.KLDivLoss, ref.kl_div,
         ref.kl_div_grad, {"log_target": True}, "kl"),
]
KL_SPECS = [s for s in SPECS if s.kind == "kl"]


def reductions(spec):
    return REDUCTIONS + (["batchmean"] if spec.kind == "kl" else [])


def all_cases():
    return [(spec, red) for spec in SPECS for red in reductions(spec)]


CASES = all_cases()
CASE_IDS = [f"{s.name}-{r}" for s, r in CASES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spec,reduction", CASES, ids=CASE_IDS)
def test_against_the_reference(rng, dtype, shape, spec, reduction):
    x, t = spec.inputs(rng, shape, dtype)
    check(spec.loss_fn(reduction), spec.function, spec.ref_loss, spec.ref_grad, x, t,
          spec.options, dtype, rng, reduction)


@pytest.mark.parametrize("spec,reduction", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 2)])
def test_gradient_is_the_finite_difference(rng, spec, reduction, shape):
    """Away from the kinks (where the derivative is one-sided), in float64."""
    if spec.kind == "regression":
        x = rng.standard_normal(shape) * 2
        t = rng.standard_normal(shape) * 2
    else:
        x, t = spec.inputs(rng, shape, np.float64)
    g_out = rng.standard_normal(shape) if reduction == "none" else 0.8
    assert_fd(spec.loss_fn(reduction), spec.ref_loss, x, t, g_out, reduction=reduction,
              **spec.options)


# ------------------------------------------------------- hand-computed values

def test_values_by_hand():
    assert fastloss.l1_loss([1.0, 2.0, -1.0], [1.0, 4.0, 0.5], reduction="sum") == 3.5
    # |d| = 0.5 < beta: 0.5 * 0.25 / 1; |d| = 3: 3 - 0.5
    assert fastloss.smooth_l1_loss([0.0, 3.0], [0.5, 0.0], reduction="none").tolist() == [
        0.125, 2.5]
    assert fastloss.smooth_l1_loss([0.0, 3.0], [0.5, 0.0], beta=4.0,
                                   reduction="none").tolist() == [0.03125, 1.125]
    # delta 2: 0.5 * 0.25; 2 * (3 - 1)
    assert fastloss.huber_loss([0.0, 3.0], [0.5, 0.0], delta=2.0,
                               reduction="none").tolist() == [0.125, 4.0]
    # 0.25 log(0.25 / 0.5) + 0.75 log(0.75 / 0.5)
    p, q = np.array([0.25, 0.75]), np.log([0.5, 0.5])
    exact = 0.25 * np.log(0.5) + 0.75 * np.log(1.5)
    np.testing.assert_allclose(fastloss.kl_div(q, p, reduction="sum"), exact, rtol=1e-15)
    np.testing.assert_allclose(fastloss.kl_div(q, np.log(p), reduction="sum",
                                               log_target=True), exact, rtol=1e-15)
    # batchmean: the sum over 2 rows of the same divergence, over 2
    np.testing.assert_allclose(fastloss.kl_div(np.stack([q, q]), np.stack([p, p]),
                                               reduction="batchmean"), exact, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_at_the_kinks_are_torchs(dtype):
    x = np.array([1.0, 1.5, 0.5, 2.0, 0.0, -1.0], dtype)
    t = np.array([1.0, 1.0, 1.0, 0.0, 2.0, 0.0], dtype)   # d = 0, 0.5, -0.5, 2, -2, -1
    def grad(cls, **kw):
        return cls(reduction="sum", **kw).grad(x, t).tolist()
    assert grad(fastloss.L1Loss) == [0.0, 1.0, -1.0, 1.0, -1.0, -1.0]     # sign(0) = 0
    assert grad(fastloss.SmoothL1Loss, beta=0.0) == grad(fastloss.L1Loss)
    assert grad(fastloss.SmoothL1Loss, beta=0.5) == [0.0, 1.0, -1.0, 1.0, -1.0, -1.0]
    assert grad(fastloss.SmoothL1Loss, beta=2.0) == [0.0, 0.25, -0.25, 1.0, -1.0, -0.5]
    assert grad(fastloss.HuberLoss, delta=0.5) == [0.0, 0.5, -0.5, 0.5, -0.5, -0.5]
    assert grad(fastloss.HuberLoss, delta=2.0) == [0.0, 0.5, -0.5, 2.0, -2.0, -1.0]
    p = np.array([0.0, 0.25, 1.0, 0.5, 0.125, 0.125], dtype)
    assert grad(fastloss.KLDivLoss) == (-t).tolist()
    assert fastloss.KLDivLoss(reduction="sum").grad(x, p).tolist() == (-p).tolist()
    np.testing.assert_allclose(fastloss.KLDivLoss(log_target=True, reduction="sum").grad(x, t),
                               -np.exp(t.astype(np.float64)), **tol(dtype))


def test_smooth_l1_with_beta_0_is_l1_bitwise(rng):
    x, t = rng.standard_normal((30, 7)), rng.standard_normal((30, 7))
    x[0, :3] = [nan, inf, 1.0]
    t[0, :3] = [0.0, inf, 1.0]
    for red in REDUCTIONS:
        same(fastloss.SmoothL1Loss(beta=0.0, reduction=red).value_and_grad(x, t),
             fastloss.L1Loss(reduction=red).value_and_grad(x, t))


# ------------------------------------------------------------ special values

def specials(dtype):
    """+-0, ordinary values, large ones (whose squares are finite: torch's
    float32 0.5 z z / beta is NaN for beta = inf once z z overflows), +-inf, NaN"""
    big = 1e15 if dtype == np.float32 else 1e150
    return np.array([0.0, -0.0, 1.0, -2.5, big, -big, inf, -inf, nan], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_special_values(dtype, spec):
    """Every pair of ordinary and special values (+-0, huge, +-inf, NaN) in
    input and target: the references' values and gradients, NaN where
    theirs is NaN (L1's gradient where x - t is NaN is 0: torch.sign(NaN))."""
    x, t = (a.reshape(-1) for a in np.meshgrid(specials(dtype), specials(dtype)))
    if spec.kind == "kl" and not spec.options.get("log_target"):
        t = np.abs(t)
    loss_fn = spec.loss_fn("none")
    with np.errstate(over="ignore"):
        value, grad = loss_fn.value_and_grad(x, t)
        assert_close(value, spec.ref_loss(x, t, reduction="none", **spec.options), dtype)
        assert_close(grad, spec.ref_grad(x, t, reduction="none", **spec.options), dtype)
        assert_close(spec.function(x, t, reduction="sum", **spec.options),
                     spec.ref_loss(x, t, reduction="sum", **spec.options), dtype)


def test_special_values_by_hand():
    x = np.array([nan, inf, inf, -inf, 1.0])
    t = np.array([1.0, inf, 1.0, 0.0, nan])
    value, grad = fastloss.L1Loss(reduction="none").value_and_grad(x, t)
    assert np.isnan(value[:2]).all() and value[2] == value[3] == inf and np.isnan(value[4])
    assert grad.tolist() == [0.0, 0.0, 1.0, -1.0, 0.0]
    value, grad = fastloss.HuberLoss(reduction="none").value_and_grad(x, t)
    assert np.isnan(grad[[0, 1, 4]]).all() and grad[2:4].tolist() == [1.0, -1.0]
    # xlogy(0, 0) = 0; 0 * -inf is NaN (torch's t * x); t = NaN gives NaN
    value, grad = fastloss.KLDivLoss(reduction="none").value_and_grad(
        np.array([-1.0, -inf, -1.0, -1.0]), np.array([0.0, 0.0, nan, 1.0]))
    assert value[0] == 0.0 and np.isnan(value[1:3]).all() and value[3] == 1.0
    assert np.isnan(grad[2]) and grad[[0, 1, 3]].tolist() == [0.0, 0.0, -1.0]
    # log-targets: exp(-inf) (-inf - x) is NaN, as torch; a large target overflows to inf
    value, grad = fastloss.KLDivLoss(reduction="none", log_target=True).value_and_grad(
        np.array([0.0, 0.0, 0.0]), np.array([-inf, 800.0, 0.0]))
    assert np.isnan(value[0]) and value[1] == inf and value[2] == 0.0
    assert grad.tolist() == [-0.0, -inf, -1.0]


# ---------------------------------------------------------------- reductions

@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_empty(spec):
    for red in reductions(spec):
        fn = spec.loss_fn(red)
        for shape in ((0, 3), (3, 0)):
            value, grad = fn.value_and_grad(np.zeros(shape), np.zeros(shape))
            assert grad.shape == shape
            if red == "none":
                assert value.shape == shape
            elif red == "sum" or (red == "batchmean" and shape[0]):
                assert value == 0.0
            else:
                assert np.isnan(value)


@pytest.mark.parametrize("spec", KL_SPECS, ids=repr)
def test_batchmean(rng, spec):
    x, t = spec.inputs(rng, (6, 5), np.float64)
    fn = spec.loss_fn("batchmean")
    total = spec.function(x, t, reduction="sum", **spec.options)
    np.testing.assert_allclose(fn(x, t), total / 6, rtol=1e-15)
    np.testing.assert_allclose(fn.grad(x, t, grad_output=3.0),
                               spec.loss_fn("sum").grad(x, t) * 3.0 / 6, rtol=1e-15)
    # a 0-d input: the sum, as torch (which divides only when input.dim() != 0)
    x0, t0 = x[0, 0], t[0, 0]
    assert fn(x0, t0) == spec.function(x0, t0, reduction="sum", **spec.options)
    assert fn.grad(x0, t0) == spec.loss_fn("sum").grad(x0, t0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec,reduction", [c for c in CASES if c[1] != "none"],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if c[1] != "none"])
def test_block_protocol(rng, dtype, spec, reduction):
    """Blocks of rows through the loss object's block protocol (what
    fastloss.dask runs) give the in-memory value (up to the order of the
    sum) and gradient (bitwise)."""
    x, t = spec.inputs(rng, (9, 4), dtype)
    fn = spec.loss_fn(reduction)
    denominator = fn._denominator(x.shape, dtype)
    scale = fn._grad_scale(0.7, denominator, False)
    parts = [fn._block_sum(x[a:b], t[a:b], scale) for a, b in ((0, 4), (4, 9))]
    value = fn._reduce_blocks([s for s, _ in parts], denominator, dtype, False)
    whole = fn(x, t)
    assert type(value) is type(whole)
    np.testing.assert_allclose(value, whole, rtol=4 * np.finfo(dtype).eps)
    same(np.concatenate([g for _, g in parts]), fn.grad(x, t, grad_output=0.7))


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("call,error,match", [
    (lambda: fastloss.smooth_l1_loss([1.0], [0.0], beta=-1.0), ValueError,
     "beta: expected a float >= 0, got -1.0"),
    (lambda: fastloss.smooth_l1_loss([1.0], [0.0], beta=nan), ValueError,
     "beta: expected a float >= 0, got nan"),
    (lambda: fastloss.smooth_l1_loss([1.0], [0.0], beta="1"), TypeError,
     "beta: expected a float >= 0, got '1'"),
    (lambda: fastloss.smooth_l1_loss([1.0], [0.0], beta=True), TypeError,
     "beta: expected a float >= 0, got True"),
    (lambda: fastloss.SmoothL1Loss(beta=-0.5), ValueError, "beta: expected a float >= 0"),
    (lambda: fastloss.huber_loss([1.0], [0.0], delta=0.0), ValueError,
     "delta: expected a float > 0, got 0.0"),
    (lambda: fastloss.huber_loss([1.0], [0.0], delta=-2), ValueError,
     "delta: expected a float > 0, got -2"),
    (lambda: fastloss.huber_loss([1.0], [0.0], delta=None), TypeError,
     "delta: expected a float > 0, got None"),
    (lambda: fastloss.HuberLoss(delta=nan), ValueError, "delta: expected a float > 0"),
    (lambda: fastloss.kl_div([1.0], [0.0], reduction="avg"), ValueError,
     "reduction: expected 'none', 'batchmean', 'sum' or 'mean', got 'avg'"),
    (lambda: fastloss.KLDivLoss(reduction=None), ValueError, "reduction: expected 'none', "),
    (lambda: fastloss.kl_div([1.0], [0.0], log_target=1), TypeError,
     "log_target: expected True or False, got 1"),
    (lambda: fastloss.KLDivLoss(log_target="yes"), TypeError, "log_target: expected True"),
    (lambda: fastloss.l1_loss([1.0], [0.0], reduction="batchmean"), ValueError,
     "reduction: expected 'none', 'mean' or 'sum', got 'batchmean'"),
    (lambda: fastloss.L1Loss(reduction="batchmean"), ValueError,
     "reduction: expected 'none', 'mean' or 'sum'"),
    (lambda: fastloss.HuberLoss(reduction="batchmean").grad(np.zeros(3), np.zeros(3)),
     ValueError, "reduction: expected"),
    (lambda: fastloss.KLDivLoss(num_threads=0), ValueError, "num_threads"),
    (lambda: fastloss.L1Loss().grad(np.zeros(4), np.zeros(4), dim=1), TypeError,
     "L1Loss has no axis"),
])
def test_option_refusals(call, error, match):
    with pytest.raises(error, match=re.escape(match)):
        call()


BAD_INPUTS = [
    (np.zeros(4), np.zeros(3)),                        # shapes differ
    (np.zeros((4, 1)), np.zeros(4)),                   # no broadcasting
    (np.zeros(4, np.int64), np.zeros(4)),              # integer input
    (np.zeros(4, np.complex128), np.zeros(4)),
    (np.zeros(4), np.zeros(4, np.complex128)),
    (np.array(["a", "b"]), np.zeros(2)),
    (np.ma.masked_array(np.zeros(3)), np.zeros(3)),
    (np.zeros(3), np.ma.masked_array(np.zeros(3))),
]


def mse_error(x, t):
    with pytest.raises(Exception) as info:
        fastloss.mse_loss(x, t)
    return info.type, str(info.value)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@pytest.mark.parametrize("k", range(len(BAD_INPUTS)))
def test_input_refusals_are_mse_losss(spec, k):
    """The same exception and message as mse_loss, from the function and
    from every method of the loss object."""
    x, t = BAD_INPUTS[k]
    error, message = mse_error(x, t)
    fn = spec.loss_fn("mean")
    for call in (lambda: spec.function(x, t, **spec.options), lambda: fn(x, t),
                 lambda: fn.grad(x, t), lambda: fn.value_and_grad(x, t),
                 lambda: general(spec.function, x, t, **spec.options)):
        with pytest.raises(error, match=re.escape(message)):
            call()


def test_grad_output_refusals():
    x = np.zeros(4)
    with pytest.raises(ValueError, match="grad_output: expected an array broadcastable"):
        fastloss.L1Loss(reduction="none").grad(x, x, grad_output=np.ones(5))
    with pytest.raises(ValueError, match="grad_output: expected a real scalar"):
        fastloss.KLDivLoss(reduction="batchmean").grad(x, x, grad_output=np.ones(4))


def test_nothing_written_to_out_on_error():
    x, out = np.zeros(4), np.full(4, 7.0)
    with pytest.raises(ValueError):
        fastloss.HuberLoss().grad(x, np.zeros(3), out=out)
    with pytest.raises(ValueError):
        fastloss.L1Loss().grad(x, x, out=np.zeros(3))
    assert (out == 7.0).all()


# ------------------------------------------------- layouts, out and in place

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_layouts(rng, dtype, kind, spec):
    x, t = spec.inputs(rng, (5, 6), dtype)
    value, grad = spec.loss_fn("sum").value_and_grad(layout(x, kind), layout(t, kind))
    assert_close(value, spec.ref_loss(x, t, reduction="sum", **spec.options), dtype)
    assert_close(grad, spec.ref_grad(x, t, reduction="sum", **spec.options), dtype)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_out_and_in_place(rng, spec):
    x, t = spec.inputs(rng, (40, 30), np.float64)
    fn = spec.loss_fn("mean")
    expected_value, expected = fn.value_and_grad(x.copy(), t)
    out = np.empty_like(x, order="F")
    assert fn.grad(x, t, out=out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = x.copy()
    value, grad = fn.value_and_grad(inplace, t, out=inplace)
    assert grad is inplace and value == expected_value
    np.testing.assert_array_equal(inplace, expected)


def test_list_and_integer_targets():
    assert fastloss.l1_loss([3.0, 1.0], [1, 1]) == 1.0
    assert fastloss.huber_loss(np.float32(3.0), 1).dtype == np.float32
    assert fastloss.kl_div(np.zeros(2, np.float32), [1, 0]).dtype == np.float32


# -------------------------------------------------------- threads and blocks

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(100_003,), (700, 130)])
@pytest.mark.parametrize("spec,reduction", CASES, ids=CASE_IDS)
def test_any_thread_count_gives_the_same_bits(rng, dtype, shape, spec, reduction):
    x, t = spec.inputs(rng, shape, dtype)
    results = [spec.loss_fn(reduction, num_threads=n).value_and_grad(x, t) for n in THREADS]
    for other in results[1:]:
        same(other, results[0])
    value, grad = results[0]
    assert_close(value, spec.ref_loss(x, t, reduction=reduction, **spec.options), dtype)
    assert_close(grad, spec.ref_grad(x, t, reduction=reduction, **spec.options), dtype)


def kernel_modes():
    """(mode, param, reference loss, reference grad, options) of each loss."""
    k = _kernels.kernels
    return [(k.L1, 1.0, ref.l1_loss, ref.l1_loss_grad, {}),
            (k.SMOOTH_L1, 0.75, ref.smooth_l1_loss, ref.smooth_l1_loss_grad, {"beta": 0.75}),
            (k.HUBER, 1.25, ref.huber_loss, ref.huber_loss_grad, {"delta": 1.25}),
            (k.KL_DIV, 1.0, ref.kl_div, ref.kl_div_grad, {}),
            (k.KL_DIV_LOG, 1.0, ref.kl_div, ref.kl_div_grad, {"log_target": True})]


@pytest.mark.parametrize("path", _kernels.available_paths())
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (BLOCK - 1,), (BLOCK + 1,), (3, 1000),
                                   (2, 3000)], ids=str)
@pytest.mark.parametrize("upstream", ["one", "per-element"])
def test_every_simd_path(rng, path, dtype, shape, upstream):
    """Each SIMD path's kernel module (not only the one fastloss picked),
    on either side of a block and of a vector, with one upstream value or one
    per element (the loop of each operand kind), specials included."""
    module = _kernels.load(path)
    x = np.asarray(rng.integers(-12, 13, shape) / 4, dtype)
    t = np.asarray(rng.uniform(0.0, 1.0, shape), dtype)
    t.reshape(-1)[::5] = 0.0
    flat = x.reshape(-1)
    flat[1::9] = np.resize([inf, nan, -inf], flat[1::9].size)
    shape2 = (int(np.prod(shape[:-1])), shape[-1])
    g_out = (np.ones(shape2, dtype) if upstream == "one"
             else np.asarray(rng.standard_normal(shape2), dtype))
    go_view = np.broadcast_to(np.ones((), dtype), shape2) if upstream == "one" else g_out
    unused = np.broadcast_to(np.ones((), dtype), shape2)
    for mode, param, ref_loss, ref_grad, options in kernel_modes():
        loss, grad = np.empty(shape2, dtype), np.empty(shape2, dtype)
        with np.errstate(invalid="ignore"):
            total = module.binary_loss(mode, x.reshape(shape2), t.reshape(shape2), unused,
                                       unused, loss, grad, go_view, 1.0, 2, param)
        kw = dict(reduction="none", **options)
        assert_close(loss.reshape(shape), ref_loss(x, t, **kw), dtype)
        assert_close(grad.reshape(shape), ref_grad(x, t, grad_output=g_out.reshape(shape), **kw),
                     dtype)
        assert_close(total, ref_loss(x, t, reduction="sum", **options), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_an_elements_value_does_not_depend_on_where_it_sits(dtype, spec):
    """Slices of any length (full vectors, tails) give the bits of the whole
    call, NaN in both input and target included (which NaN comes out)."""
    rng = np.random.default_rng(7)
    n = 3 * BLOCK + 37
    x, t = spec.inputs(rng, (n,), dtype)
    bits = np.array(0x7fc00123 if dtype == np.float32 else 0x7ff8000000000123,
                    np.uint32 if dtype == np.float32 else np.uint64).view(dtype)
    x[::13], t[::17] = bits, -bits
    fn = spec.loss_fn("none")
    whole = fn.value_and_grad(x, t)
    for a, b in [(0, 1), (1, 6), (5, 38), (BLOCK - 3, 2 * BLOCK + 1), (n - 9, n)]:
        part = fn.value_and_grad(x[a:b], t[a:b])
        for p, w in zip(part, whole):
            assert p.tobytes() == w[a:b].tobytes(), (a, b)


# ---------------------------------------------------------------- fast path

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (2047,), (2049,), (32, 10), (3, 4, 5)])
@pytest.mark.parametrize("spec,reduction", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("special", [False, True], ids=["plain", "special"])
def test_fast_path_gives_the_general_paths_bits(rng, dtype, shape, spec, reduction, special):
    x, t = spec.inputs(rng, shape, dtype)
    if special:
        x.reshape(-1)[:3] = [inf, -inf, nan][:x.size]
    fast = spec.loss_fn(reduction)
    with np.errstate(invalid="ignore"):
        same(fast(x, t), general(fast, x, t))
        same(fast.grad(x, t), general(fast.grad, x, t))
        same(fast.value_and_grad(x, t), general(fast.value_and_grad, x, t))
        if reduction != "none":
            same(fast.grad(x, t, grad_output=0.37), general(fast.grad, x, t, grad_output=0.37))
        same(spec.function(x, t, reduction=reduction, **spec.options),
             general(spec.function, x, t, reduction=reduction, **spec.options))


def test_the_fast_path_takes_them():
    """It takes these calls (else the test above compares the general path
    with itself), "batchmean" for KL divergence only."""
    k = _kernels.kernels
    x = np.zeros((32, 10), np.float32)
    for mode in (k.L1, k.SMOOTH_L1, k.HUBER, k.KL_DIV, k.KL_DIV_LOG):
        for red in ("none", "mean", "sum"):
            assert _api._fast_binary(mode, x, x, red, 2, 1.0, 0.5) is not NotImplemented
    for mode in (k.KL_DIV, k.KL_DIV_LOG):
        assert _api._fast_binary(mode, x, x, "batchmean", 2, 1.0) is not NotImplemented
    for mode in (k.MSE, k.L1, k.HUBER, k.BCE_LOGITS):
        assert _api._fast_binary(mode, x, x, "batchmean", 2, 1.0) is NotImplemented


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_a_nan_grad_output_gives_the_same_bits_anywhere(dtype, spec):
    bits = np.uint32(0x7fc00123) if dtype == np.float32 else np.uint64(0x7ff8000000000123)
    x = np.full(37, bits).view(dtype)
    t = np.full(37, 0.5, dtype)
    fn = spec.loss_fn("sum")
    whole = fn.grad(x, t, grad_output=nan)
    assert np.isnan(whole).all()
    for k in (1, 5, 33):
        assert fn.grad(x[:k], t[:k], grad_output=nan).tobytes() == whole[:k].tobytes(), k


def test_repr_and_options():
    assert repr(fastloss.SmoothL1Loss(beta=0.5)) == \
        "SmoothL1Loss(reduction='mean', beta=0.5, num_threads=None)"
    assert repr(fastloss.HuberLoss(delta=2)) == \
        "HuberLoss(reduction='mean', delta=2.0, num_threads=None)"
    assert repr(fastloss.KLDivLoss(reduction="batchmean", log_target=True)) == \
        "KLDivLoss(reduction='batchmean', log_target=True, num_threads=None)"
    assert repr(fastloss.L1Loss(reduction="sum")) == "L1Loss(reduction='sum', num_threads=None)"


def test_options_set_after_construction_apply_and_are_checked():
    x, t = np.array([0.0, 3.0]), np.array([0.5, 0.0])
    fn = fastloss.SmoothL1Loss()
    fn.beta = 4.0
    assert fn(x, t) == fastloss.smooth_l1_loss(x, t, beta=4.0)
    fn.beta = -1.0
    with pytest.raises(ValueError, match="beta: expected a float >= 0"):
        fn.grad(x, t)
    kl = fastloss.KLDivLoss()
    kl.reduction, kl.log_target = "batchmean", True
    assert kl(x, t) == fastloss.kl_div(x, t, reduction="batchmean", log_target=True)
    huber = fastloss.HuberLoss()
    huber.delta = 0.0
    with pytest.raises(ValueError, match="delta: expected a float > 0"):
        huber.value_and_grad(x, t)
