# Stub of the compiled fastloss._kernels_avx2: the same kernels as the baseline.

from ._kernels_baseline import *  # noqa: F403
