"""Sealed PostgreSQL day partitions get their B-tree indexes rebuilt full once, and stay
readable and writable; today's partition is left alone."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.events.validation import ValidationLimits, format_event_time, validate_event
from trailhouse.settings import Settings
from trailhouse.store import open_stores
from trailhouse.store.postgres.event_log import PostgresEventLog
from trailhouse.store.postgres.schema import day_of, partition_name

ACCOUNT = "1234567890123456"
DAY = 86400


def events(prefix: str, count: int, when: int) -> list[EventRecord]:
    limits = ValidationLimits(int(time.time()), 90 * 86400, 900, 256 * 1024)
    return [
        validate_event(
            {
                "eventId": f"{prefix}-{n:05d}",
                "eventTime": format_event_time(when + n % 3600),
                "eventName": ("DescribeInstances", "StopInstance", "PutObject")[n % 3],
                "eventType": "ApiCall",
                "serviceName": "Ecs",
                "userIdentity": {"type": "ram-user", "userName": f"user{n % 7}"},
            },
            account_id=ACCOUNT,
            limits=limits,
        )
        for n in range(count)
    ]


def index_bytes(conn: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = conn.execute(
        "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = %s::regclass",
        (table,),
    ).fetchone()
    return int(str(row[0])) if row else 0


@pytest.mark.postgres
def test_sealed_days_are_compacted_once_and_stay_usable(postgres_url: str, tmp_path: Path) -> None:
    now = int(time.time())
    old_day, today = day_of(now - 3 * DAY), day_of(now)
    # Each batch inside its own day whatever the hour: the old one spans an hour from 06:00 of
    # its day, the new one starts at most 10 minutes ago but not before today's midnight.
    old_start = (now - 3 * DAY) // DAY * DAY + 6 * 3600
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    stores = open_stores(settings)
    try:
        log = stores.events
        assert isinstance(log, PostgresEventLog)
        log.append(events("old", 6000, old_start))
        log.append(events("new", 50, max(now - 600, now // DAY * DAY)))
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            before = index_bytes(conn, partition_name(old_day))
        assert log.compact_sealed_days() == [old_day]
        assert log.compact_sealed_days() == []
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            after = index_bytes(conn, partition_name(old_day))
            assert conn.execute("SELECT day FROM compacted_days").fetchall() == [(old_day,)]
            options = conn.execute(
                "SELECT c.reloptions FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass",
                (partition_name(today),),
            ).fetchall()
        assert after < before
        assert all(row[0] is None for row in options)  # today's indexes untouched
        # A late event still lands in the compacted day, and lookups find it.
        assert log.append(events("late", 1, now - 3 * DAY)) == [True]
        page = log.lookup(
            LookupQuery(
                ACCOUNT,
                now - 4 * DAY,
                now,
                Direction.BACKWARD,
                ((LookupKey.EVENT_ID, "late-00000"),),
                10,
                None,
            )
        )
        assert [e.event_id for e in page.events] == ["late-00000"]
        assert len(log.read_after(0, 10_000)) == 6051
    finally:
        stores.close()
