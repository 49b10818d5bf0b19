"""Findings: what a rule found, stored per account and recorded into the account's history as
an event of type `TrailhouseFinding` (docs/detections.md shows one).

A finding is made once per match: its id ends with a digest of (account, rule, events, group),
and a key document of that digest, committed with it, makes the same match found again (a
batch evaluated a second time, after the helper evaluating it died) name the finding already
made instead of a second one. The finding's event goes into a different store (the event log)
than the finding (the metadata store), so the finding commits with an *unrecorded* marker, and
the marker goes only once the event is durable in the log (`settle`): a process that dies
between the two leaves the marker, and `record_unsettled` records the event later (the log
keeps one event per eventId, so recording it twice stores it once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec
import orjson

from trailhouse import faults
from trailhouse.detections.engine import Match
from trailhouse.detections.webhooks import Webhooks
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import format_event_time
from trailhouse.retry import retry_on_conflict
from trailhouse.store.ports import DocumentWrite, MetadataStore

FINDING_KIND = "detection-finding"
# Digest of a match → its finding's id: the same match found again names the same finding.
FINDING_KEY_KIND = "detection-finding-key"
# A finding whose event is not yet durable in the account's history (its body is empty).
UNRECORDED_KIND = "detection-finding-unrecorded"
FINDING_EVENT_TYPE = "TrailhouseFinding"
FINDING_EVENT_NAME = "DetectionFinding"
FINDING_EVENT_PREFIX = "finding-"


class Finding(msgspec.Struct, frozen=True):
    """A rule's match: the rule, its severity and the events behind it."""

    finding_id: str
    rule_id: str
    title: str
    severity: str
    event_ids: list[str]
    group: list[str]
    created_ms: int


@dataclass
class _Prepared:
    """A batch's findings: those new and those made before (a match found again), and the
    writes that store the new ones."""

    new: list[tuple[str, Finding]] = field(default_factory=list)
    again: list[tuple[str, Finding]] = field(default_factory=list)
    writes: list[DocumentWrite] = field(default_factory=list)


class Findings:
    """Each account's findings, newest first."""

    def __init__(
        self,
        metadata: MetadataStore,
        record: Callable[[Sequence[EventRecord]], int],
        webhooks: Webhooks,
        *,
        record_is_durable: bool = True,
    ) -> None:
        self._metadata = metadata
        self._record = record
        self._webhooks = webhooks
        # False in the evaluation helper: `record` only hands the events to the server, which
        # settles them once it has appended them (evaluation.py).
        self._record_is_durable = record_is_durable

    def add(self, match: Match, now_ms: int) -> Finding:
        """Store a finding of `match` and record its event into the account's history."""
        return self.add_all([match], now_ms)[0]

    def add_all(
        self,
        matches: Sequence[Match],
        now_ms: int,
        also: Callable[[], list[DocumentWrite]] | None = None,
    ) -> list[Finding]:
        """Store a finding of each match (one a match already made is not made again), with
        the writes `also` gives, in one commit, and record the findings' events in one append
        (a batch's findings cost one durable write of each kind, not one per finding)."""

        def attempt() -> _Prepared:
            prepared = self._prepared(matches, now_ms)
            writes = [*(also() if also is not None else []), *prepared.writes]
            if writes:
                self._metadata.commit(writes)
            return prepared

        prepared = retry_on_conflict(attempt, what="findings")
        if prepared.new:
            faults.point("finding.committed")
        made = prepared.new + prepared.again
        if made:
            events = [finding_event(account_id, finding) for account_id, finding in made]
            self._record(events)
            if self._record_is_durable:
                faults.point("finding.recorded")
                self.settle(events)
        return [finding for _, finding in made]

    def _prepared(self, matches: Sequence[Match], now_ms: int) -> _Prepared:
        prepared = _Prepared()
        made_here: set[str] = set()
        for match in matches:
            digest = match_digest(match)
            if digest in made_here:  # the same match twice in one batch: one finding
                continue
            key = self._metadata.get_document(FINDING_KEY_KIND, match.account_id, digest)
            if key is not None:
                made = self._metadata.get_document(
                    FINDING_KIND, match.account_id, key.body.decode()
                )
                if made is not None:
                    finding = msgspec.json.decode(made.body, type=Finding)
                    prepared.again.append((match.account_id, finding))
                    continue
            # The id sorts by time, so the documents' names list newest last.
            finding = Finding(
                finding_id=f"{now_ms:013d}-{digest}",
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
            # The finding, its key, its webhook outbox entry and its unrecorded marker commit
            # together: a finding is never lost between being stored and being sent or logged.
            account_id, finding_id = match.account_id, finding.finding_id
            prepared.writes += [
                DocumentWrite(FINDING_KIND, account_id, finding_id, body, 0),
                DocumentWrite(
                    FINDING_KEY_KIND,
                    account_id,
                    digest,
                    finding_id.encode(),
                    key.version if key is not None else 0,
                ),
                DocumentWrite(UNRECORDED_KIND, account_id, finding_id, b"", 0),
                *self._webhooks.outbox_writes(account_id, finding_id, payload),
            ]
            prepared.new.append((account_id, finding))
            made_here.add(digest)
        return prepared

    def settle(self, events: Sequence[EventRecord]) -> None:
        """The findings' events in `events` are durable in the log: drop their markers."""
        self._drop_markers(
            [
                (event.account_id, event.event_id.removeprefix(FINDING_EVENT_PREFIX))
                for event in events
                if event.event_type == FINDING_EVENT_TYPE
            ]
        )

    def _drop_markers(self, addresses: list[tuple[str, str]]) -> None:
        """Delete the unrecorded markers at these (account, finding id) addresses; one already
        gone is skipped, and one another process settles meanwhile conflicts and is read again."""
        if not addresses:
            return

        def attempt() -> None:
            gone = [
                DocumentWrite(UNRECORDED_KIND, scope, name, None, marker.version)
                for scope, name in addresses
                if (marker := self._metadata.get_document(UNRECORDED_KIND, scope, name)) is not None
            ]
            if gone:
                self._metadata.commit(gone)

        retry_on_conflict(attempt, what="finding markers")

    def record_unsettled(self) -> int:
        """Record the events of findings whose marker is still there (their process died
        before the event was durable, or before it said so); how many were new in the log."""
        if not self._record_is_durable:
            return 0
        markers = self._metadata.list_documents(UNRECORDED_KIND)
        if not markers:
            return 0
        events, orphans = [], []
        for marker in markers:
            made = self._metadata.get_document(FINDING_KIND, marker.scope, marker.name)
            if made is None:  # purged since: nothing to record
                orphans.append((marker.scope, marker.name))
                continue
            events.append(finding_event(marker.scope, msgspec.json.decode(made.body, type=Finding)))
        new = self._record(events) if events else 0
        self.settle(events)
        self._drop_markers(orphans)
        return new

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
        old = [
            d
            for d in self._metadata.list_documents(FINDING_KIND)
            if _made_ms(d.name) < older_than_ms
        ]
        for first in range(0, len(old), 250):
            gone = []
            for d in old[first : first + 250]:  # each with its key, when it still names it
                gone.append(DocumentWrite(FINDING_KIND, d.scope, d.name, None, d.version))
                key = self._metadata.get_document(FINDING_KEY_KIND, d.scope, _digest_of(d.name))
                if key is not None and key.body == d.name.encode():
                    gone.append(
                        DocumentWrite(FINDING_KEY_KIND, d.scope, key.name, None, key.version)
                    )
            self._metadata.commit(gone)
        return len(old)


def match_digest(match: Match) -> str:
    """What makes a match the same match: its account, rule, events and group (24 hex)."""
    text = "\x1f".join(
        [match.account_id, match.rule.rule_id, "\x1e".join(match.event_ids), *match.group]
    )
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _digest_of(finding_id: str) -> str:
    """A finding's match digest, from its id (`<ms, 13 digits>-<digest>`)."""
    return finding_id.split("-", 1)[-1]


def _made_ms(finding_id: str) -> int:
    """When a finding was made, from its id (`<ms, 13 digits>-<match digest>`)."""
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
    event_id = f"{FINDING_EVENT_PREFIX}{finding.finding_id}"
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
