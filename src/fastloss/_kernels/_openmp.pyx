"""What the compiled build is (OpenMP or not, compiler) and what the CPU runs."""

cdef extern from "openmp_shim.h":
    int omp_get_max_threads() nogil
    int FL_OPENMP_VERSION
    const char* FL_COMPILER
    int fl_cpu_has_avx2()
    int fl_cpu_has_avx512()
    const char* fl_openmp_library()


def openmp_version():
    """The _OPENMP macro the kernels were compiled with (0: no OpenMP)."""
    return FL_OPENMP_VERSION


def omp_max_threads():
    """OpenMP's current maximum team size (1 without OpenMP)."""
    return omp_get_max_threads()


def openmp_library():
    """Path of the loaded OpenMP runtime library ('' if none or unknown)."""
    return fl_openmp_library().decode("utf-8", "replace")


def compiler():
    return FL_COMPILER.decode("ascii", "replace")


def cpu_supports(str path):
    """Whether this CPU (and OS) runs the kernels built for a SIMD path."""
    if path == "baseline":
        return True
    if path == "avx2":
        return bool(fl_cpu_has_avx2())
    if path == "avx512":
        return bool(fl_cpu_has_avx512())
    raise ValueError(f"unknown SIMD path {path!r}")
