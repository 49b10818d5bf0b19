"""Delivery sessions over real stores: a trail stopped and started again before delivery caught
up still delivers, exactly once, everything it accepted while it logged, and nothing it
accepted while stopped, which a history job can still fill."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_support import account, drain, record, record_old, start_trail, table_rows

from trailhouse.delivery.state import is_covered, read_state
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.trails.model import Trail
from trailhouse.warehouse.model import project_name


@pytest.fixture
def small_batches(tmp_path: Path) -> Iterator[Services]:
    """Services whose delivery batches hold 7 events, so a pass delivers part of a session."""
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "delivery_flush_seconds": 0.0,
            "delivery_retry_seconds": 0.0,
            "delivery_session_seconds": 0.0,
            "delivery_batch_events": 7,
        },
        environ={},
    )
    opened = open_services(settings)
    yield opened
    opened.close()


def _delivered(services: Services, trail: Trail) -> list[str]:
    """The event IDs in the trail's table, one per row (so a double shows twice)."""
    table = f"actiontrail_{trail.name.replace('-', '_')}"
    rows = table_rows(
        services, trail.account_id, project_name(trail.account_id), f"SELECT event_id FROM {table}"
    )
    return sorted(r[0] for r in rows)


def _ids(*batches: list[dict[str, Any]]) -> list[str]:
    return sorted(e["eventId"] for batch in batches for e in batch)


def _backlog(services: Services, trail: Trail) -> int:
    current = services.trails.get(trail.account_id, trail.name)
    return services.trail_status.status(current).pending_events


def test_stopped_and_started_before_delivery_caught_up(services: Services) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "restarted-trail")
    logged = record(services, caller, 40)  # accepted while logging, not delivered yet
    services.stop_logging(account_id, trail.name)
    gap_after = services.stores.events.last_seq()
    record(services, caller, 25)  # accepted while stopped: not delivered live
    gap_upto = services.stores.events.last_seq()
    services.start_logging(account_id, trail.name)
    later = record(services, caller, 15)
    assert _backlog(services, trail) == 40 + 15  # the stopped stretch is not counted
    engine = services.delivery_engine()
    drain(engine)
    assert _delivered(services, trail) == _ids(logged, later)
    assert _backlog(services, trail) == 0
    state, _ = read_state(services.stores.metadata, trail)
    assert state.checkpoint_seq == services.stores.events.last_seq() and not state.owed
    assert not any(is_covered(state.covered, s) for s in range(gap_after + 1, gap_upto + 1))
    drain(engine)  # nothing twice
    assert len(_delivered(services, trail)) == 55


def test_several_stop_start_cycles_while_delivery_runs_behind(small_batches: Services) -> None:
    services = small_batches
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "cycling-trail")
    engine = services.delivery_engine()
    logged: list[dict[str, Any]] = []
    for cycle in range(3):
        logged += record(services, caller, 20 + cycle)
        engine.run_once()  # one batch of 7: delivery stays behind
        services.stop_logging(account_id, trail.name)
        record(services, caller, 10)  # accepted while stopped: not delivered live
        if cycle < 2:
            services.start_logging(account_id, trail.name)
    assert _backlog(services, trail) == len(logged) - len(_delivered(services, trail)) > 0
    drain(engine)
    assert _delivered(services, trail) == _ids(logged)
    assert _backlog(services, trail) == 0  # stopped, and its sessions are delivered
    services.start_logging(account_id, trail.name)
    more = record(services, caller, 9)
    drain(engine)
    assert _delivered(services, trail) == _ids(logged, more)


class _Later:
    """The trail service's clock an hour on: a second StartLogging falls in another second."""

    @staticmethod
    def time() -> float:
        return time.time() + 3600


def test_start_logging_on_a_logging_trail_changes_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "twice-started")
    logged = record(services, caller, 30)
    before, _ = read_state(services.stores.metadata, trail)
    monkeypatch.setattr("trailhouse.trails.service.time", _Later)
    again = services.start_logging(account_id, trail.name)
    assert again == services.trails.get(account_id, trail.name) == trail  # same start time
    assert read_state(services.stores.metadata, trail)[0] == before
    more = record(services, caller, 5)
    drain(services.delivery_engine())
    assert _delivered(services, trail) == _ids(logged, more)


def test_stop_logging_on_a_stopped_trail_does_not_take_in_what_came_after(
    services: Services,
) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "twice-stopped")
    logged = record(services, caller, 12)
    stopped_once = services.stop_logging(account_id, trail.name)
    record(services, caller, 8)  # accepted while stopped
    assert services.stop_logging(account_id, trail.name) == stopped_once
    drain(services.delivery_engine())
    assert _delivered(services, trail) == _ids(logged)


def test_a_history_job_fills_the_stopped_stretch_once_afterwards(services: Services) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "gap-filled")
    logged = record(services, caller, 30)
    services.stop_logging(account_id, trail.name)
    stopped = record(services, caller, 20)
    services.start_logging(account_id, trail.name)
    later = record(services, caller, 10)
    engine = services.delivery_engine()
    drain(engine)
    assert _delivered(services, trail) == _ids(logged, later)
    job = services.history.create(account_id, trail.name)
    drain(engine)
    assert services.history.get(account_id, job.job_id).delivered_events == 20
    assert _delivered(services, trail) == _ids(logged, stopped, later)
    second = services.history.create(account_id, trail.name)
    drain(engine)
    assert services.history.get(account_id, second.job_id).delivered_events == 0
    assert _delivered(services, trail) == _ids(logged, stopped, later)


def test_a_history_job_leaves_a_stopped_trails_remainder_to_live_delivery(
    small_batches: Services,
) -> None:
    """A job made while a stopped trail's session is not delivered yet fills only the stretch
    after StopLogging: the session's remainder is live delivery's, delivered once (with batches
    of 7, the job runs while live delivery is still behind)."""
    services = small_batches
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "remainder-kept")
    logged = record(services, caller, 30)
    services.stop_logging(account_id, trail.name)
    stopped = record(services, caller, 20)
    job = services.history.create(account_id, trail.name)
    drain(services.delivery_engine())
    assert services.history.get(account_id, job.job_id).delivered_events == 20
    assert _delivered(services, trail) == _ids(logged, stopped)


def test_a_session_whose_remainder_retention_deleted_does_not_hold_up_the_next(
    services: Services,
) -> None:
    """The ended session's undelivered events are gone (deleted by retention): its checkpoint
    goes to the session's end, the stopped trail's backlog reaches 0, and the next session is
    delivered."""
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "purged-remainder")
    record_old(services, caller, 20)  # two to three days old, accepted while logging
    services.stop_logging(account_id, trail.name)
    session_end = services.stores.events.last_seq()
    assert services.stores.events.purge(int(time.time()) - 86400) == 20
    engine = services.delivery_engine()
    drain(engine)
    state, _ = read_state(services.stores.metadata, trail)
    assert state.checkpoint_seq == session_end and _backlog(services, trail) == 0
    record(services, caller, 6)  # accepted while stopped
    services.start_logging(account_id, trail.name)
    later = record(services, caller, 4)
    drain(engine)
    assert _delivered(services, trail) == _ids(later)


def test_retention_does_not_count_the_stopped_stretch_as_lost(tmp_path: Path) -> None:
    """Events accepted while the trail was stopped are not its to deliver live, so retention
    deleting them while an earlier session is still owed loses nothing of the trail's."""
    data = {"data_dir": tmp_path / "data", "delivery_flush_seconds": 0.0}
    services = open_services(Settings.load(data, environ={}))
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "old-gap")
    logged = record_old(services, caller, 10)  # accepted while logging: held, then counted
    services.stop_logging(account_id, trail.name)
    stopped = record_old(services, caller, 30)  # accepted while stopped
    assert stopped.accepted == 30
    services.start_logging(account_id, trail.name)
    services.close()
    settings = {**data, "retention_days": 1, "retention_hold_days": 0}
    services = open_services(Settings.load(settings, environ={}))
    try:
        # DemoEvents is seeded by the account, so the second batch over the same window can
        # draw some of the first batch's events again, ids included: accepted, stored once.
        assert logged.stored == 10
        assert services.purge_expired() == logged.stored + stopped.stored
        state, _ = read_state(services.stores.metadata, trail)
        assert state.lost_events == 10
    finally:
        services.close()
