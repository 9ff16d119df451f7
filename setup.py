"""Build the fastloss Cython extensions.

Environment variables read at build time:

FASTLOSS_DEBUG=1       Cython bounds checking and wraparound on, ``-O0 -g``
                       (a debug/sanitizer build; slow).
FASTLOSS_DEBUG_INFO=1  the optimized build with debug information (``-g``:
                       for gdb and profilers' source lines). Without it the
                       modules are compiled with ``-g0``, whatever CFLAGS or
                       Python's own flags say: 0.8 MB each instead of 5.5 MB.
FASTLOSS_NO_OPENMP=1   build without OpenMP even if the compiler supports it
                       (single-threaded package; used to test that path).

The kernels (``src/fastloss/_kernels/drivers.pxi`` on the C of
``src/fastloss/_kernels/c/``) are compiled once per SIMD path:
``fastloss._kernels._baseline`` with the compiler's defaults (SSE2 on x86-64,
128-bit vectors), and on x86-64 also ``fastloss._kernels._avx2`` (AVX2 + FMA,
256-bit vectors) and ``fastloss._kernels._avx512`` (the same with AVX-512,
512-bit vectors in the passes over long rows). ``fastloss._kernels`` imports the best one the CPU
supports, so the wheel never executes an instruction the CPU lacks. The
vector code uses GNU C vector extensions and C11 ``_Generic``: GCC or Clang
is required.
"""

import glob
import os
import platform
import shlex
import shutil
import sys
import tempfile
import textwrap
import warnings

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTLOSS_DEBUG", "") not in ("", "0")
NO_OPENMP = os.environ.get("FASTLOSS_NO_OPENMP", "") not in ("", "0")
DEBUG_INFO = DEBUG or os.environ.get("FASTLOSS_DEBUG_INFO", "") not in ("", "0")

# SIMD path -> extra compiler flags (GCC/Clang spelling), x86-64 only
SIMD_PATHS = {
    "avx2": ["-mavx2", "-mfma"],
    # the AVX2 code again, with AVX-512 (F, VL, DQ, BW: every AVX-512 CPU
    # since Skylake-SP has them) for its 32 registers and the wide row passes
    # (c/row_passes.h). Loops GCC vectorizes itself stay 256 bits wide.
    "avx512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw",
               "-mprefer-vector-width=256"],
}
X86_64 = platform.machine().lower() in ("x86_64", "amd64")

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) that make OpenMP work, or None."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmp = tempfile.mkdtemp(prefix="fastloss-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for cflags, ldflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                # link as the extensions are linked: the environment's LDFLAGS
                # too (a sanitizer build's objects need its runtime)
                compiler.link_executable(
                    objs, "probe", output_dir=tmp,
                    extra_postargs=ldflags + shlex.split(os.environ.get("LDFLAGS", "")),
                )
            except Exception:  # any compile or link failure means "not this flag"
                continue
            return cflags, ldflags
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that probes OpenMP and sets per-compiler flags."""

    def build_extensions(self):
        compiler = self.compiler
        openmp = None if NO_OPENMP else _openmp_flags(compiler)
        if openmp is None:
            why = ("disabled by FASTLOSS_NO_OPENMP" if NO_OPENMP
                   else "the compiler has no working OpenMP")
            msg = (
                f"fastloss: building WITHOUT OpenMP ({why}); the kernels will run "
                "single-threaded. fastloss.show_config() reports this build."
            )
            warnings.warn(msg, stacklevel=1)
            print("*" * 72 + "\n" + msg + "\n" + "*" * 72, file=sys.stderr)
            cflags, ldflags = [], []
        else:
            cflags, ldflags = openmp
        msvc = compiler.compiler_type == "msvc"
        if msvc:
            opt = ["/Od"] if DEBUG else ["/O2"]
        else:
            # No -ffast-math: inf/NaN semantics are part of the API.
            # -fno-trapping-math lets the vectorizer evaluate both sides of a
            # select (no floating-point trap is ever enabled; values unchanged).
            # -fopenmp-simd keeps `#pragma omp simd` in a build without OpenMP.
            # No -march=native: the wheel must run on any x86-64.
            opt = ["-O0", "-g"] if DEBUG else ["-O3"]
            opt += ["-fno-trapping-math", "-fopenmp-simd"]
            # Python's CFLAGS carry -g: debug information was 85% of each
            # module. -g0 after them drops it (the code is the same: -g does
            # not change code generation).
            if not DEBUG_INFO:
                opt += ["-g0"]
        simd_ok = X86_64 and not msvc
        self.extensions = [
            ext for ext in self.extensions
            if simd_ok or ext.name.rsplit("._", 1)[-1] not in SIMD_PATHS
        ]
        for ext in self.extensions:
            arch = SIMD_PATHS.get(ext.name.rsplit("._", 1)[-1], []) if simd_ok else []
            ext.extra_compile_args = opt + arch + cflags + ext.extra_compile_args
            ext.extra_link_args = ldflags + ext.extra_link_args
        super().build_extensions()


directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

KERNELS = os.path.join("src", "fastloss", "_kernels")
# a change to a shared source rebuilds every module that includes it
SHARED = sorted(glob.glob(os.path.join(KERNELS, "c", "*.h"))
                + glob.glob(os.path.join(KERNELS, "*.pxi"))
                + glob.glob(os.path.join(KERNELS, "*.pxd")))

# the kernel modules' fast path of small calls uses NumPy's C API
extensions = [
    Extension(f"fastloss._kernels.{name}", [os.path.join(KERNELS, f"{name}.pyx")],
              include_dirs=[os.path.join(KERNELS, "c"), numpy.get_include()], depends=SHARED,
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION"),
                             ("NPY_TARGET_VERSION", "NPY_1_25_API_VERSION")])
    for name in ["_openmp", "_baseline", *(f"_{p}" for p in SIMD_PATHS)]
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=directives,
                          include_path=["src"]),
    cmdclass={"build_ext": BuildExt},
)
