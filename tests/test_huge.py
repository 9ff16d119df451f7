"""Index width: an input of N * C > 2**31 elements (9.6 GB of float32) gives
correct results, rows far beyond element 2**31 included. Marked slow (about
a minute and 10 GB); skipped where the memory is not available.

Every row but a few is one of two kinds whose results are known in closed
form: before element 2**31 rows of C zeros (log-sum-exp log C, softmax 1/C),
from the first row wholly past it rows of C/2 zeros then C/2 ones
(log-sum-exp log(C/2 (1 + e))), so that a wrapped 32-bit index, reading or
writing the start of the array instead, shows. The other rows (at the start,
astride element 2**31, just past it, in the middle of the far part and at the
end) hold random values, checked against the references row by row.
"""

import os

import numpy as np
import pytest

import fastloss

import reference as ref
from support import assert_close

N, C = 2_400_000, 1_000                         # 2.4e9 elements: 2**31 + 2.5e8
BIG = 2**31
CUT = BIG // C + 1                              # the first row wholly past element 2**31
SPECIAL_ROWS = [0, 1, BIG // C, CUT, CUT + 1, (CUT + N) // 2, N - 2, N - 1]
NEEDED = N * C * 4 + (1 << 30)                 # the input, and a GB for the rest


def available_memory():
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(available_memory() < NEEDED + (2 << 30),
                       reason=f"needs {NEEDED / 2**30:.0f} GB of free memory and 2 GB to "
                              "spare"),
    pytest.mark.skipif(bool(os.environ.get("FASTLOSS_SIMD")),
                       reason="a forced-path rerun: index arithmetic is the same on "
                              "every path"),
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                       reason="too slow under the sanitizers"),
]


def bce_terms(v):
    """BCE with logits of v against target v: (1 - v) v + log(1 + exp(-v))."""
    return (1 - v) * v + np.log1p(np.exp(-v))


def test_more_than_2_31_elements():
    assert N * C > BIG and (N - 1) * C - BIG > 2**27
    rng = np.random.default_rng(31)
    x = np.zeros((N, C), np.float32)
    x[CUT:, C // 2:] = 1.0
    rows = np.array(SPECIAL_ROWS)
    xs = (rng.standard_normal((len(rows), C)) * 4).astype(np.float32)
    x[rows] = xs
    xs = xs.astype(np.float64)
    y = np.full(N, 5)                           # x[r, 5] is 0 on both kinds of rows
    y[rows] = rng.integers(0, C, len(rows))
    far = np.arange(N) >= CUT

    # log-sum-exp
    s_far = C / 2 * (1 + np.e)
    expected = np.where(far, np.log(s_far), np.log(C))
    expected[rows] = ref.logsumexp(xs)
    assert_close(fastloss.logsumexp(x), expected, np.float32)

    # cross-entropy of class indices: lse - x[y] per row, and the sum
    ce = expected.copy()
    ce[rows] = ref.cross_entropy(xs, y[rows], reduction="none")
    assert_close(fastloss.cross_entropy(x, y, reduction="none"), ce, np.float32)
    np.testing.assert_allclose(fastloss.cross_entropy(x, y, reduction="sum"), ce.sum(),
                               rtol=2e-6)

    # softmax in place, written at every offset
    assert fastloss.softmax(x, out=x) is x
    assert_close(x[rows], ref.softmax(xs), np.float32)
    sample = np.setdiff1d(np.r_[0:N:997, CUT - 1, CUT + 2, N - 3], rows)
    want = np.full((len(sample), C), 1.0 / C)
    want[sample >= CUT, :C // 2] = 1 / s_far
    want[sample >= CUT, C // 2:] = np.e / s_far
    assert_close(x[sample], want, np.float32)
    near_value = x[2, 0]
    far_values = x[CUT + 2, 0], x[CUT + 2, C - 1]
    assert (x[sample[sample < CUT]] == near_value).all()
    assert (x[sample[sample >= CUT], :C // 2] == far_values[0]).all()
    assert (x[sample[sample >= CUT], C // 2:] == far_values[1]).all()

    # BCE with logits of those probabilities against themselves (the target is
    # the same array: no second 9.6 GB), summed; the two kinds of rows in
    # closed form from the values the softmax wrote
    p = x[rows].astype(np.float64)
    n_near = CUT - np.count_nonzero(rows < CUT)
    n_far = N - CUT - np.count_nonzero(rows >= CUT)
    v_near, v_far = np.float64(near_value), np.array(far_values, np.float64)
    total = (n_near * C * bce_terms(v_near) + n_far * C / 2 * bce_terms(v_far).sum()
             + ref.binary_cross_entropy_with_logits(p, p, reduction="sum"))
    got = fastloss.binary_cross_entropy_with_logits(x, x, reduction="sum")
    np.testing.assert_allclose(np.float64(got), total, rtol=2e-6)
