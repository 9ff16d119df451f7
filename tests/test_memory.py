"""Memory: 100,000 calls of every function and loss method leave the resident
set flat (no leak per call); C-contiguous native inputs are never copied (a
large call's peak traced memory is its outputs); results written to ``out``
are ``out``.

The soak runs in fresh interpreters (two at once, one per half of the
functions), so that the resident set measured is the calls' alone. This file
is also the soak's script: ``python tests/test_memory.py NAME ...`` prints,
per function, the resident set after a warm-up and after 100,000 more calls.
"""

import gc
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import fastloss

CALLS = 100_000
WARM_UP = 5_000
# A leak of 10 bytes per call grows the resident set by 1 MB over 100,000
# calls; a flat one moves by a few pages (the allocator's arenas).
MAX_GROWTH = 1 << 20


def soak_calls():
    """name -> a call on small arrays (Python overhead, not the kernels,
    dominates: 100,000 calls take a few seconds)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 5))
    x32 = x.astype(np.float32)
    x3 = rng.standard_normal((2, 5, 3))
    y = rng.integers(0, 5, 8)
    y[3] = -100
    p = rng.random((8, 5))
    s = rng.uniform(0.05, 0.95, (8, 5))
    out = np.empty_like(x)
    lse_out = np.empty(8)
    ce = fastloss.CrossEntropyLoss(weight=rng.random(5) + 0.5, label_smoothing=0.1)
    nll = fastloss.NLLLoss(reduction="none")
    bcel = fastloss.BCEWithLogitsLoss(pos_weight=np.full(5, 2.0), reduction="sum")
    bce = fastloss.BCELoss(weight=rng.random(5))
    mse = fastloss.MSELoss(reduction="none")
    return {
        "logsumexp": lambda: fastloss.logsumexp(x, out=lse_out),
        "softmax": lambda: fastloss.softmax(x32),
        "log_softmax": lambda: fastloss.log_softmax(x3, axis=1),
        "cross_entropy": lambda: fastloss.cross_entropy(x, y, label_smoothing=0.1),
        "cross_entropy probs": lambda: fastloss.cross_entropy(x32, p),
        "nll_loss": lambda: fastloss.nll_loss(x, y, reduction="sum"),
        "binary_cross_entropy_with_logits":
            lambda: fastloss.binary_cross_entropy_with_logits(x, s, weight=s),
        "binary_cross_entropy": lambda: fastloss.binary_cross_entropy(s, s),
        "mse_loss": lambda: fastloss.mse_loss(x32, s.astype(np.float32)),
        "CrossEntropyLoss.grad": lambda: ce.grad(x, y, out=out),
        "CrossEntropyLoss.value_and_grad": lambda: ce.value_and_grad(x, y),
        "NLLLoss.grad": lambda: nll.grad(x, y, grad_output=np.ones(8)),
        "NLLLoss.value_and_grad": lambda: nll.value_and_grad(x, y),
        "BCEWithLogitsLoss.grad": lambda: bcel.grad(x, s),
        "BCEWithLogitsLoss.value_and_grad": lambda: bcel.value_and_grad(x, s, out=out),
        "BCELoss.grad": lambda: bce.grad(s, s),
        "BCELoss.value_and_grad": lambda: bce.value_and_grad(s, s),
        "MSELoss.grad": lambda: mse.grad(x, s, grad_output=2.0),
        "MSELoss.value_and_grad": lambda: mse.value_and_grad(x, s),
        # errors raised (and caught) many times leak nothing either
        "cross_entropy refused": lambda: _refused(lambda: fastloss.cross_entropy(x, y + 9)),
        "binary_cross_entropy refused":
            lambda: _refused(lambda: fastloss.binary_cross_entropy(x, s)),
    }


def _refused(call):
    try:
        call()
    except (IndexError, ValueError):
        return
    raise AssertionError("expected a refusal")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(call, calls=CALLS):
    """(resident set after WARM_UP calls, after ``calls`` more), in bytes."""
    for _ in range(WARM_UP):
        call()
    gc.collect()
    before = rss_bytes()
    for _ in range(calls):
        call()
    gc.collect()
    return before, rss_bytes()


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="reads the resident set from /proc")
# AddressSanitizer holds freed memory in quarantine (up to 256 MB): the
# resident set of a sanitizer build grows whatever the code does.
not_under_asan = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                    reason="AddressSanitizer's quarantine grows the RSS")


@needs_proc
@not_under_asan
def test_the_soak_detects_a_leak():
    # the instrument: a 64-byte object kept per call shows as several MB
    kept = []
    before, after = soak(lambda: kept.append(bytes(64)))
    assert after - before > 4 * MAX_GROWTH


@pytest.mark.slow              # minutes: 2.1 M calls in fresh interpreters
@needs_proc
@not_under_asan
@pytest.mark.skipif(bool(os.environ.get("FASTLOSS_SIMD")),
                    reason="a forced-path rerun: the Python and Cython code that allocates "
                           "is the same on every path")
def test_100_000_calls_leave_the_resident_set_flat():
    names = list(soak_calls())
    halves = [names[0::2], names[1::2]]           # one interpreter per core
    procs = [subprocess.Popen([sys.executable, __file__, *half], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for half in halves]
    results = {}
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
        results.update(json.loads(out))
    assert set(results) == set(names)
    growth = {name: after - before for name, (before, after) in results.items()}
    grown = {name: g for name, g in growth.items() if g > MAX_GROWTH}
    assert not grown, f"resident set grew over {CALLS:,} calls (bytes): {grown}"
    print(f"{len(names)} functions x {CALLS:,} calls: the resident set grew by at most "
          f"{max(growth.values()):,} bytes ({max(growth, key=growth.get)})")


# ------------------------------------------------------------- no copies

def peak_traced_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_calls_allocate_their_outputs_only(dtype):
    # NumPy reports its allocations to tracemalloc: a copy of the 16 or 32 MB
    # input shows in the peak. Allowed: 1 MiB of bookkeeping (the kernels'
    # per-thread scratch, per-block partial sums) plus the outputs' bytes.
    rng = np.random.default_rng(3)
    n, c = 200_000, 20
    x = rng.standard_normal((n, c)).astype(dtype)
    x3 = x.reshape(2_000, c, 100)                  # PyTorch's (N, C, d): class axis 1
    y = rng.integers(0, c, n)
    y3 = rng.integers(0, c, (2_000, 100))
    p = rng.random((n, c)).astype(dtype)
    s = rng.uniform(0.05, 0.95, (n, c)).astype(dtype)
    w = rng.random(c).astype(dtype)
    small = 1 << 20
    row = np.dtype(dtype).itemsize * n            # one value per row
    full = x.nbytes
    cases = {
        "logsumexp": (lambda: fastloss.logsumexp(x), row),
        "logsumexp axis=1": (lambda: fastloss.logsumexp(x3, axis=1), row),
        "softmax": (lambda: fastloss.softmax(x), full),
        "log_softmax axis=1": (lambda: fastloss.log_softmax(x3, axis=1), full),
        "cross_entropy": (lambda: fastloss.cross_entropy(x, y, weight=w), 0),
        "cross_entropy axis=1": (lambda: fastloss.cross_entropy(x3, y3, axis=1), 0),
        "cross_entropy probs": (lambda: fastloss.cross_entropy(x, p, label_smoothing=0.1), 0),
        "cross_entropy none": (lambda: fastloss.cross_entropy(x, y, reduction="none"), row),
        "nll_loss": (lambda: fastloss.nll_loss(x, y), 0),
        "bce_with_logits": (lambda: fastloss.binary_cross_entropy_with_logits(
            x, s, weight=w, pos_weight=w), 0),
        "bce": (lambda: fastloss.binary_cross_entropy(s, s, weight=w), 0),
        "mse": (lambda: fastloss.mse_loss(x, s), 0),
        "mse none": (lambda: fastloss.mse_loss(x, s, reduction="none"), full),
        "CrossEntropyLoss.value_and_grad":
            (lambda: fastloss.CrossEntropyLoss(w).value_and_grad(x, y), full),
        "CrossEntropyLoss.grad axis=1":
            (lambda: fastloss.CrossEntropyLoss(axis=1).grad(x3, y3), full),
        "NLLLoss.value_and_grad": (lambda: fastloss.NLLLoss().value_and_grad(x, y), full),
        "BCEWithLogitsLoss.value_and_grad":
            (lambda: fastloss.BCEWithLogitsLoss().value_and_grad(x, s), full),
        "BCELoss.grad": (lambda: fastloss.BCELoss().grad(s, s), full),
        "MSELoss.value_and_grad": (lambda: fastloss.MSELoss().value_and_grad(x, s), full),
    }
    for name, (call, outputs) in cases.items():
        peak = peak_traced_bytes(call)
        assert peak < small + outputs, f"{name}: peak {peak:,} bytes"


def test_results_written_to_out_are_out():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 7))
    x3 = rng.standard_normal((5, 7, 10))
    y = rng.integers(0, 7, 50)
    s = rng.uniform(0.05, 0.95, (50, 7))
    out = np.empty_like(x)
    out_f = np.empty_like(x, order="F")           # not contiguous in C order: copied into
    lse_out = np.empty(50)
    lse_out3 = np.empty((5, 1, 10))
    in_place = x.copy()
    checks = [
        (fastloss.logsumexp(x, out=lse_out), lse_out),
        (fastloss.logsumexp(x3, axis=1, keepdims=True, out=lse_out3), lse_out3),
        (fastloss.softmax(x, out=out), out),
        (fastloss.log_softmax(x, out=out_f), out_f),
        (fastloss.softmax(in_place, out=in_place), in_place),
        (fastloss.CrossEntropyLoss().grad(x, y, out=out), out),
        (fastloss.CrossEntropyLoss().value_and_grad(x, y, out=out_f)[1], out_f),
        (fastloss.NLLLoss().grad(x, y, out=out), out),
        (fastloss.NLLLoss().value_and_grad(x, y, out=out)[1], out),
        (fastloss.BCEWithLogitsLoss().grad(x, s, out=out), out),
        (fastloss.BCEWithLogitsLoss().value_and_grad(x, s, out=out)[1], out),
        (fastloss.BCELoss().grad(s, s, out=out), out),
        (fastloss.BCELoss().value_and_grad(s, s, out=out_f)[1], out_f),
        (fastloss.MSELoss().grad(x, s, out=out), out),
        (fastloss.MSELoss().value_and_grad(x, s, out=out)[1], out),
    ]
    for result, out_array in checks:
        assert result is out_array
        assert np.shares_memory(result, out_array)


if __name__ == "__main__":
    calls = soak_calls()
    print(json.dumps({name: soak(calls[name]) for name in sys.argv[1:]}))
