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

/* What the CPU runs, for fastloss._dispatch: 1 if every feature a SIMD path
   is compiled for is there (and enabled by the OS), else 0. Only x86-64 with
   GCC or Clang builds the AVX paths. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
static int fl_cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* the avx512 path's (libgcc's check includes the OS's saving of the 512-bit
 * registers, XGETBV) */
static int fl_cpu_has_avx512(void)
{
    return fl_cpu_has_avx2() && __builtin_cpu_supports("avx512f")
           && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
           && __builtin_cpu_supports("avx512bw");
}
#else
static int fl_cpu_has_avx2(void) { return 0; }
static int fl_cpu_has_avx512(void) { return 0; }
#endif

#endif
