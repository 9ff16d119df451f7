# Types of the public functions and loss classes (the code is _api.py).
# tests/test_typing.py checks that this file and _api.py agree; change both
# together.

from typing import Any, Literal, NoReturn, overload

import numpy as np
import numpy.typing as npt

_Float = np.floating[Any]
_FloatArray = npt.NDArray[np.floating[Any]]
_Reduced = Literal["mean", "sum"]
_Reduction = Literal["mean", "sum", "none"]
_KLReduced = Literal["mean", "batchmean", "sum"]
_KLReduction = Literal["none", "batchmean", "sum", "mean"]

_Axes = int | tuple[int, ...] | None

# the TypeError of dim= (fastloss.dask's functions raise it too)
def _refuse_dim(dim: Any) -> NoReturn: ...

def logsumexp(x: npt.ArrayLike, axis: _Axes = -1, *, b: npt.ArrayLike | None = None,
              keepdims: bool = False, return_sign: bool = False,
              out: _FloatArray | None = None, num_threads: int | None = None) -> Any: ...
def softmax(x: npt.ArrayLike, axis: _Axes = -1, *, out: _FloatArray | None = None,
            num_threads: int | None = None) -> _FloatArray: ...
def log_softmax(x: npt.ArrayLike, axis: _Axes = -1, *,
                out: _FloatArray | None = None,
                num_threads: int | None = None) -> _FloatArray: ...
def softmax_backward(grad_output: npt.ArrayLike, output: npt.ArrayLike, axis: _Axes = -1, *,
                     out: _FloatArray | None = None,
                     num_threads: int | None = None) -> _FloatArray: ...
def log_softmax_backward(grad_output: npt.ArrayLike, output: npt.ArrayLike,
                         axis: _Axes = -1, *, out: _FloatArray | None = None,
                         num_threads: int | None = None) -> _FloatArray: ...
def sigmoid(x: npt.ArrayLike, *, out: _FloatArray | None = None,
            num_threads: int | None = None) -> Any: ...
def log_sigmoid(x: npt.ArrayLike, *, out: _FloatArray | None = None,
                num_threads: int | None = None) -> Any: ...
def softplus(x: npt.ArrayLike, *, beta: float = 1.0, threshold: float = 20.0,
             out: _FloatArray | None = None, num_threads: int | None = None) -> Any: ...

@overload
def cross_entropy(input: npt.ArrayLike, target: npt.ArrayLike, *,
                  weight: npt.ArrayLike | None = None, ignore_index: int = -100,
                  reduction: _Reduced = "mean", label_smoothing: float = 0.0, axis: int = -1,
                  num_threads: int | None = None) -> _Float: ...
@overload
def cross_entropy(input: npt.ArrayLike, target: npt.ArrayLike, *,
                  weight: npt.ArrayLike | None = None, ignore_index: int = -100,
                  reduction: Literal["none"], label_smoothing: float = 0.0, axis: int = -1,
                  num_threads: int | None = None) -> _FloatArray: ...
@overload
def nll_loss(input: npt.ArrayLike, target: npt.ArrayLike, *,
             weight: npt.ArrayLike | None = None, ignore_index: int = -100,
             reduction: _Reduced = "mean", axis: int = -1,
             num_threads: int | None = None) -> _Float: ...
@overload
def nll_loss(input: npt.ArrayLike, target: npt.ArrayLike, *,
             weight: npt.ArrayLike | None = None, ignore_index: int = -100,
             reduction: Literal["none"], axis: int = -1,
             num_threads: int | None = None) -> _FloatArray: ...
@overload
def binary_cross_entropy_with_logits(
    input: npt.ArrayLike, target: npt.ArrayLike, *, weight: npt.ArrayLike | None = None,
    pos_weight: npt.ArrayLike | None = None, reduction: _Reduced = "mean",
    num_threads: int | None = None) -> _Float: ...
@overload
def binary_cross_entropy_with_logits(
    input: npt.ArrayLike, target: npt.ArrayLike, *, weight: npt.ArrayLike | None = None,
    pos_weight: npt.ArrayLike | None = None, reduction: Literal["none"],
    num_threads: int | None = None) -> _FloatArray: ...
@overload
def binary_cross_entropy(input: npt.ArrayLike, target: npt.ArrayLike, *,
                         weight: npt.ArrayLike | None = None, reduction: _Reduced = "mean",
                         num_threads: int | None = None) -> _Float: ...
@overload
def binary_cross_entropy(input: npt.ArrayLike, target: npt.ArrayLike, *,
                         weight: npt.ArrayLike | None = None, reduction: Literal["none"],
                         num_threads: int | None = None) -> _FloatArray: ...
@overload
def mse_loss(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: _Reduced = "mean",
             num_threads: int | None = None) -> _Float: ...
@overload
def mse_loss(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["none"],
             num_threads: int | None = None) -> _FloatArray: ...
@overload
def l1_loss(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: _Reduced = "mean",
            num_threads: int | None = None) -> _Float: ...
@overload
def l1_loss(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["none"],
            num_threads: int | None = None) -> _FloatArray: ...
@overload
def smooth_l1_loss(input: npt.ArrayLike, target: npt.ArrayLike, *,
                   reduction: _Reduced = "mean", beta: float = 1.0,
                   num_threads: int | None = None) -> _Float: ...
@overload
def smooth_l1_loss(input: npt.ArrayLike, target: npt.ArrayLike, *,
                   reduction: Literal["none"], beta: float = 1.0,
                   num_threads: int | None = None) -> _FloatArray: ...
@overload
def huber_loss(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: _Reduced = "mean",
               delta: float = 1.0, num_threads: int | None = None) -> _Float: ...
@overload
def huber_loss(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["none"],
               delta: float = 1.0, num_threads: int | None = None) -> _FloatArray: ...
@overload
def kl_div(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: _KLReduced = "mean",
           log_target: bool = False, num_threads: int | None = None) -> _Float: ...
@overload
def kl_div(input: npt.ArrayLike, target: npt.ArrayLike, *, reduction: Literal["none"],
           log_target: bool = False, num_threads: int | None = None) -> _FloatArray: ...
@overload
def linear_cross_entropy(input: npt.ArrayLike, linear_weight: npt.ArrayLike,
                         target: npt.ArrayLike, *, linear_bias: npt.ArrayLike | None = None,
                         weight: npt.ArrayLike | None = None, ignore_index: int = -100,
                         reduction: _Reduced = "mean", label_smoothing: float = 0.0,
                         chunk_size: int | None = None,
                         num_threads: int | None = None) -> _Float: ...
@overload
def linear_cross_entropy(input: npt.ArrayLike, linear_weight: npt.ArrayLike,
                         target: npt.ArrayLike, *, linear_bias: npt.ArrayLike | None = None,
                         weight: npt.ArrayLike | None = None, ignore_index: int = -100,
                         reduction: Literal["none"], label_smoothing: float = 0.0,
                         chunk_size: int | None = None,
                         num_threads: int | None = None) -> _FloatArray: ...

class _Loss:
    reduction: _Reduction
    num_threads: int | None
    # the loss: a NumPy scalar for "mean" and "sum", an array for "none"
    def __call__(self, input: npt.ArrayLike, target: npt.ArrayLike) -> Any: ...
    def grad(self, input: npt.ArrayLike, target: npt.ArrayLike, *,
             grad_output: npt.ArrayLike = 1.0,
             out: _FloatArray | None = None) -> _FloatArray: ...
    def value_and_grad(self, input: npt.ArrayLike, target: npt.ArrayLike, *,
                       grad_output: npt.ArrayLike = 1.0,
                       out: _FloatArray | None = None) -> tuple[Any, _FloatArray]: ...
    # the block protocol (fastloss.dask): see _Loss in _api.py
    def _block_sum(self, input: npt.ArrayLike, target: npt.ArrayLike,
                   grad_scale: float | None = None) -> tuple[float, _FloatArray | None]: ...
    def _reduce_blocks(self, block_sums: list[float], denominator: float,
                       dtype: npt.DTypeLike, index_targets: bool) -> Any: ...
    def _grad_scale(self, grad_output: float, denominator: float,
                    index_targets: bool) -> float: ...

class _ClassLoss(_Loss):
    def _denominator(self, shape: tuple[int, ...], dtype: npt.DTypeLike,
                     class_counts: npt.NDArray[np.int64] | None = None) -> float: ...

class _ElementwiseLoss(_Loss):
    def _denominator(self, shape: tuple[int, ...], dtype: npt.DTypeLike,
                     class_counts: npt.NDArray[np.int64] | None = None) -> float: ...
    def _with_operands(self, **operands: Any) -> _ElementwiseLoss: ...

class CrossEntropyLoss(_ClassLoss):
    weight: npt.NDArray[np.float64] | None
    ignore_index: int
    label_smoothing: float
    axis: int
    def __init__(self, weight: npt.ArrayLike | None = None, *, ignore_index: int = -100,
                 reduction: _Reduction = "mean", label_smoothing: float = 0.0,
                 axis: int = -1, num_threads: int | None = None) -> None: ...

class NLLLoss(_ClassLoss):
    weight: npt.NDArray[np.float64] | None
    ignore_index: int
    axis: int
    def __init__(self, weight: npt.ArrayLike | None = None, *, ignore_index: int = -100,
                 reduction: _Reduction = "mean", axis: int = -1,
                 num_threads: int | None = None) -> None: ...

class BCEWithLogitsLoss(_ElementwiseLoss):
    weight: npt.NDArray[np.float64] | None
    pos_weight: npt.NDArray[np.float64] | None
    def __init__(self, weight: npt.ArrayLike | None = None, *,
                 pos_weight: npt.ArrayLike | None = None, reduction: _Reduction = "mean",
                 num_threads: int | None = None) -> None: ...

class BCELoss(_ElementwiseLoss):
    weight: npt.NDArray[np.float64] | None
    def __init__(self, weight: npt.ArrayLike | None = None, *,
                 reduction: _Reduction = "mean", num_threads: int | None = None) -> None: ...

class MSELoss(_ElementwiseLoss):
    def __init__(self, *, reduction: _Reduction = "mean",
                 num_threads: int | None = None) -> None: ...

class _UnweightedLoss(_ElementwiseLoss):
    def _kernel_mode(self) -> tuple[int, float]: ...

class L1Loss(_UnweightedLoss):
    def __init__(self, *, reduction: _Reduction = "mean",
                 num_threads: int | None = None) -> None: ...

class SmoothL1Loss(_UnweightedLoss):
    beta: float
    def __init__(self, *, reduction: _Reduction = "mean", beta: float = 1.0,
                 num_threads: int | None = None) -> None: ...

class HuberLoss(_UnweightedLoss):
    delta: float
    def __init__(self, *, reduction: _Reduction = "mean", delta: float = 1.0,
                 num_threads: int | None = None) -> None: ...

class KLDivLoss(_UnweightedLoss):
    reduction: _KLReduction  # type: ignore[assignment]  # "batchmean" too
    log_target: bool
    def __init__(self, *, reduction: _KLReduction = "mean", log_target: bool = False,
                 num_threads: int | None = None) -> None: ...

class LinearCrossEntropyLoss:
    weight: npt.NDArray[np.float64] | None
    ignore_index: int
    reduction: _Reduction
    label_smoothing: float
    chunk_size: int | None
    num_threads: int | None
    def __init__(self, weight: npt.ArrayLike | None = None, *, ignore_index: int = -100,
                 reduction: _Reduction = "mean", label_smoothing: float = 0.0,
                 chunk_size: int | None = None, num_threads: int | None = None) -> None: ...
    # the loss: a NumPy scalar for "mean" and "sum", an array for "none"
    def __call__(self, input: npt.ArrayLike, linear_weight: npt.ArrayLike,
                 target: npt.ArrayLike, linear_bias: npt.ArrayLike | None = None) -> Any: ...
    # (loss, (grad_input, grad_linear_weight, grad_linear_bias or None))
    def value_and_grad(
        self, input: npt.ArrayLike, linear_weight: npt.ArrayLike, target: npt.ArrayLike,
        linear_bias: npt.ArrayLike | None = None, *, grad_output: npt.ArrayLike = 1.0,
    ) -> tuple[Any, tuple[_FloatArray, _FloatArray, _FloatArray | None]]: ...
    # the block protocol (fastloss.dask): see LinearCrossEntropyLoss in _api.py
    def _problem(self, input: npt.ArrayLike, linear_weight: npt.ArrayLike,
                 target: npt.ArrayLike, linear_bias: npt.ArrayLike | None) -> Any: ...
    def _block_sum(
        self, input: npt.ArrayLike, linear_weight: npt.ArrayLike, target: npt.ArrayLike,
        linear_bias: npt.ArrayLike | None = None, grad_scale: float | None = None,
    ) -> tuple[float, tuple[_FloatArray, _FloatArray, _FloatArray | None] | None]: ...
    def _value_and_layer_grads(
        self, input: npt.ArrayLike, linear_weight: npt.ArrayLike, target: npt.ArrayLike,
        linear_bias: npt.ArrayLike | None = None,
    ) -> tuple[Any, tuple[None, _FloatArray, _FloatArray | None]]: ...
    def _ce_loss(self) -> CrossEntropyLoss: ...
