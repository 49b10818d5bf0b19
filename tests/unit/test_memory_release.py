"""Freed memory is given back after large batches, at most once a second."""

from __future__ import annotations

import sys

import pytest

from trailhouse import memory
from trailhouse.memory import MemoryReleaser


def test_the_heap_is_trimmed_after_a_large_batch_at_most_once_a_second() -> None:
    now = [100.0]
    releaser = MemoryReleaser(clock=lambda: now[0])
    trims = memory._malloc_trim() is not None
    assert releaser.after_batch(10) is False  # a small batch frees little
    assert releaser.after_batch(50_000) is trims
    now[0] += 0.5
    assert releaser.after_batch(50_000) is False  # not twice within a second
    now[0] += 1.0
    assert releaser.after_batch(50_000) is trims


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_malloc_trim_is_found_on_linux() -> None:
    assert memory._malloc_trim() is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_server_limits_glibc_arenas_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert memory.limit_arenas(memory.SERVER_ARENAS) is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the operator's choice stands
    assert memory.limit_arenas(memory.SERVER_ARENAS) is False
