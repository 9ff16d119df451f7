/* Row engines of the fastloss kernels, on the vectors of _simd_vec.h.
 *
 * The kernels in _kernels.pxi split the rows of a C-contiguous (rows, n)
 * array into fixed blocks and hand each block to one function here, which
 * picks how to walk it by the row length n:
 *
 *   small  (n <= FL_SMALL_PARTS vectors): FL_VL rows at a time, rows in the
 *          lanes. A group's rows are loaded and transposed in registers, so
 *          the max, the exps, the sums and the outputs of FL_VL rows are
 *          plain vector operations with no horizontal step and no tail.
 *   medium (longer rows): one row at a time, vector loops with a masked
 *          tail; the row is read twice while it is in cache (max, then
 *          exp-and-sum, which also stores the exps where they are an output),
 *          and the logs of a group of rows are taken together.
 *   long   (n > FL_LONG_MIN, driven by the kernels): a row is cut into chunks
 *          of FL_CHUNK elements whose (max, sum) pairs are combined, so that
 *          every thread works on a few long rows as well.
 *
 * Special rows. A row whose max is not finite (it holds +inf or NaN, or
 * every element is -inf) has exact, documented results (logsumexp +inf, -inf
 * or NaN; everything else NaN) and is handled by name, not by the vector
 * arithmetic; a NaN in a row with a finite max propagates through the exps
 * and the sum to every output of the row.
 *
 * Sums: per-row sums are taken in double, except that the exps of up to four
 * vectors (and the FL_VL row sums of the small path, at most 4 FL_VL terms
 * of at most 1 each) are first added in the element type; each such term
 * goes through at most two float roundings before reaching the double sum.
 *
 * In-place safety: every output element is written after the inputs it
 * depends on were read, and the exps a pass stores are read back only by the
 * same row's later passes, so `out`/`grad` may be `x` itself.
 */
#ifndef FASTLOSS_SIMD_ROWS_H
#define FASTLOSS_SIMD_ROWS_H

#include "_simd_math.h"

/* rows of at most this many vectors of classes go rows-in-lanes */
#define FL_SMALL_PARTS 4
/* rows whose logs the medium path takes together */
#define FL_GROUP 8
/* long rows: chunks of this many elements (a chunk is read twice, in L1) */
#define FL_CHUNK 4096
#define FL_LONG_MIN 8192

typedef struct { double m, s; } fl_ms;    /* max, sum_j exp(x_j - max) */

/* torch's clamp of the BCE gradient denominator: the float32 1e-12 */
#define FL_BCE_EPSILON ((double)1e-12f)

enum { FL_LSE = 0, FL_SOFTMAX = 1, FL_LOG_SOFTMAX = 2 };
enum { FL_CE_INDEX = 0, FL_CE_PROB = 2 };
enum { FL_BCE_LOGITS = 0, FL_BCE_PROB = 1, FL_MSE = 2 };

#define FL_PASTE(a, b) a##b

/* GCC cannot see that fl_cols_load_ fills every column the loops after it
 * read (c < n <= parts * lanes) and warns of uninitialized columns */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define FL_T float
#define FL_IS_FLOAT 1
#define FL_V vf
#define FL_VL FL_VLF
#define FL_NAME(name) FL_PASTE(name, f)
#define FL_VOP(name) FL_PASTE(vf_, name)
#define FL_VI vi32
#define FL_VANY vi32_any
#include "_simd_rows_t.h"
#undef FL_T
#undef FL_V
#undef FL_VL
#undef FL_NAME
#undef FL_VOP
#undef FL_VI
#undef FL_VANY
#undef FL_IS_FLOAT

#define FL_T double
#define FL_IS_FLOAT 0
#define FL_V vd
#define FL_VL FL_VLD
#define FL_NAME(name) FL_PASTE(name, d)
#define FL_VOP(name) FL_PASTE(vd_, name)
#define FL_VI vi64
#define FL_VANY vi64_any
#include "_simd_rows_t.h"
#undef FL_T
#undef FL_V
#undef FL_VL
#undef FL_NAME
#undef FL_VOP
#undef FL_VI
#undef FL_VANY
#undef FL_IS_FLOAT
#pragma GCC diagnostic pop

#if FL_AVX2
#define FL_SIMD_WIDTH "avx2 (256-bit vectors)"
#elif defined(__SSE2__)
#define FL_SIMD_WIDTH "sse2 (128-bit vectors)"
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define FL_SIMD_WIDTH "neon (128-bit vectors)"
#else
#define FL_SIMD_WIDTH "generic (128-bit vectors)"
#endif

#endif
