# Stub of the compiled kernel modules (_baseline and _avx2 are drivers.pxi
# compiled per SIMD path): one line per kernel, arguments in the .pxi's
# order. Arrays are typed memoryviews there (C-contiguous float32/float64,
# int64 targets); any such ndarray is accepted.

from typing import Any

import numpy.typing as npt

_Array = npt.NDArray[Any]

LSE: int
SOFTMAX: int
LOG_SOFTMAX: int
CE_INDEX: int
NLL_INDEX: int
CE_PROB: int
BCE_LOGITS: int
BCE_PROB: int
MSE: int
SIGMOID: int
LOG_SIGMOID: int
SOFTPLUS: int
L1: int
SMOOTH_L1: int
HUBER: int
KL_DIV: int
KL_DIV_LOG: int
LIMITS: dict[str, Any]
MATH_FUNCTIONS: dict[str, int]

def logsumexp(x: _Array, out: _Array, n_threads: int) -> None: ...
def softmax(x: _Array, out: _Array, log_space: bool, n_threads: int) -> None: ...
def softmax_backward(g: _Array, y: _Array, out: _Array, log_space: bool,
                     n_threads: int) -> None: ...
def weighted_logsumexp(x: _Array, b: _Array, out: _Array, sign: _Array | None,
                       n_threads: int) -> None: ...
def class_loss(mode: int, x: _Array, target: _Array, prob: _Array, weight: _Array,
               ignore_index: int, label_smoothing: float, loss: _Array, grad: _Array,
               grad_rows: _Array, grad_scale: float,
               n_threads: int) -> tuple[float, float, int, int, int]: ...
def binary_loss(mode: int, x: _Array, t: _Array, weight: _Array, pos_weight: _Array,
                loss: _Array, grad: _Array, grad_out: _Array, grad_scale: float,
                n_threads: int, param: float = 1.0) -> float: ...
def check_targets(mode: int, target: _Array, weight: _Array, n_outer: int, inner: int,
                  ignore_index: int, n_threads: int) -> tuple[float, int, int, int]: ...
def first_outside_unit(a: _Array, n_threads: int) -> int: ...
def simd_width() -> str: ...
def read_floor(x: _Array, n_threads: int) -> float: ...
def copy_floor(x: _Array, out: _Array, n_threads: int) -> None: ...
def math_map(name: str, x: _Array, out: _Array) -> None: ...
def fast_softmax(x: Any, op: int) -> Any: ...
def fast_class(mode: int, x: Any, target: Any, weight: Any, ignore_index: Any,
               label_smoothing: Any, reduction: Any, want: int, grad_output: Any) -> Any: ...
def fast_binary(mode: int, x: Any, target: Any, reduction: Any, want: int,
                grad_output: Any, param: float = 1.0) -> Any: ...
def unary(op: int, x: _Array, out: _Array, beta: float, threshold: float,
          n_threads: int) -> None: ...
def fast_unary(x: Any, op: int, beta: Any, threshold: Any) -> Any: ...
