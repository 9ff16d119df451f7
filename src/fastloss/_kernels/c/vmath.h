/* vmath.h: vector exp, log and log1p for the kernels (float and double).
 *
 * GCC and Clang do not vectorize calls to the C library's exp/log without
 * -ffast-math, which fastloss refuses (it breaks inf/NaN semantics), so the
 * kernels use these: branch-free functions on the vector types of vec.h,
 * inlined into the kernels' loops. Each opens with its contract: the lane
 * type, the largest error in ulps of the correctly rounded result, and the
 * inputs it is defined for. tests/test_simd_math.py restates every contract
 * (its CONTRACTS table) and measures it on every SIMD path against long
 * double references.
 *
 * exp: x = k ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split into a high
 * part with trailing zero bits, so k * hi is exact, and a low part); exp(r)
 * by a polynomial whose constant and linear coefficients are 1 and whose
 * others were fitted for the smallest maximum relative error on that
 * interval (the fit was not kept; the contract is what the tests measure);
 * the result is p * 2^-B * 2^(k+B), with p's coefficients prescaled by 2^-B
 * (exact) so that 2^(k+B) is a normal number for every k down to the
 * smallest subnormal result, and a single multiplication rounds it (B = 24
 * in float, 54 in double).
 *
 * log: x = 2^e z with z in [sqrt(1/2), sqrt(2)) read off the bits, f = z - 1
 * (exact), log x = e ln2 + log1p(f), log1p(f) by a polynomial f + f^2 P(f)
 * fitted as exp's (float) or by 2 atanh(f / (2 + f)) (double). log1p(x) uses
 * the same f, obtained without rounding error from x itself:
 * f = (x + 1 - 2^e) 2^-e, where e is the exponent of 1 + x. The constants
 * and the cores of the logs differ by type and are written out below; exp,
 * log and log1p around them are written once (vmath_t.h).
 */
#ifndef FASTLOSS_VMATH_H
#define FASTLOSS_VMATH_H

#include "vec.h"

/* ------------------------------------------ the constants, by type
 *
 * exp: arguments below FL_EXP_LO give 0 after the final scale (above
 * FL_EXP_HI, +inf: exp of the whole range only); 1/ln2; ln2
 * split into a high part with trailing zero bits (12 in float, 32 in double:
 * k ln2_hi is exact) and a low part, which log uses too; the polynomial of
 * exp(r) on |r| <= ln2/2, highest degree first, its coefficients prescaled
 * by 2^-FL_EXP_B (exact). log1p_core: the polynomial P(f) of float's
 * log1p(f) = f + f^2 P(f), and the Taylor series of double's 2 atanh(s) in
 * w = s^2 (2/23, ..., 2/3). */

#define FL_EXP_LO_f (-104.0f)
#define FL_EXP_LO_d (-746.0)
/* exp (whole range): arguments above FL_EXP_HI give +inf after the scale */
#define FL_EXP_HI_f 89.0f
#define FL_EXP_HI_d 710.0
#define FL_LOG2E_f 0x1.715476p+0f
#define FL_LOG2E_d 0x1.71547652b82fep+0
#define FL_LN2_HI_f 0x1.62ep-1f
#define FL_LN2_HI_d 0x1.62e42p-1
#define FL_LN2_LO_f 0x1.0bfbe8p-15f
#define FL_LN2_LO_d 0x1.fdf473de6af28p-22
#define FL_EXP_B_f 24
#define FL_EXP_B_d 54

static const float fl_exp_poly_f[] = {
    0x1p-24f * 0x1.6a2358p-10f, 0x1p-24f * 0x1.123a68p-7f, 0x1p-24f * 0x1.5558f4p-5f,
    0x1p-24f * 0x1.55549p-3f, 0x1p-24f * 0x1.fffffcp-2f, 0x1p-24f, 0x1p-24f,
};
static const double fl_exp_poly_d[] = {
    0x1p-54 * 0x1.af639d5e790f3p-26, 0x1p-54 * 0x1.28b46ded88a2ap-22,
    0x1p-54 * 0x1.71ddf6771e622p-19, 0x1p-54 * 0x1.a01993509be35p-16,
    0x1p-54 * 0x1.a01a01b021b31p-13, 0x1p-54 * 0x1.6c16c18624e69p-10,
    0x1p-54 * 0x1.111111110f7d6p-7, 0x1p-54 * 0x1.5555555550351p-5,
    0x1p-54 * 0x1.5555555555558p-3, 0x1p-54 * 0x1.0000000000009p-1, 0x1p-54, 0x1p-54,
};
static const float fl_log1p_poly_f[] = {
    -0x1.383022p-4f, 0x1.084864p-3f, -0x1.0f3766p-3f, 0x1.22719cp-3f, -0x1.54276ep-3f,
    0x1.99a3f2p-3f, -0x1.000426p-2f, 0x1.55555p-2f, -0x1.fffff8p-2f,
};
/* log1p_unit, log1p(z) for z in [0, 1] (the log(1 + exp(-|x|)) of BCE with
 * logits): in float z + z^2 Q(z), Q's coefficients (highest degree first)
 * fitted on [0, 1] for the smallest maximum relative error of the result;
 * in double 2 atanh(s), s = z / (2 + z) in [0, 1/3], as 2s + 2s w R(w),
 * w = s^2 <= 1/9, R fitted likewise (both degree 8, Remez; the fit was not
 * kept, the contract is what the tests measure). */
static const float fl_log1p_unit_poly_f[] = {
    -0x1.b2f57p-9f, 0x1.4b0828p-6f, -0x1.d86316p-5f, 0x1.b579bap-4f, -0x1.3a7a7ep-3f,
    0x1.935c9ep-3f, -0x1.ff26ep-3f, 0x1.554df0p-2f, -0x1.ffffd2p-2f,
};
static const double fl_log1p_unit_poly_d[] = {
    0x1.6b4f6017df7e5p-4, 0x1.959ea5c2267bep-5, 0x1.163f696145dd9p-4, 0x1.3aa92873fd456p-4,
    0x1.74624fee73561p-4, 0x1.c71c4a6daee7cp-4, 0x1.2492497829d24p-3, 0x1.99999998ebdd0p-3,
    0x1.5555555555937p-2,
};
static const double fl_atanh_series_d[] = {
    2.0 / 23.0, 2.0 / 21.0, 2.0 / 19.0, 2.0 / 17.0, 2.0 / 15.0, 2.0 / 13.0,
    2.0 / 11.0, 2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0,
};

/* vf_horner, vd_horner: c[0] r^(n-1) + c[1] r^(n-2) + ... + c[n-1] */
#define FL_IS_FLOAT 1
#include "type.h"
#include "horner.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "horner.h"
#include "type_end.h"

/* ------------------------------------------------ the cores, by type */

/* vf_log1p_core: log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: f + f^2 P(f) */
FL_INLINE vf vf_log1p_core(vf f)
{
    return f + (f * f) * vf_horner(f, fl_log1p_poly_f, 9);
}

/* vd_log1p_core: log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], as
 * 2 atanh(s) with s = f / (2 + f): f - (h - s (h + R)), h = f^2 / 2,
 * R = sum_j 2 w^j / (2j+1), w = s^2 <= 0.0295 (Taylor; the 11 terms reach
 * 2^-60) */
FL_INLINE vd vd_log1p_core(vd f)
{
    vd s = f / (2.0 + f);
    vd w = s * s;
    vd R = vd_horner(w, fl_atanh_series_d, 11) * w;
    vd h = 0.5 * f * f;
    return f - (h - s * (h + R));
}

/* vf_log_exponent, vd_log_exponent: the exponent e of a normal x such that
 * x 2^-e is in [sqrt(1/2), sqrt(2)) (unsigned: no overflow) */
FL_INLINE vi32 vf_log_exponent(vf x)
{
    return (vi32)(vf_bits(x) - 0x3f3504f3u) >> 23;
}

FL_INLINE vi64 vd_log_exponent(vd x)
{
    return (vi64)(vd_bits(x) - 0x3fe6a09e667f3bcdULL) >> 52;
}

/* vf_from_small_int, vd_from_small_int: an integer vector of small values
 * (exponents) as floats or doubles. AVX2 has no instruction for int64 to
 * double, so the integer goes into the mantissa of 1.5 2^52 (where the
 * spacing is 1 on both sides, negative values included); |e| < 2^51. */
FL_INLINE vf vf_from_small_int(vi32 e)
{
    return __builtin_convertvector(e, vf);
}

FL_INLINE vd vd_from_small_int(vi64 e)
{
    return (vd)(e + 0x4338000000000000LL) - 0x1.8p52;
}

/* ---------------- exp, log, log1p and log1p_unit, both types: vmath_t.h */

#define FL_IS_FLOAT 1
#include "type.h"
#include "vmath_t.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "vmath_t.h"
#include "type_end.h"

#if FL_AVX512
/* wf_exp_neg, wd_exp_neg, wf_log1p_unit, wd_log1p_unit (and the horner they
 * use): their formulas on the wide vectors, lane for lane the same arithmetic */
#undef FL_WIDE
#define FL_WIDE 1
#define FL_IS_FLOAT 1
#include "type.h"
#include "horner.h"
#include "vmath_t.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "horner.h"
#include "vmath_t.h"
#include "type_end.h"
#undef FL_WIDE
#define FL_WIDE 0
#endif

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
    *ed = vd_from_small_int(e);
    return vd_from_bits(vd_bits(s) - ((vu64)e << 52)) - 1.0;
}

/* vd_log_sum: log(s) in each double lane, for a sum of exponentials.
 *   Valid range: 1 <= s < +inf; other lanes (NaN included) give garbage,
 *                never a trap (callers that must keep a NaN select it back)
 *   Max error:   4 ulp */
FL_INLINE vd vd_log_sum(vd s)
{
    vd ed, f = vd_frac_ge1(s, &ed);
    return vd_log_finish(ed, f);
}

/* vf_log_sum: log(s) rounded to float, of double sums s given as two double
 * vectors (the lanes of lo, then those of hi).
 *   Valid range: 1 <= s < +inf as vd_log_sum; s need not be a float
 *   Max error:   2 ulp of the float result */
FL_INLINE vf vf_log_sum(vd lo, vd hi)
{
    vd elo, ehi, flo = vd_frac_ge1(lo, &elo), fhi = vd_frac_ge1(hi, &ehi);
    return vf_log_finish(vf_from_d(elo, ehi), vf_from_d(flo, fhi));
}

/* ------------------------------------------------- over arrays, for tests */

/* the functions math_map (drivers.pxi) runs over an array */
enum fl_fn { FL_FN_EXP = 0, FL_FN_LOG = 1, FL_FN_LOG1P = 2, FL_FN_LOG_SUM = 3,
             FL_FN_LOG1P_UNIT = 4, FL_FN_EXP_ANY = 5,
             FL_FN_EXP_ROWS = 6 };      /* the row passes' exp_neg (wide: avx512) */

FL_INLINE vf vf_apply(int fn, vf v)
{
    switch (fn) {
    case FL_FN_EXP:
    case FL_FN_EXP_ROWS: return vf_exp_neg(v);
    case FL_FN_LOG: return vf_log(v);
    case FL_FN_LOG1P: return vf_log1p(v);
    case FL_FN_LOG1P_UNIT: return vf_log1p_unit(v);
    case FL_FN_EXP_ANY: return vf_exp(v);
    default: return vf_log_sum(vf_lo_d(v), vf_hi_d(v));
    }
}

FL_INLINE vd vd_apply(int fn, vd v)
{
    switch (fn) {
    case FL_FN_EXP:
    case FL_FN_EXP_ROWS: return vd_exp_neg(v);
    case FL_FN_LOG: return vd_log(v);
    case FL_FN_LOG1P: return vd_log1p(v);
    case FL_FN_LOG1P_UNIT: return vd_log1p_unit(v);
    case FL_FN_EXP_ANY: return vd_exp(v);
    default: return vd_log_sum(v);
    }
}

/* out[j] = fn(x[j]) through the vector functions, each on its valid range
 * (tests/test_simd_math.py); the tail's unused lanes hold 1 */
static void fl_map_f(int fn, const float* x, float* out, ptrdiff_t n)
{
    ptrdiff_t j = 0;
#if FL_AVX512
    if (fn == FL_FN_EXP_ROWS) {
        for (; j + 16 <= n; j += 16) wf_store(out + j, wf_exp_neg(wf_load(x + j)));
        if (j < n) wf_store_part(out + j, wf_exp_neg(wf_load_part(x + j, n - j, 1.0f)), n - j);
        return;
    }
#endif
    for (; j + FL_VLF <= n; j += FL_VLF) vf_store(out + j, vf_apply(fn, vf_load(x + j)));
    if (j < n) vf_store_part(out + j, vf_apply(fn, vf_load_part(x + j, n - j, 1.0f)), n - j);
}

static void fl_map_d(int fn, const double* x, double* out, ptrdiff_t n)
{
    ptrdiff_t j = 0;
#if FL_AVX512
    if (fn == FL_FN_EXP_ROWS) {
        for (; j + 8 <= n; j += 8) wd_store(out + j, wd_exp_neg(wd_load(x + j)));
        if (j < n) wd_store_part(out + j, wd_exp_neg(wd_load_part(x + j, n - j, 1.0)), n - j);
        return;
    }
#endif
    for (; j + FL_VLD <= n; j += FL_VLD) vd_store(out + j, vd_apply(fn, vd_load(x + j)));
    if (j < n) vd_store_part(out + j, vd_apply(fn, vd_load_part(x + j, n - j, 1.0)), n - j);
}

#endif
