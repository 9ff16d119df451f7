/* vec_ops.h: the vector operations of the same form for float and double, a
 * template (see type.h) that vec.h instantiates for both: FL_VOP(max) is
 * vf_max and vd_max, and so on (on the avx512 path also for the wide
 * vectors: wf_max, wd_max, whose bodies are those under FL_WIDE). */
#ifndef FL_T
#error "vec_ops.h is a template: vec.h includes it once per element type"
#endif

/* the mask register of lanes [0, k) (wide vectors) */
#define FL_WMASK(k) ((1u << (k)) - 1u)

/* vf_set1, vd_set1 (every lane a; -0 becomes +0); vf_load, vd_load and
 * vf_store, vd_store (unaligned); vf_bits, vd_bits and vf_from_bits,
 * vd_from_bits (the same bits as integers) */
FL_INLINE FL_V FL_VOP(set1)(FL_T a) { return (FL_V){0} + a; }
FL_INLINE FL_V FL_VOP(load)(const FL_T* p) { return *(const FL_CAT(FL_V, _u)*)p; }
FL_INLINE void FL_VOP(store)(FL_T* p, FL_V v) { *(FL_CAT(FL_V, _u)*)p = v; }
FL_INLINE FL_VU FL_VOP(bits)(FL_V v) { return (FL_VU)v; }
FL_INLINE FL_V FL_VOP(from_bits)(FL_VU v) { return (FL_V)v; }

/* vf_max, vd_max: a > b ? a : b, and b where either is NaN (x86 maxps) */
FL_INLINE FL_V FL_VOP(max)(FL_V a, FL_V b)
{
#if FL_AVX2                    /* wide too: FL_MM is then _mm512_max_ps, _pd */
    return FL_MM(max)(a, b);
#else
    FL_VI m = a > b;
    return (FL_V)((m & (FL_VI)a) | (~m & (FL_VI)b));
#endif
}

/* vf_select, vd_select: mask ? a : b, mask lanes all ones or all zeros */
FL_INLINE FL_V FL_VOP(select)(FL_VI mask, FL_V a, FL_V b)
{
#if FL_AVX2 && !FL_WIDE        /* wide: the portable form is one vpternlog */
    return FL_MM(blendv)(b, a, (FL_V)mask);
#else
    return (FL_V)((mask & (FL_VI)a) | (~mask & (FL_VI)b));
#endif
}

/* vf_load_part, vd_load_part: lanes [0, k) from p, the others `fill`;
 * 0 <= k <= FL_VL. Reads only p[0, k). */
FL_INLINE FL_V FL_VOP(load_part)(const FL_T* p, ptrdiff_t k, FL_T fill)
{
#if FL_WIDE
    return FL_MM(mask_loadu)(FL_MM(set1)(fill), FL_WMASK(k), p);
#elif FL_AVX2
    __m256i m = _mm256_loadu_si256((const __m256i*)(fl_ones32 + 8 - k * (FL_BITS / 32)));
    return FL_MM(blendv)(FL_MM(set1)(fill), FL_MM(maskload)(p, m), (FL_V)m);
#else
    FL_V v = FL_VOP(set1)(fill);
    for (ptrdiff_t i = 0; i < k; i++) v[i] = p[i];
    return v;
#endif
}

/* vf_store_part, vd_store_part: p[0, k) = lanes [0, k) of v, 0 <= k < lanes
 * (a whole vector is a store); writes nothing else */
FL_INLINE void FL_VOP(store_part)(FL_T* p, FL_V v, ptrdiff_t k)
{
#if FL_WIDE
    FL_MM(mask_storeu)(p, FL_WMASK(k), v);
#elif FL_AVX2
    FL_VOP(store_part_avx2)(p, v, k);
#else
    for (ptrdiff_t i = 0; i < k; i++) p[i] = v[i];
#endif
}

/* vf_hmax, vd_hmax: the largest lane (NaN as vf_max, lane by lane) */
FL_INLINE FL_T FL_VOP(hmax)(FL_V v)
{
#if FL_WIDE
    return FL_MM(reduce_max)(v);
#elif FL_AVX2
    return FL_VOP(hmax_avx2)(v);
#else
    FL_T m = v[0];
    for (int i = 1; i < FL_VL; i++) m = v[i] > m ? v[i] : m;
    return m;
#endif
}

/* vf_transpose, vd_transpose: FL_VL vectors in place, row i lane j <-> row j
 * lane i */
FL_INLINE void FL_VOP(transpose)(FL_V* r)
{
#if FL_AVX2 && !FL_WIDE
    FL_VOP(transpose_avx2)(r);
#else
    FL_T t[FL_VL][FL_VL];
    for (int i = 0; i < FL_VL; i++)
        for (int j = 0; j < FL_VL; j++) t[j][i] = r[i][j];
    for (int i = 0; i < FL_VL; i++) memcpy(&r[i], t[i], sizeof(FL_V));
#endif
}

/* vf_lane_lt, vd_lane_lt: all ones in lanes [0, k), zeros in the others */
FL_INLINE FL_VI FL_VOP(lane_lt)(ptrdiff_t k)
{
    /* a compare with the lane indices (a constant): a lane-by-lane loop
     * became one conditional blend per lane on the wide vectors */
    FL_VI lane;
    for (int i = 0; i < FL_VL; i++) lane[i] = i;
    k = k < 0 ? 0 : k > FL_VL ? FL_VL : k;
    return lane < (FL_VI){0} + (int)k;
}

/* vf_finite, vd_finite: finite lanes (not +-inf, not NaN): the bits without
 * the sign below those of +inf */
FL_INLINE FL_VI FL_VOP(finite)(FL_V v)
{
    FL_VU sign = ((FL_VU){0} + 1) << (FL_BITS - 1);
    return (FL_VI)(FL_VOP(bits)(v) & ~sign) < (FL_VI)FL_VOP(bits)(FL_VOP(set1)(INFINITY));
}

/* vi32_any, vi64_any: whether any lane of a mask is set */
FL_INLINE int FL_VANY(FL_VI m)
{
#if FL_WIDE
    return FL_CAT(FL_CAT(_mm512_test_epi, FL_BITS), _mask)((__m512i)m, (__m512i)m) != 0;
#elif FL_AVX2
    return FL_MM(movemask)((FL_V)m) != 0;
#else
    long long a = 0;
    for (int i = 0; i < FL_VL; i++) a |= m[i];
    return a != 0;
#endif
}

#undef FL_WMASK
