"""The SQLite event log's own machinery: group commit, torn-tail recovery, segment rolling."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from trailhouse.errors import StoreError, StoreUnavailable
from trailhouse.events.model import EventRecord
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.segments import SEGMENT_BYTES

BASE_TIME = 1740787200  # 2025-03-01T00:00:00Z


def record(
    event_id: str, event_time: int = BASE_TIME, account_id: str = "1234567890123456"
) -> EventRecord:
    body = {"eventId": event_id, "eventTime": event_time, "pad": "x" * 200, "n": event_id[::-1]}
    return EventRecord(
        account_id=account_id,
        event_id=event_id,
        event_time=event_time,
        event_name="DescribeInstances",
        service_name="Ecs",
        event_rw="Read",
        user_name="alice",
        access_key_id="LTAI5tAliceKey0000001",
        resource_types=("ACS::ECS::Instance",),
        resource_names=("i-1", "i-2"),
        body=orjson.dumps(body),
    )


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., SqliteEventLog]]:
    """Opens logs on one directory; closes whatever is still open at the end."""
    opened: list[SqliteEventLog] = []

    def make(
        gather_seconds: float = 0.002, train_after: int = 0, segment_bytes: int = SEGMENT_BYTES
    ) -> SqliteEventLog:
        log = SqliteEventLog(
            tmp_path / "events",
            gather_seconds=gather_seconds,
            train_after=train_after,
            segment_bytes=segment_bytes,
        )
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def tail_segment(tmp_path: Path) -> Path:
    return sorted((tmp_path / "events" / "log").glob("*.log"))[-1]


def test_concurrent_appends_are_grouped_into_few_fsyncs_without_gaps(
    open_log: Callable[..., SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fdatasync = os.fdatasync

    def counting_fdatasync(fd: int) -> None:
        fsyncs.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    log = open_log(gather_seconds=0.02)
    threads_count, batches, size = 8, 10, 5
    barrier = threading.Barrier(threads_count)
    results: list[list[bool]] = []

    def write(writer: int) -> None:
        barrier.wait()
        for batch in range(batches):
            ids = [f"T{writer}-B{batch}-E{index}" for index in range(size)]
            results.append(log.append([record(event_id) for event_id in ids]))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = threads_count * batches * size
    assert all(all(result) for result in results) and len(results) == threads_count * batches
    # Eight writers waiting at once share commits: far fewer fsyncs than batches.
    assert len(fsyncs) <= threads_count * batches // 2
    logged = log.read_after(0, 10_000)
    assert [event.seq for event in logged] == list(range(1, total + 1))
    assert log.last_seq() == total
    log.close()
    reopened = open_log()
    assert reopened.read_after(0, 10_000) == logged


@pytest.mark.parametrize("damage", ["truncate", "corrupt", "garbage"])
def test_a_torn_tail_is_cut_off_on_open(
    open_log: Callable[..., SqliteEventLog], tmp_path: Path, damage: str
) -> None:
    log = open_log()
    for batch in range(3):
        assert all(log.append([record(f"B{batch}-E{n}") for n in range(4)]))
    log.close()
    path = tail_segment(tmp_path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-7])  # the last frame lost its end
    elif damage == "corrupt":
        path.write_bytes(data[:-20] + bytes([data[-20] ^ 0xFF]) + data[-19:])
    else:
        path.write_bytes(data + b"\x10\x00\x00\x00\x00")  # a frame header cut short
    survivors = 11 if damage != "garbage" else 12

    reopened = open_log()
    logged = reopened.read_after(0, 100)
    assert [event.seq for event in logged] == list(range(1, survivors + 1))
    assert [event.event_id for event in logged][:11] == [
        f"B{batch}-E{n}" for batch in range(3) for n in range(4)
    ][:11]
    assert reopened.last_seq() == survivors
    assert path.stat().st_size < len(data) + (5 if damage == "garbage" else 0)
    # The torn event was never acknowledged as stored; it may be appended again.
    assert reopened.append([record("B2-E3"), record("NEW")]) == [damage != "garbage", True]
    newest = reopened.read_after(survivors, 10)
    assert newest[0].seq == survivors + 1
    assert reopened.catch_up()


def test_segments_roll_and_are_read_across_after_reopen(
    open_log: Callable[..., SqliteEventLog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(segment_bytes=2_000)
    for batch in range(20):
        assert all(log.append([record(f"R{batch}-{n}") for n in range(3)]))
    files = sorted((tmp_path / "events" / "log").glob("*.log"))
    assert len(files) >= 4
    assert len(list((tmp_path / "events" / "log").glob("*.idx"))) == len(files) - 1
    # Each file is named by the first seq it holds.
    assert int(files[1].stem) > 1
    expected = log.read_after(0, 1000)
    assert [event.seq for event in expected] == list(range(1, 61))
    assert [event.seq for event in log.read_after(29, 7)] == list(range(30, 37))
    log.close()
    files[2].with_suffix(".idx").unlink()  # a lost side file means a rescan, no loss
    reopened = open_log()
    assert reopened.read_after(0, 1000) == expected
    assert [event.seq for event in reopened.read_after(44, 100)] == list(range(45, 61))


def test_a_closed_log_refuses_appends_and_closes_twice(
    open_log: Callable[..., SqliteEventLog],
) -> None:
    log = open_log()
    log.append([record("BEFORE")])
    log.close()
    log.close()
    with pytest.raises(StoreUnavailable):
        log.append([record("AFTER")])


def test_duplicates_are_found_before_and_after_indexing(
    open_log: Callable[..., SqliteEventLog],
) -> None:
    log = open_log()
    assert log.append([record("A"), record("B")]) == [True, True]
    # Whether still in the unindexed window or already in the day file, a retry is refused.
    assert log.append([record("A")]) == [False]
    assert log.catch_up()
    assert log.append([record("B"), record("C"), record("C")]) == [False, True, False]
    log.close()
    reopened = open_log()
    assert reopened.append([record("A"), record("C"), record("D")]) == [False, False, True]
    assert [event.event_id for event in reopened.read_after(0, 10)] == ["A", "B", "C", "D"]


def test_a_failed_fsync_fails_its_callers_and_the_log_goes_on_without_a_gap(
    open_log: Callable[..., SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdatasync = os.fdatasync
    failures = [OSError(5, "Input/output error")]

    def failing_once(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", failing_once)
    log = open_log()
    lost = [record(f"lost-{n}") for n in range(3)]
    with pytest.raises(StoreError, match="Input/output error"):
        log.append(lost)
    # Not durable, so not a duplicate: the retry stores them, numbered from 1.
    assert log.append(lost) == [True, True, True]
    assert log.append([record("after")]) == [True]
    assert [(e.seq, e.event_id) for e in log.read_after(0, 10)] == [
        (1, "lost-0"),
        (2, "lost-1"),
        (3, "lost-2"),
        (4, "after"),
    ]
    log.close()
    assert open_log().last_seq() == 4
