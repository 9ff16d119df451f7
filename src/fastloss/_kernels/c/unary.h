/* unary.h: the activations sigmoid, log_sigmoid and softplus over a
 * contiguous run of elements (torch.nn.functional's sigmoid, logsigmoid and
 * softplus), for one element type (a template, see type.h).
 *
 * Two parts:
 *
 * 1. The cores, once: each activation in double lanes, from the vector exp
 *    and log1p of vmath.h, written without overflow or cancellation around
 *    z = exp(-|x|), which lies in [0, 1]:
 *      sigmoid(x)     = [x >= 0 ? 1 : z] / (1 + z)
 *      log_sigmoid(x) = min(x, 0) - log1p(z)
 *      log(1 + e^x)   = max(x, 0) + log1p(z)      (softplus, before / beta)
 *    Float inputs are computed in double lanes too (two per float vector)
 *    and rounded once: the error of a float result is then the rounding's,
 *    half an ulp, plus the double cores' few double ulps.
 *
 * 2. The run over elements, per element type: softplus as torch's kernel,
 *    bx = x * beta in the element type (beta and threshold converted to it),
 *    x itself where bx > threshold, else log(1 + exp(bx)) / beta; unlike
 *    torch's log1p(exp(bx)), which is inf once exp(bx) overflows (a
 *    threshold above 88 in float32), log(1 + exp(bx)) here is finite for
 *    every finite bx.
 *
 * Special values (every path): sigmoid(-inf) = 0, sigmoid(+inf) = 1,
 * log_sigmoid(-inf) = -inf, log_sigmoid(+inf) = 0, softplus(-inf) = 0 and
 * softplus(+inf) = +inf (beta > 0); NaN gives NaN. Each element is read
 * before its result is written: out may be x.
 */

/* ================================================ part 1: the cores, once */
#ifndef FASTLOSS_UNARY_H
#define FASTLOSS_UNARY_H

/* the activations of fl_unary_run (the drivers read them as SIGMOID, ...) */
enum fl_unary_op { FL_SIGMOID = 0, FL_LOG_SIGMOID = 1, FL_SOFTPLUS = 2 };

/* fl_unary_z: z = exp(-|x|) in (0, 1] (0 for |x| = inf, NaN for NaN) */
FL_INLINE vd fl_unary_z(vd x)
{
    const vu64 sign = ((vu64){0} + 1) << 63;
    return vd_exp_neg(vd_from_bits(vd_bits(x) | sign));
}

/* fl_unary_core: activation op (a constant where inlined) in each double
 * lane; softplus without its beta (log(1 + exp(x))) */
FL_INLINE vd fl_unary_core(const int op, vd x)
{
    const vd one = vd_set1(1.0), zero = vd_set1(0.0);
    vd z = fl_unary_z(x);
    if (op == FL_SIGMOID)
        return vd_select(x >= zero, one, z) / (one + z);
    if (op == FL_LOG_SIGMOID)          /* min(NaN, 0) is 0 here; log1p(NaN) is NaN */
        return vd_select(x < zero, x, zero) - vd_log1p_unit(z);
    return vd_select(x > zero, x, zero) + vd_log1p_unit(z);
}

#endif

/* ================================= part 2: runs of elements, per element type */
#ifndef FL_T
#error "unary.h is a template: kernels.h includes it once per element type"
#endif

/* fl_unary_vec_f, fl_unary_vec_d: activation op of one vector x; softplus
 * with beta (unit_beta: beta is 1, never multiplied or divided by: both
 * exact) and threshold in every lane of b and thr, and beta in double in
 * bd. op and unit_beta are constants where it is inlined. */
FL_INLINE FL_V FL_NAME(fl_unary_vec_)(const int op, const int unit_beta, FL_V x, FL_V b,
                                      FL_V thr, vd bd)
{
    const int scaled = op == FL_SOFTPLUS && !unit_beta;
    FL_V bx = scaled ? x * b : x;                 /* torch's x * beta, rounded */
#if FL_IS_FLOAT
    vd lo = fl_unary_core(op, vf_lo_d(bx)), hi = fl_unary_core(op, vf_hi_d(bx));
    if (scaled) {
        lo = lo / bd;
        hi = hi / bd;
    }
    FL_V r = vf_from_d(lo, hi);
#else
    FL_V r = fl_unary_core(op, bx);
    (void)bd;
    if (scaled) r = r / b;
#endif
    if (op == FL_SOFTPLUS) r = FL_VOP(select)(bx > thr, x, r);
    return r;
}

/* fl_unary_body_f, fl_unary_body_d: fl_unary_run for one (op, unit_beta),
 * inlined with constants: a loop without tests */
FL_INLINE void FL_NAME(fl_unary_body_)(const int op, const int unit_beta, const FL_T* x,
                                       FL_T* out, ptrdiff_t n, FL_T beta, FL_T threshold)
{
    const FL_V b = FL_VOP(set1)(beta), thr = FL_VOP(set1)(threshold);
    const vd bd = vd_set1((double)beta);
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) {
        fl_prefetch_ahead(x + j, FL_VBYTES, 0);
        fl_prefetch_ahead(out + j, FL_VBYTES, 1);
        FL_VOP(store)(out + j, FL_NAME(fl_unary_vec_)(op, unit_beta, FL_VOP(load)(x + j),
                                                      b, thr, bd));
    }
    if (j < n)
        FL_VOP(store_part)(out + j, FL_NAME(fl_unary_vec_)(
            op, unit_beta, FL_VOP(load_part)(x + j, n - j, 0), b, thr, bd), n - j);
}

/* fl_unary_run_f, fl_unary_run_d: out[j] = op(x[j]) for j < n (FL_SIGMOID,
 * FL_LOG_SIGMOID, or FL_SOFTPLUS with beta and threshold, which are ignored
 * by the others); x and out contiguous, out may be x */
static void FL_NAME(fl_unary_run_)(int op, const FL_T* x, FL_T* out, ptrdiff_t n, FL_T beta,
                                   FL_T threshold)
{
    if (op == FL_SIGMOID)
        FL_NAME(fl_unary_body_)(FL_SIGMOID, 1, x, out, n, 1, 0);
    else if (op == FL_LOG_SIGMOID)
        FL_NAME(fl_unary_body_)(FL_LOG_SIGMOID, 1, x, out, n, 1, 0);
    else if (beta == 1)
        FL_NAME(fl_unary_body_)(FL_SOFTPLUS, 1, x, out, n, 1, threshold);
    else
        FL_NAME(fl_unary_body_)(FL_SOFTPLUS, 0, x, out, n, beta, threshold);
}
