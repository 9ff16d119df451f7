# The kernels compiled for the avx2 SIMD path (its flags are in setup.py); the
# source is drivers.pxi, shared by every path.
include "drivers.pxi"
