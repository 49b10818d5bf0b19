"""Group commit: appends that arrive while one commits go together in the next transaction,
each caller gets its own records' outcome, and a failed group fails every caller in it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from trailhouse.events.model import EventRecord
from trailhouse.store.postgres.group_commit import GroupCommit


def record(event_id: str) -> EventRecord:
    return EventRecord(
        account_id="1111222233334444",
        event_id=event_id,
        event_time=1_800_000_000,
        event_name="RunInstances",
        service_name="Ecs",
        event_rw="Write",
        user_name="alice",
        access_key_id="LTAI",
        resource_types=(),
        resource_names=(),
        body=b"{}",
    )


class SlowLog:
    """Stores ids like the log (the first copy of an id wins), counting transactions; each
    commit waits for `release`."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.stored: set[str] = set()
        self.first_started = threading.Event()
        self.release = threading.Event()

    def append_all(self, records: list[EventRecord]) -> list[bool]:
        self.groups.append([r.event_id for r in records])
        self.first_started.set()
        assert self.release.wait(5)  # a commit in flight: the other callers queue meanwhile
        outcome = []
        for r in records:
            outcome.append(r.event_id not in self.stored)
            self.stored.add(r.event_id)
        return outcome


def test_appends_made_during_a_commit_share_the_next_one() -> None:
    log = SlowLog()
    group_commit = GroupCommit(log.append_all)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(group_commit.append, [record("a1"), record("a2")])
        assert log.first_started.wait(5)
        later = [
            pool.submit(group_commit.append, [record(f"b{n}"), record("a1")]) for n in range(5)
        ]
        time.sleep(0.5)  # time for the five to queue behind the commit in flight
        log.release.set()
        assert first.result() == [True, True]
        answers = [f.result() for f in later]
    assert len(log.groups) == 2  # the five later appends went in one transaction
    assert sorted(log.groups[1]) == sorted([f"b{n}" for n in range(5)] + ["a1"] * 5)
    assert answers == [[True, False]] * 5  # each caller its own outcome; a1 was stored before


def test_a_failed_group_fails_every_caller_in_it() -> None:
    entered = threading.Event()
    release = threading.Event()
    calls = []

    def append_all(records: list[EventRecord]) -> list[bool]:
        calls.append(len(records))
        if len(calls) == 1:
            entered.set()
            release.wait(5)
            return [True] * len(records)
        raise ConnectionError("the database went away")

    group_commit = GroupCommit(append_all)
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(group_commit.append, [record("x")])
        assert entered.wait(5)
        failing = [pool.submit(group_commit.append, [record(f"y{n}")]) for n in range(3)]
        time.sleep(0.1)
        release.set()
        assert first.result() == [True]
        for future in failing:
            with pytest.raises(ConnectionError, match="went away"):
                future.result()
    assert calls == [1, 3]
    assert GroupCommit(lambda records: [True] * len(records)).append([record("z")]) == [True]
