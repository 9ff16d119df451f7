"""Fuzz fastloss's public API: bytes decoded into arrays and options.

Each input is decoded into one call: which function (softmax family,
activations, losses) or loss method; the input array's dtype
(float16/32/64, and integer, bool, complex, object arrays, Python lists
and scalars, which must be refused), shape (0-3 dimensions of 0-6, the odd
long row), memory layout (C, Fortran, strided, reversed, read-only,
byte-swapped, unaligned) and values (±inf, NaN, ±0, ±1e30, subnormals, float extremes,
any bit pattern, small integers); the targets (class indices of every integer
dtype, in range or not; probabilities; wrong shapes and types); and the
options (weights, pos_weight, ignore_index, reduction, label_smoothing, axis,
keepdims, beta, threshold, num_threads, grad_output, out), valid or not.

A call may return, or raise one of the documented exceptions (TypeError,
ValueError, IndexError; NumPy's AxisError is both of the last two). Anything
else escaping is a failure, and so is: an ``out`` written when the call
raised, a result that is not ``out`` when one was given, a result of another
dtype than the input's float dtype, an input modified when it was not
``out``. A crash of the interpreter is a failure too (atheris reports it).

    python fuzz/fuzz_api.py -runs=200000 -seed=1       # atheris (pip install ".[fuzz]")
    python fuzz/fuzz_api.py -max_total_time=600
    python fuzz/fuzz_api.py --random --runs 20000 --seed 1
                                # without atheris: seeded random bytes, same decoder

Every 10,000 inputs (and at the end of --random) it prints the inputs tried
and the calls made, returned and refused; under atheris, -print_final_stats=1
adds libFuzzer's count of inputs run. Each input is one call. The atheris
mode guides the inputs by the coverage of fastloss's Python modules (the
validation); the compiled kernels are not instrumented for coverage.
tests/test_fuzz.py runs the --random mode for a few thousand inputs on every
test run.
"""

import struct
import sys
import warnings

import numpy as np

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64]
DOCUMENTED = (TypeError, ValueError, IndexError)
SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan, 1e30, -1e30, 5e-324,
            1.4e-45, -1.4e-45, 1e-310, 3.4e38, -3.4e38, 1.7976931348623157e308, 88.7,
            710.0, -745.0, 1e-12, 1 - 2**-24, 2.0, 100.0]


class Decoder:
    """Reads choices from bytes; past the end every read is 0."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk.ljust(n, b"\0")

    def pick(self, options):
        return options[self.byte() % len(options)]

    def chance(self, per256):
        """True with probability per256 / 256 (never past the end of the data)."""
        return self.byte() >= 256 - per256

    def number(self):
        """A float: special, any bit pattern, a small integer or a modest value."""
        kind = self.byte() % 8
        if kind < 3:
            return self.pick(SPECIALS)
        if kind == 3:
            return struct.unpack("<d", self.take(8))[0]
        if kind == 4:
            return float(struct.unpack("<f", self.take(4))[0])
        if kind == 5:
            return float(self.byte() - 128)
        return (self.byte() - 128) / 16.0

    def unit(self):
        """A value in [0, 1]."""
        return self.pick([0.0, 1.0, 0.5, 1e-45, 1 - 2**-24, 1e-300, self.byte() / 255])

    def shape(self, min_ndim=0):
        ndim = max(min_ndim, self.byte() % 4)
        dims = [self.byte() % 7 for _ in range(ndim)]
        if dims and self.chance(16):
            dims[-1] = self.pick([129, 2049, 5000, 40_000])    # a long row
        return tuple(dims)

    def values(self, shape, maker):
        """Values from ``maker`` (the first 64, repeated), one of them
        sometimes replaced by any number."""
        n = int(np.prod(shape, dtype=np.int64))
        base = [maker() for _ in range(min(n, 64))] or [0.0]
        flat = np.resize(np.array(base, np.float64), n)      # repeats past 64
        if n and maker != self.number and self.chance(30):
            flat[self.byte() * 251 % n] = self.number()
        return flat.reshape(shape)

    def layout(self, arr):
        kind = self.byte() % 9
        if arr.ndim == 0 or kind < 3:
            return arr
        if kind == 8:                                          # unaligned
            buf = bytearray(arr.nbytes + 1)
            out = np.frombuffer(buf, dtype=arr.dtype, offset=1).reshape(arr.shape)
            out[...] = arr
            return out
        if kind == 3:
            return np.asfortranarray(arr)
        if kind == 4:                                          # strided
            wide = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
            wide[..., ::2] = arr
            return wide[..., ::2]
        if kind == 5:
            return np.ascontiguousarray(arr[::-1])[::-1]       # negative strides
        if kind == 6:
            arr = arr.copy()
            arr.flags.writeable = False
            return arr
        return arr.astype(arr.dtype.newbyteorder())

    def floats(self, shape, maker=None, allow_odd=True):
        """A float array (or, sometimes, something that is not one)."""
        values = self.values(shape, maker or self.number)
        kind = self.byte() % 16 if allow_odd else 0
        if kind == 1:
            return values.tolist() if values.ndim else float(values)
        if kind == 2:
            with np.errstate(invalid="ignore", over="ignore"):
                return np.nan_to_num(values).astype(self.pick(INT_DTYPES + [bool]))
        if kind == 3:
            return values.astype(complex)
        if kind == 4:
            return values.astype(object)
        dtype = self.pick([np.float64, np.float64, np.float32, np.float32, np.float16])
        with np.errstate(over="ignore", invalid="ignore"):
            return self.layout(values.astype(dtype))

    def targets(self, shape, n_classes):
        kind = self.byte() % 8
        if kind < 5:                                       # class indices
            dtype = self.pick(INT_DTYPES)
            info = np.iinfo(dtype)
            pool = [0, 1, n_classes - 1, n_classes, -100, -1, int(info.max), int(info.min),
                    2**63, 2**64 - 100, 2**40]
            n = int(np.prod(shape, dtype=np.int64))
            picks = [self.byte() % max(n_classes, 1) for _ in range(min(n, 64))] or [0]
            t = np.resize(np.array(picks, np.int64), n)
            if n and self.chance(60):                   # some -100 (the default ignore)
                t[::3] = -100 if info.min < 0 else 0
            t = t.astype(dtype)
            if n and self.chance(40):                   # one value that may be out of range
                value = self.pick(pool)
                if info.min <= value <= info.max:
                    t[self.byte() * 251 % n] = value
            return self.layout(t.reshape(shape))
        if kind == 5:
            return [int(v) for v in np.zeros(shape).reshape(-1)] if shape else 0
        if kind == 6:
            return self.pick([None, "a", [[1, 2], [3]], 1.5, True])
        return self.floats(shape, self.unit)

    def option(self, valid, invalid):
        return self.pick(invalid) if self.chance(20) else self.pick(valid)


class Stats:
    inputs = calls = returned = refused = 0


REPORT_EVERY = 10_000

def check_result(result, x, out, name):
    """The documented shape of a successful result."""
    arr = np.asarray(x)
    if isinstance(x, np.ndarray) and arr.dtype.kind == "f" and arr.dtype.itemsize <= 8:
        want = np.float32 if arr.dtype.itemsize <= 4 else np.float64
        for part in (result if isinstance(result, tuple) else (result,)):
            if part is out:                  # out's own dtype, in either byte order
                continue
            got = np.asarray(part).dtype
            if got != want:
                raise AssertionError(f"{name}: result dtype {got}, input {arr.dtype}")
    if out is not None:
        grad = result[1] if isinstance(result, tuple) else result
        if grad is not out:
            raise AssertionError(f"{name}: the result is not out")


def one_input(data):
    """Decode one call from ``data``, make it, check what came out."""
    import fastloss

    d = Decoder(data)
    Stats.inputs += 1
    family = d.pick(["softmax", "class", "class", "binary", "binary", "activation"])
    threads = d.option([None, 1, 2, 3], [0, -1, 1.5, True, "2", 2**31, 2**63])
    reduction = d.option(["mean", "sum", "none"], ["avg", None, "MEAN", 1])
    axis_pool = [-1, 0, 1, 2, -2, -3, 3, None, 1.0, True, np.int64(1)]
    out = None

    if family == "softmax":
        x = d.floats(d.shape())
        ndim = np.ndim(x)
        axis = d.option([-1, 0, None] + list(range(ndim)), axis_pool)
        name = d.pick(["logsumexp", "softmax", "log_softmax"])
        fn = getattr(fastloss, name)
        kwargs = dict(axis=axis, num_threads=threads)
        if name == "logsumexp":
            kwargs["keepdims"] = d.chance(128)
        if d.chance(64):
            out = _out_for(d, fastloss, name, x, kwargs)
            kwargs["out"] = out
        call = (name, lambda: fn(x, **kwargs))
    elif family == "activation":
        x = d.floats(d.shape())
        name = d.pick(["sigmoid", "log_sigmoid", "softplus"])
        fn = getattr(fastloss, name)
        kwargs = dict(num_threads=threads)
        if name == "softplus":
            for option in ("beta", "threshold"):
                if d.chance(100):
                    kwargs[option] = d.option(
                        [1.0, 2.0, -0.5, 0.0, 20.0, np.inf, np.nan, np.float32(3), 7],
                        ["1", None, True, 1j, [1.0]])
        if d.chance(64):
            out = _out_for(d, fastloss, name, x, kwargs)
            kwargs["out"] = out
        call = (name, lambda: fn(x, **kwargs))
    elif family == "class":
        shape = d.shape(min_ndim=1)
        x = d.floats(shape)
        ndim = max(np.ndim(x), 1)
        axis = d.option([-1, 1 % ndim, 0], axis_pool)
        ax = axis % ndim if isinstance(axis, int) and -ndim <= axis < ndim else -1
        full = np.shape(x)
        n_classes = full[ax] if full else 1
        tshape = full[:ax % max(len(full), 1)] + full[ax % max(len(full), 1) + 1:] \
            if full else ()
        if d.chance(20):
            tshape = d.shape()
        target = d.targets(full if d.chance(40) else tshape, n_classes)
        weight = None
        if d.chance(80):
            wshape = d.shape() if d.chance(36) else (n_classes,)
            weight = d.floats(wshape, lambda: abs(d.unit()) * 3)
        options = dict(weight=weight, reduction=reduction, axis=axis, num_threads=threads,
                       ignore_index=d.option([-100, 0, 1, -1, n_classes],
                                             [1.5, True, 2**70, "x", None]))
        nll = d.chance(80)
        if not nll:
            options["label_smoothing"] = d.option([0.0, 0.1, 1.0, 0.5],
                                                  [-0.1, 1.5, np.nan, "a", None])
        call = _loss_call(d, fastloss, "NLLLoss" if nll else "CrossEntropyLoss",
                          "nll_loss" if nll else "cross_entropy", x, target, options)
    else:
        shape = d.shape()
        kind = d.pick(["bce_logits", "bce", "mse"])
        x = d.floats(shape, d.unit if kind == "bce" else d.number)
        tshape = d.shape() if d.chance(21) else np.shape(x)
        target = d.floats(tshape, d.unit if kind != "mse" else d.number)
        options = dict(reduction=reduction, num_threads=threads)
        if kind != "mse" and d.chance(100):
            options["weight"] = d.floats(_broadcast_shape(d, np.shape(x)),
                                         lambda: abs(d.unit()) * 3)
        if kind == "bce_logits" and d.chance(100):
            options["pos_weight"] = d.floats(_broadcast_shape(d, np.shape(x)),
                                             lambda: abs(d.unit()) * 3)
        names = {"bce_logits": ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits"),
                 "bce": ("BCELoss", "binary_cross_entropy"), "mse": ("MSELoss", "mse_loss")}
        call = _loss_call(d, fastloss, *names[kind], x, target, options)

    if family not in ("softmax", "activation"):
        name, fn, out = call
        call = (name, fn)
    _run(call, x, out)


def _broadcast_shape(d, shape):
    kind = d.byte() % 5
    if kind == 0:
        return shape
    if kind == 1:
        return shape[-1:]
    if kind == 2:
        return ()
    if kind == 3:
        return (1,) * len(shape)
    return d.shape()


def _out_for(d, fastloss, name, x, kwargs):
    """An out array for a softmax-family call: usually the right one."""
    shape = np.shape(x)
    if name == "logsumexp":
        try:
            shape = np.shape(np.zeros(shape).sum(axis=kwargs["axis"],
                                                 keepdims=kwargs["keepdims"]))
        except Exception:       # an axis the call itself will refuse
            shape = ()
    dtype = np.float32 if np.asarray(x).dtype in (np.float32, np.float16) else np.float64
    if d.chance(30):
        dtype = d.pick([np.float32, np.float64, np.int64])
    if d.chance(30):
        shape = d.shape()
    if name != "logsumexp" and d.chance(60) and isinstance(x, np.ndarray) \
            and x.dtype == dtype and x.flags.writeable:
        return x                                    # in place
    if d.chance(56):
        return d.pick([[0.0], np.full(shape, 7.25, dtype)])
    return d.layout(np.full(shape, 7.25, dtype))


def _loss_call(d, fastloss, cls_name, fn_name, x, target, options):
    """(name, call, out): the function, or the loss object's call, grad or
    value_and_grad (with grad_output and out, maybe x itself)."""
    how = d.pick(["function", "object", "grad", "value_and_grad"])
    if how == "function":
        return fn_name, lambda: getattr(fastloss, fn_name)(x, target, **options), None
    kwargs = dict(options)
    args = () if cls_name == "MSELoss" else (kwargs.pop("weight", None),)

    def make():
        return getattr(fastloss, cls_name)(*args, **kwargs)
    out = None
    extra = {}
    if how in ("grad", "value_and_grad") and d.chance(90):
        xa = np.asarray(x)
        dtype = np.float32 if xa.dtype in (np.float32, np.float16) else np.float64
        if d.chance(60) and isinstance(x, np.ndarray) and x.flags.writeable \
                and x.dtype == dtype:
            out = x
        else:
            out = d.layout(np.full(d.shape() if d.chance(36) else xa.shape, 7.25, dtype))
        extra["out"] = out
    if how == "grad" and d.chance(128):
        extra["grad_output"] = d.floats(d.shape()) if d.chance(100) else d.number()
    name = f"{cls_name}.{how}"

    def call():
        loss_fn = make()
        if how == "object":
            return loss_fn(x, target)
        return getattr(loss_fn, how)(x, target, **extra)
    return name, call, out


def _run(call, x, out):
    name, fn = call
    before_out = None if out is None else np.array(out, copy=True)
    before_x = np.array(x, copy=True) if isinstance(x, np.ndarray) else None
    Stats.calls += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # NumPy's, converting values
            result = fn()
    except DOCUMENTED:
        Stats.refused += 1
        if out is not None and not _same(out, before_out):
            raise AssertionError(f"{name}: out was written by a call that raised") from None
        if before_x is not None and not _same(x, before_x):
            raise AssertionError(
                f"{name}: the input was modified by a call that raised") from None
        return
    Stats.returned += 1
    check_result(result, x, out, name)
    if before_x is not None and x is not out and not _same(x, before_x):
        raise AssertionError(f"{name}: the input was modified")


def _same(a, b):
    """Bitwise the same (NaN payloads included; object arrays: the same objects)."""
    a = np.asarray(a)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def report():
    print(f"fuzz_api: {Stats.inputs:,} inputs, {Stats.calls:,} calls: "
          f"{Stats.returned:,} returned, {Stats.refused:,} refused with a documented "
          f"exception, nothing else escaped", file=sys.stderr, flush=True)


def atheris_input(data):
    one_input(data)
    if Stats.inputs % REPORT_EVERY == 0:
        report()


def random_inputs(runs, seed, max_len=256):
    """Seeded random byte strings, the fallback without atheris."""
    rng = np.random.default_rng(seed)
    for _ in range(runs):
        yield rng.integers(0, 256, int(rng.integers(0, max_len)), dtype=np.uint8).tobytes()


def main(argv):
    if "--random" in argv:
        runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 10_000
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        for data in random_inputs(runs, seed):
            one_input(data)
        report()
        return
    import atheris

    with atheris.instrument_imports():
        import fastloss  # noqa: F401
    atheris.Setup(argv, atheris_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
