"""The unindexed tail: events the log acknowledged that the indexer has not put in a day file yet,
kept in memory so that LookupEvents finds them at once.

The writer adds each committed group before its callers hear back; the indexer drops records
once their day file holds them. A lookup matches the tail's records first, with `matcher`, which
implements the index's semantics of every lookup key (`store/sqlite/lookup.py`), then asks the
day files: a record that leaves the tail meanwhile is in a day file by then. Results are merged
by (event_time, seq) and an event found in both is kept once.

The tail is bounded, `limit` records and `limit_bytes` of memory. Callers wait for room while it
is nearly full (`room_for`): an index that falls behind slows PutEvents down to its pace
rather than leave acknowledged events unfindable. Only an indexer that stops moving (a failing
disk) lets the bound be reached: then the oldest groups are let go, counted in `let_go`, and
their events are found once the indexer reaches them (`docs/storage.md`).
"""

from __future__ import annotations

import contextlib
import operator
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from trailhouse.events.model import Direction, LookupKey, LookupQuery
from trailhouse.events.validation import EVENT_TYPES
from trailhouse.store.sqlite.days import ABSENT_MEANS, EVENT_TYPE, SENSITIVE
from trailhouse.store.sqlite.records import LogRecord

# Records kept at most, and their memory at most. Measured with the benchmark's events (resident
# memory over 118,000 held records): ~680 B each (the record, the strings that do not repeat,
# the compressed body, the by-id entry, the pending key), so 250,000 take ~170 MB, within
# TAIL_BYTES; larger events are fewer. At 26k events/s, 9.6 s of indexer lag.
TAIL_RECORDS = 250_000
TAIL_BYTES = 192 * 1024 * 1024
# A record's memory beside its compressed body, event id and resource names (counted apart, as
# they vary): the struct, the by-id entry, the strings not shared; ~680 B in all, measured.
RECORD_OVERHEAD = 470
# Callers wait above this share of either bound, so that the batches already on their way (40
# request threads of up to 100 events, or a few large ones) still fit below it.
HIGH_WATER = 0.9

Row = tuple[int, str, str, int, int, int, bytes, str | None]
_POSITION = operator.attrgetter("event_time", "seq")
Matcher = Callable[[LogRecord], bool]

_API_CALL = ABSENT_MEANS[EVENT_TYPE]
_NOT_SENSITIVE = ABSENT_MEANS[SENSITIVE]
# The event types an index row can hold that an ApiCall lookup excludes (`lookup._PRESENT_VALUES`).
_OTHER_EVENT_TYPES = frozenset(EVENT_TYPES - {_API_CALL})
ABSENT_VALUES = {LookupKey.EVENT_TYPE: _API_CALL, LookupKey.SENSITIVE_ACTION: _NOT_SENSITIVE}


class Tail:
    """The acknowledged records above the indexer's checkpoint, in commit groups, and by event
    id (the lookup that must be quick whatever the tail's length)."""

    def __init__(
        self, floor: int, limit: int = TAIL_RECORDS, limit_bytes: int = TAIL_BYTES
    ) -> None:
        self._groups: deque[Sequence[LogRecord]] = deque()
        self._group_bytes: deque[int] = deque()
        self._by_id: dict[tuple[str, str], LogRecord] = {}
        self._size = 0
        self._bytes = 0
        self._floor = floor
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._stalled = False  # the indexer was taken as stuck: no waiting until it moves
        self._coming = 0  # records of appends under way, room held for them (`room_for`)
        self._waiting = 0  # callers waiting for room
        self._waiting_since = 0.0  # when the callers waiting now began to wait (monotonic)
        self._moved = time.monotonic()  # when the indexer last made progress
        self._each: float = RECORD_OVERHEAD  # the memory of a record of the last group added
        self.let_go = 0  # records dropped for room before the indexer reached them
        self.waited_seconds = 0.0  # callers' time spent waiting for room, summed

    def add(self, records: Sequence[LogRecord]) -> None:
        """Remember records just committed to the log (seq-ordered, above every held one)."""
        if not records:
            return
        size = memory_of(records)
        with self._lock:
            self._each = size / len(records)
            self._groups.append(records)
            self._group_bytes.append(size)
            self._by_id.update(((r.account_id, r.event_id), r) for r in records)
            self._size += len(records)
            self._bytes += size
            while (self._size > self._limit or self._bytes > self._limit_bytes) and len(
                self._groups
            ) > 1:
                self.let_go += self._drop_oldest()

    @contextlib.contextmanager
    def room_for(self, count: int, timeout: float) -> Iterator[bool]:
        """Hold room for `count` records being appended (the block appends them): wait while the
        tail is nearly full until the indexer makes room, and yield False when the indexer did
        not move for `timeout` while callers waited. It is then taken as stuck, and no caller
        waits until it moves again: an indexer stuck on a failing disk must not stop ingest,
        since the log still takes every event (those beyond the bound are then let go). The
        clock is the indexer's, not the caller's: a caller that others beat to the room freed
        keeps waiting while the indexer moves."""
        with self._room:
            roomy = True
            if self._nearly_full(count) and not self._stalled:
                began = time.monotonic()
                if not self._waiting:
                    self._waiting_since = began
                self._waiting += 1
                try:
                    while self._nearly_full(count) and not self._stalled:
                        idle = time.monotonic() - max(self._moved, self._waiting_since)
                        if idle >= timeout:
                            self._stalled, roomy = True, False
                            break
                        self._room.wait(timeout - idle)
                finally:
                    self._waiting -= 1
                    self.waited_seconds += time.monotonic() - began
            self._coming += count
        try:
            yield roomy
        finally:
            with self._room:
                self._coming -= count
                if self._waiting:
                    self._room.notify_all()

    def _nearly_full(self, count: int) -> bool:
        """Whether `count` more records would take the tail past its high-water mark, records
        already on their way counted in (each taking the memory the last group's took: an empty
        tail still knows what records cost); a lone caller never waits on an empty tail."""
        if not self._groups and not self._coming:
            return False
        incoming = self._coming + count
        return (
            self._size + incoming > self._limit * HIGH_WATER
            or self._bytes + incoming * self._each > self._limit_bytes * HIGH_WATER
        )

    def indexed(self, seq: int) -> None:
        """Told by the indexer: the day files now hold every record up to `seq`."""
        with self._room:
            if seq > self._floor:
                self._stalled = False
                self._moved = time.monotonic()
            self._floor = max(self._floor, seq)
            while self._groups and self._groups[0][-1].seq <= seq:
                self._drop_oldest()
            self._room.notify_all()

    def following(self, seq: int, limit: int) -> list[LogRecord] | None:
        """The held records right after `seq`, whole groups up to about `limit` records, for the
        indexer (no segment read back, no frame decoded again); None when the tail does not
        hold the record after `seq` (let go, or never added), and the log must be read."""
        with self._lock:
            if not self._groups or self._groups[0][0].seq != seq + 1:
                return None
            found: list[LogRecord] = []
            for group in self._groups:
                if found and len(found) + len(group) > limit:
                    break
                found.extend(group)
            return found

    def _drop_oldest(self) -> int:
        """Forget the oldest group (lock held); how many records it held."""
        group = self._groups.popleft()
        self._size -= len(group)
        self._bytes -= self._group_bytes.popleft()
        pop = self._by_id.pop
        for r in group:
            pop((r.account_id, r.event_id), None)
        return len(group)

    def __len__(self) -> int:
        return self._size

    @property
    def memory(self) -> int:
        """The held records' memory, as `memory_of` estimates it."""
        return self._bytes

    def rows(self, query: LookupQuery, hidden: Callable[[int, int], bool]) -> list[Row]:
        """Up to `query.limit + 1` held rows matching `query`, in its order. Taken before the
        day files are asked: a record leaves the tail only once a day file holds it."""
        event_id = next((v for k, v in query.conditions if k is LookupKey.EVENT_ID), None)
        with self._lock:
            floor = self._floor
            if event_id is not None:
                found = self._by_id.get((query.account_id, event_id))
                groups: list[Sequence[LogRecord]] = [(found,)] if found is not None else []
            else:
                groups = list(self._groups)
        if not groups:
            return []
        matches = matcher(query)
        candidates = _candidates(groups, query)
        # Ordered first, then matched from the query's end until the page is full: a broad
        # condition (a service, Read) tests a page's worth of records, not the whole tail.
        candidates.sort(key=_POSITION, reverse=query.direction is Direction.BACKWARD)
        hits: list[Row] = []
        for r in candidates:
            if r.seq > floor and matches(r) and not hidden(r.seq, r.event_time):
                hits.append(
                    (
                        r.seq,
                        r.account_id,
                        r.event_id,
                        r.event_time,
                        r.accepted_ms,
                        r.dict_id,
                        r.body,
                        r.recorder or None,
                    )
                )
                if len(hits) > query.limit:
                    break
        return hits


def memory_of(records: Sequence[LogRecord]) -> int:
    """About how much memory the tail takes to hold `records`: what varies from event to event
    (compressed body, event id, resource names) and a measured overhead per record."""
    return len(records) * RECORD_OVERHEAD + sum(
        [len(r.body) + len(r.event_id) + sum(map(len, r.resource_names)) for r in records]
    )


class SharedStrings:
    """One copy of each repeating string (account, event name, user, recorder...) for the
    records the tail holds: a tail record's strings would otherwise be ~1 KB. Bounded: it starts
    afresh beyond `limit` strings (later copies are then merely not shared)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._strings: dict[str, str] = {}
        self._limit = limit

    def for_batch(self) -> dict[str, str]:
        """The strings held, for `records.fields_of` to share a batch's strings through; the
        limit is checked once a batch (a batch adds at most a few thousand)."""
        if len(self._strings) > self._limit:
            self._strings = {}
        return self._strings


Groups = list[Sequence[LogRecord]]
# A comprehension per key, so that narrowing a long tail costs no Python call per record; most
# selective first. A value kept in the index as the absence of a row never narrows.
_NARROWING: tuple[tuple[LookupKey, Callable[[Groups, str], list[LogRecord]]], ...] = (
    (LookupKey.RESOURCE_NAME, lambda gs, v: [r for g in gs for r in g if v in r.resource_names]),
    (LookupKey.SOURCE_IP_ADDRESS, lambda gs, v: [r for g in gs for r in g if r.source_ip == v]),
    (
        LookupKey.EVENT_ACCESS_KEY_ID,
        lambda gs, v: [r for g in gs for r in g if r.access_key_id == v],
    ),
    (LookupKey.USER, lambda gs, v: [r for g in gs for r in g if r.user_name == v]),
    (LookupKey.ROLE_NAME, lambda gs, v: [r for g in gs for r in g if r.role_name == v]),
    (LookupKey.EVENT_NAME, lambda gs, v: [r for g in gs for r in g if r.event_name == v]),
    (LookupKey.RESOURCE_TYPE, lambda gs, v: [r for g in gs for r in g if v in r.resource_types]),
    (LookupKey.SERVICE_NAME, lambda gs, v: [r for g in gs for r in g if r.service_name == v]),
    (LookupKey.SENSITIVE_ACTION, lambda gs, v: [r for g in gs for r in g if r.sensitive == v]),
    (LookupKey.EVENT_TYPE, lambda gs, v: [r for g in gs for r in g if r.event_type == v]),
    (LookupKey.EVENT_RW, lambda gs, v: [r for g in gs for r in g if r.event_rw == v]),
)


def _candidates(groups: Groups, query: LookupQuery) -> list[LogRecord]:
    """The held records that may match `query` (`matcher` decides)."""
    conditions = dict(query.conditions)
    for key, narrow in _NARROWING:
        value = conditions.get(key)
        if value is not None and value != ABSENT_VALUES.get(key):
            return narrow(groups, value)
    account, start, end = query.account_id, query.start, query.end
    return [
        r for g in groups for r in g if r.account_id == account and start <= r.event_time <= end
    ]


def matcher(query: LookupQuery) -> Matcher:
    """Whether a record matches `query`'s account, window, position and every condition, as the
    day files' index decides it."""
    tests: list[Matcher] = [_condition(key, value) for key, value in query.conditions]
    account, start, end = query.account_id, query.start, query.end
    after = query.after
    backward = query.direction is Direction.BACKWARD

    def matches(r: LogRecord) -> bool:
        if r.account_id != account or not start <= r.event_time <= end:
            return False
        if after is not None:
            position = (r.event_time, r.seq)
            mark = (after.event_time, after.seq)
            if (position >= mark) if backward else (position <= mark):
                return False
        return all(test(r) for test in tests)

    return matches


def _condition(key: LookupKey, value: str) -> Matcher:
    """One condition; strings compare exactly (SQLite's binary collation)."""
    if key is LookupKey.EVENT_ID:
        return lambda r: r.event_id == value
    if key is LookupKey.EVENT_NAME:
        return lambda r: r.event_name == value
    if key is LookupKey.SERVICE_NAME:
        return lambda r: r.service_name == value
    if key is LookupKey.EVENT_RW:
        return lambda r: r.event_rw == value
    # The rest are rows or nullable columns: an empty value is none, and matches nothing.
    if key is LookupKey.USER:
        return lambda r: value != "" and r.user_name == value
    if key is LookupKey.EVENT_ACCESS_KEY_ID:
        return lambda r: value != "" and r.access_key_id == value
    if key is LookupKey.RESOURCE_TYPE:
        return lambda r: value in r.resource_types
    if key is LookupKey.RESOURCE_NAME:
        return lambda r: value in r.resource_names
    if key is LookupKey.SOURCE_IP_ADDRESS:
        return lambda r: value != "" and r.source_ip == value
    if key is LookupKey.ROLE_NAME:
        return lambda r: value != "" and r.role_name == value
    if key is LookupKey.EVENT_TYPE:
        if value == _API_CALL:  # kept as the absence of a row of another known type
            return lambda r: r.event_type not in _OTHER_EVENT_TYPES
        return lambda r: value != "" and r.event_type == value
    if key is LookupKey.SENSITIVE_ACTION:
        if value == _NOT_SENSITIVE:  # kept as the absence of a "true" row
            return lambda r: r.sensitive != "true"
        return lambda r: value != "" and r.sensitive == value
    raise ValueError(f"no tail matcher for {key}")


def merge_rows(
    indexed: list[Row], more: bool, tail: list[Row], query: LookupQuery
) -> tuple[list[Row], bool]:
    """The first `query.limit` of the day files' rows (`more` when others follow) and the tail's,
    in the query's order, an event found in both kept once; and whether more follow."""
    if not tail:
        return indexed, more
    seen: set[int] = set()
    rows: list[Row] = []
    for row in sorted(
        (*indexed, *tail),
        key=lambda row: (row[3], row[0]),
        reverse=query.direction is Direction.BACKWARD,
    ):
        if row[0] not in seen:
            seen.add(row[0])
            rows.append(row)
    return rows[: query.limit], more or len(rows) > query.limit
