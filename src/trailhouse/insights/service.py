"""Insights of an account: which types are enabled, the insight events computed over its own
events (`insights/detector.py`), and looking them up and counting them.

Each signal becomes one insight event (eventCategory `Insight`, eventType
`ActionTrailInsight`), kept twice on purpose: appended to the event log, so that trails whose
insight selector names its type deliver it (`trails/insight_selectors.py`), and kept as an
`insight-event` document of the account, which LookupInsightEvents and GetInsightsEventsCount
read at once (the log's lookup index follows a moment behind and never shows insights).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from trailhouse.errors import TrailhouseError
from trailhouse.events.attributes import attributes_of_body
from trailhouse.events.model import EventRecord, StoredEvent
from trailhouse.events.recorder import TRAILHOUSE
from trailhouse.events.validation import format_event_time
from trailhouse.insights.detector import START, Detector, Observed, Signal, Thresholds
from trailhouse.retry import retry_on_conflict
from trailhouse.settings import Settings
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.trails.insight_selectors import INSIGHT_TYPES, check_insight_type

log = logging.getLogger(__name__)

TYPES_KIND = "insight-types"
EVENT_KIND = "insight-event"
# How long a process trusts its copy of an account's enabled types (another process may
# change them): a change made elsewhere takes effect within this many seconds.
_ENABLED_TTL = 5.0


@dataclass(frozen=True, slots=True)
class InsightEvent:
    """A stored insight event: its time, id and JSON body."""

    event_time: int
    event_id: str
    body: dict[str, Any]


class InsightService:
    """Enables insight types per account, feeds the detector, records what it finds.

    `append` puts insight events into the event log (the log's own `append` in the server; in
    the evaluation helper, a list the server appends from, `evaluation.py`). `changed` is told
    the account whose types this process changed, after the change is durable."""

    def __init__(
        self,
        metadata: MetadataStore,
        append: Callable[[Sequence[EventRecord]], object],
        thresholds: Thresholds,
        changed: Callable[[str], None] | None = None,
    ) -> None:
        self._metadata = metadata
        self._append = append
        self._changed = changed
        self._detector = Detector(thresholds)
        self._enabled_cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._started: set[str] = set()  # shared ids of insights whose start was recorded
        self._lock = threading.Lock()

    # -- which types an account has enabled -------------------------------------------------

    def types(self, account_id: str) -> dict[str, bool]:
        """Every insight type and whether the account has it enabled."""
        enabled = self._read_enabled(account_id)
        return {kind: kind in enabled for kind in INSIGHT_TYPES}

    def enable(self, account_id: str, insight_type: str) -> None:
        """Start computing `insight_type` for the account (its baseline starts now)."""
        self._set(account_id, check_insight_type(insight_type), True)

    def disable(self, account_id: str, insight_type: str) -> None:
        """Stop computing `insight_type`; insight events already recorded stay."""
        self._set(account_id, check_insight_type(insight_type), False)

    def _set(self, account_id: str, insight_type: str, on: bool) -> None:
        def attempt() -> None:
            document = self._metadata.get_document(TYPES_KIND, account_id, "")
            current = set(orjson.loads(document.body)) if document is not None else set()
            wanted = current | {insight_type} if on else current - {insight_type}
            body = orjson.dumps(sorted(wanted))
            version = document.version if document is not None else 0
            self._metadata.commit([DocumentWrite(TYPES_KIND, account_id, "", body, version)])

        retry_on_conflict(attempt, what=f"insight types of account {account_id}")
        self.forget(account_id)
        if self._changed is not None:
            self._changed(account_id)

    def forget(self, account_id: str) -> None:
        """Read the account's enabled types afresh next time (they changed)."""
        with self._lock:
            self._enabled_cache.pop(account_id, None)

    def _read_enabled(self, account_id: str) -> frozenset[str]:
        document = self._metadata.get_document(TYPES_KIND, account_id, "")
        return frozenset(orjson.loads(document.body)) if document is not None else frozenset()

    def _enabled(self, account_id: str, now: float) -> frozenset[str]:
        with self._lock:
            cached = self._enabled_cache.get(account_id)
        if cached is not None and now - cached[0] < _ENABLED_TTL:
            return cached[1]
        enabled = self._read_enabled(account_id)
        with self._lock:
            self._enabled_cache[account_id] = (now, enabled)
        return enabled

    # -- computing --------------------------------------------------------------------------

    def observe(self, records: Sequence[StoredEvent]) -> None:
        """Count newly stored events of accounts with insights enabled; record any insight
        they start or end (the ingest hook)."""
        now = time.time()
        enabled = {
            account: self._enabled(account, now) for account in {r.account_id for r in records}
        }
        chosen = [r for r in records if enabled[r.account_id]]
        observed = [o for o in map(_observed, chosen) if o is not None]
        if not observed:
            return
        signals = self._detector.observe(observed, now)
        try:
            self._record(signals, now)
        except (TrailhouseError, OSError):
            # The batch is durable and acknowledged whatever happens here: an insight that
            # cannot be stored is logged, never a failed PutEvents.
            log.exception("insight events of account %s could not be stored", chosen[0].account_id)

    def close_idle(self) -> bool:
        """End the insights of series gone quiet (the background pass); False: nothing to do."""
        now = time.time()
        self._record(self._detector.close_idle(now), now)
        return False

    def _record(self, signals: list[Signal], now: float) -> None:
        kept: list[Signal] = []
        for signal in signals:
            enabled = signal.insight_type in self._enabled(signal.account_id, now)
            with self._lock:
                if signal.state == START and enabled:
                    self._started.add(signal.shared_event_id)
                    kept.append(signal)
                elif signal.state != START and signal.shared_event_id in self._started:
                    self._started.discard(signal.shared_event_id)
                    kept.append(signal)
        if not kept:
            return
        events = [InsightEvent(s.event_time, uuid.uuid4().hex.upper(), {}) for s in kept]
        events = [
            InsightEvent(e.event_time, e.event_id, insight_body(s, e.event_id))
            for s, e in zip(kept, events, strict=True)
        ]
        self._append([_record_of(s, e) for s, e in zip(kept, events, strict=True)])
        self._metadata.commit(
            [
                DocumentWrite(
                    EVENT_KIND, s.account_id, _name(e), orjson.dumps(e.body), expected_version=0
                )
                for s, e in zip(kept, events, strict=True)
            ]
        )

    def purge(self, older_than: int) -> int:
        """Delete the insight events (kept for lookup) with eventTime before `older_than`, as
        the event log's retention deletes its copies; how many went."""
        gone = [
            DocumentWrite(EVENT_KIND, d.scope, d.name, None, d.version)
            for d in self._metadata.list_documents(EVENT_KIND)
            if int(d.name.split(".", 1)[0]) < older_than
        ]
        for first in range(0, len(gone), 500):
            self._metadata.commit(gone[first : first + 500])
        return len(gone)

    # -- reading ----------------------------------------------------------------------------

    def events(self, account_id: str, start: int, end: int) -> list[InsightEvent]:
        """The account's insight events with eventTime in [start, end], newest first."""
        found = []
        for document in self._metadata.list_documents(EVENT_KIND, account_id):
            body = orjson.loads(document.body)
            moment = int(document.name.split(".", 1)[0])
            if start <= moment <= end:
                found.append(InsightEvent(moment, str(body["eventId"]), body))
        found.sort(key=lambda e: (e.event_time, e.event_id), reverse=True)
        return found


def thresholds_of(settings: Settings) -> Thresholds:
    """How insights are computed, from the settings `insights_*`."""
    return Thresholds(
        bucket_seconds=settings.insights_bucket_seconds,
        baseline_buckets=settings.insights_baseline_buckets,
        min_baseline_buckets=settings.insights_min_baseline_buckets,
        factor=settings.insights_factor,
        min_count=settings.insights_min_count,
        idle_seconds=settings.insights_idle_seconds,
    )


def _name(event: InsightEvent) -> str:
    return f"{event.event_time:011d}.{event.event_id}"


class _Facts(msgspec.Struct):
    """The three fields insights read from an event's JSON beyond its record's: decoding only
    these (msgspec skips the rest) costs a fraction of decoding the whole event."""

    eventCategory: Any = None  # noqa: N815 - the event's own field names
    acsRegion: Any = None  # noqa: N815
    errorCode: Any = None  # noqa: N815


_FACTS = msgspec.json.Decoder(_Facts)


def _observed(record: StoredEvent) -> Observed | None:
    """What insights read of a stored event; None for data and insight events."""
    try:
        parsed = _FACTS.decode(record.body)
    except msgspec.DecodeError:  # not an object: validation lets none through, but be safe
        return None
    if parsed.eventCategory in ("Data", "Insight"):
        return None
    return Observed(
        account_id=record.account_id,
        event_time=record.event_time,
        event_name=record.event_name,
        service_name=record.service_name,
        access_key_id=record.access_key_id or "",
        source_ip=record.source_ip,
        region=str(parsed.acsRegion or ""),
        is_error=bool(parsed.errorCode),
    )


def insight_body(signal: Signal, event_id: str) -> dict[str, Any]:
    """The insight event's JSON, in ActionTrail's insight event structure."""
    attributes = dict(signal.attributes)
    return {
        "eventVersion": "1",
        "eventId": event_id,
        "eventType": "ActionTrailInsight",
        "eventCategory": "Insight",
        "eventTime": format_event_time(signal.event_time),
        "acsRegion": signal.region,
        "recipientAccountId": signal.account_id,
        "sharedEventId": signal.shared_event_id,
        "insightDetails": {
            "state": signal.state,
            "insightType": signal.insight_type,
            "insightObject": signal.insight_object,
            **attributes,
            "insightContext": {
                "statistics": {
                    "insight": {"average": round(signal.value, 3)},
                    "insightDuration": signal.insight_minutes,
                    "baseline": {"average": signal.baseline},
                    "baselineDuration": signal.baseline_minutes,
                    "insightCount": signal.insight_count,
                },
            },
        },
    }


def _record_of(signal: Signal, event: InsightEvent) -> EventRecord:
    body = orjson.dumps(event.body)
    derived = attributes_of_body(body)
    return EventRecord(
        account_id=signal.account_id,
        event_id=event.event_id,
        event_time=event.event_time,
        event_name="",
        service_name="ActionTrail",
        event_rw=derived.event_rw,
        user_name=None,
        access_key_id=None,
        resource_types=(),
        resource_names=(),
        body=body,
        recorder=TRAILHOUSE,
        event_type=derived.event_type,
        source_ip="",
        sensitive="false",
        role_name="",
    )
