"""Handing newly stored events to their observers (insights, detections) off the request thread.

PutEvents answers once its events are durable; what observers do with them (a rule's finding, an
insight event, a first-seen baseline: each a durable write of its own) happens on one worker
thread behind it, in arrival order. The worker takes everything queued at once, so a burst of
small batches is evaluated as one (one baseline write, one rules lookup; up to `MAX_JOINED`
events a call, so that behind a backlog findings are written as it goes) and the request never
waits for an observer's fsync. `/metrics` shows what waits (`trailhouse_observer_pending_events`).

Bounded: past `max_pending` events waiting, a request waits for room (back-pressure, nothing is
dropped). A process that dies loses the evaluation of the events still waiting (they are stored;
a history run, docs/detections.md, finds over them); `close` evaluates them before it returns.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from trailhouse.events.model import EventRecord

log = logging.getLogger(__name__)

Observer = Callable[[Sequence[EventRecord]], None]
MAX_PENDING = 50_000
# Queued batches are joined into one observer call up to this many events: behind a backlog,
# a call's findings are written after its events, not after the whole backlog's.
MAX_JOINED = 5_000


class ObserverQueue:
    """One worker thread calling observers with the batches queued for them, in order."""

    def __init__(self, max_pending: int = MAX_PENDING, max_joined: int = MAX_JOINED) -> None:
        self._max = max_pending
        self._max_joined = max_joined
        self._items: deque[tuple[tuple[Observer, ...], list[EventRecord]]] = deque()
        self._pending = 0
        self._busy = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="trailhouse-observers", daemon=True)
        self._thread.start()

    def bind(self, observers: Sequence[Observer]) -> Observer:
        """An observer that queues each batch for `observers`."""
        chosen = tuple(observers)

        def observe(records: Sequence[EventRecord]) -> None:
            if records:
                self._put(chosen, list(records))

        return observe

    def call(self, step: Callable[[], None]) -> None:
        """Run `step` on the worker after the batches queued before it and before those queued
        after it (a change of rules reaching the evaluation in order with the events)."""
        self._put((lambda _: step(),), [])

    def pending(self) -> int:
        """Events queued or being observed now."""
        with self._changed:
            return self._pending

    def drain(self, timeout: float) -> bool:
        """Wait until every queued event has been observed; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._items and not self._busy, timeout=timeout
            )

    def close(self, timeout: float = 60.0) -> None:
        """Observe what waits, then stop the worker; later batches are observed at once."""
        self.drain(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _put(self, observers: tuple[Observer, ...], records: list[EventRecord]) -> None:
        worker = threading.current_thread() is self._thread
        with self._changed:
            if not self._closed:
                # The worker itself (a finding's event) never waits for room it would make.
                while not worker and self._pending >= self._max and not self._closed:
                    self._changed.wait()
                if not self._closed:
                    self._items.append((observers, records))
                    self._pending += len(records)
                    self._changed.notify_all()
                    return
        _call(observers, records)  # closed: at once, on this thread

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._items or self._closed)
                if not self._items:
                    return
                taken = list(self._items)
                self._items.clear()
                self._busy = True
            try:
                for observers, records in _coalesced(taken, self._max_joined):
                    _call(observers, records)
            finally:
                with self._changed:
                    self._pending -= sum(len(records) for _, records in taken)
                    self._busy = False
                    self._changed.notify_all()


def _coalesced(
    items: list[tuple[tuple[Observer, ...], list[EventRecord]]], most: int
) -> list[tuple[tuple[Observer, ...], list[EventRecord]]]:
    """Consecutive batches for the same observers joined into one, up to `most` events."""
    joined: list[tuple[tuple[Observer, ...], list[EventRecord]]] = []
    for observers, records in items:
        if joined and joined[-1][0] == observers and len(joined[-1][1]) + len(records) <= most:
            joined[-1][1].extend(records)
        else:
            joined.append((observers, list(records)))
    return joined


def _call(observers: tuple[Observer, ...], records: list[EventRecord]) -> None:
    for observe in observers:
        try:
            observe(records)
        except Exception:  # the events are stored; an observer's failure is logged, never raised
            log.exception("an observer failed on %d events", len(records))
