# The kernels compiled for the baseline SIMD path (its flags are in setup.py); the
# source is drivers.pxi, shared by every path.
include "drivers.pxi"
