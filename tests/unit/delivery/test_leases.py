"""Delivery leases over a real metadata store: trails spread over workers, a dead worker's trails
taken over after the lease period, and a worker that lost its lease fenced out of committing."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import replace

import pytest
from delivery_support import REGION, account, record, start_trail, table_rows

from trailhouse.delivery.engine import DeliveryEngine
from trailhouse.delivery.leases import (
    WORKER_KIND,
    DeliveryLeases,
    Worker,
    live_workers,
    read_leases,
)
from trailhouse.errors import VersionConflict
from trailhouse.runtime import Services
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import DocumentWrite
from trailhouse.trails.model import Trail
from trailhouse.warehouse.model import project_name

LEASE_SECONDS = 15.0


class Clock:
    """A worker's clock, moved by the test."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def trails_of(services: Services, count: int) -> list[Trail]:
    """`count` started trails, three per account (an account has at most five per region)."""
    trails: list[Trail] = []
    while len(trails) < count:
        account_id, _ = account(services)
        trails += [start_trail(services, account_id, f"trail-{n}") for n in range(3)]
    return trails[:count]


def worker(services: Services, name: str, clock: Clock) -> DeliveryLeases:
    return DeliveryLeases(services.stores.metadata, LEASE_SECONDS, name, clock)


def owners(services: Services) -> Counter[str]:
    return Counter(lease.owner for lease in read_leases(services.stores.metadata).values())


def test_trails_spread_over_the_workers_and_a_joining_one_gets_its_share(
    services: Services,
) -> None:
    trails = trails_of(services, 6)
    clock = Clock()
    first = worker(services, "w1", clock)
    first.refresh(trails)
    assert len(first.held()) == 6  # alone: every trail
    second, third = worker(services, "w2", clock), worker(services, "w3", clock)
    second.refresh(trails)
    third.refresh(trails)
    assert not second.held() and not third.held()  # nothing free yet
    for _ in range(3):  # a few renewal periods: the first hands back, the others take
        clock.now += LEASE_SECONDS / 3
        for leases in (first, second, third):
            leases.refresh(trails)
    assert owners(services) == {"w1": 2, "w2": 2, "w3": 2}
    held = [first.held(), second.held(), third.held()]
    assert set().union(*held) == {(t.account_id, t.name) for t in trails}
    assert [w.worker_id for w in live_workers(services.stores.metadata, LEASE_SECONDS, clock())]


def test_a_dead_workers_trails_are_taken_within_the_lease_period(services: Services) -> None:
    trails = trails_of(services, 4)
    clock = Clock()
    alive, doomed = worker(services, "alive", clock), worker(services, "doomed", clock)
    for _ in range(3):
        for leases in (alive, doomed):
            leases.refresh(trails)
        clock.now += LEASE_SECONDS / 3
    assert owners(services) == {"alive": 2, "doomed": 2}
    died_at = clock.now
    doomed_trails = doomed.held()
    runs_out = max(
        lease.expires_ms / 1000
        for lease in read_leases(services.stores.metadata).values()
        if lease.owner == "doomed"
    )
    # "doomed" stops renewing. Its leases hold until they expire, then "alive" takes them.
    while owners(services) != {"alive": 4}:
        clock.now += 0.5
        alive.refresh(trails)
        assert clock.now - died_at <= LEASE_SECONDS, "the dead worker's trails were not taken"
    assert runs_out <= clock.now <= runs_out + 0.5  # not before its leases ran out, nor long after
    assert doomed_trails <= alive.held()


def test_survivors_take_a_dead_workers_trails_as_its_leases_run_out(services: Services) -> None:
    """Not at their next renewal: each survivor looks when a lease it saw is due to run out."""
    trails = trails_of(services, 6)
    clock = Clock()
    workers = [worker(services, name, clock) for name in ("a", "b", "victim")]
    for _ in range(40):  # 20 s of passes every half second: spread, two each
        clock.now += 0.5
        for leases in workers:
            leases.refresh(trails)
    assert owners(services) == {"a": 2, "b": 2, "victim": 2}
    leases_now = read_leases(services.stores.metadata).values()
    runs_out = max(lease.expires_ms for lease in leases_now if lease.owner == "victim")
    while owners(services).get("victim"):
        clock.now += 0.5
        for leases in workers[:2]:
            leases.refresh(trails)
        assert clock.now * 1000 <= runs_out + 500, "a survivor waited past the lease's end"
    assert owners(services) == {"a": 3, "b": 3}


def test_a_worker_that_lost_its_lease_cannot_commit(services: Services) -> None:
    (trail,) = trails_of(services, 1)
    clock = Clock()
    paused, successor = worker(services, "paused", clock), worker(services, "successor", clock)
    paused.refresh([trail])
    fence = paused.fence(trail)
    services.stores.metadata.commit([fence])  # while held, the fence passes
    clock.now += LEASE_SECONDS + 1  # "paused" misses its renewals
    successor.refresh([trail])
    assert successor.holds(trail)
    assert paused.holds(trail)  # it has not looked since: it still believes it holds the trail
    with pytest.raises(VersionConflict, match="delivery-lease"):
        services.stores.metadata.commit([fence])
    paused.refresh([trail])
    assert not paused.holds(trail)
    with pytest.raises(VersionConflict, match="does not hold"):
        paused.fence(trail)


def test_a_stopping_worker_hands_its_trails_over_at_once(services: Services) -> None:
    trails = trails_of(services, 3)
    clock = Clock()
    leaving, staying = worker(services, "leaving", clock), worker(services, "staying", clock)
    leaving.refresh(trails)
    staying.refresh(trails)
    assert len(leaving.held()) == 3
    leaving.release_all()
    clock.now += LEASE_SECONDS / 3  # the next renewal, well before any lease expired
    staying.refresh(trails)
    assert owners(services) == {"staying": 3}
    assert [w.worker_id for w in live_workers(services.stores.metadata, 60, clock())] == ["staying"]


def test_a_deleted_trails_lease_goes_with_it(services: Services) -> None:
    trails = trails_of(services, 2)
    clock = Clock()
    leases = worker(services, "w", clock)
    leases.refresh(trails)
    leases.refresh(trails[:1])  # the trail set changed: refreshed at once
    assert set(read_leases(services.stores.metadata)) == {(trails[0].account_id, "trail-0")}
    assert leases.held() == {(trails[0].account_id, "trail-0")}


def test_an_engine_fenced_out_delivers_nothing_and_its_successor_delivers_once(
    services: Services,
) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "fenced")
    first_clock, second_clock = Clock(), Clock()
    engines = [
        DeliveryEngine(
            services.settings,
            services.stores.events,
            services.stores.metadata,
            services.trails,
            services.roles,
            services.organizations,
            services.warehouse,
            clock=clock,
            worker_id=name,
        )
        for name, clock in (("first", first_clock), ("second", second_clock))
    ]
    first, second = engines
    before = record(services, caller, 200)
    assert first.run_once() == 200
    assert second.run_once() == 0  # the trail is the first's
    second_clock.now += LEASE_SECONDS + 1  # the first stalls past its lease: the second takes it
    assert second.run_once() == 0 and second.leases.holds(trail)
    after = record(services, caller, 300, seed=2)
    assert first.leases.holds(trail)  # stale belief, fenced at commit
    assert first.run_once() == 0
    assert second.run_once() == 300
    rows = table_rows(
        services, account_id, project_name(account_id), "SELECT event_id FROM actiontrail_fenced"
    )
    assert sorted(r[0] for r in rows) == sorted(e["eventId"] for e in before + after)
    assert REGION  # the trail's project is in the services' region


def test_a_dead_local_workers_trails_are_taken_at_once(services: Services) -> None:
    """A restart after kill -9 on the same host need not wait for the old leases to expire."""
    trails = trails_of(services, 2)
    clock = Clock()
    dead_pid = _exited_pid()
    crashed = worker(services, "crashed", clock)
    crashed.refresh(trails)
    _pretend_pid(services, "crashed", dead_pid)
    restarted = worker(services, "restarted", clock)
    restarted.refresh(trails)  # the crashed worker's leases are unexpired, but it is gone
    assert owners(services) == {"restarted": 2}


def _exited_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _pretend_pid(services: Services, worker_id: str, pid: int) -> None:
    """Make a worker's document name another process of this host."""
    metadata = services.stores.metadata
    document = metadata.get_document(WORKER_KIND, "", worker_id)
    assert document is not None
    moved = replace(decode(Worker, document.body), pid=pid)
    metadata.commit([DocumentWrite(WORKER_KIND, "", worker_id, encode(moved), document.version)])
