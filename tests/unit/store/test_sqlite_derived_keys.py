"""LookupEvents' derived keys on an embedded store written before they existed: format-3 day
files gain their rows in place, and log records of the ten-field format get them from their
bodies when indexed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from older_releases import day_files_as_format
from trailhouse.events.attributes import attributes_of
from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.store.sqlite import event_log as event_log_module
from trailhouse.store.sqlite.days import INDEX_FORMAT
from trailhouse.store.sqlite.event_log import SqliteEventLog

ACCOUNT = "1234567890123456"
BASE_TIME = 1_740_787_200  # 2025-03-01T00:00:00Z
DAY = 86400
KEYS = (
    (LookupKey.EVENT_TYPE, "ConsoleOperation"),
    (LookupKey.EVENT_TYPE, "ApiCall"),
    (LookupKey.SOURCE_IP_ADDRESS, "42.120.*.*"),
    (LookupKey.SENSITIVE_ACTION, "true"),
    (LookupKey.SENSITIVE_ACTION, "false"),
    (LookupKey.ROLE_NAME, "ops-role"),
)


def record(n: int) -> EventRecord:
    """Event `n`, every 2 hours from BASE_TIME (several day files), its derived keys varied."""
    identity: dict[str, object] = {"type": "ram-user", "userName": f"user{n % 3}"}
    if n % 4 == 0:
        identity = {"type": "assumed-role", "userName": "ops-role:s1"}
    event: dict[str, object] = {
        "eventId": f"EV-{n:05d}",
        "eventName": "DescribeThings" if n % 2 else "DeleteThing",
        "eventType": "ConsoleOperation" if n % 3 == 0 else "ApiCall",
        "serviceName": "Ecs",
        "sourceIpAddress": "42.120.*.*" if n % 5 == 0 else "203.0.113.9",
        "userIdentity": identity,
    }
    if n % 7 == 0:
        event["eventAttributes"] = {"SensitiveAction": "true"}
    derived = attributes_of(event)
    return EventRecord(
        account_id=ACCOUNT,
        event_id=f"EV-{n:05d}",
        event_time=BASE_TIME + n * 7200,
        event_name=str(event["eventName"]),
        service_name="Ecs",
        event_rw=derived.event_rw,
        user_name=str(identity["userName"]),
        access_key_id=None,
        resource_types=(),
        resource_names=(),
        body=orjson.dumps(event),
        event_type=derived.event_type,
        source_ip=derived.source_ip,
        sensitive=derived.sensitive,
        role_name=derived.role_name,
    )


def expected(records: list[EventRecord], key: LookupKey, value: str) -> list[str]:
    field = {
        LookupKey.EVENT_TYPE: "event_type",
        LookupKey.SOURCE_IP_ADDRESS: "source_ip",
        LookupKey.SENSITIVE_ACTION: "sensitive",
        LookupKey.ROLE_NAME: "role_name",
    }[key]
    return [r.event_id for r in reversed(records) if getattr(r, field) == value]


def found(log: SqliteEventLog, key: LookupKey, value: str) -> list[str]:
    query = LookupQuery(
        ACCOUNT, BASE_TIME - DAY, BASE_TIME + 30 * DAY, Direction.BACKWARD, ((key, value),), 50
    )
    ids: list[str] = []
    while True:
        page = log.lookup(query)
        ids.extend(event.event_id for event in page.events)
        if page.next_position is None:
            return ids
        query = LookupQuery(
            ACCOUNT,
            query.start,
            query.end,
            query.direction,
            query.conditions,
            50,
            page.next_position,
        )


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


def test_a_format_3_index_gains_the_derived_rows_in_place(
    tmp_path: Path, open_log: Callable[[], SqliteEventLog]
) -> None:
    records = [record(n) for n in range(60)]
    log = open_log()
    log.append(records)
    assert log.catch_up()
    log.close()
    state = tmp_path / "events" / "state.json"
    saved = json.loads(state.read_text())
    days = day_files_as_format(tmp_path / "events", 3)
    assert len(days) >= 3
    inodes = {path: path.stat().st_ino for path in days}

    reopened = open_log()
    assert {path: path.stat().st_ino for path in days} == inodes  # the same files, not rebuilt
    assert json.loads(state.read_text()) == {**saved, "index_format": INDEX_FORMAT}
    for key, value in KEYS:
        wanted = expected(records, key, value)
        assert wanted, (key, value)
        assert found(reopened, key, value) == wanted


def test_records_of_the_ten_field_format_get_their_derived_keys_from_the_body(
    open_log: Callable[[], SqliteEventLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log appended by the previous release and indexed by this one."""

    def ten_fields(fields: tuple[Any, ...]) -> bytes:
        return msgspec.msgpack.encode(fields[:10])

    records = [record(n) for n in range(40)]
    monkeypatch.setattr(event_log_module, "pack_fields", ten_fields)
    log = open_log()
    log.append(records)
    assert log.catch_up()
    for key, value in KEYS:
        assert found(log, key, value) == expected(records, key, value)
