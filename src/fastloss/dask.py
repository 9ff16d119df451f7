"""fastloss on dask arrays: losses, gradients and softmax beyond one machine.

Every function takes dask arrays (or anything ``dask.array.asarray``
accepts) and returns dask arrays, to be computed by any dask scheduler, a
``dask.distributed`` cluster included. Each block is computed by the
in-memory fastloss kernels. An input may be chunked along any axis except
the class axis, which must be one chunk (a ``ValueError`` says so);
targets, weights and ``grad_output`` are rechunked to match the input.

Reductions are exact across blocks: each block contributes its loss summed
in float64, and the blocks' sums are added with ``math.fsum`` (correctly
rounded, in any order). "mean" is that total divided by the denominator
over all blocks, never a mean of the blocks' means: for class-index targets
``sum_c w_c * count_c``, with ``count_c`` the exact number of targets of
class c not ignored, over all blocks; else the number of rows or elements.
The gradient of "mean" needs that global denominator, so it is a two-stage
graph: the targets' class counts first (a pass over the targets only), then
the gradient blocks.

Bitwise agreement with the in-memory functions, for any chunking:

- elementwise results are always bitwise the same: ``softmax``,
  ``log_softmax``, ``logsumexp``, losses with ``reduction="none"``, and
  gradients with "none" or "sum";
- gradients with "mean" are bitwise the same when the denominator is an
  exact count: no class weights or integer-valued ones, probability
  targets, and the elementwise losses; with other class weights the
  in-memory denominator is a running float64 sum of ``w[y]``, which can
  differ from the one here by its accumulation error (relative ~1e-14);
- reduced values ("sum", "mean") are bitwise the same when the input is one
  block (for "mean", with an exact denominator as above); over several
  blocks they differ from the in-memory value by the in-memory float64
  accumulation error (the kernels add rows in order within fixed blocks of
  rows): relative ~1e-14 in float64, at most one rounding in float32.

The module needs dask and distributed, which fastloss does not install by
default: ``pip install "dask[array]>=2024.1" "distributed>=2024.1"``, or from
the root of a checkout of fastloss, ``pip install ".[dask]"`` (fastloss is not
on the package index).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, TypeVar, Union, cast, overload

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:                     # pragma: no cover - tested in a subprocess
    raise ImportError(
        f"fastloss.dask needs dask ({exc}); install it with: "
        'pip install "dask[array]>=2024.1" "distributed>=2024.1" '
        '(or, from the root of a checkout of fastloss: pip install ".[dask]")'
    ) from exc

from . import _api
from ._validation import (
    NOT_GIVEN,
    check_no_ignore_index,
    check_real,
    check_reduction,
    hide_parameters,
    normalize_axis,
)

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "mse_loss",
    "linear_cross_entropy",
    "value",
    "grad",
    "value_and_grad",
]

Loss = Union[_api.CrossEntropyLoss, _api.NLLLoss, _api.BCEWithLogitsLoss,
             _api.BCELoss, _api.MSELoss]
_Reduction = Literal["mean", "sum", "none"]
_CLASS_LOSSES = (_api.CrossEntropyLoss, _api.NLLLoss)
_BINARY_LOSSES = (_api.BCEWithLogitsLoss, _api.BCELoss, _api.MSELoss)


_F = TypeVar("_F", bound=Callable[..., Any])


def _hide_dim(fn: _F) -> _F:
    """The hidden keyword ``dim`` of PyTorch users (see fastloss._api): out of
    the signature, refused with the axis= to give."""
    return cast(_F, hide_parameters("dim")(fn))


def _refuse_method_dim(loss_fn: Any, dim: Any) -> None:
    """dim= given with a loss object: the loss method's TypeError."""
    if dim is not NOT_GIVEN:
        if not hasattr(loss_fn, "_refuse_dim"):
            raise TypeError(f"dim: not a fastloss parameter (PyTorch's name); "
                            f"{type(loss_fn).__name__} has no axis option, got dim={dim!r}")
        loss_fn._refuse_dim(dim)


def _refuse_dim(dim: Any) -> None:
    if dim is not NOT_GIVEN:
        _api._refuse_dim(dim)


# ------------------------------------------------------------ inputs

def _describe(arr: da.Array) -> str:
    return f"dask array of dtype {arr.dtype} and shape {arr.shape}"


def _float_input(value: Any, name: str) -> tuple[da.Array, np.dtype]:
    """The input as a dask array with known chunks, and its compute dtype."""
    arr = da.asarray(value)
    dtype: np.dtype[Any]
    if arr.dtype.kind == "f" and arr.dtype.itemsize in (2, 4, 8):
        dtype = np.dtype(np.float32 if arr.dtype.itemsize <= 4 else np.float64)
    elif arr.dtype.kind in "iu" and not isinstance(value, (np.ndarray, da.Array)):
        arr, dtype = arr.astype(np.float64), np.dtype(np.float64)
    else:
        raise TypeError(
            f"{name}: expected a float32 or float64 array (float16 is computed as "
            f"float32), got {_describe(arr)}"
        )
    _known_chunks(arr, name)
    return arr, dtype


def _known_chunks(arr: da.Array, name: str) -> None:
    if any(math.isnan(c) for dim in arr.chunks for c in dim):
        raise ValueError(
            f"{name}: expected known chunk sizes, got unknown (NaN) ones; call "
            f"{name}.compute_chunk_sizes() first"
        )


def _one_chunk(arr: da.Array, axis: int, name: str) -> None:
    if len(arr.chunks[axis]) > 1:
        raise ValueError(
            f"{name}: the class axis (axis {axis}, length {arr.shape[axis]}) must be a "
            f"single chunk, got chunks {arr.chunks[axis]}; rechunk it first, e.g. "
            f"{name}.rechunk({{{axis}: -1}})"
        )


def _offsets(chunks: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """Where each block starts, in the order of np.ndindex over the blocks."""
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int) for c in chunks]
    return [tuple(int(starts[d][i]) for d, i in enumerate(index))
            for index in np.ndindex(*[len(c) for c in chunks])]


def _blocks(arr: da.Array) -> list[Any]:
    """The blocks of arr as Delayed objects, in the order of np.ndindex."""
    return list(arr.to_delayed().ravel())


def _assemble(pieces: list[Any], chunks: tuple[tuple[int, ...], ...],
              dtype: np.dtype) -> da.Array:
    """A dask array from Delayed blocks (np.ndindex order) of the given chunks."""
    numblocks = tuple(len(c) for c in chunks)
    arrays = [
        da.from_delayed(piece, shape=tuple(chunks[d][i] for d, i in enumerate(index)),
                        dtype=dtype, meta=np.empty((0,) * len(chunks), dtype))
        for piece, index in zip(pieces, np.ndindex(*numblocks))
    ]
    if not numblocks:
        return arrays[0]
    nested = np.empty(numblocks, dtype=object)
    for array, index in zip(arrays, np.ndindex(*numblocks)):
        nested[index] = array
    return da.block(nested.tolist())


# ------------------------------------------------------- softmax family

def _class_axis(x: da.Array, axis: int | None, name: str) -> int | None:
    if axis is None:                 # every element is a class of one row
        for ax in range(x.ndim):
            _one_chunk(x, ax, name)
        return None
    ax = int(normalize_axis(axis, x.ndim))
    _one_chunk(x, ax, name)
    return ax


@_hide_dim
def logsumexp(x: Any, axis: int | None = -1, *, keepdims: bool = False,
              num_threads: int | None = None, dim: Any = NOT_GIVEN) -> da.Array:
    """Log of the sum of exponentials along the class axis, block by block.

    As :func:`fastloss.logsumexp`, on each block; bitwise the same as in
    memory.

    Parameters
    ----------
    x : dask array or array_like of float32 or float64
        Input; its ``axis`` must be a single chunk.
    axis : int or None, default -1
        The axis to reduce; None reduces over all elements (then ``x`` must
        be a single block).
    keepdims : bool, default False
        Keep the reduced axis with length 1.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        ``x``'s shape without ``axis``, in ``x``'s dtype (float16 gives
        float32).

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.from_array([[0.0, 0.0], [1000.0, 1000.0]], chunks=(1, 2))
    >>> fastloss.dask.logsumexp(x).compute().tolist()
    [0.6931471805599453, 1000.6931471805599]
    """
    _refuse_dim(dim)
    arr, dtype = _float_input(x, "x")
    ax = _class_axis(arr, axis, "x")
    if ax is None:
        out = dask.delayed(_api.logsumexp)(_blocks(arr)[0], axis=None, keepdims=keepdims,
                                           num_threads=num_threads)
        return da.from_delayed(out, shape=(1,) * arr.ndim if keepdims else (),
                               dtype=dtype)
    if keepdims:
        return arr.map_blocks(_api.logsumexp, axis=ax, keepdims=True,
                              num_threads=num_threads, dtype=dtype,
                              chunks=arr.chunks[:ax] + ((1,),) + arr.chunks[ax + 1:])
    return arr.map_blocks(_api.logsumexp, axis=ax, num_threads=num_threads, dtype=dtype,
                          drop_axis=ax)


def _softmax(kernel: Callable[..., Any], x: Any, axis: int | None,
             num_threads: int | None) -> da.Array:
    arr, dtype = _float_input(x, "x")
    ax = _class_axis(arr, axis, "x")
    return arr.map_blocks(kernel, axis=ax, num_threads=num_threads, dtype=dtype)


@_hide_dim
def softmax(x: Any, axis: int | None = -1, *,
            num_threads: int | None = None, dim: Any = NOT_GIVEN) -> da.Array:
    """Softmax along the class axis, block by block.

    As :func:`fastloss.softmax` on each block; bitwise the same as in memory.

    Parameters
    ----------
    x : dask array or array_like of float32 or float64
        Input; its ``axis`` must be a single chunk.
    axis : int or None, default -1
        The class axis; None normalizes over all elements (then ``x`` must
        be a single block).
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        Same shape and chunks as ``x``, in ``x``'s dtype.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.from_array([[2.0, 1.0, 0.1], [0.0, 0.0, 0.0]], chunks=(1, 3))
    >>> fastloss.dask.softmax(x).compute().round(4).tolist()
    [[0.659, 0.2424, 0.0986], [0.3333, 0.3333, 0.3333]]
    """
    _refuse_dim(dim)
    return _softmax(_api.softmax, x, axis, num_threads)


@_hide_dim
def log_softmax(x: Any, axis: int | None = -1, *,
                num_threads: int | None = None, dim: Any = NOT_GIVEN) -> da.Array:
    """Log-softmax along the class axis, block by block.

    As :func:`fastloss.log_softmax` on each block; bitwise the same as in
    memory.

    Parameters
    ----------
    x : dask array or array_like of float32 or float64
        Input; its ``axis`` must be a single chunk.
    axis : int or None, default -1
        The class axis; None normalizes over all elements (then ``x`` must
        be a single block).
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        Same shape and chunks as ``x``, in ``x``'s dtype.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.zeros((4, 2), chunks=(2, 2))
    >>> fastloss.dask.log_softmax(x).compute().round(4).tolist()[0]
    [-0.6931, -0.6931]
    """
    _refuse_dim(dim)
    return _softmax(_api.log_softmax, x, axis, num_threads)


# ----------------------------------------------------------- the plan

class _Plan:
    """One loss on dask arrays: the aligned blocks and how to combine them.

    ``operands`` are lists of Delayed blocks, one per block of the input, in
    the order of np.ndindex over the input's blocks; ``loss_chunks`` are the
    chunks of the per-element loss; ``denominator`` is a Delayed float (or a
    float) of "mean".
    """

    def __init__(self, loss_fn: Loss, input: Any, target: Any,
                 weight: Any = None, pos_weight: Any = None) -> None:
        if not isinstance(loss_fn, _CLASS_LOSSES + _BINARY_LOSSES):
            raise TypeError(
                "loss_fn: expected a fastloss loss object (CrossEntropyLoss, NLLLoss, "
                f"BCEWithLogitsLoss, BCELoss or MSELoss), got {type(loss_fn).__name__}"
            )
        self.loss_fn = loss_fn
        self.reduction = check_reduction(loss_fn.reduction)
        x, self.dtype = _float_input(input, "input")
        self.x = x
        self.offsets = _offsets(x.chunks)
        if isinstance(loss_fn, _CLASS_LOSSES):
            self._class_targets(loss_fn, x, target)
        else:
            self._binary_operands(x, target, weight, pos_weight)

    # -- class-axis losses: cross_entropy, nll_loss

    def _class_targets(self, loss_fn: Any, x: da.Array, target: Any) -> None:
        if x.ndim == 0:
            raise ValueError(
                "input: expected an array with a class axis (at least 1-D), got a 0-d array"
            )
        ax = normalize_axis(loss_fn.axis, x.ndim)
        _one_chunk(x, ax, "input")
        n_classes = x.shape[ax]
        t = da.asarray(target)
        loss_shape = x.shape[:ax] + x.shape[ax + 1:]
        self.loss_chunks = x.chunks[:ax] + x.chunks[ax + 1:]
        self.blockwise_extras: list[list[Any]] = []
        self.index_targets = t.dtype.kind in "iu"
        if t.dtype.kind in "iu":
            if t.shape != loss_shape:
                raise ValueError(
                    f"target: expected class indices of shape {loss_shape} (the input's "
                    f"shape {x.shape} without axis {ax}), got shape {t.shape}"
                )
            t = t.rechunk(self.loss_chunks)
            blocks = _blocks(t)
            counts = [
                dask.delayed(_class_counts)(block, n_classes, loss_fn.ignore_index, offset)
                for block, offset in zip(blocks, _offsets(self.loss_chunks))
            ]
            self.denominator: Any = dask.delayed(_index_denominator)(
                loss_fn, x.shape, self.dtype, counts)
        elif t.dtype.kind == "f" and isinstance(loss_fn, _api.CrossEntropyLoss):
            if t.shape != x.shape:
                error = TypeError if t.shape == loss_shape else ValueError
                raise error(
                    f"target: probability targets need the input's shape {x.shape}, "
                    f"got {_describe(t)} (class indices need an integer dtype)"
                )
            check_no_ignore_index(loss_fn.ignore_index)
            t = t.rechunk(x.chunks)
            blocks = _blocks(t)
            self.denominator = loss_fn._denominator(x.shape, self.dtype)
        else:
            what = ("integer class indices" if isinstance(loss_fn, _api.NLLLoss) else
                    "integer class indices or float class probabilities")
            raise TypeError(f"target: expected {what}, got {_describe(t)}")
        self.targets = blocks

    # -- elementwise losses: BCE with logits, BCE, MSE

    def _binary_operands(self, x: da.Array, target: Any, weight: Any,
                         pos_weight: Any) -> None:
        t = da.asarray(target)
        if t.shape != x.shape:
            raise ValueError(f"target: expected the input's shape {x.shape}, got shape "
                             f"{t.shape}")
        self.loss_chunks = x.chunks
        self.targets = _blocks(t.rechunk(x.chunks))
        self.blockwise_extras = [
            self._broadcast_blocks(value, name)
            for value, name in ((weight, "weight"), (pos_weight, "pos_weight"))
        ]
        self.denominator = self.loss_fn._denominator(x.shape, self.dtype)
        self.index_targets = False

    def _broadcast_blocks(self, value: Any, name: str) -> list[Any]:
        """Blocks of an operand broadcast against the input (None: Nones)."""
        if value is None:
            return [None] * len(self.offsets)
        arr = da.asarray(value)
        x = self.x
        try:
            ok = np.broadcast_shapes(arr.shape, x.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{name}: expected an array broadcastable to the input's "
                             f"shape {x.shape}, got shape {arr.shape}")
        arr = arr.reshape((1,) * (x.ndim - arr.ndim) + arr.shape)
        chunks = tuple((1,) if n == 1 else c for n, c in zip(arr.shape, x.chunks))
        blocks = arr.rechunk(chunks).to_delayed()
        # a block of the input at (i, j, ...) takes the operand's block there,
        # or its only block along a broadcast (length 1) axis
        return [blocks[tuple(0 if n == 1 else i for n, i in zip(arr.shape, index))]
                for index in np.ndindex(*x.numblocks)]

    def _input_blocks(self) -> list[Any]:
        return _blocks(self.x)

    # -- the graphs

    def _calls(self, what: str, scale: Any, grad_outputs: list[Any] | None) -> list[Any]:
        """One Delayed call of _block per input block."""
        extras = self.blockwise_extras or [[None] * len(self.offsets)] * 2
        grad_outputs = grad_outputs or [None] * len(self.offsets)
        return [
            dask.delayed(_block, pure=True)(self.loss_fn, what, self.reduction, scale,
                                            x, t, w, pw, g, offset)
            for x, t, w, pw, g, offset in zip(self._input_blocks(), self.targets, *extras,
                                               grad_outputs, self.offsets)
        ]

    def _total(self, sums: list[Any]) -> da.Array:
        total = dask.delayed(self.loss_fn._reduce_blocks)(sums, self.denominator, self.dtype,
                                                          self.index_targets)
        return da.from_delayed(total, shape=(), dtype=self.dtype)

    def _mean_scale(self, grad_output: float) -> Any:
        if self.reduction == "sum":
            return grad_output
        return dask.delayed(self.loss_fn._grad_scale)(grad_output, self.denominator,
                                                      self.index_targets)

    def value(self) -> da.Array:
        if self.reduction == "none":
            return _assemble(self._calls("none", None, None), self.loss_chunks, self.dtype)
        return self._total([call[0] for call in self._calls("sum", None, None)])

    def grad(self, grad_output: Any) -> da.Array:
        if self.reduction == "none":
            g = da.broadcast_to(da.asarray(grad_output), tuple(map(sum, self.loss_chunks)))
            calls = self._calls("grad_none", None, _blocks(g.rechunk(self.loss_chunks)))
            return _assemble(calls, self.x.chunks, self.dtype)
        scale = self._mean_scale(_scalar_grad_output(grad_output, self.reduction))
        calls = self._calls("sum", scale, None)
        return _assemble([call[1] for call in calls], self.x.chunks, self.dtype)

    def value_and_grad(self) -> tuple[da.Array, da.Array]:
        if self.reduction == "none":
            calls = self._calls("value_and_grad_none", None, None)
            return (_assemble([c[0] for c in calls], self.loss_chunks, self.dtype),
                    _assemble([c[1] for c in calls], self.x.chunks, self.dtype))
        calls = self._calls("sum", self._mean_scale(1.0), None)
        return (self._total([c[0] for c in calls]),
                _assemble([c[1] for c in calls], self.x.chunks, self.dtype))


def _scalar_grad_output(grad_output: Any, reduction: str) -> float:
    g = np.asarray(grad_output)
    if g.shape != () or g.dtype.kind not in "fiu":
        raise ValueError(f"grad_output: expected a real scalar for reduction="
                         f"{reduction!r}, got {g.dtype} array of shape {g.shape}")
    return float(g)


# ------------------------------------------------ what runs on a worker

def _class_counts(target: np.ndarray, n_classes: int, ignore_index: int,
                  offset: tuple[int, ...]) -> np.ndarray:
    """Per-class counts of a block of class-index targets, ignored ones left out."""
    kept = target[target != ignore_index]
    bad = (kept < 0) | (kept >= n_classes)
    if bad.any():
        flat = np.flatnonzero((target != ignore_index).reshape(-1))[np.argmax(bad)]
        where = tuple(int(i) + o for i, o in zip(np.unravel_index(flat, target.shape),
                                                 offset))
        raise IndexError(
            f"target: class index {kept[np.argmax(bad)]} at position {where} is out of "
            f"range for {n_classes} classes (expected 0 <= target < {n_classes}, or "
            f"ignore_index={ignore_index})"
        )
    return np.bincount(kept.astype(np.intp), minlength=n_classes)


def _index_denominator(loss_fn: Any, shape: tuple[int, ...], dtype: np.dtype,
                       counts: list[np.ndarray]) -> float:
    """The denominator of "mean" for class-index targets, from the blocks'
    class counts (the loss object's block protocol)."""
    total = np.zeros(len(counts[0]) if counts else 0, np.int64)
    for count in counts:
        total += count
    return float(loss_fn._denominator(shape, dtype, total))


def _block(loss_fn: Any, what: str, reduction: str, scale: Any, x: np.ndarray,
           t: np.ndarray, weight: Any, pos_weight: Any, grad_output: Any,
           offset: tuple[int, ...]) -> Any:
    """One block's share: see _Plan."""
    fn: Any = loss_fn
    if isinstance(loss_fn, _BINARY_LOSSES):
        fn = loss_fn._with_operands(weight=weight, pos_weight=pos_weight)
    try:
        if what == "none":
            return fn(x, t)
        if what == "grad_none":
            return fn.grad(x, t, grad_output=grad_output)
        if what == "value_and_grad_none":
            return fn.value_and_grad(x, t)
        return fn._block_sum(x, t, scale)
    except (ValueError, IndexError) as exc:
        if isinstance(exc, IndexError) and isinstance(fn, _CLASS_LOSSES):
            # the refusal of the targets' pass, which names the global position
            n_classes = x.shape[normalize_axis(fn.axis, x.ndim)]
            _class_counts(np.asarray(t), n_classes, fn.ignore_index, offset)
        raise type(exc)(f"{exc} (in the block at offset {offset} of the dask "
                        "array)") from None


# ------------------------------------------------------------ public

@_hide_dim
def value(loss_fn: Loss, input: Any, target: Any, *, dim: Any = NOT_GIVEN) -> da.Array:
    """The loss ``loss_fn(input, target)`` of dask arrays.

    Parameters
    ----------
    loss_fn : CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss, BCELoss or MSELoss
        A fastloss loss object; its options (weights, reduction, ...) apply.
    input : dask array or array_like of float32 or float64
        As for ``loss_fn``; any chunking except along the class axis.
    target : dask array or array_like
        As for ``loss_fn``; rechunked to match ``input``.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum" (exact across blocks, see the module's
        notes), else the per-element losses, chunked as ``input`` without
        the class axis.

    Examples
    --------
    >>> import dask.array as da, fastloss, fastloss.dask
    >>> x = da.from_array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], chunks=(1, 3))
    >>> y = da.from_array([2, 1], chunks=1)
    >>> loss = fastloss.dask.value(fastloss.CrossEntropyLoss(), x, y)
    >>> round(float(loss.compute()), 4)
    1.2753
    """
    _refuse_method_dim(loss_fn, dim)
    return _Plan(loss_fn, input, target, *_bound_weights(loss_fn)).value()


@_hide_dim
def grad(loss_fn: Loss, input: Any, target: Any, *, grad_output: Any = 1.0,
         dim: Any = NOT_GIVEN) -> da.Array:
    """The gradient ``loss_fn.grad(input, target)`` of dask arrays.

    For "mean" it is a two-stage graph: the denominator over all blocks
    first, then the gradient blocks.

    Parameters
    ----------
    loss_fn : CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss, BCELoss or MSELoss
        A fastloss loss object; its options apply.
    input : dask array or array_like of float32 or float64
        As for ``loss_fn``; any chunking except along the class axis.
    target : dask array or array_like
        As for ``loss_fn``; rechunked to match ``input``.
    grad_output : float or array_like, default 1.0
        The upstream gradient: a scalar for "mean" and "sum"; for "none",
        an array (dask or not) broadcastable to the loss's shape.

    Returns
    -------
    dask.array.Array
        Of ``input``'s shape, chunks and dtype.

    Examples
    --------
    >>> import dask.array as da, fastloss, fastloss.dask
    >>> x = da.from_array([[0.0, 0.0], [0.0, 0.0]], chunks=(1, 2))
    >>> fastloss.dask.grad(fastloss.CrossEntropyLoss(), x, [0, 1]).compute().tolist()
    [[-0.25, 0.25], [0.25, -0.25]]
    """
    _refuse_method_dim(loss_fn, dim)
    return _Plan(loss_fn, input, target, *_bound_weights(loss_fn)).grad(grad_output)


@overload
def value_and_grad(loss_fn: Loss, input: Any, target: Any) -> tuple[da.Array, da.Array]: ...
@overload
def value_and_grad(loss_fn: _api.LinearCrossEntropyLoss, input: Any, target: Any, *,
                   linear_weight: Any, linear_bias: Any = None,
                   ) -> tuple[da.Array, tuple[da.Array, da.Array, da.Array | None]]: ...
@_hide_dim
def value_and_grad(loss_fn: Any, input: Any, target: Any, *, linear_weight: Any = None,
                   linear_bias: Any = None, dim: Any = NOT_GIVEN) -> Any:
    """The loss and its gradient of dask arrays, from one pass over the blocks.

    Compute both together (``dask.compute(loss, grad)``) so that each block
    is read once.

    Parameters
    ----------
    loss_fn : fastloss loss object
        CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss, BCELoss, MSELoss or
        LinearCrossEntropyLoss; its options apply.
    input : dask array or array_like of float32 or float64
        As for ``loss_fn``; any chunking except along the class axis (for
        :class:`~fastloss.LinearCrossEntropyLoss`, rows only: the features
        one chunk).
    target : dask array or array_like
        As for ``loss_fn``; rechunked to match ``input``.
    linear_weight : array_like, optional
        With :class:`~fastloss.LinearCrossEntropyLoss` (only): the layer's
        weight, an in-memory array of shape (n_classes, n_features).
    linear_bias : array_like, optional
        With :class:`~fastloss.LinearCrossEntropyLoss`: the layer's bias, in
        memory, of shape (n_classes,).

    Returns
    -------
    loss : dask.array.Array
        As :func:`value`.
    grad : dask.array.Array, or a tuple of them
        As :func:`grad` (for "none", the gradient of ``loss.sum()``). With
        :class:`~fastloss.LinearCrossEntropyLoss`: (grad_input, chunked as
        ``input``; grad_linear_weight and grad_linear_bias (None without a
        bias), each one block, summed over the input's blocks in their
        order).

    Examples
    --------
    >>> import dask, dask.array as da, fastloss, fastloss.dask
    >>> x = da.from_array([[1.0, 2.0], [2.0, 4.0]], chunks=(1, 2))
    >>> t = da.from_array([[1.0, 2.0], [2.0, 3.0]], chunks=(1, 2))
    >>> loss, g = dask.compute(*fastloss.dask.value_and_grad(fastloss.MSELoss(), x, t))
    >>> float(loss), g.tolist()
    (0.25, [[0.0, 0.0], [0.0, 0.5]])
    """
    _refuse_method_dim(loss_fn, dim)
    if isinstance(loss_fn, _api.LinearCrossEntropyLoss):
        return _LinearPlan(loss_fn, input, target, linear_weight, linear_bias).value_and_grad()
    if linear_weight is not None or linear_bias is not None:
        raise TypeError(
            f"linear_weight, linear_bias: only with a LinearCrossEntropyLoss, got a "
            f"{type(loss_fn).__name__}"
        )
    return _Plan(loss_fn, input, target, *_bound_weights(loss_fn)).value_and_grad()


def _bound_weights(loss_fn: Any) -> tuple[Any, Any]:
    """The elementwise losses' weights, sliced per block (class weights are not)."""
    if isinstance(loss_fn, _BINARY_LOSSES):
        return getattr(loss_fn, "weight", None), getattr(loss_fn, "pos_weight", None)
    return None, None


@_hide_dim
def cross_entropy(input: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
                  reduction: _Reduction = "mean", label_smoothing: float = 0.0, axis: int = -1,
                  num_threads: int | None = None, dim: Any = NOT_GIVEN) -> da.Array:
    """Cross-entropy of dask arrays; see :func:`fastloss.cross_entropy`.

    Parameters
    ----------
    input : dask array or array_like of float32 or float64
        Logits; the class axis ``axis`` must be one chunk.
    target : dask array or array_like
        Class indices (integers) of ``input``'s shape without ``axis``, or
        probabilities of ``input``'s shape.
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Index targets equal to it contribute nothing and are not counted.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" is the sum over all blocks divided by ``sum w[y]`` over all
        blocks.
    label_smoothing : float in [0, 1], default 0.0
        As :func:`fastloss.cross_entropy`.
    axis : int, default -1
        The class axis of ``input``.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum", else the per-element losses.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.from_array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], chunks=(1, 3))
    >>> loss = fastloss.dask.cross_entropy(x, da.from_array([2, 1], chunks=1))
    >>> round(float(loss.compute()), 4)
    1.2753
    """
    _refuse_dim(dim)
    loss_fn = _api.CrossEntropyLoss(weight, ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=label_smoothing, axis=axis,
                                    num_threads=num_threads)
    return value(loss_fn, input, target)


@_hide_dim
def nll_loss(input: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
             reduction: _Reduction = "mean", axis: int = -1,
             num_threads: int | None = None, dim: Any = NOT_GIVEN) -> da.Array:
    """Negative log-likelihood of dask arrays; see :func:`fastloss.nll_loss`.

    Parameters
    ----------
    input : dask array or array_like of float32 or float64
        Log-probabilities; the class axis ``axis`` must be one chunk.
    target : dask array or array_like of int
        Class indices of ``input``'s shape without ``axis``.
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing and are not counted.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by ``sum w[y]`` over all blocks.
    axis : int, default -1
        The class axis of ``input``.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum", else the per-element losses.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.from_array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], chunks=(1, 3))
    >>> float(fastloss.dask.nll_loss(x, [2, 2]).compute())
    -4.5
    """
    _refuse_dim(dim)
    loss_fn = _api.NLLLoss(weight, ignore_index=ignore_index, reduction=reduction,
                           axis=axis, num_threads=num_threads)
    return value(loss_fn, input, target)


def binary_cross_entropy_with_logits(
        input: Any, target: Any, *, weight: Any = None, pos_weight: Any = None,
        reduction: _Reduction = "mean", num_threads: int | None = None) -> da.Array:
    """Binary cross-entropy of logits, of dask arrays.

    See :func:`fastloss.binary_cross_entropy_with_logits`.

    Parameters
    ----------
    input : dask array or array_like of float32 or float64
        Logits, chunked in any way.
    target : dask array or array_like
        Targets in [0, 1] of ``input``'s shape.
    weight : dask array or array_like, optional
        Weights broadcastable to ``input``'s shape, e.g. one per sample.
    pos_weight : dask array or array_like, optional
        Weight of positive examples, broadcastable to ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements of all blocks.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum", else the per-element losses.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.zeros(4, chunks=2)
    >>> loss = fastloss.dask.binary_cross_entropy_with_logits(x, da.ones(4, chunks=2))
    >>> round(float(loss.compute()), 4)
    0.6931
    """
    loss_fn = _api.BCEWithLogitsLoss(reduction=reduction, num_threads=num_threads)
    return _Plan(loss_fn, input, target, weight, pos_weight).value()


def binary_cross_entropy(input: Any, target: Any, *, weight: Any = None,
                         reduction: _Reduction = "mean",
                         num_threads: int | None = None) -> da.Array:
    """Binary cross-entropy of probabilities, of dask arrays.

    See :func:`fastloss.binary_cross_entropy`.

    Parameters
    ----------
    input : dask array or array_like of float32 or float64
        Probabilities in [0, 1], chunked in any way.
    target : dask array or array_like
        Targets in [0, 1] of ``input``'s shape.
    weight : dask array or array_like, optional
        Weights broadcastable to ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements of all blocks.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum", else the per-element losses.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> p = da.from_array([0.5, 0.5], chunks=1)
    >>> round(float(fastloss.dask.binary_cross_entropy(p, [1.0, 0.0]).compute()), 4)
    0.6931
    """
    loss_fn = _api.BCELoss(reduction=reduction, num_threads=num_threads)
    return _Plan(loss_fn, input, target, weight).value()


def mse_loss(input: Any, target: Any, *, reduction: _Reduction = "mean",
             num_threads: int | None = None) -> da.Array:
    """Mean squared error of dask arrays; see :func:`fastloss.mse_loss`.

    Parameters
    ----------
    input : dask array or array_like of float32 or float64
        Predictions, chunked in any way.
    target : dask array or array_like
        Targets of ``input``'s shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" averages over all elements of all blocks.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum", else the per-element losses.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.from_array([1.0, 2.0, 3.0, 4.0], chunks=2)
    >>> float(fastloss.dask.mse_loss(x, [1.0, 2.0, 3.0, 6.0]).compute())
    1.0
    """
    loss_fn = _api.MSELoss(reduction=reduction, num_threads=num_threads)
    return value(loss_fn, input, target)



# ------------------------------------------ linear layer + cross-entropy

class _LinearPlan:
    """linear_cross_entropy over row blocks of ``input`` and ``target``, the
    weight and bias in memory (one graph key each): the blocks' calls of the
    loss object's block protocol, the "mean" denominator from the targets'
    class counts first, as cross_entropy's."""

    def __init__(self, loss_fn: _api.LinearCrossEntropyLoss, input: Any, target: Any,
                 linear_weight: Any, linear_bias: Any) -> None:
        x, self.dtype = _float_input(input, "input")
        if x.ndim != 2:
            raise ValueError(f"input: expected a 2-D array of shape (n_samples, "
                             f"n_features), got {_describe(x)}")
        if len(x.chunks[1]) > 1:
            raise ValueError(
                f"input: the features (axis 1, length {x.shape[1]}) must be a single "
                f"chunk, got chunks {x.chunks[1]}; rechunk it first, e.g. "
                f"input.rechunk({{1: -1}})"
            )
        if linear_weight is None:
            raise TypeError("linear_weight: expected the layer's weight, an array of shape "
                            "(n_classes, n_features), got None")
        n_rows, n_features = x.shape
        # every in-memory argument and option checked now, on no rows
        # the weight and bias as validated (converted, C-contiguous) once, not
        # once per block
        p = loss_fn._problem(np.empty((0, n_features), self.dtype), linear_weight,
                             np.empty(0, np.int64), linear_bias)
        w, b = p.w, p.b
        n_classes = w.shape[0]
        t = da.asarray(target)
        if t.dtype.kind not in "iu":
            raise TypeError(f"target: expected integer class indices, got {_describe(t)}")
        if t.shape != (n_rows,):
            raise ValueError(f"target: expected class indices of shape ({n_rows},), one per "
                             f"row of the input (shape {x.shape}), got shape {t.shape}")
        self.loss_fn, self.x, self.reduction = loss_fn, x, loss_fn.reduction
        self.ce = loss_fn._ce_loss()
        self.row_chunks = (x.chunks[0],)
        self.targets = _blocks(t.rechunk(self.row_chunks))
        self.offsets = _offsets(self.row_chunks)
        self.w = dask.delayed(w)
        self.b = None if b is None else dask.delayed(b)
        self.shape = (n_classes, n_features)
        counts = [dask.delayed(_class_counts)(block, n_classes, loss_fn.ignore_index, offset)
                  for block, offset in zip(self.targets, self.offsets)]
        self.denominator = dask.delayed(_index_denominator)(
            self.ce, (n_rows, n_classes), self.dtype, counts)

    def _calls(self, what: str, scale: Any) -> list[Any]:
        return [dask.delayed(_linear_block, pure=True)(self.loss_fn, what, scale, x, self.w,
                                                       t, self.b, offset)
                for x, t, offset in zip(_blocks(self.x), self.targets, self.offsets)]

    def _total(self, sums: list[Any]) -> da.Array:
        total = dask.delayed(self.ce._reduce_blocks)(sums, self.denominator, self.dtype, True)
        return da.from_delayed(total, shape=(), dtype=self.dtype)

    def value(self) -> da.Array:
        if self.reduction == "none":
            return _assemble(self._calls("none", None), self.row_chunks, self.dtype)
        return self._total([call[0] for call in self._calls("sum", None)])

    def value_and_grad(self) -> tuple[da.Array, tuple[da.Array, da.Array, da.Array | None]]:
        scale: Any = 1.0
        if self.reduction == "mean":
            scale = dask.delayed(self.ce._grad_scale)(1.0, self.denominator, True)
        calls = self._calls("value_and_grad_none" if self.reduction == "none" else "sum",
                            scale)
        if self.reduction == "none":
            loss = _assemble([call[0] for call in calls], self.row_chunks, self.dtype)
        else:
            loss = self._total([call[0] for call in calls])
        grad_x = _assemble([call[1][0] for call in calls], self.x.chunks, self.dtype)
        grad_w = da.from_delayed(_sum_in_order([call[1][1] for call in calls], self.dtype),
                                 shape=self.shape, dtype=self.dtype)
        grad_b = None
        if self.b is not None:
            grad_b = da.from_delayed(_sum_in_order([call[1][2] for call in calls], self.dtype),
                                     shape=self.shape[:1], dtype=self.dtype)
        return loss, (grad_x, grad_w, grad_b)


def _sum_in_order(parts: list[Any], dtype: np.dtype) -> Any:
    """The Delayed sum of the blocks' gradients, added in block order (one
    chain, so that a block's array is freed once added), cast to ``dtype``."""
    total = dask.delayed(np.copy)(parts[0])
    for part in parts[1:]:
        total = dask.delayed(_add_into)(total, part)
    return dask.delayed(np.asarray)(total, dtype=dtype)


def _add_into(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    # total is the chain's own copy, read by no other task
    total += part
    return total


def _linear_block(loss_fn: Any, what: str, scale: Any, x: np.ndarray, w: np.ndarray,
                  t: np.ndarray, b: Any, offset: tuple[int, ...]) -> Any:
    """One row block's share: its per-row losses ("none"), or its summed loss
    and, with a scale, the gradients of that sum times the scale."""
    try:
        if what == "none":
            return loss_fn(x, w, t, b)
        if what == "value_and_grad_none":
            return loss_fn.value_and_grad(x, w, t, b)
        return loss_fn._block_sum(x, w, t, b, scale)
    except IndexError:
        # the refusal of the targets' pass, which names the global position
        _class_counts(np.asarray(t), w.shape[0], loss_fn.ignore_index, offset)
        raise


def linear_cross_entropy(input: Any, linear_weight: Any, target: Any, *,
                         linear_bias: Any = None, weight: Any = None, ignore_index: int = -100,
                         reduction: _Reduction = "mean", label_smoothing: float = 0.0,
                         chunk_size: int | None = None,
                         num_threads: int | None = None) -> da.Array:
    """The fused linear layer and cross-entropy of row-chunked dask arrays.

    See :func:`fastloss.linear_cross_entropy`, which each block runs (so a
    block's logits are never all held either); for the gradients,
    :func:`value_and_grad` with a :class:`~fastloss.LinearCrossEntropyLoss`.

    Parameters
    ----------
    input : dask array or array_like of float32 or float64
        Array of shape (n_samples, n_features), chunked along its rows
        only.
    linear_weight : array_like
        In-memory array of shape (n_classes, n_features), of ``input``'s
        dtype.
    target : dask array or array_like of int
        Array of shape (n_samples,), class indices; rechunked as ``input``'s
        rows.
    linear_bias : array_like, optional
        In-memory array of shape (n_classes,), of ``input``'s dtype.
    weight : array_like of shape (n_classes,), optional
        Weight of each class.
    ignore_index : int, default -100
        Targets equal to it contribute nothing and are not counted.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides the sum over all blocks by ``sum w[y]`` over all
        blocks.
    label_smoothing : float in [0, 1], default 0.0
        As :func:`fastloss.cross_entropy`.
    chunk_size : int, optional
        Rows per product inside a block; see
        :func:`fastloss.linear_cross_entropy`.
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        0-d for "mean" and "sum", else the per-row losses, chunked as
        ``input``'s rows.

    Examples
    --------
    >>> import dask.array as da, numpy as np, fastloss.dask
    >>> x = da.from_array(np.eye(4)[:, :2], chunks=(2, 2))
    >>> w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> loss = fastloss.dask.linear_cross_entropy(x, w, [0, 1, 2, 2])
    >>> round(float(loss.compute()), 4)
    0.9803
    """
    loss_fn = _api.LinearCrossEntropyLoss(weight, ignore_index=ignore_index,
                                          reduction=reduction,
                                          label_smoothing=label_smoothing,
                                          chunk_size=chunk_size, num_threads=num_threads)
    return _LinearPlan(loss_fn, input, target, linear_weight, linear_bias).value()


# ------------------------------------------------------------ activations

def _activation(kernel: Callable[..., Any], x: Any, num_threads: int | None,
                **options: float) -> da.Array:
    arr, dtype = _float_input(x, "x")
    return arr.map_blocks(kernel, num_threads=num_threads, dtype=dtype, **options)


_ACTIVATION_DOC = """{summary}

    As :func:`fastloss.{name}` on each block, elementwise: bitwise the same as
    in memory, for any chunking.

    Parameters
    ----------
    x : dask array or array_like of float32 or float64
        Input, chunked in any way.{options}
    num_threads : int, optional
        Threads per block; default :func:`fastloss.get_num_threads` on the
        worker.

    Returns
    -------
    dask.array.Array
        Same shape and chunks as ``x``, in ``x``'s dtype.

    Examples
    --------
    >>> import dask.array as da, fastloss.dask
    >>> x = da.from_array([-1.0, 0.0, 1.0, 2.0], chunks=2)
    >>> {example}
    """


def sigmoid(x: Any, *, num_threads: int | None = None) -> da.Array:
    return _activation(_api.sigmoid, x, num_threads)


def log_sigmoid(x: Any, *, num_threads: int | None = None) -> da.Array:
    return _activation(_api.log_sigmoid, x, num_threads)


def softplus(x: Any, *, beta: float = 1.0, threshold: float = 20.0,
             num_threads: int | None = None) -> da.Array:
    return _activation(_api.softplus, x, num_threads, beta=check_real(beta, "beta"),
                       threshold=check_real(threshold, "threshold"))


sigmoid.__doc__ = _ACTIVATION_DOC.format(
    summary="The logistic sigmoid of a dask array, block by block.", name="sigmoid",
    options="", example="""fastloss.dask.sigmoid(x).compute().round(4).tolist()
    [0.2689, 0.5, 0.7311, 0.8808]""")
log_sigmoid.__doc__ = _ACTIVATION_DOC.format(
    summary="Log of the sigmoid of a dask array, block by block.", name="log_sigmoid",
    options="", example="""fastloss.dask.log_sigmoid(x).compute().round(4).tolist()
    [-1.3133, -0.6931, -0.3133, -0.1269]""")
softplus.__doc__ = _ACTIVATION_DOC.format(
    summary="The softplus of a dask array, block by block.", name="softplus",
    options="""
    beta : float, default 1.0
        The scale of ``x`` inside the log.
    threshold : float, default 20.0
        Above it (``beta * x > threshold``) the result is ``x`` itself.""",
    example="""fastloss.dask.softplus(x, beta=2.0).compute().round(4).tolist()
    [0.0635, 0.3466, 1.0635, 2.0091]""")
