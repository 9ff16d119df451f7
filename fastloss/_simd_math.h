/* Vectorizable elementary functions and row loops for the fastloss kernels.
 *
 * GCC and Clang do not vectorize calls to the C library's exp/log without
 * -ffast-math, which fastloss refuses (it breaks inf/NaN semantics). The
 * functions here are branch-free (selects, not jumps) and inline, so the
 * `#pragma omp simd` loops below become vector code at whatever width the
 * translation unit is compiled for: the same source is compiled once per SIMD
 * path (baseline x86-64, AVX2, AVX-512) and the path is picked at import.
 *
 *   fl_expf  exp in float arithmetic           (float32 kernels)
 *   fl_exp   exp in double arithmetic          (float64 kernels, BCE)
 *   fl_log   log in double                     (log-sum-exp, BCE on probabilities)
 *   fl_log1p log1p in double                   (BCE)
 *
 * Method (textbook, e.g. Muller, "Elementary Functions", ch. 11 and fdlibm's
 * comments): exp reduces x = k ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2
 * split in a high part with trailing zero bits and a low part), evaluates the
 * Taylor series of exp(r) by Horner and scales by 2^k in two steps so that
 * subnormal results and k = 128 (float) or 1024 (double) need no branch. log
 * writes x = 2^e z with z in [sqrt(1/2), sqrt(2)), s = (z-1)/(z+1), and
 * log z = 2 atanh(s) as a series in s^2. log1p(x) = log(u) + (x - (u-1))/u
 * with u = 1 + x rounded, which recovers the bits lost in forming u
 * (Goldberg, "What every computer scientist should know...", thm. 4).
 * The coefficients are 1/k! and 2/(2j+1): exact rationals, no fitting.
 * tests/test_simd_math.py measures the error in ulps over the whole range.
 */
#ifndef FASTLOSS_SIMD_MATH_H
#define FASTLOSS_SIMD_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define FL_PRAGMA(x) _Pragma(#x)
#define FL_INLINE static inline __attribute__((always_inline))
#else
#define FL_PRAGMA(x)
#define FL_INLINE static __inline
#endif

/* ------------------------------------------------------------ bit casts */

FL_INLINE uint32_t fl_bits_f(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
FL_INLINE float fl_from_bits_f(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
FL_INLINE uint64_t fl_bits_d(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
FL_INLINE double fl_from_bits_d(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* ------------------------------------------------------------------ exp */

FL_INLINE float fl_expf(float x)
{
    /* Clamp first (a NaN becomes -104 here and is restored at the end):
     * exp(-104) rounds to 0 and exp(89) overflows to inf through the same
     * arithmetic as any other argument. */
    float xc = x > -104.0f ? x : -104.0f;
    xc = xc < 89.0f ? xc : 89.0f;
    /* k = round(x / ln2) by the 1.5 * 2^23 shifter (exact for |k| < 2^22) */
    float kf = (xc * 0x1.715476p+0f + 0x1.8p23f) - 0x1.8p23f;
    /* ln2 = 0x1.62ep-1 (12 trailing zero bits: k * hi is exact) + 0x1.0bfbe8p-15 */
    float r = xc - kf * 0x1.62ep-1f;
    r = r - kf * 0x1.0bfbe8p-15f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t k = (int32_t)kf;                    /* in [-150, 128] */
    int32_t k1 = k >> 1, k2 = k - k1;           /* each in [-75, 64] */
    float s1 = fl_from_bits_f((uint32_t)(k1 + 127) << 23);
    float s2 = fl_from_bits_f((uint32_t)(k2 + 127) << 23);
    float res = (p * s1) * s2;                  /* one rounding if subnormal */
    return x == x ? res : x;
}

/* 2^k for an integral double k in [-1022, 1023], built from its bits: the
 * 1.5 * 2^52 shifter leaves k in the low mantissa bits. */
FL_INLINE double fl_pow2_d(double k)
{
    uint64_t u = fl_bits_d(k + 0x1.8p52);
    return fl_from_bits_d((u + 1023) << 52);
}

FL_INLINE double fl_exp(double x)
{
    double xc = x > -746.0 ? x : -746.0;
    xc = xc < 710.0 ? xc : 710.0;
    double kd = (xc * 0x1.71547652b82fep+0 + 0x1.8p52) - 0x1.8p52;
    /* ln2 = 0x1.62e42p-1 (32 trailing zero bits) + 0x1.fdf473de6af28p-22 */
    double r = xc - kd * 0x1.62e42p-1;
    r = r - kd * 0x1.fdf473de6af28p-22;
    double p = 1.0 / 6227020800.0;              /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* k in [-1076, 1025]: split in two halves that are each a normal power */
    double k1 = (kd * 0.5 + 0x1.8p52) - 0x1.8p52;
    double res = (p * fl_pow2_d(k1)) * fl_pow2_d(kd - k1);
    return x == x ? res : x;
}

/* ------------------------------------------------------------------ log */

FL_INLINE double fl_log(double x)
{
    /* subnormals: scale by 2^52 first */
    int tiny = x < 0x1p-1022;
    double xs = tiny ? x * 0x1p52 : x;
    double ebias = tiny ? 52.0 : 0.0;
    /* t = bits(x) - bits(sqrt(1/2)) + 2^62 stays positive for every positive
     * normal x, so unsigned shifts give e = floor(log2(x / sqrt(1/2))). */
    uint64_t u = fl_bits_d(xs);
    uint64_t t = u - 0x3fe6a09e667f3bcdULL + 0x4000000000000000ULL;
    uint64_t ebits = t >> 52;                       /* e + 1024 */
    double e = fl_from_bits_d(ebits | 0x4330000000000000ULL) - 0x1p52 - 1024.0 - ebias;
    double z = fl_from_bits_d(u - ((t & 0xfff0000000000000ULL) - 0x4000000000000000ULL));
    double f = z - 1.0;                             /* in [-0.293, 0.415) */
    double s = f / (2.0 + f);
    double w = s * s;
    /* R = sum_{j>=1} 2 w^j / (2j+1); log(1+f) = f - (hfsq - s (hfsq + R)) */
    double q = 2.0 / 23.0;
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
    double R = q * w;
    double hfsq = 0.5 * f * f;
    double res = e * 0x1.62e42p-1
                 + (f - (hfsq - (s * (hfsq + R) + e * 0x1.fdf473de6af28p-22)));
    res = x == INFINITY ? x : res;
    res = x == 0.0 ? -INFINITY : res;
    res = x < 0.0 ? NAN : res;
    return x == x ? res : x;
}

FL_INLINE double fl_log1p(double x)
{
    double u = 1.0 + x;
    double res = fl_log(u) + (x - (u - 1.0)) / u;
    res = x == INFINITY ? x : res;
    res = x == -1.0 ? -INFINITY : res;
    res = x < -1.0 ? NAN : res;
    return x == x ? res : x;
}

/* Each function over an array, through the same vector loop the kernels use
 * (for tests/test_simd_math.py). Arrays must not overlap. */
static void fl_map_expf(const float* x, float* out, ptrdiff_t n)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++) out[j] = fl_expf(x[j]);
}

static void fl_map_exp(const double* x, double* out, ptrdiff_t n)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++) out[j] = fl_exp(x[j]);
}

static void fl_map_log(const double* x, double* out, ptrdiff_t n)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++) out[j] = fl_log(x[j]);
}

static void fl_map_log1p(const double* x, double* out, ptrdiff_t n)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++) out[j] = fl_log1p(x[j]);
}

#endif
