/* row_passes.h: the vector passes over one contiguous row of the softmax
 * family and cross-entropy (rows.h's medium and long rows), a template (see
 * type.h): rows.h includes it for vf and vd, and on the avx512 path kernels.h
 * also for the wide vectors wf and wd (type.h's FL_WIDE). There the passes
 * (fl_vmax_f ... fl_row_shift_d) are the wide ones: their arithmetic is the
 * same lane for lane, 16 float lanes at a time instead of 8, so that the
 * exps of a row take half the instructions (the ports that execute them were
 * the bound of the avx2 path at 1,000 classes); the row's sums then group
 * other lanes and may differ from the avx2 path's in the last bit. The
 * helpers (vf_acc, vf_exp_part, ...) exist for every width, by name.
 */
#ifndef FL_T
#error "row_passes.h is a template: rows.h and kernels.h include it once per type"
#endif

/* vf_acc, vd_acc (wf_acc, wd_acc): the lanes of v added to double
 * accumulators of its width (two of them for float lanes) */
FL_INLINE void FL_VOP(acc)(FL_VD* a0, FL_VD* a1, FL_V v)
{
#if FL_IS_FLOAT
    *a0 += FL_VOP(lo_d)(v);
    *a1 += FL_VOP(hi_d)(v);
#else
    (void)a1;
    *a0 += v;
#endif
}

/* vf_exp_term, vd_exp_term (wf_, wd_): exp(x_j - m) of the FL_VL elements
 * at x, as a rounded product that is never fused into the sum it is added
 * to. A fused multiply-add would round a product below the normal range
 * together with the sum (the underflow flag then stays clear), and the
 * compiler fuses in one copy of a pass and not in another (the copy without
 * stores; a row's exps paired with another row's): the sums of a row then
 * depended, in principle, on which copy ran it. The empty asm makes the
 * product a value the compiler cannot see through. */
FL_INLINE FL_V FL_VOP(exp_term)(const FL_T* x, FL_V vm)
{
    FL_V e = FL_VOP(exp_neg)(FL_VOP(load)(x) - vm);
#if defined(__AVX512F__)
    __asm__("" : "+v"(e));
#elif defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+x"(e));
#else
    __asm__("" : "+w"(e));
#endif
    return e;
}

/* vf_exp_part, vd_exp_part (wf_, wd_): exp(x_j - m) of the k <= FL_VL elements at
 * x in lanes [0, k), 0 in the others. The other lanes are loaded as m, so
 * that their exp is exp(0), and then cleared: not loaded as -inf, whose exp
 * underflows, and an instruction whose result underflows takes a microcode
 * assist on Intel cores (some 100 cycles: with a -inf fill, float32 rows of
 * 100 classes took twice as long per element as rows of 96 or 104 on a
 * Xeon; AMD's Zen 3 showed no such cost). Data that underflows still pays
 * it; fills no longer do. */
FL_INLINE FL_V FL_VOP(exp_part)(const FL_T* x, ptrdiff_t k, FL_V vm)
{
    FL_V e = FL_VOP(exp_neg)(FL_VOP(load_part)(x, k, vm[0]) - vm);
    return FL_VOP(select)(FL_VOP(lane_lt)(k), e, FL_VOP(set1)(0));
}

#ifndef FL_PREFETCH_ONCE
#define FL_PREFETCH_ONCE
/* how far ahead of the data being computed the loops prefetch */
#define FL_PREFETCH_BYTES 2048
/* rows shorter than this whose sums alone are owed go by pairs (fl_vsumexp2_) */
#ifndef FL_PAIRS_BELOW
#define FL_PAIRS_BELOW 512
#endif
/* fl_prefetch_ahead: the cache lines of [p + FL_PREFETCH_BYTES, p +
 * FL_PREFETCH_BYTES + bytes): what a loop at p reads (write 0) or writes
 * (write 1, a constant) a few iterations (or groups of rows) later. Out of
 * cache the hardware prefetcher alone left the vector loops waiting on
 * memory (BCE with logits over 10,000,000 float32: 3.35 ns per element
 * against 1.04 with its prefetch), and a store to a line not in cache waits
 * for the line to be read; a prefetch past the array never faults. */
FL_INLINE void fl_prefetch_ahead(const void* p, ptrdiff_t bytes, const int write)
{
    const char* q = (const char*)p + FL_PREFETCH_BYTES;
    for (ptrdiff_t k = 0; k < bytes; k += 64) {
        if (write)
            __builtin_prefetch(q + k, 1, 3);
        else
            __builtin_prefetch(q + k, 0, 3);
    }
}
#endif

#if FL_WIDE || !FL_AVX512    /* on the avx512 path the wide passes are the ones */

/* fl_vmax_f, fl_vmax_d: the max of a contiguous row, by vectors. A NaN may or
 * may not show in it (it reaches every result through the exps anyway); -inf
 * if empty. */
FL_INLINE FL_T FL_NAME(fl_vmax_)(const FL_T* x, ptrdiff_t n)
{
    FL_V m0 = FL_VOP(set1)(-INFINITY), m1 = m0;
    ptrdiff_t j = 0;
    if (n >= 8 * FL_VL) {
        /* eight chains: two were a dependent max (4 cycles) every two
         * vectors (logsumexp at 1,000 classes 1.15x faster with eight) */
        FL_V mm[8];
        for (int u = 0; u < 8; u++) mm[u] = m0;
        for (; j + 8 * FL_VL <= n; j += 8 * FL_VL)
            for (int u = 0; u < 8; u++) mm[u] = FL_VOP(max)(mm[u], FL_VOP(load)(x + j + u * FL_VL));
        for (int u = 0; u < 4; u++) mm[u] = FL_VOP(max)(mm[u], mm[u + 4]);
        m0 = FL_VOP(max)(mm[0], mm[1]);
        m1 = FL_VOP(max)(mm[2], mm[3]);
    }
    for (; j + 2 * FL_VL <= n; j += 2 * FL_VL) {
        m0 = FL_VOP(max)(m0, FL_VOP(load)(x + j));
        m1 = FL_VOP(max)(m1, FL_VOP(load)(x + j + FL_VL));
    }
    if (j + FL_VL <= n) {
        m0 = FL_VOP(max)(m0, FL_VOP(load)(x + j));
        j += FL_VL;
    }
    if (j < n)              /* the last whole vector, overlapping: max is idempotent */
        m1 = FL_VOP(max)(m1, n >= FL_VL ? FL_VOP(load)(x + n - FL_VL)
                                        : FL_VOP(load_part)(x + j, n - j, -INFINITY));
    return FL_VOP(hmax)(FL_VOP(max)(m0, m1));
}

/* fl_vsumexp_f, fl_vsumexp_d: sum_j exp(x_j - m) for a finite m; the exps are
 * also stored to e unless it is NULL (e may be x). */
FL_INLINE double FL_NAME(fl_vsumexp_)(const FL_T* x, ptrdiff_t n, FL_T m, FL_T* e)
{
    const ptrdiff_t near = FL_PREFETCH_BYTES / (ptrdiff_t)sizeof(FL_T), ahead = n > near ? n : near;
    FL_V vm = FL_VOP(set1)(m);
    FL_VD a0 = FL_VDOP(set1)(0.0), a1 = a0;
    ptrdiff_t j = 0;
    for (; j + 4 * FL_VL <= n; j += 4 * FL_VL) {
        /* the next row, while this one is computed from cache (its max pass
         * then finds it there instead of waiting on memory), or 2 KiB ahead
         * when rows are shorter (rows of 100 float32: 1.2x) */
        __builtin_prefetch(x + ahead + j, 0, 3);
        __builtin_prefetch(x + ahead + j + 2 * FL_VL, 0, 3);
#if FL_WIDE                         /* four lines a step */
        __builtin_prefetch(x + ahead + j + FL_VL, 0, 3);
        __builtin_prefetch(x + ahead + j + 3 * FL_VL, 0, 3);
#endif
        FL_V e0 = FL_VOP(exp_term)(x + j, vm);
        FL_V e1 = FL_VOP(exp_term)(x + j + FL_VL, vm);
        FL_V e2 = FL_VOP(exp_term)(x + j + 2 * FL_VL, vm);
        FL_V e3 = FL_VOP(exp_term)(x + j + 3 * FL_VL, vm);
        if (e != NULL) {
            /* the output as far ahead, for writing: its stores then find it
             * in cache instead of each waiting for its line to be read
             * (value_and_grad at 1,000 classes from 0.71x to 0.9x of copy) */
            __builtin_prefetch(e + ahead + j, 1, 3);
            __builtin_prefetch(e + ahead + j + 2 * FL_VL, 1, 3);
#if FL_WIDE
            __builtin_prefetch(e + ahead + j + FL_VL, 1, 3);
            __builtin_prefetch(e + ahead + j + 3 * FL_VL, 1, 3);
#endif
            FL_VOP(store)(e + j, e0);
            FL_VOP(store)(e + j + FL_VL, e1);
            FL_VOP(store)(e + j + 2 * FL_VL, e2);
            FL_VOP(store)(e + j + 3 * FL_VL, e3);
        }
        FL_VOP(acc)(&a0, &a1, (e0 + e1) + (e2 + e3));
    }
    for (; j + FL_VL <= n; j += FL_VL) {
        FL_V v = FL_VOP(exp_term)(x + j, vm);
        if (e != NULL) FL_VOP(store)(e + j, v);
        FL_VOP(acc)(&a0, &a1, v);
    }
    if (j < n) {
        FL_V v = FL_VOP(exp_part)(x + j, n - j, vm);
        if (e != NULL) FL_VOP(store_part)(e + j, v, n - j);
        FL_VOP(acc)(&a0, &a1, v);
    }
    return FL_VDOP(hsum)(a0 + a1);
}

/* fl_vsumexp2_f, fl_vsumexp2_d: fl_vsumexp_ of two rows of n at x0 and x1
 * (maxes m0, m1; no stores) in one loop, each row's sum fl_vsumexp_'s bit
 * for bit (its exps grouped the same way). A row's exps wait for its max,
 * and its sum's last additions for each other: on rows of a few hundred
 * classes one row alone leaves the vector units idle during those waits,
 * which the other row's work fills. */
FL_INLINE void FL_NAME(fl_vsumexp2_)(const FL_T* x0, const FL_T* x1, ptrdiff_t n, FL_T m0,
                                     FL_T m1, double* s0, double* s1)
{
    const ptrdiff_t near = FL_PREFETCH_BYTES / (ptrdiff_t)sizeof(FL_T);
    const ptrdiff_t ahead = 2 * n > near ? 2 * n : near;    /* the next pair */
    FL_V vm0 = FL_VOP(set1)(m0), vm1 = FL_VOP(set1)(m1);
    FL_VD a0 = FL_VDOP(set1)(0.0), a1 = a0, b0 = a0, b1 = a0;
    ptrdiff_t j = 0;
    for (; j + 4 * FL_VL <= n; j += 4 * FL_VL) {
        __builtin_prefetch(x0 + ahead + j, 0, 3);
        __builtin_prefetch(x0 + ahead + j + 2 * FL_VL, 0, 3);
        __builtin_prefetch(x1 + ahead + j, 0, 3);
        __builtin_prefetch(x1 + ahead + j + 2 * FL_VL, 0, 3);
#if FL_WIDE
        __builtin_prefetch(x0 + ahead + j + FL_VL, 0, 3);
        __builtin_prefetch(x0 + ahead + j + 3 * FL_VL, 0, 3);
        __builtin_prefetch(x1 + ahead + j + FL_VL, 0, 3);
        __builtin_prefetch(x1 + ahead + j + 3 * FL_VL, 0, 3);
#endif
        FL_V e0 = FL_VOP(exp_term)(x0 + j, vm0);
        FL_V f0 = FL_VOP(exp_term)(x1 + j, vm1);
        FL_V e1 = FL_VOP(exp_term)(x0 + j + FL_VL, vm0);
        FL_V f1 = FL_VOP(exp_term)(x1 + j + FL_VL, vm1);
        FL_V e2 = FL_VOP(exp_term)(x0 + j + 2 * FL_VL, vm0);
        FL_V f2 = FL_VOP(exp_term)(x1 + j + 2 * FL_VL, vm1);
        FL_V e3 = FL_VOP(exp_term)(x0 + j + 3 * FL_VL, vm0);
        FL_V f3 = FL_VOP(exp_term)(x1 + j + 3 * FL_VL, vm1);
        FL_VOP(acc)(&a0, &a1, (e0 + e1) + (e2 + e3));
        FL_VOP(acc)(&b0, &b1, (f0 + f1) + (f2 + f3));
    }
    for (; j + FL_VL <= n; j += FL_VL) {
        FL_VOP(acc)(&a0, &a1, FL_VOP(exp_term)(x0 + j, vm0));
        FL_VOP(acc)(&b0, &b1, FL_VOP(exp_term)(x1 + j, vm1));
    }
    if (j < n) {
        FL_VOP(acc)(&a0, &a1, FL_VOP(exp_part)(x0 + j, n - j, vm0));
        FL_VOP(acc)(&b0, &b1, FL_VOP(exp_part)(x1 + j, n - j, vm1));
    }
    *s0 = FL_VDOP(hsum)(a0 + a1);
    *s1 = FL_VDOP(hsum)(b0 + b1);
}

/* fl_row_scale_f, fl_row_scale_d: g_j = g_j a - b w_j (w NULL: - b), in place */
static void FL_NAME(fl_row_scale_)(FL_T* g, ptrdiff_t n, FL_T a, FL_T b, const FL_T* w)
{
    FL_V va = FL_VOP(set1)(a), vb = FL_VOP(set1)(b);
    ptrdiff_t j = 0;
    if (w == NULL) {
        for (; j + 4 * FL_VL <= n; j += 4 * FL_VL)      /* unrolled: 2 instructions a vector fewer */
            for (int u = 0; u < 4; u++)
                FL_VOP(store)(g + j + u * FL_VL, FL_VOP(load)(g + j + u * FL_VL) * va - vb);
        for (; j + FL_VL <= n; j += FL_VL) FL_VOP(store)(g + j, FL_VOP(load)(g + j) * va - vb);
        if (j < n)
            FL_VOP(store_part)(g + j, FL_VOP(load_part)(g + j, n - j, 0) * va - vb, n - j);
    } else {
        for (; j + FL_VL <= n; j += FL_VL)
            FL_VOP(store)(g + j, FL_VOP(load)(g + j) * va - vb * FL_VOP(load)(w + j));
        if (j < n)
            FL_VOP(store_part)(g + j, FL_VOP(load_part)(g + j, n - j, 0) * va
                               - vb * FL_VOP(load_part)(w + j, n - j, 0), n - j);
    }
}

/* fl_row_expaff_f, fl_row_expaff_d: out_j = exp(x_j - m) a - b w_j (w NULL: -
 * b): the exps recomputed from x */
static void FL_NAME(fl_row_expaff_)(const FL_T* x, FL_T* out, ptrdiff_t n, FL_T m, FL_T a,
                                    FL_T b, const FL_T* w)
{
    FL_V vm = FL_VOP(set1)(m), va = FL_VOP(set1)(a), vb = FL_VOP(set1)(b);
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) {
        FL_V e = FL_VOP(exp_neg)(FL_VOP(load)(x + j) - vm);
        FL_VOP(store)(out + j, e * va - (w == NULL ? vb : vb * FL_VOP(load)(w + j)));
    }
    if (j < n) {
        FL_V e = FL_VOP(exp_part)(x + j, n - j, vm);
        FL_V bw = w == NULL ? vb : vb * FL_VOP(load_part)(w + j, n - j, 0);
        FL_VOP(store_part)(out + j, e * va - bw, n - j);
    }
}

/* fl_row_shift_f, fl_row_shift_d: out_j = (x_j - m) - ls: log_softmax */
static void FL_NAME(fl_row_shift_)(const FL_T* x, FL_T* out, ptrdiff_t n, FL_T m, FL_T ls)
{
    FL_V vm = FL_VOP(set1)(m), vl = FL_VOP(set1)(ls);
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL)
        FL_VOP(store)(out + j, fl_log_softmax(FL_VOP(load)(x + j), vm, vl));
    if (j < n)
        FL_VOP(store_part)(out + j, fl_log_softmax(FL_VOP(load_part)(x + j, n - j, 0), vm, vl),
                           n - j);
}

#endif
