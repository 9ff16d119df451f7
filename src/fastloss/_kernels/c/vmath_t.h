/* vmath_t.h: exp, log, log1p and log1p_unit around the per-type constants
 * and cores of vmath.h, a template (see type.h) that vmath.h instantiates
 * for float and double (and, exp_neg and log1p_unit only, for the avx512
 * path's wide vectors). */
#ifndef FL_T
#error "vmath_t.h is a template: vmath.h includes it once per element type"
#endif

#define FL_EXP_LO FL_CAT(FL_EXP_LO_, FL_S)
#define FL_EXP_HI FL_CAT(FL_EXP_HI_, FL_S)
#define FL_LOG2E FL_CAT(FL_LOG2E_, FL_S)
#define FL_LN2_HI FL_CAT(FL_LN2_HI_, FL_S)
#define FL_LN2_LO FL_CAT(FL_LN2_LO_, FL_S)
#define FL_EXP_B FL_CAT(FL_EXP_B_, FL_S)
#define FL_EXP_POLY FL_CAT(fl_exp_poly_, FL_S)
/* 1.5 2^mant: added to x / ln2, it leaves round(x / ln2) in the low bits */
#define FL_ROUND ((FL_T)(3ULL << (FL_MANT - 1)))

/* vf_exp_neg, vd_exp_neg: exp(x) in each lane.
 *   Valid range: x <= 0 (every exponential the kernels take is exp(x - max)
 *                or exp(-|x|)); -inf gives 0, NaN gives NaN, results below
 *                2^-149 (float) and 2^-1074 (double) round to 0
 *   Max error:   2 ulp (vf_exp_neg), 4 ulp (vd_exp_neg) */
FL_INLINE FL_V FL_VOP(exp_neg)(FL_V x)
{
    /* FL_ROUND + bias + B, exact: the low bits of t then hold k + bias + B,
     * one integer addition fewer per vector. The rounding of t is FL_ROUND's:
     * x log2e, exact inside the FMA, is an odd multiple of 1/2 only for
     * |x| >= 2^22 (float; 2^50 double), so no tie meets the odd constant. */
    const FL_T round_b = FL_ROUND + (FL_T)(FL_BIAS + FL_EXP_B);
    /* max returns its second operand for a NaN: NaN passes, -inf -> FL_EXP_LO */
    FL_V xc = FL_VOP(max)(FL_VOP(set1)(FL_EXP_LO), x);
    FL_V t = xc * FL_LOG2E + round_b;
    FL_V kf = t - round_b;                           /* round(x / ln2) = k */
    FL_V r = xc - kf * FL_LN2_HI;
    r = r - kf * FL_LN2_LO;
    FL_V p = FL_VOP(horner)(r, FL_EXP_POLY, sizeof FL_EXP_POLY / sizeof FL_EXP_POLY[0]);
    /* (k + bias + B) << mant is 2^(k+B) (the bits above it shift out) */
    return p * FL_VOP(from_bits)(FL_VOP(bits)(t) << FL_MANT);
}

/* vf_log1p_unit, vd_log1p_unit: log(1 + z) in each lane, without the range
 * reduction and special cases of log1p: z + z^2 Q(z) (float), 2s + 2s w R(w)
 * with s = z / (2 + z), w = s^2 (double).
 *   Valid range: 0 <= z <= 1 (z = exp(-|x|)); NaN gives NaN
 *   Max error:   2 ulp (vf_log1p_unit), 4 ulp (vd_log1p_unit) */
FL_INLINE FL_V FL_VOP(log1p_unit)(FL_V z)
{
#if FL_IS_FLOAT
    return (z * z) * FL_VOP(horner)(z, fl_log1p_unit_poly_f, 9) + z;
#else
    FL_V s = z / (2.0 + z);
    FL_V s2 = s + s;
    return (s2 * (s * s)) * FL_VOP(horner)(s * s, fl_log1p_unit_poly_d, 9) + s2;
#endif
}

#if !FL_WIDE        /* the wide vectors need exp_neg and log1p_unit only */
/* vf_exp, vd_exp: exp(x) in each lane, of any sign (KL divergence's
 * exp(target)): exp_neg's reduction and polynomial, the scale 2^k applied
 * as two factors 2^(k1 + B) and 2^(k - k1), k1 = floor(k / 2), each a
 * normal number for every k from the underflow to the overflow threshold;
 * the first product is exact, the second rounds once.
 *   Valid range: every float, every double: +inf gives +inf, -inf gives 0,
 *                NaN gives NaN; results beyond the largest finite value
 *                give +inf, below 2^-149 (float) and 2^-1074 (double) 0
 *   Max error:   2 ulp (vf_exp), 4 ulp (vd_exp) */
FL_INLINE FL_V FL_VOP(exp)(FL_V x)
{
    /* NaN passes both clamps: max returns its second operand, > is false */
    FL_V xc = FL_VOP(max)(FL_VOP(set1)(FL_EXP_LO), x);
    xc = FL_VOP(select)(xc > FL_EXP_HI, FL_VOP(set1)(FL_EXP_HI), xc);
    FL_V t = xc * FL_LOG2E + FL_ROUND;
    FL_V kf = t - FL_ROUND;                          /* round(x / ln2) = k */
    FL_V r = xc - kf * FL_LN2_HI;
    r = r - kf * FL_LN2_LO;
    FL_V p = FL_VOP(horner)(r, FL_EXP_POLY, sizeof FL_EXP_POLY / sizeof FL_EXP_POLY[0]);
    FL_VI k = (FL_VI)(FL_VOP(bits)(t) - FL_VOP(bits)(FL_VOP(set1)(FL_ROUND)));
    FL_VI k1 = k >> 1;
    FL_V s1 = FL_VOP(from_bits)((FL_VU)(k1 + (FL_BIAS + FL_EXP_B)) << FL_MANT);
    FL_V s2 = FL_VOP(from_bits)((FL_VU)(k - k1 + FL_BIAS) << FL_MANT);
    return (p * s1) * s2;
}

/* vf_log_finish, vd_log_finish: e ln2 + log1p(f), ln2 split so that e * hi
 * is exact */
FL_INLINE FL_V FL_VOP(log_finish)(FL_V e, FL_V f)
{
    return e * FL_LN2_HI + (FL_VOP(log1p_core)(f) + e * FL_LN2_LO);
}

/* vf_log_specials, vd_log_specials: res where x is ordinary, else a log's
 * value at its special inputs, for a log whose pole is at x = pole:
 * +inf at +inf, -inf at the pole, NaN below it and for NaN */
FL_INLINE FL_V FL_VOP(log_specials)(FL_V x, FL_V res, FL_T pole)
{
    res = FL_VOP(select)(x == INFINITY, x, res);
    res = FL_VOP(select)(x == pole, FL_VOP(set1)(-INFINITY), res);
    res = FL_VOP(select)(x < pole, FL_VOP(set1)(NAN), res);
    return FL_VOP(select)(x != x, x, res);
}

/* vf_log, vd_log: log(x) in each lane.
 *   Valid range: every float, every double: +inf gives +inf, +-0 gives
 *                -inf, x < 0 and NaN give NaN; subnormals are exact inputs
 *   Max error:   2 ulp (vf_log), 4 ulp (vd_log) */
FL_INLINE FL_V FL_VOP(log)(FL_V x)
{
    FL_VI tiny = x < FL_TINY;                        /* subnormal: scaled to normal */
    FL_V xs = FL_VOP(select)(tiny, x * (FL_T)(1ULL << FL_MANT), x);
    FL_VI e = FL_VOP(log_exponent)(xs);
    FL_V z = FL_VOP(from_bits)(FL_VOP(bits)(xs) - ((FL_VU)e << FL_MANT));
    FL_V ef = FL_VOP(from_small_int)(e)
              - FL_VOP(select)(tiny, FL_VOP(set1)(FL_MANT), FL_VOP(set1)(0));
    FL_V res = FL_VOP(log_finish)(ef, z - (FL_T)1);
    return FL_VOP(log_specials)(x, res, 0);
}

/* vf_log1p, vd_log1p: log(1 + x) in each lane, without the rounding of
 * 1 + x: e ln2 + log1p(f) with 1 + x = 2^e (1 + f), f = x 2^-e + (2^-e - 1)
 * in one rounding (exact where it matters), 2^-e built in two factors so
 * that each is a normal number.
 *   Valid range: every float, every double: +inf gives +inf, -1 gives
 *                -inf, x < -1 and NaN give NaN, +-0 and tiny x give x
 *   Max error:   2 ulp (vf_log1p), 4 ulp (vd_log1p) */
FL_INLINE FL_V FL_VOP(log1p)(FL_V x)
{
    FL_VI e = FL_VOP(log_exponent)((FL_T)1 + x);
    FL_VI e1 = e >> 1;
    FL_V s1 = FL_VOP(from_bits)((FL_VU)(FL_BIAS - e1) << FL_MANT);
    FL_V s2 = FL_VOP(from_bits)((FL_VU)(FL_BIAS - (e - e1)) << FL_MANT);
    FL_V s = s1 * s2;
    FL_V f = (x * s1) * s2 + (s - (FL_T)1);
    FL_V res = FL_VOP(log_finish)(FL_VOP(from_small_int)(e), f);
    return FL_VOP(log_specials)(x, res, -1);
}

#endif

#undef FL_EXP_LO
#undef FL_EXP_HI
#undef FL_LOG2E
#undef FL_LN2_HI
#undef FL_LN2_LO
#undef FL_EXP_B
#undef FL_EXP_POLY
#undef FL_ROUND
