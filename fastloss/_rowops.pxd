# Scalar row primitives of the kernels that are not vector loops (the NLL
# rows and the zero rows of ignored targets), addressed as (pointer, length,
# stride) so that the same code serves a class axis that is last (stride 1)
# or inside (stride n_inner). The vector row engines are in _simd_rows.h.
#
# No Python objects, no allocation, no errors: callers check their inputs.

from cython cimport floating
from libc.math cimport INFINITY, fabs


cdef inline bint is_finite(double v) noexcept nogil:
    return fabs(v) < INFINITY          # false for +-inf and NaN


cdef inline void row_fill(floating* out, Py_ssize_t n, Py_ssize_t stride,
                          double value) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        out[j * stride] = <floating>value
