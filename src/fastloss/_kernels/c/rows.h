/* rows.h: the row walks shared by the softmax family and cross-entropy, for
 * one element type (a template: kernels.h includes it with FL_T float, then
 * double, so every FL_NAME(fl_x_) here defines fl_x_f and fl_x_d).
 *
 * Three ways through a C-contiguous block of rows of n classes, by n:
 *
 *   small  (n <= FL_SMALL_PARTS vectors): FL_VL rows at a time, rows in the
 *          lanes. A group's rows are loaded and transposed in registers, so
 *          the max, the exps, the sums and the outputs of FL_VL rows are
 *          plain vector operations with no horizontal step and no tail.
 *   medium (longer rows): one row at a time, vector loops with a masked
 *          tail; the row is read twice while it is in cache (max, then
 *          exp-and-sum, which also stores the exps where they are an output),
 *          and the logs of a sub-block of rows are taken together.
 *   long   (chosen by the drivers, see fl_long_rows): a row is cut into
 *          chunks of FL_CHUNK elements whose (max, sum) pairs are combined,
 *          so that every thread works on a few long rows as well.
 *
 * and a fourth for an inner class axis (x of shape (outer, n, inner), class
 * c of row (o, i) at stride inner): the rows of consecutive i lie in
 * consecutive lanes.
 *
 * Special rows. A row whose max is not finite (it holds +inf or NaN, or
 * every element is -inf) has exact, documented results (logsumexp +inf, -inf
 * or NaN; everything else NaN) and is handled by name, not by the vector
 * arithmetic; a NaN in a row with a finite max propagates through the exps
 * and the sum to every output of the row.
 *
 * Sums: per-row sums are taken in double, except that the exps of up to four
 * vectors (and the FL_VL row sums of the small path, at most 4 FL_VL terms
 * of at most 1 each) are first added in the element type; each such term
 * goes through at most two float roundings before reaching the double sum.
 *
 * In-place safety: every output element is written after the inputs it
 * depends on were read, and the exps a pass stores are read back only by the
 * same row's later passes, so `out`/`grad` may be `x` itself.
 */
#ifndef FL_T
#error "rows.h is a template: kernels.h includes it once per element type"
#endif

/* ================================================================ helpers */

/* vf_acc, vf_exp_part (and their double twins), fl_prefetch_ahead, and
 * the passes over one contiguous row (fl_vmax_, fl_vsumexp_, fl_row_scale_,
 * fl_row_expaff_, fl_row_shift_): row_passes.h, which the avx512 path
 * instantiates for its wide vectors instead (kernels.h) */
#include "row_passes.h"

/* fl_half_f, fl_half_d: lanes [lo, lo + FL_VLD) of v as doubles */
FL_INLINE vd FL_NAME(fl_half_)(FL_V v, int h)
{
#if FL_IS_FLOAT
    return h ? vf_hi_d(v) : vf_lo_d(v);
#else
    (void)h;
    return v;
#endif
}

/* fl_from_halves_f, fl_from_halves_d: a vector of T from FL_VL / FL_VLD double
 * vectors */
FL_INLINE FL_V FL_NAME(fl_from_halves_)(const vd* h)
{
#if FL_IS_FLOAT
    return vf_from_d(h[0], h[1]);
#else
    return h[0];
#endif
}

#define FL_HALVES (FL_VL / FL_VLD)

/* ============================================================ row passes */

/* fl_strided_max_exact_f, fl_strided_max_exact_d: the max of a row of n
 * elements stride apart, exactly: NaN if it holds a NaN, -inf if it is empty. */
static double FL_NAME(fl_strided_max_exact_)(const FL_T* x, ptrdiff_t n, ptrdiff_t stride)
{
    double m = -INFINITY;
    for (ptrdiff_t c = 0; c < n; c++) {
        double v = x[c * stride];
        if (v != v) return v;
        m = v > m ? v : m;
    }
    return m;
}

/* fl_strided_fill_f, fl_strided_fill_d */
static void FL_NAME(fl_strided_fill_)(FL_T* out, ptrdiff_t n, ptrdiff_t stride, FL_T value)
{
    for (ptrdiff_t c = 0; c < n; c++) out[c * stride] = value;
}

/* fl_row_max_exact_f, fl_row_max_exact_d: the same of a contiguous row */
static double FL_NAME(fl_row_max_exact_)(const FL_T* x, ptrdiff_t n)
{
    return FL_NAME(fl_strided_max_exact_)(x, n, 1);
}

/* fl_row_fill_f, fl_row_fill_d */
static void FL_NAME(fl_row_fill_)(FL_T* out, ptrdiff_t n, FL_T value)
{
    FL_NAME(fl_strided_fill_)(out, n, 1, value);
}

/* fl_chunk_ms_f, fl_chunk_ms_d: (max, sum exp(x - max)) of one run of a row (a
 * chunk of a long row); m not finite: the run holds NaN (m NaN), else +inf (m
 * +inf), or is all -inf (m -inf, then s is not used). The vector max may have
 * dropped a NaN or +inf for a later -inf, so a max that is not finite is taken
 * again exactly. */
static fl_ms FL_NAME(fl_chunk_ms_)(const FL_T* x, ptrdiff_t n)
{
    fl_ms r;
    r.m = FL_NAME(fl_vmax_)(x, n);
    if (fabs(r.m) < INFINITY) {
        r.s = FL_NAME(fl_vsumexp_)(x, n, (FL_T)r.m, NULL);
    } else {
        r.m = FL_NAME(fl_row_max_exact_)(x, n);
        r.s = NAN;
    }
    return r;
}

/* ===================================================== small rows in lanes
 *
 * A group is up to FL_VL consecutive rows of n classes (n <= P FL_VL): the
 * rows of a block are taken FL_VL at a time, the last group partial, so that
 * every row is computed by the same lane arithmetic wherever it sits. cols[c]
 * lane i is x[i n + c]; the columns from n to P FL_VL, and the lanes of a
 * partial group's missing rows, hold garbage (or 0) that no result reads.
 * `inside`: every full vector the loads touch lies in the block (the group
 * is not at its end), so no load needs a mask. */

#if FL_AVX2 && FL_IS_FLOAT
/* fl_cols2_load_f: a part of two columns (k == 2, xp at the part's first
 * column of the group's first row): each row's two floats read as one 64-bit
 * piece, rows 0 1 | 4 5 into a, 2 3 | 6 7 into b, the columns then a's and
 * b's even and odd lanes (12 instructions; no row is read past its end, so
 * no mask is needed at the block's end). The lanes of rows past `rows` hold 0. */
FL_INLINE void fl_cols2_load_f(const float* xp, ptrdiff_t n, ptrdiff_t rows, vf* rr)
{
    __m128 q[4];
    for (int j = 0; j < 4; j++) {
        int i = (j & 1) * 2 + (j >> 1) * 4;          /* rows i, i + 1 in quarter j */
        __m128 v = _mm_setzero_ps();
        if (i < rows) v = _mm_castpd_ps(_mm_load_sd((const double*)(xp + i * n)));
        if (i + 1 < rows) v = _mm_loadh_pi(v, (const __m64*)(xp + (i + 1) * n));
        q[j] = v;
    }
    __m256 a = _mm256_set_m128(q[2], q[0]), b = _mm256_set_m128(q[3], q[1]);
    rr[0] = _mm256_shuffle_ps(a, b, 0x88);
    rr[1] = _mm256_shuffle_ps(a, b, 0xDD);
}

/* fl_cols2_store_f: the inverse, columns rr[0], rr[1] to the first `rows` rows */
FL_INLINE void fl_cols2_store_f(float* op, ptrdiff_t n, ptrdiff_t rows, const vf* rr)
{
    __m256 a = _mm256_unpacklo_ps(rr[0], rr[1]), b = _mm256_unpackhi_ps(rr[0], rr[1]);
    __m128 q[4] = {_mm256_castps256_ps128(a), _mm256_castps256_ps128(b),
                   _mm256_extractf128_ps(a, 1), _mm256_extractf128_ps(b, 1)};
    for (int j = 0; j < 4; j++) {
        int i = (j & 1) * 2 + (j >> 1) * 4;
        if (i < rows) _mm_storel_pi((__m64*)(op + i * n), q[j]);
        if (i + 1 < rows) _mm_storeh_pi((__m64*)(op + (i + 1) * n), q[j]);
    }
}
#endif

/* fl_cols_load_x_f, fl_cols_load_x_d: the columns of the group's first
 * `rows` rows (1 <= rows <= FL_VL; the lanes of the others hold 0). pairs (a
 * constant): a part of two columns by fl_cols2_load_f (where n is a
 * constant: with n known at run time only, the extra branch cost the softmax
 * family more than it saved) */
FL_INLINE void FL_NAME(fl_cols_load_x_)(const FL_T* xg, ptrdiff_t n, int P, int inside,
                                        ptrdiff_t rows, FL_V* cols, const int pairs)
{
    for (int p = 0; p < P; p++) {
        ptrdiff_t k = n - p * FL_VL < FL_VL ? n - p * FL_VL : FL_VL;
        FL_V* rr = cols + p * FL_VL;
#if FL_AVX2 && FL_IS_FLOAT
        if (pairs && k == 2) {
            fl_cols2_load_f(xg + p * FL_VL, n, rows, rr);
            continue;
        }
#endif
        if (inside || k == FL_VL) {
            if (rows == FL_VL)
                for (int i = 0; i < FL_VL; i++) rr[i] = FL_VOP(load)(xg + i * n + p * FL_VL);
            else
                for (int i = 0; i < FL_VL; i++)
                    rr[i] = i < rows ? FL_VOP(load)(xg + i * n + p * FL_VL) : FL_VOP(set1)(0);
        } else {
            for (int i = 0; i < FL_VL; i++)
                rr[i] = i < rows ? FL_VOP(load_part)(xg + i * n + p * FL_VL, k, 0)
                                 : FL_VOP(set1)(0);
        }
        if (k <= 4)
            FL_VOP(transpose_lo4)(rr);
        else
            FL_VOP(transpose)(rr);
    }
}

/* fl_cols_load_f, fl_cols_load_d: fl_cols_load_x_ without pairs */
FL_INLINE void FL_NAME(fl_cols_load_)(const FL_T* xg, ptrdiff_t n, int P, int inside,
                                      ptrdiff_t rows, FL_V* cols)
{
    FL_NAME(fl_cols_load_x_)(xg, n, P, inside, rows, cols, 0);
}

/* fl_cols_store_x_f, fl_cols_store_x_d: columns [0, n) of cols back to the
 * group's first `rows` rows (cols is clobbered); pairs as fl_cols_load_x_'s */
FL_INLINE void FL_NAME(fl_cols_store_x_)(FL_T* og, ptrdiff_t n, int P, ptrdiff_t rows,
                                         FL_V* cols, const int pairs)
{
    for (int p = 0; p < P; p++) {
        ptrdiff_t k = n - p * FL_VL < FL_VL ? n - p * FL_VL : FL_VL;
        FL_V* rr = cols + p * FL_VL;
#if FL_AVX2 && FL_IS_FLOAT
        if (pairs && k == 2) {
            fl_cols2_store_f(og + p * FL_VL, n, rows, rr);
            continue;
        }
#endif
        if (k <= 4)
            FL_VOP(transpose_lo4_inv)(rr);
        else
            FL_VOP(transpose)(rr);
        for (int i = 0; i < rows; i++) {
            FL_T* dst = og + i * n + p * FL_VL;
            if (k == FL_VL) FL_VOP(store)(dst, rr[i]); else FL_VOP(store_part)(dst, rr[i], k);
        }
    }
}

/* fl_cols_store_f, fl_cols_store_d: fl_cols_store_x_ without pairs */
FL_INLINE void FL_NAME(fl_cols_store_)(FL_T* og, ptrdiff_t n, int P, ptrdiff_t rows,
                                       FL_V* cols)
{
    FL_NAME(fl_cols_store_x_)(og, n, P, rows, cols, 0);
}

/* fl_cols_max_f, fl_cols_max_d: the row max of each lane, as a tree (a short
 * dependency chain) */
FL_INLINE FL_V FL_NAME(fl_cols_max_)(const FL_V* cols, ptrdiff_t n)
{
    FL_V m0 = cols[0], m1 = n > 1 ? cols[1] : cols[0];
    ptrdiff_t c = 2;
    for (; c + 2 <= n; c += 2) {
        m0 = FL_VOP(max)(m0, cols[c]);
        m1 = FL_VOP(max)(m1, cols[c + 1]);
    }
    if (c < n) m0 = FL_VOP(max)(m0, cols[c]);
    return FL_VOP(max)(m0, m1);
}

/* fl_cols_sumexp_x_f, fl_cols_sumexp_x_d: the group's sums of exp(x - m) as double
 * halves, the exps of two columns (four when wide, a constant: where n is
 * one) added in the element type first; the exps replace the columns when
 * keep_e */
FL_INLINE void FL_NAME(fl_cols_sumexp_x_)(FL_V* cols, ptrdiff_t n, FL_V m, int keep_e, vd* s,
                                          const int wide)
{
    vd s0 = vd_set1(0.0), s1 = s0;
    ptrdiff_t c = 0;
    for (; wide && c + 4 <= n; c += 4) {
        FL_V e0 = FL_VOP(exp_neg)(cols[c] - m), e1 = FL_VOP(exp_neg)(cols[c + 1] - m);
        FL_V e2 = FL_VOP(exp_neg)(cols[c + 2] - m), e3 = FL_VOP(exp_neg)(cols[c + 3] - m);
        if (keep_e) {
            cols[c] = e0;
            cols[c + 1] = e1;
            cols[c + 2] = e2;
            cols[c + 3] = e3;
        }
        FL_VOP(acc)(&s0, &s1, (e0 + e1) + (e2 + e3));
    }
    for (; c + 2 <= n; c += 2) {
        FL_V e0 = FL_VOP(exp_neg)(cols[c] - m), e1 = FL_VOP(exp_neg)(cols[c + 1] - m);
        if (keep_e) {
            cols[c] = e0;
            cols[c + 1] = e1;
        }
        FL_VOP(acc)(&s0, &s1, e0 + e1);
    }
    if (c < n) {
        FL_V e0 = FL_VOP(exp_neg)(cols[c] - m);
        if (keep_e) cols[c] = e0;
        FL_VOP(acc)(&s0, &s1, e0);
    }
    s[0] = s0;
#if FL_IS_FLOAT
    s[1] = s1;
#endif
}

/* fl_cols_sumexp_f, fl_cols_sumexp_d: fl_cols_sumexp_x_, two columns at a time */
FL_INLINE void FL_NAME(fl_cols_sumexp_)(FL_V* cols, ptrdiff_t n, FL_V m, int keep_e, vd* s)
{
    FL_NAME(fl_cols_sumexp_x_)(cols, n, m, keep_e, s, 0);
}

/* fl_store_halves_f, fl_store_halves_d */
FL_INLINE void FL_NAME(fl_store_halves_)(double* p, const vd* h)
{
    for (int k = 0; k < FL_HALVES; k++) vd_store(p + k * FL_VLD, h[k]);
}

/* fl_log_sums_f, fl_log_sums_d: log of per-lane sums >= 1 (double halves of
 * FL_VL lanes): in float for float rows (float accuracy relative to the log),
 * in double for double. A NaN sum (a row whose NaN the vector max did not
 * keep, but its exp did) stays NaN. */
FL_INLINE void FL_NAME(fl_log_sums_)(const vd* s, vd* ls)
{
#if FL_IS_FLOAT
    vf l = vf_log_sum(s[0], s[1]);
    ls[0] = vf_lo_d(l);
    ls[1] = vf_hi_d(l);
#else
    ls[0] = vd_log_sum(s[0]);
#endif
    for (int h = 0; h < FL_HALVES; h++) ls[h] = vd_select(s[h] == s[h], ls[h], s[h]);
}

/* fl_log_array_f, fl_log_array_d: ls[i] = log s[i] for i in [0, cnt) (rounded
 * up to whole vectors of lanes); NaN stays NaN (a special row) */
FL_INLINE void FL_NAME(fl_log_array_)(const double* s, double* ls, ptrdiff_t cnt)
{
    for (ptrdiff_t i = 0; i < cnt; i += FL_VL) {
        vd sv[FL_HALVES], lv[FL_HALVES];
        for (int h = 0; h < FL_HALVES; h++) sv[h] = vd_load(s + i + h * FL_VLD);
        FL_NAME(fl_log_sums_)(sv, lv);
        for (int h = 0; h < FL_HALVES; h++)
            vd_store(ls + i + h * FL_VLD, lv[h]);
    }
}

/* ======================================================== sub-blocks
 *
 * A block's rows are taken FL_SUB at a time in two stages: stage 1 walks
 * the rows (in groups, or one at a time) and keeps each row's statistics;
 * stage 2 takes the logs of the whole sub-block together and finishes the
 * rows. The logs (and their division) are then independent work instead of
 * the tail of every group's dependency chain. Outputs that need no log (a
 * softmax, a gradient) are written in stage 1, while the row is in cache. */

/* fl_sub_f, fl_sub_d: a sub-block's per-row statistics */
typedef struct {
    double m[FL_SUB];      /* row max (logsumexp, log_softmax) */
    double s[FL_SUB];      /* sum exp(x - max): 1 where no log is owed, NaN: special */
    double p0[FL_SUB];     /* CE: x_y - max (index), sum w t' (probabilities) */
    double p1[FL_SUB];     /* CE: sum w (x - max) (index), sum w t' (x - max) (prob.) */
    double wy[FL_SUB];     /* CE index: w_y, 0 where ignored */
    int done[FL_SUB];      /* nothing left for stage 2 */
    int pending;           /* rows not done */
} FL_NAME(fl_sub_);

/* ===================================================== inner class axis
 *
 * x is (n_outer, n, inner), inner > 1 (PyTorch's (N, C, d...) with the class
 * axis 1): the rows (o, i) of consecutive i lie in consecutive lanes, class c
 * at stride inner, so a group of up to FL_VL rows (o, i .. i + k) is read by
 * plain vector loads, masked at the end of the inner axis, with no
 * transpose. Lanes of special rows are computed too and then overwritten. */

/* fl_in_load_f, fl_in_load_d */
FL_INLINE FL_V FL_NAME(fl_in_load_)(const FL_T* p, ptrdiff_t k)
{
    return k == FL_VL ? FL_VOP(load)(p) : FL_VOP(load_part)(p, k, 0);
}

/* fl_in_store_f, fl_in_store_d */
FL_INLINE void FL_NAME(fl_in_store_)(FL_T* p, FL_V v, ptrdiff_t k)
{
    if (k == FL_VL) FL_VOP(store)(p, v); else FL_VOP(store_part)(p, v, k);
}

/* fl_mask_half_f, fl_mask_half_d: lanes [h FL_VLD, (h + 1) FL_VLD) of a
 * mask (lanes all ones or all zeros) as a mask of double lanes */
FL_INLINE vi64 FL_NAME(fl_mask_half_)(FL_VI mask, int h)
{
#if FL_IS_FLOAT && FL_AVX2
    return (vi64)_mm256_cvtepi32_epi64(h ? _mm256_extracti128_si256((__m256i)mask, 1)
                                         : _mm256_castsi256_si128((__m256i)mask));
#elif FL_IS_FLOAT
    /* lanes [h FL_VLD, (h + 1) FL_VLD) sign-extended to 64 bits */
    typedef int32_t half32 __attribute__((vector_size(FL_VBYTES / 2)));
    half32 part;
    memcpy(&part, (const char*)&mask + h * (FL_VBYTES / 2), sizeof part);
    return __builtin_convertvector(part, vi64);
#else
    (void)h;
    return mask;
#endif
}
