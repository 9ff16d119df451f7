"""pytest-benchmark: fastloss, its floor and each installed peer, side by side.

    pip install ".[bench]"            # plus torch / scikit-learn / scipy to compare
    python -m pytest benchmarks/test_bench_losses.py --benchmark-group-by=group

Each group is one (operation, dtype, shape); its members run on the same
arrays with the same threads. Set FASTLOSS_BENCH_THREADS (default 2).
"""

import os

import pytest

from fastloss._tools import bench as _bench

pytest.importorskip("pytest_benchmark")

THREADS = int(os.environ.get("FASTLOSS_BENCH_THREADS", "2"))
IMPLS = ["floor", "fastloss", *_bench.installed_peers()]
_cases = {}


def case(shape, dtype):
    key = (shape, dtype)
    if key not in _cases:
        _cases.clear()                  # keep one set of arrays in memory
        _cases[key] = _bench.Case(*shape, dtype)
    return _cases[key]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", list(_bench.OPS))
@pytest.mark.parametrize("dtype", _bench.DTYPES)
@pytest.mark.parametrize("shape", _bench.SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_throughput(benchmark, shape, dtype, op, impl):
    c = case(shape, dtype)
    if impl == "floor":
        fn = _bench.floor(c, _bench.OPS[op][0], op, THREADS)
    else:
        fn = _bench.implementation(impl, c, op, THREADS)
    if fn is None:
        pytest.skip(f"{impl} has no {op}")
    benchmark.group = f"{op} {dtype} {c.label}"
    benchmark.extra_info["gb"] = (c.x.nbytes + (c.t.nbytes if op in _bench.BINARY else 0)) / 1e9
    benchmark(fn)
