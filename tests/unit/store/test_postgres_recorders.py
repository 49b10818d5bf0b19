"""PostgreSQL keeps each recorder once (`recorders`) and names it by id in each row; rows stored
before schema 7, with the recorder's text in the row, read back the same."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import psycopg
import pytest
import zstandard

from trailhouse.events.model import EventRecord
from trailhouse.events.validation import ValidationLimits, format_event_time, validate_event
from trailhouse.settings import Settings
from trailhouse.store import open_stores
from trailhouse.store.postgres.event_log import PostgresEventLog
from trailhouse.store.postgres.schema import day_of

ACCOUNT = "1234567890123456"
ALICE = '{"type":"ram-user","accessKeyId":"LTAI5tAlice","accountId":"1234567890123456"}'
BOB = '{"type":"ram-user","accessKeyId":"LTAI5tBob","accountId":"1234567890123456"}'


def event(event_id: str, recorder: str) -> EventRecord:
    now = int(time.time())
    record = validate_event(
        {
            "eventId": event_id,
            "eventTime": format_event_time(now - 60),
            "eventName": "DescribeThings",
            "eventType": "ApiCall",
            "serviceName": "Ecs",
            "userIdentity": {"type": "ram-user", "userName": "alice"},
        },
        account_id=ACCOUNT,
        limits=ValidationLimits(now, 90 * 86400, 900, 256 * 1024),
    )
    return dataclasses.replace(record, recorder=recorder)


@pytest.mark.postgres
def test_recorders_are_kept_once_and_rows_of_either_kind_read_back(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    stores = open_stores(settings)
    try:
        log = stores.events
        assert isinstance(log, PostgresEventLog)
        new = [event("a1", ALICE), event("a2", ALICE), event("b1", BOB), event("u1", "")]
        assert log.append(new) == [True] * 4
        old = event("old", BOB)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM recorders").fetchone() == (2,)
            assert conn.execute(
                "SELECT count(*) FROM events WHERE recorder IS NOT NULL"
            ).fetchone() == (0,)
            # A row as schema 6 stored it: the recorder's text in the row, no id.
            conn.execute(
                "INSERT INTO events (seq, account_id, event_id, event_time, day, accepted_ms, "
                "event_name, service_name, event_rw, resource_types, resource_names, body, "
                "event_type, recorder) VALUES (1, %s, 'old', %s, %s, 0, 'E', 'Ecs', 'Read', "
                "'{}', '{}', %s, 'ApiCall', %s)",
                (
                    ACCOUNT,
                    old.event_time,
                    day_of(old.event_time),
                    zstandard.ZstdCompressor().compress(old.body),
                    BOB,
                ),
            )
        read = {e.event_id: e.recorder for e in log.read_after(0, 100)}
        assert read == {"old": BOB, "a1": ALICE, "a2": ALICE, "b1": BOB, "u1": ""}
        assert log.recorders([old, new[0], new[2], new[3]]) == [BOB, ALICE, BOB, ""]
    finally:
        stores.close()
