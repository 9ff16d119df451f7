/* softmax_backward.h: the backward passes of softmax and log_softmax, and
 * SciPy's weighted logsumexp, for one element type (a template, see rows.h).
 *
 * Backward: the vector-Jacobian products from the saved output y and the
 * upstream gradient g of a row, as torch's _softmax_backward_data:
 *   softmax (op FL_SOFTMAX):          in_c = y_c (g_c - sum_k g_k y_k)
 *   log_softmax (op FL_LOG_SOFTMAX):  in_c = g_c - exp(y_c) sum_k g_k
 * The row sum is taken in double (a float product is exact in double), and
 * so is each output element, rounded once to the element type; exp(y) is the
 * element type's vector exp of any sign (vf_exp within 2 ulp, vd_exp 4), so
 * that float32 rows do not pay for a double exp, and a y above 0 (not a
 * log-probability) costs nothing more. A NaN in g
 * or y reaches the whole row through the sum, as in torch. `out` may be g
 * or y itself: each output element is written after the row's sum, from
 * the inputs at its own position.
 *
 * Weighted logsumexp (scipy.special.logsumexp with b): the log of
 * |S| = |sum_k b_k exp(x_k)| and the sign of S, with x_k taken as -inf
 * where b_k == 0 (SciPy's convention: such an element adds nothing, even
 * inf or NaN), shifted by the row max m of those x: S = e^m sum_k b_k
 * exp(x_k - m). A row whose m is not finite is summed directly,
 * sum_k b_k exp(x_k) in double (as SciPy does for the results that are not
 * finite): +inf terms of both signs give NaN, no terms give S = 0 (-inf). */
#ifndef FL_T
#error "softmax_backward.h is a template: kernels.h includes it once per element type"
#endif

/* ============================================ softmax, log_softmax backward */

/* fl_smb_acc_f, fl_smb_acc_d: a[h] += the lanes' g y (softmax) or g
 * (log_softmax), in double */
FL_INLINE void FL_NAME(fl_smb_acc_)(int op, vd* a, FL_V g, FL_V y)
{
    for (int h = 0; h < FL_HALVES; h++) {
        vd gh = FL_NAME(fl_half_)(g, h);
        a[h] += op == FL_SOFTMAX ? gh * FL_NAME(fl_half_)(y, h) : gh;
    }
}

/* fl_smb_out_f, fl_smb_out_d: the output lanes from g, y and the lanes' row
 * sums s (double halves), computed in double and rounded once */
FL_INLINE FL_V FL_NAME(fl_smb_out_)(int op, FL_V g, FL_V y, const vd* s)
{
    vd r[FL_HALVES];
    const FL_V e = op == FL_SOFTMAX ? y : FL_VOP(exp)(y);
    for (int h = 0; h < FL_HALVES; h++) {
        vd gh = FL_NAME(fl_half_)(g, h), yh = FL_NAME(fl_half_)(y, h);
        r[h] = op == FL_SOFTMAX ? yh * (gh - s[h]) : gh - FL_NAME(fl_half_)(e, h) * s[h];
    }
    return FL_NAME(fl_from_halves_)(r);
}

/* fl_smb_sum_f, fl_smb_sum_d: sum_j g_j y_j (softmax) or sum_j g_j
 * (log_softmax) of a contiguous run of n elements, in double */
static double FL_NAME(fl_smb_sum_)(int op, const FL_T* g, const FL_T* y, ptrdiff_t n)
{
    vd a[FL_HALVES] = {0}, b[FL_HALVES] = {0};
    ptrdiff_t j = 0;
    for (; j + 2 * FL_VL <= n; j += 2 * FL_VL) {          /* two chains */
        FL_NAME(fl_smb_acc_)(op, a, FL_VOP(load)(g + j), FL_VOP(load)(y + j));
        FL_NAME(fl_smb_acc_)(op, b, FL_VOP(load)(g + j + FL_VL), FL_VOP(load)(y + j + FL_VL));
    }
    for (; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_NAME(fl_smb_acc_)(op, a, FL_NAME(fl_in_load_)(g + j, k),
                             FL_NAME(fl_in_load_)(y + j, k));
    }
    for (int h = 1; h < FL_HALVES; h++) a[0] += a[h];
    for (int h = 1; h < FL_HALVES; h++) b[0] += b[h];
    return vd_hsum(a[0] + b[0]);
}

/* fl_smb_apply_f, fl_smb_apply_d: the outputs of a contiguous run of n
 * elements of a row whose sum (fl_smb_sum_) is s */
static void FL_NAME(fl_smb_apply_)(int op, const FL_T* g, const FL_T* y, FL_T* out,
                                   ptrdiff_t n, double s)
{
    vd sv[FL_HALVES];
    for (int h = 0; h < FL_HALVES; h++) sv[h] = vd_set1(s);
    for (ptrdiff_t j = 0; j < n; j += FL_VL) {
        ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
        FL_V v = FL_NAME(fl_smb_out_)(op, FL_NAME(fl_in_load_)(g + j, k),
                                      FL_NAME(fl_in_load_)(y + j, k), sv);
        FL_NAME(fl_in_store_)(out + j, v, k);
    }
}

/* fl_smb_group_f, fl_smb_group_d: a group of `rows` (1 <= rows <= FL_VL)
 * consecutive rows of n <= P FL_VL classes, rows in lanes (see rows.h):
 * every load of the group before its stores */
FL_INLINE void FL_NAME(fl_smb_group_)(int op, const FL_T* gg, const FL_T* yg, FL_T* og,
                                      ptrdiff_t n, int P, int inside, ptrdiff_t rows)
{
    FL_V gc[FL_SMALL_PARTS * FL_VL], yc[FL_SMALL_PARTS * FL_VL];
    vd s[FL_HALVES] = {0};
    ptrdiff_t c;
    FL_NAME(fl_cols_load_)(gg, n, P, inside, rows, gc);
    FL_NAME(fl_cols_load_)(yg, n, P, inside, rows, yc);
    for (c = 0; c < n; c++) FL_NAME(fl_smb_acc_)(op, s, gc[c], yc[c]);
    for (c = 0; c < n; c++) gc[c] = FL_NAME(fl_smb_out_)(op, gc[c], yc[c], s);
    FL_NAME(fl_cols_store_)(og, n, P, rows, gc);
}

/* fl_smb_rows_p_f, fl_smb_rows_p_d: rows [0, rows) of n classes, contiguous,
 * n <= P FL_VL in lanes (P > 0), else (P = 0) one at a time */
FL_INLINE void FL_NAME(fl_smb_rows_p_)(int op, const FL_T* g, const FL_T* y, FL_T* out,
                                       ptrdiff_t rows, ptrdiff_t n, int P)
{
    ptrdiff_t r = 0;
    if (P > 0) {
        for (; r + FL_VL <= rows; r += FL_VL) {
            /* the full-vector loads of the group's last row stay in the block */
            int inside = (r + FL_VL - 1) * n + P * FL_VL <= rows * n;
            FL_NAME(fl_smb_group_)(op, g + r * n, y + r * n, out + r * n, n, P, inside, FL_VL);
        }
        if (r < rows)              /* the last, partial group: the same lane arithmetic */
            FL_NAME(fl_smb_group_)(op, g + r * n, y + r * n, out + r * n, n, P, 0, rows - r);
        return;
    }
    for (; r < rows; r++) {
        double s = FL_NAME(fl_smb_sum_)(op, g + r * n, y + r * n, n);
        FL_NAME(fl_smb_apply_)(op, g + r * n, y + r * n, out + r * n, n, s);
    }
}

/* fl_softmax_backward_rows_f, fl_softmax_backward_rows_d: rows [0, rows) of
 * n classes, contiguous (a block: no load reads past its end); out like g
 * (may be g or y) */
static void FL_NAME(fl_softmax_backward_rows_)(int op, const FL_T* g, const FL_T* y,
                                               FL_T* out, ptrdiff_t rows, ptrdiff_t n)
{
    switch ((n + FL_VL - 1) / FL_VL) {
    case 1: FL_NAME(fl_smb_rows_p_)(op, g, y, out, rows, n, 1); return;
    case 2: FL_NAME(fl_smb_rows_p_)(op, g, y, out, rows, n, 2); return;
    case 3: FL_NAME(fl_smb_rows_p_)(op, g, y, out, rows, n, 3); return;
    case 4: FL_NAME(fl_smb_rows_p_)(op, g, y, out, rows, n, 4); return;
    default: FL_NAME(fl_smb_rows_p_)(op, g, y, out, rows, n, 0);
    }
}

/* fl_softmax_backward_inner_f, fl_softmax_backward_inner_d: the rows
 * (o, i0 .. i0 + cnt) of an inner class axis (see rows.h), rows in lanes;
 * go, yo, oo point at row (o, 0) */
static void FL_NAME(fl_softmax_backward_inner_)(int op, const FL_T* go, const FL_T* yo,
                                                FL_T* oo, ptrdiff_t n, ptrdiff_t inner,
                                                ptrdiff_t i0, ptrdiff_t cnt)
{
    for (ptrdiff_t i = i0; i < i0 + cnt; i += FL_VL) {
        ptrdiff_t k = i0 + cnt - i < FL_VL ? i0 + cnt - i : FL_VL, c;
        vd s[FL_HALVES] = {0};
        for (c = 0; c < n; c++)
            FL_NAME(fl_smb_acc_)(op, s, FL_NAME(fl_in_load_)(go + c * inner + i, k),
                                 FL_NAME(fl_in_load_)(yo + c * inner + i, k));
        for (c = 0; c < n; c++) {
            ptrdiff_t off = c * inner + i;
            FL_NAME(fl_in_store_)(oo + off,
                                  FL_NAME(fl_smb_out_)(op, FL_NAME(fl_in_load_)(go + off, k),
                                                       FL_NAME(fl_in_load_)(yo + off, k), s),
                                  k);
        }
    }
}

/* ==================================================== weighted logsumexp */

/* fl_wlse_direct_f, fl_wlse_direct_d: sum_k b_k exp(x_k) over b_k != 0, in
 * double, with the C library's exp: a row whose max is not finite */
static double FL_NAME(fl_wlse_direct_)(const FL_T* x, const FL_T* b, ptrdiff_t n)
{
    double s = 0.0;
    for (ptrdiff_t j = 0; j < n; j++)
        if (b[j] != 0) s += (double)b[j] * exp((double)x[j]);
    return s;
}

/* fl_wlse_rows_f, fl_wlse_rows_d: rows [0, rows) of n elements, contiguous:
 * out[r] = log |S_r| and, unless sign is NULL, sign[r] = the sign of S_r
 * (1, -1, 0, or NaN); without sign a negative S_r gives NaN (SciPy's
 * logsumexp without return_sign) */
static void FL_NAME(fl_wlse_rows_)(const FL_T* x, const FL_T* b, FL_T* out, FL_T* sign,
                                   ptrdiff_t rows, ptrdiff_t n)
{
    const FL_V ninf = FL_VOP(set1)(-INFINITY), zero = FL_VOP(set1)(0);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const FL_T* xr = x + r * n;
        const FL_T* br = b + r * n;
        FL_V mv = ninf;
        ptrdiff_t j;
        double m, s, v;
        for (j = 0; j < n; j += FL_VL) {
            ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
            FL_V xv = FL_VOP(load_part)(xr + j, k, -INFINITY);
            FL_V bv = FL_VOP(load_part)(br + j, k, 0);
            mv = FL_VOP(max)(mv, FL_VOP(select)(bv != zero, xv, ninf));
        }
        m = FL_VOP(hmax)(mv);
        if (fabs(m) < INFINITY) {
            vd a[FL_HALVES] = {0};
            FL_V vm = FL_VOP(set1)((FL_T)m);
            for (j = 0; j < n; j += FL_VL) {
                ptrdiff_t k = n - j < FL_VL ? n - j : FL_VL;
                FL_V bv = FL_VOP(load_part)(br + j, k, 0);
                /* a lane of b = 0 takes exp(0), times 0: not exp(-inf), whose
                 * underflow costs a microcode assist on Intel (vf_exp_part) */
                FL_V xv = FL_VOP(select)(bv != zero, FL_VOP(load_part)(xr + j, k, 0), vm);
                FL_V e = FL_VOP(exp_neg)(xv - vm);   /* a NaN x: NaN, kept by the sum */
                for (int h = 0; h < FL_HALVES; h++)
                    a[h] += FL_NAME(fl_half_)(bv, h) * FL_NAME(fl_half_)(e, h);
            }
            for (int h = 1; h < FL_HALVES; h++) a[0] += a[h];
            s = vd_hsum(a[0]);
        } else {
            s = FL_NAME(fl_wlse_direct_)(xr, br, n);
            m = 0.0;
        }
        v = log(fabs(s)) + m;
        if (sign != NULL)
            sign[r] = (FL_T)(s > 0 ? 1.0 : s < 0 ? -1.0 : s == 0 ? 0.0 : s);
        else if (s < 0)
            v = NAN;
        out[r] = (FL_T)v;
    }
}
