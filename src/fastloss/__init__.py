"""fastloss: fast, exact CPU loss kernels for NumPy, with PyTorch's semantics.

Softmax, log-softmax and log-sum-exp; the activations sigmoid, log-sigmoid
and softplus; cross-entropy (class-index and probability targets, class
weights, ignore_index, label smoothing), NLL, binary cross-entropy with
logits and on probabilities, MSE, L1, smooth L1, Huber and KL divergence;
and loss objects with fused value-and-gradient. The kernels are Cython with
OpenMP; see
:func:`show_config`.
"""

from ._api import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    LinearCrossEntropyLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    linear_cross_entropy,
    log_sigmoid,
    log_softmax,
    log_softmax_backward,
    logsumexp,
    mse_loss,
    nll_loss,
    sigmoid,
    smooth_l1_loss,
    softmax,
    softmax_backward,
    softplus,
)
from ._config import get_num_threads, num_threads, set_num_threads, show_config
from ._version import __version__

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "linear_cross_entropy",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCEWithLogitsLoss",
    "BCELoss",
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "KLDivLoss",
    "LinearCrossEntropyLoss",
    "get_num_threads",
    "set_num_threads",
    "num_threads",
    "show_config",
    "__version__",
]
