"""fastloss.dask on a real dask.distributed LocalCluster (two worker processes),
against the in-memory answers: bitwise where the module's notes say so, else
within a few roundings; the "mean" is over all blocks, never a mean of means."""

import doctest
import subprocess
import sys

import numpy as np
import pytest

import fastloss

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
fd = pytest.importorskip("fastloss.dask")

from support import assert_install_commands, logits, probabilities  # noqa: E402

N, C = 20_000, 17
ROW_CHUNKS = (6000, 6000, 5000, 3000)        # uneven, and not multiples of anything


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


def assert_bitwise(got, expected):
    assert bits(got) == bits(expected)


# A reduction over blocks adds the blocks' float64 sums exactly, while the
# in-memory kernels add rows in order inside fixed blocks: the two differ by
# the in-memory float64 accumulation error (relative 1e-14 here), so a
# float32 result is at most one rounding away.
RTOL = {np.dtype(np.float32): np.finfo(np.float32).eps, np.dtype(np.float64): 1e-12}


def assert_reduced_close(got, expected):
    """A reduced value: the same dtype and shape, within RTOL of the in-memory one."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == () == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL[got.dtype], atol=0)


def class_cases(rng, dtype):
    """name -> (loss object, input, target, input chunks, mean's denominator exact)."""
    x = logits(rng, (N, C), dtype)
    y = rng.integers(0, C, N)
    y[::7] = -100
    p = probabilities(rng, (N, C), -1, dtype)
    x3 = logits(rng, (60, C, 50), dtype)
    y3 = rng.integers(0, C, (60, 50))
    w = rng.random(C) + 0.5
    w_int = np.arange(1.0, C + 1)
    return {
        "ce index": (fastloss.CrossEntropyLoss(label_smoothing=0.1), x, y,
                     (ROW_CHUNKS, C), True),
        "ce index int weights": (fastloss.CrossEntropyLoss(w_int), x, y,
                                 (ROW_CHUNKS, C), True),
        "ce index weights": (fastloss.CrossEntropyLoss(w, label_smoothing=0.2), x, y,
                             (ROW_CHUNKS, C), False),
        "ce probs weights": (fastloss.CrossEntropyLoss(w, label_smoothing=0.1), x, p,
                             (ROW_CHUNKS, C), True),
        "ce axis=1": (fastloss.CrossEntropyLoss(axis=1), x3, y3, ((25, 35), C, (20, 30)),
                      True),
        "nll weights": (fastloss.NLLLoss(w), x, y, (ROW_CHUNKS, C), False),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(class_cases(np.random.default_rng(0), np.float64)))
def test_class_losses_match_in_memory(client, rng, dtype, reduction, case):
    loss_fn, x, t, chunks, exact_denominator = class_cases(rng, dtype)[case]
    loss_fn.reduction = reduction
    X = da.from_array(x, chunks=chunks)
    T = da.from_array(t, chunks=X.chunks if t.ndim == x.ndim else 4000)
    value, grad, (vg_loss, vg_grad) = dask.compute(
        fd.value(loss_fn, X, T), fd.grad(loss_fn, X, T, grad_output=0.5),
        fd.value_and_grad(loss_fn, X, T))
    expected_value, expected_grad = loss_fn.value_and_grad(x, t)
    if reduction == "none":
        assert_bitwise(value, loss_fn(x, t))
        assert_bitwise(vg_loss, expected_value)
        assert_bitwise(grad, loss_fn.grad(x, t, grad_output=0.5))
        assert_bitwise(vg_grad, expected_grad)
        return
    assert_reduced_close(value, loss_fn(x, t))
    assert_reduced_close(vg_loss, expected_value)
    if reduction == "sum" or exact_denominator:
        assert_bitwise(grad, loss_fn.grad(x, t, grad_output=0.5))
        assert_bitwise(vg_grad, expected_grad)
    else:   # the denominator sum w[y] is accumulated differently
        # relative to the gradient's scale: the class-y entries p_y a - w_y
        # cancel, so their own relative error can be far above RTOL
        tol = dict(rtol=RTOL[np.dtype(dtype)],
                   atol=RTOL[np.dtype(dtype)] * float(np.abs(expected_grad).max()))
        np.testing.assert_allclose(grad, loss_fn.grad(x, t, grad_output=0.5), **tol)
        np.testing.assert_allclose(vg_grad, expected_grad, **tol)


def binary_cases(rng, dtype):
    z = logits(rng, (N // 10, 30), dtype)
    t = rng.random((N // 10, 30)).astype(dtype)
    s = np.clip(1 / (1 + np.exp(-z.astype(np.float64))), 1e-3, 1 - 1e-3).astype(dtype)
    sample_w = rng.random((N // 10, 1)) + 0.5
    return {
        "bce logits": (fastloss.BCEWithLogitsLoss(sample_w, pos_weight=rng.random(30) + 1),
                       z, t),
        "bce": (fastloss.BCELoss(rng.random(30)), s, t),
        "mse": (fastloss.MSELoss(), z, t),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", ["bce logits", "bce", "mse"])
def test_elementwise_losses_match_in_memory(client, rng, dtype, reduction, case):
    loss_fn, x, t = binary_cases(rng, dtype)[case]
    loss_fn.reduction = reduction
    X = da.from_array(x, chunks=(700, 13))          # chunked along both axes
    T = da.from_array(t, chunks=(500, 30))
    value, grad, (vg_loss, vg_grad) = dask.compute(
        fd.value(loss_fn, X, T), fd.grad(loss_fn, X, T), fd.value_and_grad(loss_fn, X, T))
    assert grad.shape == x.shape
    expected_value, expected_grad = loss_fn.value_and_grad(x, t)
    check = assert_bitwise if reduction == "none" else assert_reduced_close
    check(value, loss_fn(x, t))
    check(vg_loss, expected_value)
    assert_bitwise(grad, loss_fn.grad(x, t))        # denominator: the element count
    assert_bitwise(vg_grad, expected_grad)


def test_functions_take_dask_weights(client, rng):
    z = logits(rng, (4000, 8))
    t = rng.random((4000, 8))
    w = rng.random((4000, 1))
    got = fd.binary_cross_entropy_with_logits(
        da.from_array(z, chunks=1000), t, weight=da.from_array(w, chunks=1500),
        pos_weight=np.full(8, 2.0), reduction="none").compute()
    assert_bitwise(got, fastloss.binary_cross_entropy_with_logits(
        z, t, weight=w, pos_weight=np.full(8, 2.0), reduction="none"))
    p = np.clip(rng.random((4000, 8)), 0.01, 0.99)
    assert_reduced_close(
        fd.binary_cross_entropy(da.from_array(p, chunks=900), t, weight=w).compute(),
        fastloss.binary_cross_entropy(p, t, weight=w))
    assert_reduced_close(fd.mse_loss(da.from_array(z, chunks=900), t).compute(),
                         fastloss.mse_loss(z, t))


def test_function_forms_match_in_memory(client, rng):
    x = logits(rng, (N, C), np.float32)
    y = rng.integers(0, C, N)
    X, Y = da.from_array(x, chunks=(ROW_CHUNKS, C)), da.from_array(y, chunks=ROW_CHUNKS)
    logp = fastloss.log_softmax(x)
    opts = dict(weight=np.arange(1.0, C + 1), ignore_index=3)
    ce, nll = dask.compute(fd.cross_entropy(X, Y, reduction="sum", **opts),
                           fd.nll_loss(da.from_array(logp, chunks=(5000, C)), Y, **opts))
    assert_reduced_close(ce, fastloss.cross_entropy(x, y, reduction="sum", **opts))
    assert_reduced_close(nll, fastloss.nll_loss(logp, y, **opts))


def test_mean_is_over_all_blocks_not_a_mean_of_means(client, rng):
    # the first block: 10 rows, all confidently right; the second: 990 rows,
    # all wrong, most ignored. A mean of the blocks' means would be ~1e4.
    x = np.zeros((1000, 3))
    y = np.full(1000, -100)
    x[:10, 0], y[:10] = 50.0, 0
    x[10:, 0], y[10:20] = 1e4, 1
    X = da.from_array(x, chunks=((10, 990), 3))
    loss_fn = fastloss.CrossEntropyLoss()
    loss, g = dask.compute(*fd.value_and_grad(loss_fn, X, y))
    expected, expected_g = loss_fn.value_and_grad(x, y)
    assert_reduced_close(loss, expected)
    assert abs(float(loss) - 1e4 / 2) < 1.0          # (10 * 0 + 10 * 1e4) / 20
    assert_bitwise(g, expected_g)                    # every row scaled by 1/20


def test_one_block_reductions_are_bitwise(client, rng):
    # bitwise for "sum", and for "mean" whose denominator is an exact count
    x = logits(rng, (3000, 11))
    y = rng.integers(0, 11, 3000)
    y[::4] = -100
    for weight, reduction in ((rng.random(11), "sum"), (None, "mean"),
                              (np.arange(11.0), "mean")):
        loss_fn = fastloss.CrossEntropyLoss(weight, reduction=reduction, label_smoothing=0.3)
        assert_bitwise(fd.value(loss_fn, da.from_array(x), y).compute(), loss_fn(x, y))


def test_softmax_family_is_bitwise(client, rng):
    x3 = logits(rng, (40, 9, 300), np.float32)
    X3 = da.from_array(x3, chunks=(15, 9, 120))
    got = dask.compute(fd.softmax(X3, axis=1), fd.log_softmax(X3, axis=1),
                       fd.logsumexp(X3, axis=1), fd.logsumexp(X3, axis=1, keepdims=True),
                       fd.logsumexp(da.from_array(x3), axis=None))
    expected = (fastloss.softmax(x3, axis=1), fastloss.log_softmax(x3, axis=1),
                fastloss.logsumexp(x3, axis=1), fastloss.logsumexp(x3, axis=1, keepdims=True),
                fastloss.logsumexp(x3, axis=None))
    for a, b in zip(got, expected):
        assert_bitwise(a, b)


def test_rows_chunked_anyhow_are_bitwise(client, rng):
    """A row's result does not depend on the rows around it: softmax of a
    5 x 5 array chunked ((1, 4), (5,)) differed in row 4 by an ulp (a partial
    group of rows in lanes took another path)."""
    for shape, chunks in [((5, 5), ((1, 4), (5,))), ((37, 10), ((5, 11, 21), (10,))),
                          ((12, 9000), ((3, 9), (9000,)))]:
        x = logits(rng, shape, np.float32)
        X = da.from_array(x, chunks=chunks)
        y = rng.integers(0, shape[1], shape[0])
        loss_fn = fastloss.CrossEntropyLoss(reduction="none")
        got = dask.compute(fd.softmax(X), fd.log_softmax(X), fd.logsumexp(X),
                           *fd.value_and_grad(loss_fn, X, da.from_array(y, chunks=chunks[0])))
        expected = (fastloss.softmax(x), fastloss.log_softmax(x), fastloss.logsumexp(x),
                    *loss_fn.value_and_grad(x, y))
        for a, b in zip(got, expected):
            assert_bitwise(a, b)


def test_workers_follow_their_openmp_limit(client):
    # distributed starts each worker process with OMP_NUM_THREADS=1, and
    # num_threads=None follows OpenMP's maximum
    threads = client.run(fastloss.get_num_threads)
    assert len(threads) == 2
    assert set(threads.values()) == {1}


# ------------------------------------------------------------------ errors

X_SPLIT = da.zeros((100, 10), chunks=(50, 5))
X_OK = da.zeros((100, 10), chunks=(50, 10))


@pytest.mark.parametrize("call", [
    lambda: fd.softmax(X_SPLIT),
    lambda: fd.logsumexp(X_SPLIT),
    lambda: fd.cross_entropy(X_SPLIT, np.zeros(100, int)),
    lambda: fd.grad(fastloss.NLLLoss(), X_SPLIT, np.zeros(100, int)),
])
def test_class_axis_must_be_one_chunk(call):
    with pytest.raises(ValueError, match=r"the class axis \(axis 1, length 10\) must be a "
                                         r"single chunk, got chunks \(5, 5\); rechunk"):
        call()


def test_axis_none_needs_one_block():
    with pytest.raises(ValueError, match=r"x: the class axis \(axis 0, length 100\) must "
                                         r"be a single chunk"):
        fd.log_softmax(X_SPLIT, axis=None)


def test_refusals():
    with pytest.raises(TypeError, match="input: expected a float32 or float64 array .*got "
                                        "dask array of dtype int64 and shape"):
        fd.cross_entropy(da.zeros((4, 3), dtype=int, chunks=2), [0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"target: expected class indices of shape \(100,\)"):
        fd.cross_entropy(X_OK, np.zeros(99, int))
    with pytest.raises(TypeError, match="target: expected integer class indices, got"):
        fd.nll_loss(X_OK, np.zeros(100))
    with pytest.raises(ValueError, match=r"target: expected the input's shape \(100, 10\)"):
        fd.mse_loss(X_OK, np.zeros((100, 9)))
    with pytest.raises(ValueError, match=r"weight: expected an array broadcastable to the "
                                         r"input's shape \(100, 10\), got shape \(3,\)"):
        fd.binary_cross_entropy_with_logits(X_OK, X_OK, weight=np.ones(3))
    with pytest.raises(TypeError, match="loss_fn: expected a fastloss loss object"):
        fd.value(len, X_OK, X_OK)
    with pytest.raises(ValueError, match="grad_output: expected a real scalar for "
                                         "reduction='mean'"):
        fd.grad(fastloss.MSELoss(), X_OK, X_OK, grad_output=np.ones(3))
    with pytest.raises(ValueError, match="reduction: expected 'none', 'mean' or 'sum'"):
        fd.mse_loss(X_OK, X_OK, reduction="avg")
    with pytest.raises(ValueError, match="ignore_index: not supported with probability "
                                         "targets"):        # refused when the graph is made
        fd.cross_entropy(X_OK, X_OK, ignore_index=3)
    unknown = X_OK[X_OK[:, 0] > 0]
    with pytest.raises(ValueError, match=r"x: expected known chunk sizes.*"
                                         r"compute_chunk_sizes\(\)"):
        fd.softmax(unknown)


def test_value_errors_name_the_global_position(client):
    y = np.zeros(100, int)
    y[73] = 10
    with pytest.raises(IndexError, match=r"target: class index 10 at position \(73,\) is "
                                         r"out of range for 10 classes"):
        fd.cross_entropy(X_OK, da.from_array(y, chunks=30)).compute()
    with pytest.raises(IndexError, match=r"at position \(73,\)"):
        fd.grad(fastloss.CrossEntropyLoss(), X_OK, y).compute()
    p = np.full((100, 10), 0.5)
    p[60, 3] = 1.5
    with pytest.raises(ValueError, match=r"input: expected probabilities in \[0, 1\], got "
                                         r"1.5 at position \(10, 3\) \(in the block at "
                                         r"offset \(50, 0\) of the dask array\)"):
        fd.binary_cross_entropy(da.from_array(p, chunks=50), p.clip(0, 1)).compute()


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_zero_denominator_as_in_memory(client, smoothing):
    # every kept target of weight 0: "mean" is 0/0, NaN, with label smoothing too
    x = np.arange(24.0).reshape(8, 3) / 7
    y = np.array([0, 2, -100, 0, 2, 2, 0, -100])
    loss_fn = fastloss.CrossEntropyLoss([0.0, 1.0, 0.0], label_smoothing=smoothing)
    loss, grad = dask.compute(*fd.value_and_grad(loss_fn, da.from_array(x, chunks=3), y))
    want_loss, want_grad = loss_fn.value_and_grad(x, y)
    assert np.isnan(loss) and np.isnan(want_loss)
    np.testing.assert_array_equal(grad, want_grad)
    assert np.isnan(fd.cross_entropy(da.from_array(x, chunks=3), y, weight=[0.0, 1.0, 0.0],
                                     label_smoothing=smoothing).compute())


def test_docstring_examples():
    with dask.config.set(scheduler="sync"):
        result = doctest.testmod(fd, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def run_python(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    return done.returncode, done.stdout + done.stderr


def test_import_fastloss_does_not_import_dask():
    code, out = run_python("import sys, fastloss; print('dask' in sys.modules)")
    assert (code, out.strip()) == (0, "False")


def test_without_dask_the_import_error_says_what_to_install():
    code, out = run_python("import sys; sys.modules['dask'] = None; import fastloss.dask")
    assert code == 1
    assert 'ImportError: fastloss.dask needs dask' in out
    assert_install_commands(out, "dask")


# ------------------------------------------------- linear_cross_entropy

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_cross_entropy_matches_the_reference(client, rng, dtype, reduction, bias):
    import reference as ref
    from support import assert_close_products

    n, d, v = 300, 8, 13
    x = rng.standard_normal((n, d)).astype(dtype)
    w = rng.standard_normal((v, d)).astype(dtype)
    b = rng.standard_normal(v).astype(dtype) if bias else None
    y = rng.integers(0, v, n)
    y[::5] = -100
    options = dict(weight=rng.random(v) + 0.5, reduction=reduction, label_smoothing=0.1)
    X = da.from_array(x, chunks=((100, 120, 80), d))
    Y = da.from_array(y, chunks=50)                   # rechunked as X's rows
    loss_fn = fastloss.LinearCrossEntropyLoss(**options, chunk_size=7)
    value, (vg_loss, grads) = dask.compute(
        fd.linear_cross_entropy(X, w, Y, linear_bias=b, chunk_size=7, **options),
        fd.value_and_grad(loss_fn, X, Y, linear_weight=w, linear_bias=b))
    expected = ref.linear_cross_entropy(x, w, y, b, **options)
    expected_grads = ref.linear_cross_entropy_grad(x, w, y, b, **options)
    assert_close_products(value, expected, dtype)
    assert_close_products(vg_loss, expected, dtype)
    assert np.asarray(value).dtype == dtype and np.shape(value) == np.shape(expected)
    for got, want in zip(grads, expected_grads):
        if want is None:
            assert got is None
            continue
        assert got.dtype == dtype and got.shape == want.shape
        assert_close_products(got, want, dtype)


def test_linear_cross_entropy_refusals(client):
    x = da.zeros((40, 6), chunks=(10, 3))
    w = np.zeros((5, 6))
    with pytest.raises(ValueError, match=r"input: the features \(axis 1, length 6\) must be a "
                                         r"single chunk, got chunks \(3, 3\)"):
        fd.linear_cross_entropy(x, w, np.zeros(40, int))
    x = x.rechunk((10, 6))
    with pytest.raises(ValueError, match=r"linear_weight: expected shape \(n_classes, 6\)"):
        fd.linear_cross_entropy(x, np.zeros((5, 4)), np.zeros(40, int))
    with pytest.raises(TypeError, match=r"linear_weight: expected the input's dtype float64"):
        fd.linear_cross_entropy(x, np.zeros((5, 6), np.float32), np.zeros(40, int))
    with pytest.raises(ValueError, match=r"target: expected class indices of shape \(40,\)"):
        fd.linear_cross_entropy(x, w, np.zeros(39, int))
    with pytest.raises(TypeError, match=r"linear_weight: expected the layer's weight"):
        fd.value_and_grad(fastloss.LinearCrossEntropyLoss(), x, np.zeros(40, int))
    with pytest.raises(TypeError, match=r"linear_weight, linear_bias: only with a "
                                        r"LinearCrossEntropyLoss, got a CrossEntropyLoss"):
        fd.value_and_grad(fastloss.CrossEntropyLoss(), x, np.zeros(40, int), linear_weight=w)
    y = np.zeros(40, int)
    y[33] = 5
    with pytest.raises(IndexError, match=r"target: class index 5 at position \(33,\) is "
                                         r"out of range for 5 classes"):
        fd.linear_cross_entropy(x, w, y, reduction="sum").compute()
    with pytest.raises(IndexError, match=r"at position \(33,\)"):
        dask.compute(*fd.value_and_grad(fastloss.LinearCrossEntropyLoss(), x, y,
                                        linear_weight=w)[1])
