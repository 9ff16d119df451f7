"""Threads and build information."""

import contextlib
import os
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal, Optional, overload

import numpy as np

from . import _kernels
from ._kernels import _openmp
from ._validation import check_num_threads
from ._version import __version__

_default_threads: Optional[int] = None   # set by set_num_threads; None: OpenMP's maximum

# GNU OpenMP's thread pool does not survive fork(): in the child the pool's
# threads are gone, and the first parallel region of more than one thread
# waits for them forever (GCC bug 60035; LLVM's libomp re-initializes). So a
# process forked after fastloss handed a kernel more than one thread runs
# its kernels on one thread (one-thread regions never touch the pool), as
# PyTorch does after a fork.
_threads_used = False          # a kernel was given more than one thread
_forked_after_threads = False  # this process was forked after that

# More threads than this never help a kernel, and GNU OpenMP ends the process
# when it cannot create the threads a parallel region asks for
# (num_threads=10**6: "libgomp: Thread creation failed"), so larger requests
# are clamped; results are the same for any number of threads.
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


class _BusyCpus:
    """How many CPUs other processes keep busy: the CPU time all processes
    used (/proc/stat) less this process's own (os.times), over the last
    interval of at least ``period`` seconds, in CPUs. 0 where /proc/stat
    cannot be read. A call whose ``num_threads`` is None gives a thread no
    CPU is free for to nobody: a thread time-sharing a CPU with another
    process finishes its share of a static schedule late, and the whole call
    waits for it (with one of two cores busy, 2 threads ran at 0.56-0.78x of
    1 thread). Results are the same bits for any number of threads."""

    def __init__(self, period: float = 0.1, read_stat: Any = None,
                 own_seconds: Any = None, clock: Any = None) -> None:
        self.period = period
        self.read_stat = read_stat or self._read_proc_stat
        self.own_seconds = own_seconds or (lambda: sum(os.times()[:2]))
        self.clock = clock or time.monotonic
        self.tick = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        self.busy = 0.0
        self.last: Optional[tuple[float, float, float, float, int]] = None

    @staticmethod
    def _read_proc_stat() -> Optional[str]:
        try:
            with open("/proc/stat") as f:
                return f.read(4096)
        except OSError:
            return None

    def sample(self) -> Optional[tuple[float, float, float, float, int]]:
        """(time, busy ticks, all ticks, own ticks, CPUs) now, or None."""
        text = self.read_stat()
        if not text:
            return None
        lines = text.splitlines()
        fields = lines[0].split()
        if fields[0] != "cpu" or len(fields) < 8:
            return None
        values = [float(v) for v in fields[1:9]]
        idle = values[3] + values[4]                 # idle, iowait
        cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
        return (self.clock(), sum(values) - idle, sum(values),
                self.own_seconds() * self.tick, max(cpus, 1))

    def others(self) -> float:
        """CPUs kept busy by other processes (updated every ``period``)."""
        now = self.clock()
        if self.last is not None and now - self.last[0] < self.period:
            return self.busy
        current = self.sample()
        if current is None:
            return 0.0
        if self.last is not None:
            elapsed = (current[2] - self.last[2]) / current[4]      # ticks per CPU
            if elapsed > 0:
                theirs = (current[1] - self.last[1]) - (current[3] - self.last[3])
                self.busy = max(0.0, theirs / elapsed)
        self.last = current
        return self.busy

    def threads(self, n: int) -> int:
        """n threads, less those no CPU is free for (at least 1)."""
        if n <= 1:
            return n
        busy = self.others()
        cpus = self.last[4] if self.last is not None else (os.cpu_count() or 1)
        free = cpus - busy
        return max(1, min(n, int(free + 0.5)))


_busy = _BusyCpus()


def openmp_enabled() -> bool:
    return bool(_openmp.openmp_version() > 0)


def _pool_survives_fork() -> bool:
    """Whether the OpenMP runtime keeps working in a forked child: not
    GNU's libgomp (nor an unknown runtime, to be safe)."""
    library = os.path.basename(_openmp.openmp_library())
    return bool(library) and not library.startswith("libgomp")


def _after_fork_in_child() -> None:
    global _forked_after_threads
    if _threads_used and not _pool_survives_fork():
        _forked_after_threads = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_num_threads() -> int:
    """Number of threads the kernels use when ``num_threads`` is None.

    Returns
    -------
    int
        The value given to :func:`set_num_threads` (or :func:`num_threads`),
        else OpenMP's current maximum in the calling thread: the limit set by
        ``threadpoolctl.threadpool_limits``, else ``OMP_NUM_THREADS``, else the
        number of CPUs; at most ``max(64, 4 * os.cpu_count())`` (larger
        requests are clamped). Always 1 in a build without OpenMP, and in a
        process forked after fastloss ran a kernel on several threads
        with GNU OpenMP (whose thread pool does not survive ``fork``). A
        call uses fewer while other processes keep CPUs busy (measured from
        /proc/stat every 0.1 s), so that no thread waits for a CPU; the
        results are the same for any number of threads.

    Examples
    --------
    >>> import fastloss
    >>> fastloss.get_num_threads() >= 1
    True
    """
    if not openmp_enabled() or _forked_after_threads:
        return 1
    if _default_threads is not None:
        return min(_default_threads, MAX_THREADS)
    return min(_openmp.omp_max_threads(), MAX_THREADS)


def set_num_threads(n: Optional[int]) -> None:
    """Set the number of threads used when a function's ``num_threads`` is None.

    The setting is process-wide (every Python thread sees it) and takes
    precedence over OpenMP's maximum, so over ``threadpool_limits`` and
    ``OMP_NUM_THREADS``; a call's own ``num_threads`` takes precedence over it.

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
    _default_threads = None if n is None else int(check_num_threads(n, "n"))


@contextlib.contextmanager
def num_threads(n: Optional[int]) -> Iterator[int]:
    """Context manager: :func:`set_num_threads` ``(n)`` inside the block only.

    On leaving the block, even by an exception, the setting in force before
    it is restored. Like :func:`set_num_threads` it is process-wide, not
    local to the calling thread.

    Parameters
    ----------
    n : int or None
        A positive number of threads, or None for OpenMP's maximum.

    Yields
    ------
    int
        The number of threads now used by default
        (:func:`get_num_threads`).

    Examples
    --------
    >>> import fastloss
    >>> with fastloss.num_threads(1) as n:
    ...     n, fastloss.get_num_threads()
    (1, 1)
    >>> fastloss.get_num_threads() >= 1
    True
    """
    global _default_threads
    previous = _default_threads
    set_num_threads(n)
    try:
        yield get_num_threads()
    finally:
        _default_threads = previous


def resolve_num_threads(num_threads: Optional[int]) -> int:
    """The thread count a kernel call gets: explicit, else the default less
    the threads no CPU is free for (_BusyCpus); 1 in a child forked after
    threads were used (see _forked_after_threads)."""
    global _threads_used
    if num_threads is None:
        n = _busy.threads(get_num_threads())
    else:
        n = int(check_num_threads(num_threads))
    if _forked_after_threads:
        return 1
    n = min(n, MAX_THREADS)
    if n > 1:
        _threads_used = True
    return n


@overload
def show_config(mode: Literal["stdout"] = ...) -> None: ...
@overload
def show_config(mode: Literal["dicts"]) -> dict[str, Any]: ...


def show_config(mode: str = "stdout") -> Optional[dict[str, Any]]:
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
    info: dict[str, Any] = {
        "fastloss": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.machine(),
        "compiler": _openmp.compiler(),
        "openmp": {
            "enabled": openmp_enabled(),
            "version": _openmp.openmp_version(),
            "max_threads": _openmp.omp_max_threads(),
            "library": _openmp.openmp_library(),
        },
        "threads": get_num_threads(),
        "simd": {
            "path": _kernels.path,
            "forced": _kernels.forced,
            "vectors": _kernels.kernels.simd_width(),
            "available": _kernels.available_paths(),
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
    if omp["library"]:
        print(f"  runtime  : {omp['library']}")
    print(f"  threads  : {info['threads']} by default")
    simd = info["simd"]
    how = f"forced by {_kernels.ENV}" if simd["forced"] else "the best this CPU runs"
    print(f"  SIMD     : {simd['path']}, {simd['vectors']} ({how}; "
          f"available: {', '.join(simd['available'])}) on {info['machine']}")
    return None
