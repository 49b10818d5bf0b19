"""The unindexed tail's bound: PutEvents waits for the index when the tail is nearly full, so an
acknowledged event stays findable however far ingest runs ahead; only an indexer that stops
moving lets the tail let go of events, and the metrics say how many."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.records import LogRecord
from trailhouse.store.sqlite.tail import HIGH_WATER, Tail

ACCOUNT = "1234567890123456"
BASE_TIME = 1_740_787_200  # 2025-03-01T00:00:00Z


def held(first: int, count: int) -> list[LogRecord]:
    """A commit group of `count` records from seq `first`."""
    return [
        LogRecord(s, 0, 0, 0, ACCOUNT, f"e{s}", "", "", "", "", "", (), (), "", b"")
        for s in range(first, first + count)
    ]


def nearly_full_tail() -> Tail:
    """A tail of 10 records holding 9 in three groups: one more passes its high-water mark."""
    tail = Tail(0, limit=10)
    for first in (1, 4, 7):
        tail.add(held(first, 3))
    assert len(tail) + 1 > 10 * HIGH_WATER
    return tail


def test_a_caller_waits_until_the_indexer_makes_room() -> None:
    tail = nearly_full_tail()
    answers: list[bool] = []

    def append_one() -> None:
        with tail.room_for(1, 30.0) as roomy:
            answers.append(roomy)

    caller = threading.Thread(target=append_one)
    caller.start()
    time.sleep(0.2)
    assert caller.is_alive()  # still waiting: nothing was indexed
    tail.indexed(3)  # the first group reaches its day file and leaves the tail
    caller.join(5.0)
    assert answers == [True]
    assert tail.waited_seconds >= 0.2
    assert tail.let_go == 0


def test_a_caller_waits_longer_than_the_timeout_while_the_indexer_keeps_moving() -> None:
    """The timeout is the indexer's silence, not the caller's wait: a caller needing more room
    than one indexed batch frees keeps waiting, batch after batch."""
    tail = nearly_full_tail()
    answers: list[bool] = []

    def append_seven() -> None:  # room only once all three held groups are indexed
        with tail.room_for(7, 0.3) as roomy:
            answers.append(roomy)

    caller = threading.Thread(target=append_seven)
    caller.start()
    for seq in (3, 6, 9):  # one group each 0.2 s: 0.6 s in all, twice the timeout
        time.sleep(0.2)
        assert caller.is_alive()
        tail.indexed(seq)
    caller.join(5.0)
    assert answers == [True]
    assert tail.waited_seconds >= 0.5


def test_a_stuck_indexer_stops_the_waits_after_one_timeout() -> None:
    tail = nearly_full_tail()
    with tail.room_for(1, 0.05) as roomy:
        assert roomy is False  # the indexer did not move
    began = time.monotonic()
    with tail.room_for(1, 30.0) as roomy:
        assert roomy is True  # no one waits on a stuck indexer again
    assert time.monotonic() - began < 1.0
    tail.add(held(10, 3))  # beyond the bound now: the oldest group is let go
    assert tail.let_go == 3
    tail.indexed(6)  # the indexer moves again: callers wait for it again
    tail.add(held(13, 3))
    assert len(tail) == 9
    with tail.room_for(1, 0.05) as roomy:
        assert roomy is False


def event(n: int) -> EventRecord:
    return EventRecord(
        account_id=ACCOUNT,
        event_id=f"R{n:05d}",
        event_time=BASE_TIME + n,
        event_name="DescribeThings",
        service_name="Ecs",
        event_rw="Read",
        user_name="alice",
        access_key_id=None,
        resource_types=(),
        resource_names=(),
        body=orjson.dumps({"eventId": f"R{n:05d}"}),
    )


def test_an_index_behind_slows_put_events_and_every_acknowledged_event_is_found(
    tmp_path: Path,
) -> None:
    """Four callers append far faster than a slowed indexer indexes into a tail of 20 records:
    each event is found by its id the moment its append returns, and none was let go."""
    log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=0, tail_records=20)
    days = log._days  # the indexer's writes, each made slow; what they write is unchanged
    real_index = days.index

    def slow_index(day: int, records: list[LogRecord]) -> int:
        time.sleep(0.05)
        return real_index(day, records)

    days.index = slow_index  # type: ignore[method-assign]
    missing: list[str] = []

    def append_and_find(first: int) -> None:
        for n in range(first, first + 60):
            assert log.append([event(n)]) == [True]
            query = LookupQuery(
                ACCOUNT,
                BASE_TIME,
                BASE_TIME + 1000,
                Direction.BACKWARD,
                ((LookupKey.EVENT_ID, f"R{n:05d}"),),
                10,
            )
            if not log.lookup(query).events:
                missing.append(f"R{n:05d}")

    try:
        callers = [threading.Thread(target=append_and_find, args=(k * 100,)) for k in range(4)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(60.0)
        stats = log.stats()
        assert missing == []
        assert stats.let_go == 0
        assert stats.index_wait_seconds > 0  # the callers did wait for the index
    finally:
        log.close()
