/* OpenMP when the build has it, single-thread stand-ins when it does not,
   and what the compiler was, for fastloss.show_config(). */
#ifndef FASTLOSS_OPENMP_SHIM_H
#define FASTLOSS_OPENMP_SHIM_H

#ifdef _OPENMP
#include <omp.h>
#define FL_OPENMP_VERSION _OPENMP
#else
#define FL_OPENMP_VERSION 0
static inline int omp_get_max_threads(void) { return 1; }
#endif

/* The file of the OpenMP runtime the kernels call (e.g. libgomp.so.1), found
   from the address of one of its functions: the library threadpoolctl finds
   and limits. "" without OpenMP or where dladdr does not exist. Python.h
   (included first) defines _GNU_SOURCE, which glibc needs for dladdr. */
#if defined(_OPENMP) && (defined(__linux__) || defined(__APPLE__))
#include <dlfcn.h>
static const char* fl_openmp_library(void) {
    Dl_info info;
    if (dladdr((void*)&omp_get_max_threads, &info) && info.dli_fname != NULL)
        return info.dli_fname;
    return "";
}
#else
static const char* fl_openmp_library(void) { return ""; }
#endif

#if defined(__clang__)
#define FL_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FL_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define FL_STR2(x) #x
#define FL_STR(x) FL_STR2(x)
#define FL_COMPILER "msvc " FL_STR(_MSC_VER)
#else
#define FL_COMPILER "unknown"
#endif

/* The instruction set the kernels were compiled for (no runtime dispatch yet). */
#if defined(__AVX512F__)
#define FL_SIMD "avx512f (compile-time baseline)"
#elif defined(__AVX2__)
#define FL_SIMD "avx2 (compile-time baseline)"
#elif defined(__SSE2__) || defined(_M_X64)
#define FL_SIMD "sse2 (compile-time baseline, x86-64)"
#elif defined(__aarch64__)
#define FL_SIMD "neon (compile-time baseline, aarch64)"
#else
#define FL_SIMD "scalar"
#endif

#endif
