"""Freed memory is given back after large batches, at most once a second."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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


def test_pyarrow_builds_arrays_without_importing_pandas_and_pandas_still_imports() -> None:
    # In a process of its own: this one may have imported pandas already.
    script = textwrap.dedent(
        """
        import importlib.util, sys
        import pyarrow as pa
        from trailhouse import memory

        assert memory.arrow_without_pandas() is True
        pa.array(["x", None], pa.string())
        assert "pandas" not in sys.modules, "pa.array imported pandas"
        if importlib.util.find_spec("pandas") is not None:
            frame = pa.table({"a": [1, 2]}).to_pandas()  # whoever uses pandas still can
            assert list(frame["a"]) == [1, 2]
            assert pa.array(frame["a"]).to_pylist() == [1, 2]
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_started_servers_heap_is_left_out_of_later_collections() -> None:
    # In a child: freezing is process-wide, and the test process's own heap must stay collected.
    probe = textwrap.dedent(
        """
        import gc, time
        from trailhouse.memory import freeze_startup_heap
        held = [[i] for i in range(300_000)]  # a started server's modules, app and services
        garbage = [[]]
        garbage[0].append(garbage)  # a cycle made before the start is collected, not frozen
        del garbage
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(held)
        assert gc.collect() == 0, "the cycle was collected before the freeze"
        loop = [[]]
        loop[0].append(loop)  # one made after the start is collected as before
        del loop
        assert gc.collect() >= 2
        """
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
