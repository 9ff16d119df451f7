"""pytest-benchmark: fastloss and each installed peer, side by side.

    pip install ".[bench]"            # plus torch / scikit-learn / scipy to compare
    python -m pytest benchmarks/test_bench_losses.py              # two shapes, ~1 min
    python -m pytest benchmarks/test_bench_losses.py --full-grid  # the whole grid

Each group is one (operation, dtype, shape): fastloss and every installed
peer (NumPy, PyTorch, scikit-learn, SciPy) on the same arrays with the same
threads (FASTLOSS_BENCH_THREADS, default 2), medians of ROUNDS calls after a
warm-up. Unless given on the command line (conftest.py), the tables show
the median (with its ratio to the group's fastest: fastloss where it leads),
the IQR and the rounds, sorted by name so that fastloss comes first in its
group. Each benchmark's ``extra_info`` holds its GB/s (the logits, and BCE's
targets, over the median) and its time over fastloss's; fastloss's also the
memory floor's GB/s and fastloss's share of it, the floor timed right after
it on the same arrays. At the end one table gives fastloss's speed-up over
each peer, as ``python -m fastloss bench`` prints it.
"""

import os

import pytest

from fastloss._tools import bench as _bench

pytest.importorskip("pytest_benchmark")

THREADS = int(os.environ.get("FASTLOSS_BENCH_THREADS", "2"))
ROUNDS = 7
IMPLS = ["fastloss", *_bench.installed_peers()]          # fastloss first: the ratios
QUICK = [((100_000, 100), "float32"), ((1_000, 32_000), "float32")]
FULL = [(shape, dtype) for shape in _bench.SHAPES for dtype in _bench.DTYPES]
_cases = {}
_fastloss_seconds = {}          # group -> fastloss's median, for the peers' ratios


def pytest_generate_tests(metafunc):
    if "grid_point" in metafunc.fixturenames:
        grid = FULL if metafunc.config.getoption("--full-grid") else QUICK
        metafunc.parametrize("grid_point", grid,
                             ids=[f"{s[0]}x{s[1]}-{d}" for s, d in grid])


def case(shape, dtype):
    key = (shape, dtype)
    if key not in _cases:
        _cases.clear()                  # keep one set of arrays in memory
        _cases[key] = _bench.Case(*shape, dtype)
    return _cases[key]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", list(_bench.OPS))
def test_throughput(benchmark, grid_point, op, impl):
    c = case(*grid_point)
    fn = _bench.implementation(impl, c, op, THREADS)
    if fn is None:
        pytest.skip(f"{impl} has no {op}")
    gb = (c.x.nbytes + (c.t.nbytes if op in _bench.BINARY else 0)) / 1e9
    benchmark.group = f"{op} {c.dtype.name} {c.label}"
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    info = benchmark.extra_info
    # the fields of a bench.run_grid record (conftest's closing table reads them)
    info.update(shape=c.label, n=c.n, c=c.c, dtype=c.dtype.name, op=op, impl=impl, gb=gb)
    info["GB/s"] = round(gb / median, 3)
    if impl == "fastloss":
        _fastloss_seconds[benchmark.group] = median
        floor_kind = _bench.OPS[op][0]
        floor = _bench.median_seconds(_bench.floor(c, floor_kind, op, THREADS), ROUNDS)
        info["floor seconds"] = floor
        info[f"{floor_kind} floor GB/s"] = round(gb / floor, 3)
        info["x floor"] = round(floor / median, 3)
    elif benchmark.group in _fastloss_seconds:
        info["x fastloss time"] = round(median / _fastloss_seconds[benchmark.group], 3)
