"""Giving memory that large work freed back to the system, so that resident memory falls again
after a large delivery batch or file (`docs/storage.md`, "Memory").

A batch parses tens of thousands of events into columns and a Parquet file, then frees them.
glibc keeps freed heap memory in its arenas (one per thread that allocated, up to eight per
core), and Arrow's allocator (mimalloc) keeps freed pages for reuse; both stay counted in the
process's resident memory until `malloc_trim` and the pool's `release_unused` hand them back.
Elsewhere than glibc the heap part does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import importlib.abc
import os
import sys
import time
import types
from collections.abc import Callable, Sequence

# A trim walks every arena: a few milliseconds at most; once a second is plenty.
_EVERY_SECONDS = 1.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    return trim


# glibc's mallopt parameter for the number of malloc arenas (malloc.h).
_M_ARENA_MAX = -8
# Arenas for a server: glibc's default, eight per core, let each of the server's ~50 threads keep
# freed memory of its own; two cost no measurable time and ~40 MB less at the delivery benchmark's
# peak (docs/storage.md, "Memory").
SERVER_ARENAS = 2


def limit_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Let glibc's malloc use at most `arenas` arenas, unless MALLOC_ARENA_MAX says otherwise;
    call before the process starts threads. True when the limit was set."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def freeze_startup_heap() -> None:
    """Exempt what the process holds once started (modules, the app, services) from the cycle
    collector's later passes. Under full-rate PutEvents the collector's oldest generation ran
    every few seconds over ~100k such objects, each pass 80-190 ms holding the GIL (3% of the
    server's CPU, every request thread stalled meanwhile); frozen, they are no longer traversed.
    Objects still freed by reference counting are freed as before; only a cycle among them
    would be kept, so the collector runs first."""
    gc.collect()
    gc.freeze()


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import finder under which `import pandas` raises ImportError."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> None:
        if fullname == "pandas":
            raise ModuleNotFoundError("pandas is left out here", name=fullname)


def arrow_without_pandas() -> bool:
    """Keep pyarrow from importing pandas at the first `pa.array` of a list; True when pandas
    was not imported yet.

    To tell a pandas object given to `pa.array`, pyarrow imports pandas once, when installed (the
    `spark` extra brings it): ~55 MB resident, ~33 MB of it anonymous, in a process that never
    uses it. It asks only once, so asked here while an import of pandas fails, it takes pandas as
    absent for that question; code that does use pandas (`to_pandas`) imports it as before, and
    pyarrow then knows it, but pyarrow's C++ part then no longer reads pandas' own null values
    (`pd.NA`, `NaT`) in Python sequences: a server with the Spark engine, whose client converts
    through pandas, does not call this. Call before the process's threads start."""
    if "pandas" in sys.modules:
        return False
    import pyarrow as pa

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.array(["x"])  # pyarrow (its Python and its C++ parts) asks whether pandas is there
    finally:
        sys.meta_path.remove(finder)
    return True


def release_freed() -> bool:
    """Hand Arrow's unused pool memory and glibc's free heap back to the system; True when the
    heap could be trimmed."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    return trim_heap()


def trim_heap() -> bool:
    """Hand glibc's free heap back to the system (a process without Arrow: the index process);
    True when the heap could be trimmed."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class MemoryReleaser:
    """Releases freed memory after work that freed much of it, at most once every
    `min_seconds`."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, min_seconds: float = _EVERY_SECONDS
    ) -> None:
        self._clock = clock
        self._min_seconds = min_seconds
        self._last = float("-inf")

    def after_batch(self, events: int, threshold: int = 1_000) -> bool:
        """Call after a batch of `events` was written; True when the heap was trimmed."""
        now = self._clock()
        if events < threshold or now - self._last < self._min_seconds:
            return False
        self._last = now
        return release_freed()
