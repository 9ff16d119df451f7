# Stub of fastloss.estimators (see estimators.py): the public estimators.
# scikit-learn is not annotated, so the scikit-learn API they inherit is
# spelled out here.

from typing import Any, Literal, Protocol, TypeAlias, TypeVar

import numpy.typing as npt

_Array = npt.NDArray[Any]
_Self = TypeVar("_Self", bound="_LogitClassifier")

class _SparseMatrix(Protocol):
    # a scipy.sparse matrix or array (SciPy has no type information)
    shape: tuple[int, ...]
    nnz: int
    format: str

_X: TypeAlias = npt.ArrayLike | _SparseMatrix

class _LogitClassifier:
    classes_: _Array
    n_features_in_: int
    def decision_function(self, X: _X) -> _Array: ...
    def predict_log_proba(self, X: _X) -> _Array: ...
    def predict_proba(self, X: _X) -> _Array: ...
    def predict(self, X: _X) -> _Array: ...
    def score(self, X: _X, y: npt.ArrayLike,
              sample_weight: npt.ArrayLike | None = None) -> float: ...
    def get_params(self, deep: bool = True) -> dict[str, Any]: ...
    def set_params(self: _Self, **params: Any) -> _Self: ...

class SoftmaxRegression(_LogitClassifier):
    coef_: _Array
    intercept_: _Array
    n_iter_: _Array
    def __init__(self, C: float = 1.0, fit_intercept: bool = True, max_iter: int = 100,
                 tol: float = 1e-4,
                 class_weight: dict[Any, float] | Literal["balanced"] | None = None,
                 warm_start: bool = False, num_threads: int | None = None) -> None: ...
    def fit(self, X: _X, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> SoftmaxRegression: ...

class MultiLabelLogisticRegression(_LogitClassifier):
    coef_: _Array
    intercept_: _Array
    n_iter_: _Array
    def __init__(self, C: float = 1.0, fit_intercept: bool = True,
                 pos_weight: npt.ArrayLike | float | None = None, max_iter: int = 100,
                 tol: float = 1e-4, num_threads: int | None = None) -> None: ...
    def fit(self, X: _X, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> MultiLabelLogisticRegression: ...

class MLPClassifier(_LogitClassifier):
    coefs_: list[_Array]
    intercepts_: list[_Array]
    n_iter_: int
    loss_: float
    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (100,),
                 activation: Literal["relu", "tanh", "logistic", "identity"] = "relu",
                 alpha: float = 1e-4, batch_size: int | Literal["auto"] = 200,
                 learning_rate_init: float = 1e-3, max_iter: int = 200, tol: float = 1e-4,
                 early_stopping: bool = False, random_state: int | None = None,
                 num_threads: int | None = None) -> None: ...
    n_outputs_: int
    out_activation_: Literal["logistic", "softmax"]
    loss_curve_: list[float]
    t_: int
    def fit(self, X: _X, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> MLPClassifier: ...
    def partial_fit(self, X: _X, y: npt.ArrayLike,
                    sample_weight: npt.ArrayLike | None = None,
                    classes: npt.ArrayLike | None = None) -> MLPClassifier: ...
