/* floors.h: the memory floors of the benchmarks, a pass that only reads an
 * array and one that copies it, with the kernels' vectors and flags, for one
 * element type (a template, see rows.h). */
#ifndef FL_T
#error "floors.h is a template: kernels.h includes it once per element type"
#endif

/* ================================================== floors, for benchmarks */

/* fl_sum_f, fl_sum_d */
static double FL_NAME(fl_sum_)(const FL_T* x, ptrdiff_t n)
{
    vd a0 = vd_set1(0.0), a1 = a0;
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) FL_VOP(acc)(&a0, &a1, FL_VOP(load)(x + j));
    if (j < n) FL_VOP(acc)(&a0, &a1, FL_VOP(load_part)(x + j, n - j, 0));
    return vd_hsum(a0 + a1);
}

/* fl_copy_f, fl_copy_d */
static void FL_NAME(fl_copy_)(const FL_T* x, FL_T* out, ptrdiff_t n)
{
    ptrdiff_t j = 0;
    for (; j + FL_VL <= n; j += FL_VL) FL_VOP(store)(out + j, FL_VOP(load)(x + j));
    if (j < n) FL_VOP(store_part)(out + j, FL_VOP(load_part)(x + j, n - j, 0), n - j);
}
