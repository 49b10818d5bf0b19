"""Reading the SQLite event log in order: the light frame scan beside the full one, big and
corrupt frames, purged events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from trailhouse.events.model import EventRecord
from trailhouse.store.sqlite import segments
from trailhouse.store.sqlite.event_log import SqliteEventLog

BASE_TIME = 1740787200  # 2025-03-01T00:00:00Z
ACCOUNT = "1234567890123456"


def record(event_id: str, event_time: int = BASE_TIME, pad: int = 200) -> EventRecord:
    body = {"eventId": event_id, "eventTime": event_time, "pad": "x" * pad}
    return EventRecord(
        account_id=ACCOUNT,
        event_id=event_id,
        event_time=event_time,
        event_name="DescribeInstances",
        service_name="Ecs",
        event_rw="Read",
        user_name="alice",
        access_key_id=None,
        resource_types=(),
        resource_names=("i-1",),
        body=orjson.dumps(body),
    )


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteEventLog]:
    opened = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=50)
    yield opened
    opened.close()


def test_reading_in_batches_gives_every_event_once_with_its_body(log: SqliteEventLog) -> None:
    events = [record(f"E{n}", BASE_TIME + n) for n in range(250)]
    assert all(log.append(events))
    whole = log.read_after(0, 1000)
    assert [e.seq for e in whole] == list(range(1, 251))
    assert [(e.event_id, e.event_time, e.body) for e in whole] == [
        (r.event_id, r.event_time, r.body) for r in events
    ]
    batches = []
    after = 0
    while batch := log.read_after(after, 40):
        batches.append(batch)
        after = batch[-1].seq
    assert [len(b) for b in batches] == [40] * 6 + [10]
    assert [e for b in batches for e in b] == whole


def test_purged_events_are_skipped_by_readers(log: SqliteEventLog) -> None:
    old, new = BASE_TIME, BASE_TIME + 5 * 86400
    assert all(log.append([record(f"N{n}", new) for n in range(10)]))
    assert all(log.append([record(f"O{n}", old) for n in range(10)]))
    assert all(log.append([record(f"M{n}", new) for n in range(10)]))
    assert log.purge(old + 86400) == 10
    assert [e.event_id for e in log.read_after(5, 10)] == [f"N{n}" for n in range(5, 10)] + [
        f"M{n}" for n in range(5)
    ]
    assert log.read_after(30, 10) == []


def test_frames_larger_than_a_read_chunk_and_corrupt_ones(
    log: SqliteEventLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments, "_READ_CHUNK", 64)
    events = [record(f"L{n}", pad=100 + 50 * n) for n in range(5)]
    assert all(log.append(events))
    read = log.read_after(0, 10)
    assert [orjson.loads(e.body)["eventId"] for e in read] == [f"L{n}" for n in range(5)]
    assert [e.event_id for e in read] == [f"L{n}" for n in range(5)]
    segment = sorted((tmp_path / "events" / "log").glob("*.log"))[-1]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a committed frame: not a torn tail
    segment.write_bytes(bytes(data))
    with pytest.raises(OSError, match="corrupt"):
        log.read_after(0, 10)


def test_the_light_scan_and_the_full_records_agree(tmp_path: Path) -> None:
    opened = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=0)
    assert all(opened.append([record(f"R{n}", BASE_TIME + n) for n in range(30)]))
    opened.close()
    files = segments.SegmentFiles(tmp_path / "events" / "log")
    try:
        full = [
            (r.seq, r.event_time, r.accepted_ms, r.dict_id, r.account_id, r.event_id, r.body)
            for r in files.read(3, 20)
        ]
        light = [
            (f.seq, f.event_time, f.accepted_ms, f.dict_id, f.account_id, f.event_id, f.body)
            for f in files.read_events(3, 20)
        ]
        assert light == full
        assert [f[0] for f in full] == list(range(4, 24))
    finally:
        files.close()


def test_values_holding_the_field_separator_are_indexed_and_kept(tmp_path: Path) -> None:
    # Nothing in an event forbids control characters; such a frame is sound, not corrupt.
    odd = EventRecord(
        account_id=ACCOUNT,
        event_id="id\x1fwith-separator",
        event_time=BASE_TIME,
        event_name="DescribeInstances",
        service_name="Ecs",
        event_rw="Read",
        user_name="alice",
        access_key_id=None,
        resource_types=(),
        resource_names=(),
        body=orjson.dumps({"eventId": "id\x1fwith-separator"}),
    )
    opened = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=0)
    assert opened.append([record("BEFORE"), odd, record("AFTER")]) == [True, True, True]
    assert opened.catch_up()
    assert opened.append([odd]) == [False]  # found in its day file: still a duplicate
    opened.close()
    reopened = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=0)
    try:
        logged = reopened.read_after(0, 10)
        assert [orjson.loads(e.body)["eventId"] for e in logged] == [
            "BEFORE",
            "id\x1fwith-separator",
            "AFTER",
        ]
        assert [e.event_id for e in logged] == ["BEFORE", "id\x1fwith-separator", "AFTER"]
        assert {e.account_id for e in logged} == {ACCOUNT}
        assert reopened.append([record("NEXT")]) == [True]
        assert reopened.last_seq() == 4
    finally:
        reopened.close()
