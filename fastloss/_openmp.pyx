"""What the compiled build is: OpenMP or not, compiler, SIMD baseline."""

cdef extern from "_openmp_shim.h":
    int omp_get_max_threads() nogil
    int FL_OPENMP_VERSION
    const char* FL_COMPILER
    const char* FL_SIMD
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


def simd_path():
    return FL_SIMD.decode("ascii", "replace")
