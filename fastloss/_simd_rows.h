/* Row loops of the fastloss kernels, written so that GCC/Clang vectorize them
 * (`#pragma omp simd` with reductions; the elementary functions of
 * _simd_math.h inline into the loop body).
 *
 * Every function exists for float (suffix _f, exp in float arithmetic) and
 * double (_d); sums are accumulated in double either way. Rows are
 * contiguous. A row's max ignores NaN (a NaN still reaches the sum and makes
 * it NaN); the caller treats a row whose max is not finite by the slow,
 * exact scalar path, so +-inf and NaN keep their documented meaning.
 *
 * In-place safety: functions that write `out` read x[j] (and e[j]) before
 * writing out[j] and never read them afterwards, so out may be x.
 */
#ifndef FASTLOSS_SIMD_ROWS_H
#define FASTLOSS_SIMD_ROWS_H

#include "_simd_math.h"

/* A row shorter than this many classes goes through the block path: the
 * exps of a whole block of rows are one flat vector loop. */
#ifndef FL_SMALL_C
#define FL_SMALL_C 128
#endif
#define FL_SHORT_ROW 32
/* Online log-sum-exp: elements per chunk (read twice while in L1). */
#define FL_CHUNK 2048

typedef struct { double m, s; } fl_ms;    /* row max, sum_j exp(x_j - max) */

/* torch's clamp of the BCE gradient denominator: the float32 1e-12 */
#define FL_BCE_EPSILON ((double)1e-12f)

enum { FL_BCE_LOGITS = 0, FL_BCE_PROB = 1, FL_MSE = 2 };

#define FL_PASTE(a, b) a##b
#define FL_T float
#define FL_NAME(name) FL_PASTE(name, f)
#define FL_EXPT fl_expf
#include "_simd_rows_t.h"
#undef FL_T
#undef FL_NAME
#undef FL_EXPT
#define FL_T double
#define FL_NAME(name) FL_PASTE(name, d)
#define FL_EXPT fl_exp
#include "_simd_rows_t.h"
#undef FL_T
#undef FL_NAME
#undef FL_EXPT

/* log of n doubles, vectorized (per-row log-sum-exp of a block) */
static void fl_log_many(const double* s, double* out, ptrdiff_t n)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++) out[j] = fl_log(s[j]);
}

#if defined(__AVX512F__)
#define FL_SIMD_WIDTH "avx512 (512-bit vectors)"
#elif defined(__AVX2__)
#define FL_SIMD_WIDTH "avx2 (256-bit vectors)"
#elif defined(__SSE2__) || defined(_M_X64)
#define FL_SIMD_WIDTH "sse2 (128-bit vectors)"
#elif defined(__aarch64__)
#define FL_SIMD_WIDTH "neon (128-bit vectors)"
#else
#define FL_SIMD_WIDTH "compiler default"
#endif

#endif
