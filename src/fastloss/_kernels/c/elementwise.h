/* elementwise.h: the elementwise losses (BCE with logits, BCE, MSE) over a
 * contiguous run of elements, for one element type (a template, see rows.h).
 * The formulas are points.h's. */
#ifndef FL_T
#error "elementwise.h is a template: kernels.h includes it once per element type"
#endif

/* ===================================================== elementwise losses */

/* fl_binary_run_f, fl_binary_run_d: the loss and gradient of n elements; x, t
 * contiguous; w, pw, go each a contiguous run, or NULL for the single value
 * w1, pw1, go1. loss / grad are written unless NULL; returns the sum of the
 * losses (double). */
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
            v = FL_NAME(fl_bce_logits_)(xv, tv, wv, pwv);
            if (grad != NULL) g = FL_NAME(fl_bce_logits_grad_)(xv, tv, pwv);
        } else if (mode == FL_BCE_PROB) {
            v = FL_NAME(fl_bce_prob_)(xv, tv, wv);
            if (grad != NULL) g = FL_NAME(fl_bce_prob_grad_)(xv, tv);
        } else {
            v = FL_NAME(fl_mse_)(xv, tv);
            g = FL_NAME(fl_mse_grad_)(xv, tv);
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
