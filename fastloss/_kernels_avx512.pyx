# The kernels compiled for the avx512 SIMD path (flags in setup.py); the
# source is _kernels.pxi, shared by every path.
include "_kernels.pxi"
