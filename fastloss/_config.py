"""Threads and build information."""

import platform
import sys

import numpy as np

from . import _dispatch, _openmp
from ._validation import check_num_threads
from ._version import __version__

_default_threads = None     # set by set_num_threads; None: OpenMP's maximum


def openmp_enabled():
    return _openmp.openmp_version() > 0


def get_num_threads():
    """Number of threads the kernels use when ``num_threads`` is None.

    Returns
    -------
    int
        The value given to :func:`set_num_threads`, else OpenMP's current
        maximum (``OMP_NUM_THREADS``, or the number of CPUs). Always 1 in a
        build without OpenMP.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.get_num_threads() >= 1
    True
    """
    if not openmp_enabled():
        return 1
    if _default_threads is not None:
        return _default_threads
    return _openmp.omp_max_threads()


def set_num_threads(n):
    """Set the number of threads used when a function's ``num_threads`` is None.

    Parameters
    ----------
    n : int or None
        A positive number of threads, or None to go back to OpenMP's maximum.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.set_num_threads(1)
    >>> fastloss.get_num_threads()
    1
    >>> fastloss.set_num_threads(None)
    """
    global _default_threads
    _default_threads = None if n is None else check_num_threads(n, "n")


def resolve_num_threads(num_threads):
    """The thread count a kernel call gets: explicit, else the default."""
    if num_threads is None:
        return get_num_threads()
    return check_num_threads(num_threads)


def show_config(mode="stdout"):
    """Describe this build of fastloss: compiler, OpenMP, threads, SIMD path.

    Parameters
    ----------
    mode : {"stdout", "dicts"}, default "stdout"
        Print the description, or return it as a dict.

    Returns
    -------
    dict or None
        The description when ``mode="dicts"``.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.show_config(mode="dicts")["openmp"]["enabled"] in (True, False)
    True
    """
    info = {
        "fastloss": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
        "compiler": _openmp.compiler(),
        "openmp": {
            "enabled": openmp_enabled(),
            "version": _openmp.openmp_version(),
            "max_threads": _openmp.omp_max_threads(),
        },
        "threads": get_num_threads(),
        "simd": {
            "path": _dispatch.path,
            "forced": _dispatch.forced,
            "vectors": _dispatch.kernels.simd_width(),
            "available": _dispatch.available_paths(),
        },
    }
    if mode == "dicts":
        return info
    if mode != "stdout":
        raise ValueError(f"mode: expected 'stdout' or 'dicts', got {mode!r}")
    omp = info["openmp"]
    omp_text = (
        f"on (OpenMP {omp['version']}, max {omp['max_threads']} threads)"
        if omp["enabled"]
        else "OFF - this build is single-threaded"
    )
    print(f"fastloss {info['fastloss']} (Python {info['python']}, NumPy {info['numpy']})")
    print(f"  compiler : {info['compiler']}")
    print(f"  OpenMP   : {omp_text}")
    print(f"  threads  : {info['threads']} by default")
    simd = info["simd"]
    how = f"forced by {_dispatch.ENV}" if simd["forced"] else "the best this CPU runs"
    print(f"  SIMD     : {simd['path']}, {simd['vectors']} ({how}; "
          f"available: {', '.join(simd['available'])}) on {info['machine']}")
    return None
