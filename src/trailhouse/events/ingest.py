"""The recorder: validates a batch of events and appends the good ones to the event log.

Bad events are reported one by one and the good ones are kept. Every event is stored with who
recorded it (`events/recorder.py`): the caller's key and principal, or trailhouse itself for
`record`. Appending is idempotent by (account, eventId), so a producer may retry a whole batch
safely; a retried event counts as accepted again. The first copy stored keeps its recorder: a
copy sent by another principal is reported as failed (DuplicateFromOtherRecorder), never as
accepted, so a forger who takes a real event's id first is told apart, and the real producer
learns of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from trailhouse.events.attributes import attributes_of_body
from trailhouse.events.fast_path import recipient_of, refuse_deep, validate_raw_event
from trailhouse.events.model import EventRecord
from trailhouse.events.recorder import TRAILHOUSE, recorder_of, same_principal
from trailhouse.events.validation import EventRejected, RejectCode, ValidationLimits
from trailhouse.iam.principals import Caller, is_account_id
from trailhouse.settings import Settings
from trailhouse.store.ports import EventLog


@dataclass(frozen=True, slots=True)
class FailedEvent:
    """Why the event at `index` of a batch was not accepted."""

    index: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PutEventsResult:
    """How many events of a batch were accepted (now durable) and which failed."""

    accepted: int
    stored: int
    failed: list[FailedEvent] = field(default_factory=list)


class IngestService:
    """Records producers' events into the log of the account each belongs to."""

    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        account_exists: Callable[[str], bool],
        observers: Sequence[Callable[[Sequence[EventRecord]], None]] = (),
    ) -> None:
        self._settings = settings
        self._log = log
        self._account_exists = account_exists
        # Called with each batch's newly stored events (insights, `runtime.py`).
        self._observers = tuple(observers)

    def put_events(self, caller: Caller, events: Sequence[bytes]) -> PutEventsResult:
        """Validate `events` (each its raw JSON) and durably append the valid ones."""
        limits = ValidationLimits(
            now=int(time.time()),
            retention_seconds=self._settings.retention_days * 86400,
            max_future_seconds=self._settings.clock_skew_seconds,
            max_event_bytes=self._settings.max_event_bytes,
        )
        recorder = recorder_of(caller)
        records: list[EventRecord] = []
        indexes: list[int] = []
        failed: list[FailedEvent] = []
        for index, event in enumerate(events):
            try:
                refuse_deep(event)  # before the recipient is read out of it
                account_id = self._recipient(caller, event)
                records.append(
                    validate_raw_event(
                        event, account_id=account_id, limits=limits, recorder=recorder
                    )
                )
                indexes.append(index)
            except EventRejected as rejected:
                failed.append(FailedEvent(index, rejected.code, rejected.message))
        results = self._log.append(records) if records else []
        for observe in self._observers:
            observe([record for record, new in zip(records, results, strict=True) if new])
        stored = sum(results)
        accepted = len(records)
        if stored < accepted:  # retries, or another principal's copies: off the common path
            refused = self._recorded_by_others(records, results, indexes)
            accepted -= len(refused)
            failed = sorted([*failed, *refused], key=lambda f: f.index)
        return PutEventsResult(accepted=accepted, stored=stored, failed=failed)

    def record(self, records: Sequence[EventRecord]) -> int:
        """Append events trailhouse itself produced (its self-audit, console sign-ins), each
        recorded by `trailhouse`; count the new ones."""
        own = [_own(record) for record in records]
        return sum(self._log.append(own)) if own else 0

    def _recorded_by_others(
        self, records: list[EventRecord], results: list[bool], indexes: list[int]
    ) -> list[FailedEvent]:
        """The duplicates of `records` whose stored copy another principal recorded."""
        duplicates = [
            (r, i) for r, stored, i in zip(records, results, indexes, strict=True) if not stored
        ]
        found = self._log.recorders([r for r, _ in duplicates])
        return [
            FailedEvent(
                index,
                RejectCode.DUPLICATE_OTHER_RECORDER,
                f"eventId {record.event_id} is already recorded in account {record.account_id} "
                "by another principal; the stored event is kept as it was (LookupEvents shows "
                "who recorded it)",
            )
            for (record, index), stored_by in zip(duplicates, found, strict=True)
            if stored_by is not None and not same_principal(stored_by, record.recorder)
        ]

    def _recipient(self, caller: Caller, event: bytes) -> str:
        if not caller.is_service:
            return caller.account_id
        recipient = recipient_of(event)
        if recipient is None:
            raise EventRejected(
                RejectCode.RECIPIENT,
                "a service key must name the account of each event in recipientAccountId",
            )
        if not isinstance(recipient, str) or not is_account_id(recipient):
            raise EventRejected(
                RejectCode.RECIPIENT,
                f"recipientAccountId {recipient!r} is not a 16-digit account id",
            )
        if not self._account_exists(recipient):
            raise EventRejected(
                RejectCode.RECIPIENT, f"recipientAccountId {recipient} is not an account here"
            )
        return recipient


def _own(record: EventRecord) -> EventRecord:
    """An event trailhouse produced, recorded by `trailhouse`, with its lookup values taken from
    its body (the callers build the record by hand)."""
    derived = attributes_of_body(record.body)
    return replace(
        record,
        recorder=TRAILHOUSE,
        event_type=derived.event_type,
        source_ip=derived.source_ip,
        sensitive=derived.sensitive,
        role_name=derived.role_name,
    )
