"""``python -m fastloss``: fastloss against plain NumPy on a few shapes.

The NumPy baseline is what a NumPy user writes for the same loss: a
vectorized, numerically stable cross-entropy and its gradient. Each row of
the table times both on the same float32 array (median of repeats) and
checks that they agree.
"""

import statistics
import sys
import time
from functools import partial

import numpy as np

from . import _api
from ._config import get_num_threads, show_config

SHAPES = [(1_000_000, 10), (100_000, 100), (10_000, 1_000), (1_000, 32_000)]


def numpy_cross_entropy(x, y):
    """Mean cross-entropy of logits x (N, C) at class indices y, in NumPy."""
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1, dtype=np.float64)) + m[:, 0]
    return (lse - x[np.arange(len(y)), y]).mean()


def numpy_cross_entropy_value_and_grad(x, y):
    """Mean cross-entropy and its gradient softmax(x) - onehot(y), over N."""
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True, dtype=np.float64)
    rows = np.arange(len(y))
    loss = (np.log(s[:, 0]) + m[:, 0] - x[rows, y]).mean()
    grad = (e / s).astype(x.dtype)
    grad[rows, y] -= 1
    grad /= len(y)
    return loss, grad


def median_seconds(fn, repeat):
    fn()                                       # warm-up: page faults, thread start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(shapes, repeat, seed=0):
    rng = np.random.default_rng(seed)
    loss_fn = _api.CrossEntropyLoss()
    rows = []
    for n, c in shapes:
        x = rng.standard_normal((n, c), dtype=np.float32) * 3
        y = rng.integers(0, c, n)
        gb = x.nbytes / 1e9
        for what, ours, theirs in [
            ("forward", partial(_api.cross_entropy, x, y), partial(numpy_cross_entropy, x, y)),
            ("value_and_grad", partial(loss_fn.value_and_grad, x, y),
             partial(numpy_cross_entropy_value_and_grad, x, y)),
        ]:
            a, b = ours(), theirs()
            loss_a, loss_b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
            diff = abs(float(loss_a) - float(loss_b)) / abs(float(loss_b))
            if isinstance(a, tuple):
                diff = max(diff, float(np.max(np.abs(a[1] - b[1]))) * n)
            t_ours = median_seconds(ours, repeat)
            t_numpy = median_seconds(theirs, repeat)
            rows.append((f"{n:,} x {c:,}", what, t_numpy * 1e3, t_ours * 1e3,
                         gb / t_ours, t_numpy / t_ours, diff))
    return rows


def print_table(rows, out=sys.stdout):
    head = ("shape (float32)", "pass", "NumPy ms", "fastloss ms", "fastloss GB/s",
            "speed-up", "max rel diff")
    print("| " + " | ".join(head) + " |", file=out)
    print("|" + "|".join("---" for _ in head) + "|", file=out)
    for shape, what, t_np, t_fl, gbs, speedup, diff in rows:
        print(f"| {shape} | {what} | {t_np:.1f} | {t_fl:.2f} | {gbs:.1f} | "
              f"{speedup:.1f}x | {diff:.1e} |", file=out)


def add_arguments(parser):
    """The options of ``python -m fastloss`` without a command."""
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed repeats per measurement (median reported; default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="one small shape only (a smoke test)")


def run_demo(parser, args):
    """The demonstration; returns the exit status (1: fastloss and NumPy differ)."""
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    show_config()
    print(f"\ncross_entropy, mean over rows, num_threads={get_num_threads()}; GB/s is the "
          "input's size over fastloss's median time\n")
    rows = run([(10_000, 100)] if args.quick else SHAPES, args.repeat)
    print_table(rows)
    worst = max(row[-1] for row in rows)
    # float32 results computed in float64 agree with the float32 NumPy
    # baseline to its own rounding (a few 1e-7 relative)
    if worst > 1e-4:
        print(f"\nMISMATCH: fastloss and NumPy differ by {worst:.1e}", file=sys.stderr)
        return 1
    return 0
