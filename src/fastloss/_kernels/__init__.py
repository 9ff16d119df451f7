"""The compiled kernels: the module built for the best SIMD path this CPU runs.

setup.py compiles the same drivers (``drivers.pxi``, on the C of ``c/``)
once per path: ``_baseline`` (the compiler's defaults: SSE2 on x86-64,
128-bit vectors) and, on x86-64, ``_avx2`` (AVX2 + FMA, 256-bit vectors) and
``_avx512`` (the same with AVX-512: 512-bit vectors in the passes over long
rows, see c/row_passes.h). At
import the fastest path that was built and that the CPU supports is used
(``kernels``). The environment variable ``FASTLOSS_SIMD`` (one of the path
names) forces a path; asking for one the CPU cannot run, or that was not
built, is an ImportError rather than an illegal instruction. ``_openmp``
tells what the build is (OpenMP, compiler) and what the CPU runs.
"""

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any

from . import _openmp

PATHS = ("avx512", "avx2", "baseline")      # best first
ENV = "FASTLOSS_SIMD"


def _built(path: str) -> bool:
    return importlib.util.find_spec(f"{__name__}._{path}") is not None


def available_paths() -> list[str]:
    """The SIMD paths that were built and that this CPU runs, best first."""
    return [p for p in PATHS if _built(p) and _openmp.cpu_supports(p)]


def load(path: str) -> ModuleType:
    """The kernels compiled for one SIMD path (one of available_paths())."""
    return importlib.import_module(f"{__name__}._{path}")


def _choose() -> tuple[str, bool]:
    forced = os.environ.get(ENV, "").strip().lower()
    if not forced:
        return available_paths()[0], False
    if forced not in PATHS:
        raise ImportError(
            f"{ENV}: expected one of {', '.join(PATHS)}, got {forced!r}")
    if not _built(forced):
        raise ImportError(f"{ENV}={forced}: this build of fastloss has no {forced} kernels")
    if not _openmp.cpu_supports(forced):
        raise ImportError(f"{ENV}={forced}: this CPU does not support {forced}")
    return forced, True


path, forced = _choose()
kernels: ModuleType = load(path)
# the shapes at which the kernels of this path change path (see drivers.pxi)
LIMITS: dict[str, Any] = kernels.LIMITS
