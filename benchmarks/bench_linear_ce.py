"""linear_cross_entropy's value_and_grad beside PyTorch eager and the three
matrix products alone: time and memory.

    python benchmarks/bench_linear_ce.py [--small] [--repeat R] [--threads T]

Cases (float32 unless said): N=4,096 rows, D=1,024 features, V=32,000
classes; the same in float64; N=1,024, V=128,000. ``--small`` divides N
and D by 8 and V by 4 for a quick run.

Each (case, contender) runs in its own subprocess, so that its resident-set
peak is its own: the inputs are made there (seeded), one warm-up call is
made, the peak is reset (``/proc/self/clear_refs``), then R timed calls
(the median is reported), and the peak resident set (VmHWM) minus the
resident set before the calls, minus the gradients' bytes, is the memory
the call needed beyond its inputs and gradients. For fastloss the
tracemalloc peak of one more call (NumPy reports its allocations to
tracemalloc), minus the gradients, is reported too. Memory is given as a
fraction of the full logits' size, N * V * itemsize.

Contenders:

- fastloss: ``LinearCrossEntropyLoss().value_and_grad(x, W, y, b)``, the
  default chunk size, SciPy's gemm for the weight's gradient sums when
  SciPy is installed;
- fastloss, NumPy only: the same with SciPy's gemm switched off (the sums
  through a slice of the classes at a time);
- products: the three matrix products alone on the full arrays, into
  preallocated outputs: ``x @ W.T``, ``g @ W``, ``g.T @ x`` with g (N, V);
- PyTorch (if importable): ``F.cross_entropy(x @ W.T + b, y)`` then
  ``.backward()``, eager, on tensors made from the same arrays.

Every contender runs with T threads (default 2): fastloss's kernel
(``num_threads``), OpenBLAS (``OPENBLAS_NUM_THREADS``, NumPy's and
SciPy's), and torch.set_num_threads.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

FULL = [(4096, 1024, 32000, "float32"), (4096, 1024, 32000, "float64"),
        (1024, 1024, 128000, "float32")]
CONTENDERS = ["fastloss", "fastloss-numpy", "products", "torch"]


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak():
    """Reset VmHWM to the current resident set (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def inputs(n, d, v, dtype):
    rng = np.random.default_rng(20261205)
    x = (rng.standard_normal((n, d)) * 0.5).astype(dtype)
    w = (rng.standard_normal((v, d)) / np.sqrt(d)).astype(dtype)
    b = (rng.standard_normal(v) * 0.1).astype(dtype)
    y = rng.integers(0, v, n)
    return x, w, b, y


def contender(name, x, w, b, y, threads):
    """(the call, the bytes of the gradients it returns)."""
    n, d = x.shape
    v = w.shape[0]
    grad_bytes = (x.size + w.size + b.size) * x.itemsize
    if name in ("fastloss", "fastloss-numpy"):
        import fastloss
        from fastloss import _api
        if name == "fastloss-numpy":
            _api._scipy_gemm = lambda dtype: None
        loss_fn = fastloss.LinearCrossEntropyLoss(num_threads=threads)
        return (lambda: loss_fn.value_and_grad(x, w, y, b)), grad_bytes
    if name == "products":
        z = np.empty((n, v), x.dtype)
        gx, gw = np.empty_like(x), np.empty_like(w)

        def products():
            np.matmul(x, w.T, out=z)      # z stands for g in the other two
            np.matmul(z, w, out=gx)
            np.matmul(z.T, x, out=gw)
        return products, 0
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    ty = torch.from_numpy(y)

    def step():
        for t in (tx, tw, tb):
            t.grad = None
        F.cross_entropy(tx @ tw.T + tb, ty).backward()
        return tx.grad, tw.grad, tb.grad
    return step, grad_bytes


def child(args):
    n, d, v = args.case[:3]
    dtype = np.dtype(args.dtype)
    x, w, b, y = inputs(n, d, v, dtype)
    call, grad_bytes = contender(args.child, x, w, b, y, args.threads)
    call()                                            # warm-up: pools, imports, buffers
    result = None
    reset_peak()
    before = status_kib("VmRSS") * 1024
    times = []
    for _ in range(args.repeat):
        result = None                  # the last call's gradients freed first
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    rss_extra = status_kib("VmHWM") * 1024 - before - grad_bytes
    del result
    traced = None
    if args.child.startswith("fastloss"):
        import tracemalloc
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        call()
        traced = tracemalloc.get_traced_memory()[1] - base - grad_bytes
        tracemalloc.stop()
    json.dump({"median_s": statistics.median(times), "times_s": times,
               "rss_extra": rss_extra, "traced_extra": traced,
               "logits_bytes": n * v * dtype.itemsize}, sys.stdout)


def run_case(case, name, args):
    n, d, v, dtype = case
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--case",
           str(n), str(d), str(v), "--dtype", dtype, "--repeat", str(args.repeat),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        if name == "torch" and "No module named 'torch'" in out.stderr:
            return None
        raise RuntimeError(f"{name} on {case} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="N, D / 8 and V / 4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--case", type=int, nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cases = [(n // 8, d // 8, v // 4, t) if args.small else (n, d, v, t)
             for n, d, v, t in FULL]
    import fastloss
    print(f"fastloss {fastloss.__version__}, NumPy {np.__version__}, "
          f"{args.threads} threads, median of {args.repeat}")
    print("| N x D x V | dtype | contender | s | x PyTorch | x products | "
          "peak RSS extra / logits | traced extra / logits |")
    print("|---|---|---|---|---|---|---|---|")
    for case in cases:
        results = {name: run_case(case, name, args) for name in CONTENDERS}
        ref_torch = results["torch"]
        ref_products = results["products"]
        for name, r in results.items():
            if r is None:
                continue
            logits = r["logits_bytes"]
            x_torch = f"{r['median_s'] / ref_torch['median_s']:.2f}" if ref_torch else "-"
            x_prod = f"{r['median_s'] / ref_products['median_s']:.2f}"
            traced = "-" if r["traced_extra"] is None else f"{r['traced_extra'] / logits:.3f}"
            rss = "-" if name == "products" else f"{r['rss_extra'] / logits:.3f}"
            n, d, v, dtype = case
            print(f"| {n:,} x {d:,} x {v:,} | {dtype} | {name} | {r['median_s']:.2f} | "
                  f"{x_torch} | {x_prod} | {rss} | {traced} |", flush=True)


if __name__ == "__main__":
    main()
