"""Cost of the vectorized exp, log and log1p per element, on data in cache.

    python benchmarks/elementary_cost.py

One thread, the SIMD path fastloss picked (FASTLOSS_SIMD forces another).
This is the compute floor of a loss pass: a forward cross-entropy evaluates
one exp per logit, BCE with logits an exp and a log1p per element.
"""

import time

import numpy as np

from fastloss._kernels import kernels as k

n = 16384                       # 64 KB of float32: in L2, call overhead < 1 %
for dt, name in [(np.float32, "exp"), (np.float32, "log"), (np.float32, "log1p"),
                 (np.float64, "exp"), (np.float64, "log"), (np.float64, "log1p")]:
    x = np.abs(np.random.default_rng(0).standard_normal(n)).astype(dt)
    if name == "exp":
        x = -x                  # the kernels' exp takes x <= 0 (x - max)
    o = np.empty_like(x)
    best = 1e9
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(2000):
            k.math_map(name, x, o)
        best = min(best, (time.perf_counter() - t) / n / 2000 * 1e9)
    print(f"{k.simd_width()}: {name} {np.dtype(dt).name}: {best:.3f} ns per element")
