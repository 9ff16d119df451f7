/* kernels.h: the C of the fastloss kernels, the one header the Cython
 * drivers include (through _kernels/c_api.pxd).
 *
 *   vec.h            vector types and their operations (and vec_ops.h)
 *   vmath.h          exp, log, log1p on vectors, each with its contract
 *                    (and vmath_t.h)
 *   points.h         each loss's value and gradient at one row or element
 *   rows.h           the row walks the families share (and row_passes.h,
 *                    the passes over one row)
 *   softmax.h        logsumexp, softmax, log_softmax of blocks of rows
 *   softmax_backward.h  their backward passes; SciPy's weighted logsumexp
 *   cross_entropy.h  cross-entropy of blocks of rows
 *   elementwise.h    BCE with logits, BCE, MSE, L1, smooth L1, Huber and
 *                    KL divergence over runs of elements
 *   unary.h          sigmoid, log_sigmoid, softplus over runs of elements
 *   floors.h         the memory floors of the benchmarks
 *   type.h           the names the templates are written in, per type
 *
 * This file declares what the drivers and the Python layer share (the
 * modes, the limits that choose a path, the arguments of a cross-entropy
 * call), instantiates the templates (templates.h: points.h's second part to
 * floors.h) once for float and once for double (type.h), so that
 * FL_NAME(fl_x_) defines fl_x_f and fl_x_d, and names the pairs: fl_x(...)
 * calls fl_x_f or fl_x_d by the element type of its first array argument
 * (C11 _Generic; the drivers pass typed pointers where c_api.pxd declares
 * void pointers).
 */
#ifndef FASTLOSS_KERNELS_H
#define FASTLOSS_KERNELS_H

#include "vmath.h"
#include "points.h"

/* ------------------------------------------------------------- modes */

/* What a kernel computes; the Python layer reads them from the compiled
 * module (CE_INDEX, ...). */
enum fl_mode {
    /* the softmax family (fl_softmax_rows, fl_softmax_inner) */
    FL_LSE = 0,
    FL_SOFTMAX = 1,
    FL_LOG_SOFTMAX = 2,
    /* the class-axis losses (class_loss) */
    FL_CE_INDEX = 3,       /* cross-entropy, class-index targets */
    FL_NLL_INDEX = 4,      /* negative log-likelihood of log-probabilities */
    FL_CE_PROB = 5,        /* cross-entropy, probability targets */
    /* the elementwise losses (fl_binary_run) */
    FL_BCE_LOGITS = 6,
    FL_BCE_PROB = 7,
    FL_MSE = 8,
    /* the regression and divergence losses (fl_binary_run, no weights) */
    FL_L1 = 9,
    FL_SMOOTH_L1 = 10,     /* its beta > 0 (beta 0 is FL_L1) as fl_binary_run's pw1 */
    FL_HUBER = 11,         /* its delta > 0 as fl_binary_run's pw1 */
    FL_KL_DIV = 12,        /* targets t: xlogy(t, t) - t x */
    FL_KL_DIV_LOG = 13,    /* log-targets t (log_target=True): exp(t) (t - x) */
};

/* ------------------------------------------------------------ limits */

/* The shapes at which the kernels change path; they depend on the shape and
 * the SIMD path only, never on the number of threads. The drivers read them
 * here and export them to Python as LIMITS (the tests build their boundary
 * shapes from that). */
enum fl_limits {
    /* elements per reduction block: a block is BLOCK_ELEMS / n rows (at
     * least 1, a multiple of 16 when larger), or BLOCK_ELEMS elements of an
     * elementwise loss; its sums are added in block order */
    FL_BLOCK_ELEMS = 2048,
    /* below this many elements a parallel region costs more than it saves */
    FL_PARALLEL_MIN = 32768,
    /* the most blocks of elements of a one-thread call */
    FL_FAST_BLOCKS = FL_PARALLEL_MIN / FL_BLOCK_ELEMS + 1,
    /* long rows are cut into chunks of FL_CHUNK elements (see fl_long_rows) */
    FL_CHUNK = 4096,
    FL_LONG_BYTES = 262144,
    /* rows of at most FL_SMALL_PARTS vectors of classes go rows-in-lanes */
    FL_SMALL_PARTS = 4,
    /* rows whose logs are taken together (a sub-block) */
    FL_SUB = 64,
};

/* Whether rows of n elements of itemsize bytes are long: cut into chunks of
 * FL_CHUNK elements, whose (max, sum) pairs are combined in chunk order and
 * which run in parallel, so that a few long rows keep every thread busy. By
 * the row's size alone, so that a row's value does not depend on the rows
 * around it (a block of few rows computes them as a block of many). */
static inline int fl_long_rows(ptrdiff_t n, ptrdiff_t itemsize)
{
    return n > 2 * FL_CHUNK && n * itemsize > FL_LONG_BYTES;
}

/* torch's clamp of the BCE gradient denominator: the float32 1e-12 */
#define FL_BCE_EPSILON ((double)1e-12f)

typedef struct { double m, s; } fl_ms;    /* max, sum_j exp(x_j - max) */

/* The arguments of a cross-entropy call (fl_ce_rows, fl_ce_inner); the
 * arrays are of the input's element type. */
typedef struct {
    int mode;              /* FL_CE_INDEX or FL_CE_PROB */
    ptrdiff_t n;           /* classes */
    const int64_t* y;      /* FL_CE_INDEX: class of each row, checked in range */
    int64_t ignore_index;
    const void* t;         /* FL_CE_PROB: probability targets, like x */
    const void* w;         /* class weights (ones when not given) */
    int unit_w;            /* every weight is 1 */
    double w_total;        /* sum of the weights with label smoothing, else 0 */
    double eps;            /* label smoothing */
    void* loss;            /* per-row loss, or NULL */
    void* grad;            /* gradient like x, or NULL; may be x */
    double g_scale;        /* the gradient of row r is g_scale go[r] d loss_r / d x_r */
    const void* go;        /* upstream gradient per row (stride go_stride), or NULL */
    ptrdiff_t go_stride;
} fl_ce_args;

/* What one block of a cross-entropy call adds up: the sums of its rows' loss
 * parts; with class-index targets the weight of its targets (w[y] of the
 * rows not ignored, added in row order: its share of the "mean"
 * denominator), a checksum of its targets (fl_target_mix, over every row),
 * and its first row whose target is neither a class nor ignore_index (-1:
 * none) with the value read there. Every engine reads a target once, checks it, and treats a bad one
 * as ignored: memory is never indexed with a value it has not checked. */
typedef struct {
    double nll, smooth, weight;
    uint64_t check;
    ptrdiff_t bad;
    int64_t bad_target;    /* the value read there */
} fl_ce_sums;

/* A target's share of a call's checksum, in wrapping arithmetic, so that
 * any partition of the rows adds up to the same sum. Changing one target by
 * d changes it by d (2r + 1) != 0 mod 2^64: two passes over an array that
 * another thread writes in between see different sums. */
#define FL_TARGET_MIX(r, y) (((y) + 0x9e3779b97f4a7c15ULL) * (2 * (r) + 1))  /* unsigned */
static inline uint64_t fl_target_mix(ptrdiff_t r, int64_t y)
{
    return FL_TARGET_MIX((uint64_t)r, (uint64_t)y);
}

/* Row r's target y, checked: 1 if it is a class of n, else 0 (ignored, or
 * out of range: then the first such row is recorded); its checksum added */
static inline int fl_target_ok(fl_ce_sums* s, ptrdiff_t r, int64_t y, ptrdiff_t n,
                               int64_t ignore_index)
{
    s->check += fl_target_mix(r, y);
    if (y == ignore_index)
        return 0;
    if ((uint64_t)y >= (uint64_t)n) {
        if (s->bad < 0) {
            s->bad = r;
            s->bad_target = y;
        }
        return 0;
    }
    return 1;
}

/* sums += the checks of a part (a group of rows done at once) */
static inline void fl_ce_sums_checks(fl_ce_sums* sums, const fl_ce_sums* part)
{
    sums->check += part->check;
    if (sums->bad < 0) {
        sums->bad = part->bad;
        sums->bad_target = part->bad_target;
    }
}

/* Vector checks of class-index targets, FL_VLD rows at a time, the same
 * checks as fl_target_ok's (the engines that hold rows in lanes and the
 * drivers' pass over the targets alone): */

/* the targets of rows [r, r + k) (y points at row r's; 0 <= k <= FL_VLD),
 * each read once; 0 in the lanes past k */
FL_INLINE vi64 fl_targets_load(const int64_t* y, ptrdiff_t k)
{
    vi64 yv = {0};
    if (k == FL_VLD)
        return *(const vi64_u*)y;
    for (ptrdiff_t i = 0; i < k; i++) yv[i] = y[i];
    return yv;
}

/* targets yv of rows r + i in lanes i < k: returns the lanes whose target is
 * a class of n (all ones); *mix is each lane's share of the checksum (0 past
 * k), *out the lanes whose target is neither a class nor ignore_index */
FL_INLINE vi64 fl_targets_lanes(vi64 yv, ptrdiff_t k, ptrdiff_t r, ptrdiff_t n,
                                int64_t ignore_index, vu64* mix, vi64* out)
{
    vi64 lane;
    for (int i = 0; i < FL_VLD; i++) lane[i] = i;
    const vi64 valid = lane < k;
    *mix = FL_TARGET_MIX((vu64)lane + (uint64_t)r, (vu64)yv) & (vu64)valid;
    const vi64 live = valid & ~(yv == ignore_index);
    *out = live & ((vu64)yv >= (uint64_t)n);
    return live & ~*out;
}

/* the first lane of out (of the targets yv of rows r + i) recorded in s as
 * fl_target_ok records it, unless s holds an earlier one */
FL_INLINE void fl_targets_bad(fl_ce_sums* s, vi64 out, vi64 yv, ptrdiff_t r)
{
    if (vi64_any(out) && s->bad < 0)
        for (int i = 0; i < FL_VLD; i++)
            if (out[i]) {
                s->bad = r + i;
                s->bad_target = yv[i];
                break;
            }
}

/* the wrapping sum of the lanes of a checksum vector (any order) */
FL_INLINE uint64_t fl_check_hsum(vu64 v)
{
    uint64_t c = 0;
    for (int i = 0; i < FL_VLD; i++) c += v[i];
    return c;
}

/* The loss summed over rows from the sums of its parts (nll, smooth) in a
 * class-axis mode: fl_ce_index_loss of the sums for class-index targets,
 * the first sum otherwise. Its two products are rounded separately (no
 * fused multiply-add), as the sums of 0.1 were combined. */
#if defined(__clang__)
static double fl_ce_total(int mode, double eps, ptrdiff_t n, double nll, double smooth)
{
#pragma clang fp contract(off)
#else
__attribute__((optimize("fp-contract=off")))
static double fl_ce_total(int mode, double eps, ptrdiff_t n, double nll, double smooth)
{
#endif
    return mode == FL_CE_INDEX ? fl_ce_index_loss(eps, eps / (double)n, nll, smooth) : nll;
}

/* --------------------------------------------------------- templates */

/* GCC cannot see that fl_cols_load_ fills every column the loops after it
 * read (c < n <= parts * lanes) and warns of uninitialized columns */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#if FL_AVX512
/* the avx512 path's row passes, on the wide vectors (row_passes.h; the
 * instantiations below then skip theirs), and BCE with logits' loop
 * (points.h's second part, elementwise.h: fl_binary_body_wf, _wd, which
 * the narrow fl_binary_run_ calls) */
#undef FL_WIDE
#define FL_WIDE 1
#define FL_IS_FLOAT 1
#include "type.h"
#include "row_passes.h"
#include "points.h"
#include "elementwise.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "row_passes.h"
#include "points.h"
#include "elementwise.h"
#include "type_end.h"
#undef FL_WIDE
#define FL_WIDE 0
#endif

#define FL_IS_FLOAT 1
#include "type.h"
#include "templates.h"
#include "type_end.h"
#define FL_IS_FLOAT 0
#include "type.h"
#include "templates.h"
#include "type_end.h"

#pragma GCC diagnostic pop

/* ------------------------------------------------ the pairs, by type */

/* The calls of the drivers: fl_softmax_rows(op, x, ...) is
 * fl_softmax_rows_f(op, x, ...) for a float x, fl_softmax_rows_d for a
 * double one; scalar arguments convert to the element type as in any call. */
#define fl_softmax_rows(op, x, ...) FL_GENERIC(x, fl_softmax_rows)(op, x, __VA_ARGS__)
#define fl_softmax_inner(op, x, ...) FL_GENERIC(x, fl_softmax_inner)(op, x, __VA_ARGS__)
#define fl_softmax_backward_rows(op, g, ...) FL_GENERIC(g, fl_softmax_backward_rows)(op, g, __VA_ARGS__)
#define fl_softmax_backward_inner(op, g, ...) FL_GENERIC(g, fl_softmax_backward_inner)(op, g, __VA_ARGS__)
#define fl_smb_sum(op, g, ...) FL_GENERIC(g, fl_smb_sum)(op, g, __VA_ARGS__)
#define fl_smb_apply(op, g, ...) FL_GENERIC(g, fl_smb_apply)(op, g, __VA_ARGS__)
#define fl_wlse_rows(x, ...) FL_GENERIC(x, fl_wlse_rows)(x, __VA_ARGS__)
#define fl_ce_rows(args, x, ...) FL_GENERIC(x, fl_ce_rows)(args, x, __VA_ARGS__)
#define fl_ce_inner(args, x, ...) FL_GENERIC(x, fl_ce_inner)(args, x, __VA_ARGS__)
#define fl_targets(y, w, ...) FL_GENERIC(w, fl_targets)(y, w, __VA_ARGS__)
#define fl_chunk_ms(x, ...) FL_GENERIC(x, fl_chunk_ms)(x, __VA_ARGS__)
#define fl_row_max_exact(x, ...) FL_GENERIC(x, fl_row_max_exact)(x, __VA_ARGS__)
#define fl_strided_fill(out, ...) FL_GENERIC(out, fl_strided_fill)(out, __VA_ARGS__)
#define fl_row_expaff(x, ...) FL_GENERIC(x, fl_row_expaff)(x, __VA_ARGS__)
#define fl_row_shift(x, ...) FL_GENERIC(x, fl_row_shift)(x, __VA_ARGS__)
#define fl_row_wdiff(x, ...) FL_GENERIC(x, fl_row_wdiff)(x, __VA_ARGS__)
#define fl_row_prob_sums(x, ...) FL_GENERIC(x, fl_row_prob_sums)(x, __VA_ARGS__)
#define fl_row_prob_grad(x, ...) FL_GENERIC(x, fl_row_prob_grad)(x, __VA_ARGS__)
#define fl_binary_run(mode, x, ...) FL_GENERIC(x, fl_binary_run)(mode, x, __VA_ARGS__)
#define fl_sum(x, ...) FL_GENERIC(x, fl_sum)(x, __VA_ARGS__)
#define fl_copy(x, ...) FL_GENERIC(x, fl_copy)(x, __VA_ARGS__)
#define fl_map(fn, x, ...) FL_GENERIC(x, fl_map)(fn, x, __VA_ARGS__)
/* the activations (unary.h) */
#define fl_unary_run(op, x, ...) FL_GENERIC(x, fl_unary_run)(op, x, __VA_ARGS__)

#if FL_AVX512
#define FL_SIMD_WIDTH "avx512 (256-bit vectors; 512-bit in the passes over long rows " \
    "and in BCE with logits)"
#elif FL_AVX2
#define FL_SIMD_WIDTH "avx2 (256-bit vectors)"
#elif defined(__SSE2__)
#define FL_SIMD_WIDTH "sse2 (128-bit vectors)"
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define FL_SIMD_WIDTH "neon (128-bit vectors)"
#else
#define FL_SIMD_WIDTH "generic (128-bit vectors)"
#endif

#endif
