"""Group commit: one thread sequences, deduplicates, writes and fsyncs every queued batch at once.

Callers queue their (already compressed) batch and wait; the writer gathers what arrives
within `group_commit_seconds`, drops duplicates, numbers the rest consecutively, writes them
with one fsync and wakes everyone. An fsync costs ~0.3 ms whatever it covers, so sharing it is
what makes durable appends fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from trailhouse.errors import StoreError, StoreUnavailable, disk_error
from trailhouse.store.sqlite.days import DayFiles, day_of
from trailhouse.store.sqlite.records import Prepared, encode, tail_record
from trailhouse.store.sqlite.segments import SegmentFiles
from trailhouse.store.sqlite.tail import Tail

Key = tuple[str, str]

# Enough queued events to be worth an fsync right away, without waiting for more.
_FULL_GROUP = 2000


class PendingKeys:
    """(account, event_id) of events in the log but not yet in a day file's unique index, with
    who recorded each (to tell a duplicate's recorder without waiting for the index)."""

    def __init__(self) -> None:
        self._keys: dict[Key, str] = {}
        self._lock = threading.Lock()

    def add(self, keys: list[Key], recorders: list[str]) -> None:
        """Remember events just written to the log, and their recorders."""
        with self._lock:
            self._keys.update(zip(keys, recorders, strict=True))

    def discard(self, keys: list[Key]) -> None:
        """Forget events now in their day file."""
        with self._lock:
            pop = self._keys.pop
            for key in keys:
                pop(key, None)

    def contains(self, key: Key) -> bool:
        """True when the event is in the log but not yet in its day file."""
        return key in self._keys

    def recorder(self, key: Key) -> str | None:
        """Who recorded the pending event `key` ("" unknown), or None when it is not pending."""
        return self._keys.get(key)


@dataclass(slots=True)
class _Request:
    events: list[Prepared]
    results: list[bool] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class GroupCommitWriter:
    """The one thread that appends to the log."""

    def __init__(
        self,
        segments: SegmentFiles,
        days: DayFiles,
        pending: PendingKeys,
        gather_seconds: float,
        on_commit: Callable[[int], None],
        tail: Tail | None = None,
    ) -> None:
        self._segments = segments
        self._days = days
        self._pending = pending
        self._tail = tail
        self._gather = gather_seconds
        self._on_commit = on_commit
        self._queue: list[_Request] = []
        self._queued_events = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="event-log-writer", daemon=True)
        self._thread.start()

    def submit(self, events: list[Prepared]) -> list[bool]:
        """Append `events` durably; True for each stored, False for each duplicate."""
        request = _Request(events)
        with self._cond:
            if self._closing:
                raise StoreUnavailable("the event log is closed")
            self._queue.append(request)
            self._queued_events += len(events)
            self._cond.notify()
        request.done.wait()
        if isinstance(request.error, OSError):  # nothing of the group was stored
            raise disk_error(request.error, "event log append") from request.error
        if request.error is not None:
            raise StoreError(f"event log append failed: {request.error}") from request.error
        return request.results

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                gather = self._queued_events < _FULL_GROUP and not self._closing
            if gather and self._gather > 0:
                time.sleep(self._gather)
            with self._cond:
                group, self._queue, self._queued_events = self._queue, [], 0
            try:
                self._commit(group)
            except BaseException as exc:  # handed to every waiting caller
                for request in group:
                    request.error = exc
            finally:
                for request in group:
                    request.done.set()

    def _commit(self, group: list[_Request]) -> None:
        seen: set[Key] = set()
        candidates: list[tuple[_Request, int, Prepared, Key]] = []
        pending = self._pending
        for request in group:
            request.results = [False] * len(request.events)
            for index, event in enumerate(request.events):
                key = (event.account_id, event.event_id)
                # The pending set first, the day file after: the indexer adds an event to its
                # day file before dropping it from the set, so one of the two always has it.
                if key in seen or pending.contains(key):
                    continue
                seen.add(key)
                candidates.append((request, index, event, key))
        stored = self._already_indexed([event for _, _, event, _ in candidates])
        fresh = [c for c in candidates if c[3] not in stored] if stored else candidates
        if not fresh:
            return
        first = self._segments.last_seq + 1
        accepted_ms = int(time.time() * 1000)
        frames = [encode(event, first + n, accepted_ms) for n, (_, _, event, _) in enumerate(fresh)]
        seqs = list(range(first, first + len(fresh)))
        keys = [key for _, _, _, key in fresh]
        self._pending.add(keys, [event.recorder for _, _, event, _ in fresh])
        try:
            self._segments.append(frames, seqs, [event.event_time for _, _, event, _ in fresh])
        except BaseException:
            self._pending.discard(keys)
            raise
        if self._tail is not None:  # searchable before any caller hears it is stored
            self._tail.add(
                [
                    tail_record(event, first + n, accepted_ms)
                    for n, (_, _, event, _) in enumerate(fresh)
                ]
            )
        for request, index, _, _ in fresh:
            request.results[index] = True
        self._on_commit(seqs[-1])

    def _already_indexed(self, events: list[Prepared]) -> set[Key]:
        """Keys of `events` that a day file already holds (a retry of an indexed event)."""
        groups: dict[tuple[int, str], list[str]] = {}
        for event in events:
            groups.setdefault((day_of(event.event_time), event.account_id), []).append(
                event.event_id
            )
        existing = set(self._days.days())
        found: set[Key] = set()
        for (day, account), event_ids in groups.items():
            if day in existing:
                found.update(
                    (account, event_id) for event_id in self._days.known(day, account, event_ids)
                )
        return found
