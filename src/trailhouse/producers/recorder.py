"""`Recorder`: queue audit events in memory and send them to a trailhouse server in batches.

`record` never waits for the network: a background thread gathers events into PutEvents calls
(by count, bytes and time) and retries failed calls with backoff. Every event carries an
eventId from the moment it is recorded, and the server deduplicates by it, so a retry never
records an event twice.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.events.validation import format_event_time

log = logging.getLogger(__name__)

MAX_EVENTS_PER_CALL = 1000
# The server takes bodies up to 5 MB; stay well below so the JSON envelope always fits.
MAX_BATCH_BYTES = 4 * 1024 * 1024
NOT_SERIALIZABLE = "InvalidEvent.NotSerializable"
TOO_LARGE = "InvalidEvent.TooLarge"
_DROP_WARNING_INTERVAL = 5.0

ErrorCallback = Callable[[dict[str, Any], str, str], None]
_Failure = tuple[dict[str, Any], str, str]  # an event, its error code and message
_Encoded = tuple[dict[str, Any], bytes]  # an event and its JSON (b"" until encoded)


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counts of events since the recorder started.

    `recorded` events entered the queue; `dropped` ones did not (queue full, or recorded after
    `close`). Of the recorded ones the server answered for `sent`, of which it `accepted` some;
    `rejected` ones the server refused or that could not be encoded as JSON; `abandoned` ones
    were given up after a call failed for good (bad key, retries exhausted, `close` timed out).
    `retries` counts repeated calls; `pending` events wait to be sent.
    """

    recorded: int
    sent: int
    accepted: int
    rejected: int
    dropped: int
    abandoned: int
    retries: int
    pending: int


class Recorder:
    """Sends audit events to a trailhouse server from a bounded queue on a background thread.

    Close it (or use it as a context manager); one left open sends what it holds, for at most
    five seconds, when the interpreter exits.
    """

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        *,
        max_batch: int = 500,
        flush_interval: float = 0.5,
        max_queue: int = 100_000,
        block_timeout: float = 0.05,
        max_retries: int = 12,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
        request_timeout: float = 10.0,
        on_error: ErrorCallback | None = None,
    ) -> None:
        if not 1 <= max_batch <= MAX_EVENTS_PER_CALL:
            raise ValueError(f"max_batch must be between 1 and {MAX_EVENTS_PER_CALL}")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if flush_interval < 0 or block_timeout < 0 or max_retries < 0:
            raise ValueError("flush_interval, block_timeout and max_retries must not be negative")
        self._client = RpcClient(
            endpoint,
            access_key_id,
            access_key_secret,
            timeout=request_timeout,
            user_agent="trailhouse-recorder",
        )
        self._max_batch = max_batch
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._block_timeout = block_timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._on_error = on_error

        # One lock guards the queue and every counter; the conditions share it.
        self._lock = threading.Lock()
        self._wake_worker = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._pending: deque[dict[str, Any]] = deque()
        self._queued = 0  # events ever queued; the worker finishes them in this order
        self._finished = 0  # events answered, rejected or abandoned
        self._flush_target = 0  # send without waiting for the interval up to this many
        self._closing = False
        self._abandon = False  # close timed out: stop retrying, give up what is left
        self._sent = self._accepted = self._rejected = 0
        self._dropped = self._abandoned = self._retries = 0
        self._drops_unreported = 0
        self._last_drop_warning = -_DROP_WARNING_INTERVAL

        self._thread = threading.Thread(target=self._run, name="trailhouse-recorder", daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    def record(self, event: dict[str, Any], *, timeout: float | None = None) -> str | None:
        """Queue one event and return its eventId, or None when it was dropped.

        The event is copied; `eventId` (a new UUID) and `eventTime` (now) are filled when
        absent. When the queue is full this waits at most `timeout` (default: the recorder's
        `block_timeout`) for room, then drops the event.
        """
        if not isinstance(event, dict):
            raise TypeError(f"an event must be a dict, not {type(event).__name__}")
        item = dict(event)
        if item.get("eventId") is None:
            item["eventId"] = str(uuid.uuid4()).upper()
        if item.get("eventTime") is None:
            item["eventTime"] = format_event_time(int(time.time()))
        wait = self._block_timeout if timeout is None else timeout
        with self._lock:
            if len(self._pending) >= self._max_queue and not self._closing and wait > 0:
                self._room.wait_for(
                    lambda: len(self._pending) < self._max_queue or self._closing, wait
                )
            if self._closing or len(self._pending) >= self._max_queue:
                self._note_drop()
                return None
            self._pending.append(item)
            self._queued += 1
            if len(self._pending) == 1 or len(self._pending) >= self._max_batch:
                self._wake_worker.notify()
        event_id: str = item["eventId"]
        return event_id

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every event recorded so far is sent (or given up); False on timeout."""
        with self._lock:
            target = self._queued
            self._flush_target = max(self._flush_target, target)
            self._wake_worker.notify()
            return self._progress.wait_for(lambda: self._finished >= target, timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Send what is queued, then stop; False when `timeout` ran out first.

        Events still unsent at the timeout are abandoned; events recorded after `close` are
        dropped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._closing = True
            self._flush_target = self._queued
            self._wake_worker.notify()
            self._room.notify_all()
            done = self._progress.wait_for(lambda: self._finished >= self._queued, timeout)
            if not done:
                self._abandon = True
                self._wake_worker.notify()
        atexit.unregister(self._close_at_exit)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        # A call in flight may still hold the thread for up to its request timeout.
        self._thread.join(left if done else min(left or 1.0, 1.0))
        return done

    def stats(self) -> RecorderStats:
        """The counts so far."""
        with self._lock:
            return RecorderStats(
                recorded=self._queued,
                sent=self._sent,
                accepted=self._accepted,
                rejected=self._rejected,
                dropped=self._dropped,
                abandoned=self._abandoned,
                retries=self._retries,
                pending=self._queued - self._finished,
            )

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _note_drop(self) -> None:
        """Count a dropped event and warn, at most every few seconds (lock held)."""
        self._dropped += 1
        self._drops_unreported += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= _DROP_WARNING_INTERVAL:
            log.warning(
                "trailhouse recorder dropped %d audit event(s): %s",
                self._drops_unreported,
                "the recorder is closed" if self._closing else "the queue is full",
            )
            self._drops_unreported = 0
            self._last_drop_warning = now

    def _close_at_exit(self) -> None:
        self.close(timeout=5.0)

    # The background thread -----------------------------------------------------------------

    def _run(self) -> None:
        carry: list[_Encoded] = []
        try:
            while True:
                taken = self._take(bool(carry))
                if taken is None:
                    break
                batch, refused, carry = self._encode(carry, taken)
                if batch:
                    try:
                        self._send(batch)
                    except Exception:  # a bug here must not stop the recorder for good
                        log.exception("trailhouse recorder failed to send %d events", len(batch))
                        self._give_up(batch, "InternalError", "the recorder failed unexpectedly")
                if refused:
                    self._reject_locally(refused)
        finally:
            self._client.close()
            with self._lock:
                rest = list(self._pending)
                self._pending.clear()
            if carry or rest:
                log.warning(
                    "trailhouse recorder stopped with %d events unsent", len(carry) + len(rest)
                )
                left = carry + [(event, b"") for event in rest]
                self._give_up(left, "RecorderClosed", "the recorder closed before sending it")

    def _take(self, have_carry: bool) -> list[dict[str, Any]] | None:
        """The next events to send, waiting for a full batch or the flush interval."""
        with self._lock:
            if not have_carry:
                while not self._pending:
                    if self._closing or self._abandon:
                        return None
                    self._wake_worker.wait()
            deadline = time.monotonic() + self._flush_interval
            while (
                len(self._pending) < self._max_batch
                and not have_carry
                and not self._abandon
                and self._flush_target <= self._finished
                and not self._closing
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake_worker.wait(left)
            if self._abandon:
                return None
            count = min(len(self._pending), self._max_batch)
            taken = [self._pending.popleft() for _ in range(count)]
            self._room.notify_all()
            return taken

    def _encode(
        self, carry: list[_Encoded], taken: list[dict[str, Any]]
    ) -> tuple[list[_Encoded], list[_Failure], list[_Encoded]]:
        """The next batch within the limits, the events refused on the way, and the rest.

        Batch and refused events are the oldest at hand and the rest keeps its order, so events
        finish in the order they were recorded, which `flush` relies on.
        """
        batch: list[_Encoded] = []
        refused: list[_Failure] = []
        rest: list[_Encoded] = []
        size = 16  # the {"Events":[]} envelope
        for event, body in [*carry, *((event, b"") for event in taken)]:
            if rest:
                rest.append((event, body))
                continue
            if not body:
                try:
                    body = orjson.dumps(event)
                except TypeError as exc:
                    refused.append(
                        (event, NOT_SERIALIZABLE, f"the event cannot be encoded as JSON: {exc}")
                    )
                    continue
                if len(body) > MAX_BATCH_BYTES - 16:
                    refused.append(
                        (event, TOO_LARGE, f"the event is {len(body)} bytes of JSON, far too large")
                    )
                    continue
            if batch and (len(batch) >= self._max_batch or size + len(body) + 1 > MAX_BATCH_BYTES):
                rest.append((event, body))
            else:
                batch.append((event, body))
                size += len(body) + 1
        return batch, refused, rest

    def _send(self, batch: list[_Encoded]) -> None:
        """Call PutEvents for `batch`, retrying what a retry may get past."""
        body = {"Events": [orjson.Fragment(encoded) for _, encoded in batch]}
        attempt = 0
        while True:
            try:
                answer = self._client.call("PutEvents", body=body)
            except RequestFailed as failed:
                # status 0: no answer at all (refused, reset, timed out); the ids make it safe.
                retryable = failed.retryable
                if not retryable or attempt >= self._max_retries or not self._backoff(attempt):
                    log.warning(
                        "trailhouse recorder gave up on %d events after %d attempt(s): %s",
                        len(batch),
                        attempt + 1,
                        failed,
                    )
                    self._give_up(batch, failed.code, failed.message)
                    return
                attempt += 1
                continue
            self._settle(batch, answer)
            return

    def _backoff(self, attempt: int) -> bool:
        """Sleep before retry `attempt + 1`; False when the recorder is giving up instead."""
        delay = min(self._backoff_cap, self._backoff_base * 2**attempt)
        delay *= random.uniform(0.5, 1.0)  # jitter, so many producers do not retry in step
        with self._lock:
            if self._wake_worker.wait_for(lambda: self._abandon, delay):
                return False
            self._retries += 1
        return True

    def _settle(self, batch: list[_Encoded], answer: dict[str, Any]) -> None:
        failures: list[_Failure] = []
        for failed in answer.get("Failed") or []:
            index = failed.get("Index")
            if isinstance(index, int) and 0 <= index < len(batch):
                failures.append(
                    (batch[index][0], str(failed.get("Code", "")), str(failed.get("Message", "")))
                )
        with self._lock:
            self._sent += len(batch)
            self._accepted += len(batch) - len(failures)
            self._rejected += len(failures)
            self._finish(len(batch))
        self._report(failures, "the server rejected")

    def _reject_locally(self, failures: list[_Failure]) -> None:
        with self._lock:
            self._rejected += len(failures)
            self._finish(len(failures))
        self._report(failures, "the recorder could not send")

    def _give_up(self, batch: list[_Encoded], code: str, message: str) -> None:
        with self._lock:
            self._abandoned += len(batch)
            self._finish(len(batch))
        # The give-up itself was logged once; only the callback hears about each event.
        self._report([(event, code, message) for event, _ in batch], "")

    def _finish(self, count: int) -> None:
        """Mark `count` more events done and wake whoever waits for them (lock held)."""
        self._finished += count
        self._progress.notify_all()

    def _report(self, failures: list[_Failure], what: str) -> None:
        """Pass each failure to `on_error`; without one, log one line per batch (`what` set)."""
        if not failures:
            return
        if self._on_error is None:
            if what:
                event, code, message = failures[0]
                first = f"{event.get('eventId')}: {code} {message}"
                log.warning("%s %d event(s); the first, %s", what, len(failures), first)
            return
        for event, code, message in failures:
            try:
                self._on_error(event, code, message)
            except Exception:  # the callback's failure must not stop the recorder
                log.exception("the recorder's on_error callback failed")
