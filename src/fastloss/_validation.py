"""Checks and conversions of the public functions' arguments.

Every error a public function raises comes from here (or from its own
module), before any kernel runs or any ``out`` array is written. Messages
name the argument, what was expected and what was got.
"""

import inspect
import numbers
import operator
import sys

import numpy as np

try:  # NumPy >= 1.25
    from numpy.exceptions import AxisError
except ImportError:  # pragma: no cover
    AxisError = np.AxisError

REDUCTIONS = ("none", "mean", "sum")
_INT64_MAX = np.iinfo(np.int64).max


def describe(arr):
    """'float64 array of shape (2, 3)', for error messages."""
    return f"{arr.dtype} array of shape {arr.shape}"


def position(flat_index, shape):
    """The index tuple (of Python ints) of a flat position, for error messages."""
    return tuple(int(i) for i in np.unravel_index(int(flat_index), shape))


def _type_name(value):
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _is_masked(value):
    """Whether ``value`` is a masked array (none exists until numpy.ma is
    imported, which NumPy does not do: it is looked up, not imported)."""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(value, ma.MaskedArray)


def _refuse_masked(value, name):
    """A masked array's mask would be dropped by the conversion: refused."""
    if _is_masked(value):
        raise TypeError(
            f"{name}: expected an array without a mask, got a masked array "
            f"({describe(value)}), whose mask fastloss would ignore; leave elements out "
            f"with weight=0 for them (or ignore_index for class-index targets), and pass "
            f"the data (numpy.ma.getdata, or .filled(value))"
        )


def _refuse_dask(value, name):
    """A dask array would be computed whole into memory by np.asarray: refused,
    naming fastloss.dask, without computing it (the dask collection protocol:
    __dask_graph__() is not None)."""
    graph = getattr(value, "__dask_graph__", None)
    if callable(graph) and graph() is not None:
        raise TypeError(
            f"{name}: expected an in-memory array, got a dask collection "
            f"({_type_name(value)} of shape {getattr(value, 'shape', '?')}), which would be "
            f"computed whole into memory; use the function of the same name in "
            f"fastloss.dask (for a loss object, fastloss.dask.value, grad or "
            f"value_and_grad), or .compute() it first"
        )


def _asarray(value, name):
    """``value`` as an ndarray (np.asarray); masked and dask arrays refused."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, np.ndarray):
        _refuse_masked(value, name)
    else:
        _refuse_dask(value, name)
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name}: could not be converted to an array ({exc})") from None


def _python_data(value):
    """Python numbers and (nested) lists or tuples, which NumPy converts with
    its default dtypes; anything else (a NumPy or other library's array or
    scalar, a buffer) has a dtype of its own."""
    return isinstance(value, (int, float, list, tuple))


def _kernel_array(arr, dtype):
    """``arr`` as a C-contiguous, aligned array of ``dtype``: itself when it is
    one, else a copy. Unaligned arrays (np.frombuffer at an odd offset, some
    deserialized buffers) are copied: a kernel's load of a misaligned double
    is undefined behaviour, and a vector loop may use aligned loads."""
    out = np.asarray(arr, dtype=dtype, order="C")
    if not out.flags.aligned:
        out = out.copy()
    return out


def _compute_dtype(arr, name, source=None):
    """float32 for float16/float32, float64 for float64; TypeError otherwise
    (naming the type of ``source``, what ``arr`` was converted from, when it
    is not a NumPy array)."""
    if arr.dtype.kind == "f":
        if arr.dtype.itemsize <= 4:
            return np.dtype(np.float32)
        if arr.dtype.itemsize == 8:
            return np.dtype(np.float64)
    origin = "" if source is None else f" (from a {_type_name(source)})"
    raise TypeError(
        f"{name}: expected a float32 or float64 array (float16 is computed as "
        f"float32), got {describe(arr)}{origin}"
    )


def as_float_array(value, name):
    """The logits (or probabilities) as a C-contiguous native float32/float64 array.

    Arrays must have a floating dtype: integer, bool, complex and object
    arrays are refused, whatever library they come from (NumPy's, or any
    object NumPy converts through ``__array__`` or a buffer, with its own
    dtype). Python numbers and lists or tuples of them are converted as NumPy
    does, integers becoming float64. C-contiguous native arrays are returned
    as they are (read-only ones too); anything else (unaligned included) is
    copied once. Masked arrays and dask arrays are refused (``_asarray``).
    """
    arr = _asarray(value, name)
    if arr.dtype.kind in "iu" and _python_data(value):
        arr = arr.astype(np.float64)
    dtype = _compute_dtype(arr, name, None if isinstance(value, np.ndarray) else value)
    return _kernel_array(arr, dtype)


def as_operand(value, dtype, name, *, allow_bool=True):
    """A float operand (target, weight, grad_output) converted to ``dtype``.

    Integer (and, for targets, bool) values are accepted and converted;
    complex, object and string values are refused.
    """
    arr = _asarray(value, name)
    kinds = "fiub" if allow_bool else "fiu"
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name}: expected a real numeric array, got {describe(arr)}")
    return _kernel_array(arr, dtype)


def as_index_targets(arr, name):
    """Integer class indices as a C-contiguous int64 array.

    uint64 values above the int64 range cannot be class indices; they are
    refused here, before the conversion could wrap them to negative numbers.
    """
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and arr.size:
        big = arr.max()
        if big > _INT64_MAX:
            pos = position(np.argmax(arr), arr.shape)
            raise IndexError(
                f"{name}: class index {int(big)} at position {pos} is out of range"
            )
    return _kernel_array(arr, np.int64)


# The default of the hidden parameter that catches PyTorch's name ``dim``.
# The interpreter raises "unexpected keyword argument" while it binds the
# arguments, before any code of the function runs, so only a wrapper or a
# parameter can answer it: a wrapper that caught the TypeError cost a 32 x 10
# cross_entropy 150-400 ns, the parameter and its test 5-40 ns.
# ``hide_parameters`` keeps it out of the signature that help(), numpydoc and
# the stubs' test read.
NOT_GIVEN = object()


def hide_parameters(*names):
    """Decorator: ``names`` left out of the function's ``inspect.signature``."""
    def decorate(fn):
        sig = inspect.signature(fn)
        fn.__signature__ = sig.replace(
            parameters=[p for p in sig.parameters.values() if p.name not in names])
        return fn
    return decorate


def refuse_torch_name(name, value, instead):
    """The TypeError of a PyTorch parameter name (``dim=``) given to fastloss,
    saying what fastloss calls it (``instead``)."""
    raise TypeError(f"{name}: not a fastloss parameter (PyTorch's name); {instead}, "
                    f"got {name}={value!r}")


def check_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction: expected 'none', 'mean' or 'sum', got {reduction!r}"
        )
    return reduction


def check_label_smoothing(label_smoothing):
    try:
        eps = float(label_smoothing)
    except (TypeError, ValueError):
        raise TypeError(
            f"label_smoothing: expected a float in [0, 1], got {label_smoothing!r}"
        ) from None
    if not 0.0 <= eps <= 1.0:
        raise ValueError(
            f"label_smoothing: expected a float in [0, 1], got {label_smoothing!r}"
        )
    return eps


def _integer(value, name, expected):
    """``value`` as a Python int (any integer type, bools refused), or a
    TypeError saying what was ``expected``."""
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{name}: expected {expected}, got {value!r}")


def check_ignore_index(ignore_index):
    value = _integer(ignore_index, "ignore_index", "an integer")
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(f"ignore_index: expected a 64-bit integer, got {value}")
    return value


def check_no_ignore_index(ignore_index):
    """Probability targets have no ignore_index: anything but the default
    -100 is refused (torch: "ignore_index is not supported for floating point
    target"), rather than silently ignored."""
    if ignore_index != -100:
        raise ValueError(
            f"ignore_index: not supported with probability targets (a float target), got "
            f"ignore_index={ignore_index}; it applies to class-index targets, and with "
            f"probabilities a row is left out by giving it weight 0 instead"
        )


def check_num_threads(num_threads, name="num_threads"):
    """A positive int (None is resolved by the caller)."""
    n = _integer(num_threads, name, "a positive integer or None")
    if n < 1:
        raise ValueError(f"{name}: expected a positive integer or None, got {n}")
    return n


def check_chunk_size(chunk_size):
    """None (the caller picks), or a positive int."""
    if chunk_size is None:
        return None
    return check_num_threads(chunk_size, "chunk_size")


def normalize_axis(axis, ndim, name="axis"):
    """An int axis in [-ndim, ndim) as a non-negative int."""
    ax = _integer(axis, name, "an integer")
    if not -ndim <= ax < ndim:
        raise AxisError(ax, ndim, msg_prefix=name)
    return ax % ndim


def class_view(arr, axis):
    """``arr`` seen as (n_outer, n_classes, n_inner) without a copy."""
    shape = arr.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return arr.reshape(outer, shape[axis], inner)


def check_out(out, shape, dtype, name="out"):
    """An ``out`` array of ``shape`` and ``dtype`` in either byte order; any
    ndarray subclass (np.matrix) is written through its data."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(out).__name__}")
    if _is_masked(out):
        raise TypeError(
            f"{name}: expected an array without a mask, got a masked array "
            f"({describe(out)}); fastloss would write its data and drop the mask: "
            f"pass its data (numpy.ma.getdata) and mask the result afterwards"
        )
    if out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: the array is read-only")


def _same_buffer(a, b):
    return (
        a.shape == b.shape
        and a.flags.c_contiguous
        and b.flags.c_contiguous
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def output_buffer(out, shape, dtype, inputs=(), in_place_of=None, name="out"):
    """The array a kernel writes into: ``out`` itself when it can be, else a new one.

    ``out``'s data is used directly when it is C-contiguous, aligned, in the
    native byte order and overlaps none of the kernel's ``inputs``, except
    that it may be exactly ``in_place_of`` (the kernels whose primitives read
    each element before writing it). ``finish`` copies a new buffer into
    ``out`` (swapping bytes where ``out``'s are swapped).
    """
    if out is None:
        return np.empty(shape, dtype)
    check_out(out, shape, dtype, name)
    data = out if type(out) is np.ndarray else out.view(np.ndarray)   # np.matrix: its data
    if data.flags.c_contiguous and data.flags.aligned and data.dtype.isnative:
        for arr in inputs:
            if arr is None or not np.may_share_memory(data, arr):
                continue
            if in_place_of is not None and arr is in_place_of and _same_buffer(data, arr):
                continue
            break
        else:
            return data
    return np.empty(shape, dtype)


def is_fresh(buf, out):
    """Whether output_buffer's ``buf`` is a new array (not ``out``'s data)."""
    return out is None or (buf is not out and buf.base is not out)


def finish(buf, out):
    """``out`` holding the kernel's results: the buffer copied into it unless
    the kernel wrote into ``out``'s own data."""
    if out is None:
        return buf
    if buf is not out and buf.base is not out:
        out[...] = buf
    return out


def broadcast_operand(value, shape, rows, cols, dtype, name, hint=""):
    """``value`` broadcast to ``shape`` and seen as a (rows, cols) strided view.

    Broadcast dimensions keep stride 0, so a per-class weight costs no
    memory; NumPy copies only when the broadcast cannot be viewed in 2-D.
    """
    if value is None:
        return np.broadcast_to(np.ones((), dtype), (rows, cols))
    arr = as_operand(value, dtype, name)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name}: expected an array broadcastable to the input's shape "
            f"{tuple(shape)}{hint}, got shape {arr.shape}"
        )
    return np.broadcast_to(arr, shape).reshape(rows, cols)


def check_real(value, name):
    """A real number (a Python or NumPy int or float, not a bool) as a Python
    float: the options of the activations (softplus's beta, threshold)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)):
        return float(value)
    raise TypeError(f"{name}: expected a real number, got {value!r}")


# ------------------------------------ options of the regression and KL losses

KL_REDUCTIONS = ("none", "batchmean", "sum", "mean")


def check_kl_reduction(reduction):
    """kl_div's reduction: torch's four, "batchmean" among them."""
    if not isinstance(reduction, str) or reduction not in KL_REDUCTIONS:
        raise ValueError(
            f"reduction: expected 'none', 'batchmean', 'sum' or 'mean', got {reduction!r}"
        )
    return reduction


def check_threshold(value, name, allow_zero):
    """Smooth L1's beta (>= 0) or Huber's delta (> 0) as a float: a real
    number, not a bool; torch raises for a negative beta and a non-positive
    delta (NaN included); +inf is allowed, as torch."""
    expected = f"a float {'>=' if allow_zero else '>'} 0"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{name}: expected {expected}, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected {expected}, got {value!r}") from None
    if not (v >= 0.0 if allow_zero else v > 0.0):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return v


def check_flag(value, name):
    """A bool option (KL divergence's log_target): True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)
