"""Rules evaluated on events as the recorder accepts them, over a real SQLite event log and
metadata store: a match becomes a finding and a `TrailhouseFinding` event in the account's
history; rules are per account; a bad rule is refused whole."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.detections.rules import RuleRefused
from trailhouse.detections.service import (
    DetectionService,
    RuleExists,
    RuleNotFound,
    StarterRuleKept,
)
from trailhouse.events.ingest import IngestService
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.settings import Settings
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SqliteMetadataStore

ALICE, BOB = "1000000000000001", "2000000000000002"
OWN_RULE = """title: Bucket made public
name: bucket_public
logsource: {product: alibabacloud, service: actiontrail}
detection:
  selection:
    eventName: PutBucketAcl
    requestParameters.x-oss-acl|contains: public
  condition: selection
level: high
"""


def _root(account: str) -> Caller:
    return Caller(f"LTAI5t{account}", PrincipalKind.ROOT, account, "root", account)


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[DetectionService, IngestService, SqliteEventLog]]:
    log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0)
    metadata = SqliteMetadataStore(tmp_path / "meta")
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    detections = DetectionService(metadata, lambda records: ingest.record(records))
    ingest = IngestService(
        settings,
        log,
        lambda account: account in {ALICE, BOB},
        [detections.on_accepted],
        [detections.on_accepted],
    )
    yield detections, ingest, log
    log.close()
    metadata.close()


def _event(name: str, **fields: Any) -> bytes:
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventTime": format_event_time(int(time.time())),
        "eventSource": "oss.aliyuncs.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Oss",
        "requestId": "R",
        "sourceIpAddress": "203.0.113.9",
        "userAgent": "test",
        "userIdentity": {"type": "ram-user", "principalId": "1", "userName": "u"},
        **fields,
    }
    return orjson.dumps(body)


def _finding_events(log: SqliteEventLog) -> list[dict[str, Any]]:
    bodies = [orjson.loads(e.body) for e in log.read_after(0, 10_000)]
    return [b for b in bodies if b.get("eventType") == "TrailhouseFinding"]


def test_an_own_rule_finds_an_arriving_event_in_its_account_only(wired: Any) -> None:
    detections, ingest, log = wired
    detections.create_rule(ALICE, OWN_RULE, 1)
    public = _event("PutBucketAcl", requestParameters={"x-oss-acl": "public-read"})
    private = _event("PutBucketAcl", requestParameters={"x-oss-acl": "private"})
    assert ingest.put_events(_root(ALICE), [public, private]).accepted == 2
    assert ingest.put_events(_root(BOB), [public]).accepted == 1  # Bob has no such rule

    findings, token = detections.findings.list(ALICE)
    assert token == ""
    assert [(f.rule_id, f.severity, f.event_ids) for f in findings] == [
        ("bucket_public", "high", [orjson.loads(public)["eventId"]])
    ]
    assert detections.findings.list(BOB) == ([], "")
    recorded = _finding_events(log)
    assert len(recorded) == 1
    assert recorded[0]["recipientAccountId"] == ALICE
    assert recorded[0]["additionalEventData"]["findingId"] == findings[0].finding_id


def test_a_retried_batch_finds_nothing_twice(wired: Any) -> None:
    detections, ingest, _ = wired
    detections.create_rule(ALICE, OWN_RULE, 1)
    public = _event("PutBucketAcl", requestParameters={"x-oss-acl": "public-read"})
    ingest.put_events(_root(ALICE), [public])
    ingest.put_events(_root(ALICE), [public])
    assert len(detections.findings.list(ALICE)[0]) == 1


def test_starter_rules_wait_to_be_enabled_and_stop_when_disabled(wired: Any) -> None:
    detections, ingest, _ = wired
    stop = _event("StopLogging", requestParameters={"Name": "main"})
    ingest.put_events(_root(ALICE), [stop])
    assert detections.findings.list(ALICE)[0] == []
    detections.set_enabled(ALICE, "actiontrail_trail_stopped", True, 2)
    ingest.put_events(_root(ALICE), [_event("StopLogging")])
    assert len(detections.findings.list(ALICE)[0]) == 1
    detections.set_enabled(ALICE, "actiontrail_trail_stopped", False, 3)
    ingest.put_events(_root(ALICE), [_event("DeleteTrail")])
    assert len(detections.findings.list(ALICE)[0]) == 1
    shown = {r.rule_id: r.enabled for r in detections.list_rules(ALICE)}
    assert shown["actiontrail_trail_stopped"] is False
    assert len(shown) == 10


def test_a_burst_of_deletions_is_one_finding_naming_its_events(wired: Any) -> None:
    detections, ingest, _ = wired
    detections.set_enabled(ALICE, "actiontrail_deletion_burst", True, 1)
    deletes = [_event("DeleteObject", requestParameters={"n": i}) for i in range(25)]
    ingest.put_events(_root(ALICE), deletes)
    findings = detections.findings.list(ALICE)[0]
    assert len(findings) == 1
    assert findings[0].event_ids == [orjson.loads(e)["eventId"] for e in deletes[:20]]


def test_findings_page_newest_first(wired: Any) -> None:
    detections, ingest, _ = wired
    detections.create_rule(ALICE, OWN_RULE, 1)
    for _ in range(3):
        ingest.put_events(
            _root(ALICE), [_event("PutBucketAcl", requestParameters={"x-oss-acl": "public"})]
        )
    first, token = detections.findings.list(ALICE, limit=2)
    rest, last = detections.findings.list(ALICE, after=token, limit=2)
    assert len(first) == 2 and len(rest) == 1 and last == ""
    ids = [f.finding_id for f in first + rest]
    assert ids == sorted(ids, reverse=True)


def test_rule_ids_are_unique_and_starter_rules_are_kept(wired: Any) -> None:
    detections, _, _ = wired
    detections.create_rule(ALICE, OWN_RULE, 1)
    with pytest.raises(RuleExists):
        detections.create_rule(ALICE, OWN_RULE, 2)
    detections.create_rule(BOB, OWN_RULE, 2)  # another account's ids are its own
    with pytest.raises(StarterRuleKept):
        detections.delete_rule(ALICE, "actiontrail_root_signin")
    detections.delete_rule(ALICE, "bucket_public")
    with pytest.raises(RuleNotFound):
        detections.set_enabled(ALICE, "bucket_public", True, 3)
    with pytest.raises(RuleRefused):
        detections.create_rule(ALICE, OWN_RULE.replace("eventName", "eventNmae"), 4)
    assert [r.rule_id for r in detections.list_rules(ALICE) if not r.starter] == []


def test_a_rule_name_must_be_usable_as_its_id(wired: Any) -> None:
    detections, _, _ = wired
    hostile = OWN_RULE.replace("name: bucket_public", "name: ../../etc/passwd")
    with pytest.raises(RuleRefused) as refused:
        detections.create_rule(ALICE, hostile, 1)
    assert refused.value.line == 2 and "cannot be its RuleId" in refused.value.reason


def test_a_stored_rule_this_version_refuses_is_listed_and_never_runs(wired: Any) -> None:
    detections, ingest, _ = wired
    detections.create_rule(ALICE, OWN_RULE, 1)
    # What an upgrade that stops accepting a stored rule leaves behind, written as a store would.
    stored = detections._metadata.get_document("detection-rule", ALICE, "bucket_public")
    assert stored is not None
    body = orjson.loads(stored.body)
    body["text"] = OWN_RULE.replace("eventName", "eventNmae")
    from trailhouse.store.ports import DocumentWrite

    detections._metadata.commit(
        [
            DocumentWrite(
                "detection-rule", ALICE, "bucket_public", orjson.dumps(body), stored.version
            )
        ]
    )
    detections._changed(ALICE, "bucket_public")
    (listed,) = [r for r in detections.list_rules(ALICE) if r.rule_id == "bucket_public"]
    assert listed.kind == "refused" and "eventNmae" in listed.title and not listed.enabled
    public = _event("PutBucketAcl", requestParameters={"x-oss-acl": "public-read"})
    assert ingest.put_events(_root(ALICE), [public]).accepted == 1
    assert detections.findings.list(ALICE)[0] == []
    assert detections.set_enabled(ALICE, "bucket_public", False, 2).kind == "refused"
    with pytest.raises(RuleRefused):
        detections.set_enabled(ALICE, "bucket_public", True, 3)
    assert (
        orjson.loads(
            detections._metadata.get_document("detection-rule", ALICE, "bucket_public").body
        )["enabled"]
        is False
    )  # nothing written by the refused enable
