/* softmax.h: logsumexp, softmax and log_softmax of blocks of rows, for one
 * element type (a template, see rows.h). op is FL_LSE (one value per row),
 * FL_SOFTMAX or FL_LOG_SOFTMAX (out like x, may be x). */
#ifndef FL_T
#error "softmax.h is a template: kernels.h includes it once per element type"
#endif

/* ============================================= logsumexp, softmax family */

/* fl_sm_group_f, fl_sm_group_d: a group of `rows` rows in lanes (see rows.h),
 * done in stage 1. A special row (its max not finite) is computed with the
 * others and its result then replaced by the exact one: logsumexp its exact
 * max (+inf, -inf or NaN), softmax and log_softmax NaN. */
FL_INLINE void FL_NAME(fl_sm_group_)(int op, const FL_T* xg, FL_T* og, ptrdiff_t n, int P,
                                     int inside, ptrdiff_t rows, FL_NAME(fl_sub_)* st,
                                     ptrdiff_t i0)
{
    FL_V cols[FL_SMALL_PARTS * FL_VL];
    vd s[FL_HALVES], inv[FL_HALVES];
    double exact[FL_VL];
    FL_NAME(fl_cols_load_)(xg, n, P, inside, rows, cols);
    FL_V m = FL_NAME(fl_cols_max_)(cols, n);
    FL_VI bad = ~FL_VOP(finite)(m) & FL_VOP(lane_lt)(rows);
    int any_bad = FL_VANY(bad);
    if (any_bad && op == FL_LSE)
        for (int i = 0; i < rows; i++)
            exact[i] = bad[i] ? FL_NAME(fl_row_max_exact_)(xg + i * n, n) : 0.0;
    FL_NAME(fl_cols_sumexp_)(cols, n, m, op == FL_SOFTMAX, s);
    for (int i = 0; i < FL_VL; i++) st->done[i0 + i] = 1;    /* nothing for stage 2 */
    if (op == FL_SOFTMAX) {
        for (int h = 0; h < FL_HALVES; h++) inv[h] = 1.0 / s[h];
        FL_V iv = FL_NAME(fl_from_halves_)(inv);
        for (ptrdiff_t c = 0; c < n; c++) cols[c] = cols[c] * iv;
    } else {
        FL_NAME(fl_log_sums_)(s, inv);                        /* log s */
        if (op == FL_LSE) {
            for (int h = 0; h < FL_HALVES; h++)
                inv[h] = fl_lse(FL_NAME(fl_half_)(m, h), inv[h]);
            FL_V lse = FL_NAME(fl_from_halves_)(inv);
            if (rows == FL_VL) FL_VOP(store)(og, lse); else FL_VOP(store_part)(og, lse, rows);
            for (int i = 0; any_bad && i < rows; i++)
                if (bad[i]) og[i] = (FL_T)exact[i];
            return;
        }
        FL_V l = FL_NAME(fl_from_halves_)(inv);
        for (ptrdiff_t c = 0; c < n; c++) cols[c] = fl_log_softmax(cols[c], m, l);
    }
    FL_NAME(fl_cols_store_)(og, n, P, rows, cols);
    for (int i = 0; any_bad && i < rows; i++)
        if (bad[i]) FL_NAME(fl_row_fill_)(og + i * n, n, NAN);
}

/* fl_sm_row_f, fl_sm_row_d: stage 1 of one row (contiguous); xr its logits,
 * orow its output (FL_LSE: the row's one value). A log_softmax row of 512 or
 * more classes is finished at once (its log is cheap next to it, and it leaves
 * the cache). */
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

/* fl_sm_row2_f, fl_sm_row2_d: fl_sm_row_ of rows i and i + 1 whose stage 1 is
 * their sums (logsumexp; log_softmax of fewer than 512 classes), the two
 * rows' exps in one loop */
FL_INLINE void FL_NAME(fl_sm_row2_)(int op, const FL_T* xr, FL_T* orow, ptrdiff_t ostride,
                                    ptrdiff_t n, FL_NAME(fl_sub_)* st, ptrdiff_t i)
{
    double m0 = FL_NAME(fl_vmax_)(xr, n), m1 = FL_NAME(fl_vmax_)(xr + n, n);
    if (!(fabs(m0) < INFINITY) || !(fabs(m1) < INFINITY)) {     /* each alone */
        FL_NAME(fl_sm_row_)(op, xr, orow, n, st, i);
        FL_NAME(fl_sm_row_)(op, xr + n, orow + ostride, n, st, i + 1);
        return;
    }
    FL_NAME(fl_vsumexp2_)(xr, xr + n, n, (FL_T)m0, (FL_T)m1, &st->s[i], &st->s[i + 1]);
    st->done[i] = st->done[i + 1] = 0;
    st->pending += 2;
    st->m[i] = m0;
    st->m[i + 1] = m1;
}

/* fl_sm_finish_f, fl_sm_finish_d: stage 2 of rows [0, cnt) of a sub-block: out
 * as in fl_softmax_rows_ */
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
            out[i] = (FL_T)fl_lse(st->m[i], ls[i]);
        else
            FL_NAME(fl_row_shift_)(x + i * n, out + i * n, n, (FL_T)st->m[i], (FL_T)ls[i]);
    }
}

/* fl_sm_sub_f, fl_sm_sub_d */
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
            fl_prefetch_ahead(xg, FL_VL * n * (ptrdiff_t)sizeof(FL_T), 0);
            if (op != FL_LSE)
                fl_prefetch_ahead(out + i * n, FL_VL * n * (ptrdiff_t)sizeof(FL_T), 1);
            FL_NAME(fl_sm_group_)(op, xg, out + i * ostride, n, P, inside, FL_VL, &st, i);
        }
        if (i < cnt) {              /* the last, partial group: the same lane arithmetic */
            FL_NAME(fl_sm_group_)(op, x + i * n, out + i * ostride, n, P, 0, cnt - i, &st, i);
            i = cnt;
        }
    }
    if (op != FL_SOFTMAX && n < FL_PAIRS_BELOW)
        for (; i + 2 <= cnt; i += 2)
            FL_NAME(fl_sm_row2_)(op, x + i * n, out + i * ostride, ostride, n, &st, i);
    for (; i < cnt; i++) FL_NAME(fl_sm_row_)(op, x + i * n, out + i * ostride, n, &st, i);
    FL_NAME(fl_sm_finish_)(op, x, out, n, cnt, &st);
}

/* fl_sm_rows_p_f, fl_sm_rows_p_d: logsumexp (op FL_LSE: out has one value per
 * row), softmax or log_softmax (out like x, may be x) of rows [0, rows) of x,
 * n >= 1 classes. P: rows of up to FL_SMALL_PARTS vectors go in lanes (P
 * vectors), longer ones (P = 0) one at a time. */
FL_INLINE void FL_NAME(fl_sm_rows_p_)(int op, const FL_T* x, FL_T* out, ptrdiff_t rows,
                                      ptrdiff_t n, int P)
{
    const FL_T* end = x + rows * n;
    for (ptrdiff_t r = 0; r < rows; r += FL_SUB)
        FL_NAME(fl_sm_sub_)(op, x + r * n, out + r * (op == FL_LSE ? 1 : n),
                            rows - r < FL_SUB ? rows - r : FL_SUB, n, P, end);
}

/* fl_softmax_rows_f, fl_softmax_rows_d */
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

/* fl_softmax_inner_f, fl_softmax_inner_d: logsumexp (out: x's shape without
 * the class axis, at row (o, 0)), softmax or log_softmax (out like x) of the
 * rows (o, i0 .. i0 + cnt); xo, oo point at row (o, 0) */
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
            FL_VOP(acc)(&s[0], &s[FL_HALVES - 1], e);
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
                for (h = 0; h < FL_HALVES; h++) ls[h] = fl_lse(FL_NAME(fl_half_)(m, h), ls[h]);
                FL_NAME(fl_in_store_)(oo + i, FL_NAME(fl_from_halves_)(ls), k);
            } else {
                FL_V l = FL_NAME(fl_from_halves_)(ls);
                for (c = 0; c < n; c++)
                    FL_NAME(fl_in_store_)(oo + c * inner + i,
                                          fl_log_softmax(FL_NAME(fl_in_load_)(xg + c * inner, k),
                                                         m, l), k);
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
