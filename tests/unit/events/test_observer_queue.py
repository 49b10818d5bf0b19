"""The observer worker: batches reach their observers in order, bursts are joined, a full queue
makes the sender wait (nothing dropped), a finding recorded from the worker itself never waits
on the worker, a failing observer stops neither the others nor the worker, and `close` observes
what waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from trailhouse.events.model import EventRecord
from trailhouse.events.observers import ObserverQueue


def _records(*ids: str) -> list[EventRecord]:
    return [EventRecord("1", i, 0, "E", "S", "Read", None, None, (), (), b"{}") for i in ids]


def _ids(batches: list[list[str]]) -> list[str]:
    return [i for batch in batches for i in batch]


def test_batches_arrive_in_order_and_bursts_are_joined() -> None:
    queue = ObserverQueue()
    seen: list[list[str]] = []
    gate = threading.Event()

    def slow(records: Sequence[EventRecord]) -> None:
        gate.wait(5)
        seen.append([r.event_id for r in records])

    observe = queue.bind([slow])
    observe(_records("a"))
    time.sleep(0.05)  # the worker holds "a" at the gate; the rest queue up behind it
    for name in ("b", "c", "d"):
        observe(_records(name))
    assert queue.pending() == 4
    gate.set()
    assert queue.drain(5)
    assert _ids(seen) == ["a", "b", "c", "d"]
    assert seen[1:] == [["b", "c", "d"]]  # one call for the three queued meanwhile
    assert queue.pending() == 0
    queue.close()


def test_a_backlog_is_observed_in_calls_of_at_most_max_joined_events() -> None:
    # Behind a backlog, each call's findings are written before the next call's events are
    # evaluated, not once the whole backlog is.
    queue = ObserverQueue(max_joined=3)
    seen: list[list[str]] = []
    gate = threading.Event()

    def slow(records: Sequence[EventRecord]) -> None:
        gate.wait(5)
        seen.append([r.event_id for r in records])

    observe = queue.bind([slow])
    observe(_records("a"))
    time.sleep(0.05)
    for names in (("b", "c"), ("d",), ("e", "f"), ("g", "h", "i", "j")):
        observe(_records(*names))
    gate.set()
    assert queue.drain(5)
    assert seen == [["a"], ["b", "c", "d"], ["e", "f"], ["g", "h", "i", "j"]]
    queue.close()


def test_a_full_queue_makes_the_sender_wait_and_drops_nothing() -> None:
    queue = ObserverQueue(max_pending=2)
    gate = threading.Event()
    seen: list[str] = []

    def held(records: Sequence[EventRecord]) -> None:
        gate.wait(5)
        seen.extend(r.event_id for r in records)

    observe = queue.bind([held])
    observe(_records("a", "b"))
    time.sleep(0.05)
    sender = threading.Thread(target=observe, args=(_records("c"),))
    sender.start()
    sender.join(0.2)
    assert sender.is_alive()  # waiting for room
    gate.set()
    sender.join(5)
    assert not sender.is_alive()
    queue.close()
    assert seen == ["a", "b", "c"]


def test_the_worker_never_waits_on_itself() -> None:
    """A finding's event, recorded from inside an observer, is queued past the bound."""
    queue = ObserverQueue(max_pending=1)
    seen: list[str] = []

    def recording(records: Sequence[EventRecord]) -> None:
        seen.extend(r.event_id for r in records)
        if records[0].event_id == "a":
            own(_records("finding-1", "finding-2"))

    own = queue.bind([recording])
    queue.bind([recording])(_records("a"))
    assert queue.drain(5)
    assert seen == ["a", "finding-1", "finding-2"]
    queue.close()


def test_a_failing_observer_stops_neither_the_others_nor_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = ObserverQueue()
    seen: list[str] = []

    def failing(records: Sequence[EventRecord]) -> None:
        raise RuntimeError("broken")

    observe = queue.bind([failing, lambda records: seen.extend(r.event_id for r in records)])
    observe(_records("a"))
    assert queue.drain(5)
    observe(_records("b"))
    queue.close()
    assert seen == ["a", "b"]
    assert "an observer failed on 1 events" in caplog.text


def test_close_observes_what_waits_and_later_batches_at_once() -> None:
    queue = ObserverQueue()
    seen: list[str] = []
    observe = queue.bind([lambda records: seen.extend(r.event_id for r in records)])
    for name in ("a", "b", "c"):
        observe(_records(name))
    queue.close()
    assert seen == ["a", "b", "c"]
    observe(_records("d"))  # after close: on the caller's thread
    assert seen == ["a", "b", "c", "d"]
