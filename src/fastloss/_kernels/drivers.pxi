# The drivers: one parallel loop over fixed blocks of rows (or of row chunks,
# or of elements) of C-contiguous arrays, writing into buffers the caller
# allocated; each block is one call of the C row engines (c_api.pxd).
#
# This file is included by _baseline.pyx, _avx2.pyx and _avx512.pyx, which setup.py
# compiles with different instruction-set flags; fastloss._kernels imports
# the best one the CPU runs. Only NLL, which takes one element per row, and
# the combination of the chunks of long rows are scalar code here; every
# formula is c/points.h's.
#
# Layout. A class-axis array of any rank is seen as (n_outer, n_classes,
# n_inner): the class axis is the middle one, so axis=-1 is n_inner == 1 and
# PyTorch's (N, C, d1, ..., dk) is n_outer = N, n_inner = d1*...*dk, with no
# copy. Row r is (o, i) = divmod(r, n_inner) and its classes lie at stride
# n_inner from x[o, 0, i].
#
# Long rows (fl_long_rows: longer than two chunks and than FL_LONG_BYTES) are
# cut into chunks of FL_CHUNK elements: the parallel loops run over (row,
# chunk) pairs, a row's (max, sum) is combined from its chunks' in chunk
# order. So a few long rows keep every thread busy.
#
# Determinism. Which path a row takes, the blocks and the chunks depend on the
# shape alone; reductions add per-row values in double inside each block, then
# add the block sums in block order: the result is bitwise the same for any
# number of threads.
#
# The Python layer (fastloss/_api.py) has checked every input: shapes
# agree, class indices are in range, out buffers do not overlap inputs except
# where a kernel allows it. Nothing here raises.

import numpy as np

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, threadid
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.math cimport INFINITY, NAN, exp, fabs, log
from libc.stdint cimport int64_t, uint64_t

from fastloss._kernels.c_api cimport *

cnp.import_array()

# the modes, for the Python layer
LSE = FL_LSE
SOFTMAX = FL_SOFTMAX
LOG_SOFTMAX = FL_LOG_SOFTMAX
CE_INDEX = FL_CE_INDEX
NLL_INDEX = FL_NLL_INDEX
CE_PROB = FL_CE_PROB
BCE_LOGITS = FL_BCE_LOGITS
BCE_PROB = FL_BCE_PROB
MSE = FL_MSE
L1 = FL_L1
SMOOTH_L1 = FL_SMOOTH_L1
HUBER = FL_HUBER
KL_DIV = FL_KL_DIV
KL_DIV_LOG = FL_KL_DIV_LOG

# The shapes at which the kernels change path on this SIMD path (tests build
# their boundary shapes from them): blocks of block_elems elements (rows of
# block_elems classes or more are blocks of one row), a parallel region from
# parallel_min elements, rows cut into chunks of chunk elements when longer
# than 2 chunks and than long_bytes, rows of at most small_classes[dtype]
# classes in vector lanes
# (lanes[dtype] rows at a time), the logs of sub_rows rows taken together.
LIMITS = {
    "block_elems": FL_BLOCK_ELEMS,
    "parallel_min": FL_PARALLEL_MIN,
    "chunk": FL_CHUNK,
    "long_bytes": FL_LONG_BYTES,
    "sub_rows": FL_SUB,
    "lanes": {"float32": FL_VLF, "float64": FL_VLD},
    "small_classes": {"float32": FL_SMALL_PARTS * FL_VLF, "float64": FL_SMALL_PARTS * FL_VLD},
}


def simd_width():
    """What the vector loops of this module were compiled for."""
    return FL_SIMD_WIDTH.decode("ascii")


# ----------------------------------------------------------------- helpers

cdef inline bint is_finite(double v) noexcept nogil:
    return fabs(v) < INFINITY          # false for +-inf and NaN


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
    cdef Py_ssize_t rpb
    if n_classes >= FL_BLOCK_ELEMS:
        return 1
    rpb = FL_BLOCK_ELEMS // max(n_classes, 1)
    if rpb >= 16:
        rpb -= rpb % 16
    return rpb


cdef inline Py_ssize_t inner_rows(Py_ssize_t n_classes) noexcept nogil:
    """Rows of an inner class axis per work item: consecutive rows (o, i),
    a multiple of 16 (whole vectors of lanes), about FL_BLOCK_ELEMS elements."""
    return max(16, (FL_BLOCK_ELEMS // max(n_classes, 1)) // 16 * 16)


cdef void long_stats(const floating* xp, Py_ssize_t rows, Py_ssize_t n, double* cm,
                     double* cs, double* M, double* S, int n_threads) noexcept nogil:
    """Max M[r] and S[r] = sum exp(x - M[r]) of long contiguous rows, their
    chunks in parallel (cm, cs: rows * chunks scratch). A row whose max is not
    finite gets its exact max (+inf, -inf or NaN) and S = NaN."""
    cdef Py_ssize_t nck = (n + FL_CHUNK - 1) // FL_CHUNK, it, r, k, off
    cdef fl_ms ms
    cdef double m, s, v
    cdef bint special
    for it in prange(rows * nck, schedule="static", num_threads=n_threads,
                     use_threads_if=rows * n > FL_PARALLEL_MIN):
        r = it // nck
        off = (it - r * nck) * FL_CHUNK
        ms = fl_chunk_ms(xp + r * n + off, min(<Py_ssize_t>FL_CHUNK, n - off))
        cm[it] = ms.m
        cs[it] = ms.s
    for r in range(rows):
        m = -INFINITY
        special = False
        for k in range(nck):
            v = cm[r * nck + k]
            if v != v or v == INFINITY:
                special = True
            elif v > m:
                m = v
        if special or m == -INFINITY:
            M[r] = fl_row_max_exact(xp + r * n, n)
            S[r] = NAN
            continue
        s = 0.0
        for k in range(nck):
            v = cm[r * nck + k]
            if v > -INFINITY:
                s = s + cs[r * nck + k] * exp(v - m)
        M[r] = m
        S[r] = s


def _long_scratch(Py_ssize_t rows, Py_ssize_t n):
    nck = (n + FL_CHUNK - 1) // FL_CHUNK
    return np.empty((4, rows * nck)), np.empty((4, rows))


# ---------------------------------------------------------------- kernels

def logsumexp(const floating[:, :, ::1] x,   # IN  (n_outer, n_classes, n_inner)
              floating[:, ::1] out,          # OUT (n_outer, n_inner)
              int n_threads):
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, r0, blk, n_blocks
    cdef Py_ssize_t rpb = rows_per_block(n)
    cdef const floating* xp
    cdef floating* op
    cdef double[:, ::1] chunk_st, row_st
    if rows == 0:
        return
    op = &out[0, 0]
    if n == 0:
        with nogil:
            fl_strided_fill(op, rows, 1, -INFINITY)
        return
    xp = &x[0, 0, 0]
    if inner != 1:
        rpb = inner_rows(n)
        n_blocks = (inner + rpb - 1) // rpb
        with nogil:
            for blk in prange(n_outer * n_blocks, schedule="static", num_threads=n_threads,
                              use_threads_if=rows * n > FL_PARALLEL_MIN):
                o = blk // n_blocks
                r0 = (blk - o * n_blocks) * rpb
                fl_softmax_inner(FL_LSE, xp + o * n * inner, op + o * inner, n, inner, r0,
                                 min(rpb, inner - r0))
        return
    if fl_long_rows(n, sizeof(floating)):
        chunk_st, row_st = _long_scratch(rows, n)
        with nogil:
            long_stats(xp, rows, n, &chunk_st[0, 0], &chunk_st[1, 0], &row_st[0, 0],
                       &row_st[1, 0], n_threads)
            for r in range(rows):
                op[r] = <floating>(fl_lse(row_st[0, r], log(row_st[1, r]))
                                   if is_finite(row_st[0, r]) else row_st[0, r])
        return
    n_blocks = (rows + rpb - 1) // rpb
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > FL_PARALLEL_MIN):
            r0 = blk * rpb
            fl_softmax_rows(FL_LSE, xp + r0 * n, op + r0, min(rpb, rows - r0), n)


def softmax(const floating[:, :, ::1] x,     # IN  (n_outer, n_classes, n_inner)
            floating[:, :, ::1] out,         # OUT like x; may be x itself
            bint log_space,                  # log_softmax instead of softmax
            int n_threads):
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, off, r0, blk, n_blocks, it, nck
    cdef Py_ssize_t rpb = rows_per_block(n)
    cdef const floating* xp
    cdef floating* op
    cdef double[:, ::1] chunk_st, row_st
    if rows == 0 or n == 0:
        return
    xp = &x[0, 0, 0]
    op = &out[0, 0, 0]
    if inner != 1:
        rpb = inner_rows(n)
        n_blocks = (inner + rpb - 1) // rpb
        with nogil:
            for blk in prange(n_outer * n_blocks, schedule="static", num_threads=n_threads,
                              use_threads_if=rows * n > FL_PARALLEL_MIN):
                o = blk // n_blocks
                r0 = (blk - o * n_blocks) * rpb
                fl_softmax_inner(FL_LOG_SOFTMAX if log_space else FL_SOFTMAX,
                                 xp + o * n * inner, op + o * n * inner, n, inner, r0,
                                 min(rpb, inner - r0))
        return
    if fl_long_rows(n, sizeof(floating)):
        chunk_st, row_st = _long_scratch(rows, n)
        nck = (n + FL_CHUNK - 1) // FL_CHUNK
        with nogil:
            long_stats(xp, rows, n, &chunk_st[0, 0], &chunk_st[1, 0], &row_st[0, 0],
                       &row_st[1, 0], n_threads)
            for r in range(rows):
                row_st[2, r] = log(row_st[1, r]) if log_space else 1.0 / row_st[1, r]
            for it in prange(rows * nck, schedule="static", num_threads=n_threads,
                             use_threads_if=rows * n > FL_PARALLEL_MIN):
                r = it // nck
                off = r * n + (it - r * nck) * FL_CHUNK
                o = min(<Py_ssize_t>FL_CHUNK, (r + 1) * n - off)    # the chunk's length
                if not is_finite(row_st[0, r]):
                    fl_strided_fill(op + off, o, 1, NAN)
                elif log_space:
                    fl_row_shift(xp + off, op + off, o, row_st[0, r], row_st[2, r])
                else:
                    fl_row_expaff(xp + off, op + off, o, row_st[0, r], row_st[2, r], 0.0, NULL)
        return
    n_blocks = (rows + rpb - 1) // rpb
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > FL_PARALLEL_MIN):
            r0 = blk * rpb
            fl_softmax_rows(FL_LOG_SOFTMAX if log_space else FL_SOFTMAX, xp + r0 * n,
                            op + r0 * n, min(rpb, rows - r0), n)


# ---------------------------------- softmax backward, weighted logsumexp
#
# The backward passes take the blocks (and, for long rows, the chunks) of
# softmax's paths: a long row's chunk sums are added in chunk order, so the
# result does not depend on the number of threads.

def softmax_backward(const floating[:, :, ::1] g,     # IN  (n_outer, n_classes, n_inner)
                     const floating[:, :, ::1] y,     # IN  like g: the saved output
                     floating[:, :, ::1] out,         # OUT like g; may be g or y itself
                     bint log_space,                  # log_softmax's backward
                     int n_threads):
    cdef Py_ssize_t n_outer = g.shape[0], n = g.shape[1], inner = g.shape[2]
    cdef Py_ssize_t rows = n_outer * inner, r, o, off, r0, blk, n_blocks, it, nck, k
    cdef Py_ssize_t rpb = rows_per_block(n)
    cdef int op = FL_LOG_SOFTMAX if log_space else FL_SOFTMAX
    cdef const floating* gp
    cdef const floating* yp
    cdef floating* outp
    cdef double[::1] chunk_s, row_s
    if rows == 0 or n == 0:
        return
    gp = &g[0, 0, 0]
    yp = &y[0, 0, 0]
    outp = &out[0, 0, 0]
    if inner != 1:
        rpb = inner_rows(n)
        n_blocks = (inner + rpb - 1) // rpb
        with nogil:
            for blk in prange(n_outer * n_blocks, schedule="static", num_threads=n_threads,
                              use_threads_if=rows * n > FL_PARALLEL_MIN):
                o = blk // n_blocks
                r0 = (blk - o * n_blocks) * rpb
                off = o * n * inner
                fl_softmax_backward_inner(op, gp + off, yp + off, outp + off, n, inner, r0,
                                          min(rpb, inner - r0))
        return
    if fl_long_rows(n, sizeof(floating)):
        nck = (n + FL_CHUNK - 1) // FL_CHUNK
        chunk_s = np.empty(rows * nck)
        row_s = np.empty(rows)
        with nogil:
            for it in prange(rows * nck, schedule="static", num_threads=n_threads):
                r = it // nck
                off = r * n + (it - r * nck) * FL_CHUNK
                chunk_s[it] = fl_smb_sum(op, gp + off, yp + off,
                                         min(<Py_ssize_t>FL_CHUNK, (r + 1) * n - off))
            for r in range(rows):
                row_s[r] = 0.0
                for k in range(nck):
                    row_s[r] = row_s[r] + chunk_s[r * nck + k]
            for it in prange(rows * nck, schedule="static", num_threads=n_threads):
                r = it // nck
                off = r * n + (it - r * nck) * FL_CHUNK
                fl_smb_apply(op, gp + off, yp + off, outp + off,
                             min(<Py_ssize_t>FL_CHUNK, (r + 1) * n - off), row_s[r])
        return
    n_blocks = (rows + rpb - 1) // rpb
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > FL_PARALLEL_MIN):
            r0 = blk * rpb
            fl_softmax_backward_rows(op, gp + r0 * n, yp + r0 * n, outp + r0 * n,
                                     min(rpb, rows - r0), n)


def weighted_logsumexp(const floating[:, ::1] x,     # IN  (rows, n)
                       const floating[:, ::1] b,     # IN  like x: the weights
                       floating[::1] out,            # OUT (rows,): log |sum b exp(x)|
                       floating[::1] sign,           # OUT (rows,) the sum's sign, or None
                       int n_threads):
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1], r0, blk
    cdef Py_ssize_t rpb = rows_per_block(n)
    cdef const floating* xp
    cdef const floating* bp
    cdef floating* outp
    cdef floating* sp = NULL
    if rows == 0:
        return
    outp = &out[0]
    if sign is not None:
        sp = &sign[0]
    if n == 0:
        with nogil:
            fl_strided_fill(outp, rows, 1, -INFINITY)
            if sp != NULL:
                fl_strided_fill(sp, rows, 1, 0.0)
        return
    xp = &x[0, 0]
    bp = &b[0, 0]
    with nogil:
        for blk in prange((rows + rpb - 1) // rpb, schedule="static", num_threads=n_threads,
                          use_threads_if=rows * n > FL_PARALLEL_MIN):
            r0 = blk * rpb
            fl_wlse_rows(xp + r0 * n, bp + r0 * n, outp + r0,
                         sp + r0 if sp != NULL else NULL, min(rpb, rows - r0), n)


# ---------------------------------------------------- class-axis losses
#
# The blocks of a class-axis call are runs of consecutive rows, fixed by the
# shape (class_blocks); every path adds its rows' parts and checks
# (fl_ce_sums) per block, the rows of a block in order, so check_targets,
# which walks the same blocks over the targets alone, finds the same weight
# sum and checksum as the call.

cdef inline bint index_mode(int mode) noexcept nogil:
    return mode == FL_CE_INDEX or mode == FL_NLL_INDEX


cdef inline bint strided_path(int mode, Py_ssize_t n) noexcept nogil:
    return n == 0 or mode == FL_NLL_INDEX


cdef void class_blocks(int mode, Py_ssize_t n_outer, Py_ssize_t n, Py_ssize_t inner,
                       Py_ssize_t itemsize, Py_ssize_t* groups, Py_ssize_t* length,
                       Py_ssize_t* step) noexcept nogil:
    """The blocks of a class-axis call: each of ``groups`` runs of ``length``
    consecutive rows is cut into blocks of ``step`` rows (the last shorter)."""
    cdef Py_ssize_t rows = n_outer * inner
    groups[0] = 1
    length[0] = rows
    step[0] = rows_per_block(n)
    if strided_path(mode, n):
        return
    if inner == 1 and fl_long_rows(n, itemsize):
        step[0] = 1                       # a long row is a block
    elif inner != 1:
        groups[0] = n_outer
        length[0] = inner
        step[0] = inner_rows(n)


cdef inline void sums_init(fl_ce_sums* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(n):
        s[k].nll = 0.0
        s[k].smooth = 0.0
        s[k].weight = 0.0
        s[k].check = 0
        s[k].bad = -1
        s[k].bad_target = 0


cdef tuple sums_total(int mode, double eps, Py_ssize_t n, const fl_ce_sums* s,
                      Py_ssize_t n_blocks):
    """(the summed loss, the targets' weight, the checksum, the first bad row
    or -1, the target read there) of a call from its blocks' sums, in block
    order."""
    cdef Py_ssize_t k, bad = -1, stride = sizeof(fl_ce_sums) // sizeof(double)
    cdef uint64_t check = 0
    cdef int64_t bad_target = 0
    for k in range(n_blocks):
        check += s[k].check
        if bad < 0 and s[k].bad >= 0:
            bad = s[k].bad
            bad_target = s[k].bad_target
    if n_blocks == 0:
        return fl_ce_total(mode, eps, n, 0.0, 0.0), 0.0, 0, -1, 0
    return (fl_ce_total(mode, eps, n, sum_blocks(&s[0].nll, n_blocks, stride),
                        sum_blocks(&s[0].smooth, n_blocks, stride)),
            sum_blocks(&s[0].weight, n_blocks, stride), check, bad, bad_target)


cdef void class_loss_strided(int mode, const floating* xp, const int64_t* tp,
                             const floating* wp, Py_ssize_t n_outer, Py_ssize_t n,
                             Py_ssize_t inner, int64_t ignore_index, floating* lp,
                             floating* gbase, const floating* grp, Py_ssize_t grs,
                             double grad_scale, fl_ce_sums* sums,
                             int n_threads) noexcept nogil:
    """class_loss row by row: NLL (one element per row), and rows of no
    classes (every target ignored or out of range, or an empty sum of
    probabilities: 0)."""
    cdef Py_ssize_t rows = n_outer * inner, rpb = rows_per_block(n)
    cdef Py_ssize_t n_blocks = (rows + rpb - 1) // rpb, blk, r, o, off
    cdef int64_t y
    cdef double value, gs
    cdef floating* gp
    for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                      use_threads_if=rows * n > FL_PARALLEL_MIN):
        for r in range(blk * rpb, min(blk * rpb + rpb, rows)):
            o = r // inner
            off = o * n * inner + (r - o * inner)
            gp = gbase + off if gbase != NULL else NULL
            value = 0.0
            if gp != NULL:            # no part in the result, whatever the row holds
                fl_strided_fill(gp, n, inner, 0.0)
            if index_mode(mode):
                y = tp[r]             # read once, checked, then used
                if fl_target_ok(&sums[blk], r, y, n, ignore_index) and mode == FL_NLL_INDEX:
                    # NLL of a row of log-probabilities and its gradient (0 but at y)
                    value = fl_nll(wp[y], xp[off + y * inner])
                    sums[blk].weight = sums[blk].weight + wp[y]
                    if gp != NULL:
                        gs = grad_scale * grp[r * grs]
                        gp[y * inner] = <floating>fl_nll_grad(gs, wp[y])
            if lp != NULL:
                lp[r] = <floating>value
            sums[blk].nll = sums[blk].nll + value


cdef inline const floating* at_or_null(const floating* p, Py_ssize_t off) noexcept nogil:
    """p + off, or NULL for a NULL p (an optional per-class array)."""
    if p == NULL:
        return NULL
    return p + off


cdef void class_loss_long(int mode, const floating* xp, const int64_t* targets,
                          const floating* pp, const floating* wp, bint unit_w,
                          Py_ssize_t rows, Py_ssize_t n, int64_t ignore_index, double eps,
                          double w_total, floating* lp, floating* gp, const floating* grp,
                          Py_ssize_t grs, double grad_scale, double* cst, double* rst,
                          int64_t* tp, Py_ssize_t nck, fl_ce_sums* sums,
                          int n_threads) noexcept nogil:
    """class_loss of long contiguous rows (CE index or probability targets),
    their chunks in parallel. cst: 4 x rows * nck scratch, rst: 4 x rows, tp:
    rows scratch for the targets, read once and checked (a bad one ignored);
    sums[r]: row r's (a long row is a block)."""
    cdef double* M = rst
    cdef double* S = rst + rows
    cdef double* p0 = rst + 2 * rows
    cdef double* p1 = rst + 3 * rows
    cdef double eps_c = eps / n, keep = 1.0 - eps, ls, gs, wy, coef, main, smooth, a0, a1
    cdef Py_ssize_t it, r, k, off, ln
    cdef int64_t y
    cdef bint need_sums = mode == FL_CE_PROB or eps > 0.0
    # (no conditional expressions of const pointers: Cython's temporary
    # drops the const and GCC warns)
    cdef const floating* wsm = wp
    cdef const floating* wdf = NULL
    if unit_w or eps == 0.0:
        wsm = NULL
    if not unit_w:
        wdf = wp
    if mode == FL_CE_INDEX:
        for r in range(rows):
            y = targets[r]
            tp[r] = y if fl_target_ok(&sums[r], r, y, n, ignore_index) else ignore_index
            if tp[r] != ignore_index:
                sums[r].weight = wp[y]
    long_stats(xp, rows, n, cst, cst + rows * nck, M, S, n_threads)
    # everything read from x before a gradient written in place overwrites it
    for r in range(rows):
        p0[r] = 0.0
        p1[r] = 0.0
        if mode == FL_CE_INDEX and tp[r] != ignore_index and is_finite(M[r]):
            p0[r] = xp[r * n + tp[r]] - M[r]
    if need_sums:
        for it in prange(rows * nck, schedule="static", num_threads=n_threads,
                         use_threads_if=rows * n > FL_PARALLEL_MIN):
            r = it // nck
            off = (it - r * nck) * FL_CHUNK
            ln = min(<Py_ssize_t>FL_CHUNK, n - off)
            a0 = 0.0
            a1 = 0.0
            if is_finite(M[r]) and (mode == FL_CE_PROB or tp[r] != ignore_index):
                if mode == FL_CE_PROB:
                    fl_row_prob_sums(xp + r * n + off, pp + r * n + off, wp + off, ln, M[r],
                                     keep, eps_c, &a0, &a1)
                else:
                    a1 = fl_row_wdiff(xp + r * n + off, at_or_null(wdf, off), ln, M[r])
            cst[2 * rows * nck + it] = a0
            cst[3 * rows * nck + it] = a1
        for r in range(rows):
            if mode == FL_CE_PROB:
                p0[r] = sum_blocks(cst + 2 * rows * nck + r * nck, nck, 1)
            p1[r] = sum_blocks(cst + 3 * rows * nck + r * nck, nck, 1)
    for r in range(rows):
        main = 0.0
        smooth = 0.0
        if mode == FL_CE_INDEX and tp[r] == ignore_index:
            pass
        elif not is_finite(M[r]):
            main = NAN
            smooth = NAN if (mode == FL_CE_INDEX and eps > 0.0) else 0.0
        else:
            ls = log(S[r])
            if mode == FL_CE_INDEX:
                main = fl_ce_nll(wp[tp[r]], ls, p0[r])
                if eps > 0.0:
                    smooth = fl_ce_smooth(w_total, ls, p1[r])
            else:
                main = fl_ce_prob_loss(ls, p0[r], p1[r])
        sums[r].nll = main
        sums[r].smooth = smooth
        if lp != NULL:
            lp[r] = <floating>(fl_ce_index_loss(eps, eps_c, main, smooth)
                               if mode == FL_CE_INDEX else main)
    if gp == NULL:
        return
    for it in prange(rows * nck, schedule="static", num_threads=n_threads,
                     use_threads_if=rows * n > FL_PARALLEL_MIN):
        r = it // nck
        off = (it - r * nck) * FL_CHUNK
        ln = min(<Py_ssize_t>FL_CHUNK, n - off)
        gs = grad_scale * grp[r * grs]
        if mode == FL_CE_INDEX and tp[r] == ignore_index:
            fl_strided_fill(gp + r * n + off, ln, 1, 0.0)
        elif not is_finite(M[r]):
            fl_strided_fill(gp + r * n + off, ln, 1, NAN)
        elif mode == FL_CE_INDEX:
            wy = wp[tp[r]]
            coef = fl_ce_coef(keep, eps_c, wy, w_total)
            fl_row_expaff(xp + r * n + off, gp + r * n + off, ln, M[r],
                          fl_ce_softmax_scale(gs, coef, S[r]), gs * eps_c, at_or_null(wsm, off))
        else:
            fl_row_prob_grad(xp + r * n + off, M[r], gp + r * n + off, pp + r * n + off,
                             wp + off, ln, fl_ce_softmax_scale(gs, p0[r], S[r]), gs, keep, eps_c)
    if mode == FL_CE_INDEX:
        for r in range(rows):
            y = tp[r]
            if y != ignore_index and is_finite(M[r]):
                gs = grad_scale * grp[r * grs]
                wy = wp[y]
                coef = fl_ce_coef(keep, eps_c, wy, w_total)
                gp[r * n + y] = <floating>fl_ce_target_grad(gs, exp(p0[r]), S[r], coef, eps_c,
                                                            keep, wy)


cdef inline void weight_facts(const floating[::1] weight, Py_ssize_t n, double eps,
                              bint* unit_w, double* w_total):
    """Whether each of the n class weights is 1, and W, their sum (with label
    smoothing only: 0 otherwise, see fl_ce_coef). A bounds-checked build
    refuses a buffer of fewer than n."""
    cdef Py_ssize_t c
    unit_w[0] = True
    w_total[0] = 0.0
    for c in range(n):
        unit_w[0] = unit_w[0] and weight[c] == 1.0
        if eps > 0.0:
            w_total[0] += weight[c]


cdef tuple class_loss_core(int mode, const floating* xp, Py_ssize_t n_outer, Py_ssize_t n,
                           Py_ssize_t inner, const int64_t* tp, const floating* pp,
                           const floating* wp, bint unit_w, double w_total,
                           int64_t ignore_index, double eps, floating* lp, floating* gbase,
                           const floating* grp, Py_ssize_t grs, double grad_scale,
                           int n_threads):
    """class_loss on pointers; wp holds n weights (weight_facts: unit_w,
    w_total)."""
    cdef Py_ssize_t rows = n_outer * inner, groups, length, step, n_blocks, nck, blk, o, r0
    cdef fl_ce_args args
    cdef fl_ce_sums* sums
    cdef double[:, ::1] chunk_st, row_st
    cdef int64_t[::1] checked
    if rows == 0:
        return fl_ce_total(mode, eps, n, 0.0, 0.0), 0.0, 0, -1, 0
    class_blocks(mode, n_outer, n, inner, sizeof(floating), &groups, &length, &step)
    nck = (length + step - 1) // step
    n_blocks = groups * nck
    sums = <fl_ce_sums*>PyMem_Malloc(n_blocks * sizeof(fl_ce_sums))
    if sums == NULL:
        raise MemoryError()
    try:
        sums_init(sums, n_blocks)
        if strided_path(mode, n):
            with nogil:
                class_loss_strided(mode, xp, tp, wp, n_outer, n, inner, ignore_index, lp,
                                   gbase, grp, grs, grad_scale, sums, n_threads)
        elif inner == 1 and fl_long_rows(n, sizeof(floating)):
            chunk_st, row_st = _long_scratch(rows, n)
            checked = np.empty(rows, np.int64)
            with nogil:
                class_loss_long(mode, xp, tp, pp, wp, unit_w, rows, n, ignore_index, eps,
                                w_total, lp, gbase, grp, grs, grad_scale, &chunk_st[0, 0],
                                &row_st[0, 0], &checked[0], (n + FL_CHUNK - 1) // FL_CHUNK,
                                sums, n_threads)
        else:
            args.mode = mode
            args.n = n
            args.y = tp
            args.ignore_index = ignore_index
            args.t = pp
            args.w = wp
            args.unit_w = unit_w
            args.w_total = w_total
            args.eps = eps
            args.loss = lp
            args.grad = gbase
            args.g_scale = grad_scale
            args.go = grp
            args.go_stride = grs
            with nogil:
                for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                                  use_threads_if=rows * n > FL_PARALLEL_MIN):
                    o = blk // nck
                    r0 = (blk - o * nck) * step
                    if inner != 1:
                        fl_ce_inner(&args, xp, o, inner, r0, min(step, inner - r0), &sums[blk])
                    else:
                        fl_ce_rows(&args, xp, r0, min(r0 + step, rows), &sums[blk])
        return sums_total(mode, eps, n, sums, n_blocks)
    finally:
        PyMem_Free(sums)


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
    """Per-row losses and gradients of the class-axis losses. Returns (the
    loss summed over the rows in float64, from the sums of its parts; the
    weight of the class-index targets; their checksum; the first row whose
    target is neither a class nor ignore_index, or -1, and the value read
    there), see fl_ce_sums: each target is read once and checked where it is
    used."""
    cdef Py_ssize_t n_outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t rows = n_outer * inner
    cdef Py_ssize_t grs = grad_rows.strides[0] // sizeof(floating) if rows else 0
    cdef const floating* xp = NULL
    cdef const floating* pp = NULL
    cdef const floating* wp = NULL
    cdef const int64_t* tp = NULL
    cdef floating* lp = NULL
    cdef floating* gbase = NULL
    cdef bint unit_w
    cdef double w_total
    if rows == 0:
        return fl_ce_total(mode, label_smoothing, n, 0.0, 0.0), 0.0, 0, -1, 0
    weight_facts(weight, n, label_smoothing, &unit_w, &w_total)
    if n:
        xp = &x[0, 0, 0]
        wp = &weight[0]
        if grad.shape[0] != 0:
            gbase = &grad[0, 0, 0]
        if mode == FL_CE_PROB:
            pp = &prob[0, 0, 0]
    if mode != FL_CE_PROB:
        tp = &target[0]
    if loss.shape[0] != 0:
        lp = &loss[0]
    return class_loss_core(mode, xp, n_outer, n, inner, tp, pp, wp, unit_w, w_total,
                           ignore_index, label_smoothing, lp, gbase, &grad_rows[0], grs,
                           grad_scale, n_threads)


# ---------------------------------- linear_cross_entropy in tiles of classes
#
# For many classes and few rows, fastloss.linear_cross_entropy computes a
# block's logits one tile of classes at a time (each by a matrix product
# over all the block's rows) in two passes: lce_tile_stats takes each tile's
# per-row (max, sum of exps) and the target's logit, lce_tile_finish
# combines a row's tiles as class_loss_long combines a long row's chunks
# (the same formulas, so the same special values), and lce_tile_grad, on
# the tile's recomputed logits, writes their gradient in place. A target
# outside [0, n_classes) counts as ignored (the caller checked them all).

def lce_weight_facts(const floating[::1] weight, double label_smoothing):
    """(every weight is 1, W = their sum with label smoothing, else 0), as
    class_loss takes them."""
    cdef bint unit_w
    cdef double w_total
    weight_facts(weight, weight.shape[0], label_smoothing, &unit_w, &w_total)
    return unit_w, w_total


def lce_tile_stats(const floating[:, ::1] z,      # IN  (rows, n) logits of classes c0..c0+n-1
                   Py_ssize_t c0,
                   const int64_t[::1] target,     # IN  (rows,)
                   const floating[::1] weight,    # IN  (n_classes,)
                   bint unit_w,
                   double label_smoothing,
                   double[:, :, ::1] st,          # OUT st[r, tile]: max, sum exp(z - max), and
                   Py_ssize_t tile,               # ... sum_j w_j (z_j - max) with smoothing
                   double[::1] zy,                # OUT (rows,) target logit, where in the tile
                   int n_threads):
    cdef Py_ssize_t rows = z.shape[0], n = z.shape[1], r
    cdef Py_ssize_t sst = st.shape[1] * 3
    cdef const floating* zp
    cdef const floating* wp = NULL
    cdef double* sp
    cdef fl_ms ms
    cdef int64_t y
    cdef bint smooth = label_smoothing > 0.0
    if rows == 0 or n == 0:
        return
    zp = &z[0, 0]
    sp = &st[0, tile, 0]
    if smooth and not unit_w:
        wp = &weight[c0]
    with nogil:
        for r in prange(rows, schedule="static", num_threads=n_threads,
                        use_threads_if=rows * n > FL_PARALLEL_MIN):
            ms = fl_chunk_ms(zp + r * n, n)
            sp[r * sst] = ms.m
            sp[r * sst + 1] = ms.s
            sp[r * sst + 2] = 0.0
            if smooth and is_finite(ms.m):
                sp[r * sst + 2] = fl_row_wdiff(zp + r * n, wp, n, ms.m)
            elif smooth and ms.m == -INFINITY:      # -inf, or NaN where a weight is 0
                sp[r * sst + 2] = fl_row_wdiff(zp + r * n, wp, n, 0.0)
            y = target[r]
            if c0 <= y < c0 + n:
                zy[r] = zp[r * n + (y - c0)]


def lce_tile_finish(const double[:, :, ::1] st,   # IN  (rows, tiles, 3), lce_tile_stats'
                    const double[::1] tile_w,     # IN  (tiles,) sum of each tile's weights
                    const double[::1] zy,         # IN  (rows,) target logits
                    const int64_t[::1] target,    # IN  (rows,)
                    const floating[::1] weight,   # IN  (n_classes,)
                    double w_total,
                    int64_t ignore_index,
                    double label_smoothing,
                    floating[::1] loss,           # OUT (rows,) per-row loss; empty: not wanted
                    double[:, ::1] row_st):       # OUT (3, rows): max, sum of exps, zy - max
    """Each row's statistics from its tiles', and its loss; returns the loss
    summed over the rows in float64 (class_loss's first value)."""
    cdef Py_ssize_t rows = st.shape[0], tiles = st.shape[1], n = weight.shape[0], r, k
    cdef double eps = label_smoothing, eps_c = label_smoothing / n, m, s, v, p1, ls
    cdef double main, smooth
    cdef bint special
    cdef int64_t y
    cdef fl_ce_sums* sums
    if rows == 0:
        return fl_ce_total(FL_CE_INDEX, eps, n, 0.0, 0.0)
    sums = <fl_ce_sums*>PyMem_Malloc(rows * sizeof(fl_ce_sums))
    if sums == NULL:
        raise MemoryError()
    try:
        sums_init(sums, rows)
        for r in range(rows):
            m = -INFINITY
            special = False
            for k in range(tiles):
                v = st[r, k, 0]
                if v != v or v == INFINITY:
                    special = True
                elif v > m:
                    m = v
            s = NAN
            p1 = 0.0
            if special:
                m = NAN
            elif m > -INFINITY:
                s = 0.0
                for k in range(tiles):
                    v = st[r, k, 0]
                    if v > -INFINITY:
                        s = s + st[r, k, 1] * exp(v - m)
                        p1 = p1 + (st[r, k, 2] + (v - m) * tile_w[k])
                    else:
                        p1 = p1 + st[r, k, 2]
            row_st[0, r] = m
            row_st[1, r] = s
            row_st[2, r] = 0.0
            y = target[r]
            main = 0.0
            smooth = 0.0
            if y == ignore_index or y < 0 or y >= n:
                pass
            elif not is_finite(m):
                main = NAN
                smooth = NAN if eps > 0.0 else 0.0
            else:
                row_st[2, r] = zy[r] - m
                ls = log(s)
                main = fl_ce_nll(weight[y], ls, row_st[2, r])
                if eps > 0.0:
                    smooth = fl_ce_smooth(w_total, ls, p1)
            sums[r].nll = main
            sums[r].smooth = smooth
            if loss.shape[0] != 0:
                loss[r] = <floating>fl_ce_index_loss(eps, eps_c, main, smooth)
        return sums_total(FL_CE_INDEX, eps, n, sums, rows)[0]
    finally:
        PyMem_Free(sums)


def lce_tile_grad(floating[:, ::1] z,             # IN/OUT (rows, n) logits of classes c0..,
                  Py_ssize_t c0,                  # ... their gradient on return
                  const int64_t[::1] target,      # IN  (rows,)
                  const floating[::1] weight,     # IN  (n_classes,)
                  bint unit_w,
                  double w_total,
                  int64_t ignore_index,
                  double label_smoothing,
                  const double[:, ::1] row_st,    # IN  (3, rows), lce_tile_finish's
                  const floating[:] grad_rows,    # IN  (rows,) upstream gradient, any stride
                  double grad_scale,
                  int n_threads):
    cdef Py_ssize_t rows = z.shape[0], n = z.shape[1], n_classes = weight.shape[0], r
    cdef Py_ssize_t grs = grad_rows.strides[0] // sizeof(floating) if rows else 0
    cdef double eps_c = label_smoothing / n_classes, keep = 1.0 - label_smoothing
    cdef double gs, wy, coef
    cdef floating* zp
    cdef const floating* grp
    cdef const floating* wsm = NULL
    cdef const double* M
    cdef const double* S
    cdef const double* P0
    cdef int64_t y
    if rows == 0 or n == 0:
        return
    zp = &z[0, 0]
    grp = &grad_rows[0]
    M = &row_st[0, 0]
    S = &row_st[1, 0]
    P0 = &row_st[2, 0]
    if not unit_w and label_smoothing > 0.0:
        wsm = &weight[c0]
    with nogil:
        for r in prange(rows, schedule="static", num_threads=n_threads,
                        use_threads_if=rows * n > FL_PARALLEL_MIN):
            y = target[r]
            if y == ignore_index or y < 0 or y >= n_classes:
                fl_strided_fill(zp + r * n, n, 1, 0.0)
            elif not is_finite(M[r]):
                fl_strided_fill(zp + r * n, n, 1, NAN)
            else:
                gs = grad_scale * grp[r * grs]
                wy = weight[y]
                coef = fl_ce_coef(keep, eps_c, wy, w_total)
                fl_row_expaff(zp + r * n, zp + r * n, n, M[r],
                              fl_ce_softmax_scale(gs, coef, S[r]), gs * eps_c, wsm)
                if c0 <= y < c0 + n:
                    zp[r * n + (y - c0)] = <floating>fl_ce_target_grad(
                        gs, exp(P0[r]), S[r], coef, eps_c, keep, wy)


# ------------------------------------------------------- elementwise losses

cdef enum OperandKind:
    OP_SCALAR = 0     # one value for every element
    OP_CONTIG = 1     # C-contiguous (n_rows, n_cols)
    OP_TILED = 2      # one row for every row: a tiled copy, read at offset e % n_cols
    OP_GENERAL = 3    # anything else: each block's elements gathered into a buffer


def _operand_plan(op, Py_ssize_t n_cols):
    """(kind, array) for a (n_rows, n_cols) broadcast view: the array read
    by the kernel (for OP_TILED, the row repeated to cover a block from any
    offset)."""
    s0, s1 = op.strides
    if s0 == 0 and s1 == 0:
        return OP_SCALAR, op
    if op.flags.c_contiguous:
        return OP_CONTIG, op
    if s0 == 0 and s1 == op.itemsize and n_cols <= FL_BLOCK_ELEMS:
        reps = (FL_BLOCK_ELEMS + n_cols - 1) // n_cols + 1
        return OP_TILED, np.ascontiguousarray(np.tile(op[0], reps)).reshape(1, -1)
    return OP_GENERAL, op


cdef inline const floating* block_operand(int kind, const floating* base, Py_ssize_t s0,
                                          Py_ssize_t s1, Py_ssize_t n_cols, Py_ssize_t e0,
                                          Py_ssize_t e1, floating* buf) noexcept nogil:
    """Flat elements e0..e1-1 of an operand as one contiguous run (NULL for a
    scalar: the caller passes its value)."""
    cdef Py_ssize_t r, col, k
    if kind == OP_SCALAR:
        return NULL
    if kind == OP_CONTIG:
        return base + e0
    if kind == OP_TILED:
        return base + e0 % n_cols
    r = e0 // n_cols
    col = e0 - r * n_cols
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
                weight,                           # IN  (n_rows, n_cols) view, broadcast strides
                pos_weight,                       # IN  (n_rows, n_cols) view, broadcast strides
                floating[:, ::1] loss,            # OUT (n_rows, n_cols); empty: not wanted
                floating[:, ::1] grad,            # OUT (n_rows, n_cols), may be x; empty: none
                grad_out,                         # IN  (n_rows, n_cols) view, broadcast strides
                double grad_scale,                # IN  multiplies every gradient
                int n_threads,
                double param=1.0):                # IN  smooth L1's beta, Huber's delta
    """Elementwise losses (BCE with logits, BCE, MSE, L1, smooth L1, Huber,
    KL divergence); returns their sum.

    Elements are processed in blocks of FL_BLOCK_ELEMS in flat order, whatever
    the row length, so a long 1-D input uses every thread too; a block is one
    vector loop. A broadcast operand is read as one value, as a tiled row, or
    gathered per block. Only the two BCE read weight, only BCE with logits
    pos_weight; smooth L1 and Huber read param (in the input's dtype).
    """
    cdef Py_ssize_t n_rows = x.shape[0], n_cols = x.shape[1]
    cdef Py_ssize_t size = n_rows * n_cols
    cdef bint want_loss = loss.shape[0] != 0, want_grad = grad.shape[0] != 0
    cdef Py_ssize_t n_blocks, blk, e, e1
    cdef int wk, pk, gk
    cdef const floating* xp
    cdef const floating* tp
    cdef floating* lp = NULL
    cdef floating* gbase = NULL
    cdef floating* buf
    cdef const floating* wr
    cdef const floating* pwr
    cdef const floating* gor
    cdef const floating[:, :] wv
    cdef const floating[:, :] pv
    cdef const floating[:, :] gv
    cdef floating w1, pw1, go1
    cdef floating[:, ::1] bufs
    if size == 0:
        return 0.0
    wk, warr = _operand_plan(weight, n_cols)
    pk, parr = _operand_plan(pos_weight, n_cols)
    gk, garr = _operand_plan(grad_out, n_cols)
    wv = warr
    pv = parr
    gv = garr
    w1 = wv[0, 0]
    pw1 = pv[0, 0]
    if mode == FL_SMOOTH_L1 or mode == FL_HUBER:
        pw1 = <floating>param
    go1 = gv[0, 0]
    n_blocks = (size + FL_BLOCK_ELEMS - 1) // FL_BLOCK_ELEMS
    partials = np.zeros(n_blocks, dtype=np.float64)
    cdef double[::1] part = partials
    bufs = np.empty((max(n_threads, 1), 3 * FL_BLOCK_ELEMS),
                    dtype=np.float32 if floating is float else np.float64)
    xp = &x[0, 0]
    tp = &t[0, 0]
    if want_loss:
        lp = &loss[0, 0]
    if want_grad:
        gbase = &grad[0, 0]
    cdef const floating* wbase = &wv[0, 0]
    cdef const floating* pbase = &pv[0, 0]
    cdef const floating* gbase_in = &gv[0, 0]
    cdef Py_ssize_t ws0 = wv.strides[0] // sizeof(floating)
    cdef Py_ssize_t ws1 = wv.strides[1] // sizeof(floating)
    cdef Py_ssize_t ps0 = pv.strides[0] // sizeof(floating)
    cdef Py_ssize_t ps1 = pv.strides[1] // sizeof(floating)
    cdef Py_ssize_t gs0 = gv.strides[0] // sizeof(floating)
    cdef Py_ssize_t gs1 = gv.strides[1] // sizeof(floating)
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > FL_PARALLEL_MIN):
            buf = &bufs[threadid(), 0]
            e = blk * FL_BLOCK_ELEMS
            e1 = min(e + FL_BLOCK_ELEMS, size)
            wr = NULL
            pwr = NULL
            gor = NULL
            if mode == FL_BCE_LOGITS or mode == FL_BCE_PROB:
                wr = block_operand(wk, wbase, ws0, ws1, n_cols, e, e1, buf)
            if mode == FL_BCE_LOGITS:
                pwr = block_operand(pk, pbase, ps0, ps1, n_cols, e, e1, buf + FL_BLOCK_ELEMS)
            if want_grad:
                gor = block_operand(gk, gbase_in, gs0, gs1, n_cols, e, e1,
                                    buf + 2 * FL_BLOCK_ELEMS)
            part[blk] = fl_binary_run(mode, xp + e, tp + e, wr, w1, pwr, pw1, gor, go1,
                                      grad_scale, lp + e if want_loss else NULL,
                                      gbase + e if want_grad else NULL, e1 - e)
    return sum_blocks(&part[0], n_blocks, 1)


# ---------------------------------------------------------- input checks

cdef tuple targets_core(int mode, const int64_t* tp, const floating* wp, bint unit_w,
                        Py_ssize_t n, Py_ssize_t n_outer, Py_ssize_t inner,
                        int64_t ignore_index, int n_threads):
    """check_targets on pointers."""
    cdef Py_ssize_t rows = n_outer * inner, groups, length, step, nck, n_blocks, blk, o, r0
    cdef fl_ce_sums* sums
    if rows == 0:
        return 0.0, 0, -1, 0
    class_blocks(mode, n_outer, n, inner, sizeof(floating), &groups, &length, &step)
    nck = (length + step - 1) // step
    n_blocks = groups * nck
    sums = <fl_ce_sums*>PyMem_Malloc(n_blocks * sizeof(fl_ce_sums))
    if sums == NULL:
        raise MemoryError()
    try:
        sums_init(sums, n_blocks)
        with nogil:
            for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                              use_threads_if=rows > FL_PARALLEL_MIN):
                o = blk // nck
                r0 = o * length + (blk - o * nck) * step
                fl_targets(tp, wp, unit_w, n, ignore_index, r0,
                           min(r0 + step, (o + 1) * length), &sums[blk])
        return sums_total(mode, 0.0, n, sums, n_blocks)[1:]
    finally:
        PyMem_Free(sums)


def check_targets(int mode,
                  const int64_t[::1] target,    # IN (rows,) class indices
                  const floating[::1] weight,   # IN (n_classes,) class weights (ones if none)
                  Py_ssize_t n_outer, Py_ssize_t inner, int64_t ignore_index,
                  int n_threads):
    """The targets alone, walked as class_loss walks them (the same blocks,
    rows in order): (the weight of the targets; their checksum; the first row
    whose target is neither a class nor ignore_index, or -1, and the value
    read there), which a class_loss call on the same targets returns too.
    For the "mean" denominator a gradient's scale needs before its pass, and
    for a check before a pass that writes into the caller's array."""
    cdef Py_ssize_t n = weight.shape[0]
    cdef bint unit_w
    cdef double w_total
    if n_outer * inner == 0:
        return 0.0, 0, -1, 0
    weight_facts(weight, n, 0.0, &unit_w, &w_total)
    return targets_core(mode, &target[0], &weight[0] if n else NULL, unit_w, n, n_outer,
                        inner, ignore_index, n_threads)


def first_outside_unit(const floating[::1] a, int n_threads):
    """Position of the first element of a not in [0, 1] (NaN included), or -1."""
    cdef Py_ssize_t size = a.shape[0], n_blocks, blk, k, k1, bad
    cdef double v
    if size == 0:
        return -1
    n_blocks = (size + FL_BLOCK_ELEMS - 1) // FL_BLOCK_ELEMS
    firsts = np.empty(n_blocks, dtype=np.intp)
    cdef Py_ssize_t[::1] first = firsts
    cdef const floating* ap = &a[0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > FL_PARALLEL_MIN):
            k1 = min((blk + 1) * FL_BLOCK_ELEMS, size)
            bad = -1
            for k in range(blk * FL_BLOCK_ELEMS, k1):
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
    n_blocks = (size + FL_BLOCK_ELEMS - 1) // FL_BLOCK_ELEMS
    partials = np.zeros(n_blocks, dtype=np.float64)
    cdef double[::1] part = partials
    xp = &x[0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > FL_PARALLEL_MIN):
            k0 = blk * FL_BLOCK_ELEMS
            part[blk] = fl_sum(xp + k0, min(<Py_ssize_t>FL_BLOCK_ELEMS, size - k0))
    return sum_blocks(&part[0], n_blocks, 1)


def copy_floor(const floating[::1] x, floating[::1] out, int n_threads):
    """out[:] = x, block by block in parallel: the floor of a read+write pass."""
    cdef Py_ssize_t size = x.shape[0], n_blocks, blk, k0
    if size == 0:
        return
    n_blocks = (size + FL_BLOCK_ELEMS - 1) // FL_BLOCK_ELEMS
    cdef const floating* xp = &x[0]
    cdef floating* op = &out[0]
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                          use_threads_if=size > FL_PARALLEL_MIN):
            k0 = blk * FL_BLOCK_ELEMS
            fl_copy(xp + k0, op + k0, min(<Py_ssize_t>FL_BLOCK_ELEMS, size - k0))


MATH_FUNCTIONS = {"exp": FL_FN_EXP, "log": FL_FN_LOG, "log1p": FL_FN_LOG1P,
                  "log_sum": FL_FN_LOG_SUM, "log1p_unit": FL_FN_LOG1P_UNIT,
                  "exp_any": FL_FN_EXP_ANY, "exp_rows": FL_FN_EXP_ROWS}


def math_map(str name, const floating[::1] x, floating[::1] out):
    """out = name(x) through the kernels' vector functions, each on the range
    its contract in c/vmath.h states: "exp" (x <= 0), "log", "log1p" (every
    value), "log_sum" (x >= 1), "log1p_unit" (0 <= x <= 1) and "exp_any"
    (every value); "exp_rows" is exp's formula as the passes over long rows
    run it (on the avx512 path on 512-bit vectors). For
    tests/test_simd_math.py."""
    cdef Py_ssize_t n = x.shape[0]
    if name not in MATH_FUNCTIONS:
        raise ValueError(f"math_map: unknown function {name!r}")
    if n == 0:
        return
    fl_map(MATH_FUNCTIONS[name], &x[0], &out[0], n)


cdef extern from "<fenv.h>" nogil:
    int FE_UNDERFLOW
    int feclearexcept(int excepts)
    int fetestexcept(int excepts)


def underflow_raised(bint clear=False):
    """Whether the calling thread's floating-point underflow flag is set;
    cleared after it is read when clear. A kernel run on inputs whose results
    are far from the underflow threshold leaves it clear (vf_exp_part in
    c/row_passes.h: on Intel cores every instruction whose result underflows
    costs a microcode assist). For tests/test_kernel_paths.py."""
    cdef bint raised = fetestexcept(FE_UNDERFLOW) != 0
    if clear:
        feclearexcept(FE_UNDERFLOW)
    return raised


# ------------------------------------------------ small calls: the fast path
#
# A call on a small array (the minibatch of a training loop) costs mostly its
# Python-level checks and conversions, not its kernel. The fast_* functions
# take the arguments as the public function or loss method got them and, in
# the common case (ndarrays, not subclasses, of float32/float64 in native
# byte order, C-contiguous and aligned, at most FL_PARALLEL_MIN elements, so
# one thread; options of their plain types; the class axis last), compute the
# result with the cores, blocks and order of the general path, so its bits,
# checking the targets as the kernels read them. Anything else, a refusal
# included, returns NotImplemented: the caller then takes the general path,
# which gives the same results and every error message.

cdef object _float32 = np.float32
cdef object _float64 = np.float64
cdef object _int64 = np.int64

cdef enum:
    WANT_VALUE = 0
    WANT_GRAD = 1
    WANT_BOTH = 2
    RED_NONE = 0
    RED_MEAN = 1
    RED_SUM = 2
    RED_BATCHMEAN = 3     # KL divergence's: the sum over the first axis' length


cdef inline int plain_array(object x, Py_ssize_t limit=FL_PARALLEL_MIN) noexcept:
    """The type number of a plain float32/float64 ndarray of at most limit
    elements (the work a thread does at once), else -1."""
    cdef cnp.ndarray a
    cdef int t
    if type(x) is not cnp.ndarray:
        return -1
    a = <cnp.ndarray>x
    t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        return -1
    if not (cnp.PyArray_ISCARRAY_RO(a) and cnp.PyArray_ISNOTSWAPPED(a)):
        return -1
    if cnp.PyArray_SIZE(a) == 0 or cnp.PyArray_SIZE(a) > limit:
        return -1
    return t


cdef inline int reduction_code(object reduction) noexcept:
    if type(reduction) is not str:
        return -1
    if reduction == "mean":
        return RED_MEAN
    if reduction == "sum":
        return RED_SUM
    if reduction == "none":
        return RED_NONE
    return -1


cdef inline bint plain_number(object v, double* out) noexcept:
    """A Python float or int (not bool) as a double; an int only as far as
    NumPy makes it a number (np.asarray of one beyond uint64 is an object
    array, which the general path refuses)."""
    if type(v) is float:
        out[0] = <double>v
        return True
    if type(v) is int:
        if not (-(1 << 63) <= v < (1 << 64)):
            return False
        out[0] = <double>v
        return True
    return False


cdef inline object scalar_of(int typenum, double v):
    """v as a NumPy scalar of the input's dtype (beyond float32's range: inf)."""
    cdef float f
    if typenum == cnp.NPY_FLOAT32:
        f = <float>v
        return _float32(f)
    return _float64(v)


cdef inline double mean_of(double total, double denominator, bint empty_is_nan) noexcept:
    """fastloss._api._mean, in C."""
    if empty_is_nan and denominator == 0.0:
        return NAN
    return total / denominator


cdef void softmax_blocks(int op, const floating* xp, floating* op_, Py_ssize_t rows,
                         Py_ssize_t n) noexcept nogil:
    """The blocks of logsumexp/softmax of C-contiguous rows, as the general path."""
    cdef Py_ssize_t rpb = rows_per_block(n), blk, r0
    cdef Py_ssize_t ostride = 1 if op == FL_LSE else n
    for blk in range((rows + rpb - 1) // rpb):
        r0 = blk * rpb
        fl_softmax_rows(op, xp + r0 * n, op_ + r0 * ostride, min(rpb, rows - r0), n)


def fast_softmax(x, int op):
    """logsumexp (op LSE), softmax or log_softmax of x along its last axis."""
    cdef int t = plain_array(x)
    cdef cnp.ndarray a, out
    cdef int nd
    cdef Py_ssize_t n, rows
    if t < 0 or cnp.PyArray_NDIM(<cnp.ndarray>x) == 0:
        return NotImplemented                  # a 0-d array has no last axis
    a = <cnp.ndarray>x
    nd = cnp.PyArray_NDIM(a)
    n = cnp.PyArray_DIM(a, nd - 1)
    rows = cnp.PyArray_SIZE(a) // n
    out = cnp.PyArray_EMPTY(nd - 1 if op == FL_LSE else nd, cnp.PyArray_DIMS(a), t, 0)
    if t == cnp.NPY_FLOAT32:
        softmax_blocks(op, <const float*>cnp.PyArray_DATA(a), <float*>cnp.PyArray_DATA(out),
                       rows, n)
    else:
        softmax_blocks(op, <const double*>cnp.PyArray_DATA(a),
                       <double*>cnp.PyArray_DATA(out), rows, n)
    if nd == 1 and op == FL_LSE:
        return out[()]
    return out


cdef object class_fast(int mode, cnp.ndarray x, const floating* wp, Py_ssize_t n,
                       cnp.ndarray target, int64_t ignore_index, double eps, int red,
                       int want, double grad_output):
    """class_fast_weighted, with ones for the class weights where wp is NULL."""
    cdef Py_ssize_t c
    cdef int t = cnp.PyArray_TYPE(x)
    cdef floating* ones = NULL
    if wp == NULL:                        # no class weights: ones, as the general path
        ones = <floating*>PyMem_Malloc(n * sizeof(floating))
        if ones == NULL:
            raise MemoryError()
        for c in range(n):
            ones[c] = 1
        wp = ones
    try:
        return class_fast_weighted(mode, x, wp, n, target, ignore_index, eps, red, want,
                                   grad_output)
    finally:
        PyMem_Free(ones)


cdef object class_fast_weighted(int mode, cnp.ndarray x, const floating* wp, Py_ssize_t n,
                                cnp.ndarray target, int64_t ignore_index, double eps,
                                int red, int want, double grad_output):
    cdef Py_ssize_t rows = cnp.PyArray_DIM(x, 0)
    cdef const floating* xp = <const floating*>cnp.PyArray_DATA(x)
    cdef const int64_t* tp = <const int64_t*>cnp.PyArray_DATA(target)
    cdef floating one = 1
    cdef floating* lp = NULL
    cdef floating* gp = NULL
    cdef cnp.ndarray loss = None, grad = None
    cdef bint unit_w = True, empty_is_nan = mode == FL_CE_INDEX and eps > 0.0
    cdef double w_total = 0.0, scale = 1.0, total, denominator, pre_weight = 0.0
    cdef uint64_t pre_check = 0
    cdef bint prepass = want != WANT_VALUE and red == RED_MEAN
    cdef Py_ssize_t c
    cdef int t = cnp.PyArray_TYPE(x)
    for c in range(n):
        unit_w = unit_w and wp[c] == 1.0
        if eps > 0.0:
            w_total += wp[c]
    if red == RED_NONE and want != WANT_GRAD:
        loss = cnp.PyArray_EMPTY(1, cnp.PyArray_DIMS(x), t, 0)
        lp = <floating*>cnp.PyArray_DATA(loss)
    if want != WANT_VALUE:
        grad = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(x), t, 0)
        gp = <floating*>cnp.PyArray_DATA(grad)
        scale = grad_output
    if prepass:
        pre_weight, pre_check, bad, _ = targets_core(mode, tp, wp, unit_w, n, rows, 1,
                                                     ignore_index, 1)
        if bad >= 0:
            return NotImplemented
        scale = mean_of(grad_output, pre_weight, empty_is_nan)
    total, denominator, check, bad, _ = class_loss_core(
        mode, xp, rows, n, 1, tp, NULL, wp, unit_w, w_total, ignore_index, eps, lp, gp,
        &one, 0, scale, 1)
    if bad >= 0 or (prepass and check != pre_check):
        return NotImplemented
    if prepass:
        denominator = pre_weight
    if want == WANT_GRAD:
        return grad
    if red == RED_NONE:
        value = loss
    elif red == RED_SUM:
        value = scalar_of(t, total)
    else:
        value = scalar_of(t, mean_of(total, denominator, empty_is_nan))
    return value if want == WANT_VALUE else (value, grad)


def fast_class(int mode, x, target, weight, ignore_index, label_smoothing, reduction,
               int want, grad_output):
    """cross_entropy (mode CE_INDEX) or nll_loss (NLL_INDEX) of (N, C) logits
    and (N,) class indices; want 0: the value, 1: grad, 2: value_and_grad."""
    cdef int t = plain_array(x), red = reduction_code(reduction), tt
    cdef cnp.ndarray a, tg, w = None
    cdef Py_ssize_t n, rows
    cdef int64_t ii
    cdef double eps, go = 1.0
    if t < 0 and mode == FL_NLL_INDEX and want == WANT_VALUE:
        # NLL's value reads one element a row: the work is the rows'
        t = plain_array(x, PY_SSIZE_T_MAX)
        if t >= 0 and cnp.PyArray_NDIM(<cnp.ndarray>x) == 2 \
                and cnp.PyArray_DIM(<cnp.ndarray>x, 0) > FL_PARALLEL_MIN:
            t = -1
    if t < 0 or red < 0 or cnp.PyArray_NDIM(<cnp.ndarray>x) != 2:
        return NotImplemented
    if type(ignore_index) is not int or not plain_number(label_smoothing, &eps):
        return NotImplemented
    if not (0.0 <= eps <= 1.0) or (mode == FL_NLL_INDEX and eps != 0.0):
        return NotImplemented
    try:
        ii = ignore_index
    except OverflowError:
        return NotImplemented
    if want != WANT_VALUE:
        if not plain_number(grad_output, &go) or (red == RED_NONE and go != 1.0):
            return NotImplemented
    a = <cnp.ndarray>x
    rows = cnp.PyArray_DIM(a, 0)
    n = cnp.PyArray_DIM(a, 1)
    if type(target) is not cnp.ndarray:
        return NotImplemented
    tg = <cnp.ndarray>target
    tt = cnp.PyArray_TYPE(tg)
    if (cnp.PyArray_NDIM(tg) != 1 or cnp.PyArray_DIM(tg, 0) != rows
            or not cnp.PyArray_ISINTEGER(tg)
            or (cnp.PyArray_ISUNSIGNED(tg) and cnp.PyArray_ITEMSIZE(tg) == 8)):
        return NotImplemented
    if tt != cnp.NPY_INT64 or not (cnp.PyArray_ISCARRAY_RO(tg)
                                   and cnp.PyArray_ISNOTSWAPPED(tg)):
        tg = tg.astype(_int64)
    if weight is not None:
        if (type(weight) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>weight) != 1
                or cnp.PyArray_DIM(<cnp.ndarray>weight, 0) != n):
            return NotImplemented
        w = <cnp.ndarray>weight
        if cnp.PyArray_TYPE(w) != t or not (cnp.PyArray_ISCARRAY_RO(w)
                                            and cnp.PyArray_ISNOTSWAPPED(w)):
            if not cnp.PyArray_ISFLOAT(w):
                return NotImplemented
            w = w.astype(a.dtype)
    if t == cnp.NPY_FLOAT32:
        return class_fast(mode, a, <const float*>(cnp.PyArray_DATA(w) if w is not None
                                                  else NULL), n, tg, ii, eps, red, want, go)
    return class_fast(mode, a, <const double*>(cnp.PyArray_DATA(w) if w is not None
                                               else NULL), n, tg, ii, eps, red, want, go)


cdef object binary_fast(int mode, cnp.ndarray x, cnp.ndarray target, int red, int want,
                        double grad_output, double param, floating dummy):
    cdef Py_ssize_t size = cnp.PyArray_SIZE(x), n_blocks, blk, e, k
    cdef const floating* xp = <const floating*>cnp.PyArray_DATA(x)
    cdef const floating* tp = <const floating*>cnp.PyArray_DATA(target)
    cdef floating* lp = NULL
    cdef floating* gp = NULL
    cdef cnp.ndarray loss = None, grad = None
    cdef double scale = 1.0, total
    cdef double part[FL_FAST_BLOCKS]
    cdef int t = cnp.PyArray_TYPE(x), nd = cnp.PyArray_NDIM(x)
    cdef double denominator = size
    if red == RED_BATCHMEAN:                   # nd >= 1 here
        denominator = cnp.PyArray_DIM(x, 0)
        red = RED_MEAN
    if mode == FL_BCE_PROB:
        for k in range(size):
            if not (0.0 <= xp[k] <= 1.0 and 0.0 <= tp[k] <= 1.0):
                return NotImplemented          # refused by the general path
    if red == RED_NONE and want != WANT_GRAD:
        loss = cnp.PyArray_EMPTY(nd, cnp.PyArray_DIMS(x), t, 0)
        lp = <floating*>cnp.PyArray_DATA(loss)
    if want != WANT_VALUE:
        grad = cnp.PyArray_EMPTY(nd, cnp.PyArray_DIMS(x), t, 0)
        gp = <floating*>cnp.PyArray_DATA(grad)
        scale = mean_of(grad_output, denominator, False) if red == RED_MEAN else grad_output
    n_blocks = (size + FL_BLOCK_ELEMS - 1) // FL_BLOCK_ELEMS
    for blk in range(n_blocks):
        e = blk * FL_BLOCK_ELEMS
        part[blk] = fl_binary_run(mode, xp + e, tp + e, NULL, 1.0, NULL, param, NULL, 1.0, scale,
                                  lp + e if lp != NULL else NULL,
                                  gp + e if gp != NULL else NULL,
                                  min(<Py_ssize_t>FL_BLOCK_ELEMS, size - e))
    total = sum_blocks(part, n_blocks, 1)
    if want == WANT_GRAD:
        return grad
    if red == RED_NONE:
        value = loss
    elif red == RED_SUM:
        value = scalar_of(t, total)
    else:
        value = scalar_of(t, mean_of(total, denominator, False))
    return value if want == WANT_VALUE else (value, grad)


def fast_binary(int mode, x, target, reduction, int want, grad_output, double param=1.0):
    """An elementwise loss without weights (BCE with logits, BCE, MSE, L1,
    smooth L1, Huber, KL divergence), of x and a target of its dtype and
    shape; want as fast_class; param: smooth L1's beta or Huber's delta,
    checked by the caller (else 1, the positive weight of BCE with logits)."""
    cdef int t = plain_array(x), red = reduction_code(reduction)
    cdef cnp.ndarray a, tg
    cdef double go = 1.0
    cdef int k
    if red < 0 and (mode == FL_KL_DIV or mode == FL_KL_DIV_LOG) \
            and type(reduction) is str and reduction == "batchmean":
        red = RED_BATCHMEAN
    if t < 0 or red < 0 or plain_array(target) != t:
        return NotImplemented
    a = <cnp.ndarray>x
    tg = <cnp.ndarray>target
    if cnp.PyArray_NDIM(a) == 0 or cnp.PyArray_NDIM(tg) != cnp.PyArray_NDIM(a):
        return NotImplemented
    for k in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, k) != cnp.PyArray_DIM(tg, k):
            return NotImplemented
    if want != WANT_VALUE:
        if not plain_number(grad_output, &go) or (red == RED_NONE and go != 1.0):
            return NotImplemented
    if t == cnp.NPY_FLOAT32:
        return binary_fast(mode, a, tg, red, want, go, param, <float>0)
    return binary_fast(mode, a, tg, red, want, go, param, <double>0)


# ------------------------------------------------------------ activations
#
# sigmoid, log_sigmoid and softplus (c/unary.h): elementwise, in blocks of
# FL_BLOCK_ELEMS elements in flat order, as the elementwise losses; each
# element's result depends on that element alone, so any number of threads
# gives the same bits.

SIGMOID = FL_SIGMOID
LOG_SIGMOID = FL_LOG_SIGMOID
SOFTPLUS = FL_SOFTPLUS


cdef void unary_blocks(int op, const floating* xp, floating* op_, Py_ssize_t size,
                       double beta, double threshold, int n_threads) noexcept nogil:
    """fl_unary_run over the blocks of size elements, in parallel from
    FL_PARALLEL_MIN elements."""
    cdef Py_ssize_t n_blocks = (size + FL_BLOCK_ELEMS - 1) // FL_BLOCK_ELEMS, blk, e
    for blk in prange(n_blocks, schedule="static", num_threads=n_threads,
                      use_threads_if=size > FL_PARALLEL_MIN):
        e = blk * FL_BLOCK_ELEMS
        fl_unary_run(op, xp + e, op_ + e, min(<Py_ssize_t>FL_BLOCK_ELEMS, size - e), beta,
                     threshold)


def unary(int op,
          const floating[::1] x,     # IN  the elements, flat
          floating[::1] out,         # OUT like x; may be x itself
          double beta,               # softplus: converted to x's type, as threshold
          double threshold,
          int n_threads):
    """out = op(x): SIGMOID, LOG_SIGMOID or SOFTPLUS (beta, threshold; the
    others ignore them)."""
    cdef Py_ssize_t size = x.shape[0]
    if size == 0:
        return
    with nogil:
        unary_blocks(op, &x[0], &out[0], size, beta, threshold, n_threads)


def fast_unary(x, int op, beta, threshold):
    """op of a small plain array x (the fast path: one thread, the general
    path's blocks and bits), or NotImplemented; beta and threshold Python
    numbers."""
    cdef int t = plain_array(x)
    cdef double b, thr
    cdef cnp.ndarray a, out
    if t < 0 or not plain_number(beta, &b) or not plain_number(threshold, &thr):
        return NotImplemented
    a = <cnp.ndarray>x
    out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a), cnp.PyArray_DIMS(a), t, 0)
    if t == cnp.NPY_FLOAT32:
        unary_blocks(op, <const float*>cnp.PyArray_DATA(a), <float*>cnp.PyArray_DATA(out),
                     cnp.PyArray_SIZE(a), b, thr, 1)
    else:
        unary_blocks(op, <const double*>cnp.PyArray_DATA(a), <double*>cnp.PyArray_DATA(out),
                     cnp.PyArray_SIZE(a), b, thr, 1)
    if cnp.PyArray_NDIM(a) == 0:
        return out[()]
    return out
