"""The background loop: a failing step is logged and retried; a full disk is a warning."""

from __future__ import annotations

import logging
import threading

import pytest

from trailhouse import background
from trailhouse.background import Periodic
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
