"""Pick the kernels compiled for the best SIMD path this CPU runs.

setup.py compiles the same kernel source once per path: ``baseline`` (the
compiler's defaults: SSE2 on x86-64, 128-bit vectors) and, on x86-64,
``avx2`` (AVX2 + FMA, 256-bit vectors). At import
the fastest path that was built and that the CPU supports is used. The
environment variable ``FASTLOSS_SIMD`` (one of the path names) forces a path;
asking for one the CPU cannot run, or that was not built, is an ImportError
rather than an illegal instruction.
"""

import importlib
import importlib.util
import os
from types import ModuleType

from . import _openmp

PATHS = ("avx2", "baseline")      # best first
ENV = "FASTLOSS_SIMD"


def _built(path: str) -> bool:
    return importlib.util.find_spec(f"fastloss._kernels_{path}") is not None


def available_paths() -> list[str]:
    """The SIMD paths that were built and that this CPU runs, best first."""
    return [p for p in PATHS if _built(p) and _openmp.cpu_supports(p)]


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
kernels: ModuleType = importlib.import_module(f"fastloss._kernels_{path}")
