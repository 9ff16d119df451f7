"""Do calls from several Python threads run at the same time (the GIL released
in the kernels)? Throughput of a pool of 2 Python threads against 1. And
with ``--load``: is a call with the default threads ever slower than one
thread, on a quiet machine and with a core taken by another process?

    python benchmarks/bench_threads.py [--calls N] [--repeat R] [--json FILE]
    python benchmarks/bench_threads.py --load [--calls N] [--json FILE]

For each function: N calls on one Python thread, then 2N calls shared by a
pool of 2 Python threads (N each, started together); every call on one
OpenMP thread (``num_threads=1``), on float32 arrays of 2,000 x 100 (about
0.3-3 ms per call, so the Python-level validation, run with the GIL held, is
a few per cent of it). The ratio is the pool's throughput over one thread's:
2.0 when the calls overlap fully (the GIL released, two cores free), 1.0 when
they serialize. A control holding the GIL (a pure-Python loop) shows what
serialization measures in the same run. Rounds alternate serial and pool;
the table gives medians of ``--repeat`` rounds.

That ratio needs two idle cores. The last column needs none: while the
calls run on one thread, another Python thread sleeps 0.5 ms and counts,
again and again; its count per second, as a share of its count while
nothing else runs, is near 1 when the calls release the GIL (it only waits
for the Python-level validation) and far below 1 when they hold it.

``--load`` times every operation of the benchmark grid (``python -m
fastloss bench``: cross_entropy, its value_and_grad, logsumexp, softmax,
log_softmax, BCE with logits and its value_and_grad) on the grid's float32
shapes and on 1,000 x 100, with the default threads (``num_threads=None``)
and with one, calls of the two alternating: first on a quiet machine, then
with a competitor process (``python -c "while True: pass"``, started and
stopped by the benchmark) holding one core. Each cell is the median over
``--calls`` calls; the ratio is 1-thread time over default time (above 1:
the default is faster). The quiet ratio is the threads' speed-up; the busy
ratio should never fall below 1 (the default gives a thread no free CPU is
left for to nobody).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

import fastloss


def functions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2_000, 100)).astype(np.float32)
    y = rng.integers(0, 100, 2_000)
    s = rng.uniform(0.05, 0.95, x.shape).astype(np.float32)
    ce = fastloss.CrossEntropyLoss(label_smoothing=0.1, num_threads=1)

    def hold_the_gil():
        total = 0
        for i in range(30_000):
            total += i * i
        return total

    return {
        "logsumexp": lambda: fastloss.logsumexp(x, num_threads=1),
        "softmax": lambda: fastloss.softmax(x, num_threads=1),
        "log_softmax": lambda: fastloss.log_softmax(x, num_threads=1),
        "cross_entropy": lambda: fastloss.cross_entropy(x, y, num_threads=1),
        "CrossEntropyLoss.value_and_grad": lambda: ce.value_and_grad(x, y),
        "nll_loss": lambda: fastloss.nll_loss(x, y, num_threads=1),
        "binary_cross_entropy_with_logits":
            lambda: fastloss.binary_cross_entropy_with_logits(x, s, num_threads=1),
        "binary_cross_entropy": lambda: fastloss.binary_cross_entropy(s, s, num_threads=1),
        "mse_loss": lambda: fastloss.mse_loss(x, s, num_threads=1),
        "control: pure-Python loop (holds the GIL)": hold_the_gil,
    }


def run_serial(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def run_pool(fn, calls, threads=2):
    barrier = threading.Barrier(threads + 1)

    def work():
        barrier.wait()
        for _ in range(calls):
            fn()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def sleeper_rate(fn=None, seconds=0.5):
    """Counts per second of a thread that sleeps 0.5 ms between counts, while
    ``fn`` is called in a loop on this thread (None: nothing runs)."""
    count = 0
    stop = threading.Event()

    def sleeper():
        nonlocal count
        while not stop.is_set():
            time.sleep(0.0005)
            count += 1

    t = threading.Thread(target=sleeper)
    start = time.perf_counter()
    t.start()
    while time.perf_counter() - start < seconds:
        if fn is None:
            time.sleep(0.01)
        else:
            fn()
    stop.set()
    t.join()
    return count / (time.perf_counter() - start)


LOAD_SHAPES = [(1_000, 100)]


def load_cases():
    """(operation, shape label, default-threads callable, 1-thread callable)."""
    from fastloss._tools import bench
    for n, c in LOAD_SHAPES + bench.SHAPES:
        case = bench.Case(n, c, "float32")
        for op in bench.OPS:
            yield op, case.label, bench._fastloss(case, op, None), bench._fastloss(case, op, 1)


def time_pair(default, one, calls):
    """Median seconds per call of each, the two alternating call by call."""
    ta, tb = [], []
    for f in (default, one, default, one):
        f()                                    # warm up
    for _ in range(calls):
        for f, times in ((default, ta), (one, tb)):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


QUIET_AFTER = 0.5     # seconds after the competitor stops, before a quiet pair


def competitor():
    """A process holding one core; give the default threads' sampling of the
    machine's load (every 0.1 s) time to see it."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    return proc


def run_load(args):
    info = fastloss.show_config("dicts")
    print(f"fastloss {info['fastloss']}, SIMD {info['simd']['path']}, {os.cpu_count()} CPUs, "
          f"default {fastloss.get_num_threads()} threads, float32, medians of "
          f"{args.calls} calls")
    rows = []
    for op, label, default, one in load_cases():
        quiet = time_pair(default, one, args.calls)
        proc = competitor()
        try:
            busy = time_pair(default, one, args.calls)
        finally:
            proc.kill()
            proc.wait()
            # let the sampling of the load (the last 0.1 s) forget the
            # competitor before the next quiet pair: short calls (1,000 x 100:
            # 64 calls in 10 ms) were otherwise timed as if a core were busy
            time.sleep(QUIET_AFTER)
        rows.append(dict(function=op, shape=label,
                         quiet_default_ms=1e3 * quiet[0], quiet_one_ms=1e3 * quiet[1],
                         busy_default_ms=1e3 * busy[0], busy_one_ms=1e3 * busy[1]))
        r = rows[-1]
        print(f"| {op} | {label} | {r['quiet_one_ms']:.3f} | {r['quiet_default_ms']:.3f} "
              f"| {quiet[1] / quiet[0]:.2f} | {r['busy_one_ms']:.3f} "
              f"| {r['busy_default_ms']:.3f} | {busy[1] / busy[0]:.2f} |", flush=True)
    worst = min(r["busy_one_ms"] / r["busy_default_ms"] for r in rows)
    print(f"\nbusy: the default's worst ratio to 1 thread {worst:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per thread per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (medians)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--load", action="store_true",
                        help="default threads against 1, quiet and with a core busy")
    args = parser.parse_args()
    if args.load:
        print("| function | shape | quiet: 1 thread ms | quiet: default ms | speed-up "
              "| busy: 1 thread ms | busy: default ms | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        return run_load(args)

    info = fastloss.show_config("dicts")
    print(f"fastloss {info['fastloss']}, SIMD {info['simd']['path']}, "
          f"{os.cpu_count()} CPUs, {args.calls} calls per thread, medians of {args.repeat}")
    rows = []
    for name, fn in functions().items():
        for _ in range(10):
            fn()                               # warm up
        serial, pool = [], []
        for _ in range(args.repeat):
            serial.append(run_serial(fn, args.calls))
            pool.append(run_pool(fn, args.calls))
        t1, t2 = statistics.median(serial), statistics.median(pool)
        idle = statistics.median(sleeper_rate() for _ in range(args.repeat))
        busy = statistics.median(sleeper_rate(fn) for _ in range(args.repeat))
        rows.append(dict(function=name, ms_per_call=1e3 * t1 / args.calls,
                         serial_calls_per_s=args.calls / t1,
                         pool_calls_per_s=2 * args.calls / t2,
                         ratio=2 * t1 / t2, sleeper_share=busy / idle))
    print("\n| function | ms per call | 1 thread calls/s | 2-thread pool calls/s | ratio "
          "| sleeper's share |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['function']} | {r['ms_per_call']:.3f} | {r['serial_calls_per_s']:.0f} "
              f"| {r['pool_calls_per_s']:.0f} | {r['ratio']:.2f} "
              f"| {r['sleeper_share']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
