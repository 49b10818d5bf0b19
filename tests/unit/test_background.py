"""The background loop: a failing step is logged and retried; a full disk is a warning."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from trailhouse import background
from trailhouse.background import Deadlines, Periodic
from trailhouse.errors import DiskFull


def run_until(failure: Exception, caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """Run a loop whose first step raises `failure`; the record it logged for it."""
    calls: list[int] = []
    retried = threading.Event()

    def step() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise failure
        retried.set()
        return False

    caplog.set_level(logging.WARNING, logger=background.__name__)
    loop = Periodic("sampler", 0.01, step)
    loop.start()
    try:
        assert retried.wait(5), "the loop did not retry after the failed step"
    finally:
        loop.stop()
    [logged] = [r for r in caplog.records if r.name == background.__name__]
    return logged


def test_a_full_disk_is_one_warning_line_and_the_step_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logged = run_until(DiskFull("storage sample: the disk is full"), caplog)
    assert logged.levelno == logging.WARNING and not logged.exc_info
    assert "sampler waits for the disk: storage sample: the disk is full" in logged.getMessage()


def test_any_other_failure_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logged = run_until(ValueError("a bug"), caplog)
    assert logged.levelno == logging.ERROR and logged.exc_info


def test_deadlines_call_each_action_in_time_order_on_one_thread_unless_cancelled() -> None:
    deadlines = Deadlines("test-deadlines")
    called: list[tuple[str, str]] = []
    done = threading.Event()

    def action(name: str) -> Callable[[], None]:
        def call() -> None:
            called.append((name, threading.current_thread().name))
            if name == "last":
                done.set()

        return call

    started = time.monotonic()
    deadlines.schedule(0.3, action("last"))
    deadlines.schedule(0.1, action("first"))
    dropped = deadlines.schedule(0.2, action("cancelled"))
    deadlines.schedule(0.2, action("second"))
    deadlines.cancel(dropped)
    assert done.wait(5)
    assert time.monotonic() - started >= 0.3
    assert [name for name, _ in called] == ["first", "second", "last"]
    assert {thread for _, thread in called} == {"test-deadlines"}
    threads = [t for t in threading.enumerate() if t.name == "test-deadlines"]
    assert len(threads) == 1
