"""The insight service over a real SQLite event log and metadata store, fed by the recorder's
observer: only enabled types are recorded, each both in the log (for trails) and for lookup,
an end only after its start, and the purge removes old ones."""

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
from trailhouse.insights.detector import Thresholds
from trailhouse.insights.service import InsightService
from trailhouse.settings import Settings
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SqliteMetadataStore

ALICE, BOB = "1000000000000001", "2000000000000002"
START = (int(time.time()) - 3 * 3600) // 60 * 60


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[InsightService, IngestService, SqliteEventLog]]:
    log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0)
    metadata = SqliteMetadataStore(tmp_path / "meta")
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    insights = InsightService(metadata, log.append, Thresholds(min_baseline_buckets=10))
    ingest = IngestService(
        settings, log, lambda account: account in {ALICE, BOB}, observers=(insights.observe,)
    )
    yield insights, ingest, log
    log.close()
    metadata.close()


def _event(minute: int, name: str = "RunInstances") -> bytes:
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventTime": format_event_time(START + minute * 60 + 1),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": "R",
        "sourceIpAddress": "203.0.113.9",
        "userIdentity": {"type": "ram-user", "principalId": "1", "userName": "u"},
    }
    return orjson.dumps(body)


def _replay(ingest: IngestService, account: str) -> None:
    caller = Caller(f"LTAI5t{account}", PrincipalKind.ROOT, account, "root", account)
    events = [_event(m) for m in range(20) for _ in range(2)]
    events += [_event(20) for _ in range(40)] + [_event(m) for m in range(21, 23)]
    assert not ingest.put_events(caller, events).failed


def test_only_enabled_types_of_enabled_accounts_are_recorded(wired: Any) -> None:
    insights, ingest, log = wired
    insights.enable(ALICE, "ApiCallRateInsight")
    _replay(ingest, ALICE)
    _replay(ingest, BOB)
    found = insights.events(ALICE, 0, 2**40)
    assert [e.body["insightDetails"]["state"] for e in found] == ["End", "Start"]
    assert {e.body["insightDetails"]["insightType"] for e in found} == {"ApiCallRateInsight"}
    assert insights.events(BOB, 0, 2**40) == []
    assert log.catch_up()
    logged = [orjson.loads(e.body) for e in log.read_after(0, 10_000)]
    in_log = [e["eventId"] for e in logged if e.get("eventCategory") == "Insight"]
    assert sorted(in_log) == sorted(e.event_id for e in found)
    assert (
        insights.types(ALICE)["ApiCallRateInsight"]
        and not insights.types(BOB)["ApiCallRateInsight"]
    )


def test_disabled_types_record_nothing_and_the_purge_removes_old_ones(wired: Any) -> None:
    insights, ingest, _ = wired
    insights.enable(ALICE, "AkInsight")  # the replay has no AccessKey: no AkInsight
    _replay(ingest, ALICE)
    assert insights.events(ALICE, 0, 2**40) == []
    insights.enable(ALICE, "ApiErrorRateInsight")
    insights.disable(ALICE, "AkInsight")
    assert insights.types(ALICE) == {
        "ApiCallRateInsight": False,
        "ApiErrorRateInsight": True,
        "IpInsight": False,
        "AkInsight": False,
    }
    insights.enable(BOB, "ApiCallRateInsight")
    _replay(ingest, BOB)
    assert len(insights.events(BOB, 0, 2**40)) == 2
    assert insights.purge(START + 20 * 60 + 30) == 1  # the start, at minute 20
    assert [e.body["insightDetails"]["state"] for e in insights.events(BOB, 0, 2**40)] == ["End"]
