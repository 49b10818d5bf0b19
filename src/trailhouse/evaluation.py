"""Insights and detection rules evaluated in a helper process, off the server's GIL (issue 21).

The observer worker (`events/observers.py`) keeps the order, the back-pressure and what
`/metrics` shows; for each batch it calls `Evaluation.observe`, which sends the events of the
accounts that enabled a rule or an insight type over a pipe to `python -m
trailhouse.evaluation` and waits for its answer (the wait releases the GIL, so request threads
run meanwhile). The helper holds the rules' correlation windows and the insight series, and
writes to the metadata store itself (findings with their webhook outbox entries, first-seen
baselines, insight documents: the store is shared by processes, docs/detections.md). It
never appends to the event log, whose one writer is the server: its answer carries the
findings' events and the insight events, which the server appends (findings' through
`IngestService.record`, so they reach `own_observers` as before).

What goes over the pipe is only what the observers read of each event (`Row`, msgspec's
MessagePack: ~0.5 µs an event in the server, against ~6 µs to pickle the records). A change of
an account's rules or insight types made through this process is queued behind the events
accepted before it, so the helper reads them afresh before any event accepted after the change
answered. A server where no account enabled anything never starts the helper, which runs
`NICENESS` steps nicer than the server.

A helper that dies, or gives no answer within `detections_process_timeout_seconds` (it is
killed), is replaced (`helper_process.py`); the batch it died on is sent once more to its
replacement, then, if that dies too, evaluated in the server: an event is evaluated late, never
skipped. A finding the dead helper committed is not made twice (findings.py: a match found
again names the finding already made) and its event, which the server had not appended, is
appended by the next pass over unrecorded findings (`record_unsettled`) or by the retry's
answer (docs/detections.md, "A process of its own").
"""

from __future__ import annotations

import logging
import pickle
import sys
import threading
import time
from collections.abc import Callable, Sequence

import msgspec

from trailhouse import faults
from trailhouse.detections.findings import FINDING_EVENT_TYPE
from trailhouse.detections.service import CACHE_SECONDS, DetectionService
from trailhouse.events.model import EventRecord
from trailhouse.events.observers import ObserverQueue
from trailhouse.helper_process import HelperProcess, receive, serve
from trailhouse.insights.service import InsightService
from trailhouse.settings import Settings

log = logging.getLogger(__name__)

MODULE = "trailhouse.evaluation"
OBSERVE = "observe"  # insights, then rules (a producer's events)
OWN = "own"  # rules only (the events trailhouse records itself)
FORGET = "forget"  # an account's rules or insight types changed
IDLE = "idle"  # close the insight series gone quiet
# How much nicer than the server the helper runs: on a machine whose cores PutEvents and its
# clients keep busy, evaluation takes the time they leave and catches up behind a burst (the
# queue holds 50,000 events, then PutEvents waits), as the file encoder does. Measured on the
# shared 2-core machine: PutEvents on ÷ off 0.94× and 0.96× at 10, 0.79× and 0.90× at 0
# (docs/detections.md, "What an event costs").
NICENESS = 10
# (account, event id, event time, eventName, serviceName, access key id, source ip, event type,
# body): what insights and rules read of an event, as the server sends it.
Row = tuple[str, str, int, str, str, str, str, str, bytes]


class Arrived(msgspec.Struct, array_like=True, gc=False):
    """A `Row` as the helper reads it: a `StoredEvent`, made by msgspec's decoder without a
    line of Python (an `EventRecord` made per event cost the helper ~2 µs more)."""

    account_id: str
    event_id: str
    event_time: int
    event_name: str
    service_name: str
    access_key_id: str
    source_ip: str
    event_type: str
    body: bytes


class Request(msgspec.Struct, array_like=True):
    """One message to the helper: its kind, the events, and the account and rule of FORGET
    (the server sends it as a tuple: `_request`)."""

    kind: str
    rows: list[Arrived] = []
    account_id: str = ""
    rule_id: str = ""


class Answer(msgspec.Struct, array_like=True):
    """The helper's answer: findings' events (for `IngestService.record`), insight events (for
    the log), and an error it logged ("" when none)."""

    recorded: list[EventRecord]
    logged: list[EventRecord]
    error: str = ""


_encode = msgspec.msgpack.Encoder().encode
_requests = msgspec.msgpack.Decoder(Request)
_answers = msgspec.msgpack.Decoder(Answer)


class Evaluation:
    """Insights and rules over newly stored events: in the helper process (`in_process` False)
    or on the calling thread, through the server's own services."""

    def __init__(
        self,
        settings: Settings,
        queue: ObserverQueue,
        detections: DetectionService,
        insights: InsightService,
        record: Callable[[Sequence[EventRecord]], int],
        append: Callable[[Sequence[EventRecord]], object],
        niceness: int = NICENESS,
    ) -> None:
        self._queue = queue
        self._detections = detections
        self._insights = insights
        self._record = record
        self._append = append
        self._in_process = not settings.detections_process
        self._timeout = settings.detections_process_timeout_seconds
        self._helper = HelperProcess(
            MODULE, [str(niceness)], first=pickle.dumps(settings, protocol=5)
        )
        self._lock = threading.Lock()  # the helper: one request at a time
        self._closed = False
        # account → (when read, has a rule enabled, has an insight type enabled)
        self._wanted: dict[str, tuple[float, bool, bool]] = {}
        self._generation = 0  # bumped by each change, so a read begun before it is not kept
        self._wanted_lock = threading.Lock()

    # -- the observers (called on the observer worker) -------------------------------------

    def observe(self, records: Sequence[EventRecord]) -> None:
        """Insights, then rules, over a producer's newly stored events."""
        if self._in_process:
            self._here(OBSERVE, records)
            return
        chosen = self._chosen(records, rules_only=False)
        if chosen:
            self._ask(_request(OBSERVE, _rows(chosen)), OBSERVE, chosen)

    def observe_own(self, records: Sequence[EventRecord]) -> None:
        """Rules over the events trailhouse recorded itself (a finding's own event never)."""
        if self._in_process:
            self._here(OWN, records)
            return
        chosen = self._chosen(
            [r for r in records if r.event_type != FINDING_EVENT_TYPE], rules_only=True
        )
        if chosen:
            self._ask(_request(OWN, _rows(chosen)), OWN, chosen)

    # -- what the server tells it ---------------------------------------------------------

    def changed(self, account_id: str, rule_id: str = "") -> None:
        """The account's rules or insight types changed in this process (durably): the events
        accepted from now on see the change."""
        with self._wanted_lock:
            self._generation += 1
            self._wanted.pop(account_id, None)
        if not self._in_process and self._helper.running():
            # In order with the events: those queued before it are evaluated as they were.
            self._queue.call(
                lambda: self._ask(_request(FORGET, [], account_id, rule_id), FORGET, [])
            )

    def close_idle(self) -> bool:
        """End the insights of series gone quiet (the background pass); False: nothing more."""
        if self._in_process:
            return self._insights.close_idle()
        if self._helper.running():  # a helper never started holds no series
            self._queue.call(lambda: self._ask(_request(IDLE), IDLE, []))
        return False

    def helper_pid(self) -> int | None:
        """The helper's process id while it runs (for tests and benchmarks)."""
        return self._helper.pid()

    def close(self) -> None:
        """Stop the helper (after the queue has drained); later events are evaluated here."""
        with self._lock:
            self._closed = True
            self._helper.stop()

    # -- inside --------------------------------------------------------------------------

    def _chosen(self, records: Sequence[EventRecord], *, rules_only: bool) -> list[EventRecord]:
        """The records of accounts with a rule (or, unless `rules_only`, an insight type)
        enabled."""
        wanted = {}
        for account_id in {record.account_id for record in records}:
            _, rules, insights = self._wanted_of(account_id)
            wanted[account_id] = rules or (insights and not rules_only)
        if all(wanted.values()):
            return list(records)
        return [record for record in records if wanted[record.account_id]]

    def _wanted_of(self, account_id: str) -> tuple[float, bool, bool]:
        now = time.monotonic()
        with self._wanted_lock:
            cached = self._wanted.get(account_id)
            generation = self._generation
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached
        found = (
            now,
            self._detections.has_enabled(account_id),
            any(self._insights.types(account_id).values()),
        )
        with self._wanted_lock:
            if generation == self._generation:  # no change since the read began
                self._wanted[account_id] = found
        return found

    def _ask(self, payload: bytes, kind: str, records: list[EventRecord]) -> None:
        """Send a request to the helper and store what it found; a helper that dies is
        replaced and asked once more, then the events are evaluated here."""
        with self._lock:
            answer = None
            if not self._closed:
                for attempt in (1, 2):
                    try:
                        answer = _answers.decode(self._helper.ask(payload, self._timeout))
                        break
                    except (EOFError, OSError, msgspec.DecodeError) as exc:
                        log.warning(
                            "the evaluation process failed on %d events (%s); %s",
                            len(records),
                            exc or type(exc).__name__,
                            "starting another" if attempt == 1 else "evaluating them here",
                        )
                        self._helper.stop()
        if answer is None:
            self._here(kind, records)
            return
        if answer.error:
            log.error("the evaluation process failed on %d events: %s", len(records), answer.error)
        self._store(answer)

    def _here(self, kind: str, records: Sequence[EventRecord]) -> None:
        """Evaluate in this process (in-process evaluation, or the helper is closed or keeps
        dying)."""
        if kind == OBSERVE:
            self._insights.observe(records)
        if kind in (OBSERVE, OWN):
            self._detections.on_accepted(records)
        elif kind == IDLE:
            self._insights.close_idle()

    def _store(self, answer: Answer) -> None:
        """Append what the helper found: the server is the event log's one writer."""
        try:
            if answer.logged:
                self._append(answer.logged)
            if answer.recorded:
                self._record(answer.recorded)
                faults.point("finding.recorded")
                self._detections.findings.settle(answer.recorded)
        except Exception:  # the events behind them are stored; logged, never raised
            log.exception(
                "%d finding and %d insight events could not be recorded",
                len(answer.recorded),
                len(answer.logged),
            )


def _rows(records: Sequence[EventRecord]) -> list[Row]:
    return [
        (
            r.account_id,
            r.event_id,
            r.event_time,
            r.event_name,
            r.service_name,
            r.access_key_id or "",
            r.source_ip,
            r.event_type,
            r.body,
        )
        for r in records
    ]


def _request(kind: str, rows: list[Row] | None = None, account: str = "", rule: str = "") -> bytes:
    """A `Request`, encoded from a tuple (its array form)."""
    return _encode((kind, rows or [], account, rule))


class Helper:
    """The helper process's side: the services over the shared metadata store, answering
    each request with the events they asked to record."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: the server never needs them for this class.
        from trailhouse.detections.egress import Egress
        from trailhouse.insights.service import thresholds_of
        from trailhouse.retry import delivery_policy
        from trailhouse.store import open_metadata

        self._metadata = open_metadata(settings)
        self._recorded: list[EventRecord] = []
        self._logged: list[EventRecord] = []
        self.detections = DetectionService(
            self._metadata,
            self._record,
            delivery_policy(settings.delivery_retry_seconds),
            Egress(allow_private=settings.webhook_allow_private),
            record_is_durable=False,  # the server appends the findings' events, then settles
        )
        self.insights = InsightService(self._metadata, self._log, thresholds_of(settings))

    def _record(self, records: Sequence[EventRecord]) -> int:
        self._recorded.extend(records)
        return len(records)

    def _log(self, records: Sequence[EventRecord]) -> None:
        self._logged.extend(records)

    def answer(self, payload: bytes) -> bytes:
        """Do what the request asks; the events to record, and any error, as the answer."""
        error = ""
        try:
            request = _requests.decode(payload)
            if request.kind == OBSERVE:
                self.insights.observe(request.rows)
                self.detections.on_accepted(request.rows)
            elif request.kind == OWN:
                self.detections.on_accepted(request.rows)
            elif request.kind == FORGET:
                self.detections.forget(request.account_id, request.rule_id)
                self.insights.forget(request.account_id)
            elif request.kind == IDLE:
                self.insights.close_idle()
            else:
                error = f"unknown request {request.kind!r}"
        except Exception as exc:  # the events are stored: logged here, reported to the server
            log.exception("evaluation failed")
            error = f"{type(exc).__name__}: {exc}"
        answer = Answer(self._recorded, self._logged, error)
        self._recorded, self._logged = [], []
        return _encode(answer)

    def close(self) -> None:
        """Release the metadata store."""
        self._metadata.close()


def main() -> None:
    """The helper: its settings come first on stdin, then requests until the pipe closes."""
    from trailhouse.logs import configure_logging

    settings = pickle.loads(receive(sys.stdin.buffer))  # noqa: S301 - from our own server
    configure_logging(settings)
    helper = Helper(settings)
    try:
        serve(helper.answer, int(sys.argv[1]) if len(sys.argv) > 1 else NICENESS)
    finally:
        helper.close()


if __name__ == "__main__":
    main()
