"""Options and the closing table of the pytest-benchmark suite
(benchmarks/test_bench_losses.py)."""

import pytest

# pytest-benchmark's default columns (None: not given, in pytest-benchmark 5),
# which the suite replaces unless given
DEFAULT_COLUMNS = (None, ["min", "max", "mean", "stddev", "median", "iqr", "outliers", "ops",
                          "rounds", "iterations"])
COLUMNS = ["median", "iqr", "rounds"]


def pytest_addoption(parser):
    parser.addoption("--full-grid", action="store_true",
                     help="fastloss benchmarks: every shape and dtype of the bench grid "
                          "(default: two float32 shapes, about 1.5 minutes)")


@pytest.hookimpl(tryfirst=True)          # before pytest-benchmark reads the options
def pytest_configure(config):
    """The median (its ratio to the group's fastest) and the spread, sorted by
    name: fastloss first in its group, the peers after it."""
    option = config.option
    if hasattr(option, "benchmark_columns") and option.benchmark_columns in DEFAULT_COLUMNS:
        option.benchmark_columns = COLUMNS
    if getattr(option, "benchmark_sort", None) == "min":
        option.benchmark_sort = "name"


@pytest.hookimpl(trylast=True)           # after pytest-benchmark's tables
def pytest_terminal_summary(terminalreporter, config):
    """fastloss's speed-up over each peer, one row per group, as ``python -m
    fastloss bench`` prints it (from each benchmark's ``extra_info``)."""
    from fastloss._tools import bench

    session = getattr(config, "_benchmarksession", None)    # pytest-benchmark's
    records = []
    for b in getattr(session, "benchmarks", []):
        info = b.extra_info
        if "op" not in info or b.stats is None:
            continue
        rec = {k: info[k] for k in ("shape", "n", "c", "dtype", "op", "impl", "gb")}
        records.append({**rec, "seconds": b.stats.median})
        if "floor seconds" in info:
            records.append({**rec, "impl": "floor", "seconds": info["floor seconds"]})
    if not any(r["impl"] == "fastloss" for r in records):
        return
    peers = [p for p in bench.PEERS if any(r["impl"] == p for r in records)]
    terminalreporter.write_line(
        "\nfastloss against its peers (x Peer: the peer's median time over fastloss's; "
        "x floor: the floor's over fastloss's)")
    terminalreporter.write_line(bench.table(records, peers))
