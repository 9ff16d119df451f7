"""The whole suite under every SIMD path this CPU runs, and the path choice.

The suite itself runs on the path fastloss picks (the best one); this module
reruns it in a subprocess with FASTLOSS_SIMD forcing each other path (all but
the Dask tests, which reach the same kernels through the same API).
"""

import os
import subprocess
import sys

import pytest

import fastloss
from fastloss import _kernels

TESTS = os.path.dirname(os.path.abspath(__file__))
OTHERS = [p for p in _kernels.available_paths() if p != _kernels.path]


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=os.path.dirname(TESTS))


@pytest.mark.slow              # the suite again (its default selection: no slow tests)
@pytest.mark.skipif(bool(os.environ.get(_kernels.ENV)),
                    reason="already a forced-path run")
@pytest.mark.parametrize("path", OTHERS)
def test_suite_passes_on_path(path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", TESTS,
         "--ignore", os.path.join(TESTS, "test_simd_paths.py"),
         "--ignore", os.path.join(TESTS, "test_simd_math.py"),  # runs every path itself
         "--ignore", os.path.join(TESTS, "test_dask.py")],     # same kernels, a cluster
        capture_output=True, text=True, env={**os.environ, _kernels.ENV: path},
        cwd=os.path.dirname(TESTS))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout.splitlines()[-1]


@pytest.mark.parametrize("path", _kernels.available_paths())
def test_forced_path_is_used_and_reported(path):
    proc = run_python("import fastloss; c = fastloss.show_config(mode='dicts')['simd'];"
                      "print(c['path'], c['forced'])", **{_kernels.ENV: path})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [path, "True"]


def test_unknown_path_is_refused():
    proc = run_python("import fastloss", **{_kernels.ENV: "sse9"})
    assert proc.returncode != 0
    assert "FASTLOSS_SIMD: expected one of avx512, avx2, baseline, got 'sse9'" in proc.stderr


def test_default_is_the_best_available():
    if os.environ.get(_kernels.ENV):
        pytest.skip("a forced-path run")
    assert _kernels.path == _kernels.available_paths()[0]
    info = fastloss.show_config(mode="dicts")["simd"]
    assert info["path"] == _kernels.path and not info["forced"]
