/* Vector exp, log and log1p for the fastloss kernels (float and double).
 *
 * GCC and Clang do not vectorize calls to the C library's exp/log without
 * -ffast-math, which fastloss refuses (it breaks inf/NaN semantics), so the
 * kernels use these: branch-free functions on the vector types of
 * _simd_vec.h, inlined into the kernels' loops.
 *
 *   vf_exp_neg, vd_exp_neg   exp(x) for x <= 0 (NaN propagates): every
 *                            exponential in the kernels is exp(x - max) or
 *                            exp(-|x|), so no argument is ever positive
 *   vf_log, vd_log           log(x) for every x (negative: NaN)
 *   vf_log1p, vd_log1p       log1p(x) for every x (below -1: NaN)
 *
 * exp: x = k ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split into a high
 * part with trailing zero bits, so k * hi is exact, and a low part); exp(r)
 * by a polynomial whose constant and linear coefficients are 1 and whose
 * others are minimax (tools/minimax.py); the result is p * 2^-B * 2^(k+B),
 * with p's coefficients prescaled by 2^-B (exact) so that 2^(k+B) is a
 * normal number for every k down to the smallest subnormal result, and a
 * single multiplication rounds it (B = 24 in float, 54 in double).
 *
 * log: x = 2^e z with z in [sqrt(1/2), sqrt(2)) read off the bits, f = z - 1
 * (exact), log x = e ln2 + log1p(f), log1p(f) by a minimax polynomial
 * f + f^2 P(f) (float) or by 2 atanh(f / (2 + f)) (double). log1p(x) uses the
 * same f, obtained without rounding error from x itself: f = (x + 1 - 2^e)
 * 2^-e, where e is the exponent of 1 + x.
 */
#ifndef FASTLOSS_SIMD_MATH_H
#define FASTLOSS_SIMD_MATH_H

#include "_simd_vec.h"

/* ------------------------------------------------------------------ exp */

FL_INLINE vf vf_exp_neg(vf x)
{
    const float B = 0x1p-24f;
    /* vf_max returns its second operand for a NaN: NaN passes, -inf -> -104 */
    vf xc = vf_max(vf_set1(-104.0f), x);
    vf t = xc * 0x1.715476p+0f + 0x1.8p23f;         /* 1.5 * 2^23 + round(x / ln2) */
    vf kf = t - 0x1.8p23f;
    vf r = xc - kf * 0x1.62ep-1f;                  /* 0x1.62ep-1: 12 trailing zeros */
    r = r - kf * 0x1.0bfbe8p-15f;
    vf p = vf_set1(B * 0x1.6a2358p-10f);
    p = p * r + B * 0x1.123a68p-7f;
    p = p * r + B * 0x1.5558f4p-5f;
    p = p * r + B * 0x1.55549p-3f;
    p = p * r + B * 0x1.fffffcp-2f;
    p = p * r + B;
    p = p * r + B;
    /* the low bits of t hold k; (k + 127 + 24) << 23 is 2^(k+24) */
    return p * vf_from_bits((vf_bits(t) + 151u) << 23);
}

FL_INLINE vd vd_exp_neg(vd x)
{
    const double B = 0x1p-54;
    vd xc = vd_max(vd_set1(-746.0), x);
    vd t = xc * 0x1.71547652b82fep+0 + 0x1.8p52;
    vd kd = t - 0x1.8p52;
    vd r = xc - kd * 0x1.62e42p-1;                   /* 32 trailing zero bits */
    r = r - kd * 0x1.fdf473de6af28p-22;
    vd p = vd_set1(B * 0x1.af639d5e790f3p-26);
    p = p * r + B * 0x1.28b46ded88a2ap-22;
    p = p * r + B * 0x1.71ddf6771e622p-19;
    p = p * r + B * 0x1.a01993509be35p-16;
    p = p * r + B * 0x1.a01a01b021b31p-13;
    p = p * r + B * 0x1.6c16c18624e69p-10;
    p = p * r + B * 0x1.111111110f7d6p-7;
    p = p * r + B * 0x1.5555555550351p-5;
    p = p * r + B * 0x1.5555555555558p-3;
    p = p * r + B * 0x1.0000000000009p-1;
    p = p * r + B;
    p = p * r + B;
    return p * vd_from_bits((vd_bits(t) + 1077u) << 52);
}

/* ------------------------------------------------------------------ log */

/* log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: f + f^2 P(f), P minimax */
FL_INLINE vf vf_log1p_core(vf f)
{
    vf p = vf_set1(-0x1.383022p-4f);
    p = p * f + 0x1.084864p-3f;
    p = p * f - 0x1.0f3766p-3f;
    p = p * f + 0x1.22719cp-3f;
    p = p * f - 0x1.54276ep-3f;
    p = p * f + 0x1.99a3f2p-3f;
    p = p * f - 0x1.000426p-2f;
    p = p * f + 0x1.55555p-2f;
    p = p * f - 0x1.fffff8p-2f;
    return f + (f * f) * p;
}

/* e ln2 + log1p(f), ln2 split so that e * hi is exact */
FL_INLINE vf vf_log_finish(vf ef, vf f)
{
    return ef * 0x1.62ep-1f + (vf_log1p_core(f) + ef * 0x1.0bfbe8p-15f);
}

/* exponent e of x >= 2^-126 such that x 2^-e is in [sqrt(1/2), sqrt(2)) */
FL_INLINE vi32 vf_log_exponent(vf x)
{
    return (vi32)(vf_bits(x) - 0x3f3504f3u) >> 23;     /* unsigned: no overflow */
}

FL_INLINE vf vf_log(vf x)
{
    vi32 tiny = x < 0x1p-126f;
    vf xs = vf_select(tiny, x * 0x1p23f, x);
    vi32 e = vf_log_exponent(xs);
    vf z = vf_from_bits(vf_bits(xs) - ((vu32)e << 23));
    vf ef = __builtin_convertvector(e, vf) - vf_select(tiny, vf_set1(23.0f), vf_set1(0.0f));
    vf res = vf_log_finish(ef, z - 1.0f);
    res = vf_select(x == INFINITY, x, res);
    res = vf_select(x == 0.0f, vf_set1(-INFINITY), res);
    res = vf_select(x < 0.0f, vf_set1(NAN), res);
    return vf_select(x != x, x, res);
}

/* log1p(x) = e ln2 + log1p(f) with 1 + x = 2^e (1 + f): f = x 2^-e + (2^-e - 1)
 * in one rounding (exact where it matters), 2^-e built in two factors so that
 * each is a normal number */
FL_INLINE vf vf_log1p(vf x)
{
    vi32 e = vf_log_exponent(1.0f + x);
    vi32 e1 = e >> 1;
    vf s1 = vf_from_bits((vu32)(127 - e1) << 23);
    vf s2 = vf_from_bits((vu32)(127 - (e - e1)) << 23);
    vf s = s1 * s2;
    vf f = (x * s1) * s2 + (s - 1.0f);
    vf res = vf_log_finish(__builtin_convertvector(e, vf), f);
    res = vf_select(x == INFINITY, x, res);
    res = vf_select(x == -1.0f, vf_set1(-INFINITY), res);
    res = vf_select(x < -1.0f, vf_set1(NAN), res);
    return vf_select(x != x, x, res);
}

/* log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], as 2 atanh(s) with
 * s = f / (2 + f): f - (h - s (h + R)), h = f^2 / 2, R = sum_j 2 w^j / (2j+1),
 * w = s^2 <= 0.0295 (Taylor; the 11 terms reach 2^-60) */
FL_INLINE vd vd_log1p_core(vd f)
{
    vd s = f / (2.0 + f);
    vd w = s * s;
    vd q = vd_set1(2.0 / 23.0);
    q = q * w + 2.0 / 21.0;
    q = q * w + 2.0 / 19.0;
    q = q * w + 2.0 / 17.0;
    q = q * w + 2.0 / 15.0;
    q = q * w + 2.0 / 13.0;
    q = q * w + 2.0 / 11.0;
    q = q * w + 2.0 / 9.0;
    q = q * w + 2.0 / 7.0;
    q = q * w + 2.0 / 5.0;
    q = q * w + 2.0 / 3.0;
    vd R = q * w;
    vd h = 0.5 * f * f;
    return f - (h - s * (h + R));
}

/* an int64 vector of small values (|e| < 2^51) as doubles: AVX2 has no
 * instruction for it, so the integer goes into the mantissa of 1.5 2^52
 * (where the spacing is 1 on both sides, negative values included) */
FL_INLINE vd vd_small_int_to_double(vi64 e)
{
    return (vd)(e + 0x4338000000000000LL) - 0x1.8p52;
}

FL_INLINE vd vd_log_finish(vd ed, vd f)
{
    return ed * 0x1.62e42p-1 + (vd_log1p_core(f) + ed * 0x1.fdf473de6af28p-22);
}

FL_INLINE vi64 vd_log_exponent(vd x)
{
    return (vi64)(vd_bits(x) - 0x3fe6a09e667f3bcdULL) >> 52;
}

FL_INLINE vd vd_log(vd x)
{
    vi64 tiny = x < 0x1p-1022;
    vd xs = vd_select(tiny, x * 0x1p52, x);
    vi64 e = vd_log_exponent(xs);
    vd z = vd_from_bits(vd_bits(xs) - ((vu64)e << 52));
    vd ed = vd_small_int_to_double(e) - vd_select(tiny, vd_set1(52.0), vd_set1(0.0));
    vd res = vd_log_finish(ed, z - 1.0);
    res = vd_select(x == INFINITY, x, res);
    res = vd_select(x == 0.0, vd_set1(-INFINITY), res);
    res = vd_select(x < 0.0, vd_set1(NAN), res);
    return vd_select(x != x, x, res);
}

FL_INLINE vd vd_log1p(vd x)
{
    vi64 e = vd_log_exponent(1.0 + x);
    vi64 e1 = e >> 1;
    vd s1 = vd_from_bits((vu64)(1023 - e1) << 52);
    vd s2 = vd_from_bits((vu64)(1023 - (e - e1)) << 52);
    vd s = s1 * s2;
    vd f = (x * s1) * s2 + (s - 1.0);
    vd res = vd_log_finish(vd_small_int_to_double(e), f);
    res = vd_select(x == INFINITY, x, res);
    res = vd_select(x == -1.0, vd_set1(-INFINITY), res);
    res = vd_select(x < -1.0, vd_set1(NAN), res);
    return vd_select(x != x, x, res);
}

/* ------------------------------------------- log of a sum of exponentials
 *
 * The sum s = sum_j exp(x_j - max) of a row is at least 1 (the max's own
 * term) and finite: its log needs none of the special cases above. s is
 * split exactly as 2^e (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1), in double;
 * the float version then evaluates log1p(f) in float, which keeps float
 * accuracy relative to the result even for s = 1 + tiny (f is exact in
 * double before it is rounded to float). Lanes holding anything else (an
 * ignored row's garbage) give garbage, never a trap. */

FL_INLINE vd vd_frac_ge1(vd s, vd* ed)
{
    vi64 e = vd_log_exponent(s);
    *ed = vd_small_int_to_double(e);
    return vd_from_bits(vd_bits(s) - ((vu64)e << 52)) - 1.0;
}

/* log s for s >= 1 in double */
FL_INLINE vd vd_log_sum(vd s)
{
    vd ed, f = vd_frac_ge1(s, &ed);
    return vd_log_finish(ed, f);
}

/* log s for s >= 1 given as two double vectors (lanes of lo, then hi), in
 * float */
FL_INLINE vf vf_log_sum(vd lo, vd hi)
{
    vd elo, ehi, flo = vd_frac_ge1(lo, &elo), fhi = vd_frac_ge1(hi, &ehi);
    return vf_log_finish(vf_from_d(elo, ehi), vf_from_d(flo, fhi));
}

/* ------------------------------------------------- over arrays, for tests */

enum { FL_FN_EXP = 0, FL_FN_LOG = 1, FL_FN_LOG1P = 2 };

FL_INLINE vf vf_apply(int fn, vf v)
{
    return fn == FL_FN_EXP ? vf_exp_neg(v) : fn == FL_FN_LOG ? vf_log(v) : vf_log1p(v);
}

FL_INLINE vd vd_apply(int fn, vd v)
{
    return fn == FL_FN_EXP ? vd_exp_neg(v) : fn == FL_FN_LOG ? vd_log(v) : vd_log1p(v);
}

/* out[j] = fn(x[j]) through the vector functions (the exp for x <= 0 only) */
static void fl_map_f(int fn, const float* x, float* out, ptrdiff_t n)
{
    ptrdiff_t j = 0;
    for (; j + FL_VLF <= n; j += FL_VLF) vf_store(out + j, vf_apply(fn, vf_load(x + j)));
    if (j < n) vf_store_part(out + j, vf_apply(fn, vf_load_part(x + j, n - j, 0.0f)), n - j);
}

static void fl_map_d(int fn, const double* x, double* out, ptrdiff_t n)
{
    ptrdiff_t j = 0;
    for (; j + FL_VLD <= n; j += FL_VLD) vd_store(out + j, vd_apply(fn, vd_load(x + j)));
    if (j < n) vd_store_part(out + j, vd_apply(fn, vd_load_part(x + j, n - j, 0.0)), n - j);
}

#endif
