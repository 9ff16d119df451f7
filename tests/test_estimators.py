"""fastloss.estimators against scikit-learn, and scikit-learn's estimator checks.

Needs the ``sklearn`` extra (scikit-learn and SciPy); skipped without it.
"""

import doctest
import pickle
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
scipy_sparse = pytest.importorskip("scipy.sparse")

from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastloss  # noqa: E402
from fastloss import estimators  # noqa: E402
from fastloss.estimators import (  # noqa: E402
    MLPClassifier,
    MultiLabelLogisticRegression,
    SoftmaxRegression,
)

from support import assert_install_commands  # noqa: E402

# Tight enough that both L-BFGS runs sit on the optimum, far below the 1e-4
# agreement asked of the coefficients.
TIGHT = dict(tol=1e-10, max_iter=2000)

# Short fits that stop at max_iter warn; the tests about the warning catch it
# explicitly (pytest.warns, or a filter turning it into an error).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def dataset(n_classes, n_samples=240, n_features=6, seed=0, dtype=np.float64):
    """A well-conditioned problem: standardized, informative features."""
    X, y = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=n_features - 1, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1,
                               class_sep=0.8, random_state=seed)
    return StandardScaler().fit_transform(X).astype(dtype), y


def assert_same_optimum(ours, theirs):
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-4,
                               atol=1e-4 * scale)


def mlp(**kwargs):
    options = dict(hidden_layer_sizes=(16,), random_state=0, max_iter=50)
    return MLPClassifier(**{**options, **kwargs})


# ------------------------------------------------------ import behaviour

def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)


def test_import_fastloss_does_not_import_sklearn_or_scipy():
    result = run_python("import sys, fastloss; "
                        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_without_sklearn_names_the_extra():
    # sys.modules[name] = None makes `import name` raise ImportError
    result = run_python("import sys; sys.modules['sklearn'] = None\n"
                        "import fastloss.estimators")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert_install_commands(result.stderr, "sklearn")


# ------------------------------------- SoftmaxRegression == LogisticRegression

@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("C", [0.05, 1.0, 20.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_softmax_regression_matches_logistic_regression(n_classes, C, fit_intercept):
    X, y = dataset(n_classes)
    ours = SoftmaxRegression(C=C, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    theirs = LogisticRegression(C=C, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    assert ours.coef_.shape == theirs.coef_.shape
    assert_same_optimum(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighting", ["class_weight", "balanced", "sample_weight",
                                       "both"])
def test_softmax_regression_weights_match_logistic_regression(n_classes, weighting):
    X, y = dataset(n_classes, seed=1)
    rng = np.random.default_rng(3)
    class_weight = None
    if weighting in ("class_weight", "both"):
        class_weight = {k: 0.5 + k for k in range(n_classes)}
    elif weighting == "balanced":
        class_weight = "balanced"
    sw = rng.uniform(0.2, 3.0, len(y)) if weighting in ("sample_weight", "both") else None
    ours = SoftmaxRegression(C=2.0, class_weight=class_weight, **TIGHT)
    theirs = LogisticRegression(C=2.0, class_weight=class_weight, **TIGHT)
    assert_same_optimum(ours.fit(X, y, sample_weight=sw),
                        theirs.fit(X, y, sample_weight=sw))


def test_class_weight_equals_sample_weight_of_the_class():
    X, y = dataset(3, seed=2)
    weights = {0: 3.0, 1: 0.5, 2: 1.0}
    by_class = SoftmaxRegression(class_weight=weights, **TIGHT).fit(X, y)
    by_sample = SoftmaxRegression(**TIGHT).fit(
        X, y, sample_weight=np.array([weights[k] for k in y]))
    np.testing.assert_allclose(by_class.coef_, by_sample.coef_, rtol=1e-6, atol=1e-8)


def test_multiclass_uses_one_fused_cross_entropy_call_per_evaluation(monkeypatch):
    calls = {"value_and_grad": 0, "other": 0}
    real = fastloss.CrossEntropyLoss.value_and_grad

    def counting(self, *args, **kwargs):
        calls["value_and_grad"] += 1
        return real(self, *args, **kwargs)

    def refuse(*args, **kwargs):
        calls["other"] += 1
        raise AssertionError("only value_and_grad may be called while fitting")

    monkeypatch.setattr(fastloss.CrossEntropyLoss, "value_and_grad", counting)
    monkeypatch.setattr(fastloss.CrossEntropyLoss, "grad", refuse)
    monkeypatch.setattr(fastloss.CrossEntropyLoss, "__call__", refuse)
    X, y = dataset(3)
    for sw in (None, np.linspace(0.5, 2.0, len(y))):
        calls["value_and_grad"] = 0
        clf = SoftmaxRegression(max_iter=30).fit(X, y, sample_weight=sw)
        # L-BFGS evaluates at least once per iteration (plus line-search steps)
        assert calls["value_and_grad"] >= clf.n_iter_[0] > 5
        assert calls["value_and_grad"] <= 3 * clf.n_iter_[0] + 5
    assert calls["other"] == 0


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_logits_take_the_fused_path(monkeypatch, class_weight, dtype):
    """Above the threshold each evaluation is one LinearCrossEntropyLoss call
    (the logits a block at a time), and the optimum is LogisticRegression's."""
    calls = {"fused": 0}
    real = fastloss.LinearCrossEntropyLoss._value_and_layer_grads

    def counting(self, *args, **kwargs):
        calls["fused"] += 1
        return real(self, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("the logits were materialized")

    X, y = dataset(4, seed=5, dtype=dtype)
    unfused = SoftmaxRegression(C=2.0, class_weight=class_weight, **TIGHT).fit(X, y)
    assert calls["fused"] == 0
    monkeypatch.setattr(estimators, "_FUSED_LOGITS_BYTES", X.shape[0] * 4 * X.itemsize - 1)
    monkeypatch.setattr(fastloss.LinearCrossEntropyLoss, "_value_and_layer_grads", counting)
    monkeypatch.setattr(fastloss.CrossEntropyLoss, "value_and_grad", refuse)
    fused = SoftmaxRegression(C=2.0, class_weight=class_weight, **TIGHT).fit(X, y)
    assert calls["fused"] >= fused.n_iter_[0] > 5
    assert fused.coef_.dtype == dtype
    if dtype == np.float64:
        theirs = LogisticRegression(C=2.0, class_weight=class_weight, **TIGHT).fit(X, y)
        assert_same_optimum(fused, theirs)
    np.testing.assert_allclose(fused.coef_, unfused.coef_, rtol=1e-3, atol=1e-3)


def test_the_fused_path_fits_as_the_unfused_one_in_float32(monkeypatch):
    # the bias' gradient stays float64 on the fused path, as the unfused
    # objective's column sums: rounded to float32 it sent L-BFGS elsewhere
    # (digits: 69 iterations instead of 79, coefficients 0.034 apart)
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    unfused = SoftmaxRegression().fit(X, y)
    monkeypatch.setattr(estimators, "_FUSED_LOGITS_BYTES", 0)
    fused = SoftmaxRegression().fit(X, y)
    assert fused.n_iter_[0] == unfused.n_iter_[0]
    np.testing.assert_allclose(fused.coef_, unfused.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.intercept_, unfused.intercept_, rtol=1e-5, atol=1e-6)


def test_warm_start_resumes_from_the_optimum():
    X, y = dataset(3)
    clf = SoftmaxRegression(warm_start=True, **TIGHT).fit(X, y)
    first = clf.coef_.copy()
    clf.fit(X, y)
    assert clf.n_iter_[0] <= 2
    # the optimum is known to gtol / (smallest curvature), not to the last bit:
    # a restart there may take a step of ~1e-8 (it did with the SIMD kernels)
    np.testing.assert_allclose(clf.coef_, first, rtol=1e-5, atol=1e-7)
    assert SoftmaxRegression(warm_start=False, **TIGHT).fit(X, y).n_iter_[0] > 5


# ------------------------------------------------------------- dtypes, labels

@pytest.mark.parametrize("make", [
    lambda: SoftmaxRegression(max_iter=300),
    lambda: MultiLabelLogisticRegression(max_iter=300),
    lambda: mlp(max_iter=30),
], ids=["softmax", "multilabel", "mlp"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_float32_stays_float32(make, n_classes, monkeypatch):
    if n_classes == 3 and "MultiLabel" in type(make()).__name__:
        n_classes = 2
    seen = set()
    for cls in (fastloss.CrossEntropyLoss, fastloss.BCEWithLogitsLoss):
        real = cls.value_and_grad

        def spy(self, input, target, *, out=None, _real=real):
            seen.add(np.asarray(input).dtype)
            loss, grad = _real(self, input, target, out=out)
            seen.add(grad.dtype)
            return loss, grad

        monkeypatch.setattr(cls, "value_and_grad", spy)
    X, y = dataset(n_classes, dtype=np.float32)
    clf = make().fit(X, y)
    assert seen == {np.dtype(np.float32)}
    params = (clf.coefs_ + clf.intercepts_ if isinstance(clf, MLPClassifier)
              else [clf.coef_, clf.intercept_])
    assert {p.dtype for p in params} == {np.dtype(np.float32)}
    for method in ("decision_function", "predict_proba", "predict_log_proba"):
        assert getattr(clf, method)(X).dtype == np.float32, method


def test_float32_fit_is_close_to_float64_fit():
    X, y = dataset(3)
    c64 = SoftmaxRegression(tol=1e-8, max_iter=1000).fit(X, y)
    # float32 losses can stop the line search before tol=1e-8 (a ConvergenceWarning)
    c32 = SoftmaxRegression(tol=1e-8, max_iter=1000).fit(X.astype(np.float32), y)
    np.testing.assert_allclose(c32.coef_, c64.coef_, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("make", [SoftmaxRegression, MultiLabelLogisticRegression,
                                  lambda: mlp(max_iter=200)],
                         ids=["softmax", "multilabel", "mlp"])
def test_string_labels(make):
    X, y = dataset(2, seed=4)
    names = np.array(["spam", "ham"])[y]
    clf = make().fit(X, names)
    assert clf.classes_.tolist() == ["ham", "spam"]
    pred = clf.predict(X)
    assert set(pred) <= {"ham", "spam"}
    assert np.mean(pred == names) > 0.8
    proba = clf.predict_proba(X)
    # column k is the probability of classes_[k]
    assert np.mean((proba[:, 1] > 0.5) == (names == "spam")) > 0.8
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_string_labels_multiclass():
    X, y = dataset(3, seed=5)
    names = np.array(["c", "a", "b"])[y]
    for clf in (SoftmaxRegression(), mlp(max_iter=200)):
        clf.fit(X, names)
        assert clf.classes_.tolist() == ["a", "b", "c"]
        assert np.mean(clf.predict(X) == names) > 0.8
        assert clf.predict_proba(X).shape == (len(y), 3)


@pytest.mark.parametrize("make", [SoftmaxRegression, MultiLabelLogisticRegression, mlp],
                         ids=["softmax", "multilabel", "mlp"])
def test_pickle_round_trip(make):
    X, y = dataset(2)
    clf = make().fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    for method in ("predict", "predict_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(copy, method)(X), getattr(clf, method)(X))


@pytest.mark.parametrize("make", [
    lambda: SoftmaxRegression(max_iter=2),
    lambda: MultiLabelLogisticRegression(max_iter=2),
    lambda: mlp(max_iter=2),
], ids=["softmax", "multilabel", "mlp"])
def test_convergence_warning(make):
    X, y = dataset(2)
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iteration"):
        clf = make().fit(X, y)
    assert np.ravel(clf.n_iter_)[0] == 2


def test_no_convergence_warning_when_converged():
    X, y = dataset(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert SoftmaxRegression(max_iter=500).fit(X, y).n_iter_[0] < 500
        assert mlp(max_iter=1000, learning_rate_init=0.01).fit(X, y).n_iter_ < 1000


# ------------------------------------------------- MultiLabelLogisticRegression

def multilabel_dataset(seed=0):
    rng = np.random.default_rng(seed)
    X, _ = dataset(2, n_samples=300, seed=seed)
    W = rng.standard_normal((3, X.shape[1]))
    Y = (X @ W.T + rng.standard_normal((len(X), 3)) > 0.3).astype(np.int64)
    return X, Y


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multilabel_equals_one_logistic_regression_per_label(fit_intercept):
    X, Y = multilabel_dataset()
    clf = MultiLabelLogisticRegression(C=0.5, fit_intercept=fit_intercept, **TIGHT)
    clf.fit(X, Y)
    assert clf.coef_.shape == (3, X.shape[1])
    assert clf.classes_.tolist() == [0, 1, 2]
    for label in range(3):
        ref = LogisticRegression(C=0.5, fit_intercept=fit_intercept, **TIGHT)
        ref.fit(X, Y[:, label])
        np.testing.assert_allclose(clf.coef_[label], ref.coef_[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(clf.intercept_[label], ref.intercept_[0], rtol=1e-4,
                                   atol=1e-6)
        np.testing.assert_allclose(clf.predict_proba(X)[:, label],
                                   ref.predict_proba(X)[:, 1], rtol=1e-4, atol=1e-6)
    pred = clf.predict(X)
    assert pred.shape == Y.shape and pred.dtype == Y.dtype
    np.testing.assert_array_equal(pred, (clf.decision_function(X) > 0).astype(Y.dtype))


def test_multilabel_1d_binary_is_binary_logistic_regression():
    X, y = dataset(2, seed=6)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    clf = MultiLabelLogisticRegression(C=3.0, **TIGHT).fit(X, y, sample_weight=sw)
    ref = LogisticRegression(C=3.0, **TIGHT).fit(X, y, sample_weight=sw)
    assert_same_optimum(clf, ref)
    assert clf.predict_proba(X).shape == (len(y), 2)
    assert clf.decision_function(X).shape == (len(y),)
    np.testing.assert_array_equal(clf.predict(X), ref.predict(X))


@pytest.mark.parametrize("two_d", [False, True])
def test_pos_weight_weights_the_positive_examples(two_d):
    # pos_weight p on a label is the sample weight p on its positive examples
    X, Y = multilabel_dataset(seed=1)
    pos_weight = np.array([3.0, 0.5, 1.5])
    if not two_d:
        Y, pos_weight = Y[:, 0], pos_weight[:1]
    clf = MultiLabelLogisticRegression(pos_weight=pos_weight, **TIGHT).fit(X, Y)
    Y2 = Y.reshape(len(Y), -1)
    for label in range(Y2.shape[1]):
        sw = np.where(Y2[:, label] == 1, pos_weight[label], 1.0)
        ref = LogisticRegression(**TIGHT).fit(X, Y2[:, label], sample_weight=sw)
        np.testing.assert_allclose(clf.coef_[label], ref.coef_[0], rtol=1e-4, atol=1e-6)


def test_pos_weight_scalar_applies_to_every_label():
    X, Y = multilabel_dataset(seed=2)
    scalar = MultiLabelLogisticRegression(pos_weight=2.0, **TIGHT).fit(X, Y)
    vector = MultiLabelLogisticRegression(pos_weight=[2.0, 2.0, 2.0], **TIGHT).fit(X, Y)
    np.testing.assert_allclose(scalar.coef_, vector.coef_, rtol=1e-10)
    plain = MultiLabelLogisticRegression(**TIGHT).fit(X, Y)
    assert (scalar.predict(X).sum() > plain.predict(X).sum())   # favours positives


def test_multilabel_refusals():
    X, Y = multilabel_dataset()
    with pytest.raises(ValueError, match=r"pos_weight: expected .* shape \(3,\), got shape \(2,\)"):
        MultiLabelLogisticRegression(pos_weight=[1.0, 2.0]).fit(X, Y)
    with pytest.raises(ValueError, match="pos_weight: expected finite non-negative"):
        MultiLabelLogisticRegression(pos_weight=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        MultiLabelLogisticRegression().fit(X, np.arange(len(X)) % 3)


# ----------------------------------------------------------- MLPClassifier

def test_mlp_learns_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        random_state=0, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0)
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 10
    assert [c.shape for c in clf.coefs_] == [(64, 64), (64, 10)]
    # the loss curve is the mean training objective, decreasing overall
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]


@pytest.mark.parametrize("n_classes,used,unused", [
    (2, "BCEWithLogitsLoss", "CrossEntropyLoss"),
    (3, "CrossEntropyLoss", "BCEWithLogitsLoss"),
])
def test_mlp_loss_layer(n_classes, used, unused, monkeypatch):
    calls = {used: 0, unused: 0}
    for name in calls:
        cls = getattr(fastloss, name)
        real = cls.value_and_grad

        def spy(self, *args, _name=name, _real=real, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "value_and_grad", spy)
    X, y = dataset(n_classes, n_samples=200)
    clf = mlp(max_iter=3, batch_size=50)
    clf.fit(X, y)
    assert calls == {used: 3 * 4, unused: 0}    # one call per minibatch
    assert clf.n_outputs_ == (1 if n_classes == 2 else n_classes)
    assert clf.coefs_[-1].shape[1] == clf.n_outputs_


def reference_mlp_objective(coefs, intercepts, activation, X, y, sw, alpha):
    """(sum_i w_i loss_i + alpha/2 sum ||W||^2) / sum_i w_i, written plainly;
    loss_i the cross-entropy of softmax, of one sigmoid (two classes), or,
    for a 2-D indicator y, the sum of each label's sigmoid cross-entropy."""
    functions = {"relu": lambda h: np.maximum(h, 0), "tanh": np.tanh,
                 "logistic": lambda h: 1 / (1 + np.exp(-h)), "identity": lambda h: h}
    a = X
    for i, (W, c) in enumerate(zip(coefs, intercepts)):
        a = a @ W + c
        if i < len(coefs) - 1:
            a = functions[activation](a)
    if y.ndim == 2:
        p = 1 / (1 + np.exp(-a))
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    elif a.shape[1] == 1:
        p1 = 1 / (1 + np.exp(-a[:, 0]))
        loss = -np.where(y == 1, np.log(p1), np.log(1 - p1))
    else:
        shifted = a - a.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(len(y)), y]
    squares = sum(float(np.sum(W * W)) for W in coefs)
    return (sw @ loss + 0.5 * alpha * squares) / sw.sum()


def multilabel_targets(X, n_labels=3, seed=0):
    """A learnable indicator matrix: noisy linear functions of X."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_labels, X.shape[1]))
    return (X @ W.T + 0.3 * rng.standard_normal((len(X), n_labels)) > 0).astype(np.int64)


def mlp_dataset(kind, n_samples=150, **kwargs):
    """(X, y, classes) of 2 or 3 classes, or of 3 labels for kind "multilabel"."""
    X, y = dataset(3 if kind == "multilabel" else kind, n_samples=n_samples, **kwargs)
    if kind == "multilabel":
        return X, multilabel_targets(X), np.arange(3)
    return X, y, np.unique(y)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("n_classes", [2, 3, "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mlp_minibatch_objective_and_gradient(activation, n_classes, weighted):
    # the training step (fastloss loss layer + NumPy backprop) against a plain
    # forward pass, and its gradient against central finite differences of it
    rng = np.random.default_rng(7)
    X, y, _ = mlp_dataset(n_classes, n_samples=30, n_features=4)
    sw = rng.uniform(0.5, 2.0, len(y)) if weighted else None
    n_out = 3 if n_classes == "multilabel" else 1 if n_classes == 2 else n_classes
    net = estimators._Network([4, 5, 3, n_out], activation, 0.3, np.float64, 30)
    net.initialize(np.random.RandomState(0))
    batches = estimators._Batches(X, y, sw, n_out, None)
    idx = rng.permutation(30)

    def reference(theta):
        net.theta[:] = theta
        return reference_mlp_objective(net.coefs, net.intercepts, activation, X[idx],
                                       y[idx], np.ones(30) if sw is None else sw[idx],
                                       0.3)

    theta = net.theta.copy()
    value = net.step(X, idx, *batches.loss(idx))
    grad = net.grad.copy()
    np.testing.assert_allclose(value, reference(theta), rtol=1e-12)
    h = 1e-6
    numeric = np.array([(reference(theta + h * e) - reference(theta - h * e)) / (2 * h)
                        for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_mlp_early_stopping_keeps_the_best_epoch():
    X, y = dataset(3, n_samples=400)
    clf = mlp(early_stopping=True, max_iter=300, learning_rate_init=0.01).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_mlp_is_deterministic_given_random_state():
    X, y = dataset(3)
    a = mlp(max_iter=5).fit(X, y)
    b = mlp(max_iter=5).fit(X, y)
    for wa, wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(wa, wb)
    c = mlp(max_iter=5, random_state=1).fit(X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


# ------------------------------------------------------------------ sparse X

SPARSE_FORMATS = [scipy_sparse.csr_matrix, scipy_sparse.csc_matrix,
                  scipy_sparse.csr_array, scipy_sparse.csc_array]
SPARSE_IDS = ["csr_matrix", "csc_matrix", "csr_array", "csc_array"]


def sparse_dataset(n_classes, n_samples=300, n_features=40, density=0.15, seed=0,
                   dtype=np.float64):
    """TF-IDF-like: non-negative, 85% zeros, rows of unit norm; labels from a
    noisy linear model of X, so that the classes can be learnt."""
    rng = np.random.default_rng(seed)
    X = rng.exponential(1.0, (n_samples, n_features))
    X *= rng.random((n_samples, n_features)) < density
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    W = 4.0 * rng.standard_normal((n_classes, n_features))
    y = np.argmax(X @ W.T + rng.gumbel(size=(n_samples, n_classes)), axis=1)
    return X.astype(dtype), y


@pytest.fixture
def never_densify(monkeypatch):
    """Makes any conversion of a CSR or CSC matrix or array to dense an error."""
    def refuse(*args, **kwargs):
        raise AssertionError("a sparse X was densified")

    for cls in SPARSE_FORMATS:
        for name in ("toarray", "todense"):
            monkeypatch.setattr(cls, name, refuse)


def sparse_tolerance(dtype, coef):
    """L-BFGS on the same objective with products summed in another order:
    float64 fits at TIGHT meet at the optimum to ~1e-8; float32 rounding
    moves the path (the float32/float64 tolerance of the tests above)."""
    scale = np.abs(coef).max()
    return (dict(rtol=1e-6, atol=1e-6 * scale) if dtype == np.float64
            else dict(rtol=1e-3, atol=2e-3 * scale))


def assert_sparse_predicts_as_dense(clf, X_sparse, X):
    """The fitted model's outputs on the sparse X are those on its dense copy."""
    rtol = 1e-5 if X.dtype == np.float32 else 1e-12
    for method in ("decision_function", "predict_proba", "predict_log_proba"):
        got = getattr(clf, method)(X_sparse)
        assert type(got) is np.ndarray and got.dtype == X.dtype, method
        np.testing.assert_allclose(got, getattr(clf, method)(X), rtol=rtol,
                                   atol=rtol, err_msg=method)
    np.testing.assert_array_equal(clf.predict(X_sparse), clf.predict(X))


@pytest.mark.parametrize("fmt", SPARSE_FORMATS, ids=SPARSE_IDS)
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_regression_sparse_fits_as_dense(fmt, n_classes, dtype, never_densify):
    X, y = sparse_dataset(n_classes, dtype=dtype)
    X_sparse = fmt(X)
    dense = SoftmaxRegression(C=5.0, **TIGHT).fit(X, y)
    ours = SoftmaxRegression(C=5.0, **TIGHT).fit(X_sparse, y)
    assert ours.coef_.dtype == dtype and ours.n_features_in_ == X.shape[1]
    tol = sparse_tolerance(dtype, dense.coef_)
    np.testing.assert_allclose(ours.coef_, dense.coef_, **tol)
    np.testing.assert_allclose(ours.intercept_, dense.intercept_, **tol)
    assert_sparse_predicts_as_dense(ours, X_sparse, X)
    assert ours.score(X_sparse, y) == ours.score(X, y) > 0.6


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighting", ["balanced", "sample_weight", "no_intercept"])
def test_softmax_regression_sparse_options(n_classes, weighting, never_densify):
    X, y = sparse_dataset(n_classes, seed=1)
    sw = (np.random.default_rng(2).uniform(0.2, 3.0, len(y))
          if weighting == "sample_weight" else None)
    options = dict(C=2.0, class_weight="balanced" if weighting == "balanced" else None,
                   fit_intercept=weighting != "no_intercept", **TIGHT)
    ours = SoftmaxRegression(**options).fit(scipy_sparse.csr_array(X), y, sample_weight=sw)
    theirs = LogisticRegression(**options).fit(X, y, sample_weight=sw)
    assert_same_optimum(ours, theirs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_sparse_many_classes_fit_in_row_blocks(monkeypatch, dtype, class_weight,
                                               never_densify):
    """Above the fused path's threshold a sparse X is fitted in row blocks of
    the CSR matrix (37 rows here, not a divisor of 300): each CrossEntropyLoss
    call sees one block's logits, and the fit is the dense one's."""
    X, y = sparse_dataset(5, seed=3, dtype=dtype)
    dense = SoftmaxRegression(C=5.0, class_weight=class_weight, **TIGHT).fit(X, y)
    rows_seen = []
    real = fastloss.CrossEntropyLoss.value_and_grad

    def spy(self, input, target, *, out=None):
        rows_seen.append(input.shape[0])
        return real(self, input, target, out=out)

    monkeypatch.setattr(estimators, "_FUSED_LOGITS_BYTES", 0)
    monkeypatch.setattr(estimators, "_linear_chunk", lambda *args: 37)
    monkeypatch.setattr(fastloss.CrossEntropyLoss, "value_and_grad", spy)
    ours = SoftmaxRegression(C=5.0, class_weight=class_weight, **TIGHT)
    ours.fit(scipy_sparse.csc_matrix(X), y)
    assert set(rows_seen) == {37, 300 - 8 * 37}
    # 9 blocks per evaluation, at least one evaluation per iteration
    assert len(rows_seen) % 9 == 0 and len(rows_seen) // 9 >= ours.n_iter_[0] > 5
    assert ours.coef_.dtype == dtype
    tol = sparse_tolerance(dtype, dense.coef_)
    np.testing.assert_allclose(ours.coef_, dense.coef_, **tol)
    np.testing.assert_allclose(ours.intercept_, dense.intercept_, **tol)


def test_csr_rows_share_the_matrix_data():
    X = scipy_sparse.random(50, 8, density=0.3, format="csr", random_state=0)
    for start, stop in [(0, 50), (0, 7), (7, 14), (49, 50), (10, 10)]:
        block = estimators._csr_rows(X, start, stop)
        assert type(block) is type(X)
        np.testing.assert_array_equal(block.toarray(), X.toarray()[start:stop])
        if block.nnz:
            assert np.shares_memory(block.data, X.data)


def test_sparse_fit_never_holds_a_dense_copy(never_densify):
    # 10,000 x 20,000 float64 would be 1.6 GB dense; its 0.1% nonzeros take
    # 2.4 MB; L-BFGS' history of 10 pairs of 80,000 parameters takes 13 MB
    X = scipy_sparse.random(10000, 20000, density=0.001, format="csr",
                            random_state=np.random.default_rng(0))
    y = np.arange(10000) % 4
    dense_bytes = X.shape[0] * X.shape[1] * 8
    tracemalloc.start()
    try:
        clf = SoftmaxRegression(max_iter=15).fit(X, y)
        clf.predict_proba(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.05 * dense_bytes


@pytest.mark.parametrize("fmt", SPARSE_FORMATS, ids=SPARSE_IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_sparse_fits_as_dense(fmt, weighted, never_densify):
    X, labels = sparse_dataset(6, seed=4)
    Y = np.stack([labels % 2, labels // 3 % 2, (labels == 1)], axis=1).astype(np.int64)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, len(Y)) if weighted else None
    options = dict(C=3.0, pos_weight=[1.0, 2.0, 0.5], **TIGHT)
    dense = MultiLabelLogisticRegression(**options).fit(X, Y, sample_weight=sw)
    ours = MultiLabelLogisticRegression(**options).fit(fmt(X), Y, sample_weight=sw)
    tol = sparse_tolerance(np.float64, dense.coef_)
    np.testing.assert_allclose(ours.coef_, dense.coef_, **tol)
    np.testing.assert_allclose(ours.intercept_, dense.intercept_, **tol)
    assert_sparse_predicts_as_dense(ours, fmt(X), X)
    binary = MultiLabelLogisticRegression(C=3.0, **TIGHT).fit(fmt(X), Y[:, 0])
    ref = LogisticRegression(C=3.0, **TIGHT).fit(X, Y[:, 0])
    assert_same_optimum(binary, ref)


def test_sparse_tags():
    for clf in (SoftmaxRegression(), MultiLabelLogisticRegression(), MLPClassifier()):
        assert get_tags(clf).input_tags.sparse
    assert get_tags(MLPClassifier()).classifier_tags.multi_label


# ------------------------------------------------- MLPClassifier.partial_fit

def assert_same_network(a, b):
    for pa, pb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("n_classes", [2, 3, "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_first_call_is_one_epoch_of_fit(n_classes, weighted):
    X, y, classes = mlp_dataset(n_classes)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y)) if weighted else None
    one_epoch = mlp(max_iter=1, batch_size=32).fit(X, y, sample_weight=sw)
    ours = mlp(batch_size=32).partial_fit(X, y, sample_weight=sw, classes=classes)
    assert_same_network(ours, one_epoch)
    assert ours.loss_curve_ == one_epoch.loss_curve_ and len(ours.loss_curve_) == 1
    assert ours.n_iter_ == 1 and ours.t_ == len(y)
    np.testing.assert_array_equal(ours.classes_, one_epoch.classes_)
    assert ours.n_outputs_ == one_epoch.n_outputs_


@pytest.mark.parametrize("n_classes", [2, 3, "multilabel"])
@pytest.mark.parametrize("sparse", [False, True])
def test_partial_fit_calls_follow_the_epochs_of_fit(n_classes, sparse):
    # with one RandomState shared by the calls, k partial_fit calls draw the
    # same initialization and shuffles as fit's k epochs: the same trajectory
    X, y, classes = mlp_dataset(n_classes)
    data = scipy_sparse.csr_matrix(X) if sparse else X
    fitted = mlp(max_iter=4, batch_size=40,
                 random_state=np.random.RandomState(3)).fit(data, y)
    ours = mlp(batch_size=40, random_state=np.random.RandomState(3))
    for call in range(4):
        ours.partial_fit(data, y, classes=classes if call == 0 else None)
        assert ours.n_iter_ == 1 and len(ours.loss_curve_) == call + 1
    assert_same_network(ours, fitted)
    assert ours.loss_curve_ == fitted.loss_curve_
    assert ours.t_ == fitted.t_ == 4 * len(y)
    assert ours.best_loss_ == fitted.best_loss_ == min(fitted.loss_curve_)
    assert ours._optimizer.t == fitted._optimizer.t == 4 * 4


def test_partial_fit_on_a_stream_of_batches():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = MLPClassifier(hidden_layer_sizes=(32,), batch_size=50, learning_rate_init=0.01,
                        random_state=0)
    chunks = np.array_split(np.arange(len(y)), 6)
    for epoch in range(8):
        for i, chunk in enumerate(chunks):
            # the first chunk need not hold every class: classes says them all
            clf.partial_fit(X[chunk], y[chunk],
                            classes=np.arange(10) if epoch == i == 0 else None)
    assert len(clf.loss_curve_) == 8 * 6 and clf.n_iter_ == 1
    assert clf.t_ == 8 * len(y)
    per_pass = np.reshape(clf.loss_curve_, (8, 6)).mean(axis=1)
    assert np.all(np.diff(per_pass) < 0)          # each pass over the stream lowers it
    assert clf.score(X, y) > 0.9


def test_partial_fit_after_fit_continues_it():
    X, y = dataset(3)
    clf = mlp(max_iter=20).fit(X, y)
    before = [W.copy() for W in clf.coefs_]
    n_epochs, steps = clf.n_iter_, clf._optimizer.t
    clf.partial_fit(X, y)
    assert len(clf.loss_curve_) == n_epochs + 1 and clf.n_iter_ == 1
    assert clf.t_ == (n_epochs + 1) * len(y)
    assert clf._optimizer.t == steps + len(range(0, len(y), 200))
    # one more small Adam epoch from the fitted weights, not a new initialization
    change = max(np.abs(W - b).max() for W, b in zip(clf.coefs_, before))
    assert 0 < change < 0.05


def test_partial_fit_after_a_pickle_round_trip():
    X, y = dataset(3)
    clf = mlp(batch_size=50).partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(clf))
    assert copy._optimizer.params is None          # only the moments are kept
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    assert_same_network(copy, clf)


def sklearn_mlp():
    from sklearn.neural_network import MLPClassifier as SklearnMLP
    return SklearnMLP(hidden_layer_sizes=(4,), random_state=0)


@pytest.mark.parametrize("calls", [
    [dict(y=[0, 1, 2] * 10)],                                       # no classes
    [dict(y=[0, 1] * 15, classes=[0, 1]), dict(y=[0, 1] * 15, classes=[0, 1, 2])],
    [dict(y=[0, 1] * 15, classes=[0, 1]), dict(y=[1, 2] * 15)],     # an unknown class
    [dict(y=[0, 1] * 15, classes=[0, 1, 2]), dict(y=[0, 3] * 15)],
], ids=["no-classes", "other-classes", "unknown-class", "unknown-class-2"])
def test_partial_fit_refusals_are_sklearns(calls):
    X = np.random.default_rng(0).standard_normal((30, 4))
    messages = []
    for clf in (mlp(hidden_layer_sizes=(4,)), sklearn_mlp()):
        with pytest.raises(ValueError) as info:
            for call in calls:
                clf.partial_fit(X, np.array(call["y"]), classes=call.get("classes"))
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_partial_fit_refusals():
    X, y = dataset(3, n_samples=60)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        mlp(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes: expected at least 2 classes, got \[0\]"):
        mlp().partial_fit(X, np.zeros(60, int), classes=[0])
    clf = mlp().partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is "
                                         "expecting 6 features as input"):
        clf.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match="y: expected class labels as in the previous "
                                         "calls, got a 'multilabel-indicator' target"):
        clf.partial_fit(X, multilabel_targets(X))
    Y = multilabel_targets(X)
    with pytest.raises(ValueError, match=r"classes: expected the label indices arange\(3\) "
                                         r"of a multilabel y with 3 columns, got \[0, 1\]"):
        mlp().partial_fit(X, Y, classes=[0, 1])
    multi = mlp().partial_fit(X, Y, classes=np.arange(3))
    with pytest.raises(ValueError, match="y: expected an indicator matrix of 3 labels as "
                                         "in the previous calls, got 2"):
        multi.partial_fit(X, Y[:, :2])
    with pytest.raises(ValueError, match="y: expected a multilabel indicator matrix as in "
                                         "the previous calls, got a 'multiclass' target"):
        multi.partial_fit(X, y)
    # a refused call leaves the model as it was
    assert len(clf.loss_curve_) == len(multi.loss_curve_) == 1


# ------------------------------------------------- MLPClassifier, multilabel

def test_mlp_multilabel_fit_and_predict(monkeypatch):
    X, _ = dataset(2, n_samples=300)
    Y = multilabel_targets(X, n_labels=4)
    calls = {"BCEWithLogitsLoss": [], "CrossEntropyLoss": []}
    for name in calls:
        cls = getattr(fastloss, name)

        def spy(self, input, target, *, out=None, _name=name, _real=cls.value_and_grad):
            calls[_name].append((input.shape, np.asarray(target).shape))
            return _real(self, input, target, out=out)

        monkeypatch.setattr(cls, "value_and_grad", spy)
    clf = mlp(max_iter=200, learning_rate_init=0.01).fit(X, Y)
    assert not calls["CrossEntropyLoss"]
    # one BCE-with-logits call per minibatch, one logit per label
    assert len(calls["BCEWithLogitsLoss"]) == 2 * clf.n_iter_
    assert {shape for shape, _ in calls["BCEWithLogitsLoss"]} == {(200, 4), (100, 4)}
    assert all(z == t for z, t in calls["BCEWithLogitsLoss"])
    assert clf.n_outputs_ == 4 and clf.out_activation_ == "logistic"
    assert clf.classes_.tolist() == [0, 1, 2, 3]
    pred, proba = clf.predict(X), clf.predict_proba(X)
    assert pred.shape == Y.shape and pred.dtype == Y.dtype
    z = clf.decision_function(X)
    assert z.shape == Y.shape
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), -np.logaddexp(0, -z), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(Y.dtype))
    assert np.mean(pred == Y) > 0.9
    # the training objective is the reference's on the fitted network
    expected = reference_mlp_objective(clf.coefs_, clf.intercepts_, "relu", X, Y,
                                       np.ones(len(Y)), clf.alpha)
    assert expected < clf.loss_curve_[0]


def test_mlp_multilabel_matches_sklearns_objective():
    # the same network and data: fastloss's minibatch objective is the one
    # scikit-learn's MLPClassifier minimizes for a multilabel y (its loss
    # curve's first entry is computed from its initial weights on one batch)
    from sklearn.neural_network import MLPClassifier as SklearnMLP
    X, _ = dataset(2, n_samples=100)
    Y = multilabel_targets(X, n_labels=3)
    theirs = SklearnMLP(hidden_layer_sizes=(5,), batch_size=100, max_iter=1,
                        shuffle=False, random_state=0, alpha=0.2).fit(X, Y)
    ours = estimators._Network([X.shape[1], 5, 3], "relu", 0.2, np.float64, 100)
    rng = np.random.RandomState(0)
    for W, c in zip(ours.coefs, ours.intercepts):   # sklearn's draws, in its order
        bound = np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
        W[:] = rng.uniform(-bound, bound, W.shape)
        c[:] = rng.uniform(-bound, bound, c.shape)
    batches = estimators._Batches(X, Y, None, 3, None)
    idx = np.arange(100)
    np.testing.assert_allclose(ours.step(X, idx, *batches.loss(idx)),
                               theirs.loss_curve_[0], rtol=1e-10)


def test_mlp_multilabel_early_stopping_scores_subset_accuracy():
    X, _ = dataset(2, n_samples=400)
    Y = multilabel_targets(X)
    clf = mlp(early_stopping=True, max_iter=300, learning_rate_init=0.01).fit(X, Y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.6
    # subset accuracy: a sample counts when all its labels are right
    assert clf.score(X, Y) == np.mean(np.all(clf.predict(X) == Y, axis=1))


@pytest.mark.parametrize("n_classes", [2, 3, "multilabel"])
def test_mlp_sparse_fits_as_dense(n_classes, never_densify):
    X, y = sparse_dataset(3 if n_classes == "multilabel" else n_classes)
    if n_classes == "multilabel":
        y = multilabel_targets(X)
    dense = mlp(max_iter=5, batch_size=64).fit(X, y)
    ours = mlp(max_iter=5, batch_size=64).fit(scipy_sparse.csc_array(X), y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, dense.coefs_ + dense.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert_sparse_predicts_as_dense(ours, scipy_sparse.csr_matrix(X), X)


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("make,match", [
    (lambda: SoftmaxRegression(C=0.0), r"C: expected a real number > 0.0, got 0.0"),
    (lambda: SoftmaxRegression(max_iter=0), r"max_iter: expected an integer >= 1, got 0"),
    (lambda: SoftmaxRegression(tol=-1.0), r"tol: expected a real number >= 0.0, got -1.0"),
    (lambda: SoftmaxRegression(fit_intercept="yes"),
     r"fit_intercept: expected True or False, got 'yes'"),
    (lambda: MultiLabelLogisticRegression(C=-2), r"C: expected a real number > 0.0"),
    (lambda: MLPClassifier(activation="softplus"),
     r"activation: expected one of \('relu', 'tanh', 'logistic', 'identity'\), "
     r"got 'softplus'"),
    (lambda: MLPClassifier(hidden_layer_sizes=(10, 0)),
     r"hidden_layer_sizes: expected an integer >= 1, got 0"),
    (lambda: MLPClassifier(batch_size=0), r"batch_size: expected an integer >= 1, got 0"),
    (lambda: MLPClassifier(learning_rate_init=0.0),
     r"learning_rate_init: expected a real number > 0.0, got 0.0"),
    (lambda: MLPClassifier(alpha=-1e-3), r"alpha: expected a real number >= 0.0"),
])
def test_parameter_refusals(make, match):
    X, y = dataset(2, n_samples=50)
    with pytest.raises(ValueError, match=match):
        make().fit(X, y)


def test_one_class_is_refused():
    X, _ = dataset(2, n_samples=20)
    for clf in (SoftmaxRegression(), MultiLabelLogisticRegression(), mlp()):
        with pytest.raises(ValueError, match="got one class only: 'a'"):
            clf.fit(X, np.array(["a"] * 20))


def test_docstring_examples():
    result = doctest.testmod(estimators, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ----------------------------------------------------- scikit-learn's checks

@parametrize_with_checks(
    [SoftmaxRegression(), MultiLabelLogisticRegression(),
     MLPClassifier(hidden_layer_sizes=(10,), random_state=0)],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
