"""scikit-learn classifiers whose loss layer is a fused fastloss kernel.

Three estimators, each computing its loss and the loss's gradient with
respect to the logits in one fastloss call per optimizer step:

- :class:`SoftmaxRegression`: multinomial logistic regression with an L2
  penalty (scikit-learn's ``LogisticRegression`` objective), fitted by SciPy's
  L-BFGS.
- :class:`MultiLabelLogisticRegression`: one sigmoid per label
  (binary cross-entropy with logits), fitted by L-BFGS.
- :class:`MLPClassifier`: Linear -> activation -> ... -> Linear, softmax
  cross-entropy (several classes), one sigmoid output with BCE-with-logits
  (two classes) or one sigmoid per label (a multilabel indicator ``y``),
  trained by Adam on minibatches in NumPy; ``partial_fit`` for data that
  comes in parts.

All three take scipy.sparse ``X`` (a TF-IDF matrix, say) as scikit-learn's
``LogisticRegression`` does: converted to CSR, never densified, the products
with it sparse ones.

scikit-learn and SciPy are optional dependencies of fastloss:
``pip install "scikit-learn>=1.6" "scipy>=1.9"``, or from the root of a
checkout of fastloss, ``pip install ".[sklearn]"`` (fastloss is not on the
package index). ``import fastloss`` never imports them.
"""

import contextlib
import functools
import math
import numbers
import warnings

import numpy as np

try:
    import scipy.optimize
    import scipy.sparse
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.multiclass import (
        check_classification_targets,
        type_of_target,
        unique_labels,
    )
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
    from threadpoolctl import ThreadpoolController
except ImportError as exc:  # pragma: no cover - exercised without scikit-learn
    raise ImportError(
        "fastloss.estimators needs scikit-learn (>= 1.6) and SciPy (>= 1.9), which "
        "fastloss does not install by default; install them with "
        '`pip install "scikit-learn>=1.6" "scipy>=1.9"` (or, from the root of a '
        'checkout of fastloss: `pip install ".[sklearn]"`). '
        f"(The import failed with: {exc})"
    ) from exc

from ._api import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    LinearCrossEntropyLoss,
    _linear_chunk,
    log_softmax,
    softmax,
)

__all__ = ["SoftmaxRegression", "MultiLabelLogisticRegression", "MLPClassifier"]

_FLOAT_DTYPES = (np.float64, np.float32)


# ------------------------------------------------------------ argument checks

def _check_number(name, value, low, *, strict, integer=False):
    """``value`` as a number above ``low`` (``> low`` if strict, else ``>=``)."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (value > low if strict else value >= low)
    if not ok:
        what = "an integer" if integer else "a real number"
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{name}: expected {what} {bound}, got {value!r}")
    return value


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _convergence_warning(what, n_iter, detail):
    warnings.warn(
        f"{what} did not converge in {n_iter} iteration(s): {detail}. Increase "
        "max_iter, or scale the data (e.g. sklearn.preprocessing.StandardScaler).",
        ConvergenceWarning,
        stacklevel=3,
    )


# ------------------------------------------------------- shared prediction

def _pairs_log_proba(z):
    """log [P(0), P(1)] of logits z, shape z.shape + (2,): log_softmax of (0, z)."""
    return log_softmax(np.stack([np.zeros_like(z), z], axis=-1))


class _LogitClassifier(ClassifierMixin, BaseEstimator):
    """predict / predict_proba / predict_log_proba / decision_function from logits.

    Subclasses implement ``_logits(X)`` (raw outputs, shape (n_samples,
    n_outputs)) and set ``classes_``. One output for two classes is the logit
    of ``classes_[1]``; several outputs are one softmax, or independent
    sigmoids when ``_multilabel`` is set.
    """

    _multilabel = False
    # scipy.sparse input, converted to CSR as scikit-learn's linear models do
    _accept_sparse = "csr"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags

    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse=self._accept_sparse,
                             dtype=_FLOAT_DTYPES, reset=False)

    def decision_function(self, X):
        """Raw outputs (logits) of the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples; float32 stays float32, other dtypes are converted to float64;
            scipy.sparse input is converted to CSR, never to a dense array.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The logits, in ``X``'s float dtype: for two classes one column (the
            logit of ``classes_[1]``) returned as shape (n_samples,).

        Examples
        --------
        >>> from fastloss.estimators import SoftmaxRegression
        >>> X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
        >>> clf = SoftmaxRegression().fit(X, ["a", "a", "b", "b"])
        >>> clf.decision_function(X).shape
        (4,)
        """
        z = self._logits(self._validate_X(X))
        return z[:, 0] if z.shape[1] == 1 and not self._multilabel else z

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed stably from the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples; float32 stays float32, other dtypes are converted to float64;
            scipy.sparse input is converted to CSR, never to a dense array.

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples, n_labels)
            The log of :meth:`predict_proba` (per label for a multi-label model).

        Examples
        --------
        >>> from fastloss.estimators import SoftmaxRegression
        >>> X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
        >>> clf = SoftmaxRegression().fit(X, ["a", "a", "b", "b"])
        >>> clf.predict_log_proba(X).shape
        (4, 2)
        """
        return self._probabilities(X, log=True)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples; float32 stays float32, other dtypes are converted to float64;
            scipy.sparse input is converted to CSR, never to a dense array.

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples, n_labels)
            Columns in the order of ``classes_``; for a multi-label model, the
            probability of each label.

        Examples
        --------
        >>> from fastloss.estimators import SoftmaxRegression
        >>> X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
        >>> clf = SoftmaxRegression().fit(X, ["a", "a", "b", "b"])
        >>> clf.predict_proba(X).sum(axis=1).round(6).tolist()
        [1.0, 1.0, 1.0, 1.0]
        """
        return self._probabilities(X, log=False)

    def _probabilities(self, X, log):
        z = self._logits(self._validate_X(X))
        if z.shape[1] > 1 and not self._multilabel:
            return log_softmax(z) if log else softmax(z)
        pairs = _pairs_log_proba(z if self._multilabel else z[:, 0])
        if self._multilabel:
            pairs = pairs[..., 1]
        return pairs if log else np.exp(pairs)

    def predict(self, X):
        """Predicted class labels (of ``classes_``'s type).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples; float32 stays float32, other dtypes are converted to float64;
            scipy.sparse input is converted to CSR, never to a dense array.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels of ``classes_``'s type, or 0/1 per label for a multi-label
            model.

        Examples
        --------
        >>> from fastloss.estimators import SoftmaxRegression
        >>> X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
        >>> clf = SoftmaxRegression().fit(X, ["a", "a", "b", "b"])
        >>> clf.predict([[0.0, 1.0], [3.0, 0.0]]).tolist()
        ['a', 'b']
        """
        z = self._logits(self._validate_X(X))
        if self._multilabel:
            return (z > 0).astype(self._y_dtype)
        if z.shape[1] == 1:
            return self.classes_[(z[:, 0] > 0).astype(np.intp)]
        return self.classes_[np.argmax(z, axis=1)]


def _encode_classes(y):
    """(classes_, y as int64 indices into classes_), refusing a single class."""
    check_classification_targets(y)
    classes, y_index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"y: expected samples of at least 2 classes, got one class only: "
            f"{classes.tolist()[0]!r}"
        )
    return classes, y_index.astype(np.int64)


def _sample_weights(sample_weight, X, dtype):
    """Per-sample weights as float64 ``dtype`` array, or None for unit weights."""
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=dtype)


# --------------------------------------------------- L-BFGS linear models

class _LinearObjective:
    """The penalized, weight-normalized objective of a linear model and its gradient.

    ``f(W, b) = (1/S) sum_i loss_i(X_i W^T + b) + ||W||^2 / (2 C S)``, S the
    sum of the sample weights: scikit-learn's ``LogisticRegression`` scaling,
    whose optimum is that of ``C sum_i loss_i + ||W||^2 / 2``. ``loss_fn`` is a
    fastloss loss object with reduction "sum" that already carries the sample
    weights; one ``value_and_grad`` call gives the loss and d loss / d logits.
    The parameters travel as a float64 vector (SciPy's L-BFGS works in float64)
    and are cast to ``X``'s dtype for the products with ``X``.
    """

    holds_logits = True

    def __init__(self, X, target, loss_fn, n_outputs, fit_intercept, weight_sum, C):
        self.X, self.target, self.loss_fn = X, target, loss_fn
        self.n_outputs, self.fit_intercept = n_outputs, fit_intercept
        self.n_coef = n_outputs * X.shape[1]
        self.inv_s = 1.0 / weight_sum
        self.l2 = 1.0 / (C * weight_sum)
        self.logits = None      # a sparse X's products are new arrays
        if self.holds_logits and not scipy.sparse.issparse(X):
            self.logits = np.empty((X.shape[0], n_outputs), X.dtype)
        self.grad = np.empty(self.n_coef + (n_outputs if fit_intercept else 0))

    def unpack(self, theta):
        W = theta[:self.n_coef].reshape(self.n_outputs, -1)
        b = theta[self.n_coef:] if self.fit_intercept else None
        return W, b

    def _layer(self, theta):
        """(W in float64, then W and b or None in X's dtype) of theta."""
        W, b = self.unpack(theta)
        dtype = self.X.dtype
        return W, W.astype(dtype, copy=False), None if b is None else b.astype(dtype)

    def __call__(self, theta):
        W, Wx, bx = self._layer(theta)
        loss, g = _loss_and_logit_grad(self.loss_fn, self.X, Wx, bx, self.target,
                                       self.logits)
        return self._finish(theta, W, loss, _coef_grad(g, self.X),
                            None if bx is None else g.sum(axis=0, dtype=np.float64))

    def _finish(self, theta, W, loss, grad_W, grad_b):
        """The objective and its gradient from the summed loss and its
        gradients with respect to W and b."""
        gW, gb = self.unpack(self.grad)
        gW[:] = grad_W
        gW *= self.inv_s
        gW += self.l2 * W
        if gb is not None:
            gb[:] = grad_b
            gb *= self.inv_s
        value = float(loss) * self.inv_s + 0.5 * self.l2 * float(np.dot(theta[:self.n_coef],
                                                                         theta[:self.n_coef]))
        return value, self.grad


def _loss_and_logit_grad(loss_fn, X, W, b, target, logits=None):
    """loss_fn.value_and_grad of the logits X @ W.T + b, the gradient written
    over them (into ``logits`` when X is dense; a sparse X's product is a new
    array, X never densified)."""
    if scipy.sparse.issparse(X):
        logits = X @ W.T
    else:
        logits = np.matmul(X, W.T, out=logits)
    if b is not None:
        logits += b
    return loss_fn.value_and_grad(logits, target, out=logits)


def _coef_grad(g, X):
    """g.T @ X, shape (n_outputs, n_features), for a dense or sparse X (whose
    transpose, CSC for CSR, multiplies g: a sparse product)."""
    if scipy.sparse.issparse(X):
        return (X.T @ g).T
    return g.T @ X


# SoftmaxRegression takes the fused path (LinearCrossEntropyLoss: the logits
# of a block of rows at a time) when the (n_samples, n_classes) logits would
# exceed this many bytes; below it the fit is unchanged (one logits array).
_FUSED_LOGITS_BYTES = 64 * 2**20


class _FusedObjective(_LinearObjective):
    """_LinearObjective with the logits never all held: one
    LinearCrossEntropyLoss call ("sum", class-index targets) gives the loss
    and its gradients with respect to W and b."""

    holds_logits = False

    def __call__(self, theta):
        W, Wx, bx = self._layer(theta)
        loss, (_, grad_W, grad_b) = self.loss_fn._value_and_layer_grads(
            self.X, Wx, self.target, bx)
        return self._finish(theta, W, loss, grad_W, grad_b)


def _csr_rows(X, start, stop):
    """Rows start:stop of the CSR matrix or array X, sharing its data and
    indices (only the row pointers are new)."""
    indptr = X.indptr[start:stop + 1]
    lo, hi = indptr[0], indptr[-1]
    block = type(X)((X.data[lo:hi], X.indices[lo:hi], indptr - lo),
                    shape=(stop - start, X.shape[1]), copy=False)
    # the constructor copies a view much smaller than its base (SciPy's
    # _prune_array): the views put back, the blocks hold no second copy of X
    block.data, block.indices = X.data[lo:hi], X.indices[lo:hi]
    return block


class _SparseBlockObjective(_LinearObjective):
    """The fused path of a sparse X: row blocks of the CSR matrix, as
    LinearCrossEntropyLoss's row blocks of a dense one (the same rows per
    block; never class tiles). Each block's logits by a sparse product, the
    fused CrossEntropyLoss pass ("sum") writing their gradient in place, and
    the block's share of the weight gradient by the transposed block's sparse
    product; the bias' gradient summed in float64, the blocks' losses by
    fsum. The (n_samples, n_classes) logits are never held."""

    holds_logits = False

    def __init__(self, X, target, loss_fn, n_outputs, fit_intercept, weight_sum, C):
        super().__init__(X, target, loss_fn, n_outputs, fit_intercept, weight_sum, C)
        n_rows = X.shape[0]
        rows = _linear_chunk(None, n_rows, n_outputs, X.dtype.itemsize)
        self.blocks = [(start, min(n_rows, start + rows),
                        _csr_rows(X, start, min(n_rows, start + rows)))
                       for start in range(0, n_rows, rows)]

    def __call__(self, theta):
        W, Wx, bx = self._layer(theta)
        grad_W = np.zeros(Wx.shape, Wx.dtype)
        grad_b = None if bx is None else np.zeros(len(bx), np.float64)
        losses = []
        for start, stop, xb in self.blocks:
            loss, g = _loss_and_logit_grad(self.loss_fn, xb, Wx, bx,
                                           self.target[start:stop])
            losses.append(float(loss))
            grad_W += _coef_grad(g, xb)
            if grad_b is not None:
                grad_b += g.sum(axis=0, dtype=np.float64)
        return self._finish(theta, W, math.fsum(losses), grad_W, grad_b)


# Below this many multiply-adds per product with X, the fit's BLAS calls run
# on one thread. Such products take microseconds, and threaded BLAS pools
# spin against each other (NumPy's and SciPy's OpenBLAS, each with a thread
# per core) for milliseconds per call: a digits fit (1,347 x 64, 10 classes)
# took 0.28-0.40 s with the default pools and 0.024 s with one BLAS thread
# on the 2-core development machine (scikit-learn's LogisticRegression
# 0.32-0.40 s and 0.028 s).
_SMALL_PRODUCT = 1 << 22


@functools.cache
def _threadpool_controller():
    """The thread pools, found once (a scan of the loaded libraries takes
    about 3 ms, as long as a small fit)."""
    return ThreadpoolController()


def _blas_threads_for(multiply_adds):
    """A context with one BLAS thread for small products (see _SMALL_PRODUCT),
    else the caller's BLAS threads."""
    if multiply_adds >= _SMALL_PRODUCT:
        return contextlib.nullcontext()
    return _threadpool_controller().limit(limits=1, user_api="blas")


class _LBFGSLinearModel(_LogitClassifier):
    """Shared fitting of the L-BFGS linear models: parameters, warm start, L-BFGS."""

    def _check_common_params(self):
        _check_number("C", self.C, 0.0, strict=True)
        _check_bool("fit_intercept", self.fit_intercept)
        _check_number("max_iter", self.max_iter, 1, strict=False, integer=True)
        _check_number("tol", self.tol, 0.0, strict=False)

    def _minimize(self, X, objective, n_outputs):
        size = objective.grad.size
        theta0 = np.zeros(size)
        coef = getattr(self, "coef_", None) if getattr(self, "warm_start", False) else None
        if coef is not None and coef.shape == (n_outputs, X.shape[1]):
            theta0[:objective.n_coef] = coef.ravel()
            if self.fit_intercept:
                theta0[objective.n_coef:] = self.intercept_
        # scikit-learn's LogisticRegression options, so that tol means the same
        entries = X.nnz if scipy.sparse.issparse(X) else X.shape[0] * X.shape[1]
        with _blas_threads_for(entries * n_outputs):
            result = scipy.optimize.minimize(
                objective, theta0, method="L-BFGS-B", jac=True,
                options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol,
                         "ftol": 64 * np.finfo(float).eps},
            )
        n_iter = min(result.nit, self.max_iter)
        if result.status != 0:
            _convergence_warning(f"L-BFGS ({type(self).__name__})", n_iter,
                                 f"{result.message} (status={result.status})")
        W, b = objective.unpack(result.x)
        self.coef_ = W.astype(X.dtype)
        self.intercept_ = (b.astype(X.dtype) if b is not None
                           else np.zeros(n_outputs, X.dtype))
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        return self

    def _logits(self, X):
        z = X @ self.coef_.T
        z += self.intercept_
        return z


_LBFGS_PRECISION_NOTE = """The optimizer (SciPy's L-BFGS-B) iterates on float64 parameters; each
    step casts them to ``X``'s dtype, so for float32 ``X`` the logits, the
    fastloss loss layer, the gradient products and the fitted ``coef_`` and
    ``intercept_`` are float32 (the loss is summed in float64 by fastloss
    and rounded to float32)."""


class SoftmaxRegression(_LBFGSLinearModel):
    """Multinomial logistic regression (softmax + cross-entropy) with an L2 penalty.

    Minimizes ``C * sum_i s_i * CE_i + ||W||^2 / 2`` (the intercept is not
    penalized), the objective of scikit-learn's
    ``LogisticRegression(solver="lbfgs")`` for the same ``C``, ``class_weight``
    and sample weights: both reach the same optimum. Each L-BFGS iteration
    evaluates the loss and its gradient with one fused
    :class:`fastloss.CrossEntropyLoss` call (``reduction="sum"``) on the
    logits. With two classes the model is the binomial one of
    ``LogisticRegression``: one logit per sample (that of ``classes_[1]``;
    ``classes_[0]``'s is fixed at 0), fitted with
    :class:`fastloss.BCEWithLogitsLoss`, and ``coef_`` has one row.

    Many classes: with more than two classes and no sample weights, when the
    (n_samples, n_classes) logits would take more than 64 MiB, each
    iteration is one :class:`fastloss.LinearCrossEntropyLoss` call instead,
    which holds the logits of a block of rows at a time (32 to 64 MiB); the
    objective is the same, up to the rounding of the products.

    Sparse ``X`` (any scipy.sparse matrix or array, converted to CSR as
    ``LogisticRegression`` does) is never densified: the logits are ``X @
    W.T`` and the weights' gradient ``X.T @ G``, sparse products, and the
    coefficients are those of the dense copy up to the rounding of the
    products. Under the rule above, the fused path of a sparse ``X`` is row
    blocks of the CSR matrix (the rows of ``LinearCrossEntropyLoss``'s
    blocks, views of ``X``'s data), each block's logits by a sparse product
    and :class:`fastloss.CrossEntropyLoss` in place on them; otherwise the
    (n_samples, n_classes) logits are one array, as for a dense ``X``.

    {precision}

    Parameters
    ----------
    C : float, default 1.0
        Inverse of the L2 penalty's strength (> 0).
    fit_intercept : bool, default True
        Fit an unpenalized intercept per class.
    max_iter : int, default 100
        Maximum number of L-BFGS iterations.
    tol : float, default 1e-4
        Stop when the largest gradient component (of the objective divided
        by the sum of sample weights) is below ``tol``, as scikit-learn.
    class_weight : dict, "balanced" or None, default None
        Weights of the classes, multiplied into the sample weights
        ("balanced": ``n_samples / (n_classes * bincount(y))``).
    warm_start : bool, default False
        Start from the previous fit's coefficients when their shape fits.
    num_threads : int, optional
        Threads of the fastloss kernels; default
        :func:`fastloss.get_num_threads`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) for two classes, else (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,); zeros without intercept
    n_iter_ : ndarray of shape (1,), the number of L-BFGS iterations
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when ``X`` has string column names

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastloss.estimators import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegression(C=10.0, max_iter=500).fit(X, y)
    >>> clf.coef_.shape, round(clf.score(X, y), 2)
    ((3, 4), 0.98)

    Text classification on a sparse TF-IDF matrix:

    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> docs = ["cheap pills now", "meeting at noon", "cheap meds now", "lunch meeting today"]
    >>> X = TfidfVectorizer().fit_transform(docs)        # a CSR matrix
    >>> clf = SoftmaxRegression(C=10.0).fit(X, ["spam", "ham", "spam", "ham"])
    >>> clf.predict(X).tolist()
    ['spam', 'ham', 'spam', 'ham']
    """

    def __init__(self, C=1.0, fit_intercept=True, max_iter=100, tol=1e-4,
                 class_weight=None, warm_start=False, num_threads=None):
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.num_threads = num_threads

    def fit(self, X, y, sample_weight=None):
        """Fit the model by L-BFGS.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples; float32 stays float32, other dtypes are converted
            to float64. scipy.sparse input (CSR, CSC, or any other format; matrix
            or array) is converted to CSR and never densified: the products
            with it are sparse ones.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample (default 1).

        Returns
        -------
        object
            The fitted estimator (``self``).

        Examples
        --------
        >>> from fastloss.estimators import SoftmaxRegression
        >>> clf = SoftmaxRegression(C=10.0).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        >>> clf.coef_.shape, clf.n_iter_.shape
        ((1, 1), (1,))
        """
        self._check_common_params()
        _check_bool("warm_start", self.warm_start)
        X, y = validate_data(self, X, y, accept_sparse=self._accept_sparse,
                             dtype=_FLOAT_DTYPES, order="C")
        self.classes_, y_index = _encode_classes(y)
        n_classes = len(self.classes_)
        sw = _sample_weights(sample_weight, X, X.dtype)
        class_w = compute_class_weight(self.class_weight, classes=self.classes_, y=y,
                                       sample_weight=sw)
        per_sample = class_w[y_index]
        if sw is not None:
            per_sample = per_sample * sw
        weight_sum = float(per_sample.sum(dtype=np.float64))
        if not weight_sum > 0:
            raise ValueError(f"sample_weight: expected a positive total weight, got "
                             f"{weight_sum}")
        uniform_classes = self.class_weight is None
        if n_classes == 2:
            target = y_index.astype(X.dtype).reshape(-1, 1)
            weight = None if sw is None and uniform_classes else per_sample.reshape(-1, 1)
            loss_fn = BCEWithLogitsLoss(weight, reduction="sum",
                                        num_threads=self.num_threads)
            n_outputs = 1
        elif sw is None:
            # index targets, class weights in the kernel: no (n, C) target array
            target = y_index
            n_outputs = n_classes
            loss_fn = CrossEntropyLoss(None if uniform_classes else class_w,
                                       reduction="sum", num_threads=self.num_threads)
            if X.shape[0] * n_classes * X.dtype.itemsize > _FUSED_LOGITS_BYTES:
                if scipy.sparse.issparse(X):
                    objective = _SparseBlockObjective
                else:
                    objective = _FusedObjective
                    loss_fn = LinearCrossEntropyLoss(
                        None if uniform_classes else class_w, reduction="sum",
                        num_threads=self.num_threads)
                return self._minimize(X, objective(X, target, loss_fn, n_outputs,
                                                   self.fit_intercept, weight_sum,
                                                   self.C), n_outputs)
        else:
            # sum_c t_c (-log p_c) with t = s_i * onehot(y_i) is s_i * CE_i, and the
            # kernel's gradient (sum_c t_c) p - t is its exact gradient: sample
            # weights through probability targets keep one fused call
            target = np.zeros((X.shape[0], n_classes), X.dtype)
            target[np.arange(X.shape[0]), y_index] = per_sample
            loss_fn = CrossEntropyLoss(reduction="sum", num_threads=self.num_threads)
            n_outputs = n_classes
        objective = _LinearObjective(X, target, loss_fn, n_outputs, self.fit_intercept,
                                     weight_sum, self.C)
        return self._minimize(X, objective, n_outputs)


SoftmaxRegression.__doc__ = SoftmaxRegression.__doc__.format(
    precision=_LBFGS_PRECISION_NOTE)


class MultiLabelLogisticRegression(_LBFGSLinearModel):
    """Independent logistic regressions, one sigmoid per label, with an L2 penalty.

    Minimizes ``C * sum_i s_i * sum_l BCE_il + ||W||^2 / 2`` (BCE with
    logits, ``pos_weight`` weighting each label's positive term; intercepts
    not penalized) with SciPy's L-BFGS; each iteration's loss and gradient
    come from one fused :class:`fastloss.BCEWithLogitsLoss` call
    (``reduction="sum"``, sample weights as its ``weight``). On a 1-D binary
    ``y`` (one label) without ``pos_weight`` this is scikit-learn's binary
    ``LogisticRegression(solver="lbfgs")``. Sparse ``X`` (scipy.sparse,
    converted to CSR) is never densified: the products with it are sparse,
    and the coefficients those of the dense copy up to their rounding.

    {precision}

    Parameters
    ----------
    C : float, default 1.0
        Inverse of the L2 penalty's strength (> 0).
    fit_intercept : bool, default True
        Fit an unpenalized intercept per label.
    pos_weight : float or array-like of shape (n_labels,), optional
        Weight of the positive examples of each label (as
        ``torch.nn.BCEWithLogitsLoss``); > 1 favours recall.
    max_iter : int, default 100
        Maximum number of L-BFGS iterations.
    tol : float, default 1e-4
        Gradient tolerance of L-BFGS, as :class:`SoftmaxRegression`.
    num_threads : int, optional
        Threads of the fastloss kernels; default
        :func:`fastloss.get_num_threads`.

    Attributes
    ----------
    classes_ : ndarray
        For a 1-D ``y`` the two labels; for an indicator matrix
        ``arange(n_labels)``.
    coef_ : ndarray of shape (n_labels, n_features) (one row for a 1-D ``y``)
    intercept_ : ndarray of shape (n_labels,)
    n_iter_ : ndarray of shape (1,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from fastloss.estimators import MultiLabelLogisticRegression
    >>> X, Y = make_multilabel_classification(n_samples=200, n_classes=3, random_state=0)
    >>> clf = MultiLabelLogisticRegression(max_iter=1000).fit(X, Y)
    >>> clf.predict(X[:2]).shape, clf.predict_proba(X[:2]).shape
    ((2, 3), (2, 3))
    """

    def __init__(self, C=1.0, fit_intercept=True, pos_weight=None, max_iter=100,
                 tol=1e-4, num_threads=None):
        self.C = C
        self.fit_intercept = fit_intercept
        self.pos_weight = pos_weight
        self.max_iter = max_iter
        self.tol = tol
        self.num_threads = num_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fit one logistic regression per label, jointly, by L-BFGS.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples; float32 stays float32, other dtypes are converted
            to float64. scipy.sparse input (CSR, CSC, or any other format; matrix
            or array) is converted to CSR and never densified: the products
            with it are sparse ones.
        y : array-like of shape (n_samples, n_labels) or (n_samples,)
            An indicator matrix (0/1), or a 1-D binary target of any label type.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample (default 1).

        Returns
        -------
        object
            The fitted estimator (``self``).

        Examples
        --------
        >>> from fastloss.estimators import MultiLabelLogisticRegression
        >>> Y = [[1, 0], [1, 1], [0, 1], [0, 0]]
        >>> clf = MultiLabelLogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], Y)
        >>> clf.coef_.shape
        (2, 1)
        """
        self._check_common_params()
        X, y = validate_data(self, X, y, accept_sparse=self._accept_sparse,
                             dtype=_FLOAT_DTYPES, order="C", multi_output=True)
        kind = type_of_target(y, input_name="y")
        if kind == "multilabel-indicator":
            self._multilabel = True
            self._y_dtype = y.dtype
            Y = np.asarray(y, dtype=X.dtype)
            self.classes_ = np.arange(Y.shape[1])
        else:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1 or kind not in ("binary", "multiclass"):
                check_classification_targets(y)
                raise ValueError(f"y: expected a binary target or a multilabel indicator "
                                 f"matrix, got a {kind!r} target")
            self._multilabel = False
            self.classes_, y_index = _encode_classes(y)
            if len(self.classes_) > 2:
                raise ValueError(
                    f"y: Only binary classification is supported. The type of the target "
                    f"is 'multiclass' ({len(self.classes_)} classes); use "
                    "SoftmaxRegression, or an indicator matrix for several labels"
                )
            Y = y_index.astype(X.dtype).reshape(-1, 1)
        sw = _sample_weights(sample_weight, X, X.dtype)
        weight_sum = float(X.shape[0] if sw is None else sw.sum(dtype=np.float64))
        if not weight_sum > 0:
            raise ValueError(f"sample_weight: expected a positive total weight, got "
                             f"{weight_sum}")
        pos_weight = self._pos_weight(Y.shape[1])
        loss_fn = BCEWithLogitsLoss(None if sw is None else sw.reshape(-1, 1),
                                    pos_weight=pos_weight, reduction="sum",
                                    num_threads=self.num_threads)
        objective = _LinearObjective(X, Y, loss_fn, Y.shape[1], self.fit_intercept,
                                     weight_sum, self.C)
        return self._minimize(X, objective, Y.shape[1])

    def _pos_weight(self, n_labels):
        if self.pos_weight is None:
            return None
        pw = np.asarray(self.pos_weight, dtype=np.float64)
        if pw.ndim > 1 or (pw.ndim == 1 and pw.shape != (n_labels,)):
            raise ValueError(f"pos_weight: expected a number or one weight per label, "
                             f"shape ({n_labels},), got shape {pw.shape}")
        if not np.all(pw >= 0) or not np.all(np.isfinite(pw)):
            raise ValueError(f"pos_weight: expected finite non-negative weights, got "
                             f"{self.pos_weight!r}")
        return np.broadcast_to(pw, (n_labels,))


MultiLabelLogisticRegression.__doc__ = MultiLabelLogisticRegression.__doc__.format(
    precision=_LBFGS_PRECISION_NOTE)


# ------------------------------------------------------------------- MLP

_ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


def _activate(name, h):
    """Apply the activation to the pre-activations h, in place."""
    if name == "relu":
        np.maximum(h, 0, out=h)
    elif name == "tanh":
        np.tanh(h, out=h)
    elif name == "logistic":
        # sigmoid(h) = exp(-log(1 + exp(-h))): no overflow for any h
        np.negative(h, out=h)
        np.logaddexp(0, h, out=h)
        np.negative(h, out=h)
        np.exp(h, out=h)


def _activation_backward(name, a, delta):
    """delta *= f'(pre-activation), written with the activation's output a = f(.)."""
    if name == "relu":
        delta *= a > 0
    elif name == "tanh":
        delta *= 1 - a * a
    elif name == "logistic":
        delta *= a * (1 - a)


class _Adam:
    """Adam (Kingma & Ba, 2015) on one flat parameter vector, updated in place.

    Its moments and step count outlive a fit (MLPClassifier.partial_fit
    continues them); ``bind`` attaches the parameter vector of a call and
    ``release`` drops it and the scratch buffer, so that a fitted model
    keeps (and pickles) only the moments."""

    def __init__(self, params, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.lr = learning_rate
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        self.t = 0
        self.bind(params)

    def bind(self, params):
        self.params, self.tmp = params, np.empty_like(params)

    def release(self):
        self.params = self.tmp = None

    def step(self, grad):
        self.t += 1
        m, v, tmp = self.m, self.v, self.tmp
        np.subtract(grad, m, out=tmp)               # m += (1 - b1) (g - m)
        tmp *= 1 - self.beta_1
        m += tmp
        np.multiply(grad, grad, out=tmp)            # v += (1 - b2) (g^2 - v)
        tmp -= v
        tmp *= 1 - self.beta_2
        v += tmp
        # bias corrections folded into the step size, as in the paper's section 2
        lr_t = self.lr * np.sqrt(1 - self.beta_2 ** self.t) / (1 - self.beta_1 ** self.t)
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= lr_t
        self.params -= tmp


class MLPClassifier(_LogitClassifier):
    """Multi-layer perceptron classifier trained by Adam, its loss layer from fastloss.

    The network of the classic PyTorch classification tutorials: Linear ->
    activation -> ... -> Linear. Several classes end in ``n_classes`` logits
    with softmax cross-entropy (:class:`fastloss.CrossEntropyLoss`); two
    classes in a single logit with binary cross-entropy with logits
    (:class:`fastloss.BCEWithLogitsLoss`); a multilabel ``y`` (an indicator
    matrix) in one logit per label, each with its own sigmoid and binary
    cross-entropy with logits (:class:`fastloss.BCEWithLogitsLoss`, summed
    over the labels), as scikit-learn's ``MLPClassifier`` does for
    multilabel targets. Each minibatch's loss and its gradient with respect
    to the logits come from one fused fastloss call; the layers' products,
    backpropagation and Adam are NumPy, on one flat parameter vector in
    ``X``'s dtype (float32 ``X`` trains in float32). Sparse ``X``
    (scipy.sparse, converted to CSR) is never densified: the first layer's
    products with it are sparse ones.

    Hyper-parameters mean what they mean in scikit-learn's
    ``MLPClassifier(solver="adam")``: the minibatch objective is
    ``(sum_i s_i loss_i + alpha/2 ||W||^2) / sum_i s_i`` over the batch's
    samples (weights W of all layers, not intercepts; ``loss_i`` summed over
    the labels of a multilabel ``y``); Glorot-uniform initialization;
    samples shuffled every epoch; training stops when the epoch's training
    loss (or, with ``early_stopping``, the validation accuracy: subset
    accuracy for a multilabel ``y``) has not improved by ``tol`` for 10
    consecutive epochs. :meth:`partial_fit` runs one epoch over the data it
    is given, continuing the parameters and Adam's moments.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Units of each hidden layer; ``()`` is a linear model.
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
        Activation of the hidden layers.
    alpha : float, default 1e-4
        L2 penalty strength (>= 0).
    batch_size : int or "auto", default 200
        Minibatch size, clipped to the number of samples ("auto": min(200,
        n_samples)).
    learning_rate_init : float, default 1e-3
        Adam's step size.
    max_iter : int, default 200
        Maximum number of epochs of :meth:`fit` (:meth:`partial_fit` runs one).
    tol : float, default 1e-4
        Improvement below which an epoch counts as no improvement.
    early_stopping : bool, default False
        Hold out 10% of the training data (stratified, unless ``y`` is
        multilabel), stop on its accuracy and keep the parameters of the
        best epoch. Not with :meth:`partial_fit`.
    random_state : int, RandomState or None, default None
        Seeds the initialization, the shuffling and the validation split;
        each call of :meth:`fit` or :meth:`partial_fit` starts from it (an
        int starts the same generator again, a RandomState continues).
    num_threads : int, optional
        Threads of the fastloss kernels; default
        :func:`fastloss.get_num_threads`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, or ``arange(n_labels)`` for a multilabel ``y``.
    coefs_ : list of ndarray, the weight matrix (fan_in, fan_out) of each layer
    intercepts_ : list of ndarray, the bias vector of each layer
    n_iter_ : int, epochs run by the last call (1 after :meth:`partial_fit`)
    loss_ : float, the last epoch's mean training objective
    loss_curve_ : list of float, each epoch's mean training objective (one
        more for each :meth:`partial_fit` call)
    best_loss_ : float or None (None with early stopping)
    validation_scores_ : list of float or None, with early stopping
    best_validation_score_ : float or None
    t_ : int, samples seen by the optimizer (over every call since the
        parameters were initialized)
    n_layers_ : int
    n_outputs_ : int, 1 for two classes, else n_classes or n_labels
    out_activation_ : {"logistic", "softmax"}
        "logistic" for two classes and for a multilabel ``y``.
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastloss.estimators import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), tol=1e-3, random_state=0)
    >>> clf = clf.fit(X / 16.0, y)
    >>> clf.predict_proba(X[:3] / 16.0).shape, clf.score(X / 16.0, y) > 0.9
    ((3, 10), True)
    """

    _n_iter_no_change = 10
    _validation_fraction = 0.1

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", alpha=1e-4,
                 batch_size=200, learning_rate_init=1e-3, max_iter=200, tol=1e-4,
                 early_stopping=False, random_state=None, num_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.random_state = random_state
        self.num_threads = num_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _check_params(self, n_samples):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for size in sizes:
            _check_number("hidden_layer_sizes", size, 1, strict=False, integer=True)
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {_ACTIVATIONS}, got "
                             f"{self.activation!r}")
        _check_number("alpha", self.alpha, 0.0, strict=False)
        if isinstance(self.batch_size, str) and self.batch_size == "auto":
            batch_size = 200
        else:
            batch_size = _check_number("batch_size", self.batch_size, 1, strict=False,
                                       integer=True)
        _check_number("learning_rate_init", self.learning_rate_init, 0.0, strict=True)
        _check_number("max_iter", self.max_iter, 1, strict=False, integer=True)
        _check_number("tol", self.tol, 0.0, strict=False)
        _check_bool("early_stopping", self.early_stopping)
        return [int(s) for s in sizes], min(int(batch_size), n_samples)

    def fit(self, X, y, sample_weight=None):
        """Train the network by Adam on shuffled minibatches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples; float32 stays float32, other dtypes are converted
            to float64. scipy.sparse input (CSR, CSC, or any other format; matrix
            or array) is converted to CSR and never densified: the products
            with it are sparse ones.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels of any type, or a multilabel indicator matrix (0/1).
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample (default 1).

        Returns
        -------
        object
            The fitted estimator (``self``).

        Examples
        --------
        >>> from fastloss.estimators import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
        >>> X, y = [[0.0], [1.0], [2.0], [3.0]], ["a", "b", "c", "a"]
        >>> import warnings; warnings.simplefilter("ignore")   # 5 epochs do not converge
        >>> clf.fit(X, y).classes_.tolist()
        ['a', 'b', 'c']
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the network by one epoch of Adam over the given data.

        As scikit-learn's ``MLPClassifier.partial_fit``: the first call (on
        an unfitted model) initializes the network and needs ``classes``,
        every class that any call will see; later calls continue the
        parameters, Adam's moments and step count, ``t_``, ``loss_curve_``
        (one entry per call) and ``best_loss_``, and their ``y`` may hold
        only classes of ``classes_``. A call after :meth:`fit` continues the
        fitted model. The epoch is the one :meth:`fit` runs (shuffled
        minibatches; ``max_iter`` does not apply, no convergence warning):
        one call on an unfitted model gives the parameters of ``fit`` with
        ``max_iter=1``, and with a shared ``RandomState`` as ``random_state``
        k calls on the same data give those of ``fit`` with ``max_iter=k``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples, of the features of the first call.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (of ``classes``), or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample (default 1).
        classes : array-like of shape (n_classes,), optional
            All the classes, needed on the first call (for a multilabel
            ``y``, ``arange(n_labels)``); on later calls None or the same
            classes.

        Returns
        -------
        object
            The updated estimator (``self``).

        Examples
        --------
        >>> import numpy as np
        >>> from fastloss.estimators import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
        >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 2, 0])
        >>> clf = clf.partial_fit(X[:2], y[:2], classes=[0, 1, 2])
        >>> clf = clf.partial_fit(X[2:], y[2:])
        >>> clf.n_iter_, clf.t_, len(clf.loss_curve_), clf.classes_.tolist()
        (1, 4, 2, [0, 1, 2])
        """
        # the rules and messages of scikit-learn's _check_partial_fit_first_call
        known = getattr(self, "classes_", None)
        if classes is None:
            if known is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            classes = known
        else:
            unique = unique_labels(classes)
            if known is not None and not np.array_equal(known, unique):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call "
                                 f"to partial_fit, was: {known!r}")
            classes = unique
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        """fit (a fresh start, epochs until convergence or max_iter) or
        partial_fit (one epoch, continuing a fitted model)."""
        first = not incremental or not hasattr(self, "coefs_")
        X, y = validate_data(self, X, y, accept_sparse=self._accept_sparse,
                             dtype=_FLOAT_DTYPES, order="C", multi_output=True,
                             reset=first)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        hidden, batch_size = self._check_params(X.shape[0])
        target = self._encode_targets(y, X.dtype, first, incremental, classes)
        sw = _sample_weights(sample_weight, X, X.dtype)
        rng = check_random_state(self.random_state)
        train = np.arange(X.shape[0])
        stratify = None if target.ndim == 2 else target
        if self.early_stopping:
            train, val = train_test_split(train, test_size=self._validation_fraction,
                                          random_state=rng, stratify=stratify)
            batch_size = min(batch_size, len(train))
        layer_units = [X.shape[1], *hidden, self.n_outputs_]
        net = _Network(layer_units, self.activation, self.alpha, X.dtype, batch_size)
        if first:
            self.n_layers_ = len(layer_units)
            net.initialize(rng)
            self._optimizer = _Adam(net.theta, self.learning_rate_init)
            self.loss_curve_, self.t_, self._no_improvement_count = [], 0, 0
            self.best_loss_, self.validation_scores_ = np.inf, None
            self.best_validation_score_ = None
            if self.early_stopping:
                self.best_loss_, self.validation_scores_ = None, []
                self.best_validation_score_ = -np.inf
        else:
            net.load(self.coefs_, self.intercepts_)
            self._optimizer.bind(net.theta)
        self.coefs_, self.intercepts_ = net.coefs, net.intercepts
        batches = _Batches(X, target, sw, self.n_outputs_, self.num_threads)
        best_theta, converged = None, False
        self.n_iter_ = 0
        for _ in range(1 if incremental else self.max_iter):
            order = rng.permutation(train)
            total = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                total += net.step(X, idx, *batches.loss(idx)) * len(idx)
                self._optimizer.step(net.grad)
            self.n_iter_ += 1
            self.t_ += len(train)
            self.loss_ = total / len(train)
            self.loss_curve_.append(self.loss_)
            if self.early_stopping:
                score = self._weighted_accuracy(X[val], target[val],
                                                None if sw is None else sw[val])
                self.validation_scores_.append(score)
                improved = score >= self.best_validation_score_ + self.tol
                if score > self.best_validation_score_:
                    self.best_validation_score_, best_theta = score, net.theta.copy()
            else:
                improved = self.loss_ <= self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, self.loss_)
            self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
            if self._no_improvement_count > self._n_iter_no_change:
                converged = True
                break
        self._optimizer.release()
        if not converged and not incremental:
            _convergence_warning(
                "Adam (MLPClassifier)", self.n_iter_,
                f"the {'validation accuracy' if self.early_stopping else 'training loss'} "
                f"still improved by more than tol={self.tol} within the last "
                f"{self._n_iter_no_change} epochs",
            )
        if best_theta is not None:
            net.theta[:] = best_theta
        return self

    def _encode_targets(self, y, dtype, first, incremental, classes):
        """The training targets of y (class indices, or the indicator matrix in
        X's dtype), setting classes_, n_outputs_ and out_activation_ on a
        first call and checking y against them on later ones. ``classes``:
        partial_fit's (checked there), None for fit."""
        kind = type_of_target(y, input_name="y")
        multilabel = kind == "multilabel-indicator"
        if not first and multilabel != self._multilabel:
            expected = ("a multilabel indicator matrix" if self._multilabel
                        else "class labels")
            raise ValueError(f"y: expected {expected} as in the previous calls, got a "
                             f"{kind!r} target")
        if multilabel:
            n_labels = y.shape[1]
            if not first and n_labels != self.n_outputs_:
                raise ValueError(f"y: expected an indicator matrix of {self.n_outputs_} "
                                 f"labels as in the previous calls, got {n_labels}")
            labels = np.arange(n_labels)
            if incremental and not np.array_equal(classes, labels):
                raise ValueError(
                    f"classes: expected the label indices arange({n_labels}) of a "
                    f"multilabel y with {n_labels} columns, got {classes.tolist()!r}"
                )
            if first:
                self.classes_, self._multilabel, self._y_dtype = labels, True, y.dtype
                self.n_outputs_, self.out_activation_ = n_labels, "logistic"
            return np.asarray(y, dtype=dtype)
        if not incremental:
            self.classes_, y_index = _encode_classes(y)
        else:
            check_classification_targets(y)
            if len(classes) < 2:
                raise ValueError(f"classes: expected at least 2 classes, got "
                                 f"{classes.tolist()!r}")
            seen = unique_labels(y)
            if len(np.setdiff1d(seen, classes, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {classes}. 'y' has {seen}.")
            self.classes_ = classes
            y_index = np.searchsorted(classes, y).astype(np.int64)
        if first:
            n_classes = len(self.classes_)
            self._multilabel = False
            self.n_outputs_ = 1 if n_classes == 2 else n_classes
            self.out_activation_ = "logistic" if n_classes == 2 else "softmax"
        return y_index

    def _weighted_accuracy(self, X, target, sw):
        """Accuracy (subset accuracy for a multilabel y) weighted by sw."""
        z = self._logits(X)
        if target.ndim == 2:
            right = np.all((z > 0) == (target > 0.5), axis=1)
        else:
            right = ((z[:, 0] > 0) if z.shape[1] == 1 else np.argmax(z, axis=1)) == target
        return float(np.average(right, weights=sw))

    def _logits(self, X):
        return _forward(X, self.coefs_, self.intercepts_, self.activation)


def _dot(a, b, out=None):
    """a @ b (into out when given) for a dense or a scipy.sparse a."""
    if not scipy.sparse.issparse(a):
        return np.matmul(a, b, out=out)
    product = a @ b
    if out is None:
        return product
    out[...] = product
    return out


def _forward(a, coefs, intercepts, activation, buffers=None):
    """Activations of every layer, input first, logits last (into buffers if given)."""
    acts = [a]
    last = len(coefs) - 1
    for i, (W, c) in enumerate(zip(coefs, intercepts)):
        out = None if buffers is None else buffers[i][:a.shape[0]]
        h = _dot(acts[i], W, out=out)
        h += c
        if i < last:
            _activate(activation, h)
        acts.append(h)
    return acts if buffers is not None else acts[-1]


class _Network:
    """The MLP's parameters in one flat vector (all weights, then all biases), its
    gradient in another of the same layout, and the buffers of one minibatch."""

    def __init__(self, layer_units, activation, alpha, dtype, batch_size):
        self.pairs = list(zip(layer_units[:-1], layer_units[1:]))
        self.n_coef = sum(a * b for a, b in self.pairs)
        self.activation, self.alpha = activation, alpha
        self.theta = np.empty(self.n_coef + sum(b for _, b in self.pairs), dtype)
        self.grad = np.empty_like(self.theta)
        self.coefs, self.intercepts = self.views(self.theta)
        self.coef_grads, self.intercept_grads = self.views(self.grad)
        self.acts = [np.empty((batch_size, units), dtype) for units in layer_units]
        self.deltas = [np.empty((batch_size, units), dtype) for units in layer_units[1:-1]]

    def views(self, flat):
        """(weight matrices, bias vectors) of the layers, as views of flat."""
        coefs, intercepts = [], []
        start, bias = 0, self.n_coef
        for a, b in self.pairs:
            coefs.append(flat[start:start + a * b].reshape(a, b))
            intercepts.append(flat[bias:bias + b])
            start, bias = start + a * b, bias + b
        return coefs, intercepts

    def initialize(self, rng):
        factor = 2.0 if self.activation == "logistic" else 6.0
        for W, c in zip(self.coefs, self.intercepts):
            # Glorot & Bengio (2010) uniform initialization
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            W[:] = rng.uniform(-bound, bound, W.shape)
            c[:] = rng.uniform(-bound, bound, c.shape)

    def load(self, coefs, intercepts):
        """The parameters of a fitted model (its coefs_ and intercepts_, which
        a pickle round trip leaves as arrays of their own) copied into theta."""
        for mine, theirs in zip(self.coefs + self.intercepts, list(coefs) + list(intercepts)):
            if np.shape(theirs) != mine.shape:
                raise ValueError(f"coefs_/intercepts_: expected the layer shapes "
                                 f"{[W.shape for W in self.coefs]}, got "
                                 f"{[np.shape(W) for W in coefs]}")
            mine[...] = theirs

    def step(self, X, idx, loss_fn, target, weight_sum):
        """Objective of the minibatch X[idx]; its gradient is left in self.grad."""
        n = len(idx)
        if scipy.sparse.issparse(X):
            first = X[idx]          # the batch's rows, a CSR matrix of their own
        else:
            first = np.take(X, idx, axis=0, out=self.acts[0][:n])
        acts = _forward(first, self.coefs, self.intercepts, self.activation,
                        self.acts[1:])
        # the fused pass: loss and d loss / d logits, written over the logits
        loss, delta = loss_fn.value_and_grad(acts[-1], target, out=acts[-1])
        inv = 1.0 / weight_sum
        flat_coef = self.theta[:self.n_coef]
        value = (float(loss) + 0.5 * self.alpha * float(np.dot(flat_coef, flat_coef))) * inv
        delta *= inv
        for i in range(len(self.coefs) - 1, -1, -1):
            _dot(acts[i].T, delta, out=self.coef_grads[i])
            np.sum(delta, axis=0, out=self.intercept_grads[i])
            if i > 0:
                back = np.matmul(delta, self.coefs[i].T, out=self.deltas[i - 1][:n])
                _activation_backward(self.activation, acts[i], back)
                delta = back
        self.grad[:self.n_coef] += (self.alpha * inv) * flat_coef
        return value


class _Batches:
    """Minibatch targets and the fastloss loss layer for each batch's samples.

    ``target``: class indices (a softmax output, or one sigmoid for two
    classes when ``n_outputs`` is 1), or a (n_samples, n_labels) indicator
    matrix in X's dtype (one sigmoid per label)."""

    def __init__(self, X, target, sw, n_outputs, num_threads):
        self.X, self.sw = X, sw
        self.sigmoid = target.ndim == 2 or n_outputs == 1
        if self.sigmoid:
            self.target = target.astype(X.dtype).reshape(len(target), -1)
            self.loss_fn = BCEWithLogitsLoss(reduction="sum", num_threads=num_threads)
        else:
            self.target = target
            self.loss_fn = CrossEntropyLoss(reduction="sum", num_threads=num_threads)
        self.n_outputs, self.num_threads = n_outputs, num_threads

    def loss(self, idx):
        """(loss object, target, sum of weights) of the samples idx."""
        target = self.target[idx]
        if self.sw is None:
            return self.loss_fn, target, float(len(idx))
        sw = self.sw[idx]
        if self.sigmoid:
            # one weight per sample, broadcast over its labels
            loss_fn = BCEWithLogitsLoss(sw.reshape(-1, 1), reduction="sum",
                                        num_threads=self.num_threads)
            return loss_fn, target, float(sw.sum(dtype=np.float64))
        # sample weights as scaled one-hot probability targets (see SoftmaxRegression)
        prob = np.zeros((len(idx), self.n_outputs), self.X.dtype)
        prob[np.arange(len(idx)), target] = sw
        return self.loss_fn, prob, float(sw.sum(dtype=np.float64))
