/* Vector types and operations for the fastloss kernels.
 *
 * One source for every SIMD path: the types are GNU C vectors, 32 bytes wide
 * when compiled with AVX2+FMA (the avx2 path) and 16 bytes otherwise (the
 * baseline path: SSE2 on x86-64, NEON on aarch64, ...). Arithmetic is written
 * with C operators; the few operations whose best form differs by instruction
 * set (max, select, masked loads, horizontal reductions, transposes) are
 * functions below with an AVX2 body and a portable one.
 */
#ifndef FASTLOSS_SIMD_VEC_H
#define FASTLOSS_SIMD_VEC_H

#if !defined(__GNUC__)
#error "fastloss's kernels need GCC or Clang (GNU C vector extensions)"
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FL_AVX2 1
#define FL_VBYTES 32
#else
#define FL_AVX2 0
#define FL_VBYTES 16
#endif

#define FL_INLINE static inline __attribute__((always_inline))
#define FL_VLF (FL_VBYTES / 4)           /* float lanes */
#define FL_VLD (FL_VBYTES / 8)           /* double lanes */

typedef float vf __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef double vd __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef int32_t vi32 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef int64_t vi64 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef uint32_t vu32 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef uint64_t vu64 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
/* unaligned views for loads and stores */
typedef float vf_u __attribute__((vector_size(FL_VBYTES), aligned(4), may_alias));
typedef double vd_u __attribute__((vector_size(FL_VBYTES), aligned(8), may_alias));

/* ---------------------------------------------------------------- float */

FL_INLINE vf vf_set1(float a) { return (vf){0} + a; }
FL_INLINE vf vf_load(const float* p) { return *(const vf_u*)p; }
FL_INLINE void vf_store(float* p, vf v) { *(vf_u*)p = v; }
FL_INLINE vu32 vf_bits(vf v) { return (vu32)v; }
FL_INLINE vf vf_from_bits(vu32 v) { return (vf)v; }

/* a > b ? a : b, and b where either is NaN (x86 maxps) */
FL_INLINE vf vf_max(vf a, vf b)
{
#if FL_AVX2
    return _mm256_max_ps(a, b);
#else
    vi32 m = a > b;
    return (vf)((m & (vi32)a) | (~m & (vi32)b));
#endif
}

FL_INLINE vf vf_min(vf a, vf b)
{
#if FL_AVX2
    return _mm256_min_ps(a, b);
#else
    vi32 m = a < b;
    return (vf)((m & (vi32)a) | (~m & (vi32)b));
#endif
}

/* mask ? a : b, mask lanes all ones or all zeros */
FL_INLINE vf vf_select(vi32 mask, vf a, vf b)
{
#if FL_AVX2
    return _mm256_blendv_ps(b, a, (__m256)mask);
#else
    return (vf)((mask & (vi32)a) | (~mask & (vi32)b));
#endif
}

/* lanes [0, k) from p, the others `fill`; 0 <= k <= FL_VLF. Reads only p[0, k). */
FL_INLINE vf vf_load_part(const float* p, ptrdiff_t k, float fill)
{
#if FL_AVX2
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    __m256i m = _mm256_loadu_si256((const __m256i*)(ones + 8 - k));
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), (__m256)m);
#else
    vf v = vf_set1(fill);
    for (ptrdiff_t i = 0; i < k; i++) v[i] = p[i];
    return v;
#endif
}

/* p[0, k) = lanes [0, k) of v, 0 <= k < lanes (a whole vector is a
 * store); writes nothing else. */
FL_INLINE void vf_store_part(float* p, vf v, ptrdiff_t k)
{
#if FL_AVX2
    __m128 lo = _mm256_castps256_ps128(v);
    if (k & 4) {
        _mm_storeu_ps(p, lo);
        lo = _mm256_extractf128_ps(v, 1);
        p += 4;
    }
    if (k & 2) {
        _mm_storel_pi((__m64*)p, lo);
        lo = _mm_movehl_ps(lo, lo);
        p += 2;
    }
    if (k & 1) _mm_store_ss(p, lo);
#else
    for (ptrdiff_t i = 0; i < k; i++) p[i] = v[i];
#endif
}

FL_INLINE float vf_hmax(vf v)
{
#if FL_AVX2
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
#else
    float m = v[0];
    for (int i = 1; i < FL_VLF; i++) m = v[i] > m ? v[i] : m;
    return m;
#endif
}

/* the two halves of a float vector as doubles */
FL_INLINE vd vf_lo_d(vf v)
{
#if FL_AVX2
    return _mm256_cvtps_pd(_mm256_castps256_ps128(v));
#else
    vd r;
    for (int i = 0; i < FL_VLD; i++) r[i] = v[i];
    return r;
#endif
}

FL_INLINE vd vf_hi_d(vf v)
{
#if FL_AVX2
    return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
#else
    vd r;
    for (int i = 0; i < FL_VLD; i++) r[i] = v[i + FL_VLD];
    return r;
#endif
}

/* a float vector from two double vectors: lo's lanes, then hi's */
FL_INLINE vf vf_from_d(vd lo, vd hi)
{
#if FL_AVX2
    return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
#else
    vf r;
    for (int i = 0; i < FL_VLD; i++) {
        r[i] = (float)lo[i];
        r[i + FL_VLD] = (float)hi[i];
    }
    return r;
#endif
}

/* all ones in lanes [0, k), zeros in the others */
FL_INLINE vi32 vf_lane_lt(ptrdiff_t k)
{
    vi32 r;
    for (int i = 0; i < FL_VLF; i++) r[i] = i < k ? -1 : 0;
    return r;
}

/* In-place transpose of FL_VLF vectors (row i lane j <-> row j lane i). */
FL_INLINE void vf_transpose(vf* r)
{
#if FL_AVX2
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
#else
    float t[FL_VLF][FL_VLF];
    for (int i = 0; i < FL_VLF; i++)
        for (int j = 0; j < FL_VLF; j++) t[j][i] = r[i][j];
    for (int i = 0; i < FL_VLF; i++) memcpy(&r[i], t[i], sizeof(vf));
#endif
}

/* Columns 0..3 of FL_VLF rows: afterwards r[c] (c < 4) holds column c (lane
 * i: row i's element c); r[4..] are garbage. The cheap transpose of a part
 * with at most four valid columns. */
FL_INLINE void vf_transpose_lo4(vf* r)
{
#if FL_AVX2
    __m256 a0 = _mm256_insertf128_ps(r[0], _mm256_castps256_ps128(r[4]), 1);
    __m256 a1 = _mm256_insertf128_ps(r[1], _mm256_castps256_ps128(r[5]), 1);
    __m256 a2 = _mm256_insertf128_ps(r[2], _mm256_castps256_ps128(r[6]), 1);
    __m256 a3 = _mm256_insertf128_ps(r[3], _mm256_castps256_ps128(r[7]), 1);
    __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    r[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    r[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    r[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    r[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
#else
    vf_transpose(r);
#endif
}

/* The inverse: columns r[0..3] to rows, r[i] lanes 0..3 = row i's elements
 * 0..3 (the other lanes garbage). */
FL_INLINE void vf_transpose_lo4_inv(vf* r)
{
#if FL_AVX2
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 a0 = _mm256_shuffle_ps(t0, t2, 0x44), a1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 a2 = _mm256_shuffle_ps(t1, t3, 0x44), a3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    r[0] = a0;
    r[1] = a1;
    r[2] = a2;
    r[3] = a3;
    r[4] = _mm256_permute2f128_ps(a0, a0, 0x01);
    r[5] = _mm256_permute2f128_ps(a1, a1, 0x01);
    r[6] = _mm256_permute2f128_ps(a2, a2, 0x01);
    r[7] = _mm256_permute2f128_ps(a3, a3, 0x01);
#else
    vf_transpose(r);
#endif
}

/* finite lanes (not +-inf, not NaN) */
FL_INLINE vi32 vf_finite(vf v)
{
    return (vi32)(vf_bits(v) & 0x7fffffffu) < 0x7f800000;
}

FL_INLINE int vi32_any(vi32 m)
{
#if FL_AVX2
    return _mm256_movemask_ps((__m256)m) != 0;
#else
    int32_t a = 0;
    for (int i = 0; i < FL_VLF; i++) a |= m[i];
    return a != 0;
#endif
}

/* --------------------------------------------------------------- double */

FL_INLINE vd vd_set1(double a) { return (vd){0} + a; }
FL_INLINE vd vd_load(const double* p) { return *(const vd_u*)p; }
FL_INLINE void vd_store(double* p, vd v) { *(vd_u*)p = v; }
FL_INLINE vu64 vd_bits(vd v) { return (vu64)v; }
FL_INLINE vd vd_from_bits(vu64 v) { return (vd)v; }

FL_INLINE vd vd_max(vd a, vd b)
{
#if FL_AVX2
    return _mm256_max_pd(a, b);
#else
    vi64 m = a > b;
    return (vd)((m & (vi64)a) | (~m & (vi64)b));
#endif
}

FL_INLINE vd vd_min(vd a, vd b)
{
#if FL_AVX2
    return _mm256_min_pd(a, b);
#else
    vi64 m = a < b;
    return (vd)((m & (vi64)a) | (~m & (vi64)b));
#endif
}

FL_INLINE vd vd_select(vi64 mask, vd a, vd b)
{
#if FL_AVX2
    return _mm256_blendv_pd(b, a, (__m256d)mask);
#else
    return (vd)((mask & (vi64)a) | (~mask & (vi64)b));
#endif
}

FL_INLINE vd vd_load_part(const double* p, ptrdiff_t k, double fill)
{
#if FL_AVX2
    static const int64_t ones[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    __m256i m = _mm256_loadu_si256((const __m256i*)(ones + 4 - k));
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), (__m256d)m);
#else
    vd v = vd_set1(fill);
    for (ptrdiff_t i = 0; i < k; i++) v[i] = p[i];
    return v;
#endif
}

/* as vf_store_part: 0 <= k < lanes */
FL_INLINE void vd_store_part(double* p, vd v, ptrdiff_t k)
{
#if FL_AVX2
    __m128d lo = _mm256_castpd256_pd128(v);
    if (k & 2) {
        _mm_storeu_pd(p, lo);
        lo = _mm256_extractf128_pd(v, 1);
        p += 2;
    }
    if (k & 1) _mm_store_sd(p, lo);
#else
    for (ptrdiff_t i = 0; i < k; i++) p[i] = v[i];
#endif
}

FL_INLINE double vd_hmax(vd v)
{
#if FL_AVX2
    __m128d a = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    a = _mm_max_sd(a, _mm_unpackhi_pd(a, a));
    return _mm_cvtsd_f64(a);
#else
    double m = v[0];
    for (int i = 1; i < FL_VLD; i++) m = v[i] > m ? v[i] : m;
    return m;
#endif
}

/* sum of the lanes, in a fixed order */
FL_INLINE double vd_hsum(vd v)
{
#if FL_AVX2
    __m128d a = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    a = _mm_add_sd(a, _mm_unpackhi_pd(a, a));
    return _mm_cvtsd_f64(a);
#else
    double s = v[0];
    for (int i = 1; i < FL_VLD; i++) s += v[i];
    return s;
#endif
}

FL_INLINE vi64 vd_finite(vd v)
{
    return (vi64)(vd_bits(v) & 0x7fffffffffffffffULL) < 0x7ff0000000000000LL;
}

FL_INLINE int vi64_any(vi64 m)
{
#if FL_AVX2
    return _mm256_movemask_pd((__m256d)m) != 0;
#else
    int64_t a = 0;
    for (int i = 0; i < FL_VLD; i++) a |= m[i];
    return a != 0;
#endif
}

/* doubles have no cheaper partial transpose */
FL_INLINE void vd_transpose(vd* r);
FL_INLINE void vd_transpose_lo4(vd* r) { vd_transpose(r); }
FL_INLINE void vd_transpose_lo4_inv(vd* r) { vd_transpose(r); }

FL_INLINE vi64 vd_lane_lt(ptrdiff_t k)
{
    vi64 r;
    for (int i = 0; i < FL_VLD; i++) r[i] = i < k ? -1 : 0;
    return r;
}

FL_INLINE void vd_transpose(vd* r)
{
#if FL_AVX2
    __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
#else
    double t[FL_VLD][FL_VLD];
    for (int i = 0; i < FL_VLD; i++)
        for (int j = 0; j < FL_VLD; j++) t[j][i] = r[i][j];
    for (int i = 0; i < FL_VLD; i++) memcpy(&r[i], t[i], sizeof(vd));
#endif
}

#endif
