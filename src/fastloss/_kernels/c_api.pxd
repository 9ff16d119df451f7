# The C API of the kernels (c/kernels.h), as the drivers (drivers.pxi) call it.
#
# Each fl_x below is a C macro that calls fl_x_f or fl_x_d by the element
# type of its first array argument (see c/kernels.h): it is declared here
# with void pointers, which the drivers' float or double pointers convert to
# as they are, so one call serves both types of a fused-type driver. Scalar
# arguments are declared double and convert to the element type in C.
# The point formulas (c/points.h) are type-generic macros, declared here as
# functions of doubles.

from libc.stdint cimport int64_t, uint64_t


cdef extern from "kernels.h" nogil:
    # what a kernel computes
    cdef enum fl_mode:
        FL_LSE
        FL_SOFTMAX
        FL_LOG_SOFTMAX
        FL_CE_INDEX
        FL_NLL_INDEX
        FL_CE_PROB
        FL_BCE_LOGITS
        FL_BCE_PROB
        FL_MSE
        FL_L1
        FL_SMOOTH_L1
        FL_HUBER
        FL_KL_DIV
        FL_KL_DIV_LOG

    # the shapes at which a kernel changes path
    cdef enum fl_limits:
        FL_BLOCK_ELEMS
        FL_PARALLEL_MIN
        FL_FAST_BLOCKS
        FL_CHUNK
        FL_LONG_BYTES
        FL_SMALL_PARTS
        FL_SUB

    # the functions math_map runs (c/vmath.h)
    cdef enum fl_fn:
        FL_FN_EXP
        FL_FN_LOG
        FL_FN_LOG1P
        FL_FN_LOG_SUM
        FL_FN_LOG1P_UNIT
        FL_FN_EXP_ANY
        FL_FN_EXP_ROWS

    int FL_VLF                 # float lanes of a vector on this SIMD path
    int FL_VLD                 # double lanes
    const char* FL_SIMD_WIDTH

    ctypedef struct fl_ms:
        double m
        double s

    ctypedef struct fl_ce_args:
        int mode
        Py_ssize_t n
        const int64_t* y
        int64_t ignore_index
        const void* t
        const void* w
        int unit_w
        double w_total
        double eps
        void* loss
        void* grad
        double g_scale
        const void* go
        Py_ssize_t go_stride

    ctypedef struct fl_ce_sums:
        double nll
        double smooth
        double weight
        uint64_t check
        Py_ssize_t bad
        int64_t bad_target

    bint fl_long_rows(Py_ssize_t n, Py_ssize_t itemsize)
    bint fl_target_ok(fl_ce_sums* s, Py_ssize_t r, int64_t y, Py_ssize_t n,
                      int64_t ignore_index)
    double fl_ce_total(int mode, double eps, Py_ssize_t n, double nll, double smooth)

    # rows of the softmax family and of cross-entropy (c/softmax.h, c/cross_entropy.h)
    void fl_softmax_rows(int op, const void* x, void* out, Py_ssize_t rows, Py_ssize_t n)
    void fl_softmax_inner(int op, const void* xo, void* oo, Py_ssize_t n, Py_ssize_t inner,
                          Py_ssize_t i0, Py_ssize_t cnt)
    # their backward passes and SciPy's weighted logsumexp (c/softmax_backward.h)
    void fl_softmax_backward_rows(int op, const void* g, const void* y, void* out,
                                  Py_ssize_t rows, Py_ssize_t n)
    void fl_softmax_backward_inner(int op, const void* go, const void* yo, void* oo,
                                   Py_ssize_t n, Py_ssize_t inner, Py_ssize_t i0,
                                   Py_ssize_t cnt)
    double fl_smb_sum(int op, const void* g, const void* y, Py_ssize_t n)
    void fl_smb_apply(int op, const void* g, const void* y, void* out, Py_ssize_t n,
                      double s)
    void fl_wlse_rows(const void* x, const void* b, void* out, void* sign, Py_ssize_t rows,
                      Py_ssize_t n)
    void fl_ce_rows(const fl_ce_args* a, const void* x, Py_ssize_t r0, Py_ssize_t r1,
                    fl_ce_sums* sums)
    void fl_ce_inner(const fl_ce_args* a, const void* x, Py_ssize_t o, Py_ssize_t inner,
                     Py_ssize_t i0, Py_ssize_t cnt, fl_ce_sums* sums)
    void fl_targets(const int64_t* y, const void* w, int unit_w, Py_ssize_t n,
                    int64_t ignore_index, Py_ssize_t r0, Py_ssize_t r1, fl_ce_sums* sums)

    # row passes (c/rows.h, c/cross_entropy.h): the chunks of long rows
    fl_ms fl_chunk_ms(const void* x, Py_ssize_t n)
    double fl_row_max_exact(const void* x, Py_ssize_t n)
    void fl_strided_fill(void* out, Py_ssize_t n, Py_ssize_t stride, double value)
    void fl_row_expaff(const void* x, void* out, Py_ssize_t n, double m, double a, double b,
                       const void* w)
    void fl_row_shift(const void* x, void* out, Py_ssize_t n, double m, double ls)
    double fl_row_wdiff(const void* x, const void* w, Py_ssize_t n, double m)
    void fl_row_prob_sums(const void* x, const void* t, const void* w, Py_ssize_t n,
                          double m, double keep, double eps_c, double* wt, double* wtd)
    void fl_row_prob_grad(const void* x, double m, void* g, const void* t, const void* w,
                          Py_ssize_t n, double a, double gw, double keep, double eps_c)

    # elementwise losses (c/elementwise.h), floors (c/floors.h), math (c/vmath.h)
    double fl_binary_run(int mode, const void* x, const void* t, const void* w, double w1,
                         const void* pw, double pw1, const void* go, double go1,
                         double g_scale, void* loss, void* grad, Py_ssize_t n)
    double fl_sum(const void* x, Py_ssize_t n)
    void fl_copy(const void* x, void* out, Py_ssize_t n)
    void fl_map(int fn, const void* x, void* out, Py_ssize_t n)

    # point formulas (c/points.h)
    double fl_lse(double m, double ls)
    double fl_ce_nll(double wy, double ls, double p0)
    double fl_ce_smooth(double w_total, double ls, double p1)
    double fl_ce_index_loss(double eps, double eps_c, double nll, double smooth)
    double fl_ce_prob_loss(double ls, double wt, double wtd)
    double fl_ce_coef(double keep, double eps_c, double wy, double w_total)
    double fl_ce_softmax_scale(double gs, double coef, double s)
    double fl_ce_target_grad(double gs, double ey, double s, double coef, double eps_c,
                             double keep, double wy)
    double fl_nll(double wy, double xy)
    double fl_nll_grad(double gs, double wy)


# the activations (c/unary.h)
cdef extern from "kernels.h" nogil:
    cdef enum fl_unary_op:
        FL_SIGMOID
        FL_LOG_SIGMOID
        FL_SOFTPLUS

    void fl_unary_run(int op, const void* x, void* out, Py_ssize_t n, double beta,
                      double threshold)
