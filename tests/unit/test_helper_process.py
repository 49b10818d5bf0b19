"""The helper process (`helper_process.py`): its watchdog (a child that gives no answer within the
caller's timeout is killed and the request fails with TimeoutError; the next request starts
another child; a child answering in time is left alone) and its messages of many parts, which
arrive whole however the kernel splits their writes."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from trailhouse.helper_process import HelperProcess, _write_all

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


def test_a_request_of_many_parts_arrives_whole() -> None:
    # More parts than one system call takes, of every size, empty ones among them.
    parts = [bytes([n % 251]) * (n % 700) for n in range(3000)]
    helper = _helper()
    try:
        assert helper.ask(parts, timeout=60) == b"".join(parts)[::-1]
    finally:
        helper.stop()


def test_writes_cut_short_by_signals_still_write_every_byte() -> None:
    # A slow reader keeps the pipe full, so a signal lands while a write is in progress and the
    # kernel returns with only part of it written.
    parts = [os.urandom(n % 5000 + 1) for n in range(2000)]
    reading, writing = os.pipe()
    received = bytearray()

    def read_slowly() -> None:
        while chunk := os.read(reading, 65536):
            received.extend(chunk)
            time.sleep(0.0005)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    interrupted = 0

    def count(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted += 1

    previous = signal.signal(signal.SIGALRM, count)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        _write_all(writing, parts)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(writing)
        reader.join()
        os.close(reading)
    assert interrupted > 0
    assert bytes(received) == b"".join(parts)
