"""``python -m fastloss``: fastloss against NumPy and the installed peers.

The NumPy baseline is what a NumPy user writes for the same loss: a
vectorized, numerically stable cross-entropy and its gradient. PyTorch CPU
(``F.cross_entropy``, forward and through autograd) and scikit-learn's
``HalfMultinomialLoss`` (``loss`` and ``loss_gradient``) join when they are
installed. Each row times all of them on the same float32 array with the
same threads (median of repeats) and checks that fastloss and NumPy agree.
"""

import statistics
import sys
import time
from functools import partial

import numpy as np

from .._config import get_num_threads, show_config

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
    """Rows of (shape, pass, {implementation: ms}, fastloss GB/s, max rel diff)."""
    from . import bench

    peers = [p for p in bench.installed_peers() if p in ("torch", "sklearn")]
    n_threads = get_num_threads()
    rows = []
    for n, c in shapes:
        case = bench.Case(n, c, "float32", seed=seed)
        for what, op in [("forward", "cross_entropy"),
                         ("value_and_grad", "cross_entropy_value_and_grad")]:
            ours = bench.implementation("fastloss", case, op, n_threads)
            theirs = partial(numpy_cross_entropy if what == "forward"
                             else numpy_cross_entropy_value_and_grad, case.x, case.y)
            a, b = ours(), theirs()
            loss_a, loss_b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
            diff = abs(float(loss_a) - float(loss_b)) / abs(float(loss_b))
            if isinstance(a, tuple):
                diff = max(diff, float(np.max(np.abs(a[1] - b[1]))) * n)
            time.sleep(bench.QUIET)             # let peers' OpenMP workers go idle
            ms = {"fastloss": median_seconds(ours, repeat) * 1e3,
                  "numpy": median_seconds(theirs, repeat) * 1e3}
            for peer in peers:
                ms[peer] = median_seconds(
                    bench.implementation(peer, case, op, n_threads), repeat) * 1e3
            rows.append((case.label, what, ms, case.x.nbytes / 1e6 / ms["fastloss"], diff))
    return rows


def print_table(rows, out=sys.stdout):
    names = {"numpy": "NumPy", "torch": "PyTorch", "sklearn": "sklearn"}
    peers = [p for p in names if p in rows[0][2]]
    head = (["shape (float32)", "pass", "fastloss ms", "fastloss GB/s"]
            + [f"{names[p]} ms" for p in peers] + [f"x {names[p]}" for p in peers]
            + ["max rel diff"])
    print("| " + " | ".join(head) + " |", file=out)
    print("|" + "|".join("---" for _ in head) + "|", file=out)
    for shape, what, ms, gbs, diff in rows:
        cells = [shape, what, f"{ms['fastloss']:.2f}", f"{gbs:.1f}"]
        cells += [f"{ms[p]:.1f}" for p in peers]
        cells += [f"{ms[p] / ms['fastloss']:.1f}" for p in peers]
        print("| " + " | ".join(cells + [f"{diff:.1e}"]) + " |", file=out)


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
          "input's size over fastloss's median time; x Peer is how many times faster "
          "fastloss is\n")
    rows = run([(10_000, 100)] if args.quick else SHAPES, args.repeat)
    print_table(rows)
    worst = max(row[-1] for row in rows)
    # float32 results computed in float64 agree with the float32 NumPy
    # baseline to its own rounding (a few 1e-7 relative)
    if worst > 1e-4:
        print(f"\nMISMATCH: fastloss and NumPy differ by {worst:.1e}", file=sys.stderr)
        return 1
    return 0
