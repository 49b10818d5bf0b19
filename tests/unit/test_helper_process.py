"""The helper process's watchdog (`helper_process.py`): a child that gives no answer within the
caller's timeout is killed and the request fails with TimeoutError; the next request starts
another child; a child answering in time is left alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from trailhouse.helper_process import HelperProcess

HELPERS = str(Path(__file__).resolve().parent / "helpers")


def _helper() -> HelperProcess:
    path = os.pathsep.join(filter(None, [HELPERS, os.environ.get("PYTHONPATH", "")]))
    return HelperProcess("slow_child", environment={"PYTHONPATH": path})


def test_a_child_that_does_not_answer_in_time_is_killed_and_replaced() -> None:
    helper = _helper()
    try:
        assert helper.ask(b"abc", timeout=60) == b"cba"  # started, answering
        first = helper.pid()
        began = time.monotonic()
        with pytest.raises(TimeoutError, match="no answer within 1 s"):
            helper.ask(b"sleep:30", timeout=1)
        assert time.monotonic() - began < 20  # killed, not waited for
        helper.stop()
        assert helper.pid() is None
        assert helper.ask(b"xyz", timeout=60) == b"zyx"  # a new child
        assert helper.pid() not in (None, first)
    finally:
        helper.stop()


def test_a_child_answering_in_time_is_left_alone() -> None:
    helper = _helper()
    try:
        assert helper.ask(b"sleep:0.2", timeout=30) == b"2.0:peels"
        child = helper.pid()
        for _ in range(20):  # the watchdog re-armed for each request
            assert helper.ask(b"ok", timeout=30) == b"ko"
        assert helper.pid() == child
    finally:
        helper.stop()
