/* horner.h: a polynomial by Horner's rule, a template (see type.h) that
 * vmath.h instantiates for both types. */
#ifndef FL_T
#error "horner.h is a template: vmath.h includes it once per element type"
#endif

/* vf_horner, vd_horner: c[0] r^(n-1) + c[1] r^(n-2) + ... + c[n-1]; with a
 * constant table and n the loop unrolls into one multiply-add a term */
FL_INLINE FL_V FL_VOP(horner)(FL_V r, const FL_T* c, int n)
{
    FL_V p = FL_VOP(set1)(c[0]);
#pragma GCC unroll 16
    for (int i = 1; i < n; i++) p = p * r + c[i];
    return p;
}
