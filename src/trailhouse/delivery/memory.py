"""Giving the memory a delivery batch freed back to the system, so that resident memory falls
again after a large batch (`docs/storage.md`, "Memory").

A batch parses tens of thousands of events into columns and a Parquet file, then frees them.
glibc keeps freed heap memory in its arenas (one per thread that allocated, up to eight per
core), where it stays counted in the process's resident memory until `malloc_trim` hands it
back. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import time
from collections.abc import Callable

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


class MemoryReleaser:
    """Trims the heap after work that freed much memory, at most once a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = float("-inf")

    def after_batch(self, events: int, threshold: int = 1_000) -> bool:
        """Call after a batch of `events` was written; True when the heap was trimmed."""
        trim = _malloc_trim()
        now = self._clock()
        if trim is None or events < threshold or now - self._last < _EVERY_SECONDS:
            return False
        self._last = now
        trim(0)
        return True
