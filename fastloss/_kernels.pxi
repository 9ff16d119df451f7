# Kernels: one parallel loop over rows (or fixed-size blocks of rows) of
# C-contiguous arrays, writing into buffers the caller allocated.
#
# This file is included by _kernels_baseline.pyx, _kernels_avx2.pyx and
# _kernels_avx512.pyx, which setup.py compiles with different instruction-set
# flags; fastloss._dispatch imports the best one the CPU runs. The vector
# loops live in _simd_rows.h / _simd_math.h; rows with an inner class axis
# (n_inner > 1) and rows whose max is not finite take the scalar primitives
# of _rowops.pxd.
#
# Layout. A class-axis array of any rank is seen as (n_outer, n_classes,
# n_inner): the class axis is the middle one, so axis=-1 is n_inner == 1 and
# PyTorch's (N, C, d1, ..., dk) is n_outer = N, n_inner = d1*...*dk, with no
# copy. Row r is (o, i) = divmod(r, n_inner) and its classes lie at stride
# n_inner from x[o, 0, i].
#
# Determinism. Reductions add per-row values in double inside blocks of a
# fixed number of rows (set by the shape alone), then add the block sums in
# block order: the result is bitwise the same for any number of threads.
#
# The Python layer (fastloss/_api.py) has checked every input: shapes
# agree, class indices are in range, out buffers do not overlap inputs except
# where a primitive allows it. Nothing here raises.

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY, NAN, exp, fabs, log
from libc.stdint cimport int64_t

from fastloss._rowops cimport (
    is_finite, log1pexp, row_fill, row_log_softmax, row_logsumexp, row_max,
    row_softmax, sigmoid,
)

cdef enum:
    # rows per reduction block = BLOCK_ELEMS // n_classes (at least 1); a
    # block of few-class rows fits the per-thread scratch (in L1)
    BLOCK_ELEMS = 2048
    # below this many elements a parallel region costs more than it saves
    PARALLEL_MIN = 32768

cdef enum ClassMode:
    MODE_CE_INDEX = 0      # cross-entropy, class-index targets
    MODE_NLL_INDEX = 1     # negative log-likelihood of log-probabilities, class-index targets
    MODE_CE_PROB = 2       # cross-entropy, probability targets

cdef enum BinaryMode:
    MODE_BCE_LOGITS = 0    # binary cross-entropy with logits
    MODE_BCE_PROB = 1      # binary cross-entropy of probabilities
    MODE_MSE = 2           # squared error

# the modes, for the Python layer
CE_INDEX = MODE_CE_INDEX
NLL_INDEX = MODE_NLL_INDEX
CE_PROB = MODE_CE_PROB
BCE_LOGITS = MODE_BCE_LOGITS
BCE_PROB = MODE_BCE_PROB
MSE = MODE_MSE


cdef extern from "_simd_rows.h" nogil:
    ctypedef struct fl_ms:
        double m
        double s
    enum: FL_SMALL_C
    fl_ms fl_row_ms_f(const float* x, Py_ssize_t n)
    fl_ms fl_row_ms_d(const double* x, Py_ssize_t n)
    void fl_block_ms_f(const float* x, Py_ssize_t rows, Py_ssize_t n, double* m,
                       double* s, float* e)
    void fl_block_ms_d(const double* x, Py_ssize_t rows, Py_ssize_t n, double* m,
                       double* s, double* e)
    void fl_row_expaff_f(const float* x, const float* e, float* out, Py_ssize_t n,
                         float m, float a, float b, const float* w)
    void fl_row_expaff_d(const double* x, const double* e, double* out, Py_ssize_t n,
                         double m, double a, double b, const double* w)
    void fl_row_shift_f(const float* x, float* out, Py_ssize_t n, double m, double log_s)
    void fl_row_shift_d(const double* x, double* out, Py_ssize_t n, double m, double log_s)
    double fl_row_wdiff_f(const float* x, const float* w, Py_ssize_t n, double m)
    double fl_row_wdiff_d(const double* x, const double* w, Py_ssize_t n, double m)
    void fl_row_prob_sums_f(const float* x, const float* t, const float* w, Py_ssize_t n,
                            double m, double keep, double eps_c, double* wt, double* wtd)
    void fl_row_prob_sums_d(const double* x, const double* t, const double* w,
                            Py_ssize_t n, double m, double keep, double eps_c,
                            double* wt, double* wtd)
    void fl_row_prob_grad_f(const float* x, const float* e, const float* t, const float* w,
                            float* out, Py_ssize_t n, float m, float a, float g,
                            float keep, float eps_c)
    void fl_row_prob_grad_d(const double* x, const double* e, const double* t,
                            const double* w, double* out, Py_ssize_t n, double m,
                            double a, double g, double keep, double eps_c)
    double fl_binary_run_f(int mode, const float* x, const float* t, const float* w,
                           const float* pw, const float* go, double g_scale,
                           float* loss, float* grad, Py_ssize_t n)
    double fl_binary_run_d(int mode, const double* x, const double* t, const double* w,
                           const double* pw, const double* go, double g_scale,
                           double* loss, double* grad, Py_ssize_t n)
    double fl_sum_f(const float* x, Py_ssize_t n)
    double fl_sum_d(const double* x, Py_ssize_t n)
    void fl_copy_f(const float* x, float* out, Py_ssize_t n)
    void fl_copy_d(const double* x, double* out, Py_ssize_t n)
    void fl_log_many(const double* s, double* out, Py_ssize_t n)
    double fl_exp(double x)
    void fl_map_expf(const float* x, float* out, Py_ssize_t n)
    void fl_map_exp(const double* x, double* out, Py_ssize_t n)
    void fl_map_log(const double* x, double* out, Py_ssize_t n)
    void fl_map_log1p(const double* x, double* out, Py_ssize_t n)
    const char* FL_SIMD_WIDTH


# ------------------------------------------- fused names for the C row loops

cdef inline fl_ms row_ms(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fl_row_ms_f(x, n)
    else:
        return fl_row_ms_d(x, n)


cdef inline void block_ms(const floating* x, Py_ssize_t rows, Py_ssize_t n, double* m,
                          double* s, floating* e) noexcept nogil:
    if floating is float:
        fl_block_ms_f(x, rows, n, m, s, e)
    else:
        fl_block_ms_d(x, rows, n, m, s, e)


cdef inline void row_expaff(const floating* x, const floating* e, floating* out,
                            Py_ssize_t n, double m, double a, double b,
                            const floating* w) noexcept nogil:
    if floating is float:
        fl_row_expaff_f(x, e, out, n, <float>m, <float>a, <float>b, w)
    else:
        fl_row_expaff_d(x, e, out, n, m, a, b, w)


cdef inline void row_shift(const floating* x, floating* out, Py_ssize_t n, double m,
                           double log_s) noexcept nogil:
    if floating is float:
        fl_row_shift_f(x, out, n, m, log_s)
    else:
        fl_row_shift_d(x, out, n, m, log_s)


cdef inline double row_wdiff(const floating* x, const floating* w, Py_ssize_t n,
                             double m) noexcept nogil:
    if floating is float:
        return fl_row_wdiff_f(x, w, n, m)
    else:
        return fl_row_wdiff_d(x, w, n, m)


cdef inline void row_prob_sums(const floating* x, const floating* t, const floating* w,
                               Py_ssize_t n, double m, double keep, double eps_c,
                               double* wt, double* wtd) noexcept nogil:
    if floating is float:
        fl_row_prob_sums_f(x, t, w, n, m, keep, eps_c, wt, wtd)
    else:
        fl_row_prob_sums_d(x, t, w, n, m, keep, eps_c, wt, wtd)


cdef inline void row_prob_grad(const floating* x, const floating* e, const floating* t,
                               const floating* w, floating* out, Py_ssize_t n, double m,
                               double a, double g, double keep,
                               double eps_c) noexcept nogil:
    if floating is float:
        fl_row_prob_grad_f(x, e, t, w, out, n, <float>m, <float>a, <float>g,
                           <float>keep, <float>eps_c)
    else:
        fl_row_prob_grad_d(x, e, t, w, out, n, m, a, g, keep, eps_c)


cdef inline double binary_run(int mode, const floating* x, const floating* t,
                              const floating* w, const floating* pw, const floating* go,
                              double g_scale, floating* loss, floating* grad,
                              Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fl_binary_run_f(mode, x, t, w, pw, go, g_scale, loss, grad, n)
    else:
        return fl_binary_run_d(mode, x, t, w, pw, go, g_scale, loss, grad, n)


cdef inline void rows_ms(const floating* x, Py_ssize_t rows, Py_ssize_t n, double* m,
                         double* s, double* log_s, floating* e) noexcept nogil:
    """(max, sum exp(x - max), its log) of `rows` contiguous rows; with few
    classes also e = exp(x - max) of every element (e is then not NULL)."""
    cdef fl_ms ms
    cdef Py_ssize_t k
    if e != NULL:
        block_ms(x, rows, n, m, s, e)
    else:
        for k in range(rows):
            ms = row_ms(x + k * n, n)
            m[k] = ms.m
            s[k] = ms.s
    fl_log_many(s, log_s, rows)


def simd_width():
    """What the vector loops of this module were compiled for."""
    return FL_SIMD_WIDTH.decode("ascii")


cdef double BCE_EPSILON = <float>1e-12

cdef struct Parts:
    double main      # weighted NLL (index targets), or the whole loss (probability targets)
    double smooth    # -sum_c w_c log p_c, the label-smoothing term of index targets


cdef inline double sum_blocks(const double* p, Py_ssize_t n,
                              Py_ssize_t stride) noexcept nogil:
    """Compensated (Neumaier) sum of p[0], p[stride], ... in that order."""
    cdef double s = 0.0, c = 0.0, v, t
    cdef Py_ssize_t k
    for k in range(n):
        v = p[k * stride]
        t = s + v
        if fabs(s) >= fabs(v):
            c += (s - t) + v
        else:
            c += (v - t) + s
        s = t
    if not is_finite(s):
        return s                      # the compensation of an inf is NaN
    return s + c


cdef inline Py_ssize_t first_flagged(const Py_ssize_t* first,
                                     Py_ssize_t n_blocks) noexcept nogil:
    """The first non-negative entry of per-block first-failure positions, or -1."""
    cdef Py_ssize_t blk
    for blk in range(n_blocks):
        if first[blk] >= 0:
            return first[blk]
    return -1


cdef inline Py_ssize_t rows_per_block(Py_ssize_t n_classes) noexcept nogil:
    if n_classes >= BLOCK_ELEMS:
        return 1
    return BLOCK_ELEMS // max(n_classes, 1)


# ---------------------------------------------------------------- row losses

cdef inline Parts ce_index_row(const floating* x, Py_ssize_t n, Py_ssize_t s,
                               Py_ssize_t y, const floating* w, double w_total,
                               double eps, floating* g,
                               double g_scale) noexcept nogil:
    """Cross-entropy of one row against class y, and its gradient if g != NULL.

    main = w_y (lse - x_y); smooth = sum_c w_c (lse - x_c), written as
    log(s)*W - sum_c w_c (x_c - m) so both parts are sums of non-negative terms.
    Gradient: g_c = g_scale [p_c ((1-eps) w_y + eps/n W) - eps/n w_c - (1-eps) w_y [c == y]].
    """
    cdef Parts out
    cdef double m = row_max(x, n, s)
    cdef double xy = x[y * s], wy = w[y], eps_c = eps / n
    cdef double d, e, sum_e = 0.0, wd = 0.0, log_s, inv, a
    cdef Py_ssize_t c
    if not is_finite(m):              # a +inf or NaN logit, or every class masked
        out.main = NAN
        out.smooth = NAN
        if g != NULL:
            row_fill(g, n, s, NAN)
        return out
    for c in range(n):
        d = x[c * s] - m
        e = exp(d)
        sum_e += e
        if eps > 0.0:
            wd += w[c] * d
        if g != NULL:
            g[c * s] = <floating>e
    log_s = log(sum_e)
    out.main = wy * (log_s - (xy - m))
    out.smooth = log_s * w_total - wd if eps > 0.0 else 0.0
    if g != NULL:
        inv = 1.0 / sum_e
        a = (1.0 - eps) * wy + eps_c * w_total
        for c in range(n):
            g[c * s] = <floating>(g_scale * (g[c * s] * inv * a - eps_c * w[c]))
        g[y * s] = <floating>(
            g_scale * (exp((xy - m) - log_s) * a - eps_c * wy - (1.0 - eps) * wy))
    return out


cdef inline Parts nll_row(const floating* x, Py_ssize_t n, Py_ssize_t s,
                          Py_ssize_t y, const floating* w, floating* g,
                          double g_scale) noexcept nogil:
    """-w_y x_y of a row of log-probabilities; gradient -g_scale w_y at y, 0 elsewhere."""
    cdef Parts out
    out.main = -w[y] * x[y * s]
    out.smooth = 0.0
    if g != NULL:
        row_fill(g, n, s, 0.0)
        g[y * s] = <floating>(-g_scale * w[y])
    return out


cdef inline Parts ce_prob_row(const floating* x, const floating* t, Py_ssize_t n,
                              Py_ssize_t s, const floating* w, double eps,
                              floating* g, double g_scale) noexcept nogil:
    """-sum_c w_c t'_c log p_c with t' = (1-eps) t + eps/n, and its gradient.

    Written log(s) sum_c w_c t'_c - sum_c w_c t'_c (x_c - m): like torch, a zero
    target on a masked (-inf) class gives 0 * -inf = NaN in the loss.
    Gradient: g_c = g_scale [(sum_k w_k t'_k) p_c - w_c t'_c].
    """
    cdef Parts out
    cdef double m = row_max(x, n, s)
    cdef double eps_c, d, e, tc, wt_c, sum_e = 0.0, wt = 0.0, wtd = 0.0, log_s, inv
    cdef Py_ssize_t c
    out.smooth = 0.0
    if n == 0:                        # an empty sum over no classes
        out.main = 0.0
        return out
    if not is_finite(m):
        out.main = NAN
        if g != NULL:
            row_fill(g, n, s, NAN)
        return out
    eps_c = eps / n
    for c in range(n):
        d = x[c * s] - m
        e = exp(d)
        sum_e += e
        wt_c = w[c] * (t[c * s] * (1.0 - eps) + eps_c)
        wt += wt_c
        wtd += wt_c * d
        if g != NULL:
            g[c * s] = <floating>e
    log_s = log(sum_e)
    out.main = log_s * wt - wtd
    if g != NULL:
        inv = 1.0 / sum_e
        for c in range(n):
            tc = t[c * s] * (1.0 - eps) + eps_c
            g[c * s] = <floating>(g_scale * (wt * g[c * s] * inv - w[c] * tc))
    return out


# ------------------------------------------------------------------- kernels

def scratch(int n_threads, Py_ssize_t n, Py_ssize_t itemsize):
    """Per-thread work space of the contiguous-row kernels, indexed by
    threadid(): for each thread a block's row maxima, sums and log-sums
    (3 * rows-per-block doubles), and with few classes the block's exps."""
    cdef Py_ssize_t t = max(n_threads, 1), rpb = rows_per_block(n)
    stats = np.empty((t, 3 * rpb), dtype=np.float64)
    ebytes = np.empty((t, rpb * n * itemsize if n < FL_SMALL_C else 1), dtype=np.uint8)
    return stats, ebytes


cdef inline floating* block_stats(const floating* x, Py_ssize_t nr, Py_ssize_t n,
                                  double* st, Py_ssize_t rpb, unsigned char* eb,
                                  bint small) noexcept nogil:
    """Fill st[0:nr] = row max, st[rpb:] = sum exp(x - max), st[2 rpb:] = its log
    for nr contiguous rows at x; with few classes also the exps, returned."""
    cdef floating* e = <floating*>eb if small else NULL
    rows_ms(x, nr, n, st, st + rpb, st + 2 * rpb, e)
    return e


def logsumexp(const floating[:, :, ::1] x,   # IN  (n_outer, n_classes, n_inner)
              floating[:, ::1] out,          # OUT (n_outer, n_inner)
              int n_threads):
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, r0, nr, blk, n_blocks
    cdef Py_ssize_t rpb = rows_per_block(n)
    cdef bint small = n < FL_SMALL_C
    cdef const floating* xp
    cdef floating* op
    cdef double* st
    cdef double[:, ::1] stats
    cdef unsigned char[:, ::1] ebytes
    if rows == 0:
        return
    op = &out[0, 0]
    if n == 0:
        with nogil:
            row_fill(op, rows, 1, -INFINITY)
        return
    xp = &x[0, 0, 0]
    if inner != 1:
        with nogil:
            for r in prange(rows, schedule="static", num_threads=n_threads,
                            use_threads_if=rows * n > PARALLEL_MIN):
                o = r // inner
                op[r] = <floating>row_logsumexp(xp + o * n * inner + (r - o * inner), n, inner)
        return
    stats, ebytes = scratch(n_threads, n, sizeof(floating))
    n_blocks = (rows + rpb - 1) // rpb
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > PARALLEL_MIN):
            r0 = blk * rpb
            nr = min(rpb, rows - r0)
            st = &stats[threadid(), 0]
            block_stats(xp + r0 * n, nr, n, st, rpb, &ebytes[threadid(), 0], small)
            for r in range(nr):
                if is_finite(st[r]):
                    op[r0 + r] = <floating>(st[r] + st[2 * rpb + r])
                else:
                    op[r0 + r] = <floating>row_logsumexp(xp + (r0 + r) * n, n, 1)


def softmax(const floating[:, :, ::1] x,     # IN  (n_outer, n_classes, n_inner)
            floating[:, :, ::1] out,         # OUT like x; may be x itself
            bint log_space,                  # log_softmax instead of softmax
            int n_threads):
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, off, r0, nr, blk, n_blocks
    cdef Py_ssize_t rpb = rows_per_block(n)
    cdef bint small = n < FL_SMALL_C
    cdef const floating* xp
    cdef floating* op
    cdef floating* e
    cdef double* st
    cdef double[:, ::1] stats
    cdef unsigned char[:, ::1] ebytes
    if rows == 0 or n == 0:
        return
    xp = &x[0, 0, 0]
    op = &out[0, 0, 0]
    if inner != 1:
        with nogil:
            for r in prange(rows, schedule="static", num_threads=n_threads,
                            use_threads_if=rows * n > PARALLEL_MIN):
                o = r // inner
                off = o * n * inner + (r - o * inner)
                if log_space:
                    row_log_softmax(xp + off, op + off, n, inner)
                else:
                    row_softmax(xp + off, op + off, n, inner)
        return
    stats, ebytes = scratch(n_threads, n, sizeof(floating))
    n_blocks = (rows + rpb - 1) // rpb
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > PARALLEL_MIN):
            r0 = blk * rpb
            nr = min(rpb, rows - r0)
            st = &stats[threadid(), 0]
            e = block_stats(xp + r0 * n, nr, n, st, rpb, &ebytes[threadid(), 0], small)
            for r in range(nr):
                off = (r0 + r) * n
                if not is_finite(st[r]):
                    if log_space:
                        row_log_softmax(xp + off, op + off, n, 1)
                    else:
                        row_softmax(xp + off, op + off, n, 1)
                elif log_space:
                    row_shift(xp + off, op + off, n, st[r], st[2 * rpb + r])
                else:
                    row_expaff(xp + off, e + r * n if small else NULL, op + off, n,
                               st[r], 1.0 / st[rpb + r], 0.0, NULL)


cdef inline Parts ce_index_fast(const floating* x, const floating* e, Py_ssize_t n,
                                Py_ssize_t y, const floating* w, bint unit_w,
                                double w_total, double eps, double m, double s,
                                double log_s, floating* g, double g_scale) noexcept nogil:
    """ce_index_row for a contiguous row whose max m is finite, given
    s = sum exp(x - m) (and the exps e, or NULL); same formulas."""
    cdef Parts out
    cdef double xy = x[y], wy = w[y], eps_c = eps / n, a, ey
    out.main = wy * (log_s - (xy - m))
    out.smooth = 0.0
    if eps > 0.0:
        out.smooth = log_s * w_total - row_wdiff(x, NULL if unit_w else w, n, m)
    if g != NULL:
        a = (1.0 - eps) * wy + eps_c * w_total
        row_expaff(x, e, g, n, m, g_scale * a / s, g_scale * eps_c,
                   NULL if (unit_w or eps == 0.0) else w)
        # p_y from the same exp as the other classes: one ulp-level formula
        ey = e[y] if e != NULL else fl_exp(xy - m)
        g[y] = <floating>(g_scale * (ey / s * a - eps_c * wy - (1.0 - eps) * wy))
    return out


cdef inline Parts ce_prob_fast(const floating* x, const floating* e, const floating* t,
                               Py_ssize_t n, const floating* w, double eps, double m,
                               double s, double log_s, floating* g,
                               double g_scale) noexcept nogil:
    """ce_prob_row for a contiguous row whose max m is finite."""
    cdef Parts out
    cdef double wt, wtd
    row_prob_sums(x, t, w, n, m, 1.0 - eps, eps / n, &wt, &wtd)
    out.main = log_s * wt - wtd
    out.smooth = 0.0
    if g != NULL:
        row_prob_grad(x, e, t, w, g, n, m, g_scale * wt / s, g_scale, 1.0 - eps, eps / n)
    return out


def class_loss(int mode,
               const floating[:, :, ::1] x,      # IN  (n_outer, n_classes, n_inner)
               const int64_t[::1] target,        # IN  (rows,) class indices; empty for CE_PROB
               const floating[:, :, ::1] prob,   # IN  like x, probability targets; empty otherwise
               const floating[::1] weight,       # IN  (n_classes,) class weights (ones if none)
               int64_t ignore_index,
               double label_smoothing,
               floating[::1] loss,               # OUT (rows,) per-row loss; empty: not wanted
               floating[:, :, ::1] grad,         # OUT like x, may be x itself; empty: not wanted
               const floating[:] grad_rows,      # IN  (rows,) upstream gradient, any stride
               double grad_scale,                # IN  multiplies every gradient (1/denominator)
               int n_threads):
    """Per-row losses and gradients of the class-axis losses; returns the
    (main, smooth) sums over rows (see Parts)."""
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner
    cdef bint want_loss = loss.shape[0] != 0, want_grad = grad.shape[0] != 0
    cdef Py_ssize_t rpb = rows_per_block(n), n_blocks, blk, r, r0, r1, o, off, y, k
    cdef Py_ssize_t grs = grad_rows.strides[0] // sizeof(floating) if rows else 0
    cdef const floating* xp = NULL
    cdef const floating* pp = NULL
    cdef const floating* wp = NULL
    cdef const floating* grp = NULL
    cdef const int64_t* tp = NULL
    cdef floating* lp = NULL
    cdef floating* gbase = NULL
    cdef floating* gp
    cdef floating* e
    cdef floating* er
    cdef double* st
    cdef double w_total = 0.0, eps = label_smoothing, sa, sb, g_r, value
    cdef bint unit_w = True
    cdef bint fast = inner == 1 and n > 0 and mode != MODE_NLL_INDEX
    cdef bint small = n < FL_SMALL_C
    cdef Parts parts
    cdef Py_ssize_t c
    cdef double[:, ::1] stats
    cdef unsigned char[:, ::1] ebytes
    if rows == 0:
        return 0.0, 0.0
    n_blocks = (rows + rpb - 1) // rpb
    partials = np.zeros((n_blocks, 2), dtype=np.float64)
    cdef double[:, ::1] part = partials
    if n:
        xp = &x[0, 0, 0]
        wp = &weight[0]
        if want_grad:
            gbase = &grad[0, 0, 0]
        if mode == MODE_CE_PROB:
            pp = &prob[0, 0, 0]
    if mode != MODE_CE_PROB:
        tp = &target[0]
    if want_loss:
        lp = &loss[0]
    grp = &grad_rows[0]
    for c in range(n):
        w_total += weight[c]
        unit_w = unit_w and weight[c] == 1.0
    stats, ebytes = scratch(n_threads if fast else 1, n if fast else 1, sizeof(floating))
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > PARALLEL_MIN):
            r0 = blk * rpb
            r1 = min(r0 + rpb, rows)
            sa = 0.0
            sb = 0.0
            e = NULL
            st = NULL
            if fast:
                st = &stats[threadid(), 0]
                e = block_stats(xp + r0 * n, r1 - r0, n, st, rpb,
                                &ebytes[threadid(), 0], small)
            for r in range(r0, r1):
                o = r // inner
                off = o * n * inner + (r - o * inner)
                gp = gbase + off if gbase != NULL else NULL
                g_r = grad_scale * grp[r * grs]
                k = r - r0
                er = e + k * n if e != NULL else NULL
                if mode == MODE_CE_PROB:
                    if fast and is_finite(st[k]):
                        parts = ce_prob_fast(xp + off, er, pp + off, n, wp, eps, st[k],
                                             st[rpb + k], st[2 * rpb + k], gp, g_r)
                    else:
                        parts = ce_prob_row(xp + off, pp + off, n, inner, wp, eps, gp, g_r)
                else:
                    y = tp[r]
                    if y == ignore_index:     # no part in the result, whatever it holds
                        parts.main = 0.0
                        parts.smooth = 0.0
                        if gp != NULL:
                            row_fill(gp, n, inner, 0.0)
                    elif mode == MODE_NLL_INDEX:
                        parts = nll_row(xp + off, n, inner, y, wp, gp, g_r)
                    elif fast and is_finite(st[k]):
                        parts = ce_index_fast(xp + off, er, n, y, wp, unit_w, w_total, eps,
                                              st[k], st[rpb + k], st[2 * rpb + k], gp, g_r)
                    else:
                        parts = ce_index_row(xp + off, n, inner, y, wp, w_total,
                                             eps, gp, g_r)
                if want_loss:
                    value = parts.main
                    if eps > 0.0 and mode == MODE_CE_INDEX:
                        value = (1.0 - eps) * parts.main + (eps / n) * parts.smooth
                    lp[r] = <floating>value
                sa = sa + parts.main
                sb = sb + parts.smooth
            part[blk, 0] = sa
            part[blk, 1] = sb
    return (sum_blocks(&part[0, 0], n_blocks, 2),
            sum_blocks(&part[0, 1], n_blocks, 2))


cdef inline const floating* block_operand(const floating* base, Py_ssize_t s0,
                                          Py_ssize_t s1, Py_ssize_t n_cols, Py_ssize_t e0,
                                          Py_ssize_t e1, floating* buf) noexcept nogil:
    """Flat elements e0..e1-1 of a strided (broadcast) (n_rows, n_cols) operand as
    one contiguous run: a pointer into it when it is C-contiguous, else a copy."""
    cdef Py_ssize_t r = e0 // n_cols, col = e0 - r * n_cols, k
    if s1 == 1 and s0 == n_cols:
        return base + e0
    for k in range(e1 - e0):
        buf[k] = base[r * s0 + col * s1]
        col = col + 1
        if col == n_cols:
            col = 0
            r = r + 1
    return buf


def binary_loss(int mode,
                const floating[:, ::1] x,         # IN  (n_rows, n_cols)
                const floating[:, ::1] t,         # IN  (n_rows, n_cols)
                const floating[:, :] weight,      # IN  (n_rows, n_cols) view, broadcast strides
                const floating[:, :] pos_weight,  # IN  (n_rows, n_cols) view, broadcast strides
                floating[:, ::1] loss,            # OUT (n_rows, n_cols); empty: not wanted
                floating[:, ::1] grad,            # OUT (n_rows, n_cols), may be x; empty: none
                const floating[:, :] grad_out,    # IN  (n_rows, n_cols) view, broadcast strides
                double grad_scale,                # IN  multiplies every gradient
                int n_threads):
    """Elementwise losses (BCE with logits, BCE, MSE); returns their sum.

    Elements are processed in blocks of BLOCK_ELEMS in flat order, whatever
    the row length, so a long 1-D input uses every thread too; a block is one
    vector loop, its broadcast operands expanded into per-thread buffers.
    """
    cdef Py_ssize_t n_rows = x.shape[0], n_cols = x.shape[1]
    cdef Py_ssize_t size = n_rows * n_cols
    cdef bint want_loss = loss.shape[0] != 0, want_grad = grad.shape[0] != 0
    cdef Py_ssize_t n_blocks, blk, e, e1
    cdef Py_ssize_t ws0, ws1, ps0, ps1, gs0, gs1
    cdef const floating* xp
    cdef const floating* tp
    cdef const floating* wp
    cdef const floating* pwp
    cdef const floating* gop
    cdef const floating* wr
    cdef const floating* pwr
    cdef const floating* gor
    cdef floating* lp = NULL
    cdef floating* gbase = NULL
    cdef floating* buf
    cdef double acc
    cdef floating[:, ::1] bufs
    if size == 0:
        return 0.0
    n_blocks = (size + BLOCK_ELEMS - 1) // BLOCK_ELEMS
    partials = np.zeros(n_blocks, dtype=np.float64)
    cdef double[::1] part = partials
    bufs = np.empty((max(n_threads, 1), 3 * BLOCK_ELEMS),
                    dtype=np.float32 if floating is float else np.float64)
    xp = &x[0, 0]
    tp = &t[0, 0]
    wp = &weight[0, 0]
    pwp = &pos_weight[0, 0]
    gop = &grad_out[0, 0]
    ws0 = weight.strides[0] // sizeof(floating)
    ws1 = weight.strides[1] // sizeof(floating)
    ps0 = pos_weight.strides[0] // sizeof(floating)
    ps1 = pos_weight.strides[1] // sizeof(floating)
    gs0 = grad_out.strides[0] // sizeof(floating)
    gs1 = grad_out.strides[1] // sizeof(floating)
    if want_loss:
        lp = &loss[0, 0]
    if want_grad:
        gbase = &grad[0, 0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > PARALLEL_MIN):
            buf = &bufs[threadid(), 0]
            e = blk * BLOCK_ELEMS
            e1 = min(e + BLOCK_ELEMS, size)
            wr = xp + e                   # a placeholder where an operand is unused
            pwr = wr
            gor = wr
            if mode != MODE_MSE:
                wr = block_operand(wp, ws0, ws1, n_cols, e, e1, buf)
            if mode == MODE_BCE_LOGITS:
                pwr = block_operand(pwp, ps0, ps1, n_cols, e, e1, buf + BLOCK_ELEMS)
            if want_grad:
                gor = block_operand(gop, gs0, gs1, n_cols, e, e1, buf + 2 * BLOCK_ELEMS)
            acc = binary_run(mode, xp + e, tp + e, wr, pwr, gor, grad_scale,
                             lp + e if want_loss else NULL,
                             gbase + e if want_grad else NULL, e1 - e)
            part[blk] = acc
    return sum_blocks(&part[0], n_blocks, 1)


# ---------------------------------------------------------- input checks

def check_targets(const int64_t[::1] target,    # IN (rows,)
                  Py_ssize_t n_classes,
                  int64_t ignore_index,
                  const floating[::1] weight,   # IN (n_classes,)
                  int n_threads):
    """Return (position of the first target that is neither in [0, n_classes)
    nor ignore_index, or -1; sum of weight[target] over the other targets)."""
    cdef Py_ssize_t size = target.shape[0], n_blocks, blk, k, k1, bad
    cdef int64_t y
    cdef double acc
    if size == 0:
        return -1, 0.0
    n_blocks = (size + BLOCK_ELEMS - 1) // BLOCK_ELEMS
    firsts = np.empty(n_blocks, dtype=np.intp)
    sums = np.zeros(n_blocks, dtype=np.float64)
    cdef Py_ssize_t[::1] first = firsts
    cdef double[::1] part = sums
    cdef const int64_t* tp = &target[0]
    cdef const floating* wp = &weight[0] if n_classes else NULL
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > PARALLEL_MIN):
            k1 = min((blk + 1) * BLOCK_ELEMS, size)
            bad = -1
            acc = 0.0
            for k in range(blk * BLOCK_ELEMS, k1):
                y = tp[k]
                if y == ignore_index:
                    continue
                if y < 0 or y >= n_classes:
                    bad = k
                    break
                acc = acc + wp[y]
            first[blk] = bad
            part[blk] = acc
        bad = first_flagged(&first[0], n_blocks)
        acc = sum_blocks(&part[0], n_blocks, 1) if bad < 0 else 0.0
    return bad, acc


def first_outside_unit(const floating[::1] a, int n_threads):
    """Position of the first element of a not in [0, 1] (NaN included), or -1."""
    cdef Py_ssize_t size = a.shape[0], n_blocks, blk, k, k1, bad
    cdef double v
    if size == 0:
        return -1
    n_blocks = (size + BLOCK_ELEMS - 1) // BLOCK_ELEMS
    firsts = np.empty(n_blocks, dtype=np.intp)
    cdef Py_ssize_t[::1] first = firsts
    cdef const floating* ap = &a[0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > PARALLEL_MIN):
            k1 = min((blk + 1) * BLOCK_ELEMS, size)
            bad = -1
            for k in range(blk * BLOCK_ELEMS, k1):
                v = ap[k]
                if not (v >= 0.0 and v <= 1.0):
                    bad = k
                    break
            first[blk] = bad
        bad = first_flagged(&first[0], n_blocks)
    return bad


# ------------------------------------------------- floors and math, for tests

def read_floor(const floating[::1] x, int n_threads):
    """Sum of x, in double, block by block in parallel: the memory floor of a
    pass that only reads (benchmarks/), with the kernels' flags and blocks."""
    cdef Py_ssize_t size = x.shape[0], n_blocks, blk, k0
    cdef const floating* xp
    if size == 0:
        return 0.0
    n_blocks = (size + BLOCK_ELEMS - 1) // BLOCK_ELEMS
    partials = np.zeros(n_blocks, dtype=np.float64)
    cdef double[::1] part = partials
    xp = &x[0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > PARALLEL_MIN):
            k0 = blk * BLOCK_ELEMS
            if floating is float:
                part[blk] = fl_sum_f(xp + k0, min(BLOCK_ELEMS, size - k0))
            else:
                part[blk] = fl_sum_d(xp + k0, min(BLOCK_ELEMS, size - k0))
    return sum_blocks(&part[0], n_blocks, 1)


def copy_floor(const floating[::1] x, floating[::1] out, int n_threads):
    """out[:] = x, block by block in parallel: the floor of a read+write pass."""
    cdef Py_ssize_t size = x.shape[0], n_blocks, blk, k0
    if size == 0:
        return
    n_blocks = (size + BLOCK_ELEMS - 1) // BLOCK_ELEMS
    cdef const floating* xp = &x[0]
    cdef floating* op = &out[0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > PARALLEL_MIN):
            k0 = blk * BLOCK_ELEMS
            if floating is float:
                fl_copy_f(xp + k0, op + k0, min(BLOCK_ELEMS, size - k0))
            else:
                fl_copy_d(xp + k0, op + k0, min(BLOCK_ELEMS, size - k0))


def math_map(str name, const floating[::1] x, floating[::1] out):
    """out = name(x) through the kernels' vector loops: "exp" (float32 or
    float64), "log" and "log1p" (float64). For tests/test_simd_math.py."""
    cdef Py_ssize_t n = x.shape[0]
    if n == 0:
        return
    if name == "exp":
        if floating is float:
            fl_map_expf(&x[0], &out[0], n)
        else:
            fl_map_exp(&x[0], &out[0], n)
        return
    if floating is float:
        raise TypeError(f"math_map: {name} is float64 only")
    else:
        if name == "log":
            fl_map_log(&x[0], &out[0], n)
        elif name == "log1p":
            fl_map_log1p(&x[0], &out[0], n)
        else:
            raise ValueError(f"math_map: unknown function {name!r}")
