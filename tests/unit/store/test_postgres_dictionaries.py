"""PostgreSQL bodies are compressed with a zstd dictionary shared through `zstd_dicts`: the first
process to gather enough events trains it, another process that started before it existed still
reads the bodies back, and bodies stored before it stay readable."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from trailhouse.events.model import EventRecord
from trailhouse.events.validation import ValidationLimits, format_event_time, validate_event
from trailhouse.settings import Settings
from trailhouse.store import open_stores
from trailhouse.store.postgres.dictionaries import TRAIN_AFTER
from trailhouse.store.postgres.event_log import PostgresEventLog

ACCOUNT = "1234567890123456"


def events(prefix: str, count: int) -> list[EventRecord]:
    now = int(time.time())
    limits = ValidationLimits(now, 90 * 86400, 900, 256 * 1024)
    return [
        validate_event(
            {
                "eventId": f"{prefix}-{n:05d}",
                "eventTime": format_event_time(now - 600 + n % 300),
                "eventName": ("DescribeInstances", "StopInstance", "PutObject")[n % 3],
                "eventType": "ApiCall",
                "serviceName": ("Ecs", "Oss")[n % 2],
                "sourceIpAddress": f"203.0.113.{n % 200}",
                "requestId": f"REQ-{prefix}-{n:08d}-4F6A-9C1B",
                "userIdentity": {"type": "ram-user", "userName": f"user{n % 7}"},
            },
            account_id=ACCOUNT,
            limits=limits,
        )
        for n in range(count)
    ]


@pytest.mark.postgres
def test_bodies_use_one_shared_dictionary_once_trained(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    first, second = open_stores(settings), open_stores(settings)  # two processes' stores
    try:
        log, other = first.events, second.events
        assert isinstance(log, PostgresEventLog) and isinstance(other, PostgresEventLog)
        before = events("before", TRAIN_AFTER)
        log.append(before)
        log._dictionaries.join()
        after = events("after", 500)
        log.append(after)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            counts = dict(
                conn.execute("SELECT dict_id, count(*) FROM events GROUP BY dict_id").fetchall()
            )
            raw = conn.execute(
                "SELECT avg(length(body)) FROM events WHERE dict_id = 1"
            ).fetchone() or (0,)
            plain = conn.execute(
                "SELECT avg(length(body)) FROM events WHERE dict_id = 0"
            ).fetchone() or (0,)
        assert counts == {0: TRAIN_AFTER, 1: 500}
        assert float(str(raw[0])) < float(str(plain[0]))
        # The other process started before the dictionary existed: it loads it when it meets it.
        read = other.read_after(0, 10_000)
        assert [e.body for e in read] == [r.body for r in before + after]
        # Its own appends use the shared dictionary once it knows it (no second one is trained).
        other.append(events("other", TRAIN_AFTER))
        other._dictionaries.join()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM zstd_dicts").fetchone() == (1,)
    finally:
        first.close()
        second.close()
