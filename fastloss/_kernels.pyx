# Kernels: one parallel loop over rows (or fixed-size blocks of rows) of
# C-contiguous arrays, writing into buffers the caller allocated.
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
# The Python layer (fastloss/functional.py) has checked every input: shapes
# agree, class indices are in range, out buffers do not overlap inputs except
# where a primitive allows it. Nothing here raises.

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, NAN, exp, fabs, log, log1p
from libc.stdint cimport int64_t

from fastloss._rowops cimport (
    is_finite, log1pexp, row_fill, row_log_softmax, row_logsumexp, row_max,
    row_softmax, sigmoid,
)

cdef enum:
    # rows per reduction block = BLOCK_ELEMS // n_classes (at least 1)
    BLOCK_ELEMS = 8192
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

def logsumexp(const floating[:, :, ::1] x,   # IN  (n_outer, n_classes, n_inner)
              floating[:, ::1] out,          # OUT (n_outer, n_inner)
              int n_threads):
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, i
    cdef const floating* xp
    cdef floating* op
    if rows == 0:
        return
    op = &out[0, 0]
    if n == 0:
        with nogil:
            row_fill(op, rows, 1, -INFINITY)
        return
    xp = &x[0, 0, 0]
    with nogil:
        for r in prange(rows, schedule="static", num_threads=n_threads,
                        use_threads_if=rows * n > PARALLEL_MIN):
            o = r // inner
            i = r - o * inner
            op[r] = <floating>row_logsumexp(xp + o * n * inner + i, n, inner)


def softmax(const floating[:, :, ::1] x,     # IN  (n_outer, n_classes, n_inner)
            floating[:, :, ::1] out,         # OUT like x; may be x itself
            bint log_space,                  # log_softmax instead of softmax
            int n_threads):
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, off
    cdef const floating* xp
    cdef floating* op
    if rows == 0 or n == 0:
        return
    xp = &x[0, 0, 0]
    op = &out[0, 0, 0]
    with nogil:
        for r in prange(rows, schedule="static", num_threads=n_threads,
                        use_threads_if=rows * n > PARALLEL_MIN):
            o = r // inner
            off = o * n * inner + (r - o * inner)
            if log_space:
                row_log_softmax(xp + off, op + off, n, inner)
            else:
                row_softmax(xp + off, op + off, n, inner)


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
    cdef Py_ssize_t rpb = rows_per_block(n), n_blocks, blk, r, r0, r1, o, off, y
    cdef Py_ssize_t grs = grad_rows.strides[0] // sizeof(floating) if rows else 0
    cdef const floating* xp = NULL
    cdef const floating* pp = NULL
    cdef const floating* wp = NULL
    cdef const floating* grp = NULL
    cdef const int64_t* tp = NULL
    cdef floating* lp = NULL
    cdef floating* gbase = NULL
    cdef floating* gp
    cdef double w_total = 0.0, eps = label_smoothing, sa, sb, g_r, value
    cdef Parts parts
    cdef Py_ssize_t c
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
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > PARALLEL_MIN):
            r0 = blk * rpb
            r1 = min(r0 + rpb, rows)
            sa = 0.0
            sb = 0.0
            for r in range(r0, r1):
                o = r // inner
                off = o * n * inner + (r - o * inner)
                gp = gbase + off if gbase != NULL else NULL
                g_r = grad_scale * grp[r * grs]
                if mode == MODE_CE_PROB:
                    parts = ce_prob_row(xp + off, pp + off, n, inner, wp, eps, gp, g_r)
                else:
                    y = tp[r]
                    if y == ignore_index:     # never read: the row may hold anything
                        parts.main = 0.0
                        parts.smooth = 0.0
                        if gp != NULL:
                            row_fill(gp, n, inner, 0.0)
                    elif mode == MODE_CE_INDEX:
                        parts = ce_index_row(xp + off, n, inner, y, wp, w_total,
                                             eps, gp, g_r)
                    else:
                        parts = nll_row(xp + off, n, inner, y, wp, gp, g_r)
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


cdef inline double binary_element(int mode, double x, double t, double w,
                                  double pw, double g, floating* grad) noexcept nogil:
    """Loss of one element; writes its gradient (times g) when grad != NULL."""
    cdef double lw, d, sig
    if mode == MODE_BCE_LOGITS:
        # (1-t) x - (1 + (pw-1) t) logsigmoid(x), logsigmoid(x) = -log1pexp(-x)
        lw = 1.0 + (pw - 1.0) * t
        if grad != NULL:
            sig = sigmoid(x)
            grad[0] = <floating>(((pw * t + 1.0 - t) * sig - pw * t) * w * g)
        return w * ((1.0 - t) * x + lw * log1pexp(-x))
    if mode == MODE_BCE_PROB:
        # torch: log terms clamped at -100, gradient denominator at 1e-12
        # (torch's constant is the float32 1e-12, 9.99999996e-13)
        if grad != NULL:
            grad[0] = <floating>(g * w * (x - t) / max((1.0 - x) * x, BCE_EPSILON))
        return -w * (t * max(log(x), -100.0) + (1.0 - t) * max(log1p(-x), -100.0))
    d = x - t                                             # MSE
    if grad != NULL:
        grad[0] = <floating>(2.0 * d * g)
    return d * d


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
    the row length, so a long 1-D input uses every thread too.
    """
    cdef Py_ssize_t n_rows = x.shape[0], n_cols = x.shape[1]
    cdef Py_ssize_t size = n_rows * n_cols
    cdef bint want_loss = loss.shape[0] != 0, want_grad = grad.shape[0] != 0
    cdef Py_ssize_t n_blocks, blk, e, e1, r, col
    cdef Py_ssize_t ws0, ws1, ps0, ps1, gs0, gs1
    cdef const floating* xp
    cdef const floating* tp
    cdef const floating* wp
    cdef const floating* pwp
    cdef const floating* gop
    cdef floating* lp = NULL
    cdef floating* gbase = NULL
    cdef floating* gp
    cdef double acc, value
    if size == 0:
        return 0.0
    n_blocks = (size + BLOCK_ELEMS - 1) // BLOCK_ELEMS
    partials = np.zeros(n_blocks, dtype=np.float64)
    cdef double[::1] part = partials
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
            e1 = min((blk + 1) * BLOCK_ELEMS, size)
            acc = 0.0
            for e in range(blk * BLOCK_ELEMS, e1):
                r = e // n_cols
                col = e - r * n_cols
                gp = gbase + e if want_grad else NULL
                value = binary_element(
                    mode, xp[e], tp[e], wp[r * ws0 + col * ws1],
                    pwp[r * ps0 + col * ps1],
                    grad_scale * gop[r * gs0 + col * gs1], gp)
                if want_loss:
                    lp[e] = <floating>value
                acc = acc + value
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
