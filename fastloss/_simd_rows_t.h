/* Row loops of _simd_rows.h for one element type: included once with FL_T
 * float (FL_NAME(fl_max_) is fl_max_f, FL_EXPT fl_expf) and once with FL_T double. */


FL_INLINE FL_T FL_NAME(fl_max_)(const FL_T* x, ptrdiff_t n)
{
    FL_T m = -INFINITY;
    FL_PRAGMA(omp simd reduction(max:m))
    for (ptrdiff_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

FL_INLINE double FL_NAME(fl_sumexp_)(const FL_T* x, ptrdiff_t n, FL_T m)
{
    double s = 0.0;
    FL_PRAGMA(omp simd reduction(+:s))
    for (ptrdiff_t j = 0; j < n; j++) s += (double)FL_EXPT(x[j] - m);
    return s;
}

/* (max, sum exp(x - max)) of one row in one pass over memory: chunks of
 * FL_CHUNK, the running sum rescaled when a chunk raises the max. */
static fl_ms FL_NAME(fl_row_ms_)(const FL_T* x, ptrdiff_t n)
{
    fl_ms r = {-INFINITY, 0.0};
    for (ptrdiff_t j0 = 0; j0 < n; j0 += FL_CHUNK) {
        ptrdiff_t len = n - j0 < FL_CHUNK ? n - j0 : FL_CHUNK;
        FL_T cm = FL_NAME(fl_max_)(x + j0, len);
        if (cm > r.m) {
            if (r.s != 0.0) r.s *= exp(r.m - (double)cm);
            r.m = cm;
        }
        if (fabs(r.m) < INFINITY)
            r.s += FL_NAME(fl_sumexp_)(x + j0, len, (FL_T)r.m);
    }
    return r;
}

/* Rows of fewer than FL_SMALL_C classes: m[r], s[r] of each of `rows` rows,
 * and e = exp(x - m[row]) for every element, in one flat vector loop. */
static void FL_NAME(fl_block_ms_)(const FL_T* x, ptrdiff_t rows, ptrdiff_t n,
                                  double* m, double* s, FL_T* e)
{
    ptrdiff_t r, c, size = rows * n;
    /* Below FL_SHORT_ROW a vector loop per row costs more than it saves
     * (measured); the scalar loops of neighbouring rows overlap instead. */
    int vector_rows = n >= FL_SHORT_ROW;
    for (r = 0; r < rows; r++) {
        const FL_T* xr = x + r * n;
        FL_T mr = -INFINITY;
        if (vector_rows) {
            FL_PRAGMA(omp simd reduction(max:mr))
            for (c = 0; c < n; c++) mr = xr[c] > mr ? xr[c] : mr;
        } else {
            for (c = 0; c < n; c++) mr = xr[c] > mr ? xr[c] : mr;
        }
        m[r] = mr;
        for (c = 0; c < n; c++) e[r * n + c] = xr[c] - mr;
    }
    FL_PRAGMA(omp simd)
    for (ptrdiff_t i = 0; i < size; i++) e[i] = FL_EXPT(e[i]);
    for (r = 0; r < rows; r++) {
        const FL_T* er = e + r * n;
        double sr = 0.0;
        if (vector_rows) {
            FL_PRAGMA(omp simd reduction(+:sr))
            for (c = 0; c < n; c++) sr += (double)er[c];
        } else {
            for (c = 0; c < n; c++) sr += (double)er[c];
        }
        s[r] = sr;
    }
}

/* out_j = exp(x_j - m) a - b w_j  (w NULL: - b); e_j = exp(x_j - m) is read
 * from e when e is not NULL. Softmax is a = 1/s, b = 0. */
static void FL_NAME(fl_row_expaff_)(const FL_T* x, const FL_T* e, FL_T* out, ptrdiff_t n,
                              FL_T m, FL_T a, FL_T b, const FL_T* w)
{
    ptrdiff_t j;
    if (e != NULL && w != NULL) {
        FL_PRAGMA(omp simd)
        for (j = 0; j < n; j++) out[j] = e[j] * a - b * w[j];
    } else if (e != NULL) {
        FL_PRAGMA(omp simd)
        for (j = 0; j < n; j++) out[j] = e[j] * a - b;
    } else if (w != NULL) {
        FL_PRAGMA(omp simd)
        for (j = 0; j < n; j++) out[j] = FL_EXPT(x[j] - m) * a - b * w[j];
    } else {
        FL_PRAGMA(omp simd)
        for (j = 0; j < n; j++) out[j] = FL_EXPT(x[j] - m) * a - b;
    }
}

/* out_j = (x_j - m) - log_s, in double: log_softmax */
static void FL_NAME(fl_row_shift_)(const FL_T* x, FL_T* out, ptrdiff_t n, double m,
                             double log_s)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++)
        out[j] = (FL_T)(((double)x[j] - m) - log_s);
}

/* sum_j w_j (x_j - m)  (w NULL: all ones) */
static double FL_NAME(fl_row_wdiff_)(const FL_T* x, const FL_T* w, ptrdiff_t n, double m)
{
    double acc = 0.0;
    ptrdiff_t j;
    if (w != NULL) {
        FL_PRAGMA(omp simd reduction(+:acc))
        for (j = 0; j < n; j++) acc += (double)w[j] * ((double)x[j] - m);
    } else {
        FL_PRAGMA(omp simd reduction(+:acc))
        for (j = 0; j < n; j++) acc += (double)x[j] - m;
    }
    return acc;
}

/* Probability targets t' = keep t + eps_c: wt = sum_j w_j t'_j and
 * wtd = sum_j w_j t'_j (x_j - m). */
static void FL_NAME(fl_row_prob_sums_)(const FL_T* x, const FL_T* t, const FL_T* w,
                                 ptrdiff_t n, double m, double keep,
                                 double eps_c, double* wt, double* wtd)
{
    double a = 0.0, b = 0.0;
    FL_PRAGMA(omp simd reduction(+:a, b))
    for (ptrdiff_t j = 0; j < n; j++) {
        double v = (double)w[j] * ((double)t[j] * keep + eps_c);
        a += v;
        b += v * ((double)x[j] - m);
    }
    *wt = a;
    *wtd = b;
}

/* out_j = exp(x_j - m) a - g w_j t'_j, e_j from e when not NULL */
static void FL_NAME(fl_row_prob_grad_)(const FL_T* x, const FL_T* e, const FL_T* t,
                                 const FL_T* w, FL_T* out, ptrdiff_t n, FL_T m, FL_T a,
                                 FL_T g, FL_T keep, FL_T eps_c)
{
    ptrdiff_t j;
    if (e != NULL) {
        FL_PRAGMA(omp simd)
        for (j = 0; j < n; j++)
            out[j] = e[j] * a - g * w[j] * (t[j] * keep + eps_c);
    } else {
        FL_PRAGMA(omp simd)
        for (j = 0; j < n; j++)
            out[j] = FL_EXPT(x[j] - m) * a - g * w[j] * (t[j] * keep + eps_c);
    }
}

/* Elementwise binary losses over n contiguous elements; w, pw and go are
 * contiguous too (the caller expands broadcast operands). The loss and
 * gradient are written when loss / grad are not NULL; returns their sum. */
static double FL_NAME(fl_binary_run_)(int mode, const FL_T* x, const FL_T* t, const FL_T* w,
                                const FL_T* pw, const FL_T* go, double g_scale,
                                FL_T* loss, FL_T* grad, ptrdiff_t n)
{
    double acc = 0.0;
    ptrdiff_t j;
    if (mode == FL_BCE_LOGITS) {
        FL_PRAGMA(omp simd reduction(+:acc))
        for (j = 0; j < n; j++) {
            double xj = x[j], tj = t[j], wj = w[j], pwj = pw[j];
            double ax = xj < 0.0 ? -xj : xj;
            double ez = fl_exp(-ax);                /* exp(-|x|) */
            double nx = -xj > 0.0 ? -xj : 0.0;
            double sp = nx + fl_log1p(ez);          /* log(1 + exp(-x)) */
            double v = wj * ((1.0 - tj) * xj + (1.0 + (pwj - 1.0) * tj) * sp);
            if (grad != NULL) {
                double den = 1.0 / (1.0 + ez);
                double sig = xj >= 0.0 ? den : ez * den;
                grad[j] = (FL_T)(((pwj * tj + 1.0 - tj) * sig - pwj * tj) * wj
                              * (g_scale * go[j]));
            }
            if (loss != NULL) loss[j] = (FL_T)v;
            acc += v;
        }
    } else if (mode == FL_BCE_PROB) {
        FL_PRAGMA(omp simd reduction(+:acc))
        for (j = 0; j < n; j++) {
            double xj = x[j], tj = t[j], wj = w[j];
            /* torch: log terms clamped at -100 */
            double l1 = fl_log(xj), l0 = fl_log1p(-xj);
            l1 = l1 > -100.0 ? l1 : -100.0;
            l0 = l0 > -100.0 ? l0 : -100.0;
            double v = -wj * (tj * l1 + (1.0 - tj) * l0);
            if (grad != NULL) {
                double den = (1.0 - xj) * xj;
                den = den > FL_BCE_EPSILON ? den : FL_BCE_EPSILON;
                grad[j] = (FL_T)(g_scale * go[j] * wj * (xj - tj) / den);
            }
            if (loss != NULL) loss[j] = (FL_T)v;
            acc += v;
        }
    } else {
        FL_PRAGMA(omp simd reduction(+:acc))
        for (j = 0; j < n; j++) {
            double d = (double)x[j] - (double)t[j];
            if (grad != NULL) grad[j] = (FL_T)(2.0 * d * (g_scale * go[j]));
            if (loss != NULL) loss[j] = (FL_T)(d * d);
            acc += d * d;
        }
    }
    return acc;
}

/* The memory floors of benchmarks/: read (sum) and copy, with the same flags */
static double FL_NAME(fl_sum_)(const FL_T* x, ptrdiff_t n)
{
    double acc = 0.0;
    FL_PRAGMA(omp simd reduction(+:acc))
    for (ptrdiff_t j = 0; j < n; j++) acc += (double)x[j];
    return acc;
}

static void FL_NAME(fl_copy_)(const FL_T* x, FL_T* out, ptrdiff_t n)
{
    FL_PRAGMA(omp simd)
    for (ptrdiff_t j = 0; j < n; j++) out[j] = x[j];
}
