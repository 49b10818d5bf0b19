"""Governance checks over real SQLite stores: keys older than 90 days, and keys no event of the
account used in 90 days, lower their scores and are named in the rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.events.ingest import IngestService
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.settings import Settings
from trailhouse.store.ports import AccessKey, Account, KeyStatus
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SqliteMetadataStore
from trailhouse.usage.access_keys import AccessKeyUsage
from trailhouse.usage.governance import Governance

ACCOUNT = "3000000000000003"
DAY = 86400


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteMetadataStore, SqliteEventLog, IngestService]]:
    log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0)
    metadata = SqliteMetadataStore(tmp_path / "meta")
    metadata.create_account(Account(ACCOUNT, 0))
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    yield metadata, log, IngestService(settings, log, lambda account: account == ACCOUNT)
    log.close()
    metadata.close()


def _key(key_id: str, kind: str, name: str, age_days: int, status: str = "Active") -> AccessKey:
    created = int(time.time()) - age_days * DAY
    return AccessKey(key_id, "secret", kind, ACCOUNT, name, ACCOUNT, created, status)


def _use(key_id: str, days_ago: int) -> bytes:
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventTime": format_event_time(int(time.time()) - days_ago * DAY),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "DescribeInstances",
        "eventType": "ApiCall",
        "eventRW": "Read",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": "R",
        "sourceIpAddress": "203.0.113.9",
        "userAgent": "test",
        "userIdentity": {
            "type": "ram-user",
            "accountId": ACCOUNT,
            "principalId": "2",
            "accessKeyId": key_id,
            "userName": "ops",
        },
    }
    return orjson.dumps(body)


def test_old_and_unused_keys_are_scored_and_named(
    stores: tuple[SqliteMetadataStore, SqliteEventLog, IngestService],
) -> None:
    metadata, log, ingest = stores
    for key in [
        _key("LTAI5tRootKey", PrincipalKind.ROOT, "root", 200),
        _key("LTAI5tOldUsed", PrincipalKind.RAM_USER, "ops", 120),
        _key("LTAI5tOldIdle", PrincipalKind.RAM_USER, "idle", 120),
        _key("LTAI5tFresh", PrincipalKind.RAM_USER, "new", 3),
        _key("LTAI5tOldOff", PrincipalKind.RAM_USER, "off", 300, KeyStatus.INACTIVE),
    ]:
        metadata.create_access_key(key)
        if key.status != KeyStatus.ACTIVE:
            metadata.set_access_key_status(key.access_key_id, key.status)
    root = Caller("LTAI5tRootKey", PrincipalKind.ROOT, ACCOUNT, "root", ACCOUNT)
    assert ingest.put_events(root, [_use("LTAI5tOldUsed", 10), _use("LTAI5tRootKey", 1)]).accepted
    assert log.catch_up(timeout=10)
    usage = AccessKeyUsage(log, metadata, retention_days=90)
    checks = {
        c.item: c
        for c in Governance(list, metadata.list_access_keys, usage).checks(
            ACCOUNT, int(time.time())
        )
    }
    rotated = checks["AccessKeyRotated"]
    assert rotated.score == 25  # 1 of the 4 active keys is younger than 90 days
    assert sorted((row[0], row[1]) for row in rotated.rows) == [
        ("LTAI5tOldIdle", "idle"),
        ("LTAI5tOldUsed", "ops"),
        ("LTAI5tRootKey", "root"),
    ]
    used = checks["AccessKeyUsedRecently"]
    assert (used.score, used.rows) == (75, [["LTAI5tOldIdle", "idle"]])
    assert checks["RootAccessKeyNotExist"].score == 0
    assert (checks["ActionTrailEnabled"].score, checks["ActionTrailEnabled"].rows) == (0, [])
