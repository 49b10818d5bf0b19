"""PostgreSQL appends commit out of seq order, and no reader by seq misses one (ARCHITECTURE
decision 1): `read_after` and `last_seq` stay below the safe horizon (`horizon.py`) while an
earlier append is still in flight, and appends do not wait for each other to commit."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import zstandard

from trailhouse.events.model import EventRecord
from trailhouse.events.validation import ValidationLimits, format_event_time, validate_event
from trailhouse.settings import Settings
from trailhouse.store import Stores, open_metadata, open_stores, upgrade_schema
from trailhouse.store.postgres import schema as postgres_schema
from trailhouse.store.postgres.event_log import (
    _INSERT,
    PostgresEventLog,
    _insert,
    _insert_columns,
)
from trailhouse.store.postgres.horizon import begin_append
from trailhouse.store.postgres.schema import create_partitions, day_of

ACCOUNT = "1234567890123456"
NOW = int(time.time())

Conn = psycopg.Connection[tuple[object, ...]]


def events(prefix: str, count: int) -> list[EventRecord]:
    limits = ValidationLimits(NOW, 90 * 86400, 900, 256 * 1024)
    return [
        validate_event(
            {
                "eventId": f"{prefix}-{n:05d}",
                "eventTime": format_event_time(NOW - 60),
                "eventName": "DescribeThings",
                "eventType": "ApiCall",
                "serviceName": "Ecs",
                "userIdentity": {"type": "ram-user", "userName": "alice"},
            },
            account_id=ACCOUNT,
            limits=limits,
        )
        for n in range(count)
    ]


def columns(records: list[EventRecord]) -> list[object]:
    bodies = [_compressed(r.body) for r in records]
    days = [day_of(r.event_time) for r in records]
    return _insert_columns(records, days, 0, bodies, [None] * len(records))


@pytest.fixture
def stores(postgres_url: str, tmp_path: Path) -> Iterator[Stores]:
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    opened = open_stores(settings)
    try:
        yield opened
    finally:
        opened.close()


def read_all(log: PostgresEventLog, after: int) -> list[tuple[int, str]]:
    """Everything after `after` by seq, as a follower reads it in pages of 3."""
    seen = []
    while page := log.read_after(after, 3):
        seen.extend((e.seq, e.event_id) for e in page)
        after = page[-1].seq
    return seen


@pytest.mark.postgres
def test_a_later_seq_committed_first_is_held_back_until_the_earlier_commits(
    stores: Stores, postgres_url: str
) -> None:
    log = stores.events
    assert isinstance(log, PostgresEventLog)
    assert log.append(events("warm", 1)) == [True]  # the day's partition exists
    cursor = log.last_seq()
    key, base = log._key, log._base
    with (
        psycopg.connect(postgres_url) as early,
        psycopg.connect(postgres_url) as late,
        early.transaction(),
    ):
        begin_append(early, key)
        ms = int(time.time() * 1000)
        early_rows = early.execute(_INSERT, [base, ms, *columns(events("early", 2))])
        early_seqs = [int(str(row[0])) for row in early_rows.fetchall()]
        # The later append takes higher seqs and commits at once: it does not wait.
        late.autocommit = True
        began = time.monotonic()
        assert len(_insert(late, key, base, columns(events("late", 2)))) == 2
        assert time.monotonic() - began < 5
        (late_top,) = late.execute("SELECT max(seq) FROM events").fetchone() or (0,)
        assert max(early_seqs) < int(str(late_top))
        # A reader polling now must not move past the uncommitted earlier seqs.
        for _ in range(3):
            assert log.read_after(cursor, 100) == []
            assert cursor <= log.last_seq() < min(early_seqs)
            assert log.pending_after(cursor) == 0
    # Both committed: the follower reads all four, in seq order, each once.
    seen = read_all(log, cursor)
    assert [event_id for _, event_id in seen] == [
        "early-00000",
        "early-00001",
        "late-00000",
        "late-00001",
    ]
    assert [seq for seq, _ in seen] == sorted({seq for seq, _ in seen})
    assert log.last_seq() == seen[-1][0]
    assert log.pending_after(cursor) == 4


@pytest.mark.postgres
def test_an_earlier_append_rolled_back_releases_the_later_one(
    stores: Stores, postgres_url: str
) -> None:
    log = stores.events
    assert isinstance(log, PostgresEventLog)
    log.append(events("warm", 1))
    cursor = log.last_seq()
    with psycopg.connect(postgres_url) as early, psycopg.connect(postgres_url) as late:
        late.autocommit = True
        early.execute("BEGIN")
        begin_append(early, log._key)
        early.execute(_INSERT, [log._base, 0, *columns(events("gone", 1))])
        _insert(late, log._key, log._base, columns(events("kept", 1)))
        assert log.read_after(cursor, 10) == []
        early.rollback()
    assert [event_id for _, event_id in read_all(log, cursor)] == ["kept-00000"]


@pytest.mark.postgres
def test_followers_miss_nothing_while_appends_commit_out_of_order(
    stores: Stores, postgres_url: str
) -> None:
    """Four writers hold their transactions open for random times; a follower polling all the
    while reads every committed event once, in increasing seq order."""
    log = stores.events
    assert isinstance(log, PostgresEventLog)
    log.append(events("warm", 1))
    start = log.last_seq()
    written: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer(name: str) -> None:
        rng = random.Random(name)
        with psycopg.connect(postgres_url) as conn:
            for batch in range(15):
                records = events(f"{name}-{batch}", rng.randint(1, 5))
                with conn.transaction():
                    begin_append(conn, log._key)
                    conn.execute(_INSERT, [log._base, 0, *columns(records)])
                    time.sleep(rng.uniform(0, 0.03))
                with lock:
                    written.extend(r.event_id for r in records)

    seen: list[tuple[int, str]] = []

    def follower() -> None:
        after = start
        while True:
            finished = done.is_set()
            page = log.read_after(after, 7)
            seen.extend((e.seq, e.event_id) for e in page)
            after = page[-1].seq if page else after
            if finished and not page:
                return

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    reader = threading.Thread(target=follower)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(timeout=60)
    seqs = [seq for seq, _ in seen]
    assert seqs == sorted(set(seqs))
    assert sorted(event_id for _, event_id in seen) == sorted(written)


@pytest.mark.postgres
def test_upgrade_from_schema_5_continues_seqs_above_the_old_ones(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    released = postgres_schema.POSTGRES_MIGRATIONS
    monkeypatch.setattr(postgres_schema, "POSTGRES_MIGRATIONS", released[:4])
    open_metadata(settings).close()  # schema 5, as the release before made it
    monkeypatch.setattr(postgres_schema, "POSTGRES_MIGRATIONS", released)
    old = events("old", 3)
    day = day_of(old[0].event_time)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        create_partitions(conn, {day})
        # The release before: seqs 1, 2, 3 under the log_head row lock, which keeps the last.
        for seq, record in enumerate(old, start=1):
            conn.execute(
                "INSERT INTO events (seq, account_id, event_id, event_time, day, accepted_ms, "
                "event_name, service_name, event_rw, resource_types, resource_names, body, "
                "event_type) VALUES (%s, %s, %s, %s, %s, 0, 'E', 'Ecs', 'Read', '{}', '{}', "
                "%s, 'ApiCall')",
                (seq, ACCOUNT, record.event_id, record.event_time, day, _compressed(b"{}")),
            )
        conn.execute("UPDATE log_head SET last_seq = 3")
    assert upgrade_schema(settings).current == released[-1].version
    # A process of the release before, still running, fails to append instead of appending
    # seqs no reader would reach.
    with (
        psycopg.connect(postgres_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.UndefinedColumn),
    ):
        conn.execute("SELECT last_seq FROM log_head WHERE id = 1 FOR UPDATE")
    stores = open_stores(settings)
    try:
        log = stores.events
        assert isinstance(log, PostgresEventLog)
        assert log.last_seq() == 3
        assert [e.seq for e in log.read_after(0, 10)] == [1, 2, 3]
        assert log.append(events("new", 2)) == [True, True]
        after = log.read_after(3, 10)  # a trail checkpointed at the old last seq goes on
        assert [e.event_id for e in after] == ["new-00000", "new-00001"]
        assert 3 < after[0].seq < after[1].seq == log.last_seq()
        assert log.pending_after(3) == 2
    finally:
        stores.close()


def _compressed(body: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(body)
