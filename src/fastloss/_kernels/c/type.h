/* type.h: the names a template is written in, for one element type.
 *
 * A template (vec_ops.h, vmath_t.h, points.h's second part, rows.h,
 * softmax.h, cross_entropy.h, elementwise.h, floors.h) is C written once
 * for float and double. Its includer defines FL_IS_FLOAT (1: float, 0:
 * double), includes this, the template, and type_end.h; FL_NAME(fl_x_) then
 * names fl_x_f or fl_x_d (each definition says both names in its comment,
 * for grep), FL_VOP(max) vf_max or vd_max.
 *
 *   FL_T        the element type           FL_V     its vector (vf, vd)
 *   FL_VL       lanes of FL_V              FL_VI    a mask / integer vector of
 *   FL_VU       unsigned vector of FL_VL                FL_VL lanes (vi32, vi64)
 *               lanes (vu32, vu64)         FL_VANY  any lane of an FL_VI set
 *   FL_MANT     mantissa bits (23, 52)     FL_BIAS  exponent bias (127, 1023)
 *   FL_TINY     smallest normal number     FL_MM(op) the AVX2 intrinsic
 *                                                   (_mm256_op_ps, _pd)
 *   FL_VD       the double vector of FL_V's width (vd; wd), FL_VDOP(op) its
 *               operations
 *   FL_WNAME(fl_x_)  fl_x_wf or fl_x_wd: a function of the type's wide
 *               vectors that the narrow ones have too (points.h's second
 *               part, elementwise.h's loop); FL_VNAME(fl_x_) is that name
 *               with FL_WIDE 1, FL_NAME(fl_x_) without
 *
 * With FL_WIDE 1 as well (the avx512 path's row passes and BCE with logits'
 * loop, see vec.h) FL_V is
 * the 64-byte vector of the type (wf, wd; FL_VI wi32, wi64 ...) and FL_MM
 * names the 512-bit intrinsic.
 */
#ifndef FL_WIDE
#define FL_WIDE 0
#endif
#ifndef FL_IS_FLOAT
#error "define FL_IS_FLOAT (1: float, 0: double) before including type.h"
#endif

#if FL_IS_FLOAT
#define FL_T float
#define FL_S f             /* names' suffix */
#define FL_BITS 32
#define FL_C FLT           /* float.h's prefix */
#define FL_PS ps           /* intrinsics' suffix */
#else
#define FL_T double
#define FL_S d
#define FL_BITS 64
#define FL_C DBL
#define FL_PS pd
#endif

#if FL_WIDE
/* the wide vectors (vec.h, FL_AVX512): 64 bytes, 512-bit intrinsics */
#define FL_V FL_CAT(w, FL_S)
#define FL_VI FL_CAT(wi, FL_BITS)
#define FL_VU FL_CAT(wu, FL_BITS)
#define FL_VD wd
#define FL_VL (64 * 8 / FL_BITS)
#define FL_MM(op) FL_CAT(_mm512_##op##_, FL_PS)
#else
#define FL_V FL_CAT(v, FL_S)
#define FL_VI FL_CAT(vi, FL_BITS)
#define FL_VU FL_CAT(vu, FL_BITS)
#define FL_VD vd
#define FL_VL (FL_VBYTES * 8 / FL_BITS)
#define FL_MM(op) FL_CAT(_mm256_##op##_, FL_PS)
#endif
#define FL_VANY FL_CAT(FL_VI, _any)
#define FL_NAME(name) FL_CAT(name, FL_S)
#define FL_WNAME(name) FL_CAT(name, FL_CAT(w, FL_S))
#if FL_WIDE
#define FL_VNAME(name) FL_WNAME(name)
#else
#define FL_VNAME(name) FL_NAME(name)
#endif
#define FL_VOP(name) FL_CAT(FL_V, _##name)
#define FL_VDOP(name) FL_CAT(FL_VD, _##name)
#define FL_MANT (FL_CAT(FL_C, _MANT_DIG) - 1)
#define FL_BIAS (FL_CAT(FL_C, _MAX_EXP) - 1)
#define FL_TINY FL_CAT(FL_C, _MIN)
