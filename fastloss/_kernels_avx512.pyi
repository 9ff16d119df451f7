# Stub of the compiled fastloss._kernels_avx512: the same kernels as the baseline.

from ._kernels_baseline import *  # noqa: F403
