"""Instructions per element of fastloss's kernels, counted by callgrind.

    python benchmarks/instruction_counts.py                 # the default grid
    python benchmarks/instruction_counts.py ce:10 lse:100   # OP:C pairs

Timings on a shared machine move by a third between runs; instruction counts
do not. Each OP:C runs under ``valgrind --tool=callgrind`` twice, with 1 and
11 calls of the operation on a float32 array of 200,000 elements (200,000 / C
rows of C classes), one thread, and the instructions executed in fastloss's
compiled code (the kernel modules and the headers inlined into them, as
``callgrind_annotate`` lists them) are subtracted: the difference over 10
calls and 200,000 elements is the count per element. Python and the BLAS
threads do not count. Needs valgrind; the SIMD path is fastloss's pick
(``FASTLOSS_SIMD`` forces another).

OPs: read (the read floor), lse, ce (cross-entropy forward, with its target
check), ce_vg (value_and_grad), softmax, bce and bce_vg (BCE with logits),
exp and log1p (the vector functions alone, over a flat array).
"""

import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ELEMENTS = 200_000
DEFAULT = ["read:100"] + [f"{op}:{c}" for op in ("lse", "ce", "ce_vg", "softmax")
                          for c in (10, 100, 1000)] + ["bce:100", "bce_vg:100",
                                                       "exp:100", "log1p:100"]


def run(op, n_classes, calls):
    """Call op `calls` times (the child process under callgrind)."""
    import fastloss
    from fastloss._kernels import kernels

    rng = np.random.default_rng(0)
    x = rng.standard_normal((ELEMENTS // n_classes, n_classes)).astype(np.float32)
    target = rng.integers(0, n_classes, x.shape[0])
    bits = (rng.random(x.shape) < 0.5).astype(np.float32)
    out = np.empty_like(x)
    flat, flat_out = x.ravel(), np.empty(x.size, np.float32)
    negative = -np.abs(flat)
    ce = fastloss.CrossEntropyLoss(num_threads=1)
    bce = fastloss.BCEWithLogitsLoss(num_threads=1)
    ops = {
        "read": lambda: kernels.read_floor(flat, 1),
        "lse": lambda: fastloss.logsumexp(x, axis=1, num_threads=1),
        "ce": lambda: fastloss.cross_entropy(x, target, num_threads=1),
        "ce_vg": lambda: ce.value_and_grad(x, target, out=out),
        "softmax": lambda: fastloss.softmax(x, axis=1, out=out, num_threads=1),
        "bce": lambda: fastloss.binary_cross_entropy_with_logits(x, bits, num_threads=1),
        "bce_vg": lambda: bce.value_and_grad(x, bits),
        "exp": lambda: kernels.math_map("exp", negative, flat_out),
        "log1p": lambda: kernels.math_map("log1p", flat, flat_out),
    }
    for _ in range(calls):
        ops[op]()


def fastloss_instructions(out_file):
    """Instructions in fastloss's compiled code, from a callgrind output file."""
    listing = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", out_file],
                             capture_output=True, text=True, check=True).stdout
    total = 0
    for line in listing.splitlines():
        # the source file is fastloss/... (relative when built in place)
        if re.search(r"(?:\s|/)fastloss/\w", line) and "(" in line:
            total += int(line.split()[0].replace(",", ""))
    return total


def count(op, n_classes):
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for calls in (1, 11):
            out_file = os.path.join(tmp, f"callgrind.{calls}")
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                            sys.executable, __file__, "--child", op, str(n_classes), str(calls)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            counts.append(fastloss_instructions(out_file))
    return (counts[1] - counts[0]) / 10 / ELEMENTS


def main(argv):
    if argv[:1] == ["--child"]:
        run(argv[1], int(argv[2]), int(argv[3]))
        return
    from fastloss._kernels import kernels
    print(f"fastloss {kernels.simd_width()}, float32, one thread, {ELEMENTS:,} elements")
    print("| operation | classes | instructions per element |")
    print("|---|---|---|")
    for spec in argv or DEFAULT:
        op, n_classes = spec.split(":")
        print(f"| {op} | {n_classes} | {count(op, int(n_classes)):.2f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
