"""Where linear_cross_entropy's value_and_grad spends its time.

    python benchmarks/lce_breakdown.py N D V [--bias] [--chunks C [C ...]]

Float32 inputs (seeded). Without ``--chunks``: one call at the default
chunk size after a warm-up, each kind of product and the cross-entropy
kernels timed (wall, summed over the blocks and class tiles), and the rest.
With ``--chunks``: the call at each chunk size (0: the default, which may be
class tiles), interleaved, 3 rounds, the median wall and CPU time (all
threads) of each.
"""

import argparse
import collections
import resource
import statistics
import time

import numpy as np

import fastloss
from fastloss import _api


def inputs(n, d, v, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), np.float32)
    w = (rng.standard_normal((v, d)) * 0.03).astype(np.float32)
    b = np.zeros(v, np.float32) if bias else None
    return x, w, rng.integers(0, v, n), b


def breakdown(x, w, y, b):
    spent = collections.Counter()

    def timed(name, fn):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            spent[name] += time.perf_counter() - t0
            return result
        return call

    for name in ("logits", "input_grad", "add_weight_grad"):
        setattr(_api._Products, name, timed(name, getattr(_api._Products, name)))
    kernels = _api._kernels

    class Timed:
        def __getattr__(self, name):
            fn = getattr(kernels, name)
            kernel = name == "class_loss" or name.startswith("lce_tile_")
            return timed("kernel", fn) if kernel else fn

    _api._kernels = Timed()
    loss_fn = fastloss.LinearCrossEntropyLoss()
    loss_fn.value_and_grad(x, w, y, b)
    spent.clear()
    t0 = time.perf_counter()
    loss_fn.value_and_grad(x, w, y, b)
    total = time.perf_counter() - t0
    for name, seconds in spent.items():
        print(f"{name:16s} {seconds:.3f} s")
    print(f"{'rest':16s} {total - sum(spent.values()):.3f} s")
    print(f"{'total':16s} {total:.3f} s")


def chunks(x, w, y, b, sizes):
    times = {c: [] for c in sizes}
    for c in sizes:
        fastloss.LinearCrossEntropyLoss(chunk_size=c or None).value_and_grad(x, w, y, b)
    for _ in range(3):
        for c in sizes:
            loss_fn = fastloss.LinearCrossEntropyLoss(chunk_size=c or None)
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            loss_fn.value_and_grad(x, w, y, b)
            t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
            times[c].append((t1 - t0, cpu))
    for c in sizes:
        wall = statistics.median(t for t, _ in times[c])
        cpu = statistics.median(u for _, u in times[c])
        print(f"chunk_size {c:6d}: wall {wall:.3f} s, CPU {cpu:.3f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", type=int, nargs=3, metavar=("N", "D", "V"))
    parser.add_argument("--bias", action="store_true")
    parser.add_argument("--chunks", type=int, nargs="+")
    args = parser.parse_args()
    arrays = inputs(*args.shape, args.bias)
    if args.chunks:
        chunks(*arrays, args.chunks)
    else:
        breakdown(*arrays)


if __name__ == "__main__":
    main()
