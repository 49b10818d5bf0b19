"""Findings: what a rule found, stored per account and recorded into the account's history as
an event of type `TrailhouseFinding` (docs/detections.md shows one)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

import msgspec
import orjson

from trailhouse.detections.engine import Match
from trailhouse.detections.webhooks import Webhooks
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import format_event_time
from trailhouse.store.ports import DocumentWrite, MetadataStore

FINDING_KIND = "detection-finding"
FINDING_EVENT_TYPE = "TrailhouseFinding"
FINDING_EVENT_NAME = "DetectionFinding"


class Finding(msgspec.Struct, frozen=True):
    """A rule's match: the rule, its severity and the events behind it."""

    finding_id: str
    rule_id: str
    title: str
    severity: str
    event_ids: list[str]
    group: list[str]
    created_ms: int


class Findings:
    """Each account's findings, newest first."""

    def __init__(
        self,
        metadata: MetadataStore,
        record: Callable[[Sequence[EventRecord]], int],
        webhooks: Webhooks,
    ) -> None:
        self._metadata = metadata
        self._record = record
        self._webhooks = webhooks

    def add(self, match: Match, now_ms: int) -> Finding:
        """Store a finding of `match` and record its event into the account's history."""
        return self.add_all([match], now_ms)[0]

    def add_all(self, matches: Sequence[Match], now_ms: int) -> list[Finding]:
        """Store a finding of each match, in one commit, and record their events, in one
        append (a batch's findings cost one durable write of each kind, not one per finding)."""
        findings: list[tuple[str, Finding]] = []
        writes: list[DocumentWrite] = []
        for match in matches:
            # The id sorts by time, so the documents' names list newest last.
            finding = Finding(
                finding_id=f"{now_ms:013d}-{secrets.token_hex(6)}",
                rule_id=match.rule.rule_id,
                title=match.rule.title,
                severity=match.rule.level,
                event_ids=list(match.event_ids),
                group=list(match.group),
                created_ms=now_ms,
            )
            body = msgspec.json.encode(finding)
            payload = orjson.dumps(
                {"accountId": match.account_id, "finding": finding_json(finding)}
            )
            # The finding and its webhook outbox entry commit together: a finding is never
            # lost between being stored and being sent.
            writes += [
                DocumentWrite(FINDING_KIND, match.account_id, finding.finding_id, body, 0),
                *self._webhooks.outbox_writes(match.account_id, finding.finding_id, payload),
            ]
            findings.append((match.account_id, finding))
        if not findings:
            return []
        self._metadata.commit(writes)
        self._record([finding_event(account_id, finding) for account_id, finding in findings])
        return [finding for _, finding in findings]

    def list(
        self, account_id: str, rule_id: str = "", after: str = "", limit: int = 50
    ) -> tuple[list[Finding], str]:
        """A page of the account's findings, newest first, and the token of the next page."""
        found = [
            msgspec.json.decode(document.body, type=Finding)
            for document in self._metadata.list_documents(FINDING_KIND, account_id)
        ]
        found.sort(key=lambda f: f.finding_id, reverse=True)
        if rule_id:
            found = [f for f in found if f.rule_id == rule_id]
        if after:
            found = [f for f in found if f.finding_id < after]
        page = found[:limit]
        return page, (page[-1].finding_id if len(found) > limit else "")

    def purge(self, older_than_ms: int) -> int:
        """Delete the findings made before `older_than_ms` (their retention), of every
        account; how many went. Their events stay in the history until its own retention, and
        a finding still waiting for its webhook is sent all the same (the outbox keeps its
        body)."""
        gone = [
            DocumentWrite(FINDING_KIND, d.scope, d.name, None, d.version)
            for d in self._metadata.list_documents(FINDING_KIND)
            if _made_ms(d.name) < older_than_ms
        ]
        for first in range(0, len(gone), 500):
            self._metadata.commit(gone[first : first + 500])
        return len(gone)


def _made_ms(finding_id: str) -> int:
    """When a finding was made, from its id (`<ms, 13 digits>-<random>`)."""
    head = finding_id.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def finding_json(finding: Finding) -> dict[str, object]:
    """A finding as its event and its webhook show it."""
    return {
        "findingId": finding.finding_id,
        "ruleId": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity,
        "eventIds": finding.event_ids,
        "group": finding.group,
        "createTime": format_event_time(finding.created_ms // 1000),
    }


def finding_event(account_id: str, finding: Finding) -> EventRecord:
    """The event a finding records into the account's history."""
    when = finding.created_ms // 1000
    event_id = f"finding-{finding.finding_id}"
    body = {
        "eventId": event_id,
        "eventVersion": "1",
        "eventTime": format_event_time(when),
        "eventSource": "detections.trailhouse",
        "eventName": FINDING_EVENT_NAME,
        "eventType": FINDING_EVENT_TYPE,
        "eventRW": "Write",
        "eventCategory": "Management",
        "serviceName": "Trailhouse",
        "sourceIpAddress": "internal",
        "userAgent": "trailhouse-detections",
        "userIdentity": {
            "type": "trailhouse-service",
            "principalId": "trailhouse-detections",
            "accountId": account_id,
        },
        "resourceType": "ACS::Trailhouse::DetectionRule",
        "resourceName": finding.rule_id,
        "additionalEventData": finding_json(finding),
        "recipientAccountId": account_id,
        "isGlobal": False,
    }
    return EventRecord(
        account_id=account_id,
        event_id=event_id,
        event_time=when,
        event_name=FINDING_EVENT_NAME,
        service_name="Trailhouse",
        event_rw="Write",
        user_name=None,
        access_key_id=None,
        resource_types=("ACS::Trailhouse::DetectionRule",),
        resource_names=(finding.rule_id,),
        body=orjson.dumps(body),
        event_type=FINDING_EVENT_TYPE,
    )
