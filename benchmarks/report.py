"""One table and one plot: fastloss against its memory floors and its peers.

    python benchmarks/report.py [--threads 2] [--repeat 5] [--quick]
                                [--json results.json] [--plot docs/throughput.png]

For every shape, dtype and operation of ``fastloss._bench`` it prints GB/s
(the bytes of the logits, plus the targets for BCE, over the median time),
the ratio of that throughput to the floor's (1.0 = as fast as reading, or
copying, the same bytes), the speed-up of the threads over one thread and,
for each installed peer (NumPy reference, PyTorch CPU, scikit-learn's
``sklearn._loss``, ``scipy.special``), how many times faster fastloss is. A
plot of throughput against the number of classes
needs matplotlib.
"""

import argparse
import json
import os
import platform
import sys

from fastloss import _bench, show_config

PEER_NAMES = {"numpy": "NumPy", "torch": "PyTorch", "sklearn": "sklearn", "scipy": "SciPy"}


def table(records, peers):
    """Markdown rows: one per (shape, dtype, op)."""
    keys = []
    by_key = {}
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
        ours, fl = row["fastloss"], row["floor"]
        cells = [key[0], key[1], key[2], f"{ours['gb'] / ours['seconds']:.1f}",
                 _bench.OPS[key[2]][0], f"{fl['gb'] / fl['seconds']:.1f}",
                 f"{fl['seconds'] / ours['seconds']:.2f}"]
        one = row.get("fastloss_1")
        cells.append(f"{one['seconds'] / ours['seconds']:.2f}" if one else "-")
        for p in peers:
            cells.append(f"{row[p]['seconds'] / ours['seconds']:.1f}" if p in row else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(records, path, dtype="float32"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("cross_entropy", "read"), ("cross_entropy_value_and_grad", "copy")]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 4.2), sharey=True)
    for ax, (op, floor_kind) in zip(axes, panels):
        recs = [r for r in records if r["op"] == op and r["dtype"] == dtype]
        for impl in ["floor", "fastloss", *PEER_NAMES]:
            pts = sorted((r["c"], r["gb"] / r["seconds"]) for r in recs if r["impl"] == impl)
            if pts:
                label = f"{floor_kind} floor" if impl == "floor" else PEER_NAMES.get(impl, impl)
                style = "k--" if impl == "floor" else "o-"
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of classes C (N x C about 1e7 elements)")
        ax.set_title(f"{_bench.OPS[op][1]} ({dtype})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("GB/s of logits")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="two small shapes, float32")
    parser.add_argument("--json", help="write the raw records here")
    parser.add_argument("--plot", help="write a PNG plot here (needs matplotlib)")
    args = parser.parse_args(argv)
    shapes, dtypes = _bench.SHAPES, _bench.DTYPES
    if args.quick:
        shapes, dtypes = [(20_000, 100), (200, 10_000)], ("float32",)
    show_config()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
          f"threads {args.threads}; medians of {args.repeat}", flush=True)

    def progress(done, total, text):
        print(f"\r[{done}/{total}] {text:60.60}", end="", file=sys.stderr, flush=True)

    peers = _bench.installed_peers()
    records = _bench.run_grid(shapes, dtypes, peers=peers, n_threads=args.threads,
                              repeat=args.repeat, progress=progress)
    print(file=sys.stderr)
    print(table(records, peers))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "repeat": args.repeat, "records": records},
                      f, indent=1)
    if args.plot:
        plot(records, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
