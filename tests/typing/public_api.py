"""Code using fastloss's public API, for ``mypy --strict`` (run by CI's lint
step, not by pytest): it must type-check without errors or ignores."""

import numpy as np
import numpy.typing as npt

import fastloss
import fastloss.dask


def train_step(x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> float:
    loss_fn = fastloss.CrossEntropyLoss(np.ones(x.shape[1]), label_smoothing=0.1)
    loss, grad = loss_fn.value_and_grad(x, y)
    x -= 0.1 * grad
    mean: np.floating = fastloss.cross_entropy(x, y)
    rows: npt.NDArray[np.floating] = fastloss.cross_entropy(x, y, reduction="none")
    probs: npt.NDArray[np.floating] = fastloss.softmax(x, axis=-1, num_threads=2)
    lse = fastloss.logsumexp(x, keepdims=True)
    with fastloss.num_threads(1) as n:
        assert n == fastloss.get_num_threads()
    fastloss.set_num_threads(None)
    config = fastloss.show_config(mode="dicts")
    return float(loss) + float(mean) + float(rows.sum()) + float(probs.sum()) \
        + float(np.sum(lse)) + len(config)


def binary(z: npt.NDArray[np.float64], t: npt.NDArray[np.float64]) -> float:
    total = fastloss.binary_cross_entropy_with_logits(z, t, pos_weight=[2.0], reduction="sum")
    total += fastloss.mse_loss(z, t) + fastloss.binary_cross_entropy(t, t)
    g = fastloss.BCEWithLogitsLoss(reduction="none").grad(z, t, grad_output=np.ones_like(z))
    return float(total) + float(g.sum()) + float(fastloss.nll_loss(z, [0]))


def distributed(x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> float:
    loss, grad = fastloss.dask.value_and_grad(fastloss.CrossEntropyLoss(), x, y)
    return float(loss.compute()) + float(fastloss.dask.softmax(x).sum().compute()) \
        + float(grad.sum().compute())


def estimators(X: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> float:
    from fastloss.estimators import MLPClassifier, MultiLabelLogisticRegression, SoftmaxRegression

    clf = SoftmaxRegression(C=0.5, class_weight="balanced").fit(X, y)
    proba: npt.NDArray[np.floating] = clf.predict_proba(X)
    multi = MultiLabelLogisticRegression(pos_weight=2.0).fit(X, np.eye(3)[y % 3])
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3).set_params(alpha=0.1)
    return clf.score(X, y) + float(proba.sum()) + float(multi.coef_.sum()) + len(mlp.get_params())


def fused(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32],
          y: npt.NDArray[np.int64]) -> float:
    loss_fn = fastloss.LinearCrossEntropyLoss(label_smoothing=0.1, chunk_size=64)
    loss, (gx, gw, gb) = loss_fn.value_and_grad(x, w, y, np.zeros(w.shape[0], np.float32))
    rows: npt.NDArray[np.floating] = fastloss.linear_cross_entropy(x, w, y, reduction="none")
    total = float(loss) + float(gx.sum()) + float(gw.sum()) + float(rows.sum())
    return total + (0.0 if gb is None else float(gb.sum()))


def fused_distributed(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32],
                      y: npt.NDArray[np.int64]) -> float:
    loss_fn = fastloss.LinearCrossEntropyLoss()
    loss, (gx, gw, gb) = fastloss.dask.value_and_grad(loss_fn, x, y, linear_weight=w)
    value = fastloss.dask.linear_cross_entropy(x, w, y, reduction="sum")
    return float(loss.compute()) + float(gx.sum().compute()) + float(gw.sum().compute()) \
        + float(value.compute()) + (0.0 if gb is None else float(gb.sum().compute()))


def round_two(x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> float:
    from fastloss.estimators import MLPClassifier

    s = fastloss.sigmoid(x) + fastloss.log_sigmoid(x) + fastloss.softplus(x, beta=2.0)
    g = fastloss.softmax_backward(x, fastloss.softmax(x), axis=-1)
    g += fastloss.log_softmax_backward(x, fastloss.log_softmax(x))
    lse, sign = fastloss.logsumexp(x, axis=(0, 1), b=np.ones_like(x), return_sign=True)
    loss, grad = fastloss.CrossEntropyLoss(reduction="none").value_and_grad(
        x, y, grad_output=np.ones(x.shape[0], np.float32))
    mlp = MLPClassifier(hidden_layer_sizes=(4,)).partial_fit(x, y, classes=np.unique(y))
    return float(s.sum()) + float(g.sum()) + float(np.sum(lse)) + float(np.sum(sign)) \
        + float(np.sum(loss)) + float(grad.sum()) + float(mlp.score(x, y))
