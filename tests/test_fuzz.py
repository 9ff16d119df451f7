"""The fuzz harness of the public API (fuzz/fuzz_api.py) on every test run, in
its seeded-random mode (the same decoder as the atheris runs): random bytes
decoded into arrays and options, every function and loss method called, and
nothing but the documented exceptions may escape. Also that the harness's
checks fail when they should."""

import importlib.util
import os

import numpy as np
import pytest

HARNESS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "fuzz", "fuzz_api.py")
if not os.path.exists(HARNESS):
    pytest.skip("fuzz/fuzz_api.py is not in this tree", allow_module_level=True)
spec = importlib.util.spec_from_file_location("fuzz_api", HARNESS)
fuzz_api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fuzz_api)

# FASTLOSS_FUZZ_INPUTS=N runs N (e.g. under the sanitizer build:
# FASTLOSS_FUZZ_INPUTS=50000 bash .ci/sanitize -- -q tests/test_fuzz.py)
INPUTS = int(os.environ.get("FASTLOSS_FUZZ_INPUTS", "4000"))


def test_random_inputs():
    before = fuzz_api.Stats.calls
    returned, refused = fuzz_api.Stats.returned, fuzz_api.Stats.refused
    for data in fuzz_api.random_inputs(INPUTS, seed=20261121):
        fuzz_api.one_input(data)
    assert fuzz_api.Stats.calls - before == INPUTS
    print(f"{INPUTS:,} inputs: {fuzz_api.Stats.returned - returned:,} calls returned, "
          f"{fuzz_api.Stats.refused - refused:,} refused with a documented exception")
    # both outcomes are exercised in earnest
    assert fuzz_api.Stats.returned - returned > INPUTS // 4
    assert fuzz_api.Stats.refused - refused > INPUTS // 4


def raises(exc):
    def fn():
        raise exc
    return fn


def test_an_undocumented_exception_escapes():
    with pytest.raises(RuntimeError, match="boom"):
        fuzz_api._run(("f", raises(RuntimeError("boom"))), np.zeros(3), None)
    fuzz_api._run(("f", raises(ValueError("documented"))), np.zeros(3), None)


def test_writing_out_before_raising_is_caught():
    out = np.zeros(3)

    def fn():
        out[0] = 1.0
        raise ValueError("late refusal")
    with pytest.raises(AssertionError, match="out was written by a call that raised"):
        fuzz_api._run(("f", fn), np.ones(3), out)


def test_a_modified_input_or_a_wrong_result_is_caught():
    x = np.ones(3)

    def modify():
        x[1] = 2.0
        return x.copy()
    with pytest.raises(AssertionError, match="the input was modified"):
        fuzz_api._run(("f", modify), x, None)
    with pytest.raises(AssertionError, match="result dtype float64, input float32"):
        fuzz_api._run(("f", lambda: np.zeros(3)), np.ones(3, np.float32), None)
    with pytest.raises(AssertionError, match="the result is not out"):
        fuzz_api._run(("f", lambda: np.zeros(3)), np.ones(3), np.zeros(3))
