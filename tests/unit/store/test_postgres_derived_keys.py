"""A PostgreSQL store upgraded to schema 5 finds its older events by LookupEvents' derived
keys: the migration fills the new columns in from the stored bodies."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import psycopg
import pytest

from trailhouse.events.model import Direction, LookupKey, LookupQuery
from trailhouse.events.validation import ValidationLimits, format_event_time, validate_event
from trailhouse.settings import Settings
from trailhouse.store import open_stores, upgrade_schema

ACCOUNT = "1234567890123456"


@pytest.mark.postgres
def test_migration_5_back_fills_the_derived_keys(postgres_url: str, tmp_path: Path) -> None:
    now = int(time.time())
    limits = ValidationLimits(now, 90 * 86400, 900, 256 * 1024)
    events = []
    for n in range(30):
        identity: dict[str, object] = {"type": "ram-user", "userName": "alice"}
        if n % 3 == 0:
            identity = {"type": "assumed-role", "userName": "ops-role:s"}
        event: dict[str, object] = {
            "eventId": f"PG-{n:03d}",
            "eventTime": format_event_time(now - 3600 + n),
            "eventName": "DeleteThing",
            "eventType": "ConsoleOperation" if n % 2 else "ApiCall",
            "serviceName": "Ecs",
            "sourceIpAddress": "42.120.*.*" if n % 5 == 0 else "203.0.113.9",
            "userIdentity": identity,
        }
        if n % 4 == 0:
            event["eventAttributes"] = {"SensitiveAction": "true"}
        events.append(validate_event(event, account_id=ACCOUNT, limits=limits))
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    stores = open_stores(settings)
    try:
        stores.events.append(events)
    finally:
        stores.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as schema 4 left them
        conn.execute(
            "UPDATE events SET event_type = NULL, source_ip = NULL, sensitive = false, "
            "role_name = NULL"
        )
        conn.execute("DELETE FROM schema_version WHERE version >= 5")
    assert upgrade_schema(settings).current >= 5
    stores = open_stores(settings)
    try:
        for key, value, wanted in (
            (
                LookupKey.EVENT_TYPE,
                "ConsoleOperation",
                [r for r in events if r.event_type == "ConsoleOperation"],
            ),
            (
                LookupKey.SOURCE_IP_ADDRESS,
                "42.120.*.*",
                [r for r in events if r.source_ip == "42.120.*.*"],
            ),
            (LookupKey.SENSITIVE_ACTION, "true", [r for r in events if r.sensitive == "true"]),
            (LookupKey.SENSITIVE_ACTION, "false", [r for r in events if r.sensitive == "false"]),
            (LookupKey.ROLE_NAME, "ops-role", [r for r in events if r.role_name == "ops-role"]),
        ):
            page = stores.events.lookup(
                LookupQuery(ACCOUNT, now - 7200, now, Direction.FORWARD, ((key, value),), 50)
            )
            assert [e.event_id for e in page.events] == [r.event_id for r in wanted], key
            assert wanted
            assert all(orjson.loads(e.body)["eventId"] == e.event_id for e in page.events)
    finally:
        stores.close()
