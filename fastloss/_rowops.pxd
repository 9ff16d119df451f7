# Row and element primitives: the math on one row (or one run of elements) of
# a C-contiguous array, addressed as (pointer, length, stride) so that the same
# code serves a class axis that is last (stride 1) or inside (stride n_inner).
#
# No Python objects, no allocation, no errors: callers check their inputs.
# Every accumulation is in double whatever the storage type.
#
# In-place safety: every primitive that writes `out`/`grad` reads element j of
# its input before it writes element j, and never reads an input element after
# writing it, so out (or grad) may be the input array itself.

from cython cimport floating
from libc.math cimport INFINITY, NAN, exp, fabs, log, log1p


cdef inline bint is_finite(double v) noexcept nogil:
    return fabs(v) < INFINITY          # false for +-inf and NaN


cdef inline double row_max(const floating* x, Py_ssize_t n,
                           Py_ssize_t stride) noexcept nogil:
    """Maximum of a row, NaN if the row holds a NaN, -inf if it is empty."""
    cdef double m = -INFINITY, v
    cdef Py_ssize_t j
    for j in range(n):
        v = x[j * stride]
        if not (v <= m):               # v > m, or v is NaN
            m = v
            if m != m:
                return m
    return m


cdef inline double row_sumexp(const floating* x, Py_ssize_t n,
                              Py_ssize_t stride, double m) noexcept nogil:
    """sum_j exp(x_j - m) for a finite shift m."""
    cdef double s = 0.0
    cdef Py_ssize_t j
    for j in range(n):
        s += exp(x[j * stride] - m)
    return s


cdef inline double row_logsumexp(const floating* x, Py_ssize_t n,
                                 Py_ssize_t stride) noexcept nogil:
    """log sum_j exp(x_j), shifted by the row max so that no term overflows.

    A row holding +inf gives +inf, an all -inf (or empty) row -inf, a NaN NaN:
    as torch.logsumexp.
    """
    cdef double m = row_max(x, n, stride)
    if not is_finite(m):
        return m
    return m + log(row_sumexp(x, n, stride, m))


cdef inline void row_fill(floating* out, Py_ssize_t n, Py_ssize_t stride,
                          double value) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        out[j * stride] = <floating>value


cdef inline void row_softmax(const floating* x, floating* out, Py_ssize_t n,
                             Py_ssize_t stride) noexcept nogil:
    """out_j = exp(x_j - m) / sum_k exp(x_k - m); NaN rows where the max is not finite."""
    cdef double m = row_max(x, n, stride), e, s = 0.0, inv
    cdef Py_ssize_t j
    if not is_finite(m):
        row_fill(out, n, stride, NAN)
        return
    for j in range(n):
        e = exp(x[j * stride] - m)
        out[j * stride] = <floating>e
        s += e
    inv = 1.0 / s
    for j in range(n):
        out[j * stride] = <floating>(out[j * stride] * inv)


cdef inline void row_log_softmax(const floating* x, floating* out, Py_ssize_t n,
                                 Py_ssize_t stride) noexcept nogil:
    """out_j = (x_j - m) - log sum_k exp(x_k - m); NaN rows where the max is not finite."""
    cdef double m = row_max(x, n, stride), log_s
    cdef Py_ssize_t j
    if not is_finite(m):
        row_fill(out, n, stride, NAN)
        return
    log_s = log(row_sumexp(x, n, stride, m))
    for j in range(n):
        out[j * stride] = <floating>((x[j * stride] - m) - log_s)


cdef inline double log1pexp(double z) noexcept nogil:
    """log(1 + exp(z)) without overflow or cancellation.

    Piecewise as in Maechler (2012), "Accurately computing log(1 - exp(-|a|))",
    eq. (10); NaN falls through to the last branch and stays NaN.
    """
    if z <= -37.0:
        return exp(z)
    if z <= 18.0:
        return log1p(exp(z))
    if z <= 33.3:
        return z + exp(-z)
    return z


cdef inline double sigmoid(double z) noexcept nogil:
    """1 / (1 + exp(-z)), never forming inf/inf."""
    cdef double e
    if z >= 0.0:
        return 1.0 / (1.0 + exp(-z))
    e = exp(z)
    return e / (1.0 + e)
