"""ENOSPC and EIO at each write path of the embedded store: the write is refused with DiskFull or
DiskFailed, nothing acknowledged is lost, and the retry once the disk recovers is stored once."""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from trailhouse.errors import DiskError, DiskFailed, DiskFull, StoreError
from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.store.ports import Account, DocumentWrite
from trailhouse.store.sqlite import days, indexer
from trailhouse.store.sqlite.connections import store_error
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SqliteMetadataStore
from trailhouse.store.sqlite.state import LogState

ACCOUNT = "1234567890123456"
BASE_TIME = 1740787200  # 2025-03-01T00:00:00Z
DISK_ERRORS = [
    pytest.param(errno.ENOSPC, DiskFull, id="ENOSPC"),
    pytest.param(errno.EIO, DiskFailed, id="EIO"),
]


def record(event_id: str, event_name: str = "DescribeInstances") -> EventRecord:
    body = {"eventId": event_id, "eventTime": BASE_TIME, "pad": "x" * 200}
    return EventRecord(
        account_id=ACCOUNT,
        event_id=event_id,
        event_time=BASE_TIME,
        event_name=event_name,
        service_name="Ecs",
        event_rw="Read",
        user_name="alice",
        access_key_id="LTAI5tAliceKey0000001",
        resource_types=("ACS::ECS::Instance",),
        resource_names=("i-1",),
        body=orjson.dumps(body),
    )


def lookup_ids(log: SqliteEventLog, *conditions: tuple[LookupKey, str]) -> list[str]:
    query = LookupQuery(
        ACCOUNT, BASE_TIME - 86400, BASE_TIME + 86400, Direction.FORWARD, conditions, 1000
    )
    return [event.event_id for event in log.lookup(query).events]


def fill(conn: sqlite3.Connection) -> None:
    """Make the database full: it may not grow by a single page."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def free(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA max_page_count = 1073741823")


class FailNext:
    """Wraps an os function: the next `times` calls raise OSError(code), later ones pass."""

    def __init__(self, real: Callable[..., object], code: int, times: int = 1) -> None:
        self.real = real
        self.code = code
        self.left = 0
        self.times = times
        self.calls = 0

    def arm(self) -> None:
        self.left = self.times

    def __call__(self, *args: object) -> object:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise OSError(self.code, os.strerror(self.code))
        return self.real(*args)


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[[], SqliteEventLog]]:
    opened: list[SqliteEventLog] = []

    def make() -> SqliteEventLog:
        log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=0)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def check_stored_once(open_log: Callable[[], SqliteEventLog], log: SqliteEventLog) -> None:
    """A, then B refused once and retried, then C: each found once, in the log and the index,
    also after a restart."""
    expected = ["A", "B", "C"]
    assert [(e.seq, e.event_id) for e in log.read_after(0, 10)] == list(
        zip([1, 2, 3], expected, strict=True)
    )
    assert log.catch_up()
    assert lookup_ids(log) == expected
    log.close()
    reopened = open_log()
    assert reopened.last_seq() == 3
    assert reopened.catch_up()
    assert lookup_ids(reopened) == expected
    assert reopened.append([record(x) for x in expected]) == [False, False, False]


@pytest.mark.parametrize(("code", "error"), DISK_ERRORS)
@pytest.mark.parametrize("call", ["write", "fdatasync"])
def test_a_log_append_refused_by_the_disk_is_retried_once_space_returns(
    open_log: Callable[[], SqliteEventLog],
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    code: int,
    error: type[DiskError],
) -> None:
    failing = FailNext(getattr(os, call), code)
    monkeypatch.setattr(os, call, failing)
    log = open_log()
    assert log.append([record("A")]) == [True]
    failing.arm()
    with pytest.raises(error) as refused:
        log.append([record("B")])
    assert refused.value.errno == code
    assert log.append([record("B")]) == [True]  # the disk is back
    assert log.append([record("C")]) == [True]
    check_stored_once(open_log, log)


def test_a_half_written_group_leaves_no_frame_behind(
    open_log: Callable[[], SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    state = {"full": False}

    def half_then_full(fd: int, data: bytes) -> int:
        if not state["full"]:
            return real_write(fd, data)
        if len(data) > 100:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    log = open_log()
    assert log.append([record("A")]) == [True]
    state["full"] = True
    with pytest.raises(DiskFull):
        log.append([record("B")])
    state["full"] = False
    assert log.append([record("B")]) == [True]
    assert log.append([record("C")]) == [True]
    check_stored_once(open_log, log)


def test_until_a_failed_append_is_cut_off_no_append_writes(
    open_log: Callable[[], SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed fdatasync whose cut-back fails too: the segment's tail is unknown, so appends
    are refused without writing until it is cut back and checked."""
    log = open_log()
    assert log.append([record("A")]) == [True]
    sync = FailNext(os.fdatasync, errno.EIO)
    truncate = FailNext(os.ftruncate, errno.EIO, times=2)
    write = FailNext(os.write, errno.EIO)
    monkeypatch.setattr(os, "fdatasync", sync)
    monkeypatch.setattr(os, "ftruncate", truncate)
    monkeypatch.setattr(os, "write", write)
    sync.arm()
    truncate.arm()
    with pytest.raises(DiskFailed):
        log.append([record("B")])
    writes = write.calls
    with pytest.raises(DiskFailed):  # the cut-back fails again: nothing is written
        log.append([record("B")])
    assert write.calls == writes
    assert log.append([record("B")]) == [True]  # cut back, checked, then written
    assert sync.calls >= 3
    assert log.append([record("C")]) == [True]
    check_stored_once(open_log, log)


def indexed_log(
    open_log: Callable[[], SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> SqliteEventLog:
    """A log whose event "A" is indexed, and whose indexer retries a failure after 50 ms."""
    monkeypatch.setattr(indexer, "_RETRY_SECONDS", 0.05)
    log = open_log()
    assert log.append([record("A")]) == [True]
    assert log.catch_up()
    return log


def test_an_index_transaction_on_a_full_disk_is_retried_and_lookups_answer_meanwhile(
    open_log: Callable[[], SqliteEventLog],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = indexed_log(open_log, monkeypatch)
    caplog.set_level(logging.WARNING, logger=indexer.__name__)
    day_file = log._days._writers[days.day_of(BASE_TIME)]
    fill(day_file)  # a real SQLITE_FULL, which rolls the transaction back by itself
    # New strings (event names) are interned in the batch: the failed transaction forgets them.
    batch = [record(f"B{n:03d}", f"Run{n:03d}") for n in range(200)]
    assert log.append(batch) == [True] * 200  # the log takes them at once
    time.sleep(0.3)  # a few failed attempts
    assert not log.catch_up(0.1)
    # what is indexed still answers, and the unindexed tail in memory with it
    assert lookup_ids(log) == ["A", *(r.event_id for r in batch)]
    assert log.append(batch[:1]) == [False]  # still a duplicate
    # a full disk is a warning that names it, never a traceback in the server's log
    waits = [r for r in caplog.records if r.name == indexer.__name__]
    assert waits and all(r.levelno == logging.WARNING and not r.exc_info for r in waits)
    assert "the disk is full" in waits[0].getMessage()
    free(day_file)  # space returns
    assert log.catch_up()
    assert lookup_ids(log) == ["A", *(r.event_id for r in batch)]
    assert lookup_ids(log, (LookupKey.EVENT_NAME, "Run007")) == ["B007"]
    assert lookup_ids(log, (LookupKey.EVENT_NAME, "DescribeInstances")) == ["A"]


def test_an_index_transaction_failing_with_eio_is_retried(
    open_log: Callable[[], SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = indexed_log(open_log, monkeypatch)
    real_insert = days.insert_rows
    failures = {"left": 3}

    def insert(conn: sqlite3.Connection, table: str, rows: list[tuple[object, ...]]) -> int:
        if table == "events" and failures["left"] > 0:  # after the names, inside the transaction
            failures["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return real_insert(conn, table, rows)

    monkeypatch.setattr(days, "insert_rows", insert)
    assert log.append([record("B", "RunInstances")]) == [True]
    assert log.append([record("C", "StopInstances")]) == [True]
    assert log.catch_up()
    assert failures["left"] == 0
    assert lookup_ids(log, (LookupKey.EVENT_NAME, "RunInstances")) == ["B"]
    assert lookup_ids(log, (LookupKey.EVENT_NAME, "StopInstances")) == ["C"]
    check_stored_once(open_log, log)


def test_progress_is_saved_only_after_the_day_files_synced(
    open_log: Callable[[], SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer, "_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(indexer, "_SAVE_EVERY_SECONDS", 0.05)
    events: list[str] = []
    real_sync = days.DayFiles.sync
    real_save = LogState.save_indexed
    failures = {"left": 2}

    def sync(self: days.DayFiles, day: int) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            events.append("sync failed")
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_sync(self, day)
        events.append("synced")

    def save(self: LogState, indexed_seq: int) -> None:
        real_save(self, indexed_seq)
        events.append(f"saved {indexed_seq}")

    monkeypatch.setattr(days.DayFiles, "sync", sync)
    monkeypatch.setattr(LogState, "save_indexed", save)
    log = open_log()
    assert log.append([record("A"), record("B")]) == [True, True]
    assert log.catch_up()
    deadline = time.monotonic() + 10
    while "saved 2" not in events and time.monotonic() < deadline:
        time.sleep(0.02)
    first_save = events.index("saved 2")
    assert events[:first_save].count("sync failed") == 2
    assert events[first_save - 1] == "synced"  # no save follows a failed sync


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_state_save_that_fails_changes_neither_the_file_nor_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    path = tmp_path / "state.json"
    state = LogState(path, 2)
    state.save_indexed(5)
    failing = FailNext(os.fsync, code)
    monkeypatch.setattr(os, "fsync", failing)
    failing.arm()
    with pytest.raises(OSError, match=os.strerror(code)) as refused:
        state.save_indexed(9)
    assert refused.value.errno == code
    assert state.indexed_seq == 5
    assert json.loads(path.read_text())["indexed_seq"] == 5
    assert not path.with_suffix(".tmp").exists()  # no half-written file holds the space
    failing.arm()
    with pytest.raises(OSError, match=os.strerror(code)):
        state.add_purge(BASE_TIME, 3)
    assert state.purged_upto == 0
    state.save_indexed(9)  # space returns
    assert LogState(path, 2).indexed_seq == 9


def test_a_metadata_commit_on_a_full_disk_is_disk_full_and_stores_nothing(
    tmp_path: Path,
) -> None:
    store = SqliteMetadataStore(tmp_path)
    store.create_account(Account("acct-1", 0))
    store._main.run(fill)
    big = b"x" * 200_000
    with pytest.raises(DiskFull, match="the disk is full"):
        store.commit([DocumentWrite("kind", "scope", "doc", big, 0)])
    assert store.get_document("kind", "scope", "doc") is None  # reads keep working
    assert [a.account_id for a in store.list_accounts()] == ["acct-1"]
    store._main.run(free)
    store.commit([DocumentWrite("kind", "scope", "doc", big, 0)])
    store.create_account(Account("acct-2", 0))
    document = store.get_document("kind", "scope", "doc")
    assert document is not None and document.version == 1
    assert [a.account_id for a in store.list_accounts()] == ["acct-1", "acct-2"]
    store.close()


def test_nonces_on_a_full_disk_are_kept_in_memory_and_replays_still_refused(
    tmp_path: Path,
) -> None:
    store = SqliteMetadataStore(tmp_path)
    expires = int(time.time()) + 600
    assert store.use_nonce("before", expires)
    short = store._short
    short._file.run(fill)
    # Enough nonces to need a new page: the file refuses them, the spare keeps them.
    many = [f"during-{n:04d}-" + "n" * 60 for n in range(300)]
    assert all(store.use_nonce(nonce, expires) for nonce in many)
    assert short._spared
    assert not store.use_nonce("before", expires)  # in the file
    assert not store.use_nonce(many[0], expires)  # in memory
    assert store.take_token("LookupEvents/acct", 1.0, 1.0) == 0.0  # counted in memory
    assert store.take_token("LookupEvents/acct", 1.0, 1.0) > 0
    short._file.run(free)  # space returns
    assert not store.use_nonce(many[-1], expires)  # remembered across the recovery
    assert store.use_nonce("after", expires)
    assert not store.use_nonce("after", expires)
    store.close()


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (13, "database or disk is full", DiskFull),
        (10, "disk I/O error", DiskFailed),
        (1290, "disk I/O error", DiskFailed),  # SQLITE_IOERR_DIR_FSYNC: an extended code
        (5, "database is locked", StoreError),
    ],
)
def test_sqlite_errors_become_store_errors_by_their_result_code(
    code: int, message: str, expected: type[StoreError]
) -> None:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    found = store_error(exc, "metadata store")
    assert type(found) is expected
    assert str(found).startswith("metadata store: ")
