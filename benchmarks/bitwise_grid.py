"""Every function's results on a fixed grid, saved or compared bit for bit.

A refactoring that must not change results (round 2, 1/4: the new layout) is
checked by running this with the previous build and with the new one::

    python benchmarks/bitwise_grid.py --save before.json      # the old build installed
    python benchmarks/bitwise_grid.py --compare before.json   # the new build installed

The grid is every public function and loss method (value, grad with and
without ``grad_output``, value_and_grad) x options (weights, ignore_index,
label smoothing, probability targets, pos_weight, broadcast weights, every
reduction) x float32/float64 x shapes that take every kernel path (rows in
lanes, one row at a time, long rows cut into chunks, an inner class axis,
NLL's scalar rows, no classes, the parallel blocks) with special values
(+inf, -inf, NaN, 1e30, masked classes) x every SIMD path this CPU runs
(each in a subprocess with FASTLOSS_SIMD set) x 1, 2 and 3 threads. Each
result is kept as the SHA-256 of its dtype, shape and bytes, so NaN payloads
and the signs of zeros count.
Exit status 1 when a result differs or a case is missing.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

THREADS = (1, 2, 3)
DTYPES = ("float32", "float64")

# (rows, classes) with axis -1: rows in lanes (up to 4 vectors of classes),
# one row at a time, long rows (more than 2 chunks of 4,096, in few rows or
# over 256 KiB), no classes, and enough elements for the parallel blocks
ROW_SHAPES = [(37, 1), (40, 3), (41, 8), (45, 10), (33, 17), (35, 32), (18, 33), (130, 100),
              (70, 1000), (3, 2049), (4, 8193), (20, 8193), (2, 70000), (5000, 10),
              (400, 100), (5, 0)]
# class axis 1 of (N, C, d...): the inner-axis kernels
INNER_SHAPES = [(6, 10, 7), (3, 5, 40), (4, 100, 9), (2, 3, 4, 5), (700, 10, 7)]


def logits(rng, shape, dtype, specials):
    x = rng.standard_normal(shape) * 3.0
    if specials and x.size and len(shape) >= 2 and shape[0] >= 8 and shape[-1] >= 2:
        rows = x.reshape(shape[0], -1)
        rows[1, 0] = np.inf
        rows[2, :] = -np.inf
        rows[3, 1] = np.nan
        rows[4, 0] = 1e30
        rows[5, 1:] = -np.inf
        rows[6, 0] = -np.inf
    return x.astype(dtype)


def class_cases(rng, dtype):
    """(name, callable) pairs of the class-axis functions for one dtype."""
    import fastloss as fl

    cases = []
    shapes = [(s, -1) for s in ROW_SHAPES] + [(s, 1) for s in INNER_SHAPES]
    for shape, axis in shapes:
        for specials in (False, True):
            x = logits(rng, shape, dtype, specials)
            tag = f"{dtype}/{shape}/axis{axis}/{'special' if specials else 'plain'}"
            cases += [
                (f"logsumexp/{tag}", lambda x=x, axis=axis, n=None: fl.logsumexp(
                    x, axis=axis, num_threads=n)),
                (f"softmax/{tag}", lambda x=x, axis=axis, n=None: fl.softmax(
                    x, axis=axis, num_threads=n)),
                (f"log_softmax/{tag}", lambda x=x, axis=axis, n=None: fl.log_softmax(
                    x, axis=axis, num_threads=n)),
            ]
            n_classes = shape[axis]
            loss_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
            if n_classes == 0:
                continue
            y = rng.integers(0, n_classes, loss_shape)
            y.reshape(-1)[::7] = -100
            y_plain = rng.integers(0, n_classes, loss_shape)
            w = rng.uniform(0.5, 2.0, n_classes)
            p = rng.random(shape)
            p /= p.sum(axis=axis, keepdims=True)
            lp = fl.log_softmax(logits(rng, shape, dtype, False), axis=axis)
            options = [
                ("index", y_plain, {}),
                ("index-ignored-weighted", y, {"weight": w}),
                ("index-smoothed", y_plain, {"label_smoothing": 0.1}),
                ("index-ignored-weighted-smoothed", y, {"weight": w, "label_smoothing": 0.3}),
                ("index-all-smoothing", y, {"label_smoothing": 1.0}),
                ("prob", p.astype(dtype), {}),
                ("prob-weighted-smoothed", p.astype(dtype), {"weight": w, "label_smoothing": 0.2}),
            ]
            for oname, target, opts in options:
                for reduction in ("none", "sum", "mean"):
                    loss = fl.CrossEntropyLoss(reduction=reduction, axis=axis, **opts)
                    cases += loss_cases(f"ce/{tag}/{oname}/{reduction}", loss, x, target,
                                        rng, loss_shape)
            for oname, target, opts in [("plain", y_plain, {}), ("ignored-weighted", y,
                                                                  {"weight": w})]:
                for reduction in ("none", "sum", "mean"):
                    loss = fl.NLLLoss(reduction=reduction, axis=axis, **opts)
                    cases += loss_cases(f"nll/{tag}/{oname}/{reduction}", loss, lp, target,
                                        rng, loss_shape)
    return cases


def loss_cases(name, loss, x, target, rng, loss_shape):
    """The loss object's value, grad (with and without grad_output) and value_and_grad."""
    def with_threads(n, fn):
        loss.num_threads = n
        return fn()

    if loss.reduction == "none":
        go = rng.uniform(-2.0, 2.0, loss_shape)
    else:
        go = 0.37
    return [
        (f"{name}/value", lambda n=None: with_threads(n, lambda: loss(x, target))),
        (f"{name}/grad", lambda n=None: with_threads(n, lambda: loss.grad(x, target))),
        (f"{name}/grad_output", lambda n=None: with_threads(
            n, lambda: loss.grad(x, target, grad_output=go))),
        (f"{name}/value_and_grad", lambda n=None: with_threads(
            n, lambda: loss.value_and_grad(x, target))),
    ]


def binary_cases(rng, dtype):
    import fastloss as fl

    cases = []
    shapes = [(7,), (2047,), (2049,), (45, 10), (3, 1000), (700, 10), (2, 3000), (300, 129),
              (4, 5, 6)]
    for shape in shapes:
        for specials in (False, True):
            x = rng.standard_normal(shape) * 4.0
            if specials:
                flat = x.reshape(-1)
                flat[:6] = [np.inf, -np.inf, np.nan, 1e30, -1e30, 50.0]
            x = x.astype(dtype)
            t = rng.random(shape).astype(dtype)
            t_hard = (rng.random(shape) < 0.5).astype(dtype)
            cols = shape[-1]
            per_row = rng.uniform(0.5, 2.0, shape[:-1] + (1,))
            per_col = rng.uniform(0.5, 2.0, cols)
            full = rng.uniform(0.5, 2.0, shape)
            tag = f"{dtype}/{shape}/{'special' if specials else 'plain'}"
            probs = (1.0 / (1.0 + np.exp(-np.nan_to_num(x.astype(np.float64))))).astype(dtype)
            probs.reshape(-1)[:3] = [0.0, 1.0, 0.5]
            variants = [
                ("bce_logits", fl.BCEWithLogitsLoss, x, t, {}),
                ("bce_logits-scalar-w", fl.BCEWithLogitsLoss, x, t, {"weight": 1.5}),
                ("bce_logits-row-w", fl.BCEWithLogitsLoss, x, t_hard, {"weight": per_row}),
                ("bce_logits-pos-w", fl.BCEWithLogitsLoss, x, t, {"pos_weight": per_col}),
                ("bce_logits-full-w-pos-w", fl.BCEWithLogitsLoss, x, t,
                 {"weight": full, "pos_weight": full[..., ::-1].copy()}),
                ("bce_prob", fl.BCELoss, probs, t, {}),
                ("bce_prob-w", fl.BCELoss, probs, t_hard, {"weight": per_col}),
                ("mse", fl.MSELoss, x, t, {}),
            ]
            for vname, cls, xin, tin, opts in variants:
                for reduction in ("none", "sum", "mean"):
                    loss = cls(reduction=reduction, **opts)
                    cases += loss_cases(f"{vname}/{tag}/{reduction}", loss, xin, tin, rng,
                                        shape)
    return cases


def all_cases():
    rng = np.random.default_rng(20261201)
    cases = []
    for dtype in DTYPES:
        cases += class_cases(rng, dtype)
        cases += binary_cases(rng, dtype)
    return cases


def flatten(result):
    """A result (scalar, array or tuple of them) as a list of arrays."""
    if isinstance(result, tuple):
        return [a for part in result for a in flatten(part)]
    return [np.array(result)]


def digest(arr):
    h = hashlib.sha256(f"{arr.dtype.str} {arr.shape} ".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_here(path_file, only=None):
    """Compute every case on this process's SIMD path, for every thread count
    (only those whose name holds ``only``, when given)."""
    import warnings

    import fastloss

    path = fastloss.show_config(mode="dicts")["simd"]["path"]
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in all_cases():
            if only and only not in name:
                continue
            for n in THREADS:
                for k, arr in enumerate(flatten(fn(n=n))):
                    results[f"{path}/threads{n}/{name}/{k}"] = digest(arr)
    with open(path_file, "w") as f:
        json.dump(results, f)


def available_paths_compat():
    """The SIMD paths of the installed build (the old layout's module too)."""
    try:
        from fastloss._kernels import available_paths
    except ImportError:
        from fastloss._dispatch import available_paths
    return available_paths()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", metavar="FILE", help="write every result's digest to FILE")
    group.add_argument("--compare", metavar="FILE", help="compare with the results in FILE")
    group.add_argument("--worker", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--only", metavar="TEXT",
                        help="only the cases whose name holds TEXT (e.g. bce_logits/float64)")
    args = parser.parse_args(argv)
    if args.worker:
        run_here(args.worker, args.only)
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in available_paths_compat():
            out = os.path.join(tmp, f"{path}.json")
            env = {**os.environ, "FASTLOSS_SIMD": path}
            only = ["--only", args.only] if args.only else []
            subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", out, *only],
                           check=True, env=env, cwd=tmp)
            with open(out) as f:
                results.update(json.load(f))
    if args.save:
        with open(args.save, "w") as f:
            json.dump(results, f, indent=0, sort_keys=True)
        print(f"{len(results)} results saved to {args.save}")
        return 0
    with open(args.compare) as f:
        before = json.load(f)
    if args.only:
        before = {k: v for k, v in before.items() if args.only in k}
    differ = [k for k in sorted(before) if k in results and before[k] != results[k]]
    missing = sorted(set(before) ^ set(results))
    for k in differ[:40]:
        print(f"differs: {k}")
    for k in missing[:40]:
        print(f"only in {'before' if k in before else 'now'}: {k}")
    paths = sorted({k.split("/")[0] for k in results})
    print(f"{len(results)} results (paths {', '.join(paths)}; threads "
          f"{', '.join(map(str, THREADS))}): {len(differ)} differ, {len(missing)} missing")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
