"""Instructions per element of fastloss's kernels, counted by callgrind.

    python benchmarks/instruction_counts.py                 # the default grid
    python benchmarks/instruction_counts.py ce:10 lse:100   # OP:C pairs

Timings on a shared machine move by a third between runs; instruction counts
do not. Each OP:C runs under ``valgrind --tool=callgrind`` twice, with 1 and
11 calls of the operation on a float32 array of 200,000 elements (200,000 / C
rows of C classes), one thread, and the instructions executed in fastloss's
compiled modules (the object files fastloss/_kernels/*.so, with
everything inlined into them: C headers and the compiler's intrinsics
alike) are subtracted: the difference over 10
calls and 200,000 elements is the count per element. Python and the BLAS
threads do not count. Needs valgrind; the SIMD path is fastloss's pick
(``FASTLOSS_SIMD`` forces another).

OPs: read (the read floor), lse, ce (cross-entropy forward, with its target
check), ce_vg (value_and_grad), softmax, bce and bce_vg (BCE with logits),
bce64 (BCE with logits of float64 arrays),
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
                          for c in (10, 100, 1000)] + ["bce:100", "bce_vg:100", "bce64:100",
                                                       "exp:100", "log1p:100"]


def run(op, n_classes, calls):
    """Call op `calls` times (the child process under callgrind)."""
    import fastloss
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ELEMENTS // n_classes, n_classes)).astype(np.float32)
    target = rng.integers(0, n_classes, x.shape[0])
    bits = (rng.random(x.shape) < 0.5).astype(np.float32)
    out = np.empty_like(x)
    x64, bits64 = x.astype(np.float64), bits.astype(np.float64)
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
        "bce64": lambda: fastloss.binary_cross_entropy_with_logits(x64, bits64, num_threads=1),
        "exp": lambda: kernels.math_map("exp", negative, flat_out),
        "log1p": lambda: kernels.math_map("log1p", flat, flat_out),
    }
    if op in ("read", "exp", "log1p"):
        from fastloss._kernels import kernels  # noqa: F401 (the ops above)
    for _ in range(calls):
        ops[op]()


def instructions_by_object(out_file):
    """The instructions executed in each object file (shared library), from
    a callgrind output file: the self cost of every function, whatever
    source file its lines come from, so that the compiler headers' intrinsics
    and the C headers inlined into a kernel module count for that module
    (counting by source file misses them). A cost line after ``calls=`` is
    the inclusive cost of a call, charged to the callee already: skipped."""
    names, totals = {}, {}
    current, skip, events = None, False, None
    with open(out_file) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("ob=", "cob=")):
                # "ob=(3) name" the first time object 3 is named (by ob= or
                # cob=, the callee's), "ob=(3)" after
                m = re.match(r"c?ob=(?:\((\d+)\))?\s*(.*)", line.rstrip("\n"))
                key, name = m.group(1), m.group(2)
                if name:
                    names[key] = name
                if line.startswith("ob="):
                    current = names.get(key, name)
            elif line.startswith("calls="):
                skip = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip:
                    skip = False
                    continue
                fields = line.split()
                if len(fields) > 1 and current is not None:
                    totals[current] = totals.get(current, 0) + int(fields[1])
    assert events and events[0] == "Ir", events
    return totals


def fastloss_instructions(out_file):
    """Instructions in fastloss's compiled modules (the .so files under fastloss/)."""
    return sum(n for name, n in instructions_by_object(out_file).items()
               if re.search(r"/fastloss/(?:\w+/)*_\w+\.[^/]*so$", name))


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
