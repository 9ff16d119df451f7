# The kernels compiled for the avx512 SIMD path (its flags are in setup.py); the
# source is drivers.pxi, shared by every path.
include "drivers.pxi"
