"""The public functions and loss classes of fastloss.

Each public name validates its arguments (``_validation``), allocates its
outputs and makes one kernel call (``_kernels``: the compiled kernels of the
SIMD path ``_dispatch`` chose). The semantics are those of
``torch.nn.functional``; the conventions (``axis``, ``out``, scalars) NumPy's.
"""

import copy
import functools
import math

import numpy as np

from ._config import resolve_num_threads
from ._kernels import kernels as _kernels
from ._validation import (
    NOT_GIVEN,
    _asarray,
    as_float_array,
    as_index_targets,
    as_operand,
    broadcast_operand,
    check_chunk_size,
    check_flag,
    check_ignore_index,
    check_kl_reduction,
    check_label_smoothing,
    check_no_ignore_index,
    check_out,
    check_real,
    check_reduction,
    check_threshold,
    class_view,
    describe,
    finish,
    hide_parameters,
    is_fresh,
    normalize_axis,
    output_buffer,
    position,
    refuse_torch_name,
)

# The fast path of small calls (see drivers.pxi): the result, or
# NotImplemented for the general path, which gives the same bits and every
# refusal.
_fast_softmax = _kernels.fast_softmax
_fast_class = _kernels.fast_class
_fast_binary = _kernels.fast_binary
_fast_unary = _kernels.fast_unary
_LSE, _SOFTMAX, _LOG_SOFTMAX = _kernels.LSE, _kernels.SOFTMAX, _kernels.LOG_SOFTMAX
_CE, _NLL = _kernels.CE_INDEX, _kernels.NLL_INDEX
_WANT_VALUE, _WANT_GRAD, _WANT_BOTH = 0, 1, 2


def _fast_threads(num_threads):
    """Whether a call with this ``num_threads`` may take the fast path: the
    default (None) or a positive int. The fast path takes arrays of at most
    PARALLEL_MIN elements, which the general path too runs on one thread
    whatever the count (the same bits for any count in any case); anything
    else (0, a NumPy integer, a float) is the general path's to take or
    refuse."""
    return num_threads is None or (type(num_threads) is int and num_threads > 0)


def _refuse_dim(dim):
    refuse_torch_name("dim", dim, f"use axis= (NumPy's name): axis={dim!r}")


def _last_axis(axis):
    return type(axis) is int and axis == -1


def _scalar_if_0d(arr, out):
    """NumPy's convention: a 0-d result without ``out`` is a NumPy scalar."""
    if out is None and arr.ndim == 0:
        return arr[()]
    return arr


def _class_axes(axis, ndim):
    """The class (reduced) axes: an int, a tuple of ints (SciPy's) or None
    (every axis), as a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is tuple:
        axes = tuple(sorted(normalize_axis(a, ndim) for a in axis))
        if len(set(axes)) != len(axes):
            raise ValueError(f"axis: expected distinct axes, got {axis!r}")
        return axes
    return (normalize_axis(axis, ndim),)


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def _rows_last(arr, axes):
    """(rows, n) C-contiguous: arr with ``axes`` moved last, together, and
    flattened (a copy unless they already are the trailing axes)."""
    k = arr.ndim - len(axes)
    tail = tuple(range(k, arr.ndim))
    moved = np.moveaxis(arr, axes, tail)
    rows, n = math.prod(moved.shape[:k]), math.prod(moved.shape[k:])
    return np.ascontiguousarray(moved).reshape(rows, n), moved.shape, tail


def _classes_view(arr, axes):
    """(x3, undo): C-contiguous ``arr`` as (n_outer, n_classes, n_inner), the
    class axis the product of ``axes`` (sorted, see _class_axes). Consecutive
    axes (an int, None) are a view and ``undo`` None; others are moved last,
    together, into a C-contiguous copy (n_inner 1), and ``undo`` maps an
    array of x3's shape back to a view in arr's order."""
    shape = arr.shape
    if not axes:                       # axis=(): every element a row of its own
        return arr.reshape(arr.size, 1, 1), None
    a0, a1 = axes[0], axes[-1] + 1
    if a1 - a0 == len(axes):
        return arr.reshape(math.prod(shape[:a0]), math.prod(shape[a0:a1]),
                           math.prod(shape[a1:])), None
    x2, moved_shape, tail = _rows_last(arr, axes)
    return x2.reshape(x2.shape + (1,)), (
        lambda res: np.moveaxis(res.reshape(moved_shape), tail, axes))


def _moved_result(view, out):
    """The result of a kernel run on moved axes (a view in the input's order)
    as a new C-contiguous array, or written into ``out`` (checked before)."""
    if out is None:
        return np.ascontiguousarray(view)
    out[...] = view
    return out


# ----------------------------------------------------------- softmax family

@hide_parameters("dim")
def logsumexp(x, axis=-1, *, b=None, keepdims=False, return_sign=False, out=None,
              num_threads=None, dim=NOT_GIVEN):
    """Log of the sum of exponentials along an axis, without overflow.

    ``log(sum(exp(x), axis))`` computed as ``m + log(sum(exp(x - m)))`` with
    ``m`` the maximum along the axis, summed in float64. With ``b``, SciPy's
    ``scipy.special.logsumexp``: ``log(sum(b * exp(x), axis))``.

    Parameters
    ----------
    x : array_like of float32 or float64
        Input; float16 is computed as float32, Python numbers as float64.
    axis : int, tuple of ints or None, default -1
        Axis or axes to reduce, jointly; None reduces over all elements (as
        ``scipy.special.logsumexp``, whose default it is).
    b : array_like, optional
        Weights of the exponentials, broadcast against ``x`` (the result has
        the broadcast shape without ``axis``), converted to ``x``'s dtype;
        they may be negative. As SciPy, an element whose weight is 0 adds
        nothing, even where ``x`` is inf or NaN.
    keepdims : bool, default False
        Keep the reduced axes with length 1.
    return_sign : bool, default False
        Return ``(log(abs(s)), sign(s))`` of the sum ``s``, as SciPy: the
        sign 1, -1, 0 (a zero sum, or an empty one) or NaN. Without it, a
        negative sum gives NaN.
    out : ndarray, optional
        Array of the result's shape and dtype to write the value into.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    ndarray or scalar, or a tuple of two
        ``x``'s shape without ``axis``, in ``x``'s dtype; with
        ``return_sign`` the value and the sign. A row holding +inf gives
        +inf, an all -inf (or empty) row -inf, a row holding NaN NaN, as
        ``torch.logsumexp``. With ``b``, a row whose largest weighted ``x``
        is not finite is summed directly (``sum(b * exp(x))``, as SciPy does
        where its result is not finite): +inf of both signs gives NaN.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.logsumexp([[0.0, 0.0], [1000.0, 1000.0]]).tolist()
    [0.6931471805599453, 1000.6931471805599]
    >>> value, sign = fastloss.logsumexp([0.0, 0.0], b=[1.0, -2.0], return_sign=True)
    >>> float(value), float(sign)
    (0.0, -1.0)
    """
    if out is None and _fast_threads(num_threads) and not keepdims and _last_axis(axis) and (
            dim is NOT_GIVEN and b is None and not return_sign):
        result = _fast_softmax(x, _LSE)
        if result is not NotImplemented:
            return result
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    arr = as_float_array(x, "x")
    if b is not None:
        return _weighted_logsumexp(arr, b, axis, keepdims, return_sign, out, num_threads)
    axes = _class_axes(axis, arr.ndim)
    x3, _ = _classes_view(arr, axes)
    n_threads = resolve_num_threads(num_threads)
    buf = output_buffer(out, _reduced_shape(arr.shape, axes, keepdims), arr.dtype,
                        inputs=(arr,))
    _kernels.logsumexp(x3, buf.reshape(x3.shape[0], x3.shape[2]), n_threads)
    value = _scalar_if_0d(finish(buf, out), out)
    if not return_sign:
        return value
    # the sum of exponentials is positive, or 0 where the value is -inf
    sign = np.where(np.isnan(buf), buf, buf > -np.inf).astype(buf.dtype)
    return value, _scalar_if_0d(sign, None)


def _weighted_logsumexp(arr, b, axis, keepdims, return_sign, out, num_threads):
    w = as_operand(b, arr.dtype, "b")
    try:
        shape = np.broadcast_shapes(arr.shape, w.shape)
    except ValueError:
        raise ValueError(
            f"b: expected an array broadcastable against x's shape {arr.shape}, got shape "
            f"{w.shape}"
        ) from None
    axes = _class_axes(axis, len(shape))
    n_threads = resolve_num_threads(num_threads)
    result_shape = _reduced_shape(shape, axes, keepdims)
    buf = output_buffer(out, result_shape, arr.dtype, inputs=(arr, w))
    x2, _, _ = _rows_last(np.broadcast_to(arr, shape), axes)
    b2, _, _ = _rows_last(np.broadcast_to(w, shape), axes)
    sign = np.empty(result_shape, arr.dtype) if return_sign else None
    _kernels.weighted_logsumexp(x2, b2, buf.reshape(x2.shape[0]),
                                None if sign is None else sign.reshape(x2.shape[0]),
                                n_threads)
    value = _scalar_if_0d(finish(buf, out), out)
    return (value, _scalar_if_0d(sign, None)) if return_sign else value


def _softmax(x, axis, out, num_threads, log_space):
    arr = as_float_array(x, "x")
    x3, undo = _classes_view(arr, _class_axes(axis, arr.ndim))
    n_threads = resolve_num_threads(num_threads)
    if undo is not None:               # x3 is a private copy: computed in place
        if out is not None:
            check_out(out, arr.shape, arr.dtype)
        _kernels.softmax(x3, x3, log_space, n_threads)
        return _moved_result(undo(x3), out)
    buf = output_buffer(out, arr.shape, arr.dtype, inputs=(arr,), in_place_of=arr)
    _kernels.softmax(x3, buf.reshape(x3.shape), log_space, n_threads)
    return _scalar_if_0d(finish(buf, out), out)


_SOFTMAX_DOC = """{summary}

    Parameters
    ----------
    x : array_like of float32 or float64
        Input; float16 is computed as float32, Python numbers as float64.
    axis : int, tuple of ints or None, default -1
        The class axis; a tuple normalizes jointly over those axes (as
        ``scipy.special.softmax``), None over all elements.
    out : ndarray, optional
        Array of ``x``'s shape and dtype to write into; may be ``x`` itself
        (in place).
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    ndarray
        Same shape and dtype as ``x``. As torch, a row holding +inf or NaN, or
        all -inf, is NaN; a -inf element elsewhere {masked}.

    Examples
    --------
    >>> import fastloss
    {example}
    """


@hide_parameters("dim")
def softmax(x, axis=-1, *, out=None, num_threads=None, dim=NOT_GIVEN):
    if out is None and _fast_threads(num_threads) and _last_axis(axis) and dim is NOT_GIVEN:
        result = _fast_softmax(x, _SOFTMAX)
        if result is not NotImplemented:
            return result
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    return _softmax(x, axis, out, num_threads, False)


@hide_parameters("dim")
def log_softmax(x, axis=-1, *, out=None, num_threads=None, dim=NOT_GIVEN):
    if out is None and _fast_threads(num_threads) and _last_axis(axis) and dim is NOT_GIVEN:
        result = _fast_softmax(x, _LOG_SOFTMAX)
        if result is not NotImplemented:
            return result
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    return _softmax(x, axis, out, num_threads, True)


softmax.__doc__ = _SOFTMAX_DOC.format(
    summary="Softmax along an axis: ``exp(x - logsumexp(x))``.",
    masked="has probability 0",
    example=""">>> [round(p, 4) for p in fastloss.softmax([2.0, 1.0, 0.1]).tolist()]
    [0.659, 0.2424, 0.0986]""",
)
log_softmax.__doc__ = _SOFTMAX_DOC.format(
    summary="Log-softmax along an axis: ``x - logsumexp(x)``, computed stably.",
    masked="gives -inf",
    example=""">>> [round(v, 4) for v in fastloss.log_softmax([0.0, 0.0]).tolist()]
    [-0.6931, -0.6931]""",
)


# ------------------------------------- softmax and log_softmax backward

def _softmax_backward(grad_output, output, axis, out, num_threads, log_space):
    g = as_float_array(grad_output, "grad_output")
    y = as_float_array(output, "output")
    if g.dtype != y.dtype:
        raise TypeError(
            f"grad_output, output: expected the same dtype, got {g.dtype} (grad_output) "
            f"and {y.dtype} (output)"
        )
    if g.shape != y.shape:
        raise ValueError(
            f"grad_output, output: expected the same shape, got {g.shape} (grad_output) "
            f"and {y.shape} (output)"
        )
    axes = _class_axes(axis, y.ndim)
    g3, undo = _classes_view(g, axes)
    y3, _ = _classes_view(y, axes)
    n_threads = resolve_num_threads(num_threads)
    if undo is not None:               # g3 is a private copy: computed in place
        if out is not None:
            check_out(out, y.shape, y.dtype)
        _kernels.softmax_backward(g3, y3, g3, log_space, n_threads)
        return _moved_result(undo(g3), out)
    buf = output_buffer(out, y.shape, y.dtype, inputs=(g, y),
                        in_place_of=y if out is output else g)
    _kernels.softmax_backward(g3, y3, buf.reshape(g3.shape), log_space, n_threads)
    return _scalar_if_0d(finish(buf, out), out)


_BACKWARD_DOC = """{summary}

    The vector-Jacobian product from the saved output, as torch's backward
    (``torch._softmax_backward_data``): {formula}, the sum along ``axis``
    taken in float64, each element computed in float64 and rounded once.

    Parameters
    ----------
    grad_output : array_like of float32 or float64
        The upstream gradient, of ``output``'s shape and dtype.
    output : array_like of float32 or float64
        The saved output of :func:`{forward}` along the same ``axis``.
    axis : int, tuple of ints or None, default -1
        The class axis (axes) of the forward call; None is every element.
    out : ndarray, optional
        Array of ``output``'s shape and dtype to write into; may be
        ``grad_output`` or ``output`` itself (in place).
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    ndarray
        The gradient with respect to the forward call's input, of
        ``output``'s shape and dtype. A NaN in a row of either input makes
        the row NaN, as torch.

    Examples
    --------
    >>> import fastloss
    {example}
    """


@hide_parameters("dim")
def softmax_backward(grad_output, output, axis=-1, *, out=None, num_threads=None,
                     dim=NOT_GIVEN):
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    return _softmax_backward(grad_output, output, axis, out, num_threads, False)


@hide_parameters("dim")
def log_softmax_backward(grad_output, output, axis=-1, *, out=None, num_threads=None,
                         dim=NOT_GIVEN):
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    return _softmax_backward(grad_output, output, axis, out, num_threads, True)


softmax_backward.__doc__ = _BACKWARD_DOC.format(
    summary="Gradient of :func:`softmax` from its output.",
    formula="``output * (grad_output - sum(grad_output * output, axis))``",
    forward="softmax",
    example=""">>> y = fastloss.softmax([0.0, 0.0])
    >>> fastloss.softmax_backward([1.0, 0.0], y).tolist()
    [0.25, -0.25]""",
)
log_softmax_backward.__doc__ = _BACKWARD_DOC.format(
    summary="Gradient of :func:`log_softmax` from its output.",
    formula="``grad_output - exp(output) * sum(grad_output, axis)``",
    forward="log_softmax",
    example=""">>> y = fastloss.log_softmax([0.0, 0.0])
    >>> fastloss.log_softmax_backward([1.0, 0.0], y).tolist()
    [0.5, -0.5]""",
)


# --------------------------------------------------------------- activations

def _unary(op, x, out, num_threads, beta=1.0, threshold=20.0):
    """Activation ``op`` of x (the kernels' SIGMOID, LOG_SIGMOID, SOFTPLUS),
    elementwise, into ``out`` (which may be x) or a new array."""
    if out is None and _fast_threads(num_threads):
        result = _fast_unary(x, op, beta, threshold)
        if result is not NotImplemented:
            return result
    beta, threshold = check_real(beta, "beta"), check_real(threshold, "threshold")
    arr = as_float_array(x, "x")
    n_threads = resolve_num_threads(num_threads)
    buf = output_buffer(out, arr.shape, arr.dtype, inputs=(arr,), in_place_of=arr)
    _kernels.unary(op, arr.reshape(-1), buf.reshape(-1), beta, threshold, n_threads)
    return _scalar_if_0d(finish(buf, out), out)


_UNARY_DOC = """{summary}

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape; float16 is computed as float32, Python numbers as
        float64. Integer arrays are refused.{options}
    out : ndarray, optional
        Array of ``x``'s shape and dtype to write into; may be ``x`` itself
        (in place). Nothing is written when an argument is refused.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    ndarray or scalar
        Same shape and dtype as ``x`` (a NumPy scalar for a 0-d ``x``
        without ``out``). Within 1 ulp of the exact value in float32
        (computed in float64) and 4 ulp in float64. {specials}
        and NaN gives NaN.

    See Also
    --------
    {see_also}

    Examples
    --------
    >>> import fastloss
    {example}
    """

_UNARY_SEE_ALSO = {
    "sigmoid": "log_sigmoid : Its logarithm, without underflow.",
    "log_sigmoid": "sigmoid : Its exponential, ``exp(log_sigmoid(x))``.",
    "softplus": "log_sigmoid : ``-softplus(-x)`` (beta 1, threshold inf).",
}


def sigmoid(x, *, out=None, num_threads=None):
    return _unary(_kernels.SIGMOID, x, out, num_threads)


def log_sigmoid(x, *, out=None, num_threads=None):
    return _unary(_kernels.LOG_SIGMOID, x, out, num_threads)


def softplus(x, *, beta=1.0, threshold=20.0, out=None, num_threads=None):
    return _unary(_kernels.SOFTPLUS, x, out, num_threads, beta, threshold)


sigmoid.__doc__ = _UNARY_DOC.format(
    summary="""The logistic sigmoid ``1 / (1 + exp(-x))``, elementwise.

    As ``torch.sigmoid``; computed from ``z = exp(-|x|)`` as
    ``1 / (1 + z)`` for ``x >= 0`` and ``z / (1 + z)`` below: no overflow,
    and small values keep their digits down to the subnormal numbers.""",
    options="",
    specials="-inf gives 0, +inf gives 1,",
    see_also=_UNARY_SEE_ALSO["sigmoid"],
    example=""">>> fastloss.sigmoid([0.0, 1e4, -1e4]).tolist()
    [0.5, 1.0, 0.0]""",
)
log_sigmoid.__doc__ = _UNARY_DOC.format(
    summary="""Log of the sigmoid, ``log(1 / (1 + exp(-x)))``, elementwise.

    As ``torch.nn.functional.logsigmoid``; computed as
    ``min(x, 0) - log1p(exp(-|x|))``: no overflow, no cancellation; it is
    ``x`` for large negative ``x``.""",
    options="",
    specials="-inf gives -inf, +inf gives 0,",
    see_also=_UNARY_SEE_ALSO["log_sigmoid"],
    example=""">>> [round(v, 4) for v in fastloss.log_sigmoid([0.0, 1e4, -1e4]).tolist()]
    [-0.6931, 0.0, -10000.0]""",
)
softplus.__doc__ = _UNARY_DOC.format(
    summary="""The softplus ``log(1 + exp(beta * x)) / beta``, elementwise.

    As ``torch.nn.functional.softplus``, ``beta * x`` is rounded in
    ``x``'s dtype (beta and threshold converted to it) and the result
    reverts to ``x`` where ``beta * x > threshold``.
    ``log(1 + exp(beta * x))`` is computed as
    ``max(beta * x, 0) + log1p(exp(-|beta * x|))``, finite for every finite
    input even with a threshold past the overflow of ``exp`` (where torch
    gives inf).""",
    options="""
    beta : float, default 1.0
        The scale of ``x`` inside the log (the curvature).
    threshold : float, default 20.0
        Above it (``beta * x > threshold``) the result is ``x`` itself.""",
    specials="-inf gives 0 and +inf gives +inf (for beta > 0),",
    see_also=_UNARY_SEE_ALSO["softplus"],
    example=""">>> [round(v, 4) for v in fastloss.softplus([0.0, 1.0, 30.0]).tolist()]
    [0.6931, 1.3133, 30.0]
    >>> [round(v, 4) for v in fastloss.softplus([0.0, 1.0], beta=2.0).tolist()]
    [0.3466, 1.0635]""",
)


# ------------------------------------------------------------ loss problems

def _mean(total, denominator, empty_is_nan=False):
    """``total / denominator`` in float64: the value of "mean" from the summed
    loss, and the scale of its gradient (``total`` = ``grad_output``).

    As NumPy's division, 0/0 is NaN and x/0 is ±inf, without warnings (a
    subnormal denominator overflows to inf silently too). ``empty_is_nan``:
    NaN over a zero denominator whatever ``total`` is: torch adds the means
    of the two parts of a label-smoothed cross-entropy of class indices, and
    with every target ignored (or of weight 0) the nll part is 0/0 even
    where the smoothing part over the same 0 is infinite.
    """
    if empty_is_nan and denominator == 0:
        return np.float64(np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.float64(total) / np.float64(denominator)


def _reduced(total, reduction, denominator, dtype, empty_is_nan):
    """The value of "sum" or "mean" (over ``denominator``) of a loss summed in
    float64, as a NumPy scalar of ``dtype``."""
    if reduction in ("mean", "batchmean"):
        total = _mean(total, denominator, empty_is_nan)
    with np.errstate(over="ignore"):    # beyond float32's range is inf, silently
        return dtype.type(total)


def _grad_scale(grad_output, reduction, denominator, empty_is_nan):
    """What the gradient of the summed loss is multiplied by for "sum" or "mean"
    (or KL divergence's "batchmean", a mean over its own denominator)."""
    if reduction not in ("mean", "batchmean"):
        return float(grad_output)
    return float(_mean(grad_output, denominator, empty_is_nan))


def _exact_sum(values):
    """The correctly rounded sum of finite values; inf/NaN as plain addition."""
    if all(math.isfinite(v) for v in values):
        try:
            return math.fsum(values)
        except OverflowError:
            pass
    return float(np.sum(np.array(values, dtype=np.float64)))


def _empty_is_nan(mode, label_smoothing):
    """Whether "mean" over a zero denominator is NaN whatever the sum (see _mean)."""
    return mode == _kernels.CE_INDEX and label_smoothing > 0.0


def _upstream(grad_output, reduction, loss_shape, dtype):
    """grad_output of a loss of ``loss_shape``: (the per-element upstream
    array, None) for "none", else (None, the scalar)."""
    if reduction == "none":
        g = as_operand(grad_output, dtype, "grad_output", allow_bool=False)
        try:
            return np.broadcast_to(g, loss_shape), None
        except ValueError:
            raise ValueError(
                f"grad_output: expected an array broadcastable to the loss's "
                f"shape {loss_shape} (reduction='none'), got shape {g.shape}"
            ) from None
    g = _asarray(grad_output, "grad_output")
    if g.shape != () or g.dtype.kind not in "fiu":
        raise ValueError(
            f"grad_output: expected a real scalar for reduction="
            f"{reduction!r}, got {describe(g)}"
        )
    return None, float(g)


class _Problem:
    """Validated inputs of one loss call, and the ways to run its kernel.

    Subclasses set: ``x`` (the kernel's input array), ``dtype``,
    ``reduction``, ``loss_shape``, ``empty_is_nan`` (see ``_mean``),
    ``n_threads``, ``inputs`` (every array the kernel reads), and implement
    ``_run`` and ``_checked``.
    """

    empty_is_nan = False

    def _run(self, want_rows, grad, upstream, scale):
        """Run the kernel: (per-element losses, empty unless want_rows; the
        loss summed over every element, in float64; the "mean" denominator;
        for class-index targets, which the kernel reads once and checks, their
        checksum and (first bad position or -1, the value read there); else
        None and None)."""
        raise NotImplementedError

    def _checked(self, fresh):
        """Before a gradient: (the "mean" denominator, None where the pass
        finds it itself; the targets' checksum, None where nothing was
        checked). ``fresh``: the gradient goes to a new buffer, so a refusal
        after the pass began would show nowhere."""
        raise NotImplementedError

    def _refuse(self, bad):
        """Raise the error of a bad target ``_run`` found, if any."""

    def _reduce(self, rows, total, denominator):
        if self.reduction == "none":
            return _scalar_if_0d(rows.reshape(self.loss_shape), None)
        return _reduced(total, self.reduction, denominator, self.dtype, self.empty_is_nan)

    def _upstream(self, grad_output):
        """(per-element upstream array, or None and the scalar grad_output)."""
        return _upstream(grad_output, self.reduction, self.loss_shape, self.dtype)

    def value(self):
        rows, total, denominator, _, bad = self._run(self.reduction == "none", None, None, 1.0)
        self._refuse(bad)
        return self._reduce(rows, total, denominator)

    def _gradient(self, buf, out, upstream, grad_output, want_rows):
        """The gradient's pass into buf: (rows, total, denominator)."""
        denominator, check = self._checked(is_fresh(buf, out))
        scale = 1.0
        if upstream is None:
            scale = _grad_scale(grad_output, self.reduction, denominator, self.empty_is_nan)
        rows, total, found, found_check, bad = self._run(want_rows, buf, upstream, scale)
        if check is not None and (bad[0] >= 0 or found_check != check):
            raise ValueError(
                "target: changed while the kernel read it (another thread wrote to the "
                "array during the call); the result is not defined"
            )
        self._refuse(bad)
        return rows, total, found if denominator is None else denominator

    def grad(self, grad_output, out):
        upstream, g = self._upstream(grad_output)
        buf = output_buffer(
            out, self.x.shape, self.dtype, inputs=self.inputs + (upstream,),
            in_place_of=self.x,
        )
        self._gradient(buf, out, upstream, g, False)
        return finish(buf, out)

    def value_and_grad(self, grad_output, out):
        upstream, g = self._upstream(grad_output)
        buf = output_buffer(out, self.x.shape, self.dtype, inputs=self.inputs + (upstream,),
                            in_place_of=self.x)
        rows, total, denominator = self._gradient(buf, out, upstream, g,
                                                  self.reduction == "none")
        return self._reduce(rows, total, denominator), finish(buf, out)

    def block_sum(self, grad_scale=None):
        """The summed loss in float64, and the gradient of that sum times
        ``grad_scale`` (None: no gradient), whatever the reduction (the block
        protocol of ``_Loss``)."""
        grad = None if grad_scale is None else np.empty(self.x.shape, self.dtype)
        _, total, _, _, bad = self._run(False, grad, None,
                                        1.0 if grad_scale is None else grad_scale)
        self._refuse(bad)
        return float(total), grad


class _ClassProblem(_Problem):
    """cross_entropy / nll_loss: a class axis, index or probability targets."""

    def __init__(self, input, target, weight, ignore_index, reduction,
                 label_smoothing, axis, num_threads, log_probs):
        x = as_float_array(input, "input")
        self.reduction = check_reduction(reduction)
        self.eps = check_label_smoothing(label_smoothing)
        self.ignore_index = check_ignore_index(ignore_index)
        if x.ndim == 0:
            raise ValueError(
                "input: expected an array with a class axis (at least 1-D), got a 0-d array"
            )
        ax = normalize_axis(axis, x.ndim)
        self.n_threads = resolve_num_threads(num_threads)
        self.x, self.dtype = x, x.dtype
        self.x3 = class_view(x, ax)
        n_classes = x.shape[ax]
        self.loss_shape = x.shape[:ax] + x.shape[ax + 1:]
        self.rows = self.x3.shape[0] * self.x3.shape[2]

        if weight is None:
            self.weight = np.ones(n_classes, self.dtype)
        else:
            self.weight = as_operand(weight, self.dtype, "weight", allow_bool=False)
            if self.weight.shape != (n_classes,):
                raise ValueError(
                    f"weight: expected one weight per class, shape ({n_classes},), "
                    f"got shape {self.weight.shape}"
                )

        t = _asarray(target, "target")
        if t.dtype.kind in "iu":
            if t.shape != self.loss_shape:
                raise ValueError(
                    f"target: expected class indices of shape {self.loss_shape} "
                    f"(the input's shape {x.shape} without axis {ax}), got shape {t.shape}"
                )
            self.mode = _kernels.NLL_INDEX if log_probs else _kernels.CE_INDEX
            # checked by the kernels as they read them (never before: another
            # thread could change them in between)
            self.targets = as_index_targets(t, "target").reshape(-1)
            self.prob = np.empty((0, 0, 0), self.dtype)
        elif t.dtype.kind == "f" and not log_probs:
            if t.shape != x.shape:
                error = TypeError if t.shape == self.loss_shape else ValueError
                raise error(
                    f"target: probability targets need the input's shape {x.shape}, "
                    f"got {describe(t)} (class indices need an integer dtype)"
                )
            check_no_ignore_index(self.ignore_index)
            self.mode = _kernels.CE_PROB
            self.targets = np.empty(0, np.int64)
            self.prob = as_operand(t, self.dtype, "target").reshape(self.x3.shape)
        else:
            what = "integer class indices" if log_probs else (
                "integer class indices or float class probabilities")
            raise TypeError(f"target: expected {what}, got {describe(t)}")
        self.inputs = (self.x, self.targets, self.prob, self.weight)
        self.empty_is_nan = _empty_is_nan(self.mode, self.eps)

    @property
    def _index(self):
        return self.mode != _kernels.CE_PROB

    def _rows_denominator(self):
        # torch: the mean of probability targets is over the rows, NaN when empty
        return self.rows if self.x.size else 0

    def _run(self, want_rows, grad, upstream, scale):
        rows = np.empty(self.rows if want_rows else 0, self.dtype)
        grad3 = (grad.reshape(self.x3.shape) if grad is not None
                 else np.empty((0, 0, 0), self.dtype))
        if upstream is None:
            upstream = np.broadcast_to(np.ones(1, self.dtype), (self.rows,))
        total, weight, check, *bad = _kernels.class_loss(
            self.mode, self.x3, self.targets, self.prob, self.weight,
            self.ignore_index, self.eps, rows, grad3, upstream.reshape(self.rows),
            scale, self.n_threads,
        )
        if not self._index:
            return rows, total, self._rows_denominator(), None, None
        return rows, total, weight, check, bad

    def _checked(self, fresh):
        if not self._index:
            return self._rows_denominator(), None
        if fresh and self.reduction != "mean":
            return None, None
        weight, check, *bad = _kernels.check_targets(
            self.mode, self.targets, self.weight, self.x3.shape[0], self.x3.shape[2],
            self.ignore_index, self.n_threads)
        self._refuse(bad)
        return weight, check

    def _refuse(self, bad):
        """The IndexError of the first bad target (position, value read), if any."""
        _refuse_target(bad, self.loss_shape, self.x3.shape[1], self.ignore_index)


def _refuse_target(bad, loss_shape, n_classes, ignore_index):
    """The IndexError of the first bad class-index target, if any: ``bad`` is
    (its flat position or -1, the value read there), as the kernels return."""
    if bad is None or bad[0] < 0:
        return
    raise IndexError(
        f"target: class index {bad[1]} at position "
        f"{position(bad[0], loss_shape)} is out of range for "
        f"{n_classes} classes (expected 0 <= target < {n_classes}, or "
        f"ignore_index={ignore_index})"
    )


class _BinaryProblem(_Problem):
    """Elementwise losses: BCE with logits, BCE on probabilities, MSE, L1,
    smooth L1, Huber, KL divergence. ``param``: smooth L1's beta or Huber's
    delta, checked; ``batch_mean``: the reduction is KL divergence's
    "batchmean", a mean over the length of the first axis (the sum for a
    0-d input, as torch's), not over the elements."""

    def __init__(self, mode, input, target, weight, pos_weight, reduction, num_threads,
                 param=1.0, batch_mean=False):
        x = as_float_array(input, "input")
        self.param = param
        self.denominator = (x.shape[0] if x.ndim else 1) if batch_mean else x.size
        self.reduction = "batchmean" if batch_mean else check_reduction(reduction)
        self.n_threads = resolve_num_threads(num_threads)
        self.mode, self.x, self.dtype = mode, x, x.dtype
        t = as_operand(target, self.dtype, "target")
        if t.shape != x.shape:
            raise ValueError(
                f"target: expected the input's shape {x.shape}, got shape {t.shape}"
            )
        cols = x.shape[-1] if x.ndim else 1
        n_rows = x.size // cols if cols else int(np.prod(x.shape[:-1]))
        self.shape2 = (n_rows, cols)
        self.x2, self.t2 = x.reshape(self.shape2), t.reshape(self.shape2)
        self.w2 = broadcast_operand(weight, x.shape, n_rows, cols, self.dtype, "weight")
        self.pw2 = broadcast_operand(
            pos_weight, x.shape, n_rows, cols, self.dtype, "pos_weight",
            hint=f" (one weight per class on the last axis: shape ({cols},))",
        )
        if mode == _kernels.BCE_PROB:
            for arr, name in ((x, "input"), (t, "target")):
                bad = _kernels.first_outside_unit(arr.reshape(-1), self.n_threads)
                if bad >= 0:
                    raise ValueError(
                        f"{name}: expected probabilities in [0, 1], got "
                        f"{arr.reshape(-1)[bad]} at position "
                        f"{position(bad, arr.shape)}"
                    )
        self.loss_shape = x.shape
        self.inputs = (self.x, self.t2, self.w2, self.pw2)

    def _run(self, want_rows, grad, upstream, scale):
        rows = np.empty(self.shape2 if want_rows else (0, 0), self.dtype)
        grad2 = (grad.reshape(self.shape2) if grad is not None
                 else np.empty((0, 0), self.dtype))
        if upstream is None:
            upstream = np.broadcast_to(np.ones((), self.dtype), self.shape2)
        total = _kernels.binary_loss(
            self.mode, self.x2, self.t2, self.w2, self.pw2, rows, grad2,
            upstream.reshape(self.shape2), scale, self.n_threads, self.param,
        )
        return rows, total, self.denominator, None, None

    def _checked(self, fresh):
        return self.denominator, None


# ----------------------------------------------------------- loss functions

@hide_parameters("dim")
def cross_entropy(input, target, *, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, axis=-1, num_threads=None, dim=NOT_GIVEN):
    """Cross-entropy between logits and class-index or probability targets.

    As ``torch.nn.functional.cross_entropy``, with the class axis given by
    ``axis`` (PyTorch's layout (N, C, d1, ..., dk) is ``axis=1``).

    Parameters
    ----------
    input : array_like of float32 or float64
        Logits, e.g. of shape (n_samples, n_classes). float16 is computed as
        float32, Python numbers as float64.
    target : array_like
        Integer class indices of ``input``'s shape without ``axis`` (any
        integer dtype), or float class probabilities of ``input``'s shape.
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Class-index targets equal to it contribute nothing (neither to the
        loss nor to the "mean" denominator, nor to the gradient); their
        logits are never read.
    reduction : {"mean", "sum", "none"}, default "mean"
        Index targets: "none" gives ``-w[y] log p[y]`` per element (0 where
        ignored); "mean" divides the sum by the sum of ``w[y]`` over the
        elements not ignored (NaN when there are none). Probability targets:
        ``-sum_c w_c t_c log p_c`` per element, "mean" divides by the number
        of elements (the rows), not by weights.
    label_smoothing : float in [0, 1], default 0.0
        Index targets: ``(1-eps) nll + (eps/C) smooth`` with
        ``smooth = -sum_c w_c log p_c`` (0 where ignored), both parts with the
        same "mean" denominator. Probability targets become
        ``t (1-eps) + eps/C``.
    axis : int, default -1
        The class axis of ``input``.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum" (summed in
        float64, the same for any ``num_threads``), else an array of the
        target's shape (index targets) or ``input``'s shape without ``axis``.

    Notes
    -----
    A row holding +inf or NaN, or all -inf, gives NaN; a -inf logit
    elsewhere is a masked class (probability 0, an infinite loss where it is
    the target). As torch, a zero probability target on a masked class gives NaN
    (0 * log 0).

    Examples
    --------
    >>> import fastloss
    >>> loss = fastloss.cross_entropy([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], [2, 1])
    >>> round(float(loss), 4)
    1.2753
    """
    if weight is None and _fast_threads(num_threads) and _last_axis(axis) and dim is NOT_GIVEN:
        result = _fast_class(_CE, input, target, None, ignore_index, label_smoothing,
                             reduction, _WANT_VALUE, 1.0)
        if result is not NotImplemented:
            return result
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    problem = _ClassProblem(input, target, weight, ignore_index, reduction,
                            label_smoothing, axis, num_threads, log_probs=False)
    return problem.value()


@hide_parameters("dim")
def nll_loss(input, target, *, weight=None, ignore_index=-100, reduction="mean",
             axis=-1, num_threads=None, dim=NOT_GIVEN):
    """Negative log-likelihood of log-probabilities at class-index targets.

    As ``torch.nn.functional.nll_loss``: ``-w[y] input[y]`` per element.

    Parameters
    ----------
    input : array_like of float32 or float64
        Log-probabilities, e.g. the output of :func:`log_softmax`, of shape
        (n_samples, n_classes). float16 is computed as float32.
    target : array_like of int
        Class indices of ``input``'s shape without ``axis``.
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing and are not counted by "mean".
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the sum of ``w[y]`` over non-ignored elements.
    axis : int, default -1
        The class axis of ``input``.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of the target's shape.

    Examples
    --------
    >>> import fastloss
    >>> float(fastloss.nll_loss([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], [2, 2]))
    -4.5
    """
    if weight is None and _fast_threads(num_threads) and _last_axis(axis) and dim is NOT_GIVEN:
        result = _fast_class(_NLL, input, target, None, ignore_index, 0.0, reduction,
                             _WANT_VALUE, 1.0)
        if result is not NotImplemented:
            return result
    if dim is not NOT_GIVEN:
        _refuse_dim(dim)
    problem = _ClassProblem(input, target, weight, ignore_index, reduction, 0.0,
                            axis, num_threads, log_probs=True)
    return problem.value()


def binary_cross_entropy_with_logits(input, target, *, weight=None, pos_weight=None,
                                     reduction="mean", num_threads=None):
    """Binary cross-entropy of logits: sigmoid and BCE in one stable formula.

    As ``torch.nn.functional.binary_cross_entropy_with_logits``: per element
    ``w ((1-t) x - (1 + (pw-1) t) logsigmoid(x))``, finite for any finite x.

    Parameters
    ----------
    input : array_like of float32 or float64
        Logits of any shape.
    target : array_like
        Targets in [0, 1] (soft targets allowed) of ``input``'s shape.
    weight : array_like, optional
        Weights broadcastable to ``input``'s shape (NumPy broadcasting).
    pos_weight : array_like, optional
        Weight of positive examples, one per class of the last axis (shape
        (n_classes,)), or any shape broadcastable to ``input``'s.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of ``input``'s shape.

    Examples
    --------
    >>> import fastloss
    >>> round(float(fastloss.binary_cross_entropy_with_logits([0.0], [1.0])), 4)
    0.6931
    """
    if weight is None and pos_weight is None and _fast_threads(num_threads):
        result = _fast_binary(_kernels.BCE_LOGITS, input, target, reduction, _WANT_VALUE, 1.0)
        if result is not NotImplemented:
            return result
    problem = _BinaryProblem(_kernels.BCE_LOGITS, input, target, weight, pos_weight,
                             reduction, num_threads)
    return problem.value()


def binary_cross_entropy(input, target, *, weight=None, reduction="mean",
                         num_threads=None):
    """Binary cross-entropy of probabilities.

    As ``torch.nn.functional.binary_cross_entropy``: per element
    ``-w (t log x + (1-t) log(1-x))`` with each log clamped at -100.

    Parameters
    ----------
    input : array_like of float32 or float64
        Probabilities in [0, 1] of any shape; anything else (NaN included)
        is a ValueError.
    target : array_like
        Targets in [0, 1] of ``input``'s shape (a ValueError otherwise, as
        torch).
    weight : array_like, optional
        Weights broadcastable to ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of ``input``'s shape.

    Examples
    --------
    >>> import fastloss
    >>> loss = fastloss.binary_cross_entropy([0.1582, 0.4139, 0.2287], [0, 1, 0])
    >>> round(float(loss), 5)
    0.43801
    """
    if weight is None and _fast_threads(num_threads):
        result = _fast_binary(_kernels.BCE_PROB, input, target, reduction, _WANT_VALUE, 1.0)
        if result is not NotImplemented:
            return result
    problem = _BinaryProblem(_kernels.BCE_PROB, input, target, weight, None,
                             reduction, num_threads)
    return problem.value()


def mse_loss(input, target, *, reduction="mean", num_threads=None):
    """Mean squared error ``(input - target)**2``.

    As ``torch.nn.functional.mse_loss``; the target must have the input's
    shape (torch's broadcasting with a warning is refused).

    Parameters
    ----------
    input : array_like of float32 or float64
        Predictions of any shape.
    target : array_like
        Targets of ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of ``input``'s shape.

    Examples
    --------
    >>> import fastloss
    >>> float(fastloss.mse_loss([1.0, 2.0], [1.0, 4.0]))
    2.0
    """
    if _fast_threads(num_threads):
        result = _fast_binary(_kernels.MSE, input, target, reduction, _WANT_VALUE, 1.0)
        if result is not NotImplemented:
            return result
    problem = _BinaryProblem(_kernels.MSE, input, target, None, None, reduction,
                             num_threads)
    return problem.value()


# ------------------------------------------ regression and divergence losses
#
# l1_loss, smooth_l1_loss, huber_loss and kl_div: elementwise losses without
# weights, modes of the elementwise kernel (binary_loss) like MSE, with a
# parameter (beta, delta) where they have one.

_KL_MODES = (_kernels.KL_DIV, _kernels.KL_DIV_LOG)


def _unweighted_problem(mode, input, target, reduction, num_threads, param=1.0):
    """The problem of an elementwise loss without weights; "batchmean" (KL
    divergence's only, its reduction checked by the caller) is the mean over
    the first axis."""
    return _BinaryProblem(mode, input, target, None, None, reduction, num_threads, param,
                          mode in _KL_MODES and reduction == "batchmean")


def _unweighted_value(mode, input, target, reduction, num_threads, param=1.0):
    """Its value: the fast path of a small call, else the general path."""
    if _fast_threads(num_threads):
        result = _fast_binary(mode, input, target, reduction, _WANT_VALUE, 1.0, param)
        if result is not NotImplemented:
            return result
    return _unweighted_problem(mode, input, target, reduction, num_threads, param).value()


def _smooth_l1_mode(beta):
    """(mode, parameter) of smooth L1 with a checked beta: beta 0 is L1 (torch)."""
    beta = check_threshold(beta, "beta", allow_zero=True)
    return (_kernels.L1, 1.0) if beta == 0.0 else (_kernels.SMOOTH_L1, beta)


def _kl_mode(reduction, log_target):
    check_kl_reduction(reduction)
    return _kernels.KL_DIV_LOG if check_flag(log_target, "log_target") else _kernels.KL_DIV


def l1_loss(input, target, *, reduction="mean", num_threads=None):
    """Mean absolute error ``|input - target|``.

    As ``torch.nn.functional.l1_loss``; the target must have the input's
    shape (torch's broadcasting with a warning is refused). The gradient is
    ``sign(input - target)``, torch's: 0 where ``input == target``, and 0
    where ``input - target`` is NaN (``torch.sign`` of NaN is 0).

    Parameters
    ----------
    input : array_like of float32 or float64
        Predictions of any shape.
    target : array_like
        Targets of ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of ``input``'s shape.

    Examples
    --------
    >>> import fastloss
    >>> float(fastloss.l1_loss([1.0, 2.0], [1.0, 4.0]))
    1.0
    """
    return _unweighted_value(_kernels.L1, input, target, reduction, num_threads)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0, num_threads=None):
    """Smooth L1 loss: quadratic below ``beta``, absolute error above.

    As ``torch.nn.functional.smooth_l1_loss``: with ``z = |input - target|``,
    ``0.5 z**2 / beta`` where ``z < beta``, else ``z - 0.5 beta``. ``beta=0``
    is :func:`l1_loss` (torch's special case, its gradient included). The
    gradient is torch's: -1 where ``input - target <= -beta``, 1 where it is
    ``>= beta``, ``(input - target) / beta`` between.

    Parameters
    ----------
    input : array_like of float32 or float64
        Predictions of any shape.
    target : array_like
        Targets of ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements.
    beta : float, default 1.0
        Where the loss changes from quadratic to linear; at least 0 (a
        negative beta is a ValueError, as torch raises); rounded to
        ``input``'s dtype, as torch.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of ``input``'s shape.

    Examples
    --------
    >>> import fastloss
    >>> float(fastloss.smooth_l1_loss([0.0, 3.0], [0.5, 0.0]))
    1.3125
    """
    mode, param = _smooth_l1_mode(beta)
    return _unweighted_value(mode, input, target, reduction, num_threads, param)


def huber_loss(input, target, *, reduction="mean", delta=1.0, num_threads=None):
    """Huber loss: quadratic below ``delta``, ``delta``-scaled absolute error above.

    As ``torch.nn.functional.huber_loss``: with ``z = |input - target|``,
    ``0.5 z**2`` where ``z < delta``, else ``delta (z - 0.5 delta)``; the
    gradient is ``input - target`` clipped to ``[-delta, delta]``.

    Parameters
    ----------
    input : array_like of float32 or float64
        Predictions of any shape.
    target : array_like
        Targets of ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements.
    delta : float, default 1.0
        Where the loss changes from quadratic to linear; greater than 0 (0,
        a negative delta or NaN is a ValueError, as torch raises); rounded
        to ``input``'s dtype, as torch.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of ``input``'s shape.

    Examples
    --------
    >>> import fastloss
    >>> float(fastloss.huber_loss([0.0, 3.0], [0.5, 0.0], delta=2.0))
    2.0625
    """
    param = check_threshold(delta, "delta", allow_zero=False)
    return _unweighted_value(_kernels.HUBER, input, target, reduction, num_threads, param)


def kl_div(input, target, *, reduction="mean", log_target=False, num_threads=None):
    """Kullback-Leibler divergence of log-probabilities from a target distribution.

    As ``torch.nn.functional.kl_div``: per element ``xlogy(t, t) - t x``
    for input ``x`` (log-probabilities) and target ``t`` (probabilities),
    where ``xlogy(t, t)`` is 0 at ``t = 0`` and ``t log t`` elsewhere (NaN
    for a NaN or negative ``t``, as torch); with ``log_target=True`` the
    target is given as log-probabilities and the term is
    ``exp(t) (t - x)``. The gradient with respect to ``input`` is ``-t``
    (``-exp(t)``). Values outside the distributions' ranges are not refused,
    as torch does not: they give what the formula gives.

    Parameters
    ----------
    input : array_like of float32 or float64
        Log-probabilities of any shape.
    target : array_like
        Probabilities (or log-probabilities, see ``log_target``) of
        ``input``'s shape.
    reduction : {"mean", "batchmean", "sum", "none"}, default "mean"
        "batchmean" divides the sum by ``input.shape[0]`` (the batch; a 0-d
        input gives the sum), the KL divergence's mean over a batch of
        distributions; "mean", torch's default, averages over all elements
        (torch warns that this is not the divergence's mean; fastloss does
        not warn).
    log_target : bool, default False
        Whether ``target`` holds log-probabilities.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean", "batchmean" and
        "sum", else an array of ``input``'s shape.

    Examples
    --------
    >>> import numpy as np, fastloss
    >>> loss = fastloss.kl_div(np.log([0.5, 0.5]), [0.25, 0.75], reduction="sum")
    >>> round(float(loss), 4)
    0.1308
    """
    mode = _kl_mode(reduction, log_target)
    return _unweighted_value(mode, input, target, reduction, num_threads)


# ------------------------------------------------------------- loss objects

_GRAD_DOC = """Gradient of the loss with respect to ``input``.

        Parameters
        ----------
        input, target : array_like
            As for the loss.
        grad_output : float or array_like, default 1.0
            The upstream gradient, as in torch's backward: a scalar for
            "mean" and "sum"; for "none", an array broadcastable to the
            loss's shape (a scalar meaning the gradient of ``c * loss.sum()``).
        out : ndarray, optional
            Array of ``input``'s shape and dtype to write into; may be
            ``input`` itself.

        Returns
        -------
        ndarray
            Of ``input``'s shape and dtype.

        Examples
        --------
        >>> import fastloss
        >>> fastloss.MSELoss().grad([1.0, 2.0], [1.0, 4.0]).tolist()
        [0.0, -2.0]
        """

_VALUE_AND_GRAD_DOC = """Loss and its gradient with respect to ``input``, in one pass.

        The gradient is :meth:`grad`'s for the same ``grad_output`` (for
        reduction "none" by default that of ``loss.sum()``); the loss does
        not depend on it.

        Parameters
        ----------
        input, target : array_like
            As for the loss.
        grad_output : float or array_like, default 1.0
            The upstream gradient, as for :meth:`grad`.
        out : ndarray, optional
            Array of ``input``'s shape and dtype for the gradient; may be
            ``input`` itself.

        Returns
        -------
        loss : scalar or ndarray
            As the loss function.
        grad : ndarray
            Of ``input``'s shape and dtype.

        Examples
        --------
        >>> import fastloss
        >>> loss, grad = fastloss.MSELoss().value_and_grad([1.0, 2.0], [1.0, 4.0])
        >>> float(loss), grad.tolist()
        (2.0, [0.0, -2.0])
        """


class _Loss:
    """A loss function with its options bound, and its gradient.

    The block protocol. A loss over an array split into blocks along its
    rows (``fastloss.dask``) is computed from the blocks through these
    methods, with the public attributes of the options (``reduction``,
    ``weight``, ``ignore_index``, ``axis``, ...):

    - ``_block_sum(input, target, grad_scale=None)``: a block's loss summed
      over its elements in float64, whatever the reduction, and with
      ``grad_scale`` the gradient of that sum times ``grad_scale`` (else
      None). The whole loss is the sum of the blocks' sums.
    - ``_denominator(shape, dtype, class_counts=None)``: the denominator of
      "mean" over an input of ``shape`` and (compute) ``dtype``: with
      class-index targets, the weight of the targets from
      ``class_counts[c]``, the number of targets of class c that are not
      ignored (``sum_c w_c count_c``, correctly rounded); else the number of
      rows (probability targets) or of elements.
    - ``_reduce_blocks(block_sums, denominator, dtype, index_targets)``: the value
      of "sum" or "mean" from the blocks' sums, added exactly (correctly
      rounded, in any order).
    - ``_grad_scale(grad_output, denominator, index_targets)``: the
      ``grad_scale`` that makes the blocks' gradients those of "sum" or
      "mean" (bitwise the in-memory ones for the same denominator).
    - ``_with_operands(**operands)``: elementwise losses: a copy whose
      per-element operands (``weight``, ``pos_weight``) are replaced, e.g. by
      a block's part of them.
    """

    _options = ()

    @hide_parameters("dim")
    def __call__(self, input, target, *, dim=NOT_GIVEN):
        if dim is NOT_GIVEN:
            result = self._fast(input, target, _WANT_VALUE, 1.0)
            if result is not NotImplemented:
                return result
        else:
            self._refuse_dim(dim)
        return self._problem(input, target).value()

    @hide_parameters("dim")
    def grad(self, input, target, *, grad_output=1.0, out=None, dim=NOT_GIVEN):
        if out is None and dim is NOT_GIVEN:
            result = self._fast(input, target, _WANT_GRAD, grad_output)
            if result is not NotImplemented:
                return result
        if dim is not NOT_GIVEN:
            self._refuse_dim(dim)
        return self._problem(input, target).grad(grad_output, out)

    @hide_parameters("dim")
    def value_and_grad(self, input, target, *, grad_output=1.0, out=None, dim=NOT_GIVEN):
        if out is None and dim is NOT_GIVEN:
            result = self._fast(input, target, _WANT_BOTH, grad_output)
            if result is not NotImplemented:
                return result
        if dim is not NOT_GIVEN:
            self._refuse_dim(dim)
        return self._problem(input, target).value_and_grad(grad_output, out)

    def _refuse_dim(self, dim):
        name = type(self).__name__
        if "axis" in self._options:
            instead = f"the class axis is an option of the loss object: {name}(axis={dim!r})"
        else:
            instead = f"{name} has no axis (its loss is elementwise)"
        refuse_torch_name("dim", dim, instead)

    grad.__doc__ = _GRAD_DOC
    value_and_grad.__doc__ = _VALUE_AND_GRAD_DOC

    def _problem(self, input, target):
        raise NotImplementedError

    def _fast(self, input, target, want, grad_output):
        """The fast path of a small call, or NotImplemented."""
        return NotImplemented

    def _mode(self, index_targets):
        raise NotImplementedError

    def _empty_is_nan(self, index_targets):
        return _empty_is_nan(self._mode(index_targets), getattr(self, "label_smoothing", 0.0))

    def _block_sum(self, input, target, grad_scale=None):
        return self._problem(input, target).block_sum(grad_scale)

    def _reduce_blocks(self, block_sums, denominator, dtype, index_targets):
        return _reduced(_exact_sum(block_sums), self.reduction, denominator, np.dtype(dtype),
                        self._empty_is_nan(index_targets))

    def _grad_scale(self, grad_output, denominator, index_targets):
        return _grad_scale(grad_output, self.reduction, denominator,
                           self._empty_is_nan(index_targets))

    def __repr__(self):
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._options)
        return f"{type(self).__name__}({args})"


class _ClassLoss(_Loss):
    """The losses with a class axis: cross-entropy and NLL."""

    def _denominator(self, shape, dtype, class_counts=None):
        if class_counts is None:           # probability targets: the rows
            if not math.prod(shape):
                return 0.0
            return float(math.prod(shape) // shape[normalize_axis(self.axis, len(shape))])
        weight = (np.ones(len(class_counts)) if self.weight is None
                  else np.asarray(self.weight, dtype).astype(np.float64))
        return _exact_sum([float(w) * float(n) for w, n in
                           zip(weight.tolist(), class_counts.tolist()) if n])


class _ElementwiseLoss(_Loss):
    """The elementwise losses: BCE with logits, BCE, MSE."""

    def _mode(self, index_targets):
        return None

    def _denominator(self, shape, dtype, class_counts=None):
        return float(math.prod(shape))

    def _with_operands(self, **operands):
        fn = copy.copy(self)
        for name, value in operands.items():
            if name in self._options:
                setattr(fn, name, value)
        return fn


def _weight_option(weight, allow_bool=True):
    """A loss object's weight option, as the functions take it (class weights:
    no bool arrays, as cross_entropy)."""
    if weight is None:
        return None
    return np.array(as_operand(weight, np.float64, "weight", allow_bool=allow_bool))


def _options_check(reduction, num_threads):
    check_reduction(reduction)
    if num_threads is not None:
        resolve_num_threads(num_threads)


class CrossEntropyLoss(_ClassLoss):
    """Cross-entropy loss with bound options; see :func:`cross_entropy`.

    Parameters
    ----------
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    label_smoothing : float in [0, 1], default 0.0
        Label smoothing, as :func:`cross_entropy`.
    axis : int, default -1
        The class axis of the input.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import numpy as np, fastloss
    >>> loss_fn = fastloss.CrossEntropyLoss()
    >>> x, y = np.array([[1.0, 2.0, 3.0]]), np.array([2])
    >>> loss, grad = loss_fn.value_and_grad(x, y)
    >>> round(float(loss), 4), grad.shape
    (0.4076, (1, 3))
    """

    _options = ("weight", "ignore_index", "reduction", "label_smoothing", "axis",
                "num_threads")

    @hide_parameters("dim")
    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0, axis=-1, num_threads=None,
                 dim=NOT_GIVEN):
        if dim is not NOT_GIVEN:
            _refuse_dim(dim)
        _options_check(reduction, num_threads)
        self.weight = _weight_option(weight, allow_bool=False)
        self.ignore_index = check_ignore_index(ignore_index)
        self.reduction = reduction
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.axis = axis
        self.num_threads = num_threads

    def _problem(self, input, target):
        return _ClassProblem(input, target, self.weight, self.ignore_index,
                             self.reduction, self.label_smoothing, self.axis,
                             self.num_threads, log_probs=False)

    def _mode(self, index_targets):
        return _kernels.CE_INDEX if index_targets else _kernels.CE_PROB

    def _fast(self, input, target, want, grad_output):
        if not (_fast_threads(self.num_threads) and _last_axis(self.axis)):
            return NotImplemented
        return _fast_class(_CE, input, target, self.weight, self.ignore_index,
                           self.label_smoothing, self.reduction, want, grad_output)


class NLLLoss(_ClassLoss):
    """Negative log-likelihood loss with bound options; see :func:`nll_loss`.

    Parameters
    ----------
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    axis : int, default -1
        The class axis of the input.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.NLLLoss(reduction="sum").grad([[-1.0, -0.5]], [1]).tolist()
    [[0.0, -1.0]]
    """

    _options = ("weight", "ignore_index", "reduction", "axis", "num_threads")

    @hide_parameters("dim")
    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean", axis=-1,
                 num_threads=None,
                 dim=NOT_GIVEN):
        if dim is not NOT_GIVEN:
            _refuse_dim(dim)
        _options_check(reduction, num_threads)
        self.weight = _weight_option(weight, allow_bool=False)
        self.ignore_index = check_ignore_index(ignore_index)
        self.reduction = reduction
        self.axis = axis
        self.num_threads = num_threads

    def _problem(self, input, target):
        return _ClassProblem(input, target, self.weight, self.ignore_index,
                             self.reduction, 0.0, self.axis, self.num_threads,
                             log_probs=True)

    def _mode(self, index_targets):
        return _kernels.NLL_INDEX

    def _fast(self, input, target, want, grad_output):
        if not (_fast_threads(self.num_threads) and _last_axis(self.axis)):
            return NotImplemented
        return _fast_class(_NLL, input, target, self.weight, self.ignore_index, 0.0,
                           self.reduction, want, grad_output)


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Binary cross-entropy with logits, with bound options.

    See :func:`binary_cross_entropy_with_logits`.

    Parameters
    ----------
    weight : array_like, optional
        Weights broadcastable to the input's shape.
    pos_weight : array_like, optional
        Weight of positive examples, one per class of the last axis.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.BCEWithLogitsLoss().grad([0.0, 0.0], [1.0, 0.0]).tolist()
    [-0.25, 0.25]
    """

    _options = ("weight", "pos_weight", "reduction", "num_threads")

    def __init__(self, weight=None, *, pos_weight=None, reduction="mean",
                 num_threads=None):
        _options_check(reduction, num_threads)
        self.weight = _weight_option(weight)
        self.pos_weight = None if pos_weight is None else np.array(
            as_operand(pos_weight, np.float64, "pos_weight"))
        self.reduction = reduction
        self.num_threads = num_threads

    def _problem(self, input, target):
        return _BinaryProblem(_kernels.BCE_LOGITS, input, target, self.weight,
                              self.pos_weight, self.reduction, self.num_threads)

    def _fast(self, input, target, want, grad_output):
        if self.weight is not None or self.pos_weight is not None or (
                not _fast_threads(self.num_threads)):
            return NotImplemented
        return _fast_binary(_kernels.BCE_LOGITS, input, target, self.reduction, want,
                            grad_output)


class BCELoss(_ElementwiseLoss):
    """Binary cross-entropy of probabilities, with bound options.

    See :func:`binary_cross_entropy`.

    Parameters
    ----------
    weight : array_like, optional
        Weights broadcastable to the input's shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.BCELoss(reduction="none")([0.5], [1.0]).round(4).tolist()
    [0.6931]
    """

    _options = ("weight", "reduction", "num_threads")

    def __init__(self, weight=None, *, reduction="mean", num_threads=None):
        _options_check(reduction, num_threads)
        self.weight = _weight_option(weight)
        self.reduction = reduction
        self.num_threads = num_threads

    def _problem(self, input, target):
        return _BinaryProblem(_kernels.BCE_PROB, input, target, self.weight, None,
                              self.reduction, self.num_threads)

    def _fast(self, input, target, want, grad_output):
        if self.weight is not None or not _fast_threads(self.num_threads):
            return NotImplemented
        return _fast_binary(_kernels.BCE_PROB, input, target, self.reduction, want,
                            grad_output)


class MSELoss(_ElementwiseLoss):
    """Mean squared error with bound options; see :func:`mse_loss`.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.MSELoss().grad([1.0, 2.0], [1.0, 4.0]).tolist()
    [0.0, -2.0]
    """

    _options = ("reduction", "num_threads")

    def __init__(self, *, reduction="mean", num_threads=None):
        _options_check(reduction, num_threads)
        self.reduction = reduction
        self.num_threads = num_threads

    def _problem(self, input, target):
        return _BinaryProblem(_kernels.MSE, input, target, None, None,
                              self.reduction, self.num_threads)

    def _fast(self, input, target, want, grad_output):
        if not _fast_threads(self.num_threads):
            return NotImplemented
        return _fast_binary(_kernels.MSE, input, target, self.reduction, want, grad_output)


class _UnweightedLoss(_ElementwiseLoss):
    """The loss objects of l1_loss, smooth_l1_loss, huber_loss and kl_div:
    ``_kernel_mode()`` gives the kernel's mode and parameter of the options
    (the attributes, checked at each call: they may be set after
    construction, as ``reduction``)."""

    def _kernel_mode(self):
        raise NotImplementedError

    def _problem(self, input, target):
        mode, param = self._kernel_mode()
        return _unweighted_problem(mode, input, target, self.reduction, self.num_threads,
                                   param)

    def _fast(self, input, target, want, grad_output):
        if not _fast_threads(self.num_threads):
            return NotImplemented
        mode, param = self._kernel_mode()
        return _fast_binary(mode, input, target, self.reduction, want, grad_output, param)


class L1Loss(_UnweightedLoss):
    """Mean absolute error with bound options; see :func:`l1_loss`.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.L1Loss().grad([1.0, 2.0, 5.0], [1.0, 4.0, 4.0]).tolist()
    [0.0, -0.3333333333333333, 0.3333333333333333]
    """

    _options = ("reduction", "num_threads")

    def __init__(self, *, reduction="mean", num_threads=None):
        _options_check(reduction, num_threads)
        self.reduction = reduction
        self.num_threads = num_threads

    def _kernel_mode(self):
        return _kernels.L1, 1.0


class SmoothL1Loss(_UnweightedLoss):
    """Smooth L1 loss with bound options; see :func:`smooth_l1_loss`.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    beta : float, default 1.0
        Where the loss changes from quadratic to linear; at least 0.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.SmoothL1Loss(beta=2.0, reduction="sum").grad([0.0, 3.0], [1.0, 0.0]).tolist()
    [-0.5, 1.0]
    """

    _options = ("reduction", "beta", "num_threads")

    def __init__(self, *, reduction="mean", beta=1.0, num_threads=None):
        _options_check(reduction, num_threads)
        self.beta = check_threshold(beta, "beta", allow_zero=True)
        self.reduction = reduction
        self.num_threads = num_threads

    def _kernel_mode(self):
        return _smooth_l1_mode(self.beta)


class HuberLoss(_UnweightedLoss):
    """Huber loss with bound options; see :func:`huber_loss`.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-element losses are reduced.
    delta : float, default 1.0
        Where the loss changes from quadratic to linear; greater than 0.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.HuberLoss(delta=2.0, reduction="sum").grad([0.0, 3.0], [1.0, 0.0]).tolist()
    [-1.0, 2.0]
    """

    _options = ("reduction", "delta", "num_threads")

    def __init__(self, *, reduction="mean", delta=1.0, num_threads=None):
        _options_check(reduction, num_threads)
        self.delta = check_threshold(delta, "delta", allow_zero=False)
        self.reduction = reduction
        self.num_threads = num_threads

    def _kernel_mode(self):
        return _kernels.HUBER, check_threshold(self.delta, "delta", allow_zero=False)


class KLDivLoss(_UnweightedLoss):
    """Kullback-Leibler divergence with bound options; see :func:`kl_div`.

    Parameters
    ----------
    reduction : {"mean", "batchmean", "sum", "none"}, default "mean"
        How the per-element losses are reduced; "batchmean" divides the sum
        by the input's first dimension.
    log_target : bool, default False
        Whether the target holds log-probabilities.
    num_threads : int, optional
        Threads to use; default :func:`fastloss.get_num_threads`.

    Examples
    --------
    >>> import numpy as np, fastloss
    >>> loss_fn = fastloss.KLDivLoss(reduction="batchmean")
    >>> loss, grad = loss_fn.value_and_grad(np.log([[0.5, 0.5]]), [[0.25, 0.75]])
    >>> round(float(loss), 4), grad.tolist()
    (0.1308, [[-0.25, -0.75]])
    """

    _options = ("reduction", "log_target", "num_threads")

    def __init__(self, *, reduction="mean", log_target=False, num_threads=None):
        _kl_mode(reduction, log_target)
        if num_threads is not None:
            resolve_num_threads(num_threads)
        self.reduction = reduction
        self.log_target = bool(log_target)
        self.num_threads = num_threads

    def _kernel_mode(self):
        return _kl_mode(self.reduction, self.log_target), 1.0

    def _denominator(self, shape, dtype, class_counts=None):
        if self.reduction == "batchmean":          # the first axis (0-d: the sum)
            return float(shape[0]) if shape else 1.0
        return super()._denominator(shape, dtype, class_counts)


# ------------------------------------------- linear layer + cross-entropy
#
# linear_cross_entropy never holds the (N, V) logits: rows go through in
# blocks, each block's logits computed by one BLAS product into a buffer
# reused by every block, the fused cross-entropy kernel writing its gradient
# in place of them, and the block's gradients taken from that by two more
# products. The "mean" denominator (and the check of every target) comes
# first, from the targets alone, so that each block's gradient has its
# final scale.

# The default block: as many rows as keep its logits within 0.09 of the
# whole logits' bytes but within [1, 2] x this many bytes (rounded down to a
# multiple of 16 rows from 16 rows up), at least one row. Larger blocks run
# the products faster (4,096 x 1,024 x 32,000 float32: 3.03 s in blocks of
# 256 rows, 2.94 s of 368), and 0.09 stays below the 0.1 of the logits that
# a call may add to memory.
_LINEAR_BLOCK_BYTES = 32 * 2**20
_LINEAR_BLOCK_SHARE = 0.09
# grad_linear_weight += g.T @ x without SciPy's BLAS: through a buffer of
# at most this many bytes (a slice of the classes at a time).
_ACCUMULATE_BYTES = 2 * 2**20
_NO_PROB = {np.dtype(t): np.empty((0, 0, 0), t) for t in (np.float32, np.float64)}


# Many classes: where a default block would have fewer than this many rows,
# the blocks are _LINEAR_TILE_ROWS rows (all, if fewer) whose logits are
# taken a tile of classes at a time (a default block's bytes of them), in two
# passes: 4 products instead of 3, but each over all the rows of a block,
# where BLAS on a block of few rows streams the whole weight for little work.
# Measured (value_and_grad, 2 threads): 1,024 x 1,024 x 128,000 float32 (64-row
# blocks) 4.3 s in tiles against 5.4 s; 4,096 x 1,024 x 32,000 float64
# (128-row blocks) 7.7 s in tiles against 6.4 s.
_LINEAR_TILE_BELOW = 128
_LINEAR_TILE_ROWS = 1024


def _linear_block_bytes(n_rows, n_classes, itemsize):
    """The bytes of a default block's (or tile's) logits."""
    share = int(_LINEAR_BLOCK_SHARE * n_rows * n_classes * itemsize)
    return min(2 * _LINEAR_BLOCK_BYTES, max(_LINEAR_BLOCK_BYTES, share))


def _linear_tiles(chunk_size, n_rows, n_classes, itemsize):
    """(rows of a block, classes of a tile) of the class-tiled order, or None
    for row blocks (an explicit ``chunk_size``, or few classes)."""
    if chunk_size is not None:
        return None
    size = _linear_block_bytes(n_rows, n_classes, itemsize)
    rows = size // max(1, n_classes * itemsize)
    if rows >= _LINEAR_TILE_BELOW or rows >= n_rows:
        return None
    rows = min(n_rows, _LINEAR_TILE_ROWS)
    width = size // (rows * itemsize)
    return rows, min(n_classes, max(16, width - width % 16))


def _linear_chunk(chunk_size, n_rows, n_classes, itemsize):
    """The rows of a block: ``chunk_size``, or the default rule above."""
    if chunk_size is not None:
        return chunk_size
    rows = _linear_block_bytes(n_rows, n_classes, itemsize) // max(1, n_classes * itemsize)
    if rows >= 16:
        rows -= rows % 16
    return max(1, min(rows, n_rows))


@functools.cache
def _scipy_gemm(dtype):
    """SciPy's BLAS gemm for ``dtype``, or None without SciPy (an optional
    dependency): it adds a product into its output (beta=1), which NumPy's
    matmul cannot."""
    try:
        from scipy.linalg.blas import get_blas_funcs
    except ImportError:
        return None
    return get_blas_funcs("gemm", dtype=dtype)


class _Products:
    """The three matrix products of a block, all through one BLAS: SciPy's
    gemm when SciPy is installed, else NumPy's matmul. NumPy and SciPy each
    bundle their own OpenBLAS, with a thread pool each whose workers spin a
    while after a call: taking turns, the two pools ran 3 threads on 2 cores
    and the products took 1.4x their time (CPU time 2.15 s against 1.52 s,
    on 1,024 x 1,024 x 32,000 float32 in 256-row blocks)."""

    def __init__(self, dtype):
        self.gemm = _scipy_gemm(dtype)

    def logits(self, xb, w, z):
        """``z = xb @ w.T``: ``xb`` (m, D), ``w`` (V, D), ``z`` (m, V)."""
        if self.gemm is None:
            np.matmul(xb, w.T, out=z)
        else:       # in Fortran order z.T (V, m) is w (V, D) @ xb.T (D, m)
            self._into(z.T, self.gemm(1.0, w.T, xb.T, c=z.T, trans_a=1, overwrite_c=1))

    def input_grad(self, g, w, out, first=True):
        """``out = g @ w`` (``out += g @ w`` unless ``first``): ``g`` (m, V),
        ``out`` (m, D)."""
        if self.gemm is None:
            if first:
                np.matmul(g, w, out=out)
            else:
                out += g @ w
        else:       # out.T (D, m) is w.T (D, V) @ g.T (V, m)
            self._into(out.T, self.gemm(1.0, w.T, g.T, beta=0.0 if first else 1.0, c=out.T,
                                        overwrite_c=1))

    def add_weight_grad(self, c, g, x, first):
        """``c += g.T @ x`` (``c = g.T @ x`` when ``first``) without a temporary
        of ``c``'s size: ``c`` (V, D) C-contiguous, ``g`` (m, V), ``x`` (m, D)."""
        if first and self.gemm is None:
            np.matmul(g.T, x, out=c)
            return
        if not c.size:
            return
        if self.gemm is not None:
            # in Fortran order c.T (D, V) is x.T (D, m) @ g (m, V) + c.T
            self._into(c.T, self.gemm(1.0, x.T, g.T, beta=0.0 if first else 1.0, c=c.T,
                                      trans_b=1, overwrite_c=1))
            return
        step = max(1, _ACCUMULATE_BYTES // (c.shape[1] * c.itemsize))
        part = np.empty((min(step, c.shape[0]), c.shape[1]), c.dtype)
        for v0 in range(0, c.shape[0], step):
            v1 = min(c.shape[0], v0 + step)
            np.matmul(g[:, v0:v1].T, x, out=part[:v1 - v0])
            c[v0:v1] += part[:v1 - v0]

    @staticmethod
    def _into(c, result):
        """gemm wrote ``c`` in place (the Fortran-ordered view of a C-contiguous
        block: no copies), or returned a copy."""
        if not np.shares_memory(result, c):      # pragma: no cover - a copying wrapper
            c[...] = result


class _LinearProblem:
    """Validated inputs of one linear_cross_entropy call: every argument
    checked, and every target (with the "mean" denominator taken), before
    any product."""

    def __init__(self, input, linear_weight, target, linear_bias, weight, ignore_index,
                 reduction, label_smoothing, chunk_size, num_threads):
        self.reduction = check_reduction(reduction)
        self.eps = check_label_smoothing(label_smoothing)
        self.ignore_index = check_ignore_index(ignore_index)
        chunk_size = check_chunk_size(chunk_size)
        self.n_threads = resolve_num_threads(num_threads)
        x = as_float_array(input, "input")
        if x.ndim != 2:
            raise ValueError(
                f"input: expected a 2-D array of shape (n_samples, n_features), got "
                f"{describe(x)}"
            )
        n_rows, n_features = x.shape
        w = self._operand(linear_weight, "linear_weight", x.dtype)
        if w.ndim != 2 or w.shape[1] != n_features:
            raise ValueError(
                f"linear_weight: expected shape (n_classes, {n_features}), one row of "
                f"the input's {n_features} features per class (input has shape "
                f"{x.shape}), got shape {w.shape}"
            )
        n_classes = w.shape[0]
        b = None
        if linear_bias is not None:
            b = self._operand(linear_bias, "linear_bias", x.dtype)
            if b.shape != (n_classes,):
                raise ValueError(
                    f"linear_bias: expected shape ({n_classes},), one per class "
                    f"(linear_weight has shape {w.shape}), got shape {b.shape}"
                )
        if weight is None:
            class_weight = np.ones(n_classes, x.dtype)
        else:
            class_weight = as_operand(weight, x.dtype, "weight", allow_bool=False)
            if class_weight.shape != (n_classes,):
                raise ValueError(
                    f"weight: expected one weight per class, shape ({n_classes},), "
                    f"got shape {class_weight.shape}"
                )
        t = _asarray(target, "target")
        if t.dtype.kind not in "iu":
            raise TypeError(f"target: expected integer class indices, got {describe(t)}")
        if t.shape != (n_rows,):
            raise ValueError(
                f"target: expected class indices of shape ({n_rows},), one per row of "
                f"the input (shape {x.shape}), got shape {t.shape}"
            )
        targets = as_index_targets(t, "target")
        # a private copy: the blocks read the targets checked here, whatever
        # another thread does to the caller's array meanwhile
        self.targets = targets.copy() if targets is t or np.shares_memory(targets, t) \
            else targets
        denominator, _, *bad = _kernels.check_targets(
            _CE, self.targets, class_weight, n_rows, 1, self.ignore_index, self.n_threads)
        _refuse_target(bad, (n_rows,), n_classes, self.ignore_index)
        self.denominator = denominator
        self.x, self.w, self.b, self.weight, self.dtype = x, w, b, class_weight, x.dtype
        self.chunk = _linear_chunk(chunk_size, n_rows, n_classes, x.dtype.itemsize)
        self.tiles = _linear_tiles(chunk_size, n_rows, n_classes, x.dtype.itemsize)
        self.empty_is_nan = _empty_is_nan(_CE, self.eps)

    @staticmethod
    def _operand(value, name, dtype):
        arr = as_float_array(value, name)
        if arr.dtype != dtype:
            raise TypeError(
                f"{name}: expected the input's dtype {dtype}, got {describe(arr)}"
            )
        return arr

    def _pass(self, want_grad, scale, per_row, input_grad=True, upstream=None):
        """The pass over the blocks: (their float64 sums; with ``want_grad``
        the gradients of the summed loss times ``scale``: the input's, the
        weight's, and the bias' in float64 or None). ``per_row``: an (N,)
        array for the per-row losses, or an empty one; ``upstream``: an (N,)
        array of the rows' upstream gradients, None for ones."""
        x, w, b, dtype = self.x, self.w, self.b, self.dtype
        (n_rows, n_features), n_classes = x.shape, w.shape[0]
        grads = None
        if want_grad:
            grads = (np.empty((n_rows, n_features) if input_grad else (0, 0), dtype),
                     np.zeros((n_classes, n_features), dtype),
                     None if b is None else np.zeros(n_classes, np.float64))
        products = _Products(dtype)
        if self.tiles is not None:
            return self._tiled_pass(products, grads, scale, per_row, input_grad, upstream)
        rows = self.chunk
        logits = np.empty((min(rows, n_rows), n_classes), dtype)
        ones = np.broadcast_to(np.ones(1, dtype), (logits.shape[0],))
        no_grad = _NO_PROB[dtype]
        totals = []
        for start in range(0, n_rows, rows):
            stop = min(n_rows, start + rows)
            xb, z = x[start:stop], logits[:stop - start]
            products.logits(xb, w, z)
            if b is not None:
                z += b
            z3 = z.reshape(z.shape[0], n_classes, 1)
            total = _kernels.class_loss(
                _CE, z3, self.targets[start:stop], no_grad, self.weight,
                self.ignore_index, self.eps, per_row[start:stop] if per_row.size else
                per_row, z3 if want_grad else no_grad,
                ones[:z.shape[0]] if upstream is None else upstream[start:stop], scale,
                self.n_threads,
            )[0]
            totals.append(total)
            if grads is not None:          # z now holds the gradient of the logits
                if input_grad:
                    products.input_grad(z, w, grads[0][start:stop])
                products.add_weight_grad(grads[1], z, xb, first=start == 0)
                if grads[2] is not None:
                    np.add(grads[2], np.add.reduce(z, axis=0, dtype=np.float64),
                           out=grads[2])
        return totals, grads

    def _tiled_pass(self, products, grads, scale, per_row, input_grad, upstream):
        """_pass in the class-tiled order (see _linear_tiles): for each block of
        rows, the logits of each tile of classes for the statistics of the
        rows (lce_tile_stats, combined by lce_tile_finish), then, with
        gradients, each tile's logits again (but the last tile's, still in
        the buffer), their gradient in place (lce_tile_grad) and the tile's
        part of the three gradients."""
        x, w, b, dtype, k = self.x, self.w, self.b, self.dtype, _kernels
        (n_rows, _), n_classes = x.shape, w.shape[0]
        rows, width = self.tiles
        bounds = [(c0, min(n_classes, c0 + width)) for c0 in range(0, n_classes, width)]
        buffer = np.empty(rows * width, dtype)
        unit_w, w_total = k.lce_weight_facts(self.weight, self.eps)
        tile_w = np.array([np.add.reduce(self.weight[c0:c1], dtype=np.float64)
                           for c0, c1 in bounds])
        st = np.empty((rows, len(bounds), 3))
        zy = np.empty(rows)
        ones = np.broadcast_to(np.ones(1, dtype), (rows,))
        common = (self.ignore_index, self.eps)
        totals = []

        def tile_logits(xb, c0, c1):
            z = buffer[:xb.shape[0] * (c1 - c0)].reshape(xb.shape[0], c1 - c0)
            products.logits(xb, w[c0:c1], z)
            if b is not None:
                z += b[c0:c1]
            return z

        for start in range(0, n_rows, rows):
            stop = min(n_rows, start + rows)
            xb, yb, m = x[start:stop], self.targets[start:stop], stop - start
            row_st = np.empty((3, m))
            for tile, (c0, c1) in enumerate(bounds):
                k.lce_tile_stats(tile_logits(xb, c0, c1), c0, yb, self.weight, unit_w,
                                 self.eps, st[:m], tile, zy[:m], self.n_threads)
            totals.append(k.lce_tile_finish(
                st[:m], tile_w, zy[:m], yb, self.weight, w_total, *common,
                per_row[start:stop] if per_row.size else per_row, row_st))
            if grads is None:
                continue
            up = ones[:m] if upstream is None else upstream[start:stop]
            # the tiles backwards: the last one's logits are still in the buffer
            for c0, c1 in reversed(bounds):
                z = buffer[:m * (c1 - c0)].reshape(m, c1 - c0) if c1 == n_classes \
                    else tile_logits(xb, c0, c1)
                k.lce_tile_grad(z, c0, yb, self.weight, unit_w, w_total, *common,
                                row_st, up, scale, self.n_threads)
                if input_grad:
                    products.input_grad(z, w[c0:c1], grads[0][start:stop],
                                        first=c1 == n_classes)
                products.add_weight_grad(grads[1][c0:c1], z, xb, first=start == 0)
                if grads[2] is not None:
                    grads[2][c0:c1] += np.add.reduce(z, axis=0, dtype=np.float64)
        return totals, grads

    def run(self, want_grad, input_grad=True, bias_dtype=None, grad_output=1.0):
        """(the loss, and with ``want_grad`` the gradients (input, linear_weight,
        linear_bias or None) of the reduced loss times ``grad_output`` (as a
        loss object's grad); without ``input_grad`` the input's is None, its
        product skipped; the bias' in ``bias_dtype``, by default the input's)."""
        scale, upstream = 1.0, None
        if want_grad:
            upstream, g = _upstream(grad_output, self.reduction, (self.x.shape[0],),
                                    self.dtype)
            if upstream is None:
                scale = _grad_scale(g, self.reduction, self.denominator, self.empty_is_nan)
        per_row = np.empty(self.x.shape[0] if self.reduction == "none" else 0, self.dtype)
        totals, grads = self._pass(want_grad, scale, per_row, input_grad, upstream)
        if self.reduction == "none":
            loss = per_row
        else:
            loss = _reduced(_exact_sum(totals), self.reduction, self.denominator, self.dtype,
                            self.empty_is_nan)
        if grads is None:
            return loss
        grad_b = None if grads[2] is None else grads[2].astype(bias_dtype or self.dtype)
        return loss, (grads[0] if input_grad else None, grads[1], grad_b)

    def block_sum(self, grad_scale=None):
        """The block protocol (see LinearCrossEntropyLoss): the summed loss in
        float64, and the gradients of that sum times ``grad_scale`` (None: no
        gradients; the bias' in float64), whatever the reduction."""
        totals, grads = self._pass(grad_scale is not None,
                                   1.0 if grad_scale is None else grad_scale,
                                   np.empty(0, self.dtype))
        return float(_exact_sum(totals)), grads


_LINEAR_PARAMETERS = """    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing (nor to the "mean"
        denominator, nor to any gradient).
    reduction : {"mean", "sum", "none"}, default "mean"
        As :func:`cross_entropy`: "mean" divides the sum by the sum of
        ``w[y]`` over the targets not ignored, of the whole call.
    label_smoothing : float in [0, 1], default 0.0
        As :func:`cross_entropy`.
    chunk_size : int, optional
        Rows per block. Default: as many as keep a block's logits within
        B = 0.09 of the whole logits' bytes, but between 32 and 64 MiB
        (``B // (n_classes * itemsize)`` rows, rounded down to a multiple
        of 16 from 16 up), at least 1; where that is fewer than 128 rows and
        fewer than ``n_samples`` (many classes), blocks of 1,024 rows (all,
        if fewer) whose logits are taken B bytes of classes at a time, in
        two passes (see Notes).
    num_threads : int, optional
        Threads of the cross-entropy kernel; default
        :func:`fastloss.get_num_threads`. The matrix products run on SciPy's
        BLAS when SciPy is installed (it can add a product into the weight's
        gradient), else on NumPy's, with that BLAS's own thread settings."""


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         ignore_index=-100, reduction="mean", label_smoothing=0.0,
                         chunk_size=None, num_threads=None):
    return _LinearProblem(input, linear_weight, target, linear_bias, weight, ignore_index,
                          reduction, label_smoothing, chunk_size, num_threads).run(False)


linear_cross_entropy.__doc__ = f"""Cross-entropy of a linear layer's logits, computed in row blocks.

    ``cross_entropy(input @ linear_weight.T + linear_bias, target, ...)``,
    computed in blocks of rows: each block's logits by one matrix product
    into one buffer reused by every block, then the fused cross-entropy
    kernel on them. Memory beyond the inputs and the gradients is one block's
    logits (see ``chunk_size``), never the (n_samples, n_classes) array; an
    input or weight that is not C-contiguous (a Fortran-ordered array, a
    transposed view) is first copied to C order.

    Parameters
    ----------
    input : array_like of float32 or float64
        Array of shape (n_samples, n_features), the layer's input.
    linear_weight : array_like
        Array of shape (n_classes, n_features), the layer's weight (the
        layout of ``torch.nn.Linear.weight``), of ``input``'s dtype.
    target : array_like of int
        Array of shape (n_samples,), class indices (any integer dtype).
    linear_bias : array_like, optional
        Array of shape (n_classes,), the layer's bias, of ``input``'s dtype.
{_LINEAR_PARAMETERS}

    Returns
    -------
    scalar or ndarray
        A NumPy scalar of ``input``'s dtype for "mean" and "sum", else an
        array of shape (n_samples,).

    Notes
    -----
    Every target is checked (an IndexError as :func:`cross_entropy`'s) and
    the "mean" denominator taken, bitwise that of :func:`cross_entropy` on
    the full logits, before any product. Each row's loss is the kernel's on
    that row's logits, so the only dependence on ``chunk_size`` is BLAS's
    rounding of the products (which may differ with the number of rows of
    a product); the blocks' float64 sums are added correctly rounded
    (``math.fsum``), and the cross-entropy kernel gives the same bits for
    any ``num_threads``. Class-index targets only: probability targets are
    refused.

    With many classes and the default ``chunk_size``, a block's logits are
    taken one tile of classes at a time, over all the block's rows: a first
    pass combines the tiles' maxima and sums of exponentials into each
    row's (as :func:`cross_entropy` does for the pieces of a long row), a
    second recomputes each tile's logits and takes its part of the three
    gradients. That is four products instead of three, but on blocks of
    many rows, which BLAS runs far faster than blocks of few rows that
    each stream the whole weight. The results differ from those of row
    blocks only by rounding (the products', and the order in which a row's
    sum of exponentials is added).

    Examples
    --------
    >>> import numpy as np, fastloss
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> loss = fastloss.linear_cross_entropy(x, w, [0, 2], linear_bias=[0.0, 0.0, 0.5])
    >>> round(float(loss), 4)
    0.8541
    """


class LinearCrossEntropyLoss:
    __doc__ = f"""A linear layer and cross-entropy with bound options.

    See :func:`linear_cross_entropy`.

    Parameters
    ----------
{_LINEAR_PARAMETERS}

    Examples
    --------
    >>> import numpy as np, fastloss
    >>> x, w = np.array([[1.0, 0.0], [0.0, 1.0]]), np.eye(2)
    >>> loss, (gx, gw, gb) = fastloss.LinearCrossEntropyLoss().value_and_grad(x, w, [0, 1])
    >>> round(float(loss), 4), gx.shape, gw.shape, gb
    (0.3133, (2, 2), (2, 2), None)
    """

    _options = ("weight", "ignore_index", "reduction", "label_smoothing", "chunk_size",
                "num_threads")

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0, chunk_size=None, num_threads=None):
        _options_check(reduction, num_threads)
        self.weight = _weight_option(weight, allow_bool=False)
        self.ignore_index = check_ignore_index(ignore_index)
        self.reduction = reduction
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.chunk_size = check_chunk_size(chunk_size)
        self.num_threads = num_threads

    def _problem(self, input, linear_weight, target, linear_bias):
        return _LinearProblem(input, linear_weight, target, linear_bias, self.weight,
                              self.ignore_index, self.reduction, self.label_smoothing,
                              self.chunk_size, self.num_threads)

    def __call__(self, input, linear_weight, target, linear_bias=None):
        return self._problem(input, linear_weight, target, linear_bias).run(False)

    def value_and_grad(self, input, linear_weight, target, linear_bias=None, *,
                       grad_output=1.0):
        return self._problem(input, linear_weight, target, linear_bias).run(
            True, grad_output=grad_output)

    __repr__ = _Loss.__repr__

    # The block protocol (fastloss.dask): a call over row blocks of the input
    # and target, with the weight and bias whole, is the fsum of the blocks'
    # _block_sum, over _ce_loss()'s _denominator for "mean"; the gradients
    # are the blocks' with _ce_loss()'s _grad_scale, the weight's and bias'
    # summed over the blocks.

    def _block_sum(self, input, linear_weight, target, linear_bias=None, grad_scale=None):
        return self._problem(input, linear_weight, target, linear_bias).block_sum(grad_scale)

    def _value_and_layer_grads(self, input, linear_weight, target, linear_bias=None):
        """value_and_grad without the input's gradient (None), for a model
        whose input is data (fastloss.estimators); the bias' gradient in
        float64, as the estimators' unfused objective keeps its column sums."""
        return self._problem(input, linear_weight, target, linear_bias).run(
            True, False, bias_dtype=np.float64)

    def _ce_loss(self):
        """The CrossEntropyLoss of the same options, for the denominator and
        the scales of "mean"."""
        return CrossEntropyLoss(self.weight, ignore_index=self.ignore_index,
                                reduction=self.reduction,
                                label_smoothing=self.label_smoothing,
                                num_threads=self.num_threads)


_LINEAR_ARRAYS = """input : array_like of float32 or float64
            Array of shape (n_samples, n_features).
        linear_weight : array_like
            Array of shape (n_classes, n_features), of ``input``'s dtype.
        target : array_like of int
            Array of shape (n_samples,), class indices.
        linear_bias : array_like, optional
            Array of shape (n_classes,), of ``input``'s dtype."""

LinearCrossEntropyLoss.__call__.__doc__ = f"""The loss; see :func:`linear_cross_entropy`.

        Parameters
        ----------
        {_LINEAR_ARRAYS}

        Returns
        -------
        scalar or ndarray
            As :func:`linear_cross_entropy`.

        Examples
        --------
        >>> import numpy as np, fastloss
        >>> loss_fn = fastloss.LinearCrossEntropyLoss(reduction="sum")
        >>> float(loss_fn(np.zeros((2, 3)), np.zeros((4, 3)), [0, 3]).round(4))
        2.7726
        """
LinearCrossEntropyLoss.value_and_grad.__doc__ = f"""The loss and its gradients, in one pass.

        The gradients of the loss times ``grad_output``; for reduction
        "none", by default, those of ``loss.sum()``.

        Parameters
        ----------
        {_LINEAR_ARRAYS}
        grad_output : float or array_like, default 1.0
            The upstream gradient, as in torch's backward: a scalar for
            "mean" and "sum"; for "none", an array broadcastable to
            (n_samples,) (a scalar c giving the gradients of ``c * loss.sum()``).

        Returns
        -------
        loss : scalar or ndarray
            As :func:`linear_cross_entropy`; it does not depend on
            ``grad_output``.
        grads : tuple of (ndarray, ndarray, ndarray or None)
            The gradients with respect to ``input``, ``linear_weight`` and
            ``linear_bias`` (None without a bias), of their shapes, in
            ``input``'s dtype; the weight's (and bias') are summed over the
            blocks in their order.

        Examples
        --------
        >>> import numpy as np, fastloss
        >>> loss_fn = fastloss.LinearCrossEntropyLoss()
        >>> x, w, b = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(4)
        >>> loss, (gx, gw, gb) = loss_fn.value_and_grad(x, w, [0, 3], b)
        >>> round(float(loss), 4), gb.tolist()
        (1.3863, [-0.25, 0.25, 0.25, -0.25])
        """
