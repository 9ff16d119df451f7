# Stub of the compiled fastloss._kernels._avx512: the same kernels as the baseline.

from ._baseline import *  # noqa: F403
