/* elementwise.h: the elementwise losses (BCE with logits, BCE, MSE; L1,
 * smooth L1, Huber, KL divergence) over a contiguous run of elements, for one
 * element type (a template, see rows.h). The formulas are points.h's. On the
 * avx512 path kernels.h also instantiates the loop (fl_binary_vec_,
 * fl_binary_body_) for the wide vectors, FL_WIDE 1, BCE with logits' only:
 * its exp and log1p take half the instructions there. Each element's loss
 * and gradient are the same arithmetic lane for lane, the same bits as on
 * the avx2 path; the sums group other lanes. (An AMD Zen 5 VM, one thread:
 * 1.0 ns an element on 8 lanes, 1.5 instructions a cycle, far from what its
 * ports allow, the samples piled up at the end of each vector's chain of
 * dependent operations; 0.52 ns on 16. See docs/speed.rst.) */
#ifndef FL_T
#error "elementwise.h is a template: kernels.h includes it once per element type"
#endif

/* ===================================================== elementwise losses */

/* How an operand of fl_binary_body is given: not at all (a weight or
 * positive weight of 1, never multiplied), as one value, or as a run of n
 * elements. */
#ifndef FL_OPERAND_KINDS
#define FL_OPERAND_KINDS
enum { FL_OP_UNIT = 0, FL_OP_ONE = 1, FL_OP_RUN = 2 };
#endif

/* fl_binary_vec_f, fl_binary_vec_d (wide: fl_binary_vec_wf, _wd): the
 * elements j..j+k-1 (k lanes of one vector, k == FL_VL for a full one) of
 * fl_binary_body; returns the losses, unused lanes 0. mode and the kinds
 * are constants where it is inlined.
 * pw1 is the positive weight as one value (BCE with logits), or the mode's
 * parameter (smooth L1's beta, Huber's delta). */
FL_INLINE FL_V FL_VNAME(fl_binary_vec_)(const int mode, const int wk, const int pk,
                                       const int gk, const int want_loss, const int want_grad,
                                       const FL_T* x, const FL_T* t, const FL_T* w,
                                       FL_V w1, const FL_T* pw, FL_V pw1, const FL_T* go,
                                       FL_V go1, FL_V gsc, FL_T* loss, FL_T* grad,
                                       ptrdiff_t j, ptrdiff_t k)
{
    const FL_V zero = FL_VOP(set1)(0);
    const int full = k == FL_VL;
#define FL_LOAD(p, fill) (full ? FL_VOP(load)((p) + j) : FL_VOP(load_part)((p) + j, k, fill))
    FL_V xv = FL_LOAD(x, 0), tv = FL_LOAD(t, 0), v, g = zero;
    FL_V wv = wk == FL_OP_RUN ? FL_LOAD(w, 0) : w1;
    if (mode == FL_BCE_LOGITS) {
        FL_V pwv = pk == FL_OP_RUN ? FL_LOAD(pw, 0) : pw1;
        v = FL_VNAME(fl_bce_logits_)(xv, tv, pwv, pk != FL_OP_UNIT);
        if (want_grad) g = FL_VNAME(fl_bce_logits_grad_)(xv, tv, pwv, pk != FL_OP_UNIT);
    }
#if !FL_WIDE                                   /* the wide loop is BCE with logits' */
    else if (mode == FL_BCE_PROB) {
        v = FL_NAME(fl_bce_prob_)(xv, tv);
        if (want_grad) g = FL_NAME(fl_bce_prob_grad_)(xv, tv);
    } else if (mode == FL_MSE) {
        v = FL_NAME(fl_mse_)(xv, tv);
        g = FL_NAME(fl_mse_grad_)(xv, tv);
    } else if (mode == FL_L1) {
        v = FL_NAME(fl_l1_)(xv, tv);
        if (want_grad) g = FL_NAME(fl_l1_grad_)(xv, tv);
    } else if (mode == FL_SMOOTH_L1) {
        v = FL_NAME(fl_smooth_l1_)(xv, tv, pw1);
        if (want_grad) g = FL_NAME(fl_smooth_l1_grad_)(xv, tv, pw1);
    } else if (mode == FL_HUBER) {
        v = FL_NAME(fl_huber_)(xv, tv, pw1);
        if (want_grad) g = FL_NAME(fl_huber_grad_)(xv, tv, pw1);
    } else if (mode == FL_KL_DIV) {
        v = FL_NAME(fl_kl_div_)(xv, tv);
        if (want_grad) g = -tv;
    } else {                                   /* FL_KL_DIV_LOG */
        v = FL_NAME(fl_kl_div_log_)(xv, tv);
        if (want_grad) g = -FL_VOP(exp)(tv);
    }
#endif
    if (wk != FL_OP_UNIT) {
        v = wv * v;
        g = wv * g;
    }
    if (want_grad) g = (gk == FL_OP_RUN ? gsc * FL_LOAD(go, 0) : go1) * g;
    /* Where two operands of one operation are NaN (x and t, a weight and a
     * loss), which NaN comes out depends on the operand order the compiler
     * chose for that copy of the code (the loop's, the tail's): such results
     * are made the one quiet NaN, so that an element's bits do not depend on
     * where it sits. Smooth L1 and Huber make a NaN of infinities with an
     * infinite beta or delta (inf / inf, inf - inf), the x86 default NaN in
     * one copy and not in another: made the one quiet NaN too. MSE, BCE and
     * L1 without weights have no such operation (x - t is not commutative). */
    if (mode == FL_BCE_LOGITS || mode == FL_KL_DIV || mode == FL_KL_DIV_LOG
        || mode == FL_SMOOTH_L1 || mode == FL_HUBER
        || wk != FL_OP_UNIT || gk == FL_OP_RUN) {
        const FL_V nan = FL_VOP(set1)(NAN);
        v = FL_VOP(select)(v == v, v, nan);
        if (want_grad) g = FL_VOP(select)(g == g, g, nan);
    }
    if (want_grad) {
        if (full) FL_VOP(store)(grad + j, g); else FL_VOP(store_part)(grad + j, g, k);
    }
    if (want_loss) {
        if (full) FL_VOP(store)(loss + j, v); else FL_VOP(store_part)(loss + j, v, k);
    }
#undef FL_LOAD
    return full ? v : FL_VOP(select)(FL_VOP(lane_lt)(k), v, zero);
}

/* fl_binary_body_f, fl_binary_body_d (wide: fl_binary_body_wf, _wd):
 * fl_binary_run for given kinds of the operands (wk, pk, gk) and outputs;
 * inlined with constants, each combination is a loop without tests */
FL_INLINE double FL_VNAME(fl_binary_body_)(const int mode, const int wk, const int pk,
                                          const int gk, const int want_loss, const int want_grad,
                                          const FL_T* x, const FL_T* t, const FL_T* w, FL_T w1,
                                          const FL_T* pw, FL_T pw1, const FL_T* go, FL_T go1,
                                          double g_scale, FL_T* loss, FL_T* grad, ptrdiff_t n)
{
    FL_VD a0 = FL_VDOP(set1)(0.0), a1 = a0;
    const FL_V gsc = FL_VOP(set1)((FL_T)g_scale), w1v = FL_VOP(set1)(w1);
    const FL_V pw1v = FL_VOP(set1)(pw1), go1v = gsc * FL_VOP(set1)(go1);
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) {
        fl_prefetch_ahead(x + j, FL_VL * (ptrdiff_t)sizeof(FL_T), 0);
        fl_prefetch_ahead(t + j, FL_VL * (ptrdiff_t)sizeof(FL_T), 0);
        FL_VOP(acc)(&a0, &a1, FL_VNAME(fl_binary_vec_)(
            mode, wk, pk, gk, want_loss, want_grad, x, t, w, w1v, pw, pw1v, go, go1v, gsc,
            loss, grad, j, FL_VL));
    }
    if (j < n)
        FL_VOP(acc)(&a0, &a1, FL_VNAME(fl_binary_vec_)(
            mode, wk, pk, gk, want_loss, want_grad, x, t, w, w1v, pw, pw1v, go, go1v, gsc,
            loss, grad, j, n - j));
    return FL_VDOP(hsum)(a0 + a1);
}

#if !FL_WIDE

/* fl_binary_run_f, fl_binary_run_d: the loss and gradient of n elements; x, t
 * contiguous; w, pw, go each a contiguous run, or NULL for the single value
 * w1, pw1, go1 (the weight is read by the two BCE only, the positive weight
 * only by BCE with logits; smooth L1 and Huber take their beta or delta as
 * pw1, pw NULL). loss / grad are written unless NULL; returns the sum of
 * the losses (double). The unweighted losses with one grad_output have a
 * loop each; the rest share one with the operands' kinds tested inside.
 * A weight of 1 given as one value is never multiplied (x 1 is exact). */
static double FL_NAME(fl_binary_run_)(int mode, const FL_T* x, const FL_T* t,
                                      const FL_T* w, FL_T w1, const FL_T* pw, FL_T pw1,
                                      const FL_T* go, FL_T go1, double g_scale,
                                      FL_T* loss, FL_T* grad, ptrdiff_t n)
{
    int weighted = mode == FL_BCE_LOGITS || mode == FL_BCE_PROB;
    int wk = !weighted ? FL_OP_UNIT : w != NULL ? FL_OP_RUN : w1 == 1 ? FL_OP_UNIT : FL_OP_ONE;
    int pk = mode != FL_BCE_LOGITS ? FL_OP_UNIT
             : pw != NULL ? FL_OP_RUN : pw1 == 1 ? FL_OP_UNIT : FL_OP_ONE;
    int gk = go != NULL ? FL_OP_RUN : FL_OP_ONE;
    int want_loss = loss != NULL, want_grad = grad != NULL;
#if FL_AVX512                       /* BCE with logits: the wide loop */
#define FL_CALL_BODY(mode_, ...) ((mode_) == FL_BCE_LOGITS \
        ? FL_WNAME(fl_binary_body_)(FL_BCE_LOGITS, __VA_ARGS__) \
        : FL_NAME(fl_binary_body_)(mode_, __VA_ARGS__))
#else
#define FL_CALL_BODY(mode_, ...) FL_NAME(fl_binary_body_)(mode_, __VA_ARGS__)
#endif
#define FL_BODY(mode_, l_, g_) FL_CALL_BODY(mode_, FL_OP_UNIT, FL_OP_UNIT, \
        FL_OP_ONE, l_, g_, x, t, NULL, 1, NULL, pw1, NULL, go1, g_scale, loss, grad, n)
#define FL_BODIES(mode_) \
    (want_grad ? (want_loss ? FL_BODY(mode_, 1, 1) : FL_BODY(mode_, 0, 1)) \
               : (want_loss ? FL_BODY(mode_, 1, 0) : FL_BODY(mode_, 0, 0)))
    double total;
    if (wk == FL_OP_UNIT && pk == FL_OP_UNIT && gk == FL_OP_ONE)
        total = mode == FL_BCE_LOGITS ? FL_BODIES(FL_BCE_LOGITS)
                : mode == FL_BCE_PROB ? FL_BODIES(FL_BCE_PROB)
                : mode == FL_MSE ? FL_BODIES(FL_MSE)
                : mode == FL_L1 ? FL_BODIES(FL_L1)
                : mode == FL_SMOOTH_L1 ? FL_BODIES(FL_SMOOTH_L1)
                : mode == FL_HUBER ? FL_BODIES(FL_HUBER)
                : mode == FL_KL_DIV ? FL_BODIES(FL_KL_DIV) : FL_BODIES(FL_KL_DIV_LOG);
    else
        total = FL_CALL_BODY(mode, wk, pk, gk, want_loss, want_grad, x, t, w, w1,
                             pw, pw1, go, go1, g_scale, loss, grad, n);
#undef FL_BODIES
#undef FL_BODY
#undef FL_CALL_BODY
    /* a NaN scale makes every gradient NaN; which NaN depended on the copy
     * of the loop when the gradient was NaN too: the one quiet NaN */
    if (want_grad && (g_scale != g_scale || (go == NULL && go1 != go1)))
        FL_NAME(fl_row_fill_)(grad, n, NAN);
    return total;
}
#endif
