"""The day files written by the index process (`store/sqlite/index_process.py`): what it
indexes is found, and it is safe as the in-process indexer was: a child that dies is replaced
and loses nothing, purges delete only files it let go of, a disk error in it reaches the server's
retry, a crash point in it kills the server, and it never outlives a server killed with
`kill -9` nor writes beside the next one."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest
from test_sqlite_index import BASE_TIME, everything, record

from server_process import running
from trailhouse.errors import StoreError
from trailhouse.store.sqlite.days import day_of
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.index_process import IndexProcess, IndexProcessLost
from trailhouse.store.sqlite.lock import DirectoryLock

HOUR = 3600
TESTS = Path(__file__).resolve().parents[2]


def open_log(directory: Path) -> SqliteEventLog:
    return SqliteEventLog(directory, gather_seconds=0.0, index_process=True)


def child_of(log: SqliteEventLog) -> int:
    writer = log._day_writer
    assert isinstance(writer, IndexProcess)
    pid = writer.pid()
    assert pid is not None
    return pid


def append_all(log: SqliteEventLog, first: int, count: int, step: int = 600) -> set[str]:
    records = [record(n, BASE_TIME + n * step) for n in range(first, first + count)]
    for at in range(0, count, 100):
        log.append(records[at : at + 100])
    return {r.event_id for r in records}


def waiting_in_pipe(log: SqliteEventLog) -> None:
    """Return once a request sits in the pipe to the index process, unread."""
    writer = log._day_writer
    assert isinstance(writer, IndexProcess)
    child = writer._helper._child
    assert child is not None and child.stdin is not None
    deadline = time.monotonic() + 30
    while True:
        unread = fcntl.ioctl(child.stdin.fileno(), termios.FIONREAD, b"\0\0\0\0")
        if int.from_bytes(unread, sys.byteorder) > 0:
            return
        assert time.monotonic() < deadline, "the indexer never sent its request"
        time.sleep(0.01)


def test_the_child_writes_the_day_files_and_lookups_find_every_event(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events")
    try:
        sent = append_all(log, 0, 3_000)  # 21 days, an event each 10 minutes
        assert log.catch_up(timeout=30)
        assert child_of(log) != os.getpid()
        assert set(everything(log)) == sent
        assert log.stats().events == 3_000
        assert len(list((tmp_path / "events" / "days").glob("*.sqlite"))) == 21
    finally:
        log.close()
    reopened = open_log(tmp_path / "events")
    try:
        assert set(everything(reopened)) == sent
        assert reopened.stats().events == 3_000
    finally:
        reopened.close()


def test_a_child_killed_in_a_request_is_replaced_and_the_counts_are_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = open_log(tmp_path / "events")
    try:
        sent = append_all(log, 0, 1_000)
        assert log.catch_up(timeout=30)
        first = child_of(log)
        log.pause_indexing()
        sent |= append_all(log, 1_000, 2_000, step=60)
        os.kill(first, signal.SIGSTOP)
        log.pause_indexing(False)
        waiting_in_pipe(log)  # the indexer's request waits on the stopped child, which then dies
        os.kill(first, signal.SIGKILL)
        sent |= append_all(log, 3_000, 500, step=60)
        assert log.catch_up(timeout=30)
        assert child_of(log) != first
        assert set(everything(log)) == sent
        assert log.stats().events == 3_500
    finally:
        log.close()
    lost = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], IndexProcessLost)]
    assert lost, "the request in hand failed as lost, and was retried"


def test_a_purge_deletes_days_the_child_let_go_of(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events")
    try:
        sent = append_all(log, 0, 480, step=HOUR)  # 20 days
        assert log.catch_up(timeout=30)
        cutoff = BASE_TIME + 10 * 24 * HOUR + 5 * HOUR  # ten days and five events go
        assert log.purge(cutoff) == 245
        kept = {f"EV-{n:06d}" for n in range(245, 480)}
        assert set(everything(log)) == kept
        days = tmp_path / "events" / "days"
        assert sorted(int(path.stem) for path in days.glob("*.sqlite"))[0] == day_of(cutoff)
        sent |= append_all(log, 480, 24, step=HOUR)  # the child goes on writing the days it kept
        assert log.catch_up(timeout=30)
        assert set(everything(log)) == kept | (sent - {f"EV-{n:06d}" for n in range(480)})
        assert log.stats().events == 235 + 24
    finally:
        log.close()


def test_a_disk_error_in_the_child_is_retried_by_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Armed in the child alone, which reads it as it starts; this process imported it long ago.
    monkeypatch.setenv("TRAILHOUSE_FAULT", "index.day_file.created:enospc")
    caplog.set_level(logging.WARNING, "trailhouse.store.sqlite.indexer")
    log = open_log(tmp_path / "events")
    try:
        sent = append_all(log, 0, 200)
        assert log.catch_up(timeout=30)
        assert set(everything(log)) == sent
        assert log.stats().events == 200
    finally:
        log.close()
    assert "indexing the event log waits for the disk" in caplog.text
    assert "No space left on device" in caplog.text


SERVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from test_sqlite_index import BASE_TIME, record
    from trailhouse.store.sqlite.event_log import SqliteEventLog

    log = SqliteEventLog(Path(sys.argv[1]), gather_seconds=0.0, index_process=True)
    for at in range(0, 2_000, 100):
        log.append([record(n, BASE_TIME + n * 600) for n in range(at, at + 100)])
    print(log._day_writer.pid(), flush=True)
    time.sleep(60)
    """
)


def run_server(directory: Path, fault: str = "") -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{TESTS / 'unit' / 'store'}"}
    environment.pop("TRAILHOUSE_FAULT", None)
    if fault:
        environment["TRAILHOUSE_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-c", SERVER, str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def test_the_child_ends_with_a_server_killed_and_the_next_server_finds_everything(
    tmp_path: Path,
) -> None:
    server = run_server(tmp_path / "events")
    assert server.stdout is not None
    child = int(server.stdout.readline())
    server.send_signal(signal.SIGKILL)
    server.communicate()
    deadline = time.monotonic() + 30
    while running(child):
        assert time.monotonic() < deadline, "the index process outlived its server"
        time.sleep(0.05)
    log = open_log(tmp_path / "events")
    try:
        assert log.catch_up(timeout=30)
        assert len(everything(log)) == 2_000  # every one was acknowledged
        assert log.stats().events == 2_000
    finally:
        log.close()


@pytest.mark.parametrize("point", ["index.day_file.staged", "index.day_file.created@3"])
def test_a_crash_point_in_the_child_kills_the_server(point: str, tmp_path: Path) -> None:
    server = run_server(tmp_path / "events", point)
    _, errors = server.communicate(timeout=60)
    assert server.returncode == -signal.SIGKILL
    assert f"trailhouse fault: killed at {point.split('@')[0]}" in errors
    log = open_log(tmp_path / "events")
    try:
        assert log.catch_up(timeout=30)
        assert log.stats().events == len(everything(log)) == log.last_seq()
    finally:
        log.close()


def test_a_store_waits_for_the_child_of_a_killed_server_to_let_go(tmp_path: Path) -> None:
    days = tmp_path / "events" / "days"
    days.mkdir(parents=True)
    holder = subprocess.Popen(  # stands for a child still finishing its batch for 1 s
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; d = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(d, fcntl.LOCK_EX); print(flush=True); time.sleep(1)",
            str(days / "LOCK"),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    holder.stdout.readline()
    started = time.monotonic()
    log = open_log(tmp_path / "events")
    waited = time.monotonic() - started
    log.close()
    holder.communicate()
    assert waited >= 0.5

    # One that never lets go is named, after the wait, not written beside.
    stuck = DirectoryLock(days)
    try:
        with pytest.raises(StoreError, match="in use by another trailhouse process"):
            DirectoryLock(days, 0.2)
    finally:
        stuck.release()
