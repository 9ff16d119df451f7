/* Row engines of _simd_rows.h for one element type: included once with
 * FL_T float (vectors FL_V = vf of FL_VL lanes, FL_NAME(fl_x_) = fl_x_f) and
 * once with FL_T double. */

/* ================================================================ helpers */

/* the lanes of v added to double accumulators (two of them for float lanes) */
FL_INLINE void FL_NAME(fl_acc_)(vd* a0, vd* a1, FL_V v)
{
#if FL_IS_FLOAT
    *a0 += vf_lo_d(v);
    *a1 += vf_hi_d(v);
#else
    (void)a1;
    *a0 += v;
#endif
}

/* lanes [lo, lo + FL_VLD) of v as doubles */
FL_INLINE vd FL_NAME(fl_half_)(FL_V v, int h)
{
#if FL_IS_FLOAT
    return h ? vf_hi_d(v) : vf_lo_d(v);
#else
    (void)h;
    return v;
#endif
}

/* a vector of T from FL_VL / FL_VLD double vectors */
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

/* The max of a row of n elements stride apart, exactly: NaN if it holds a
 * NaN, -inf if it is empty. */
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

static void FL_NAME(fl_strided_fill_)(FL_T* out, ptrdiff_t n, ptrdiff_t stride, FL_T value)
{
    for (ptrdiff_t c = 0; c < n; c++) out[c * stride] = value;
}

/* the same of a contiguous row */
static double FL_NAME(fl_row_max_exact_)(const FL_T* x, ptrdiff_t n)
{
    return FL_NAME(fl_strided_max_exact_)(x, n, 1);
}

static void FL_NAME(fl_row_fill_)(FL_T* out, ptrdiff_t n, FL_T value)
{
    FL_NAME(fl_strided_fill_)(out, n, 1, value);
}

/* The max of a contiguous row, by vectors. A NaN may or may not show in it
 * (it reaches every result through the exps anyway); -inf if empty. */
FL_INLINE FL_T FL_NAME(fl_vmax_)(const FL_T* x, ptrdiff_t n)
{
    FL_V m0 = FL_VOP(set1)(-INFINITY), m1 = m0;
    ptrdiff_t j = 0;
    for (; j + 2 * FL_VL <= n; j += 2 * FL_VL) {
        m0 = FL_VOP(max)(m0, FL_VOP(load)(x + j));
        m1 = FL_VOP(max)(m1, FL_VOP(load)(x + j + FL_VL));
    }
    if (j + FL_VL <= n) {
        m0 = FL_VOP(max)(m0, FL_VOP(load)(x + j));
        j += FL_VL;
    }
    if (j < n) m1 = FL_VOP(max)(m1, FL_VOP(load_part)(x + j, n - j, -INFINITY));
    return FL_VOP(hmax)(FL_VOP(max)(m0, m1));
}

/* sum_j exp(x_j - m) for a finite m; the exps are also stored to e unless
 * it is NULL (e may be x). */
FL_INLINE double FL_NAME(fl_vsumexp_)(const FL_T* x, ptrdiff_t n, FL_T m, FL_T* e)
{
    FL_V vm = FL_VOP(set1)(m);
    vd a0 = vd_set1(0.0), a1 = a0;
    ptrdiff_t j = 0;
    for (; j + 4 * FL_VL <= n; j += 4 * FL_VL) {
        /* the next row, while this one is computed from cache: its max pass
         * then finds it in cache instead of waiting on memory */
        __builtin_prefetch(x + n + j, 0, 3);
        __builtin_prefetch(x + n + j + 2 * FL_VL, 0, 3);
        FL_V e0 = FL_VOP(exp_neg)(FL_VOP(load)(x + j) - vm);
        FL_V e1 = FL_VOP(exp_neg)(FL_VOP(load)(x + j + FL_VL) - vm);
        FL_V e2 = FL_VOP(exp_neg)(FL_VOP(load)(x + j + 2 * FL_VL) - vm);
        FL_V e3 = FL_VOP(exp_neg)(FL_VOP(load)(x + j + 3 * FL_VL) - vm);
        if (e != NULL) {
            FL_VOP(store)(e + j, e0);
            FL_VOP(store)(e + j + FL_VL, e1);
            FL_VOP(store)(e + j + 2 * FL_VL, e2);
            FL_VOP(store)(e + j + 3 * FL_VL, e3);
        }
        FL_NAME(fl_acc_)(&a0, &a1, (e0 + e1) + (e2 + e3));
    }
    for (; j + FL_VL <= n; j += FL_VL) {
        FL_V v = FL_VOP(exp_neg)(FL_VOP(load)(x + j) - vm);
        if (e != NULL) FL_VOP(store)(e + j, v);
        FL_NAME(fl_acc_)(&a0, &a1, v);
    }
    if (j < n) {
        FL_V v = FL_VOP(exp_neg)(FL_VOP(load_part)(x + j, n - j, -INFINITY) - vm);
        if (e != NULL) FL_VOP(store_part)(e + j, v, n - j);
        FL_NAME(fl_acc_)(&a0, &a1, v);
    }
    return vd_hsum(a0 + a1);
}

/* sum_j w_j (x_j - m), w NULL: all ones; in double */
static double FL_NAME(fl_row_wdiff_)(const FL_T* x, const FL_T* w, ptrdiff_t n, FL_T m)
{
    vd a = vd_set1(0.0), md = vd_set1((double)m);
    ptrdiff_t j = 0;
    for (; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_V xv = FL_VOP(load_part)(x + j, k, m);
        FL_V wv = w != NULL ? FL_VOP(load_part)(w + j, k, 0) : FL_VOP(set1)(1);
        for (int h = 0; h < FL_HALVES; h++)
            a += FL_NAME(fl_half_)(wv, h) * (FL_NAME(fl_half_)(xv, h) - md);
    }
    return vd_hsum(a);
}

/* Probability targets t' = keep t + eps_c: wt = sum_j w_j t'_j and
 * wtd = sum_j w_j t'_j (x_j - m), in double. */
static void FL_NAME(fl_row_prob_sums_)(const FL_T* x, const FL_T* t, const FL_T* w,
                                       ptrdiff_t n, FL_T m, double keep, double eps_c,
                                       double* wt, double* wtd)
{
    vd a = vd_set1(0.0), b = a, md = vd_set1((double)m);
    for (ptrdiff_t j = 0; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_V xv = FL_VOP(load_part)(x + j, k, m);
        FL_V tv = FL_VOP(load_part)(t + j, k, 0);
        FL_V wv = FL_VOP(load_part)(w + j, k, 0);
        for (int h = 0; h < FL_HALVES; h++) {
            vd v = FL_NAME(fl_half_)(wv, h) * (FL_NAME(fl_half_)(tv, h) * keep + eps_c);
            a += v;
            b += v * (FL_NAME(fl_half_)(xv, h) - md);
        }
    }
    *wt = vd_hsum(a);
    *wtd = vd_hsum(b);
}

/* g_j = g_j a - b w_j (w NULL: - b), in place */
static void FL_NAME(fl_row_scale_)(FL_T* g, ptrdiff_t n, FL_T a, FL_T b, const FL_T* w)
{
    FL_V va = FL_VOP(set1)(a), vb = FL_VOP(set1)(b);
    ptrdiff_t j = 0;
    if (w == NULL) {
        for (; j + FL_VL <= n; j += FL_VL) FL_VOP(store)(g + j, FL_VOP(load)(g + j) * va - vb);
        if (j < n)
            FL_VOP(store_part)(g + j, FL_VOP(load_part)(g + j, n - j, 0) * va - vb, n - j);
    } else {
        for (; j + FL_VL <= n; j += FL_VL)
            FL_VOP(store)(g + j, FL_VOP(load)(g + j) * va - vb * FL_VOP(load)(w + j));
        if (j < n)
            FL_VOP(store_part)(g + j, FL_VOP(load_part)(g + j, n - j, 0) * va
                               - vb * FL_VOP(load_part)(w + j, n - j, 0), n - j);
    }
}

/* out_j = exp(x_j - m) a - b w_j (w NULL: - b): the exps recomputed from x */
static void FL_NAME(fl_row_expaff_)(const FL_T* x, FL_T* out, ptrdiff_t n, FL_T m, FL_T a,
                                    FL_T b, const FL_T* w)
{
    FL_V vm = FL_VOP(set1)(m), va = FL_VOP(set1)(a), vb = FL_VOP(set1)(b);
    for (ptrdiff_t j = 0; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_V e = FL_VOP(exp_neg)(FL_VOP(load_part)(x + j, k, -INFINITY) - vm);
        FL_V bw = w == NULL ? vb : vb * FL_VOP(load_part)(w + j, k, 0);
        FL_V v = e * va - bw;
        if (k == FL_VL) FL_VOP(store)(out + j, v); else FL_VOP(store_part)(out + j, v, k);
    }
}

/* g_j = e_j a - gw w_j (keep t_j + eps_c), e_j = g_j (stored exps) or, when
 * x != NULL, exp(x_j - m) recomputed */
static void FL_NAME(fl_row_prob_grad_)(const FL_T* x, FL_T m, FL_T* g, const FL_T* t,
                                       const FL_T* w, ptrdiff_t n, FL_T a, FL_T gw,
                                       FL_T keep, FL_T eps_c)
{
    FL_V va = FL_VOP(set1)(a), vg = FL_VOP(set1)(gw), vk = FL_VOP(set1)(keep);
    FL_V ve = FL_VOP(set1)(eps_c), vm = FL_VOP(set1)(m);
    for (ptrdiff_t j = 0; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_V e = x != NULL ? FL_VOP(exp_neg)(FL_VOP(load_part)(x + j, k, -INFINITY) - vm)
                           : FL_VOP(load_part)(g + j, k, 0);
        FL_V tp = FL_VOP(load_part)(t + j, k, 0) * vk + ve;
        FL_V v = e * va - vg * FL_VOP(load_part)(w + j, k, 0) * tp;
        if (k == FL_VL) FL_VOP(store)(g + j, v); else FL_VOP(store_part)(g + j, v, k);
    }
}

/* out_j = (x_j - m) - ls: log_softmax */
static void FL_NAME(fl_row_shift_)(const FL_T* x, FL_T* out, ptrdiff_t n, FL_T m, FL_T ls)
{
    FL_V vm = FL_VOP(set1)(m), vl = FL_VOP(set1)(ls);
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL)
        FL_VOP(store)(out + j, (FL_VOP(load)(x + j) - vm) - vl);
    if (j < n)
        FL_VOP(store_part)(out + j, (FL_VOP(load_part)(x + j, n - j, 0) - vm) - vl, n - j);
}

/* (max, sum exp(x - max)) of one run of a row (a chunk of a long row);
 * m not finite: the run holds NaN (m NaN), else +inf (m +inf), or is all
 * -inf (m -inf, then s is not used). The vector max may have dropped a NaN
 * or +inf for a later -inf, so a max that is not finite is taken again
 * exactly. */
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
 * A group is FL_VL consecutive rows of n classes (n <= P FL_VL). cols[c]
 * lane i is x[i n + c]; the columns from n to P FL_VL hold garbage that no
 * result reads. `inside`: every full vector the loads touch lies in the
 * block (the group is not at its end), so no load needs a mask. */

FL_INLINE void FL_NAME(fl_cols_load_)(const FL_T* xg, ptrdiff_t n, int P, int inside,
                                      FL_V* cols)
{
    for (int p = 0; p < P; p++) {
        ptrdiff_t k = n - p * FL_VL < FL_VL ? n - p * FL_VL : FL_VL;
        FL_V* rr = cols + p * FL_VL;
        for (int i = 0; i < FL_VL; i++) {
            const FL_T* src = xg + i * n + p * FL_VL;
            rr[i] = (inside || k == FL_VL) ? FL_VOP(load)(src) : FL_VOP(load_part)(src, k, 0);
        }
        if (k <= 4)
            FL_VOP(transpose_lo4)(rr);
        else
            FL_VOP(transpose)(rr);
    }
}

/* columns [0, n) of cols back to the group's rows (cols is clobbered) */
FL_INLINE void FL_NAME(fl_cols_store_)(FL_T* og, ptrdiff_t n, int P, FL_V* cols)
{
    for (int p = 0; p < P; p++) {
        ptrdiff_t k = n - p * FL_VL < FL_VL ? n - p * FL_VL : FL_VL;
        FL_V* rr = cols + p * FL_VL;
        if (k <= 4)
            FL_VOP(transpose_lo4_inv)(rr);
        else
            FL_VOP(transpose)(rr);
        for (int i = 0; i < FL_VL; i++) {
            FL_T* dst = og + i * n + p * FL_VL;
            if (k == FL_VL) FL_VOP(store)(dst, rr[i]); else FL_VOP(store_part)(dst, rr[i], k);
        }
    }
}

/* the row max of each lane, as a tree (a short dependency chain) */
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

/* the group's sums of exp(x - m) as double halves; the exps replace the
 * columns when keep_e */
FL_INLINE void FL_NAME(fl_cols_sumexp_)(FL_V* cols, ptrdiff_t n, FL_V m, int keep_e, vd* s)
{
    vd s0 = vd_set1(0.0), s1 = s0;
    ptrdiff_t c = 0;
    for (; c + 2 <= n; c += 2) {
        FL_V e0 = FL_VOP(exp_neg)(cols[c] - m), e1 = FL_VOP(exp_neg)(cols[c + 1] - m);
        if (keep_e) {
            cols[c] = e0;
            cols[c + 1] = e1;
        }
        FL_NAME(fl_acc_)(&s0, &s1, e0 + e1);
    }
    if (c < n) {
        FL_V e0 = FL_VOP(exp_neg)(cols[c] - m);
        if (keep_e) cols[c] = e0;
        FL_NAME(fl_acc_)(&s0, &s1, e0);
    }
    s[0] = s0;
#if FL_IS_FLOAT
    s[1] = s1;
#endif
}

FL_INLINE void FL_NAME(fl_store_halves_)(double* p, const vd* h)
{
    for (int k = 0; k < FL_HALVES; k++) vd_store(p + k * FL_VLD, h[k]);
}

/* log of per-lane sums >= 1 (double halves of FL_VL lanes): in float for
 * float rows (float accuracy relative to the log), in double for double.
 * A NaN sum (a row whose NaN the vector max did not keep, but its exp did)
 * stays NaN. */
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

/* ls[i] = log s[i] for i in [0, cnt) (rounded up to whole vectors of
 * lanes); NaN stays NaN (a special row) */
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

#define FL_SUB 64

typedef struct {
    double m[FL_SUB];      /* row max (logsumexp, log_softmax) */
    double s[FL_SUB];      /* sum exp(x - max): 1 where no log is owed, NaN: special */
    double p0[FL_SUB];     /* CE: x_y - max (index), sum w t' (probabilities) */
    double p1[FL_SUB];     /* CE: sum w (x - max) (index), sum w t' (x - max) (prob.) */
    double wy[FL_SUB];     /* CE index: w_y, 0 where ignored */
    int done[FL_SUB];      /* nothing left for stage 2 */
    int pending;           /* rows not done */
} FL_NAME(fl_sub_);

/* ============================================= logsumexp, softmax family */

/* Stage 1 of a group of rows in lanes, rows i0.. of the sub-block; 0
 * (nothing written) if a row of it is special. */
FL_INLINE int FL_NAME(fl_sm_group_)(int op, const FL_T* xg, FL_T* og, ptrdiff_t n, int P,
                                    int inside, FL_NAME(fl_sub_)* st, ptrdiff_t i0)
{
    FL_V cols[FL_SMALL_PARTS * FL_VL];
    vd s[FL_HALVES], inv[FL_HALVES];
    FL_NAME(fl_cols_load_)(xg, n, P, inside, cols);
    FL_V m = FL_NAME(fl_cols_max_)(cols, n);
    if (FL_VANY(~FL_VOP(finite)(m))) return 0;
    FL_NAME(fl_cols_sumexp_)(cols, n, m, op == FL_SOFTMAX, s);
    for (int i = 0; i < FL_VL; i++) st->done[i0 + i] = 1;    /* nothing for stage 2 */
    if (op == FL_SOFTMAX) {
        for (int h = 0; h < FL_HALVES; h++) inv[h] = 1.0 / s[h];
        FL_V iv = FL_NAME(fl_from_halves_)(inv);
        for (ptrdiff_t c = 0; c < n; c++) cols[c] = cols[c] * iv;
        FL_NAME(fl_cols_store_)(og, n, P, cols);
        return 1;
    }
    FL_NAME(fl_log_sums_)(s, inv);                            /* log s */
    if (op == FL_LSE) {
        for (int h = 0; h < FL_HALVES; h++) inv[h] += FL_NAME(fl_half_)(m, h);
        FL_VOP(store)(og, FL_NAME(fl_from_halves_)(inv));
        return 1;
    }
    FL_V l = FL_NAME(fl_from_halves_)(inv);
    for (ptrdiff_t c = 0; c < n; c++) cols[c] = (cols[c] - m) - l;
    FL_NAME(fl_cols_store_)(og, n, P, cols);
    return 1;
}

/* Stage 1 of one row (contiguous); xr its logits, orow its output (FL_LSE:
 * the row's one value). A log_softmax row of 512 or more classes is
 * finished at once (its log is cheap next to it, and it leaves the cache). */
FL_INLINE void FL_NAME(fl_sm_row_)(int op, const FL_T* xr, FL_T* orow, ptrdiff_t n,
                                   FL_NAME(fl_sub_)* st, ptrdiff_t i)
{
    double m = FL_NAME(fl_vmax_)(xr, n), s;
    st->done[i] = 1;
    if (!(fabs(m) < INFINITY)) {
        if (op == FL_LSE)
            *orow = (FL_T)FL_NAME(fl_row_max_exact_)(xr, n);
        else
            FL_NAME(fl_row_fill_)(orow, n, NAN);
        return;
    }
    s = FL_NAME(fl_vsumexp_)(xr, n, (FL_T)m, op == FL_SOFTMAX ? orow : NULL);
    if (op == FL_SOFTMAX) {
        FL_NAME(fl_row_scale_)(orow, n, (FL_T)(1.0 / s), 0, NULL);
    } else if (op == FL_LOG_SOFTMAX && n >= 512) {
        FL_NAME(fl_row_shift_)(xr, orow, n, (FL_T)m, (FL_T)log(s));
    } else {
        st->done[i] = 0;
        st->pending++;
        st->m[i] = m;
        st->s[i] = s;
    }
}

/* Stage 2 of rows [0, cnt) of a sub-block: out as in fl_softmax_rows_ */
static void FL_NAME(fl_sm_finish_)(int op, const FL_T* x, FL_T* out, ptrdiff_t n,
                                   ptrdiff_t cnt, FL_NAME(fl_sub_)* st)
{
    double ls[FL_SUB] __attribute__((aligned(FL_VBYTES)));
    ptrdiff_t i;
    if (st->pending == 0) return;
    for (i = 0; i < cnt; i++)
        if (st->done[i]) st->s[i] = 1.0;
    for (; i % FL_VL; i++) st->s[i] = 1.0;
    FL_NAME(fl_log_array_)(st->s, ls, cnt);
    for (i = 0; i < cnt; i++) {
        if (st->done[i]) continue;
        if (op == FL_LSE)
            out[i] = (FL_T)(st->m[i] + ls[i]);
        else
            FL_NAME(fl_row_shift_)(x + i * n, out + i * n, n, (FL_T)st->m[i], (FL_T)ls[i]);
    }
}

FL_INLINE void FL_NAME(fl_sm_sub_)(int op, const FL_T* x, FL_T* out, ptrdiff_t cnt,
                                   ptrdiff_t n, int P, const FL_T* end)
{
    FL_NAME(fl_sub_) st;
    ptrdiff_t i = 0;
    const ptrdiff_t ostride = op == FL_LSE ? 1 : n;
    st.pending = 0;
    if (P > 0) {
        for (; i + FL_VL <= cnt; i += FL_VL) {
            const FL_T* xg = x + i * n;
            int inside = xg + (FL_VL - 1) * n + P * FL_VL <= end;
            if (FL_NAME(fl_sm_group_)(op, xg, out + i * ostride, n, P, inside, &st, i))
                continue;
            for (int k = 0; k < FL_VL; k++)
                FL_NAME(fl_sm_row_)(op, x + (i + k) * n, out + (i + k) * ostride, n, &st, i + k);
        }
    }
    for (; i < cnt; i++) FL_NAME(fl_sm_row_)(op, x + i * n, out + i * ostride, n, &st, i);
    FL_NAME(fl_sm_finish_)(op, x, out, n, cnt, &st);
}

/* logsumexp (op FL_LSE: out has one value per row), softmax or log_softmax
 * (out like x, may be x) of rows [0, rows) of x, n >= 1 classes. P: rows of
 * up to FL_SMALL_PARTS vectors go in lanes (P vectors), longer ones (P = 0)
 * one at a time. */
FL_INLINE void FL_NAME(fl_sm_rows_p_)(int op, const FL_T* x, FL_T* out, ptrdiff_t rows,
                                      ptrdiff_t n, int P)
{
    const FL_T* end = x + rows * n;
    for (ptrdiff_t r = 0; r < rows; r += FL_SUB)
        FL_NAME(fl_sm_sub_)(op, x + r * n, out + r * (op == FL_LSE ? 1 : n),
                            rows - r < FL_SUB ? rows - r : FL_SUB, n, P, end);
}

static void FL_NAME(fl_softmax_rows_)(int op, const FL_T* x, FL_T* out, ptrdiff_t rows,
                                      ptrdiff_t n)
{
    switch ((n + FL_VL - 1) / FL_VL) {
    case 1: FL_NAME(fl_sm_rows_p_)(op, x, out, rows, n, 1); return;
    case 2: FL_NAME(fl_sm_rows_p_)(op, x, out, rows, n, 2); return;
    case 3: FL_NAME(fl_sm_rows_p_)(op, x, out, rows, n, 3); return;
    case 4: FL_NAME(fl_sm_rows_p_)(op, x, out, rows, n, 4); return;
    default: FL_NAME(fl_sm_rows_p_)(op, x, out, rows, n, 0);
    }
}

/* ========================================================= cross-entropy */

typedef struct {
    int mode;              /* FL_CE_INDEX or FL_CE_PROB */
    ptrdiff_t n;           /* classes */
    const int64_t* y;      /* FL_CE_INDEX: class of each row, checked in range */
    int64_t ignore_index;
    const FL_T* t;         /* FL_CE_PROB: probability targets, like x */
    const FL_T* w;         /* class weights (ones when not given) */
    int unit_w;            /* every weight is 1 */
    double w_total;        /* sum of the weights */
    double eps;            /* label smoothing */
    FL_T* loss;            /* per-row loss, or NULL */
    FL_T* grad;            /* gradient like x, or NULL; may be x */
    double g_scale;        /* the gradient of row r is g_scale go[r] d loss_r / d x_r */
    const FL_T* go;        /* upstream gradient per row (stride go_stride), or NULL */
    ptrdiff_t go_stride;
} FL_NAME(fl_ce_args_);

FL_INLINE double FL_NAME(fl_ce_gscale_)(const FL_NAME(fl_ce_args_)* a, ptrdiff_t r)
{
    return a->go != NULL ? a->g_scale * (double)a->go[r * a->go_stride] : a->g_scale;
}

/* Stage 1 of one row r (sub-block index i): statistics and gradient. */
FL_INLINE void FL_NAME(fl_ce_row_)(const FL_NAME(fl_ce_args_)* a, const FL_T* x, ptrdiff_t r,
                                   FL_NAME(fl_sub_)* st, ptrdiff_t i)
{
    const ptrdiff_t n = a->n;
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const FL_T* xr = x + r * n;
    FL_T* gr = a->grad != NULL ? a->grad + r * n : NULL;
    int64_t y = 0;
    double m, s;
    st->s[i] = 1.0;
    st->p0[i] = st->p1[i] = st->wy[i] = 0.0;
    if (a->mode == FL_CE_INDEX) {
        y = a->y[r];
        if (y == a->ignore_index) {          /* never read */
            if (gr != NULL) FL_NAME(fl_row_fill_)(gr, n, 0);
            return;
        }
        st->wy[i] = a->w[y];
    }
    m = FL_NAME(fl_vmax_)(xr, n);
    if (!(fabs(m) < INFINITY)) {
        st->s[i] = NAN;
        if (gr != NULL) FL_NAME(fl_row_fill_)(gr, n, NAN);
        return;
    }
    /* everything read from x before the exps may overwrite it */
    if (a->mode == FL_CE_INDEX) {
        st->p0[i] = (double)xr[y] - m;
        if (eps > 0.0)
            st->p1[i] = FL_NAME(fl_row_wdiff_)(xr, a->unit_w ? NULL : a->w, n, (FL_T)m);
    } else {
        FL_NAME(fl_row_prob_sums_)(xr, a->t + r * n, a->w, n, (FL_T)m, keep, eps_c,
                                   &st->p0[i], &st->p1[i]);
    }
    s = st->s[i] = FL_NAME(fl_vsumexp_)(xr, n, (FL_T)m, gr);
    if (gr == NULL) return;
    double gs = FL_NAME(fl_ce_gscale_)(a, r);
    if (a->mode == FL_CE_INDEX) {
        double wy = a->w[y], coef = keep * wy + eps_c * a->w_total, ey = gr[y];
        FL_NAME(fl_row_scale_)(gr, n, (FL_T)(gs * coef / s), (FL_T)(gs * eps_c),
                               (a->unit_w || eps == 0.0) ? NULL : a->w);
        gr[y] = (FL_T)(gs * (ey / s * coef - eps_c * wy - keep * wy));
    } else {
        FL_NAME(fl_row_prob_grad_)(NULL, 0, gr, a->t + r * n, a->w, n, (FL_T)(gs * st->p0[i] / s),
                                   (FL_T)gs, (FL_T)keep, (FL_T)eps_c);
    }
}

/* The gradient of a group of rows in lanes is g_c = e_c A - B w_c (index
 * targets) or e_c A - B w_c t'_c (probability targets), e_c = exp(x_c - m):
 * A and B per lane from the row's grad scale gs, its target weight WY, its
 * sum s, and (probability targets) its sum of weighted targets wt (q0). */
FL_INLINE void FL_NAME(fl_grad_ab_)(const FL_NAME(fl_ce_args_)* a, const double* gs, FL_V WY,
                                    const vd* s, const vd* q0, FL_V* A, FL_V* B)
{
    const double eps_c = a->eps / a->n, keep = 1.0 - a->eps;
    vd ca[FL_HALVES], cb[FL_HALVES];
    for (int h = 0; h < FL_HALVES; h++) {
        vd g = vd_load(gs + h * FL_VLD);
        if (a->mode == FL_CE_INDEX) {
            ca[h] = g * (keep * FL_NAME(fl_half_)(WY, h) + eps_c * a->w_total) / s[h];
            cb[h] = g * eps_c;
        } else {
            ca[h] = g * q0[h] / s[h];
            cb[h] = g;
        }
    }
    *A = FL_NAME(fl_from_halves_)(ca);
    *B = FL_NAME(fl_from_halves_)(cb);
}

/* Stage 1 of a group of FL_VL rows in lanes from row r0 (sub-block index
 * i0); 0 (nothing written) if a row that is not ignored is special. */
FL_INLINE int FL_NAME(fl_ce_group_)(const FL_NAME(fl_ce_args_)* a, const FL_T* x,
                                    ptrdiff_t r0, int P, int inside, FL_NAME(fl_sub_)* st,
                                    ptrdiff_t i0)
{
    const ptrdiff_t n = a->n;
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const int index = a->mode == FL_CE_INDEX, want_grad = a->grad != NULL;
    FL_V cols[FL_SMALL_PARTS * FL_VL], tcols[FL_SMALL_PARTS * FL_VL];
    FL_T xyv[FL_VL] __attribute__((aligned(FL_VBYTES)));
    FL_T wyv[FL_VL] __attribute__((aligned(FL_VBYTES)));
    FL_T okv[FL_VL] __attribute__((aligned(FL_VBYTES)));
    double gs[FL_VL] __attribute__((aligned(FL_VBYTES)));
    double ey[FL_VL];
    ptrdiff_t yy[FL_VL];
    vd s[FL_HALVES], q0[FL_HALVES], q1[FL_HALVES];
    const FL_T* xg = x + r0 * n;
    int i, h;
    for (i = 0; i < FL_VL; i++) {
        int ok = 1;
        yy[i] = 0;
        if (index) {
            int64_t y = a->y[r0 + i];
            ok = y != a->ignore_index;
            yy[i] = ok ? (ptrdiff_t)y : 0;
        }
        okv[i] = (FL_T)ok;
        xyv[i] = xg[i * n + yy[i]];
        wyv[i] = !ok ? (FL_T)0 : a->unit_w ? (FL_T)1 : a->w[yy[i]];
        if (want_grad) gs[i] = ok ? FL_NAME(fl_ce_gscale_)(a, r0 + i) : 0.0;
    }
    const FL_V OK = FL_VOP(load)(okv), XY = FL_VOP(load)(xyv), WY = FL_VOP(load)(wyv);
    FL_NAME(fl_cols_load_)(xg, n, P, inside, cols);
    FL_V m = FL_NAME(fl_cols_max_)(cols, n);
    /* an ignored row's lane is computed too, whatever it holds, and dropped */
    if (FL_VANY((OK != 0) & ~FL_VOP(finite)(m))) return 0;
    for (h = 0; h < FL_HALVES; h++) q0[h] = q1[h] = vd_set1(0.0);
    if (!index) {
        /* wt (q0) and wtd (q1) of the targets t' = keep t + eps_c */
        FL_NAME(fl_cols_load_)(a->t + r0 * n, n, P, inside, tcols);
        for (ptrdiff_t c = 0; c < n; c++) {
            FL_V d = cols[c] - m;
            for (h = 0; h < FL_HALVES; h++) {
                vd v = a->w[c] * (FL_NAME(fl_half_)(tcols[c], h) * keep + eps_c);
                q0[h] += v;
                q1[h] += v * FL_NAME(fl_half_)(d, h);
            }
        }
    } else {
        /* x_y - m (q0), and sum_c w_c (x_c - m) (q1) */
        for (h = 0; h < FL_HALVES; h++) q0[h] = FL_NAME(fl_half_)(XY - m, h);
        if (eps > 0.0)
            for (ptrdiff_t c = 0; c < n; c++) {
                FL_V d = cols[c] - m;
                for (h = 0; h < FL_HALVES; h++) q1[h] += a->w[c] * FL_NAME(fl_half_)(d, h);
            }
    }
    FL_NAME(fl_cols_sumexp_)(cols, n, m, want_grad, s);
    for (h = 0; h < FL_HALVES; h++) {
        /* ignored rows: no log owed, nothing added */
        vi64 ok = FL_NAME(fl_half_)(OK, h) != vd_set1(0.0);
        vd_store(st->s + i0 + h * FL_VLD, vd_select(ok, s[h], vd_set1(1.0)));
        vd_store(st->p0 + i0 + h * FL_VLD, vd_select(ok, q0[h], vd_set1(0.0)));
        vd_store(st->p1 + i0 + h * FL_VLD, vd_select(ok, q1[h], vd_set1(0.0)));
        vd_store(st->wy + i0 + h * FL_VLD, FL_NAME(fl_half_)(WY, h));
    }
    if (!want_grad) return 1;
    /* gradient: g_c = e_c A - B w_c (index), e_c A - B w_c t'_c (prob) */
    FL_V A, B;
    FL_NAME(fl_grad_ab_)(a, gs, WY, s, q0, &A, &B);
    if (index) {
        for (i = 0; i < FL_VL; i++) ey[i] = (double)cols[yy[i]][i];
        if (a->unit_w || eps == 0.0)
            for (ptrdiff_t c = 0; c < n; c++) cols[c] = cols[c] * A - B;
        else
            for (ptrdiff_t c = 0; c < n; c++) cols[c] = cols[c] * A - B * a->w[c];
    } else {
        for (ptrdiff_t c = 0; c < n; c++)
            cols[c] = cols[c] * A - B * (a->w[c] * ((FL_T)keep * tcols[c] + (FL_T)eps_c));
    }
    FL_T* gg = a->grad + r0 * n;
    FL_NAME(fl_cols_store_)(gg, n, P, cols);
    if (index) {
        double sv[FL_VL];
        FL_NAME(fl_store_halves_)(sv, s);
        for (i = 0; i < FL_VL; i++) {
            if (okv[i] == 0) {
                FL_NAME(fl_row_fill_)(gg + i * n, n, 0);
                continue;
            }
            double wyi = wyv[i], c0 = keep * wyi + eps_c * a->w_total;
            gg[i * n + yy[i]] = (FL_T)(gs[i] * (ey[i] / sv[i] * c0 - eps_c * wyi - keep * wyi));
        }
    }
    return 1;
}

/* Stage 2 of rows [r0, r0 + cnt): the logs, the parts (main = w_y (lse -
 * x_y) for index targets, the whole loss for probability targets; smooth =
 * sum_c w_c (lse - x_c), the label-smoothing term of index targets), the
 * per-row losses ((1 - eps) main + eps / n smooth with smoothing); adds the
 * parts to sums in row order. An ignored row has s = 1 and no parts, a
 * special row s = NaN. */
static void FL_NAME(fl_ce_finish_)(const FL_NAME(fl_ce_args_)* a, ptrdiff_t r0, ptrdiff_t cnt,
                                   FL_NAME(fl_sub_)* st, double* sums)
{
    const double eps = a->eps, eps_c = a->eps / a->n;
    const int index = a->mode == FL_CE_INDEX;
    double val[FL_SUB] __attribute__((aligned(FL_VBYTES)));
    vd sm = vd_set1(0.0), ss = sm;
    ptrdiff_t i;
    double lsa[FL_SUB] __attribute__((aligned(FL_VBYTES)));
    for (i = cnt; i % FL_VL; i++) {
        st->s[i] = 1.0;
        st->p0[i] = st->p1[i] = st->wy[i] = 0.0;
    }
    FL_NAME(fl_log_array_)(st->s, lsa, cnt);
    for (i = 0; i < cnt; i += FL_VLD) {
        vd ls = vd_load(lsa + i), main, smooth = vd_set1(0.0);
        vd p0 = vd_load(st->p0 + i), p1 = vd_load(st->p1 + i);
        if (index) {
            main = vd_load(st->wy + i) * (ls - p0);
            if (eps > 0.0) smooth = ls * a->w_total - p1;
        } else {
            main = ls * p0 - p1;
        }
        sm += main;
        ss += smooth;
        vd_store(val + i, index && eps > 0.0 ? (1.0 - eps) * main + eps_c * smooth : main);
    }
    sums[0] += vd_hsum(sm);
    sums[1] += vd_hsum(ss);
    if (a->loss != NULL)
        for (i = 0; i < cnt; i++) a->loss[r0 + i] = (FL_T)val[i];
}

FL_INLINE void FL_NAME(fl_ce_rows_p_)(const FL_NAME(fl_ce_args_)* a, const FL_T* x,
                                      ptrdiff_t r0, ptrdiff_t r1, int P, double* sums)
{
    const ptrdiff_t n = a->n;
    const FL_T* end = x + r1 * n;
    FL_NAME(fl_sub_) st;
    for (ptrdiff_t b = r0; b < r1; b += FL_SUB) {
        ptrdiff_t cnt = r1 - b < FL_SUB ? r1 - b : FL_SUB, i = 0;
        if (P > 0) {
            for (; i + FL_VL <= cnt; i += FL_VL) {
                int inside = x + (b + i + FL_VL - 1) * n + P * FL_VL <= end;
                if (FL_NAME(fl_ce_group_)(a, x, b + i, P, inside, &st, i)) continue;
                for (int k = 0; k < FL_VL; k++) FL_NAME(fl_ce_row_)(a, x, b + i + k, &st, i + k);
            }
        }
        for (; i < cnt; i++) FL_NAME(fl_ce_row_)(a, x, b + i, &st, i);
        FL_NAME(fl_ce_finish_)(a, b, cnt, &st, sums);
    }
}

/* Cross-entropy of rows [r0, r1) of x (contiguous rows of a->n >= 1
 * classes): per-row losses and gradients as a asks; adds the rows' parts
 * (main, smooth) to sums[0], sums[1]. */
static void FL_NAME(fl_ce_rows_)(const FL_NAME(fl_ce_args_)* a, const FL_T* x, ptrdiff_t r0,
                                 ptrdiff_t r1, double* sums)
{
    switch ((a->n + FL_VL - 1) / FL_VL) {
    case 1: FL_NAME(fl_ce_rows_p_)(a, x, r0, r1, 1, sums); return;
    case 2: FL_NAME(fl_ce_rows_p_)(a, x, r0, r1, 2, sums); return;
    case 3: FL_NAME(fl_ce_rows_p_)(a, x, r0, r1, 3, sums); return;
    case 4: FL_NAME(fl_ce_rows_p_)(a, x, r0, r1, 4, sums); return;
    default: FL_NAME(fl_ce_rows_p_)(a, x, r0, r1, 0, sums);
    }
}

/* ===================================================== inner class axis
 *
 * x is (n_outer, n, inner), inner > 1 (PyTorch's (N, C, d...) with the class
 * axis 1): the rows (o, i) of consecutive i lie in consecutive lanes, class c
 * at stride inner, so a group of up to FL_VL rows (o, i .. i + k) is read by
 * plain vector loads, masked at the end of the inner axis, with no
 * transpose. Lanes of special rows are computed too and then overwritten. */

FL_INLINE FL_V FL_NAME(fl_in_load_)(const FL_T* p, ptrdiff_t k)
{
    return k == FL_VL ? FL_VOP(load)(p) : FL_VOP(load_part)(p, k, 0);
}

FL_INLINE void FL_NAME(fl_in_store_)(FL_T* p, FL_V v, ptrdiff_t k)
{
    if (k == FL_VL) FL_VOP(store)(p, v); else FL_VOP(store_part)(p, v, k);
}

/* per lane: 1 where the mask is set, else 0, as double halves */
FL_INLINE vi64 FL_NAME(fl_mask_half_)(FL_VI mask, int h)
{
    FL_V v = FL_VOP(select)(mask, FL_VOP(set1)(1), FL_VOP(set1)(0));
    return FL_NAME(fl_half_)(v, h) != vd_set1(0.0);
}

/* logsumexp (out: x's shape without the class axis, at row (o, 0)),
 * softmax or log_softmax (out like x) of the rows (o, i0 .. i0 + cnt);
 * xo, oo point at row (o, 0) */
static void FL_NAME(fl_softmax_inner_)(int op, const FL_T* xo, FL_T* oo, ptrdiff_t n,
                                       ptrdiff_t inner, ptrdiff_t i0, ptrdiff_t cnt)
{
    for (ptrdiff_t i = i0; i < i0 + cnt; i += FL_VL) {
        ptrdiff_t k = i0 + cnt - i < FL_VL ? i0 + cnt - i : FL_VL, c;
        const FL_T* xg = xo + i;
        double exact[FL_VL];
        vd s[FL_HALVES] = {0}, ls[FL_HALVES];
        int h;
        FL_V m = FL_NAME(fl_in_load_)(xg, k);
        for (c = 1; c < n; c++) m = FL_VOP(max)(m, FL_NAME(fl_in_load_)(xg + c * inner, k));
        FL_VI bad = ~FL_VOP(finite)(m);
        int any_bad = FL_VANY(bad);
        if (any_bad)          /* before an in-place softmax overwrites them */
            for (int j = 0; j < k; j++)
                exact[j] = bad[j] ? FL_NAME(fl_strided_max_exact_)(xg + j, n, inner) : 0.0;
        for (c = 0; c < n; c++) {
            FL_V e = FL_VOP(exp_neg)(FL_NAME(fl_in_load_)(xg + c * inner, k) - m);
            if (op == FL_SOFTMAX) FL_NAME(fl_in_store_)(oo + c * inner + i, e, k);
            FL_NAME(fl_acc_)(&s[0], &s[FL_HALVES - 1], e);
        }
        if (op == FL_SOFTMAX) {
            for (h = 0; h < FL_HALVES; h++) ls[h] = 1.0 / s[h];
            FL_V inv = FL_NAME(fl_from_halves_)(ls);
            for (c = 0; c < n; c++) {
                FL_T* p = oo + c * inner + i;
                FL_NAME(fl_in_store_)(p, FL_NAME(fl_in_load_)(p, k) * inv, k);
            }
        } else {
            FL_NAME(fl_log_sums_)(s, ls);
            if (op == FL_LSE) {
                for (h = 0; h < FL_HALVES; h++) ls[h] += FL_NAME(fl_half_)(m, h);
                FL_NAME(fl_in_store_)(oo + i, FL_NAME(fl_from_halves_)(ls), k);
            } else {
                FL_V l = FL_NAME(fl_from_halves_)(ls);
                for (c = 0; c < n; c++)
                    FL_NAME(fl_in_store_)(oo + c * inner + i,
                                          (FL_NAME(fl_in_load_)(xg + c * inner, k) - m) - l, k);
            }
        }
        if (any_bad)
            for (int j = 0; j < k; j++) {
                if (!bad[j]) continue;
                if (op == FL_LSE)
                    oo[i + j] = (FL_T)exact[j];
                else
                    FL_NAME(fl_strided_fill_)(oo + i + j, n, inner, NAN);
            }
    }
}

/* Cross-entropy of the rows (o, i0 .. i0 + cnt) of x (n_outer, a->n,
 * inner): as fl_ce_rows_, the rows in lanes; adds their parts to sums */
static void FL_NAME(fl_ce_inner_)(const FL_NAME(fl_ce_args_)* a, const FL_T* x, ptrdiff_t o,
                                  ptrdiff_t inner, ptrdiff_t i0, ptrdiff_t cnt, double* sums)
{
    const ptrdiff_t n = a->n, base = o * n * inner;
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const int index = a->mode == FL_CE_INDEX, want_grad = a->grad != NULL;
    const FL_T* xo = x + base;
    FL_T* go = want_grad ? a->grad + base : NULL;
    for (ptrdiff_t i = i0; i < i0 + cnt; i += FL_VL) {
        ptrdiff_t k = i0 + cnt - i < FL_VL ? i0 + cnt - i : FL_VL, c, r0 = o * inner + i;
        FL_T xyv[FL_VL] __attribute__((aligned(FL_VBYTES)));
        FL_T wyv[FL_VL] __attribute__((aligned(FL_VBYTES)));
        FL_T okv[FL_VL] __attribute__((aligned(FL_VBYTES)));
        double gs[FL_VL] __attribute__((aligned(FL_VBYTES)));
        double sv[FL_VL], ey[FL_VL];
        ptrdiff_t yy[FL_VL];
        vd s[FL_HALVES] = {0}, ls[FL_HALVES], q0[FL_HALVES], q1[FL_HALVES], coef[FL_HALVES];
        const FL_T* xg = xo + i;
        int j, h;
        for (j = 0; j < FL_VL; j++) {
            int ok = j < k;
            yy[j] = 0;
            if (ok && index) {
                int64_t y = a->y[r0 + j];
                ok = y != a->ignore_index;
                yy[j] = ok ? (ptrdiff_t)y : 0;
            }
            okv[j] = (FL_T)ok;
            xyv[j] = ok && index ? xg[yy[j] * inner + j] : 0;
            wyv[j] = ok && index && !a->unit_w ? a->w[yy[j]] : (FL_T)1;
            gs[j] = ok && want_grad ? FL_NAME(fl_ce_gscale_)(a, r0 + j) : 0.0;
        }
        const FL_V OK = FL_VOP(load)(okv), XY = FL_VOP(load)(xyv), WY = FL_VOP(load)(wyv);
        FL_V m = FL_NAME(fl_in_load_)(xg, k);
        for (c = 1; c < n; c++) m = FL_VOP(max)(m, FL_NAME(fl_in_load_)(xg + c * inner, k));
        FL_VI bad = (OK != 0) & ~FL_VOP(finite)(m);
        for (h = 0; h < FL_HALVES; h++) q0[h] = q1[h] = vd_set1(0.0);
        if (!index || eps > 0.0) {
            for (c = 0; c < n; c++) {
                FL_V d = FL_NAME(fl_in_load_)(xg + c * inner, k) - m;
                FL_V tv = index ? FL_VOP(set1)(0) : FL_NAME(fl_in_load_)(a->t + base + c * inner + i, k);
                for (h = 0; h < FL_HALVES; h++) {
                    vd v = index ? vd_set1((double)a->w[c])
                                 : a->w[c] * (FL_NAME(fl_half_)(tv, h) * keep + eps_c);
                    q0[h] += v;
                    q1[h] += v * FL_NAME(fl_half_)(d, h);
                }
            }
        }
        for (c = 0; c < n; c++) {
            FL_V e = FL_VOP(exp_neg)(FL_NAME(fl_in_load_)(xg + c * inner, k) - m);
            if (want_grad) FL_NAME(fl_in_store_)(go + c * inner + i, e, k);
            FL_NAME(fl_acc_)(&s[0], &s[FL_HALVES - 1], e);
        }
        FL_NAME(fl_log_sums_)(s, ls);
        for (h = 0; h < FL_HALVES; h++) {
            vd zero = vd_set1(0.0), main, smooth;
            vi64 ok = FL_NAME(fl_mask_half_)(OK != 0, h);
            vi64 nan_lane = FL_NAME(fl_mask_half_)(bad, h);
            if (index) {
                main = FL_NAME(fl_half_)(WY, h) * (ls[h] - FL_NAME(fl_half_)(XY - m, h));
                smooth = eps > 0.0 ? vd_select(ok, ls[h] * a->w_total - q1[h], zero) : zero;
                main = vd_select(ok, main, zero);
                if (eps > 0.0) smooth = vd_select(nan_lane, vd_set1(NAN), smooth);
            } else {
                main = vd_select(ok, ls[h] * q0[h] - q1[h], zero);
                smooth = zero;
            }
            main = vd_select(nan_lane, vd_set1(NAN), main);
            sums[0] += vd_hsum(main);
            sums[1] += vd_hsum(smooth);
            coef[h] = index && eps > 0.0 ? (1.0 - eps) * main + (eps / n) * smooth : main;
        }
        if (a->loss != NULL)
            FL_NAME(fl_in_store_)(a->loss + r0, FL_NAME(fl_from_halves_)(coef), k);
        if (want_grad) {
            for (h = 0; h < FL_HALVES; h++) vd_store(sv + h * FL_VLD, s[h]);
            FL_V A, B;
            FL_NAME(fl_grad_ab_)(a, gs, WY, s, q0, &A, &B);
            if (index)
                for (j = 0; j < k; j++) ey[j] = okv[j] != 0 ? (double)go[yy[j] * inner + i + j] : 0.0;
            for (c = 0; c < n; c++) {
                FL_T* p = go + c * inner + i;
                FL_V e = FL_NAME(fl_in_load_)(p, k), g;
                if (index)
                    g = e * A - ((a->unit_w || eps == 0.0) ? B : B * a->w[c]);
                else
                    g = e * A - B * (a->w[c] * ((FL_T)keep * FL_NAME(fl_in_load_)(
                                     a->t + base + c * inner + i, k) + (FL_T)eps_c));
                FL_NAME(fl_in_store_)(p, g, k);
            }
            for (j = 0; j < k; j++) {
                if (okv[j] == 0)
                    FL_NAME(fl_strided_fill_)(go + i + j, n, inner, 0);
                else if (bad[j])
                    FL_NAME(fl_strided_fill_)(go + i + j, n, inner, NAN);
                else if (index) {
                    double wyi = wyv[j], c0 = keep * wyi + eps_c * a->w_total;
                    go[yy[j] * inner + i + j] = (FL_T)(gs[j] * (ey[j] / sv[j] * c0 - eps_c * wyi
                                                                - keep * wyi));
                }
            }
        }
    }
}

/* ===================================================== elementwise losses */

/* The loss and gradient of n elements; x, t contiguous; w, pw, go each a
 * contiguous run, or NULL for the single value w1, pw1, go1. loss / grad
 * are written unless NULL; returns the sum of the losses (double). */
static double FL_NAME(fl_binary_run_)(int mode, const FL_T* x, const FL_T* t,
                                      const FL_T* w, FL_T w1, const FL_T* pw, FL_T pw1,
                                      const FL_T* go, FL_T go1, double g_scale,
                                      FL_T* loss, FL_T* grad, ptrdiff_t n)
{
    vd a0 = vd_set1(0.0), a1 = a0;
    const FL_V one = FL_VOP(set1)(1), zero = FL_VOP(set1)(0);
    const FL_V gsc = FL_VOP(set1)((FL_T)g_scale);
    for (ptrdiff_t j = 0; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        int full = k == FL_VL;
        FL_V xv = full ? FL_VOP(load)(x + j) : FL_VOP(load_part)(x + j, k, 0);
        FL_V tv = full ? FL_VOP(load)(t + j) : FL_VOP(load_part)(t + j, k, 0);
        FL_V wv = w == NULL ? FL_VOP(set1)(w1) : FL_VOP(load_part)(w + j, k, 0);
        FL_V v, g = zero;
        if (mode == FL_BCE_LOGITS) {
            FL_V pwv = pw == NULL ? FL_VOP(set1)(pw1) : FL_VOP(load_part)(pw + j, k, 0);
            FL_V ax = FL_VOP(max)(xv, -xv);                  /* |x| */
            FL_V ez = FL_VOP(exp_neg)(-ax);                  /* exp(-|x|) */
            FL_V L = FL_VOP(log1p)(ez);                      /* log(1 + exp(-|x|)) */
            FL_V c = one + (pwv - one) * tv;                 /* 1 + (pw - 1) t */
            /* (1 - t) x - c logsigmoid(x), written without cancellation:
             * x >= 0: (1 - t) x + c L; x < 0: -pw t x + c L; and at x = -inf
             * NaN, as torch's (1 - t) x + c (-x) */
            typeof(xv > xv) pos = xv >= zero;
            v = wv * (FL_VOP(select)(pos, (one - tv) * xv, -(pwv * tv) * xv) + c * L);
            v = FL_VOP(select)(xv == -INFINITY, FL_VOP(set1)(NAN), v);
            if (grad != NULL) {
                /* c sigmoid(x) - pw t, from q = sigmoid(-|x|) */
                FL_V q = ez / (one + ez);
                g = FL_VOP(select)(pos, (one - tv) - c * q, c * q - pwv * tv);
            }
        } else if (mode == FL_BCE_PROB) {
            /* torch: each log clamped at -100 */
            FL_V l1 = FL_VOP(max)(FL_VOP(set1)(-100), FL_VOP(log)(xv));
            FL_V l0 = FL_VOP(max)(FL_VOP(set1)(-100), FL_VOP(log1p)(-xv));
            v = -(wv * (tv * l1 + (one - tv) * l0));
            if (grad != NULL) {
                FL_V den = FL_VOP(max)((one - xv) * xv, FL_VOP(set1)((FL_T)FL_BCE_EPSILON));
                g = (xv - tv) / den;
            }
        } else {
            FL_V d = xv - tv;
            v = d * d;
            g = d + d;
            wv = one;
        }
        if (grad != NULL) {
            FL_V gov = go == NULL ? FL_VOP(set1)(go1) : FL_VOP(load_part)(go + j, k, 0);
            g = (gsc * gov) * (wv * g);
            if (full) FL_VOP(store)(grad + j, g); else FL_VOP(store_part)(grad + j, g, k);
        }
        if (loss != NULL) {
            if (full) FL_VOP(store)(loss + j, v); else FL_VOP(store_part)(loss + j, v, k);
        }
        if (!full) v = FL_VOP(select)(FL_VOP(lane_lt)(k), v, zero);
        FL_NAME(fl_acc_)(&a0, &a1, v);
    }
    return vd_hsum(a0 + a1);
}

/* ================================================== floors, for benchmarks */

static double FL_NAME(fl_sum_)(const FL_T* x, ptrdiff_t n)
{
    vd a0 = vd_set1(0.0), a1 = a0;
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) FL_NAME(fl_acc_)(&a0, &a1, FL_VOP(load)(x + j));
    if (j < n) FL_NAME(fl_acc_)(&a0, &a1, FL_VOP(load_part)(x + j, n - j, 0));
    return vd_hsum(a0 + a1);
}

static void FL_NAME(fl_copy_)(const FL_T* x, FL_T* out, ptrdiff_t n)
{
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) FL_VOP(store)(out + j, FL_VOP(load)(x + j));
    if (j < n) FL_VOP(store_part)(out + j, FL_VOP(load_part)(x + j, n - j, 0), n - j);
}

#undef FL_HALVES
