"""python -m fastloss: the default demonstration, bench, info, check, bad arguments."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

import fastloss
from fastloss._tools import bench as _bench
from fastloss._tools import check as _check
from fastloss._tools import cli as _cli

# every case of python -m fastloss check, in both dtypes
N_CHECKS = sum(len(_check.cases(dtype, 0)) for dtype in (np.float32, np.float64))


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "fastloss", *args], capture_output=True,
                          text=True, check=False)


def test_default_runs_the_demonstration():
    done = run_module("--quick", "--repeat", "1")
    assert done.returncode == 0, done.stderr
    assert "| 10,000 x 100 | forward |" in done.stdout
    assert "| 10,000 x 100 | value_and_grad |" in done.stdout


def test_info_prints_show_config(capsys):
    assert _cli.main(["info"]) == 0
    printed = capsys.readouterr().out
    fastloss.show_config()
    assert printed == capsys.readouterr().out
    assert "OpenMP" in printed


def test_info_json_is_show_config_dicts(capsys):
    assert _cli.main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == fastloss.show_config(mode="dicts")


# the checks of python -m fastloss check: its cases, in both dtypes
N_CHECKS = 2 * len(_check.cases(np.float32, 0))


def test_check_passes_on_this_build(capsys):
    assert _cli.main(["check", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "seed 3" in out
    assert "MISMATCH" not in out and "DIFFER" not in out
    assert out.rstrip().endswith("checks agree")
    assert out.count(" ok\n") == N_CHECKS


def test_check_fails_on_a_wrong_result(capsys, monkeypatch):
    right = fastloss.logsumexp
    monkeypatch.setattr(fastloss, "logsumexp", lambda *a, **k: right(*a, **k) * (1 + 1e-5))
    assert _cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert (f"MISMATCH: 2 of {N_CHECKS} checks failed: logsumexp (float32), "
            f"logsumexp (float64)") in out


def test_check_fails_when_threads_change_the_bits(capsys, monkeypatch):
    right = fastloss.softmax

    def softmax(x, axis=-1, *, num_threads=None):
        out = right(x, axis=axis, num_threads=num_threads)
        if num_threads == 3:
            out.reshape(-1)[0] = np.nextafter(out.reshape(-1)[0], 2)
        return out

    monkeypatch.setattr(fastloss, "softmax", softmax)
    assert _cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert "DIFFER" in out
    assert "checks failed: softmax (axis=1) (float32), softmax (axis=1) (float64)" in out


@pytest.mark.parametrize("argv,message", [
    (["bogus"], "invalid choice: 'bogus'"),
    (["info", "--quick"], "unrecognized arguments: --quick"),
    (["check", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    # a negative seed reached NumPy's generator: a traceback and exit status 1,
    # which means a mismatch
    (["check", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["--repeat", "0"], "--repeat must be at least 1"),
    (["--repeat"], "argument --repeat: expected one argument"),
])
def test_bad_arguments_print_usage_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        _cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m fastloss")
    assert message in err


def test_bad_arguments_exit_2_from_the_module():
    done = run_module("info", "--nope")
    assert done.returncode == 2
    assert "usage: python -m fastloss" in done.stderr


def test_help_lists_the_commands():
    done = run_module("--help")
    assert done.returncode == 0
    for command in _cli.COMMANDS:
        assert command.name in done.stdout


def test_bench_quick_writes_every_operation(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_bench, "last_level_cache_bytes", lambda: 32 << 20)
    path = tmp_path / "bench.json"
    assert _cli.main(["bench", "--quick", "--repeat", "1", "--threads", "2",
                      "--json", str(path)]) == 0
    saved = json.loads(path.read_text())
    assert saved["last_level_cache_bytes"] == 32 << 20
    records = saved["records"]
    seen = {(r["shape"], r["op"], r["impl"]) for r in records}
    for shape in ("20,000 x 100", "200 x 10,000"):
        for op in _bench.OPS:
            assert {(shape, op, "fastloss"), (shape, op, "floor"),
                    (shape, op, "fastloss_1"), (shape, op, "numpy")} <= seen
    assert all(r["seconds"] > 0 for r in records)
    printed = capsys.readouterr()
    assert "| 200 x 10,000 | float32 | cross_entropy_value_and_grad |" in printed.out
    # the quick shapes (8 MB of logits) fit in a 32 MiB cache: said, on stderr
    assert ("warning: the arrays of 20,000 x 100 float32, 200 x 10,000 float32 fit in the "
            "32 MiB last-level cache: those timings measure the cache, not memory") in printed.err


def records_of(shapes, impls=("floor", "fastloss", "fastloss_1", "numpy"), dtype="float32"):
    """Made-up bench records (1 GB/s) of every operation, for the table and plot."""
    return [{"shape": f"{n:,} x {c:,}", "n": n, "c": c, "dtype": dtype, "op": op,
             "impl": impl, "seconds": 1.0, "gb": 1.0}
            for n, c in shapes for op in _bench.OPS for impl in impls]


def test_cache_warning_names_the_cache_resident_shapes_only():
    records = records_of([(1_000_000, 10), (20_000, 100), (1_000, 1_000)])
    # working sets: 40 MB, 8 MB and 4 MB of logits; 16 MB and 8 MB with an
    # output (copy floor) or BCE's targets; 24 MB and 12 MB for BCE's gradient
    assert _bench.cache_resident(records, 32 << 20) == ["20,000 x 100 float32",
                                                        "1,000 x 1,000 float32"]
    assert _bench.cache_resident(records, 8 << 20) == ["20,000 x 100 float32",
                                                       "1,000 x 1,000 float32"]
    assert _bench.cache_resident(records, 4 << 20) == ["1,000 x 1,000 float32"]
    assert _bench.cache_resident(records, None) == []
    assert _bench.cache_warning(records_of(_bench.SHAPES[:1]), 32 << 20) == ""


def test_plot_colours_titles_and_legend():
    pytest.importorskip("matplotlib")
    shapes = [(20_000, 100), (200, 10_000)]
    colours = []
    for impls in (("floor", "fastloss", "fastloss_1", "numpy"),
                  ("floor", "fastloss", "fastloss_1", "torch", "sklearn", "numpy")):
        fig = _bench.figure(records_of(shapes, impls), n_threads=2, repeat=5,
                            cache_bytes=32 << 20)
        lines = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()
                 if not line.get_label().startswith("_")}
        colours.append(lines)
        for ax in fig.axes:
            assert "20,000 x 100, 200 x 10,000" in ax.get_title()
            assert ax.get_legend() is None                   # one legend, below the panels
        assert "2 threads, medians of 5" in fig._suptitle.get_text()
        (legend,) = fig.legends
        fig.canvas.draw()
        box = legend.get_window_extent()
        assert all(box.y1 <= ax.get_window_extent().y0 for ax in fig.axes)
        assert any("hollow points" in t.get_text() for t in fig.texts)
    # a library keeps its colour whichever others are installed
    assert colours[0]["NumPy"] == colours[1]["NumPy"] == _bench.STYLES["numpy"]["color"]
    assert colours[1]["PyTorch"] == _bench.STYLES["torch"]["color"]


@pytest.mark.parametrize("args", [["bench", "--repeat", "0"], ["bench", "--threads", "0"],
                                  ["bench", "--plot"]])
def test_bench_bad_arguments_exit_2(args):
    done = run_module(*args)
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_version():
    done = run_module("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"fastloss {fastloss.__version__}\n",
                                                           "")


def test_bench_plot_without_matplotlib_exits_2_before_the_grid():
    # it ran the whole grid and printed the table, then died with ModuleNotFoundError
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from fastloss._tools.cli import main\n"
            "sys.exit(main(['bench', '--quick', '--repeat', '1', '--plot', 'out.png']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert "--plot needs matplotlib, which is not installed: pip install matplotlib" in (
        done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""                      # no configuration, no table: nothing ran


@pytest.mark.parametrize("command", ["info", "check"])
def test_a_closed_pipe_ends_quietly(command):
    # `python -m fastloss check | head` ended in a BrokenPipeError traceback. The
    # reading end is closed before the child writes (its imports alone take longer).
    proc = subprocess.Popen([sys.executable, "-m", "fastloss", command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 128 + signal.SIGPIPE, err
    assert err == ""
