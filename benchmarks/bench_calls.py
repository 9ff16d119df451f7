"""The cost of one call on small arrays: microseconds per call of every
function and loss method, beside PyTorch and plain NumPy on the same arrays.

    python benchmarks/bench_calls.py [--calls N] [--repeat R] [--shapes 32x10,256x10]
                                     [--num-threads N]

For each shape (default 32 x 10, 256 x 10 and 1024 x 100, float32: the
minibatches of a training loop), each call is made N times in a row, R
rounds, and the median round's time per call is reported; fastloss and its
peers alternate round by round, so that they share the machine's state.
PyTorch (if installed) runs under ``torch.no_grad()`` for the forward calls
and through autograd for the gradients, on tensors made from the same
arrays with ``torch.from_numpy`` (not timed); its thread count is the
default. NumPy is a stable vectorized implementation of the same formula.
``--num-threads N`` passes ``num_threads=N`` to every fastloss call and loss
object (the calls of an estimator made with a thread count).
"""

import argparse
import statistics
import time

import numpy as np

import fastloss


def numpy_peers(x, y, t):
    def lse():
        m = x.max(axis=-1, keepdims=True)
        return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[:, 0]

    def softmax():
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def ce():
        m = x.max(axis=-1, keepdims=True)
        logp = x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    def ce_vg():
        m = x.max(axis=-1, keepdims=True)
        e = np.exp(x - m)
        s = e.sum(axis=-1, keepdims=True)
        logp = x - m - np.log(s)
        g = e / s
        g[np.arange(len(y)), y] -= 1
        return -logp[np.arange(len(y)), y].mean(), g / len(y)

    def bce():
        return np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))

    def mse():
        return np.mean((x - t) ** 2)

    return {"logsumexp": lse, "softmax": softmax, "cross_entropy": ce,
            "CrossEntropyLoss.value_and_grad": ce_vg,
            "binary_cross_entropy_with_logits": bce, "mse_loss": mse}


def torch_peers(x, y, t):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return {}
    xt, yt, tt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(t)

    def no_grad(fn):
        def run():
            with torch.no_grad():
                return fn()
        return run

    def ce_vg():
        xg = xt.detach().requires_grad_()
        loss = F.cross_entropy(xg, yt)
        loss.backward()
        return loss, xg.grad

    def bce_vg():
        xg = xt.detach().requires_grad_()
        loss = F.binary_cross_entropy_with_logits(xg, tt)
        loss.backward()
        return loss, xg.grad

    return {
        "logsumexp": no_grad(lambda: torch.logsumexp(xt, -1)),
        "softmax": no_grad(lambda: torch.softmax(xt, -1)),
        "log_softmax": no_grad(lambda: torch.log_softmax(xt, -1)),
        "cross_entropy": no_grad(lambda: F.cross_entropy(xt, yt)),
        "CrossEntropyLoss.value_and_grad": ce_vg,
        "nll_loss": no_grad(lambda: F.nll_loss(xt, yt)),
        "binary_cross_entropy_with_logits":
            no_grad(lambda: F.binary_cross_entropy_with_logits(xt, tt)),
        "BCEWithLogitsLoss.value_and_grad": bce_vg,
        "binary_cross_entropy": no_grad(lambda: F.binary_cross_entropy(torch.sigmoid(xt), tt)),
        "mse_loss": no_grad(lambda: F.mse_loss(xt, tt)),
    }


def fastloss_calls(x, y, t, num_threads=None):
    p = 1 / (1 + np.exp(-x))
    kw = {} if num_threads is None else {"num_threads": num_threads}
    ce, bce = fastloss.CrossEntropyLoss(**kw), fastloss.BCEWithLogitsLoss(**kw)
    mse = fastloss.MSELoss(**kw)
    return {
        "logsumexp": lambda: fastloss.logsumexp(x, **kw),
        "softmax": lambda: fastloss.softmax(x, **kw),
        "log_softmax": lambda: fastloss.log_softmax(x, **kw),
        "cross_entropy": lambda: fastloss.cross_entropy(x, y, **kw),
        "CrossEntropyLoss()": lambda: ce(x, y),
        "CrossEntropyLoss.grad": lambda: ce.grad(x, y),
        "CrossEntropyLoss.value_and_grad": lambda: ce.value_and_grad(x, y),
        "nll_loss": lambda: fastloss.nll_loss(x, y, **kw),
        "binary_cross_entropy_with_logits":
            lambda: fastloss.binary_cross_entropy_with_logits(x, t, **kw),
        "BCEWithLogitsLoss.value_and_grad": lambda: bce.value_and_grad(x, t),
        "binary_cross_entropy": lambda: fastloss.binary_cross_entropy(p, t, **kw),
        "mse_loss": lambda: fastloss.mse_loss(x, t, **kw),
        "MSELoss.value_and_grad": lambda: mse.value_and_grad(x, t),
    }


def per_call(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--shapes", default="32x10,256x10,1024x100")
    parser.add_argument("--num-threads", type=int, default=None,
                        help="num_threads of every fastloss call and loss object (default: "
                             "none given)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    try:
        import torch
        peer = f"PyTorch {torch.__version__}"
    except ImportError:
        peer = "no PyTorch"
    print(f"fastloss {fastloss.__version__} ({fastloss._kernels.path}), NumPy "
          f"{np.__version__}, {peer}; float32; {args.calls} calls x {args.repeat} rounds, "
          f"median us per call; fastloss's num_threads={args.num_threads}")
    print("\n| shape | call | fastloss us | PyTorch us | NumPy us | x PyTorch | x NumPy |")
    print("|---|---|---|---|---|---|---|")
    for spec in args.shapes.split(","):
        n, c = (int(v) for v in spec.split("x"))
        x = rng.standard_normal((n, c)).astype(np.float32)
        y = rng.integers(0, c, n)
        t = rng.random((n, c)).astype(np.float32)
        ours = fastloss_calls(x, y, t, args.num_threads)
        torch_, numpy_ = torch_peers(x, y, t), numpy_peers(x, y, t)
        for name, fn in ours.items():
            runs = {"fastloss": fn}
            if name in torch_:
                runs["torch"] = torch_[name]
            if name in numpy_:
                runs["numpy"] = numpy_[name]
            for f in runs.values():
                per_call(f, max(args.calls // 10, 10))           # warm up
            times = {k: [] for k in runs}
            for _ in range(args.repeat):
                for k, f in runs.items():
                    times[k].append(per_call(f, args.calls))
            med = {k: statistics.median(v) for k, v in times.items()}

            cell = {k: f"{med[k]:.2f}" if k in med else "-" for k in ("fastloss", "torch", "numpy")}
            ratio = {k: f"{med[k] / med['fastloss']:.1f}" if k in med else "-"
                     for k in ("torch", "numpy")}
            print(f"| {n:,} x {c:,} | {name} | {cell['fastloss']} | {cell['torch']} | "
                  f"{cell['numpy']} | {ratio['torch']} | {ratio['numpy']} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
