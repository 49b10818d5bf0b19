"""The SQLite history index: re-indexing after a restart, dictionaries, purge, query plans."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from older_releases import day_files_as_format
from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.store.sqlite import days as days_module
from trailhouse.store.sqlite import indexer, inserts
from trailhouse.store.sqlite.days import (
    INDEX_FORMAT,
    DayFiles,
    day_of,
    id_hash,
    known_ids_sql,
)
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.lookup import _statement
from trailhouse.store.sqlite.records import LogRecord
from trailhouse.store.sqlite.segments import SEGMENT_BYTES

ACCOUNT = "1234567890123456"
BASE_TIME = 1740787200  # 2025-03-01T00:00:00Z
DAY = 86400
SERVICES = ("Ecs", "Oss", "Ram")


def record(n: int, event_time: int | None = None) -> EventRecord:
    """Event number `n`: one every 15 minutes from BASE_TIME, varied attributes."""
    event_time = BASE_TIME + n * 900 if event_time is None else event_time
    service = SERVICES[n % 3]
    body = {
        "eventId": f"EV-{n:06d}",
        "eventTime": event_time,
        "serviceName": service,
        "eventName": f"Describe{service}Things",
        "requestParameters": {"RegionId": "cn-hangzhou", "PageSize": n % 50, "Token": f"t{n}"},
        "userAgent": "AlibabaCloud (Linux; x86_64) Python/3.11 Core/2.13",
    }
    return EventRecord(
        account_id=ACCOUNT,
        event_id=f"EV-{n:06d}",
        event_time=event_time,
        event_name=f"Describe{service}Things",
        service_name=service,
        event_rw="Read" if n % 4 else "Write",
        user_name=f"user{n % 5}",
        access_key_id=f"LTAI5tKey{n % 5:012d}",
        resource_types=("ACS::X::A", "ACS::X::B") if n % 2 else ("ACS::X::A",),
        resource_names=(f"res-{n % 11}", f"res-{(n + 1) % 11}"),
        body=orjson.dumps(body),
    )


def logged(seq: int, event_id: str) -> LogRecord:
    """A log record as the indexer gets it: seq `seq`, `seq` seconds into BASE_TIME's day."""
    return LogRecord(
        seq=seq,
        event_time=BASE_TIME + seq,
        accepted_ms=0,
        dict_id=0,
        account_id=ACCOUNT,
        event_id=event_id,
        event_name="DescribeThings",
        service_name="Ecs",
        event_rw="Read",
        user_name="" if seq % 2 else "alice",
        access_key_id="",
        resource_types=("ACS::X::A",),
        resource_names=(f"res-{seq}",),
        recorder="",
        body=b"{}",
    )


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., SqliteEventLog]]:
    """Opens logs on one directory; closes whatever is still open at the end."""
    opened: list[SqliteEventLog] = []

    def make(train_after: int = 0, segment_bytes: int = SEGMENT_BYTES) -> SqliteEventLog:
        log = SqliteEventLog(
            tmp_path / "events",
            gather_seconds=0.0,
            train_after=train_after,
            segment_bytes=segment_bytes,
        )
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def everything(log: SqliteEventLog, *conditions: tuple[LookupKey, str]) -> list[str]:
    """Every matching event id, newest first, following next_position."""
    query = LookupQuery(
        ACCOUNT, BASE_TIME - DAY, BASE_TIME + 30 * DAY, Direction.BACKWARD, conditions, 40
    )
    ids: list[str] = []
    while True:
        page = log.lookup(query)
        ids.extend(event.event_id for event in page.events)
        if page.next_position is None:
            return ids
        query = LookupQuery(
            ACCOUNT, query.start, query.end, query.direction, conditions, 40, page.next_position
        )


def test_an_index_lost_midway_is_rebuilt_after_restart(
    open_log: Callable[..., SqliteEventLog], tmp_path: Path
) -> None:
    log = open_log()
    records = [record(n) for n in range(400)]  # about four days
    for at in range(0, 400, 50):
        log.append(records[at : at + 50])
    assert log.catch_up()
    expected = everything(log)
    by_user = everything(log, (LookupKey.USER, "user3"))
    assert len(expected) == 400
    log.close()
    # As if the indexer had stopped at seq 150 and the newest day files never reached disk.
    state = tmp_path / "events" / "state.json"
    saved = json.loads(state.read_text())
    state.write_text(json.dumps({**saved, "indexed_seq": 150}))
    newest = sorted((tmp_path / "events" / "days").glob("*.sqlite"))[-2:]
    for path in newest:
        path.unlink()

    reopened = open_log()
    # Events in the not-yet-reindexed window are still recognised as duplicates.
    assert reopened.append([records[399], records[10], record(400)]) == [False, False, True]
    assert reopened.catch_up()
    assert everything(reopened) == ["EV-000400", *expected]
    assert everything(reopened, (LookupKey.USER, "user3")) == by_user
    assert reopened.stats().events == 401
    assert reopened.stats().indexed_seq == 401


@pytest.mark.parametrize("state_saved", [True, False], ids=["state-without-format", "no-state"])
def test_an_index_of_an_older_format_is_built_again_from_the_log_when_opened(
    open_log: Callable[..., SqliteEventLog],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    state_saved: bool,
) -> None:
    log = open_log()
    records = [record(n) for n in range(300)]
    log.append(records)
    assert log.catch_up()
    expected = everything(log)
    log.close()
    # A store of format 1: state.json without a format, day files in the old layout.
    state = tmp_path / "events" / "state.json"
    saved = json.loads(state.read_text())
    del saved["index_format"]
    if state_saved:
        state.write_text(json.dumps(saved))
    else:  # an older release that crashed before it first saved its progress
        state.unlink()
    days_dir = tmp_path / "events" / "days"
    for path in days_dir.glob("*.sqlite"):
        path.unlink()
        with sqlite3.connect(path) as old:
            old.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, account TEXT)")
        old.close()
    monkeypatch.setattr(indexer, "_INDEX_FIRST_ABOVE", 100)

    reopened = open_log()
    # Built while opening, before the first lookup, and not waiting in PendingKeys.
    assert everything(reopened) == expected
    assert everything(reopened, (LookupKey.USER, "user3")) == [
        r.event_id for r in reversed(records) if r.user_name == "user3"
    ]
    assert reopened.append([records[7]]) == [False]
    assert json.loads(state.read_text())["index_format"] == INDEX_FORMAT


def test_event_ids_that_share_a_hash_are_told_apart(
    open_log: Callable[..., SqliteEventLog],
) -> None:
    assert id_hash("plumless") == id_hash("buckeroo")  # a known CRC-32 collision
    log = open_log()
    first = dataclasses.replace(record(1), event_id="plumless")
    second = dataclasses.replace(record(2), event_id="buckeroo")
    assert log.append([first]) == [True]
    assert log.catch_up()
    # Indexed, "plumless" shares its hash with "buckeroo": that is no duplicate, a retry is.
    assert log.append([second, first]) == [True, False]
    assert log.catch_up()
    assert everything(log, (LookupKey.EVENT_ID, "buckeroo")) == ["buckeroo"]
    assert everything(log, (LookupKey.EVENT_ID, "plumless")) == ["plumless"]
    assert everything(log, (LookupKey.EVENT_ID, "plumless"), (LookupKey.USER, "user2")) == []


@pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are set on Linux only")
def test_the_indexer_runs_at_a_lower_priority_than_the_rest_of_the_process(
    open_log: Callable[..., SqliteEventLog],
) -> None:
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if mine >= 19:
        pytest.skip("the tests already run at the lowest priority")
    open_log()
    indexers = [t for t in threading.enumerate() if t.name == "event-log-indexer"]
    assert indexers
    deadline = time.monotonic() + 5
    for thread in indexers:  # this log's, and any other test's still running
        assert thread.native_id is not None
        while os.getpriority(os.PRIO_PROCESS, thread.native_id) == mine:
            assert time.monotonic() < deadline, "the indexer kept the process's priority"
            time.sleep(0.01)
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(mine + 10, 19)


def test_bodies_before_and_after_the_dictionary_read_back(
    open_log: Callable[..., SqliteEventLog], tmp_path: Path
) -> None:
    log = open_log(train_after=300)
    records = [record(n) for n in range(1200)]
    log.append(records[:200])
    assert log.catch_up()  # indexed before any dictionary exists: plain zstd
    log.append(records[200:400])
    dictionary = tmp_path / "events" / "dicts" / "1.zdict"
    deadline = time.monotonic() + 30
    while not dictionary.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dictionary.exists()
    for at in range(400, 1200, 100):
        log.append(records[at : at + 100])
    assert log.catch_up()
    assert [event.body for event in log.read_after(0, 2000)] == [r.body for r in records]
    log.close()

    reopened = open_log(train_after=300)
    assert [event.body for event in reopened.read_after(0, 2000)] == [r.body for r in records]
    page = reopened.lookup(
        LookupQuery(ACCOUNT, BASE_TIME, BASE_TIME + 20 * DAY, Direction.FORWARD, (), 1200)
    )
    assert [event.body for event in page.events] == [r.body for r in records]
    used: dict[int, list[int]] = {}
    for path in (tmp_path / "events" / "days").glob("*.sqlite"):
        with sqlite3.connect(path) as conn:
            for dict_id, size in conn.execute("SELECT dict_id, length(body) FROM events"):
                used.setdefault(dict_id, []).append(size)
        conn.close()
    assert set(used) == {0, 1}
    # The point of the dictionary: bodies shrink well below plain zstd.
    assert sum(used[1]) / len(used[1]) < 0.7 * sum(used[0]) / len(used[0])


def test_purge_deletes_whole_day_files_and_old_segments(
    open_log: Callable[..., SqliteEventLog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(segment_bytes=4_000)
    records = [record(n, BASE_TIME + n * 3600) for n in range(120)]  # five days, hourly
    for at in range(0, 120, 6):
        log.append(records[at : at + 6])
    days_dir = tmp_path / "events" / "days"
    log_dir = tmp_path / "events" / "log"
    segments_before = len(list(log_dir.glob("*.log")))
    assert log.catch_up()
    assert len(list(days_dir.glob("*.sqlite"))) == 5

    cutoff = BASE_TIME + 2 * DAY + 6 * 3600  # two whole days and six hours of the third go
    assert log.purge(cutoff) == 54
    assert sorted(p.name for p in days_dir.glob("*.sqlite")) == [
        "20250303.sqlite",
        "20250304.sqlite",
        "20250305.sqlite",
    ]
    assert len(list(log_dir.glob("*.log"))) < segments_before
    survivors = [r.event_id for r in records if r.event_time >= cutoff]
    assert [event.event_id for event in log.read_after(0, 1000)] == survivors
    assert everything(log) == survivors[::-1]
    assert log.stats().events == 66
    log.close()

    # Purged events stay gone after a restart, even those left in a surviving segment and a
    # re-indexing from scratch.
    state = tmp_path / "events" / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "indexed_seq": 0}))
    reopened = open_log()
    assert reopened.catch_up()
    assert [event.event_id for event in reopened.read_after(0, 1000)] == survivors
    assert everything(reopened) == survivors[::-1]
    assert len(list(days_dir.glob("*.sqlite"))) == 3


# An event id is found through its hash in both id tables, by their primary keys.
_ID_SEARCHES = (
    "SEARCH event_ids USING PRIMARY KEY (id_hash=?) | UNION ALL | "
    "SEARCH event_ids_recent USING PRIMARY KEY (id_hash=?)"
)


@pytest.mark.parametrize(
    ("conditions", "index"),
    [
        ((), "events_time"),
        (((LookupKey.EVENT_RW, "Read"),), "events_time"),
        (((LookupKey.EVENT_NAME, "X"), (LookupKey.EVENT_RW, "Read")), "events_name"),
        (((LookupKey.SERVICE_NAME, "Ecs"),), "events_service"),
        (((LookupKey.USER, "u"), (LookupKey.SERVICE_NAME, "Ecs")), "events_user"),
        (((LookupKey.EVENT_ACCESS_KEY_ID, "k"),), "events_key"),
        (((LookupKey.EVENT_ID, "e"), (LookupKey.USER, "u")), "INTEGER PRIMARY KEY (rowid=?)"),
        (((LookupKey.RESOURCE_TYPE, "t"),), "PRIMARY KEY"),
        (((LookupKey.SERVICE_NAME, "Ecs"), (LookupKey.RESOURCE_NAME, "n")), "PRIMARY KEY"),
    ],
)
@pytest.mark.parametrize("direction", list(Direction))
def test_every_lookup_is_served_by_an_index_in_order(
    open_log: Callable[..., SqliteEventLog],
    tmp_path: Path,
    conditions: tuple[tuple[LookupKey, str], ...],
    index: str,
    direction: Direction,
) -> None:
    log = open_log()
    log.append([record(n) for n in range(20)])
    assert log.catch_up()
    (path,) = (tmp_path / "events" / "days").glob("*.sqlite")
    query = LookupQuery(ACCOUNT, BASE_TIME, BASE_TIME + DAY, direction, conditions, 50)
    statement = _statement(query, query.start, query.end)
    params = [*statement.params[:-1], 51]
    with sqlite3.connect(path) as conn:
        plan = " | ".join(
            row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement.sql}", params)
        )
    conn.close()
    steps = plan.split(" | ")
    if steps[0] == "MERGE (UNION)":  # driven by `resources`: its two tables, each in key order
        assert steps[1] == "LEFT" and index in steps[2], plan
        assert plan.count(f"SEARCH r USING {index}") == 2, plan
    else:
        assert index in steps[0], plan
    # The id's hash finds one event, or the few that share its hash: sorting those costs nothing.
    if LookupKey.EVENT_ID in dict(conditions):
        assert _ID_SEARCHES in plan, plan
    else:
        assert "TEMP B-TREE" not in plan, plan


def test_the_duplicate_check_finds_ids_by_their_hash_not_by_scanning_the_account(
    open_log: Callable[..., SqliteEventLog], tmp_path: Path
) -> None:
    log = open_log()
    log.append([record(n) for n in range(20)])
    assert log.catch_up()
    (path,) = (tmp_path / "events" / "days").glob("*.sqlite")
    with sqlite3.connect(path) as conn:
        plan = " | ".join(
            row[3]
            for row in conn.execute(
                f"EXPLAIN QUERY PLAN {known_ids_sql(3)}", [1, 2, 3, 1, 2, 3, ACCOUNT]
            )
        )
    conn.close()
    assert plan.startswith("SEARCH events USING INTEGER PRIMARY KEY (rowid=?)"), plan
    assert _ID_SEARCHES in plan, plan


def test_a_batch_larger_than_one_insert_statement_is_indexed_whole_and_once(
    tmp_path: Path,
) -> None:
    days = DayFiles(tmp_path / "days")
    day = day_of(BASE_TIME)
    first = [logged(seq, f"EV-{seq}") for seq in range(1, 2_501)]  # 3 statements: 1000+1000+500
    try:
        assert days.index(day, first) == 2_500
        # Indexed again after a restart: nothing new.
        assert days.index(day, first[1_990:2_010]) == 0
        assert days.index(day, [*first[-3:], logged(2_501, "EV-new")]) == 1
        assert days.count(day) == 2_501
        with days.reading(day) as conn:
            assert conn is not None
            resources = conn.execute("SELECT count(*), max(seq) FROM resources_recent").fetchone()
            users = conn.execute("SELECT count(*) FROM events WHERE user_name IS NULL").fetchone()
        assert resources == (2 * 2_501, 2_501)
        assert users == (1_251,)
    finally:
        days.close()


def test_the_indexer_keeps_in_its_page_cache_what_a_reader_maps(tmp_path: Path) -> None:
    """The indexer dirties pages all over a large day: its connection maps nothing and has a
    reader's mapped memory as page cache instead, so no more memory than a reader may hold."""
    mapped = 8 * 1024 * 1024
    days = DayFiles(tmp_path / "days", mmap_bytes=mapped)
    day = day_of(BASE_TIME)
    try:
        days.index(day, [])
        writer = days._writer(day)
        assert writer.execute("PRAGMA mmap_size").fetchone() == (0,)
        cache_kib = days_module._CACHE_KIB + mapped // 1024
        assert writer.execute("PRAGMA cache_size").fetchone() == (-cache_kib,)
        with days.reading(day) as reader:
            assert reader is not None
            assert reader.execute("PRAGMA mmap_size").fetchone() == (mapped,)
            assert reader.execute("PRAGMA cache_size").fetchone() == (-days_module._CACHE_KIB,)
    finally:
        days.close()


def test_a_format_2_index_gains_the_recorder_column_in_place(
    tmp_path: Path, open_log: Callable[..., SqliteEventLog]
) -> None:
    """Day files written before recorders are not rebuilt (a long log would take minutes to
    index again): the column is added to each, NULL (unknown) for every event already there."""
    log = open_log()
    records = [record(n) for n in range(200)]
    log.append(records)
    assert log.catch_up()
    expected = everything(log)
    log.close()
    state = tmp_path / "events" / "state.json"
    saved = json.loads(state.read_text())
    days = day_files_as_format(tmp_path / "events", 2)
    inodes = {path: path.stat().st_ino for path in days}

    reopened = open_log()
    assert {path: path.stat().st_ino for path in days} == inodes  # the same files, not rebuilt
    assert json.loads(state.read_text()) == {**saved, "index_format": INDEX_FORMAT}
    assert everything(reopened) == expected
    recorder = '{"type":"trailhouse"}'
    reopened.append([dataclasses.replace(record(500), recorder=recorder)])
    assert reopened.catch_up()
    page = reopened.lookup(
        LookupQuery(ACCOUNT, BASE_TIME, BASE_TIME + 30 * DAY, Direction.BACKWARD, (), 2)
    )
    assert [(e.event_id, e.recorder) for e in page.events] == [
        ("EV-000500", recorder),
        ("EV-000199", ""),
    ]
    assert reopened.recorders([records[3]]) == [""]


def _open_day_files() -> int:
    """How many descriptors this process holds on day files (`*.sqlite`, not their WAL)."""
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).endswith(".sqlite"):
                found += 1
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_open_day_file_connections_do_not_grow_with_the_days_written_and_read(
    open_log: Callable[..., SqliteEventLog],
) -> None:
    """Each connection holds a page cache and maps of its file: a store whose events span 60
    days (late events, a 90-day history read day by day) keeps a bounded number open."""
    before = _open_day_files()
    log = open_log()
    days = 60
    log.append([record(n, BASE_TIME + n * DAY + 60) for n in range(days)])
    assert log.catch_up()
    for n in range(days):  # LookupEvents over each day, and again
        for _ in range(2):
            page = log.lookup(
                LookupQuery(
                    ACCOUNT,
                    BASE_TIME + n * DAY,
                    BASE_TIME + (n + 1) * DAY - 1,
                    Direction.BACKWARD,
                    (),
                    10,
                )
            )
            assert [event.event_id for event in page.events] == [f"EV-{n:06d}"]
    held = _open_day_files() - before
    assert held <= days_module._WRITER_DAYS + days_module._IDLE_READERS, held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_a_writer_unused_for_a_while_is_closed_and_its_day_written_again_later(
    open_log: Callable[..., SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Yesterday's writer, its page cache full, would otherwise stay open beside today's."""
    log = open_log()
    log.append([record(0, BASE_TIME + 60)])
    assert log.catch_up()
    held = _open_day_files()
    monkeypatch.setattr(days_module, "_WRITER_IDLE_SECONDS", 0.0)
    log.append([record(1, BASE_TIME + DAY + 60)])  # the next day: the first day's writer goes
    assert log.catch_up()
    assert _open_day_files() == held
    log.append([record(2, BASE_TIME + 120)])  # and a late event opens it again
    assert log.catch_up()
    assert sorted(everything(log)) == ["EV-000000", "EV-000001", "EV-000002"]


def test_inserts_use_few_statement_sizes_whatever_the_batch() -> None:
    """Each size is a statement the connection keeps prepared (~1.4 MB at 1,000 rows): any
    batch is cut into full statements and powers of two, so a writer holds a bounded few."""
    seen: set[int] = set()
    for count in range(0, 5_000, 7):
        sizes = list(inserts.statement_sizes(count))
        assert sum(sizes) == count
        seen.update(sizes)
    assert len(seen) <= inserts.ROWS_PER_INSERT.bit_length() + 1, sorted(seen)
