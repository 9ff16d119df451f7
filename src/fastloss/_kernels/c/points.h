/* points.h: each loss's value and gradient at one row or one element,
 * written once and used by every row engine and driver.
 *
 * Two parts:
 *
 * 1. The class-axis losses of one row, from the row's statistics (below).
 *    They are type-generic macros: the scalar engines evaluate them on
 *    doubles, the engines that hold rows in vector lanes on vd (GNU C vector
 *    arithmetic is written as scalar arithmetic), and drivers.pxi calls them
 *    as functions of doubles. Each argument is evaluated at most once per
 *    branch.
 *
 * 2. The elementwise losses at the elements of a vector: inline functions of
 *    the vectors of one element type, instantiated by kernels.h once per type
 *    (FL_T float, then double; this file is included again with FL_T set),
 *    and on the avx512 path once more for the wide vectors, those that need
 *    no log (type.h's FL_VNAME: fl_bce_logits_wf ...; BCE with logits' loop
 *    runs on them, elementwise.h).
 *
 * A row's statistics (softmax family and cross-entropy): m its max, s =
 * sum_c exp(x_c - m) (s >= 1), ls = log s; the log-softmax is
 * log p_c = (x_c - m) - ls. Cross-entropy with class-index targets, target y
 * of weight wy, class weights w_c with W = sum_c w_c, label smoothing eps
 * (eps_c = eps / C, keep = 1 - eps):
 *   p0 = x_y - m, p1 = sum_c w_c (x_c - m) (only with eps > 0),
 *   loss = keep nll + eps_c smooth  (Szegedy et al. 2016; torch's formula),
 *   nll = -wy log p_y = wy (ls - p0), smooth = -sum_c w_c log p_c = W ls - p1,
 *   d loss / d x_c = coef p_c - eps_c w_c - [c = y] keep wy,
 *   coef = keep wy + eps_c W.
 * With probability targets t (t'_c = keep t_c + eps_c, wt = sum_c w_c t'_c,
 * wtd = sum_c w_c t'_c (x_c - m)):
 *   loss = -sum_c w_c t'_c log p_c = wt ls - wtd,
 *   d loss / d x_c = wt p_c - w_c t'_c.
 * The gradient of a row is written g_c = e_c A - B w_c (index targets; the
 * target's element then recomputed by fl_ce_target_grad) or e_c A - B w_c t'_c
 * (probability targets), e_c = exp(x_c - m), with A = gs coef / s (wt for
 * probability targets) and B = gs eps_c (gs for probability targets), gs the
 * row's gradient scale (1 / denominator of "mean", times grad_output).
 */

/* ======================================== part 1: class-axis losses of a row */
#ifndef FASTLOSS_POINTS_H
#define FASTLOSS_POINTS_H

/* logsumexp of a row: m + log s */
#define fl_lse(m, ls) ((m) + (ls))

/* log_softmax of an element: (x - m) - log s (the shift first, so that a
 * large m does not absorb log s) */
#define fl_log_softmax(x, m, ls) (((x) - (m)) - (ls))

/* the nll part of a class-index row's loss: wy (log s - (x_y - m)) */
#define fl_ce_nll(wy, ls, p0) ((wy) * ((ls) - (p0)))

/* the smoothing part: -sum_c w_c log p_c = W log s - sum_c w_c (x_c - m);
 * only evaluated with eps > 0 (an unused class weight may be inf or NaN) */
#define fl_ce_smooth(w_total, ls, p1) ((ls) * (w_total) - (p1))

/* a class-index row's loss (or a sum of rows') from its parts: keep nll +
 * eps_c smooth with label smoothing, else nll alone, the smoothing part not
 * evaluated */
#define fl_ce_index_loss(eps, eps_c, nll, smooth) \
    ((eps) > 0.0 ? (1.0 - (eps)) * (nll) + (eps_c) * (smooth) : (nll))

/* a probability-target row's loss: wt log s - wtd */
#define fl_ce_prob_loss(ls, wt, wtd) ((ls) * (wt) - (wtd))

/* the smoothed probability target t' = keep t + eps_c */
#define fl_ce_smoothed_target(t, keep, eps_c) ((t) * (keep) + (eps_c))

/* coef of a class-index row's gradient, d loss / d x_c = coef p_c - ...:
 * keep wy + eps_c W. Without smoothing the drivers pass W = 0 (fl_ce_args),
 * so that the smoothing term is 0 whatever the class weights are: a NaN or
 * inf weight of a class no target uses, or weights whose sum overflows, must
 * not reach the gradient. */
#define fl_ce_coef(keep, eps_c, wy, w_total) ((keep) * (wy) + (eps_c) * (w_total))

/* A, the factor of e_c in the gradient: gs coef / s (index targets) or
 * gs wt / s (probability targets) */
#define fl_ce_softmax_scale(gs, coef, s) ((gs) * (coef) / (s))

/* the gradient at the target class y of a class-index row, from its exp e_y:
 * gs (e_y / s coef - eps_c wy - keep wy) */
#define fl_ce_target_grad(gs, ey, s, coef, eps_c, keep, wy) \
    ((gs) * ((ey) / (s) * (coef) - (eps_c) * (wy) - (keep) * (wy)))

/* NLL of a row of log-probabilities at its target: -wy x_y; its gradient at
 * y (0 elsewhere): -gs wy */
#define fl_nll(wy, xy) (-(wy) * (xy))
#define fl_nll_grad(gs, wy) (-(gs) * (wy))

#endif

/* ============================= part 2: elementwise losses, per element type */
#ifdef FL_T

/* fl_neg_abs_f, fl_neg_abs_d: -|x| (the sign bit set; NaN stays NaN) */
FL_INLINE FL_V FL_VNAME(fl_neg_abs_)(FL_V x)
{
    const FL_VU sign = ((FL_VU){0} + 1) << (FL_BITS - 1);   /* not set1(-0.0): +0 */
    return FL_VOP(from_bits)(FL_VOP(bits)(x) | sign);
}

/* fl_bce_slope_f, fl_bce_slope_d: a, the factor of x in BCE with logits
 * written as a x + c L: 1 - t for x >= 0, -pw t for x < 0 (has_pw 0: pw = 1,
 * not read: a = [x >= 0] - t) */
FL_INLINE FL_V FL_VNAME(fl_bce_slope_)(FL_V x, FL_V t, FL_V pw, const int has_pw)
{
    const FL_V one = FL_VOP(set1)(1), zero = FL_VOP(set1)(0);
    if (has_pw) return FL_VOP(select)(x >= zero, one - t, -(pw * t));
    return FL_VOP(from_bits)((FL_VU)(x >= zero) & FL_VOP(bits)(one)) - t;
}

/* fl_bce_logits_f, fl_bce_logits_d: BCE with logits at x without its weight,
 * positive weight pw (has_pw 0: pw = 1, not read): (1 - t) x - c logsigmoid(x),
 * c = 1 + (pw - 1) t, written without cancellation as a x + c L, a from
 * fl_bce_slope, L = log(1 + exp(-|x|)) by log1p_unit (exp(-|x|) is in
 * [0, 1]); at x = -inf NaN, as torch's (1 - t) x + c (-x). */
FL_INLINE FL_V FL_VNAME(fl_bce_logits_)(FL_V x, FL_V t, FL_V pw, const int has_pw)
{
    const FL_V one = FL_VOP(set1)(1);
    FL_V L = FL_VOP(log1p_unit)(FL_VOP(exp_neg)(FL_VNAME(fl_neg_abs_)(x)));
    FL_V a = FL_VNAME(fl_bce_slope_)(x, t, pw, has_pw);
    FL_V v = has_pw ? a * x + (one + (pw - one) * t) * L : a * x + L;
    return FL_VOP(select)(x == -INFINITY, FL_VOP(set1)(NAN), v);
}

/* fl_bce_logits_grad_f, fl_bce_logits_grad_d: its derivative in x without the
 * weight, c sigmoid(x) - pw t = a - c q for x >= 0 and a + c q for x < 0,
 * q = sigmoid(-|x|) = z / (1 + z), z = exp(-|x|) (the value's: inlined
 * together, they share it) */
FL_INLINE FL_V FL_VNAME(fl_bce_logits_grad_)(FL_V x, FL_V t, FL_V pw, const int has_pw)
{
    const FL_V one = FL_VOP(set1)(1), zero = FL_VOP(set1)(0);
    FL_V z = FL_VOP(exp_neg)(FL_VNAME(fl_neg_abs_)(x));
    FL_V q = z / (one + z);
    FL_V a = FL_VNAME(fl_bce_slope_)(x, t, pw, has_pw);
    if (has_pw) {
        FL_V c = one + (pw - one) * t;
        return FL_VOP(select)(x >= zero, -c, c) * q + a;
    }
    /* -q for x >= 0: the sign bit where the mask is set */
    FL_VU flip = (FL_VU)(x >= zero) & (((FL_VU){0} + 1) << (FL_BITS - 1));
    return FL_VOP(from_bits)(FL_VOP(bits)(q) ^ flip) + a;
}

#if !FL_WIDE      /* log, log1p: the narrow vectors' (the wide run BCE with logits) */
/* fl_bce_prob_f, fl_bce_prob_d: BCE of a probability x without its weight:
 * -(t log x + (1 - t) log(1 - x)), each log clamped at -100 (torch) */
FL_INLINE FL_V FL_VNAME(fl_bce_prob_)(FL_V x, FL_V t)
{
    const FL_V one = FL_VOP(set1)(1);
    FL_V l1 = FL_VOP(max)(FL_VOP(set1)(-100), FL_VOP(log)(x));
    FL_V l0 = FL_VOP(max)(FL_VOP(set1)(-100), FL_VOP(log1p)(-x));
    return -(t * l1 + (one - t) * l0);
}

/* fl_bce_prob_grad_f, fl_bce_prob_grad_d: its derivative without the weight,
 * (x - t) / max((1 - x) x, 1e-12) (torch's clamp) */
FL_INLINE FL_V FL_VNAME(fl_bce_prob_grad_)(FL_V x, FL_V t)
{
    const FL_V one = FL_VOP(set1)(1);
    return (x - t) / FL_VOP(max)((one - x) * x, FL_VOP(set1)((FL_T)FL_BCE_EPSILON));
}

#endif

/* fl_mse_f, fl_mse_d: (x - t)^2 */
FL_INLINE FL_V FL_VNAME(fl_mse_)(FL_V x, FL_V t)
{
    FL_V d = x - t;
    return d * d;
}

/* fl_mse_grad_f, fl_mse_grad_d: its derivative 2 (x - t) */
FL_INLINE FL_V FL_VNAME(fl_mse_grad_)(FL_V x, FL_V t)
{
    FL_V d = x - t;
    return d + d;
}


/* ------------------------- regression and divergence losses (torch's forms) */

/* fl_abs_f, fl_abs_d: |x| (the sign bit cleared; NaN stays NaN) */
FL_INLINE FL_V FL_VNAME(fl_abs_)(FL_V x)
{
    const FL_VU sign = ((FL_VU){0} + 1) << (FL_BITS - 1);
    return FL_VOP(from_bits)(FL_VOP(bits)(x) & ~sign);
}

/* fl_sign_f, fl_sign_d: torch.sign: 1 for x > 0, -1 for x < 0, 0 for +-0
 * and for NaN ((0 < x) - (x < 0), as torch's kernel) */
FL_INLINE FL_V FL_VNAME(fl_sign_)(FL_V x)
{
    const FL_V one = FL_VOP(set1)(1), zero = FL_VOP(set1)(0);
    return FL_VOP(select)(x > zero, one, zero) - FL_VOP(select)(x < zero, one, zero);
}

/* fl_l1_f, fl_l1_d: |x - t| */
FL_INLINE FL_V FL_VNAME(fl_l1_)(FL_V x, FL_V t)
{
    return FL_VNAME(fl_abs_)(x - t);
}

/* fl_l1_grad_f, fl_l1_grad_d: its derivative sign(x - t), as torch's abs
 * backward: 0 at x = t, and 0 where x - t is NaN */
FL_INLINE FL_V FL_VNAME(fl_l1_grad_)(FL_V x, FL_V t)
{
    return FL_VNAME(fl_sign_)(x - t);
}

/* fl_smooth_l1_f, fl_smooth_l1_d: z = |x - t|, 0.5 z z / beta for z < beta,
 * else z - 0.5 beta (beta > 0; torch's kernel, its order of operations) */
FL_INLINE FL_V FL_VNAME(fl_smooth_l1_)(FL_V x, FL_V t, FL_V beta)
{
    const FL_V half = FL_VOP(set1)((FL_T)0.5);
    FL_V z = FL_VNAME(fl_abs_)(x - t);
    return FL_VOP(select)(z < beta, half * z * z / beta, z - half * beta);
}

/* fl_smooth_l1_grad_f, fl_smooth_l1_grad_d: its derivative, as torch's
 * backward: -1 for d = x - t <= -beta, 1 for d >= beta, else d / beta (NaN
 * for NaN) */
FL_INLINE FL_V FL_VNAME(fl_smooth_l1_grad_)(FL_V x, FL_V t, FL_V beta)
{
    const FL_V one = FL_VOP(set1)(1);
    FL_V d = x - t;
    return FL_VOP(select)(d <= -beta, -one, FL_VOP(select)(d >= beta, one, d / beta));
}

/* fl_huber_f, fl_huber_d: z = |x - t|, 0.5 z z for z < delta, else
 * delta (z - 0.5 delta) (delta > 0; torch's kernel) */
FL_INLINE FL_V FL_VNAME(fl_huber_)(FL_V x, FL_V t, FL_V delta)
{
    const FL_V half = FL_VOP(set1)((FL_T)0.5);
    FL_V z = FL_VNAME(fl_abs_)(x - t);
    return FL_VOP(select)(z < delta, half * z * z, delta * (z - half * delta));
}

/* fl_huber_grad_f, fl_huber_grad_d: -delta for d = x - t <= -delta, delta
 * for d >= delta, else d (NaN for NaN), as torch's backward */
FL_INLINE FL_V FL_VNAME(fl_huber_grad_)(FL_V x, FL_V t, FL_V delta)
{
    FL_V d = x - t;
    return FL_VOP(select)(d <= -delta, -delta, FL_VOP(select)(d >= delta, delta, d));
}

#if !FL_WIDE      /* log, exp: the narrow vectors' */
/* fl_kl_div_f, fl_kl_div_d: KL divergence's pointwise term at input x
 * (log-probabilities) and target t: xlogy(t, t) - t x, xlogy(t, t) being 0
 * at t = 0 and NaN at t = NaN (torch's xlogy), t log t elsewhere (NaN for
 * t < 0, as torch); its derivative in x is -t */
FL_INLINE FL_V FL_VNAME(fl_kl_div_)(FL_V x, FL_V t)
{
    const FL_V zero = FL_VOP(set1)(0);
    FL_V xlogy = FL_VOP(select)(t == zero, zero, t * FL_VOP(log)(t));
    return xlogy - t * x;
}

/* fl_kl_div_log_f, fl_kl_div_log_d: the same with log-targets t
 * (log_target=True): exp(t) (t - x); its derivative in x is -exp(t) */
FL_INLINE FL_V FL_VNAME(fl_kl_div_log_)(FL_V x, FL_V t)
{
    return FL_VOP(exp)(t) * (t - x);
}

#endif

#endif
