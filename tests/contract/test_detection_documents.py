"""Detections over every metadata adapter: rules, findings with their webhook outbox entry (one
commit) and first-seen baselines are documents that behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from trailhouse.detections.egress import Egress
from trailhouse.detections.service import DetectionService
from trailhouse.events.ingest import IngestService
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.settings import Settings
from trailhouse.store import Stores

ACCOUNT = "3000000000000003"
ROOT = Caller(f"LTAI5t{ACCOUNT}", PrincipalKind.ROOT, ACCOUNT, "root", ACCOUNT)


def _event(name: str, **fields: Any) -> bytes:
    return orjson.dumps(
        {
            "eventId": str(uuid.uuid4()),
            "eventTime": format_event_time(int(time.time())),
            "eventName": name,
            "eventType": "ApiCall",
            "eventRW": "Write",
            "acsRegion": "cn-hangzhou",
            "serviceName": "Ecs",
            "requestId": "R",
            "sourceIpAddress": "203.0.113.9",
            "userAgent": "contract",
            "userIdentity": {
                "type": "ram-user",
                "principalId": "7",
                "userName": "u",
                "accessKeyId": "LTAI5tcontract",
            },
            **fields,
        }
    )


def test_findings_outbox_and_baselines_on_every_adapter(
    stores: Stores, store_settings: Settings
) -> None:
    detections = DetectionService(
        stores.metadata, lambda records: ingest.record(records), egress=Egress(allow_private=True)
    )
    ingest = IngestService(
        store_settings,
        stores.events,
        lambda a: a == ACCOUNT,
        [detections.on_accepted],
        [detections.on_accepted],
    )
    for rule in ("actiontrail_security_group_open", "actiontrail_key_new_ip"):
        detections.set_enabled(ACCOUNT, rule, True, 1)
    detections.webhooks.set(ACCOUNT, "http://127.0.0.1:9/unreached", 1)
    # A day and more ago: the key's first address, its baseline, which has learned since.
    opened = _event(
        "AuthorizeSecurityGroup",
        requestParameters={"SourceCidrIp": "0.0.0.0/0"},
        eventTime=format_event_time(int(time.time()) - 86400 - 120),
    )
    moved = _event("DescribeInstances", sourceIpAddress="198.51.100.4")
    ingest.put_events(ROOT, [opened])
    ingest.put_events(ROOT, [moved, moved])  # a new address, once (the copy is a retry)

    findings = {f.rule_id: f for f in detections.findings.list(ACCOUNT)[0]}
    assert sorted(findings) == ["actiontrail_key_new_ip", "actiontrail_security_group_open"]
    assert findings["actiontrail_key_new_ip"].group == ["LTAI5tcontract", "198.51.100.4"]
    pending = detections.webhooks.pending(ACCOUNT)
    assert sorted(p.finding_id for p in pending) == sorted(f.finding_id for f in findings.values())
    infos = {r.rule_id: r.enabled for r in detections.list_rules(ACCOUNT)}
    assert infos["actiontrail_key_new_ip"] and not infos["actiontrail_root_signin"]
