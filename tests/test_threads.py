"""Results are bitwise the same for any number of threads, and for calls made
concurrently from 8 Python threads for several seconds on shared read-only
inputs; thread settings and show_config. (That the calls of several Python
threads run at the same time, the GIL released, is shown by a benchmark:
benchmarks/bench_threads.py.)"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastloss

from support import logits, probabilities

THREAD_COUNTS = [1, 2, 3, 4, 7]


def calls(rng, dtype, rows=20_000, flat=300_001, readonly=False):
    """name -> function of num_threads, over arrays with many reduction blocks
    (by default; fewer rows take the one-thread path), read-only if asked."""
    x = logits(rng, (rows, 17), dtype)
    x3 = logits(rng, (max(rows // 400, 1), 17, 60), dtype)
    y = rng.integers(0, 17, rows)
    y[::5] = -100
    y3 = rng.integers(0, 17, (x3.shape[0], 60))
    p = probabilities(rng, (rows, 17), -1, dtype)
    w = rng.random(17) + 0.5
    z = logits(rng, (flat,), dtype)
    t = rng.random(flat).astype(dtype)
    s = (1 / (1 + np.exp(-z.astype(np.float64)))).astype(dtype)
    if readonly:
        for arr in (x, x3, y, y3, p, w, z, t, s):
            arr.flags.writeable = False
    out = {
        "logsumexp": lambda n: fastloss.logsumexp(x, num_threads=n),
        "softmax": lambda n: fastloss.softmax(x3, axis=1, num_threads=n),
        "log_softmax": lambda n: fastloss.log_softmax(x, num_threads=n),
    }
    for red in ("mean", "sum", "none"):
        out.update({
            f"ce_index_{red}": lambda n, red=red: fastloss.CrossEntropyLoss(
                w, reduction=red, label_smoothing=0.1, num_threads=n).value_and_grad(x, y),
            f"ce_axis1_{red}": lambda n, red=red: fastloss.CrossEntropyLoss(
                reduction=red, axis=1, num_threads=n).value_and_grad(x3, y3),
            f"ce_prob_{red}": lambda n, red=red: fastloss.CrossEntropyLoss(
                w, reduction=red, num_threads=n).value_and_grad(x, p),
            f"nll_{red}": lambda n, red=red: fastloss.NLLLoss(
                w, reduction=red, num_threads=n).value_and_grad(x, y),
            f"bce_logits_{red}": lambda n, red=red: fastloss.BCEWithLogitsLoss(
                pos_weight=[2.0], reduction=red, num_threads=n).value_and_grad(z, t),
            f"bce_{red}": lambda n, red=red: fastloss.BCELoss(
                reduction=red, num_threads=n).value_and_grad(s, t),
            f"mse_{red}": lambda n, red=red: fastloss.MSELoss(
                reduction=red, num_threads=n).value_and_grad(z, t),
        })
    return out


def assert_bitwise_equal(a, b, name):
    if isinstance(a, tuple):
        for u, v in zip(a, b):
            assert_bitwise_equal(u, v, name)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, name
    assert a.tobytes() == b.tobytes(), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_same_for_any_thread_count(rng, dtype):
    for name, call in calls(rng, dtype).items():
        serial = call(1)
        for n in THREAD_COUNTS[1:]:
            assert_bitwise_equal(call(n), serial, f"{name}, {n} threads")


PYTHON_THREADS = 8
STRESS_SECONDS = 4.0


def test_python_threads_on_shared_inputs_match_serial(rng):
    # 8 Python threads call every function and loss method (both dtypes, large
    # inputs on the parallel path and small ones on the calling thread, with
    # 1, 2 or the default number of OpenMP threads) on the same read-only
    # arrays for several seconds; every result must be bitwise the serial one.
    work = {}
    for dtype in (np.float32, np.float64):
        for size, kw in (("large", {}), ("small", dict(rows=60, flat=500))):
            for name, call in calls(rng, dtype, readonly=True, **kw).items():
                work[f"{name} {np.dtype(dtype).name} {size}"] = call
    names = list(work)
    serial = {name: work[name](1) for name in names}
    deadline = time.monotonic() + STRESS_SECONDS

    def worker(k):
        """Passes over every call, in an order of this thread's own, until the
        deadline (at least one pass); returns the number of calls made."""
        order = np.random.default_rng(k).permutation(len(names))
        made = 0
        while made < len(names) or time.monotonic() < deadline:
            for i in order:
                n = (1, 2, None)[(made + k) % 3]
                assert_bitwise_equal(work[names[i]](n), serial[names[i]],
                                     f"{names[i]}, {n} threads, Python thread {k}")
                made += 1
        return made

    with ThreadPoolExecutor(max_workers=PYTHON_THREADS) as pool:
        made = list(pool.map(worker, range(PYTHON_THREADS)))
    assert min(made) >= len(names)
    print(f"{PYTHON_THREADS} Python threads, {len(names)} calls each pass, "
          f"{sum(made):,} calls in all, all bitwise the serial results")
    for name in names:                        # and the shared inputs are untouched
        assert_bitwise_equal(work[name](1), serial[name], name)


def test_set_and_get_num_threads():
    default = fastloss.get_num_threads()
    assert default >= 1
    try:
        fastloss.set_num_threads(3)
        expected = 3 if fastloss.show_config("dicts")["openmp"]["enabled"] else 1
        assert fastloss.get_num_threads() == expected
    finally:
        fastloss.set_num_threads(None)
    assert fastloss.get_num_threads() == default


def test_show_config(capsys):
    info = fastloss.show_config(mode="dicts")
    assert info["fastloss"] == fastloss.__version__
    assert set(info) >= {"compiler", "openmp", "threads", "simd"}
    assert fastloss.show_config() is None
    text = capsys.readouterr().out
    assert "compiler" in text and "OpenMP" in text and "SIMD" in text


# ----------------------------------------- num_threads, threadpoolctl, OMP_NUM_THREADS

OPENMP = fastloss.show_config("dicts")["openmp"]["enabled"]
needs_openmp = pytest.mark.skipif(not OPENMP, reason="a build without OpenMP has one thread")


@needs_openmp
def test_num_threads_context_manager_sets_and_restores():
    default = fastloss.get_num_threads()
    with fastloss.num_threads(3) as n:
        assert n == 3 == fastloss.get_num_threads()
        with fastloss.num_threads(1) as inner:
            assert inner == 1 == fastloss.get_num_threads()
        assert fastloss.get_num_threads() == 3
        with pytest.raises(RuntimeError, match="boom"), fastloss.num_threads(2):
            assert fastloss.get_num_threads() == 2
            raise RuntimeError("boom")
        assert fastloss.get_num_threads() == 3
    assert fastloss.get_num_threads() == default


@needs_openmp
def test_num_threads_context_manager_keeps_an_explicit_setting():
    try:
        fastloss.set_num_threads(3)
        with fastloss.num_threads(None) as n:
            assert n == fastloss.get_num_threads()
            assert n == fastloss.show_config("dicts")["openmp"]["max_threads"]
        assert fastloss.get_num_threads() == 3
    finally:
        fastloss.set_num_threads(None)


def test_num_threads_context_manager_refuses_bad_values():
    default = fastloss.get_num_threads()
    with pytest.raises(ValueError, match="n: expected a positive integer or None, got 0"):
        with fastloss.num_threads(0):
            pass
    assert fastloss.get_num_threads() == default


@needs_openmp
def test_threadpool_limits_limit_the_default():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    default = fastloss.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastloss.get_num_threads() == 1
        assert fastloss.show_config("dicts")["threads"] == 1
        # an explicit setting, and a call's own num_threads, take precedence
        with fastloss.num_threads(2):
            assert fastloss.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits=3, user_api="openmp"):
        assert fastloss.get_num_threads() == 3
    assert fastloss.get_num_threads() == default


def run_python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_openmp
def test_threadpool_info_lists_the_openmp_runtime_fastloss_loads():
    pytest.importorskip("threadpoolctl")
    # A fresh interpreter: no OpenMP runtime before fastloss is imported
    # (NumPy's BLAS uses pthreads), then the one fastloss's kernels call.
    out = run_python(
        "import json, os, numpy, threadpoolctl\n"
        "def omp(): return [os.path.realpath(i['filepath']) for i in\n"
        "                   threadpoolctl.threadpool_info() if i['user_api'] == 'openmp']\n"
        "before = omp()\n"
        "import fastloss\n"
        "lib = fastloss.show_config('dicts')['openmp']['library']\n"
        "print(json.dumps([before, omp(), os.path.realpath(lib)]))\n"
    )
    before, after, library = json.loads(out)
    assert library not in before
    assert library in after


@needs_openmp
@pytest.mark.parametrize("value", ["1", "3"])
def test_omp_num_threads_sets_the_default(value):
    out = run_python("import fastloss; print(fastloss.get_num_threads())",
                     OMP_NUM_THREADS=value)
    assert out.split() == [value]


@needs_openmp
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer cannot run under an address-space limit")
def test_huge_thread_counts_are_clamped():
    # num_threads=1000 under a 3 GB address-space limit (10**6 anywhere) made
    # GNU OpenMP fail to create the threads and end the process ("libgomp:
    # Thread creation failed"); 2**31 and beyond raised OverflowError from the
    # kernel call. Calls clamp to MAX_THREADS; results are the same bits.
    out = run_python(
        "import resource, numpy as np, fastloss\n"
        "from fastloss import _config\n"
        "resource.setrlimit(resource.RLIMIT_AS,\n"
        "                   (3 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
        "x = np.random.default_rng(0).standard_normal((100_000, 10)).astype(np.float32)\n"
        "y = np.random.default_rng(1).integers(0, 10, 100_000)\n"
        "want = fastloss.logsumexp(x, num_threads=1), fastloss.cross_entropy(x, y)\n"
        "for n in (1000, 10**6, 2**31, 2**63, 2**100):\n"
        "    got = fastloss.logsumexp(x, num_threads=n), fastloss.cross_entropy(\n"
        "        x, y, num_threads=n)\n"
        "    assert all(np.array_equal(g, w) for g, w in zip(got, want)), n\n"
        "    with fastloss.num_threads(n):\n"
        "        assert fastloss.get_num_threads() == _config.MAX_THREADS\n"
        "        assert np.array_equal(fastloss.softmax(x), fastloss.softmax(x, num_threads=1))\n"
        "print('ok', _config.MAX_THREADS)\n"
    )
    assert out.split()[0] == "ok"


RACE = """
import threading, time, numpy as np, fastloss
x = np.zeros((200_000, 3))
y = np.zeros(200_000, np.int64)
stop = False
def writer():
    while not stop:
        y[-1] = 1 << 40
        y[-1] = 0
threading.Thread(target=writer, daemon=True).start()
seen = {"ok": 0, "IndexError": 0, "ValueError": 0}
calls = [lambda: fastloss.cross_entropy(x, y, reduction="sum"),
         lambda: fastloss.CrossEntropyLoss().value_and_grad(x, y),
         lambda: fastloss.CrossEntropyLoss(reduction="none").grad(x, y),
         lambda: fastloss.nll_loss(x, y)]
end = time.perf_counter() + {seconds}
k = 0
while time.perf_counter() < end or k < 12:     # a slow (sanitizer) build too
    try:
        result = calls[k % len(calls)]()
        seen["ok"] += 1
    except IndexError as exc:
        assert "target: class index 1099511627776 at position (199999,)" in str(exc), exc
        seen["IndexError"] += 1
    except ValueError as exc:
        assert "target: changed while the kernel read it" in str(exc), exc
        seen["ValueError"] += 1
    k += 1
stop = True
print(seen["ok"], seen["IndexError"], seen["ValueError"], k)
"""


def test_targets_written_during_a_call_never_crash():
    """Another thread writes an out-of-range target and back while the
    kernels run: each call gives a result, the IndexError of the value it
    read, or the ValueError of a change between its check and its pass. The
    kernels read each target once and check it before use; when they read
    the targets twice (a check before a pass into an array of the caller's
    or a "mean" gradient) they compare checksums (this segfaulted: a target
    checked in a first pass was used unchecked by the second)."""
    out = run_python(RACE.replace("{seconds}", "2.0"))
    ok, index_errors, value_errors, calls = map(int, out.split())
    assert ok + index_errors + value_errors == calls >= 12


def stat_line(busy, idle, cpus=2):
    """A /proc/stat of `cpus` CPUs whose ticks are split busy (user) / idle."""
    lines = [f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0"]
    lines += [f"cpu{k} 0 0 0 0 0 0 0 0 0 0" for k in range(cpus)]
    return "\n".join(lines) + "\nintr 0\n"


@pytest.mark.parametrize("theirs,expected", [(0, 2), (40, 2), (90, 1), (200, 1)])
def test_default_threads_leave_out_the_cpus_other_processes_keep_busy(theirs, expected):
    """Over 1 s (100 ticks per CPU, 200 on 2 CPUs) this process used 100
    ticks and other processes `theirs`: a default call gets a thread only
    for a CPU that is free (half a CPU or more)."""
    from fastloss._config import _BusyCpus

    state = {"t": 0.0, "stat": stat_line(0, 0), "own": 0.0}
    busy = _BusyCpus(period=0.1, read_stat=lambda: state["stat"],
                     own_seconds=lambda: state["own"], clock=lambda: state["t"])
    busy.tick = 100.0
    assert busy.threads(2) == 2                    # no interval measured yet
    state.update(t=1.0, stat=stat_line(100 + theirs, 100 - theirs), own=1.0)
    assert busy.threads(2) == expected
    assert busy.threads(1) == 1
    state.update(t=1.05)                           # within the period: not re-read
    state["stat"] = stat_line(0, 0)
    assert busy.threads(2) == expected


def test_busy_cpus_without_proc_stat():
    from fastloss._config import _BusyCpus

    busy = _BusyCpus(read_stat=lambda: None)
    assert busy.others() == 0.0 and busy.threads(2) == 2
