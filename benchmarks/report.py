"""The benchmark table and plot: ``python -m fastloss bench``, from a checkout.

    python benchmarks/report.py [--threads 2] [--repeat 5] [--quick]
                                [--json results.json] [--plot docs/throughput.png]

For every shape, dtype and operation of ``fastloss._tools.bench`` it prints GB/s
(the bytes of the logits, plus the targets for BCE, over the median time),
the ratio of that throughput to the floor's (1.0 = as fast as reading, or
copying, the same bytes), the speed-up of the threads over one thread and,
for each installed peer (NumPy reference, PyTorch CPU, scikit-learn's
``sklearn._loss``, ``scipy.special``), how many times faster fastloss is.
"""

import sys

from fastloss._tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
