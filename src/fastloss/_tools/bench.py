"""The benchmark grid: fastloss, the NumPy reference, every installed peer and
the memory floors, timed on the same arrays with the same threads.

``python -m fastloss bench`` (also ``benchmarks/report.py``) runs it and
prints one table, optionally a JSON file and a PNG plot; the
pytest-benchmark suite in ``benchmarks/`` times the same callables. Peers are
optional: an implementation whose package is not installed is left out. A
floor is a parallel loop compiled into the kernel modules with the kernels'
flags and blocks: ``read`` sums the logits, ``copy`` copies them; a pass
over logits and targets (BCE, smooth L1, KL divergence) has the floor of
reading (or copying) the logits plus reading the targets.
"""

import json
import os
import platform
import statistics
import sys
import textwrap
import time

import numpy as np

from .. import _api
from .._config import show_config
from .._kernels import kernels as _kernels

SHAPES = [(1_000_000, 10), (100_000, 100), (10_000, 1_000), (1_000, 32_000), (8, 262_144)]
DTYPES = ("float32", "float64")
# operation -> (floor kind, its description)
OPS = {
    "cross_entropy": ("read", "cross_entropy forward, mean"),
    "cross_entropy_value_and_grad": ("copy", "cross_entropy loss and gradient"),
    "logsumexp": ("read", "logsumexp over classes"),
    "softmax": ("copy", "softmax"),
    "log_softmax": ("copy", "log_softmax"),
    "bce_with_logits": ("read", "binary_cross_entropy_with_logits forward, mean"),
    "bce_with_logits_value_and_grad": ("copy", "BCE with logits loss and gradient"),
    "sigmoid": ("copy", "sigmoid, elementwise"),
    "log_sigmoid": ("copy", "log_sigmoid, elementwise"),
    "softplus": ("copy", "softplus, elementwise"),
    "smooth_l1_value_and_grad": ("copy", "smooth L1 loss and gradient, mean"),
    "kl_div_value_and_grad": ("copy", "KL divergence and gradient, batchmean"),
    "l1_value_and_grad": ("copy", "L1 loss and gradient, mean"),
    "huber_value_and_grad": ("copy", "Huber loss and gradient, mean"),
    "softmax_backward": ("copy", "softmax_backward from the output"),
    "log_softmax_backward": ("copy", "log_softmax_backward from the output"),
}
# the operations reading a second array of the logits' shape (the targets;
# for the backward functions the saved output): its read joins the floor
BINARY = ("bce_with_logits", "bce_with_logits_value_and_grad", "smooth_l1_value_and_grad",
          "kl_div_value_and_grad", "l1_value_and_grad", "huber_value_and_grad",
          "softmax_backward", "log_softmax_backward")
PEERS = ("numpy", "torch", "sklearn", "scipy")


class Case:
    """The arrays of one (shape, dtype): logits x, class indices y, binary targets t."""

    def __init__(self, n, c, dtype, seed=0):
        rng = np.random.default_rng(seed)
        self.n, self.c, self.dtype = n, c, np.dtype(dtype)
        self.x = (rng.standard_normal((n, c), dtype=np.float32) * 3).astype(self.dtype)
        self.y = rng.integers(0, c, n)
        self.t = (rng.random((n, c), dtype=np.float32) < 0.3).astype(self.dtype)
        self.out = np.empty_like(self.x)
        self.scratch = np.empty_like(self.x)

    @property
    def label(self):
        return f"{self.n:,} x {self.c:,}"


# ------------------------------------------------------------------ floors

def floor(case, kind, op, n_threads):
    """A callable running the memory floor of `op` on the case's arrays."""
    flat, out = case.x.reshape(-1), case.scratch.reshape(-1)
    if kind == "read":
        def main():
            _kernels.read_floor(flat, n_threads)
    else:
        def main():
            _kernels.copy_floor(flat, out, n_threads)
    if op not in BINARY:
        return main
    targets = case.t.reshape(-1)

    def both():
        main()
        _kernels.read_floor(targets, n_threads)
    return both


# --------------------------------------------------------- implementations

def _fastloss(case, op, n_threads):
    x, y, t, out = case.x, case.y, case.t, case.out
    ce = _api.CrossEntropyLoss(num_threads=n_threads)
    bce = _api.BCEWithLogitsLoss(num_threads=n_threads)
    smooth_l1 = _api.SmoothL1Loss(num_threads=n_threads)
    kl = _api.KLDivLoss(reduction="batchmean", num_threads=n_threads)
    l1 = _api.L1Loss(num_threads=n_threads)
    huber = _api.HuberLoss(num_threads=n_threads)
    return {
        "cross_entropy": lambda: _api.cross_entropy(x, y, num_threads=n_threads),
        "cross_entropy_value_and_grad": lambda: ce.value_and_grad(x, y, out=out),
        "logsumexp": lambda: _api.logsumexp(x, num_threads=n_threads),
        "softmax": lambda: _api.softmax(x, out=out, num_threads=n_threads),
        "log_softmax": lambda: _api.log_softmax(x, out=out, num_threads=n_threads),
        "bce_with_logits": lambda: bce(x, t),
        "bce_with_logits_value_and_grad": lambda: bce.value_and_grad(x, t, out=out),
        "sigmoid": lambda: _api.sigmoid(x, out=out, num_threads=n_threads),
        "log_sigmoid": lambda: _api.log_sigmoid(x, out=out, num_threads=n_threads),
        "softplus": lambda: _api.softplus(x, out=out, num_threads=n_threads),
        "smooth_l1_value_and_grad": lambda: smooth_l1.value_and_grad(x, t, out=out),
        "kl_div_value_and_grad": lambda: kl.value_and_grad(x, t, out=out),
        "l1_value_and_grad": lambda: l1.value_and_grad(x, t, out=out),
        "huber_value_and_grad": lambda: huber.value_and_grad(x, t, out=out),
        # x stands for the saved output, t for the upstream gradient
        "softmax_backward": lambda: _api.softmax_backward(t, x, out=out,
                                                          num_threads=n_threads),
        "log_softmax_backward": lambda: _api.log_softmax_backward(t, x, out=out,
                                                                  num_threads=n_threads),
    }[op]


def numpy_logsumexp(x):
    m = x.max(axis=1, keepdims=True)
    return np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]


def numpy_cross_entropy_value_and_grad(x, y):
    """Mean cross-entropy and its gradient softmax(x) - onehot(y), over N."""
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = (np.log(s[:, 0]) + m[:, 0] - x[rows, y]).mean()
    grad = e / s
    grad[rows, y] -= 1
    grad /= len(y)
    return loss, grad


def numpy_bce_with_logits(x, t, grad=False):
    loss = ((1 - t) * x + np.logaddexp(0, -x)).mean()
    if not grad:
        return loss
    return loss, (1 / (1 + np.exp(-x)) - t) / x.size


def numpy_smooth_l1_value_and_grad(x, t):
    """Mean smooth L1 (beta 1) and its gradient, clip(x - t, -1, 1) / size."""
    d = x - t
    z = np.abs(d)
    loss = np.where(z < 1, 0.5 * z * z, z - 0.5).mean()
    return loss, np.clip(d, -1, 1) / x.size


def numpy_kl_div_value_and_grad(x, t):
    """KL divergence over the batch (rows) and its gradient -t / rows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        xlogy = np.where(t == 0, 0, t * np.log(t))
    return (xlogy - t * x).sum() / x.shape[0], -t / x.shape[0]


def numpy_l1_value_and_grad(x, t):
    """Mean L1 and its gradient sign(x - t) / size."""
    d = x - t
    return np.abs(d).mean(), np.sign(d) / x.size


def numpy_huber_value_and_grad(x, t):
    """Mean Huber (delta 1) and its gradient, clip(x - t, -1, 1) / size."""
    d = x - t
    z = np.abs(d)
    return np.where(z < 1, 0.5 * z * z, z - 0.5).mean(), np.clip(d, -1, 1) / x.size


def _numpy(case, op, n_threads):
    x, y, t = case.x, case.y, case.t
    return {
        "cross_entropy": lambda: (numpy_logsumexp(x) - x[np.arange(len(y)), y]).mean(),
        "cross_entropy_value_and_grad": lambda: numpy_cross_entropy_value_and_grad(x, y),
        "logsumexp": lambda: numpy_logsumexp(x),
        "softmax": lambda: np.exp(x - numpy_logsumexp(x)[:, None]),
        "log_softmax": lambda: x - numpy_logsumexp(x)[:, None],
        "bce_with_logits": lambda: numpy_bce_with_logits(x, t),
        "bce_with_logits_value_and_grad": lambda: numpy_bce_with_logits(x, t, grad=True),
        "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "log_sigmoid": lambda: -np.logaddexp(0, -x),
        "softplus": lambda: np.logaddexp(0, x),
        "smooth_l1_value_and_grad": lambda: numpy_smooth_l1_value_and_grad(x, t),
        "kl_div_value_and_grad": lambda: numpy_kl_div_value_and_grad(x, t),
        "l1_value_and_grad": lambda: numpy_l1_value_and_grad(x, t),
        "huber_value_and_grad": lambda: numpy_huber_value_and_grad(x, t),
        "softmax_backward": lambda: x * (t - (t * x).sum(axis=1, keepdims=True)),
        "log_softmax_backward": lambda: t - np.exp(x) * t.sum(axis=1, keepdims=True),
    }[op]


def _torch(case, op, n_threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(n_threads)
    x, y, t = torch.from_numpy(case.x), torch.from_numpy(case.y), torch.from_numpy(case.t)

    def backward(loss_fn, target):
        def run():
            xg = x.detach().requires_grad_(True)
            loss = loss_fn(xg, target)
            loss.backward()
            return loss.item(), xg.grad
        return run

    def no_grad(fn):
        def run():
            with torch.no_grad():
                return fn()
        return run

    return {
        "cross_entropy": no_grad(lambda: F.cross_entropy(x, y)),
        "cross_entropy_value_and_grad": backward(F.cross_entropy, y),
        "logsumexp": no_grad(lambda: torch.logsumexp(x, -1)),
        "softmax": no_grad(lambda: torch.softmax(x, -1)),
        "log_softmax": no_grad(lambda: torch.log_softmax(x, -1)),
        "bce_with_logits": no_grad(lambda: F.binary_cross_entropy_with_logits(x, t)),
        "bce_with_logits_value_and_grad": backward(F.binary_cross_entropy_with_logits, t),
        "sigmoid": no_grad(lambda: torch.sigmoid(x)),
        "log_sigmoid": no_grad(lambda: F.logsigmoid(x)),
        "softplus": no_grad(lambda: F.softplus(x)),
        "smooth_l1_value_and_grad": backward(F.smooth_l1_loss, t),
        "kl_div_value_and_grad": backward(
            lambda a, b: F.kl_div(a, b, reduction="batchmean"), t),
        "l1_value_and_grad": backward(F.l1_loss, t),
        "huber_value_and_grad": backward(F.huber_loss, t),
        # autograd's kernels of softmax and log_softmax backward, on the saved output
        "softmax_backward": no_grad(lambda: torch._softmax_backward_data(t, x, -1, x.dtype)),
        "log_softmax_backward": no_grad(
            lambda: torch._log_softmax_backward_data(t, x, -1, x.dtype)),
    }[op]


def _sklearn(case, op, n_threads):
    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss

    x, t = case.x, case.t
    y = case.y.astype(case.dtype)           # sklearn's y_true has the logits' dtype
    multi = HalfMultinomialLoss(n_classes=case.c)
    binary = HalfBinomialLoss()
    xf, tf = x.reshape(-1), t.reshape(-1)
    return {
        "cross_entropy": lambda: multi.loss(y_true=y, raw_prediction=x, n_threads=n_threads),
        "cross_entropy_value_and_grad": lambda: multi.loss_gradient(
            y_true=y, raw_prediction=x, n_threads=n_threads),
        "bce_with_logits": lambda: binary.loss(y_true=tf, raw_prediction=xf,
                                               n_threads=n_threads),
        "bce_with_logits_value_and_grad": lambda: binary.loss_gradient(
            y_true=tf, raw_prediction=xf, n_threads=n_threads),
    }.get(op)


def _scipy(case, op, n_threads):
    from scipy import special

    x = case.x
    return {
        "logsumexp": lambda: special.logsumexp(x, axis=-1),
        "softmax": lambda: special.softmax(x, axis=-1),
        "log_softmax": lambda: special.log_softmax(x, axis=-1),
        "sigmoid": lambda: special.expit(x),
        "log_sigmoid": (lambda: special.log_expit(x)) if hasattr(special, "log_expit") else None,
    }.get(op)


_FACTORIES = {"fastloss": _fastloss, "numpy": _numpy, "torch": _torch,
              "sklearn": _sklearn, "scipy": _scipy}


def installed_peers():
    """The peers whose package imports, in PEERS order (numpy always)."""
    found = []
    for name, module in zip(PEERS, ("numpy", "torch", "sklearn._loss.loss", "scipy.special")):
        try:
            __import__(module)
        except ImportError:
            continue
        found.append(name)
    return found


def implementation(name, case, op, n_threads):
    """A callable for `op` by implementation `name`, or None where it has none."""
    return _FACTORIES[name](case, op, n_threads)


# ------------------------------------------------------------------ timing

OURS = ("floor", "fastloss", "fastloss_1")
QUIET = 0.05      # seconds of rest before timing fastloss: let a peer's spinning
                  # OpenMP workers (PyTorch, scikit-learn) go to sleep first

def median_seconds(fn, repeat):
    fn()                                         # warm-up: page faults, thread start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_group(runners, repeat):
    """Median seconds of each runner: fastloss and its floors in interleaved
    rounds (so each ratio compares neighbouring runs), after a rest; then
    each peer on its own."""
    ours = {k: fn for k, fn in runners.items() if k in OURS}
    times = {k: [] for k in ours}
    time.sleep(QUIET)
    for fn in ours.values():
        fn()                                     # warm-up
    for _ in range(repeat):
        for k, fn in ours.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    result = {k: statistics.median(v) for k, v in times.items()}
    for k, fn in runners.items():
        if k not in ours:
            result[k] = median_seconds(fn, repeat)
    return result


def run_grid(shapes=SHAPES, dtypes=DTYPES, ops=tuple(OPS), peers=None, n_threads=2,
             repeat=5, progress=None):
    """Time every (shape, dtype, op) for fastloss, its floor and each peer.

    Returns a list of dicts: shape, n, c, dtype, op, impl ("fastloss",
    "fastloss_1" (one thread, when n_threads > 1), a peer, or "floor"),
    seconds (median of `repeat`) and gb (bytes of the logits, and of the
    targets for BCE, over 1e9). ``progress(done, total, text)`` is
    called before each timing.
    """
    peers = installed_peers() if peers is None else list(peers)
    todo = [(s, d, o) for s in shapes for d in dtypes for o in ops]
    records = []
    for k, ((n, c), dtype, op) in enumerate(todo):
        case = Case(n, c, dtype)
        gb = (case.x.nbytes + (case.t.nbytes if op in BINARY else 0)) / 1e9
        runners = {"floor": floor(case, OPS[op][0], op, n_threads),
                   "fastloss": implementation("fastloss", case, op, n_threads)}
        if n_threads > 1:                          # for the scaling column
            runners["fastloss_1"] = implementation("fastloss", case, op, 1)
        for peer in peers:
            fn = implementation(peer, case, op, n_threads)
            if fn is not None:
                runners[peer] = fn
        if progress is not None:
            progress(k, len(todo), f"{case.label} {dtype} {op}")
        for impl, seconds in time_group(runners, repeat).items():
            records.append({"shape": case.label, "n": n, "c": c, "dtype": dtype, "op": op,
                            "impl": impl, "seconds": seconds, "gb": gb})
        del case, runners
    if progress is not None:
        progress(len(todo), len(todo), "done")
    return records


# --------------------------------------------------------- table and plot

PEER_NAMES = {"numpy": "NumPy", "torch": "PyTorch", "sklearn": "sklearn", "scipy": "SciPy"}


def table(records, peers):
    """Markdown: one row per (shape, dtype, op): fastloss's GB/s, the floor's,
    their ratio, the speed-up over one thread, and fastloss's speed-up over
    each peer (peer time / fastloss time)."""
    keys, by_key = [], {}
    for rec in records:
        key = (rec["shape"], rec["dtype"], rec["op"])
        if key not in by_key:
            keys.append(key)
            by_key[key] = {}
        by_key[key][rec["impl"]] = rec
    head = ["shape", "dtype", "operation", "fastloss GB/s", "floor", "floor GB/s",
            "x floor", "x 1 thread"] + [f"x {PEER_NAMES[p]}" for p in peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        row = by_key[key]
        ours, fl, one = row["fastloss"], row["floor"], row.get("fastloss_1")
        cells = [key[0], key[1], key[2], f"{ours['gb'] / ours['seconds']:.1f}",
                 OPS[key[2]][0], f"{fl['gb'] / fl['seconds']:.1f}",
                 f"{fl['seconds'] / ours['seconds']:.2f}",
                 f"{one['seconds'] / ours['seconds']:.2f}" if one else "-"]
        for p in peers:
            cells.append(f"{row[p]['seconds'] / ours['seconds']:.1f}" if p in row else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# One colour and line style per implementation, the same in every plot
# whichever peers are installed (matplotlib's colour cycle gave a library the
# next free colour, so colours moved between runs and machines).
STYLES = {
    "floor": dict(color="black", linestyle="--", marker=""),
    "fastloss": dict(color="tab:blue", linestyle="-", marker="o"),
    "fastloss_1": dict(color="tab:blue", linestyle=":", marker="o", alpha=0.6),
    "numpy": dict(color="tab:orange", linestyle="-", marker="s"),
    "torch": dict(color="tab:red", linestyle="-", marker="^"),
    "sklearn": dict(color="tab:green", linestyle="-", marker="v"),
    "scipy": dict(color="tab:purple", linestyle="-", marker="D"),
}


def last_level_cache_bytes():
    """The size of the largest CPU cache (Linux sysfs), or None where unknown."""
    sizes = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(base)
    except OSError:
        return None
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip()
        except OSError:
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        if text[-1:] in units and text[:-1].isdigit():
            sizes.append(int(text[:-1]) * units[text[-1]])
        elif text.isdigit():
            sizes.append(int(text))
    return max(sizes) if sizes else None


def working_set_bytes(rec):
    """The bytes one timed call of a record touches: its logits, the targets
    of BCE and, for the operations with a copy floor, the array written."""
    x = rec["n"] * rec["c"] * np.dtype(rec["dtype"]).itemsize
    total = x * (2 if rec["op"] in BINARY else 1)
    return total + (x if OPS[rec["op"]][0] == "copy" else 0)


def cache_resident(records, cache_bytes):
    """The (shape, dtype) labels whose working set fits in ``cache_bytes``,
    in the records' order (none when the cache size is unknown)."""
    if cache_bytes is None:
        return []
    found = []
    for rec in records:
        key = f"{rec['shape']} {rec['dtype']}"
        if working_set_bytes(rec) <= cache_bytes and key not in found:
            found.append(key)
    return found


def cache_warning(records, cache_bytes):
    """A sentence saying which arrays fit in the last-level cache, or ''."""
    fits = cache_resident(records, cache_bytes)
    if not fits:
        return ""
    return (f"warning: the arrays of {', '.join(fits)} fit in the {cache_bytes >> 20} MiB "
            f"last-level cache: those timings measure the cache, not memory (the floors, "
            f"and fastloss's speed-up over one thread, are not those of arrays in memory)")


def plot(records, path, **options):
    """Write ``figure(records, **options)`` to ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    fig = figure(records, **options)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(records, dtype="float32", n_threads=None, repeat=None, cache_bytes=None):
    """A matplotlib figure of GB/s against the number of classes:
    cross-entropy forward (with the read floor) and loss-and-gradient (with
    the copy floor).

    Each implementation has its colour (``STYLES``); the titles give the
    shapes and the threads, one legend sits below the panels, and points
    whose arrays fit in ``cache_bytes`` are hollow, with a note saying so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("cross_entropy", "read"), ("cross_entropy_value_and_grad", "copy")]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 5.2), sharey=True)
    handles = {}
    for ax, (op, floor_kind) in zip(axes, panels):
        recs = [r for r in records if r["op"] == op and r["dtype"] == dtype]
        for impl in ["floor", "fastloss", "fastloss_1", *PEER_NAMES]:
            pts = sorted((r["c"], r["gb"] / r["seconds"], working_set_bytes(r))
                         for r in recs if r["impl"] == impl)
            if not pts:
                continue
            label = {"floor": "memory floor (read / copy)",
                     "fastloss_1": "fastloss, 1 thread"}.get(impl, PEER_NAMES.get(impl, impl))
            style = STYLES[impl]
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label,
                              **style)
            handles.setdefault(label, line)
            hot = [p for p in pts if cache_bytes is not None and p[2] <= cache_bytes]
            if hot and style["marker"]:       # cache-resident points: hollow
                ax.plot([p[0] for p in hot], [p[1] for p in hot], linestyle="",
                        marker=style["marker"], markerfacecolor="white",
                        markeredgecolor=style["color"], zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of classes C")
        shapes = ", ".join(dict.fromkeys(r["shape"] for r in recs))
        ax.set_title(f"{OPS[op][1]} ({dtype}, {floor_kind} floor)\n{shapes}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("GB/s of logits")
    threads = f"{n_threads} threads" if n_threads is not None else "threads: see the run"
    medians = f", medians of {repeat}" if repeat is not None else ""
    fig.suptitle(f"fastloss {_version()}: rows x classes as titled, {threads}{medians}",
                 fontsize=10)
    note = cache_warning([r for r in records if r["dtype"] == dtype], cache_bytes)
    bottom = 0.19 if note else 0.13         # below the panels: the legend, the note
    fig.tight_layout(rect=(0, bottom, 1, 0.95))
    fig.legend(list(handles.values()), list(handles), loc="upper center",
               bbox_to_anchor=(0.5, bottom), ncol=min(len(handles), 4), fontsize=8,
               frameon=False)
    if note:
        text = textwrap.fill("hollow points: " + note[len("warning: "):], 170)
        fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=7)
    return fig


def _version():
    from .._version import __version__
    return __version__


# ------------------------------------------------------ python -m fastloss bench

def add_arguments(parser):
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for fastloss, the floors and the peers (default 2)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed repeats per measurement, median reported (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="two small float32 shapes only")
    parser.add_argument("--json", metavar="FILE", help="write the raw records here")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="write a plot of GB/s against classes (needs matplotlib)")


def run(parser, args):
    """The full grid: progress on stderr, the table on stdout; exit status 0."""
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.plot:                # before the grid, not after minutes of it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error(f"--plot needs matplotlib, which is not installed: "
                         f"pip install matplotlib (or, from the root of a checkout of "
                         f"fastloss, pip install \".[bench]\"); got --plot {args.plot}")
    shapes, dtypes = SHAPES, DTYPES
    if args.quick:
        shapes, dtypes = [(20_000, 100), (200, 10_000)], ("float32",)
    show_config()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs;"
          f" {args.threads} threads; medians of {args.repeat}", flush=True)
    peers = installed_peers()

    def progress(done, total, text):
        width = 30
        bar = "#" * (width * done // total) + "." * (width - width * done // total)
        print(f"\r[{bar}] {done}/{total} {text:50.50}", end="", file=sys.stderr, flush=True)

    records = run_grid(shapes, dtypes, peers=peers, n_threads=args.threads,
                       repeat=args.repeat, progress=progress)
    print(file=sys.stderr)
    print(table(records, peers))
    cache = last_level_cache_bytes()
    warning = cache_warning(records, cache)
    if warning:
        print(warning, file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "repeat": args.repeat,
                       "last_level_cache_bytes": cache, "records": records}, f, indent=1)
    if args.plot:
        plot(records, args.plot, n_threads=args.threads, repeat=args.repeat,
             cache_bytes=cache)
    return 0
