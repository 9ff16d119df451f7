"""Do calls from several Python threads run at the same time (the GIL released
in the kernels)? Throughput of a pool of 2 Python threads against 1.

    python benchmarks/bench_threads.py [--calls N] [--repeat R] [--json FILE]

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
"""

import argparse
import json
import os
import statistics
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per thread per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (medians)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

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
