# Stub of the compiled fastloss._kernels (see _kernels.pyx): one line per
# kernel, arguments in the .pyx's order. Arrays are typed memoryviews there
# (C-contiguous float32/float64, int64 targets); any such ndarray is accepted.

from typing import Any

import numpy.typing as npt

_Array = npt.NDArray[Any]

CE_INDEX: int
NLL_INDEX: int
CE_PROB: int
BCE_LOGITS: int
BCE_PROB: int
MSE: int

def logsumexp(x: _Array, out: _Array, n_threads: int) -> None: ...
def softmax(x: _Array, out: _Array, log_space: bool, n_threads: int) -> None: ...
def class_loss(mode: int, x: _Array, target: _Array, prob: _Array, weight: _Array,
               ignore_index: int, label_smoothing: float, loss: _Array, grad: _Array,
               grad_rows: _Array, grad_scale: float, n_threads: int) -> tuple[float, float]: ...
def binary_loss(mode: int, x: _Array, t: _Array, weight: _Array, pos_weight: _Array,
                loss: _Array, grad: _Array, grad_out: _Array, grad_scale: float,
                n_threads: int) -> float: ...
def check_targets(target: _Array, n_classes: int, ignore_index: int, weight: _Array,
                  n_threads: int) -> tuple[int, float]: ...
def first_outside_unit(a: _Array, n_threads: int) -> int: ...
