/* cross_entropy.h: cross-entropy of blocks of rows (class-index or
 * probability targets, class weights, ignore_index, label smoothing), per-row
 * losses and gradients in one pass, for one element type (a template, see
 * rows.h). The formulas are points.h's. */
#ifndef FL_T
#error "cross_entropy.h is a template: kernels.h includes it once per element type"
#endif

/* fl_row_wdiff_f, fl_row_wdiff_d: sum_j w_j (x_j - m), w NULL: all ones; in
 * double */
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

/* fl_row_prob_sums_f, fl_row_prob_sums_d: probability targets t' = keep t +
 * eps_c: wt = sum_j w_j t'_j and wtd = sum_j w_j t'_j (x_j - m), in double. */
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
            vd v = FL_NAME(fl_half_)(wv, h) * fl_ce_smoothed_target(FL_NAME(fl_half_)(tv, h),
                                                                    keep, eps_c);
            a += v;
            b += v * (FL_NAME(fl_half_)(xv, h) - md);
        }
    }
    *wt = vd_hsum(a);
    *wtd = vd_hsum(b);
}

/* fl_row_prob_grad_f, fl_row_prob_grad_d: g_j = e_j a - gw w_j (keep t_j +
 * eps_c), e_j = g_j (stored exps) or, when x != NULL, exp(x_j - m) recomputed */
static void FL_NAME(fl_row_prob_grad_)(const FL_T* x, FL_T m, FL_T* g, const FL_T* t,
                                       const FL_T* w, ptrdiff_t n, FL_T a, FL_T gw,
                                       FL_T keep, FL_T eps_c)
{
    FL_V va = FL_VOP(set1)(a), vg = FL_VOP(set1)(gw), vk = FL_VOP(set1)(keep);
    FL_V ve = FL_VOP(set1)(eps_c), vm = FL_VOP(set1)(m);
    for (ptrdiff_t j = 0; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_V e = x != NULL ? FL_VOP(exp_part)(x + j, k, vm)
                           : FL_VOP(load_part)(g + j, k, 0);
        FL_V tp = fl_ce_smoothed_target(FL_VOP(load_part)(t + j, k, 0), vk, ve);
        FL_V v = e * va - vg * FL_VOP(load_part)(w + j, k, 0) * tp;
        if (k == FL_VL) FL_VOP(store)(g + j, v); else FL_VOP(store_part)(g + j, v, k);
    }
}

/* ========================================================= cross-entropy */

/* the arrays of fl_ce_args (kernels.h), of this element type */
#define FL_CE_T(a) ((const FL_T*)(a)->t)
#define FL_CE_W(a) ((const FL_T*)(a)->w)
#define FL_CE_LOSS(a) ((FL_T*)(a)->loss)
#define FL_CE_GRAD(a) ((FL_T*)(a)->grad)
#define FL_CE_GO(a) ((const FL_T*)(a)->go)

/* fl_ce_gscale_f, fl_ce_gscale_d */
FL_INLINE double FL_NAME(fl_ce_gscale_)(const fl_ce_args* a, ptrdiff_t r)
{
    return FL_CE_GO(a) != NULL ? a->g_scale * (double)FL_CE_GO(a)[r * a->go_stride] : a->g_scale;
}

/* fl_ce_head_f, fl_ce_head_d: stage 1 of one row r (sub-block index i) up to
 * its exps: its target's share of the block's checks, its max *mp and what
 * the exps may overwrite (x_y - m, the smoothing sum); 0 when the row is
 * done (ignored, bad target, max not finite: its gradient filled) */
FL_INLINE int FL_NAME(fl_ce_head_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t r,
                                   FL_NAME(fl_sub_)* st, ptrdiff_t i, fl_ce_sums* sums,
                                   FL_T* mp)
{
    const ptrdiff_t n = a->n;
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const FL_T* xr = x + r * n;
    FL_T* gr = FL_CE_GRAD(a) != NULL ? FL_CE_GRAD(a) + r * n : NULL;
    int64_t y = 0;
    double m;
    st->s[i] = 1.0;
    st->p0[i] = st->p1[i] = st->wy[i] = 0.0;
    if (a->mode == FL_CE_INDEX) {
        y = a->y[r];                         /* read once, checked, then used */
        if (!fl_target_ok(sums, r, y, n, a->ignore_index)) {   /* never read */
            if (gr != NULL) FL_NAME(fl_row_fill_)(gr, n, 0);
            return 0;
        }
        st->wy[i] = FL_CE_W(a)[y];
    }
    m = FL_NAME(fl_vmax_)(xr, n);
    if (!(fabs(m) < INFINITY)) {
        st->s[i] = NAN;
        if (gr != NULL) FL_NAME(fl_row_fill_)(gr, n, NAN);
        return 0;
    }
    /* everything read from x before the exps may overwrite it */
    if (a->mode == FL_CE_INDEX) {
        st->p0[i] = (double)xr[y] - m;
        if (eps > 0.0)
            st->p1[i] = FL_NAME(fl_row_wdiff_)(xr, a->unit_w ? NULL : FL_CE_W(a), n, (FL_T)m);
    } else {
        FL_NAME(fl_row_prob_sums_)(xr, FL_CE_T(a) + r * n, FL_CE_W(a), n, (FL_T)m, keep, eps_c,
                                   &st->p0[i], &st->p1[i]);
    }
    *mp = (FL_T)m;
    return 1;
}

/* fl_ce_row_f, fl_ce_row_d: stage 1 of one row r (sub-block index i):
 * statistics and gradient; its target's share of the block's checks. */
FL_INLINE void FL_NAME(fl_ce_row_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t r,
                                   FL_NAME(fl_sub_)* st, ptrdiff_t i, fl_ce_sums* sums)
{
    const ptrdiff_t n = a->n;
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const FL_T* xr = x + r * n;
    FL_T* gr = FL_CE_GRAD(a) != NULL ? FL_CE_GRAD(a) + r * n : NULL;
    FL_T m;
    double s;
    if (!FL_NAME(fl_ce_head_)(a, x, r, st, i, sums, &m)) return;
    if (gr == NULL) {       /* a copy of the pass without its stores' test */
        st->s[i] = FL_NAME(fl_vsumexp_)(xr, n, m, NULL);
        return;
    }
    s = st->s[i] = FL_NAME(fl_vsumexp_)(xr, n, m, gr);
    double gs = FL_NAME(fl_ce_gscale_)(a, r);
    if (a->mode == FL_CE_INDEX) {
        int64_t y = a->y[r];
        double wy = FL_CE_W(a)[y], coef = fl_ce_coef(keep, eps_c, wy, a->w_total), ey = gr[y];
        FL_NAME(fl_row_scale_)(gr, n, (FL_T)fl_ce_softmax_scale(gs, coef, s), (FL_T)(gs * eps_c),
                               (a->unit_w || eps == 0.0) ? NULL : FL_CE_W(a));
        gr[y] = (FL_T)fl_ce_target_grad(gs, ey, s, coef, eps_c, keep, wy);
    } else {
        FL_NAME(fl_row_prob_grad_)(NULL, 0, gr, FL_CE_T(a) + r * n, FL_CE_W(a), n,
                                   (FL_T)fl_ce_softmax_scale(gs, st->p0[i], s), (FL_T)gs,
                                   (FL_T)keep, (FL_T)eps_c);
    }
}

/* fl_ce_row2_f, fl_ce_row2_d: fl_ce_row_ of rows r and r + 1 (indices i, i +
 * 1) without a gradient, the two rows' exps in one loop where both are owed */
FL_INLINE void FL_NAME(fl_ce_row2_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t r,
                                    FL_NAME(fl_sub_)* st, ptrdiff_t i, fl_ce_sums* sums)
{
    const ptrdiff_t n = a->n;
    FL_T m0 = 0, m1 = 0;
    int k0 = FL_NAME(fl_ce_head_)(a, x, r, st, i, sums, &m0);
    int k1 = FL_NAME(fl_ce_head_)(a, x, r + 1, st, i + 1, sums, &m1);
    if (k0 && k1) {
        FL_NAME(fl_vsumexp2_)(x + r * n, x + (r + 1) * n, n, m0, m1, &st->s[i], &st->s[i + 1]);
    } else {
        if (k0) st->s[i] = FL_NAME(fl_vsumexp_)(x + r * n, n, m0, NULL);
        if (k1) st->s[i + 1] = FL_NAME(fl_vsumexp_)(x + (r + 1) * n, n, m1, NULL);
    }
}

/* fl_grad_ab_f, fl_grad_ab_d: the gradient of a group of rows in lanes is g_c
 * = e_c A - B w_c (index targets) or e_c A - B w_c t'_c (probability targets),
 * e_c = exp(x_c - m): A and B per lane from the row's grad scale gs, its
 * target weight WY, its sum s, and (probability targets) its sum of weighted
 * targets wt (q0). */
FL_INLINE void FL_NAME(fl_grad_ab_)(const fl_ce_args* a, const double* gs, FL_V WY,
                                    const vd* s, const vd* q0, FL_V* A, FL_V* B)
{
    const double eps_c = a->eps / a->n, keep = 1.0 - a->eps;
    vd ca[FL_HALVES], cb[FL_HALVES];
    for (int h = 0; h < FL_HALVES; h++) {
        vd g = vd_load(gs + h * FL_VLD);
        if (a->mode == FL_CE_INDEX) {
            vd coef = fl_ce_coef(keep, eps_c, FL_NAME(fl_half_)(WY, h), a->w_total);
            ca[h] = fl_ce_softmax_scale(g, coef, s[h]);
            cb[h] = g * eps_c;
        } else {
            ca[h] = fl_ce_softmax_scale(g, q0[h], s[h]);
            cb[h] = g;
        }
    }
    *A = FL_NAME(fl_from_halves_)(ca);
    *B = FL_NAME(fl_from_halves_)(cb);
}

/* fl_group_targets_f, fl_group_targets_d: the class-index targets of a
 * group's first `rows` rows from r0, each read once and checked in vectors
 * (fl_targets_lanes: their checksum shares added to *check, the first bad
 * one recorded in sums): returns the lanes whose target is a class (all
 * ones); *Y holds their targets, 0 in the other lanes */
FL_INLINE FL_VI FL_NAME(fl_group_targets_)(const fl_ce_args* a, ptrdiff_t r0, ptrdiff_t rows,
                                           vu64* check, fl_ce_sums* sums, FL_VI* Y)
{
    vi64 ok[FL_HALVES], yc[FL_HALVES], yv[FL_HALVES], out[FL_HALVES], any_out = {0};
    for (int h = 0; h < FL_HALVES; h++) {
        ptrdiff_t k = rows - h * FL_VLD;
        vu64 mix;
        k = k < 0 ? 0 : k < FL_VLD ? k : FL_VLD;
        yv[h] = k > 0 ? fl_targets_load(a->y + r0 + h * FL_VLD, k) : (vi64){0};
        ok[h] = fl_targets_lanes(yv[h], k, r0 + h * FL_VLD, a->n, a->ignore_index, &mix,
                                 &out[h]);
        *check += mix;
        any_out |= out[h];
        yc[h] = yv[h] & ok[h];
    }
    if (vi64_any(any_out))
        for (int h = 0; h < FL_HALVES; h++) fl_targets_bad(sums, out[h], yv[h], r0 + h * FL_VLD);
#if FL_IS_FLOAT
#if FL_AVX2
    /* the low 32 bits of each 64-bit lane (x86 is little-endian; targets < n,
     * masks all ones): [a0 a2 b0 b2 | a4 a6 b4 b6] as 32-bit lanes, then the
     * 64-bit quarters in order 0 2 1 3 */
    __m256 yt = _mm256_shuffle_ps((__m256)yc[0], (__m256)yc[1], 0x88);
    __m256 kt = _mm256_shuffle_ps((__m256)ok[0], (__m256)ok[1], 0x88);
    *Y = (vi32)_mm256_permute4x64_pd((__m256d)yt, 0xD8);
    return (vi32)_mm256_permute4x64_pd((__m256d)kt, 0xD8);
#else
    typedef int32_t half32 __attribute__((vector_size(FL_VBYTES / 2)));
    half32 y0 = __builtin_convertvector(yc[0], half32), y1 = __builtin_convertvector(yc[1], half32);
    half32 k0 = __builtin_convertvector(ok[0], half32), k1 = __builtin_convertvector(ok[1], half32);
    *Y = __builtin_shufflevector(y0, y1, 0, 1, 2, 3);
    return __builtin_shufflevector(k0, k1, 0, 1, 2, 3);
#endif
#else
    *Y = yc[0];
    return ok[0];
#endif
}

/* fl_col_eq_f, fl_col_eq_d: the lanes of *D that are 0, and *D - 1 after:
 * walking the columns c = 0, 1, ... from *D = Y, the lanes whose target is
 * c. The empty asm hides *D's value from the compiler, which would otherwise
 * compare Y with a constant built anew for each column (three instructions
 * more per column). */
FL_INLINE FL_VI FL_NAME(fl_col_eq_)(FL_VI* D)
{
    FL_VI eq = *D == (FL_VI){0};
    *D -= 1;
#if defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+x"(*D));
#else
    __asm__("" : "+w"(*D));
#endif
    return eq;
}

/* fl_ce_group_f, fl_ce_group_d: stage 1 of a group of `rows` rows in lanes
 * from row r0 (sub-block index i0), see rows.h. The targets are checked and
 * picked in lanes: x_y and e_y by a compare per column, the gradient at y
 * computed in double lanes and put in place by the same compare. A special
 * row that is not ignored (its max not finite) is computed with the others,
 * then given the exact results: s NaN (a NaN loss in stage 2), a NaN
 * gradient. */
FL_INLINE void FL_NAME(fl_ce_group_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t n,
                                     ptrdiff_t r0, int P, int inside, ptrdiff_t rows,
                                     FL_NAME(fl_sub_)* st, ptrdiff_t i0, vu64* check,
                                     fl_ce_sums* sums)
{
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const int index = a->mode == FL_CE_INDEX, want_grad = FL_CE_GRAD(a) != NULL;
    FL_V cols[FL_SMALL_PARTS * FL_VL], tcols[FL_SMALL_PARTS * FL_VL];
    double gs[FL_VL] __attribute__((aligned(FL_VBYTES)));
    vd s[FL_HALVES], q0[FL_HALVES], q1[FL_HALVES];
    const FL_T* xg = x + r0 * n;
    const FL_VI in_rows = FL_VOP(lane_lt)(rows);     /* lanes past the rows: dropped */
    FL_VI Y = {0}, OKI = in_rows;
    FL_V XM = FL_VOP(set1)(0);     /* x_y - m (index targets) */
    int i, h;
    if (index) OKI = FL_NAME(fl_group_targets_)(a, r0, rows, check, sums, &Y);
    const FL_V ONE = FL_VOP(set1)(1), ZERO = FL_VOP(set1)(0);
    const FL_V OK = FL_VOP(select)(OKI, ONE, ZERO);
    FL_V WY = OK;
    if (!a->unit_w)
        for (i = 0; i < FL_VL; i++) WY[i] = OKI[i] ? FL_CE_W(a)[Y[i]] : (FL_T)0;   /* Y < n */
    if (want_grad) {
        if (FL_CE_GO(a) == NULL || a->go_stride == 0)     /* one scale for every row */
            for (h = 0; h < FL_HALVES; h++)
                vd_store(gs + h * FL_VLD, vd_select(FL_NAME(fl_mask_half_)(OKI, h),
                                                    vd_set1(FL_NAME(fl_ce_gscale_)(a, r0)),
                                                    vd_set1(0.0)));
        else
            for (i = 0; i < FL_VL; i++) gs[i] = OKI[i] ? FL_NAME(fl_ce_gscale_)(a, r0 + i) : 0.0;
    }
    FL_NAME(fl_cols_load_x_)(xg, n, P, inside, rows, cols, 1);
    FL_V m = FL_NAME(fl_cols_max_)(cols, n);
    /* an ignored row's lane is computed too, whatever it holds, and dropped;
     * a special row's is replaced */
    const FL_VI bad = OKI & ~FL_VOP(finite)(m);
    const int any_bad = FL_VANY(bad);
    for (h = 0; h < FL_HALVES; h++) q0[h] = q1[h] = vd_set1(0.0);
    if (!index) {
        /* wt (q0) and wtd (q1) of the targets t' = keep t + eps_c */
        FL_NAME(fl_cols_load_)(FL_CE_T(a) + r0 * n, n, P, inside, rows, tcols);
        for (ptrdiff_t c = 0; c < n; c++) {
            FL_V d = cols[c] - m;
            for (h = 0; h < FL_HALVES; h++) {
                vd v = FL_CE_W(a)[c] * fl_ce_smoothed_target(FL_NAME(fl_half_)(tcols[c], h), keep,
                                                       eps_c);
                q0[h] += v;
                q1[h] += v * FL_NAME(fl_half_)(d, h);
            }
        }
    } else {
        /* x_y - m (q0), and sum_c w_c (x_c - m) (q1) */
        FL_V XY = ZERO;
        FL_VI D = Y;
        for (ptrdiff_t c = 0; c < n; c++) XY = FL_VOP(select)(FL_NAME(fl_col_eq_)(&D), cols[c], XY);
        XM = XY - m;
        for (h = 0; h < FL_HALVES; h++) q0[h] = FL_NAME(fl_half_)(XM, h);
        if (eps > 0.0)
            for (ptrdiff_t c = 0; c < n; c++) {
                FL_V d = cols[c] - m;
                for (h = 0; h < FL_HALVES; h++) q1[h] += FL_CE_W(a)[c] * FL_NAME(fl_half_)(d, h);
            }
    }
    if (want_grad)                      /* keep_e a constant in each copy */
        FL_NAME(fl_cols_sumexp_x_)(cols, n, m, 1, s, 1);
    else
        FL_NAME(fl_cols_sumexp_x_)(cols, n, m, 0, s, 1);
    for (h = 0; h < FL_HALVES; h++) {
        /* ignored rows: no log owed, nothing added; special rows: s NaN, no
         * parts (as fl_ce_row_) */
        vi64 ok = FL_NAME(fl_mask_half_)(OKI, h);
        vi64 special = FL_NAME(fl_mask_half_)(bad, h);
        vd_store(st->s + i0 + h * FL_VLD,
                 vd_select(special, vd_set1(NAN), vd_select(ok, s[h], vd_set1(1.0))));
        vd_store(st->p0 + i0 + h * FL_VLD, vd_select(ok & ~special, q0[h], vd_set1(0.0)));
        vd_store(st->p1 + i0 + h * FL_VLD, vd_select(ok & ~special, q1[h], vd_set1(0.0)));
        vd_store(st->wy + i0 + h * FL_VLD, FL_NAME(fl_half_)(WY, h));
    }
    if (!want_grad) return;
    /* gradient: g_c = e_c A - B w_c (index), e_c A - B w_c t'_c (prob) */
    FL_V A, B;
    FL_NAME(fl_grad_ab_)(a, gs, WY, s, q0, &A, &B);
    if (index) {
        /* the target's element: gs (e_y / s coef - eps_c wy - keep wy), in
         * double lanes; e_y = exp(x_y - m) is the column loop's exp of the
         * same value, bit for bit */
        const FL_V EY = FL_VOP(exp_neg)(XM);
        vd tg[FL_HALVES];
        FL_VI D = Y;
        for (h = 0; h < FL_HALVES; h++) {
            vd wy = FL_NAME(fl_half_)(WY, h), g = vd_load(gs + h * FL_VLD);
            vd coef = fl_ce_coef(keep, eps_c, wy, a->w_total);
            tg[h] = fl_ce_target_grad(g, FL_NAME(fl_half_)(EY, h), s[h], coef, eps_c, keep, wy);
        }
        const FL_V TG = FL_NAME(fl_from_halves_)(tg);
        if (a->unit_w || eps == 0.0)
            for (ptrdiff_t c = 0; c < n; c++)
                cols[c] = FL_VOP(select)(FL_NAME(fl_col_eq_)(&D), TG, cols[c] * A - B);
        else
            for (ptrdiff_t c = 0; c < n; c++)
                cols[c] = FL_VOP(select)(FL_NAME(fl_col_eq_)(&D), TG,
                                         cols[c] * A - B * FL_CE_W(a)[c]);
    } else {
        for (ptrdiff_t c = 0; c < n; c++)
            cols[c] = cols[c] * A
                      - B * (FL_CE_W(a)[c]
                             * fl_ce_smoothed_target(tcols[c], (FL_T)keep, (FL_T)eps_c));
    }
    FL_T* gg = FL_CE_GRAD(a) + r0 * n;
    FL_NAME(fl_cols_store_x_)(gg, n, P, rows, cols, 1);
    if (any_bad || FL_VANY(in_rows & ~OKI))
        for (i = 0; i < rows; i++) {
            if (!OKI[i])
                FL_NAME(fl_row_fill_)(gg + i * n, n, 0);
            else if (bad[i])
                FL_NAME(fl_row_fill_)(gg + i * n, n, NAN);
        }
}

/* fl_ce_finish_f, fl_ce_finish_d: stage 2 of rows [r0, r0 + cnt): the logs,
 * the parts (main: the nll part for index targets, the whole loss for
 * probability targets; smooth: the label-smoothing part of index targets), the
 * per-row losses; adds the parts and the targets' weights to sums in row
 * order. An ignored row has s = 1 and no parts, a special row s = NaN. */
static void FL_NAME(fl_ce_finish_)(const fl_ce_args* a, ptrdiff_t r0, ptrdiff_t cnt,
                                   FL_NAME(fl_sub_)* st, fl_ce_sums* sums)
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
            main = fl_ce_nll(vd_load(st->wy + i), ls, p0);
            if (eps > 0.0) smooth = fl_ce_smooth(a->w_total, ls, p1);
        } else {
            main = fl_ce_prob_loss(ls, p0, p1);
        }
        sm += main;
        ss += smooth;
        vd_store(val + i, index ? fl_ce_index_loss(eps, eps_c, main, smooth) : main);
    }
    sums->nll += vd_hsum(sm);
    sums->smooth += vd_hsum(ss);
    double weight = sums->weight;
    for (i = 0; i < cnt; i++) weight += st->wy[i];            /* in row order */
    sums->weight = weight;
    if (FL_CE_LOSS(a) != NULL)
        for (i = 0; i < cnt; i++) FL_CE_LOSS(a)[r0 + i] = (FL_T)val[i];
}

/* fl_ce_rows_p_f, fl_ce_rows_p_d: n is a->n, as a constant where the
 * caller knows it (the column loops of a group are then unrolled) */
FL_INLINE void FL_NAME(fl_ce_rows_p_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t n,
                                      ptrdiff_t r0, ptrdiff_t r1, int P, fl_ce_sums* sums)
{
    const FL_T* end = x + r1 * n;
    FL_NAME(fl_sub_) st;
    vu64 check = {0};           /* the groups' checksum shares, added up at the end */
    for (ptrdiff_t b = r0; b < r1; b += FL_SUB) {
        ptrdiff_t cnt = r1 - b < FL_SUB ? r1 - b : FL_SUB, i = 0;
        if (P > 0) {
            for (; i + FL_VL <= cnt; i += FL_VL) {
                int inside = x + (b + i + FL_VL - 1) * n + P * FL_VL <= end;
                fl_prefetch_ahead(x + (b + i) * n, FL_VL * n * (ptrdiff_t)sizeof(FL_T), 0);
                if (FL_CE_GRAD(a) != NULL)
                    fl_prefetch_ahead(FL_CE_GRAD(a) + (b + i) * n,
                                      FL_VL * n * (ptrdiff_t)sizeof(FL_T), 1);
                FL_NAME(fl_ce_group_)(a, x, n, b + i, P, inside, FL_VL, &st, i, &check, sums);
            }
            if (i < cnt) {          /* the last, partial group: the same lane arithmetic */
                FL_NAME(fl_ce_group_)(a, x, n, b + i, P, 0, cnt - i, &st, i, &check, sums);
                i = cnt;
            }
        }
        if (FL_CE_GRAD(a) == NULL && n < FL_PAIRS_BELOW)
            for (; i + 2 <= cnt; i += 2) FL_NAME(fl_ce_row2_)(a, x, b + i, &st, i, sums);
        for (; i < cnt; i++) FL_NAME(fl_ce_row_)(a, x, b + i, &st, i, sums);
        FL_NAME(fl_ce_finish_)(a, b, cnt, &st, sums);
    }
    sums->check += fl_check_hsum(check);
}

/* fl_ce_rows_few_f, fl_ce_rows_few_d: fl_ce_rows_ of 2 to 16 classes (at
 * most FL_SMALL_PARTS vectors), each count with its own unrolled column
 * loops; a function of its own, so that these copies do not count against
 * the inlining of fl_ce_rows_'s other paths (GCC left fl_ce_finish_ and the
 * row helpers out of line there: 5 % more instructions at 100 classes) */
static __attribute__((noinline)) void FL_NAME(fl_ce_rows_few_)(const fl_ce_args* a,
                                                                const FL_T* x, ptrdiff_t r0,
                                                                ptrdiff_t r1, fl_ce_sums* sums)
{
#define FL_CE_EXACT(k)                                                              \
    case k:                                                                         \
        if (k <= FL_SMALL_PARTS * FL_VL) {                                          \
            FL_NAME(fl_ce_rows_p_)(a, x, k, r0, r1, (k + FL_VL - 1) / FL_VL, sums); \
            return;                                                                 \
        }                                                                           \
        break;
    switch (a->n) {
    FL_CE_EXACT(2) FL_CE_EXACT(3) FL_CE_EXACT(4) FL_CE_EXACT(5) FL_CE_EXACT(6)
    FL_CE_EXACT(7) FL_CE_EXACT(8) FL_CE_EXACT(9) FL_CE_EXACT(10) FL_CE_EXACT(11)
    FL_CE_EXACT(12) FL_CE_EXACT(13) FL_CE_EXACT(14) FL_CE_EXACT(15) FL_CE_EXACT(16)
    default: break;
    }
#undef FL_CE_EXACT
}

/* fl_ce_rows_f, fl_ce_rows_d: cross-entropy of rows [r0, r1) of x (contiguous
 * rows of a->n >= 1 classes): per-row losses and gradients as a asks; adds
 * the rows' parts and checks to sums (one block's, see fl_ce_sums). */
static void FL_NAME(fl_ce_rows_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t r0,
                                 ptrdiff_t r1, fl_ce_sums* sums)
{
    const ptrdiff_t n = a->n;
    if (n >= 2 && n <= 16 && n <= FL_SMALL_PARTS * FL_VL) {
        FL_NAME(fl_ce_rows_few_)(a, x, r0, r1, sums);
        return;
    }
    switch ((n + FL_VL - 1) / FL_VL) {
    case 1: FL_NAME(fl_ce_rows_p_)(a, x, n, r0, r1, 1, sums); return;
    case 2: FL_NAME(fl_ce_rows_p_)(a, x, n, r0, r1, 2, sums); return;
    case 3: FL_NAME(fl_ce_rows_p_)(a, x, n, r0, r1, 3, sums); return;
    case 4: FL_NAME(fl_ce_rows_p_)(a, x, n, r0, r1, 4, sums); return;
    default: FL_NAME(fl_ce_rows_p_)(a, x, n, r0, r1, 0, sums);
    }
}

/* fl_ce_inner_f, fl_ce_inner_d: cross-entropy of the rows (o, i0 .. i0 + cnt)
 * of x (n_outer, a->n, inner): as fl_ce_rows_, the rows in lanes; adds
 * their parts to sums */
static void FL_NAME(fl_ce_inner_)(const fl_ce_args* a, const FL_T* x, ptrdiff_t o,
                                  ptrdiff_t inner, ptrdiff_t i0, ptrdiff_t cnt,
                                  fl_ce_sums* sums)
{
    const ptrdiff_t n = a->n, base = o * n * inner;
    const double eps = a->eps, eps_c = a->eps / n, keep = 1.0 - a->eps;
    const int index = a->mode == FL_CE_INDEX, want_grad = FL_CE_GRAD(a) != NULL;
    const FL_T* xo = x + base;
    FL_T* go = want_grad ? FL_CE_GRAD(a) + base : NULL;
    for (ptrdiff_t i = i0; i < i0 + cnt; i += FL_VL) {
        ptrdiff_t k = i0 + cnt - i < FL_VL ? i0 + cnt - i : FL_VL, c, r0 = o * inner + i;
        FL_T xyv[FL_VL] __attribute__((aligned(FL_VBYTES)));
        FL_T wyv[FL_VL] __attribute__((aligned(FL_VBYTES)));
        FL_T okv[FL_VL] __attribute__((aligned(FL_VBYTES)));
        double gs[FL_VL] __attribute__((aligned(FL_VBYTES)));
        double sv[FL_VL], ey[FL_VL];
        ptrdiff_t yy[FL_VL];
        vd s[FL_HALVES] = {0}, ls[FL_HALVES], q0[FL_HALVES], q1[FL_HALVES], val[FL_HALVES];
        const FL_T* xg = xo + i;
        int j, h;
        for (j = 0; j < FL_VL; j++) {
            int ok = j < k;
            yy[j] = 0;
            if (ok && index) {
                int64_t y = a->y[r0 + j];    /* read once, checked, then used */
                ok = fl_target_ok(sums, r0 + j, y, n, a->ignore_index);
                yy[j] = ok ? (ptrdiff_t)y : 0;
            }
            okv[j] = (FL_T)ok;
            xyv[j] = ok && index ? xg[yy[j] * inner + j] : 0;
            wyv[j] = ok && index && !a->unit_w ? FL_CE_W(a)[yy[j]] : (FL_T)1;
            gs[j] = ok && want_grad ? FL_NAME(fl_ce_gscale_)(a, r0 + j) : 0.0;
            if (ok && index) sums->weight += a->unit_w ? 1.0 : (double)wyv[j];   /* row order */
        }
        const FL_V OK = FL_VOP(load)(okv), XY = FL_VOP(load)(xyv), WY = FL_VOP(load)(wyv);
        FL_V m = FL_NAME(fl_in_load_)(xg, k);
        for (c = 1; c < n; c++) m = FL_VOP(max)(m, FL_NAME(fl_in_load_)(xg + c * inner, k));
        FL_VI bad = (OK != 0) & ~FL_VOP(finite)(m);
        for (h = 0; h < FL_HALVES; h++) q0[h] = q1[h] = vd_set1(0.0);
        if (!index || eps > 0.0) {
            for (c = 0; c < n; c++) {
                FL_V d = FL_NAME(fl_in_load_)(xg + c * inner, k) - m;
                FL_V tv = index ? FL_VOP(set1)(0)
                                : FL_NAME(fl_in_load_)(FL_CE_T(a) + base + c * inner + i, k);
                for (h = 0; h < FL_HALVES; h++) {
                    vd v = index ? vd_set1((double)FL_CE_W(a)[c])
                                 : FL_CE_W(a)[c] * fl_ce_smoothed_target(FL_NAME(fl_half_)(tv, h),
                                                                   keep, eps_c);
                    q0[h] += v;
                    q1[h] += v * FL_NAME(fl_half_)(d, h);
                }
            }
        }
        for (c = 0; c < n; c++) {
            FL_V e = FL_VOP(exp_neg)(FL_NAME(fl_in_load_)(xg + c * inner, k) - m);
            if (want_grad) FL_NAME(fl_in_store_)(go + c * inner + i, e, k);
            FL_VOP(acc)(&s[0], &s[FL_HALVES - 1], e);
        }
        FL_NAME(fl_log_sums_)(s, ls);
        for (h = 0; h < FL_HALVES; h++) {
            vd zero = vd_set1(0.0), main, smooth;
            vi64 ok = FL_NAME(fl_mask_half_)(OK != 0, h);
            vi64 nan_lane = FL_NAME(fl_mask_half_)(bad, h);
            if (index) {
                main = fl_ce_nll(FL_NAME(fl_half_)(WY, h), ls[h], FL_NAME(fl_half_)(XY - m, h));
                smooth = eps > 0.0 ? vd_select(ok, fl_ce_smooth(a->w_total, ls[h], q1[h]), zero)
                                   : zero;
                main = vd_select(ok, main, zero);
                if (eps > 0.0) smooth = vd_select(nan_lane, vd_set1(NAN), smooth);
            } else {
                main = vd_select(ok, fl_ce_prob_loss(ls[h], q0[h], q1[h]), zero);
                smooth = zero;
            }
            main = vd_select(nan_lane, vd_set1(NAN), main);
            sums->nll += vd_hsum(main);
            sums->smooth += vd_hsum(smooth);
            val[h] = index ? fl_ce_index_loss(eps, eps_c, main, smooth) : main;
        }
        if (FL_CE_LOSS(a) != NULL)
            FL_NAME(fl_in_store_)(FL_CE_LOSS(a) + r0, FL_NAME(fl_from_halves_)(val), k);
        if (want_grad) {
            for (h = 0; h < FL_HALVES; h++) vd_store(sv + h * FL_VLD, s[h]);
            FL_V A, B;
            FL_NAME(fl_grad_ab_)(a, gs, WY, s, q0, &A, &B);
            if (index)
                for (j = 0; j < k; j++)
                    ey[j] = okv[j] != 0 ? (double)go[yy[j] * inner + i + j] : 0.0;
            for (c = 0; c < n; c++) {
                FL_T* p = go + c * inner + i;
                FL_V e = FL_NAME(fl_in_load_)(p, k), g;
                if (index)
                    g = e * A - ((a->unit_w || eps == 0.0) ? B : B * FL_CE_W(a)[c]);
                else
                    g = e * A - B * (FL_CE_W(a)[c] * fl_ce_smoothed_target(
                        FL_NAME(fl_in_load_)(FL_CE_T(a) + base + c * inner + i, k), (FL_T)keep,
                        (FL_T)eps_c));
                FL_NAME(fl_in_store_)(p, g, k);
            }
            for (j = 0; j < k; j++) {
                if (okv[j] == 0)
                    FL_NAME(fl_strided_fill_)(go + i + j, n, inner, 0);
                else if (bad[j])
                    FL_NAME(fl_strided_fill_)(go + i + j, n, inner, NAN);
                else if (index) {
                    double wyi = wyv[j], coef = fl_ce_coef(keep, eps_c, wyi, a->w_total);
                    go[yy[j] * inner + i + j] = (FL_T)fl_ce_target_grad(gs[j], ey[j], sv[j], coef,
                                                                        eps_c, keep, wyi);
                }
            }
        }
    }
}

#undef FL_CE_T
#undef FL_CE_W
#undef FL_CE_LOSS
#undef FL_CE_GRAD
#undef FL_CE_GO

/* fl_target_step_f, fl_target_step_d: fl_targets_ of rows [r, r + k), k <=
 * FL_VLD: their checksum shares to *check, their weight to *weight (w NULL:
 * unit weights, counted in *count) */
FL_INLINE void FL_NAME(fl_target_step_)(const int64_t* y, const FL_T* w, ptrdiff_t n,
                                        int64_t ignore_index, ptrdiff_t r, ptrdiff_t k,
                                        vu64* check, vi64* count, double* weight,
                                        fl_ce_sums* sums)
{
    vi64 yv = fl_targets_load(y + r, k), out;
    vu64 mix;
    vi64 ok = fl_targets_lanes(yv, k, r, n, ignore_index, &mix, &out);
    *check += mix;
    fl_targets_bad(sums, out, yv, r);
    if (w == NULL) {
        *count -= ok;                                    /* ok lanes are -1 */
    } else {
        double wsum = *weight;
        for (int i = 0; i < FL_VLD; i++)                 /* in row order */
            if (ok[i]) wsum += (double)w[yv[i]];
        *weight = wsum;
    }
}

/* fl_targets_f, fl_targets_d: the checks of rows [r0, r1) alone, without
 * their logits: the same sums (weight, check, bad) that fl_ce_rows and
 * fl_ce_inner add for those rows (the weight in the same order; with unit
 * weights a count, exact) (the drivers' pass before a gradient whose scale
 * needs the "mean" denominator) */
static void FL_NAME(fl_targets_)(const int64_t* y, const FL_T* w, int unit_w, ptrdiff_t n,
                                 int64_t ignore_index, ptrdiff_t r0, ptrdiff_t r1,
                                 fl_ce_sums* sums)
{
    vu64 check = {0};
    vi64 count = {0};
    double weight = sums->weight;
    const FL_T* wv = unit_w ? NULL : w;
    ptrdiff_t r = r0;
    if (wv == NULL)
        for (; r + FL_VLD <= r1; r += FL_VLD)
            FL_NAME(fl_target_step_)(y, NULL, n, ignore_index, r, FL_VLD, &check, &count,
                                     &weight, sums);
    else
        for (; r + FL_VLD <= r1; r += FL_VLD)
            FL_NAME(fl_target_step_)(y, wv, n, ignore_index, r, FL_VLD, &check, &count,
                                     &weight, sums);
    if (r < r1)
        FL_NAME(fl_target_step_)(y, wv, n, ignore_index, r, r1 - r, &check, &count, &weight,
                                 sums);
    sums->check += fl_check_hsum(check);
    sums->weight = weight + (double)fl_check_hsum((vu64)count);
}
