"""fastloss in a child process made by fork() after OpenMP loops ran in the
parent: GNU OpenMP's thread pool does not survive fork, and a child that
opened a parallel region of two threads used to wait forever. Each case runs
in a fresh interpreter with a deadline, so that a hang fails the test instead
of blocking the suite; the children's results must be bitwise the parent's.
"""

import os
import subprocess
import sys
import textwrap

import pytest

import fastloss

TESTS = os.path.dirname(os.path.abspath(__file__))
OPENMP = fastloss.show_config("dicts")["openmp"]["enabled"]
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")

# Every function and loss method (tests/test_threads.py's calls, arrays of
# 20,000 x 17 and 300,001 elements: the parallel path), run on two threads in
# the parent before anything forks.
PRELUDE = """
import os, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
import fastloss
from test_threads import assert_bitwise_equal, calls

WORK = calls(np.random.default_rng(5), np.float32)
DEFAULT = fastloss.get_num_threads()


def run_all(n):
    return {{name: call(n) for name, call in WORK.items()}}


def same(results, expected):
    for name in WORK:
        assert_bitwise_equal(results[name], expected[name], name)
    return True


def wait(pid, seconds=60):
    \"\"\"The child's exit code, or 'hung' (the child killed) past the deadline.\"\"\"
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "hung"
        time.sleep(0.02)


def fork_and_check(expected):
    \"\"\"Fork; the child runs everything with 2 threads and with the default,
    checks the bits, prints its thread count and exits 0 (1 on a mismatch).\"\"\"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            same(run_all(2), expected)
            same(run_all(None), expected)
            print("child threads", fastloss.get_num_threads(), flush=True)
            code = 0
        finally:
            os._exit(code)
    return wait(pid)
"""


def run_script(body):
    code = textwrap.dedent(PRELUDE.format(tests=TESTS)) + textwrap.dedent(body)
    # OpenMP's default, not a limit another test left in the environment
    # (dask.distributed sets OMP_NUM_THREADS=1 for its workers)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_os_fork_after_parallel_loops():
    out = run_script("""
        expected = run_all(2)                  # OpenMP regions of 2 threads ran here
        print("child exit", fork_and_check(expected))
        assert fastloss.get_num_threads() == DEFAULT     # the parent is unaffected
        same(run_all(2), expected)
        print("parent ok")
    """)
    assert "child exit 0" in out
    assert "parent ok" in out
    library = fastloss.show_config("dicts")["openmp"]["library"]
    if OPENMP and "libgomp" in os.path.basename(library):
        assert "child threads 1" in out      # GNU OpenMP's child falls back to one thread


def test_os_fork_before_any_threads_keeps_the_threads():
    out = run_script("""
        expected = run_all(1)                  # one thread only: no pool yet
        print("child exit", fork_and_check(expected))
        print("default", DEFAULT)
    """)
    assert "child exit 0" in out
    default = out.split("default ")[1].split()[0]
    assert f"child threads {default}" in out


def test_nested_forks_after_parallel_loops():
    out = run_script("""
        expected = run_all(2)
        pid = os.fork()
        if pid == 0:                           # a child that forks a grandchild
            code = 1
            try:
                same(run_all(2), expected)
                code = fork_and_check(expected)
            finally:
                os._exit(code if isinstance(code, int) else 2)
        print("exit", wait(pid, 120))
    """)
    assert "exit 0" in out


def test_multiprocessing_fork_pool_after_parallel_loops():
    out = run_script("""
        import multiprocessing

        def task(name):
            return os.getpid(), fastloss.get_num_threads(), WORK[name](2), WORK[name](None)

        expected = run_all(2)
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            results = pool.map_async(task, list(WORK) * 2).get(timeout=120)
        pids = set()
        for name, (pid, threads, two, default) in zip(list(WORK) * 2, results):
            assert_bitwise_equal(two, expected[name], name)
            assert_bitwise_equal(default, expected[name], name)
            pids.add(pid)
        assert len(results) == 2 * len(WORK) and len(pids) >= 1
        print("pool ok:", len(results), "results from", len(pids), "workers")
    """)
    assert "pool ok:" in out
