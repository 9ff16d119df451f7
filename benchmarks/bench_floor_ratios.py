"""The kernels against their memory floors only: the operations and float32
shapes of round 2 · 2/4's third target (cross-entropy forward and
value_and_grad, logsumexp, softmax, BCE with logits forward and
value_and_grad), timed as ``python -m fastloss bench`` times them (fastloss,
one-thread fastloss and the floor in interleaved rounds, medians) but
without the peers, so that it takes seconds instead of the grid's hour.

    python benchmarks/bench_floor_ratios.py [NxC ...] [--repeat 9] [--threads 2]
                                            [--dtype float32] [--ops OP ...]

--ops takes any of the grid's operations (``fastloss._tools.bench.OPS``:
sigmoid, log_softmax, softmax_backward, ...) instead of the six above.
"""

import argparse

from fastloss._tools import bench

OPS = ("cross_entropy", "cross_entropy_value_and_grad", "logsumexp", "softmax",
       "bce_with_logits", "bce_with_logits_value_and_grad")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", help="N x C shapes, e.g. 100000x100")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=list(bench.OPS),
                        metavar="OP", help="the operations (default: the kernel targets')")
    args = parser.parse_args()
    shapes = ([tuple(int(v) for v in s.split("x")) for s in args.shapes]
              or bench.SHAPES[:4])
    records = bench.run_grid(shapes=shapes, dtypes=(args.dtype,), ops=tuple(args.ops), peers=[],
                             n_threads=args.threads, repeat=args.repeat)
    print(f"{args.dtype}, {args.threads} threads, medians of {args.repeat}")
    print(bench.table(records, []))


if __name__ == "__main__":
    main()
