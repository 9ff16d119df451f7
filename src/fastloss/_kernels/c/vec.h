/* vec.h: the vector types of the kernels and their few operations.
 *
 * One source for every SIMD path: the types are GNU C vectors, 32 bytes wide
 * when compiled with AVX2+FMA (the avx2 path) and 16 bytes otherwise (the
 * baseline path: SSE2 on x86-64, NEON on aarch64, ...). Arithmetic is written
 * with C operators; the few operations whose best form differs by instruction
 * set (max, select, masked loads, horizontal reductions, transposes) are
 * functions with an AVX2 body and a portable one. Float operations are named
 * vf_*, double ones vd_*: those of the same form for both types are written
 * once (vec_ops.h, instantiated at the end of this file), those whose bodies
 * differ by more than the type (partial stores, horizontal steps, the
 * conversions between float and double halves, transposes) below.
 */
#ifndef FASTLOSS_VEC_H
#define FASTLOSS_VEC_H

#if !defined(__GNUC__)
#error "fastloss's kernels need GCC or Clang (GNU C vector extensions)"
#endif

#include <float.h>
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
/* the avx512 path: the AVX2 code above (encoded with AVX-512VL, which gives
 * it 32 vector registers), and 64-byte vectors in the row passes of long
 * rows (row_passes.h's fl_vmax_, fl_vsumexp_, ...: the exps, where the ports that
 * execute floating-point arithmetic are the bound) and in BCE with logits'
 * loop (elementwise.h) */
#if FL_AVX2 && defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512DQ__) \
    && defined(__AVX512BW__)
#define FL_AVX512 1
#else
#define FL_AVX512 0
#endif

#define FL_INLINE static inline __attribute__((always_inline))
#define FL_VLF (FL_VBYTES / 4)           /* float lanes */
#define FL_VLD (FL_VBYTES / 8)           /* double lanes */

#define FL_CAT_(a, b) a##b
#define FL_CAT(a, b) FL_CAT_(a, b)        /* a and b pasted, after expansion */

/* FL_GENERIC(p, fl_x): fl_x_f for a float pointer p, fl_x_d for a double one
 * (kernels.h names the kernels' float/double pairs with it) */
#define FL_GENERIC(p, name) _Generic((p), float*: name##_f, const float*: name##_f, \
                                          double*: name##_d, const double*: name##_d)

typedef float vf __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef double vd __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef int32_t vi32 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef int64_t vi64 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef uint32_t vu32 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
typedef uint64_t vu64 __attribute__((vector_size(FL_VBYTES), aligned(FL_VBYTES)));
/* unaligned views for loads and stores */
typedef float vf_u __attribute__((vector_size(FL_VBYTES), aligned(4), may_alias));
typedef double vd_u __attribute__((vector_size(FL_VBYTES), aligned(8), may_alias));
typedef int64_t vi64_u __attribute__((vector_size(FL_VBYTES), aligned(8), may_alias));

#if FL_AVX512
/* the wide vectors of the avx512 path (type.h's FL_WIDE): wf, wd, ... */
typedef float wf __attribute__((vector_size(64), aligned(64)));
typedef double wd __attribute__((vector_size(64), aligned(64)));
typedef int32_t wi32 __attribute__((vector_size(64), aligned(64)));
typedef int64_t wi64 __attribute__((vector_size(64), aligned(64)));
typedef uint32_t wu32 __attribute__((vector_size(64), aligned(64)));
typedef uint64_t wu64 __attribute__((vector_size(64), aligned(64)));
typedef float wf_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef double wd_u __attribute__((vector_size(64), aligned(8), may_alias));
#endif

/* all ones in lanes [0, k) of a vector of 32-bit lanes, read from index 8 - k
 * (vec_ops.h's masked loads; 64-bit lanes read two entries a lane) */
static const int32_t fl_ones32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* ------------------------------------------- AVX2 bodies, by type
 *
 * The AVX2 forms of vec_ops.h's partial stores, horizontal max and
 * transposes, whose instructions differ by more than the type; their
 * portable forms are written once there. */

#if FL_AVX2
FL_INLINE void vf_store_part_avx2(float* p, vf v, ptrdiff_t k)
{
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
}

FL_INLINE void vd_store_part_avx2(double* p, vd v, ptrdiff_t k)
{
    __m128d lo = _mm256_castpd256_pd128(v);
    if (k & 2) {
        _mm_storeu_pd(p, lo);
        lo = _mm256_extractf128_pd(v, 1);
        p += 2;
    }
    if (k & 1) _mm_store_sd(p, lo);
}

FL_INLINE float vf_hmax_avx2(vf v)
{
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

FL_INLINE double vd_hmax_avx2(vd v)
{
    __m128d a = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    a = _mm_max_sd(a, _mm_unpackhi_pd(a, a));
    return _mm_cvtsd_f64(a);
}

FL_INLINE void vf_transpose_avx2(vf* r)
{
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
}

FL_INLINE void vd_transpose_avx2(vd* r)
{
    __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}
#endif

/* ---------------------------------------------- both types: vec_ops.h */

#define FL_IS_FLOAT 1
#include "type.h"
#include "vec_ops.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "vec_ops.h"
#include "type_end.h"

/* ------------------------------------------------------- float only */

/* vf_lo_d, vf_hi_d: the two halves of a float vector as doubles */
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

/* vf_from_d: a float vector from two double vectors: lo's lanes, then hi's */
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

/* vf_transpose_lo4: columns 0..3 of FL_VLF rows: afterwards r[c] (c < 4)
 * holds column c (lane i: row i's element c); r[4..] are garbage. The cheap
 * transpose of a part with at most four valid columns. */
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

/* vf_transpose_lo4_inv: the inverse, columns r[0..3] to rows: r[i] lanes
 * 0..3 = row i's elements 0..3 (the other lanes garbage) */
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

/* ------------------------------------------------------ double only */

/* vd_hsum: the sum of the lanes, in a fixed order */
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

/* vd_transpose_lo4, vd_transpose_lo4_inv: doubles have no cheaper partial
 * transpose */
FL_INLINE void vd_transpose_lo4(vd* r) { vd_transpose(r); }
FL_INLINE void vd_transpose_lo4_inv(vd* r) { vd_transpose(r); }

/* ------------------------------------- the wide vectors (avx512 path) */

#if FL_AVX512
#undef FL_WIDE
#define FL_WIDE 1
#define FL_IS_FLOAT 1
#include "type.h"
#include "vec_ops.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "vec_ops.h"
#include "type_end.h"
#undef FL_WIDE
#define FL_WIDE 0

/* wf_lo_d, wf_hi_d: the two halves of a wide float vector as doubles */
FL_INLINE wd wf_lo_d(wf v) { return (wd)_mm512_cvtps_pd(_mm512_castps512_ps256(v)); }

FL_INLINE wd wf_hi_d(wf v)
{
    return (wd)_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd((__m512d)v, 1)));
}

/* wd_hsum: the sum of the lanes, in a fixed order */
FL_INLINE double wd_hsum(wd v)
{
    __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    return vd_hsum(a);
}
#endif

#endif
