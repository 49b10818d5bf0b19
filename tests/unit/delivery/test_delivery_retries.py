"""Delivery under the retry policy: a transient failure is retried on the policy's schedule, a
terminal one is reported as such (and fails a history job), and a loss retention cannot count
is never made silently."""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from delivery_support import account, drain, record, record_old, start_trail

from trailhouse.delivery.engine import DeliveryEngine
from trailhouse.delivery.history import JobStatus
from trailhouse.delivery.state import DELIVERY_KIND, read_state
from trailhouse.errors import DiskFull, NoPermission, VersionConflict
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.store.ports import DocumentWrite

FULL = DiskFull("warehouse file: the disk is full (No space left on device)", errno.ENOSPC)
REFUSED = NoPermission("the role acs:ram::1:role/writer may not write project p1")


class Clock:
    """A clock the test moves by hand, starting now (batches are flushed by their age)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def engine_with(services: Services, clock: Clock, retry_seconds: float) -> DeliveryEngine:
    settings = replace(services.settings, delivery_retry_seconds=retry_seconds)
    return DeliveryEngine(
        settings,
        services.stores.events,
        services.stores.metadata,
        services.trails,
        services.roles,
        services.organizations,
        services.warehouse,
        clock=clock,
    )


def failing_appends(
    services: Services, monkeypatch: pytest.MonkeyPatch, failures: list[Exception]
) -> list[float]:
    """Make the warehouse writer raise `failures`, one per append, then write; return the list
    every append (failed or not) is noted in."""
    writer = services.warehouse.writer
    real = writer.append
    calls: list[float] = []

    def append(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "append", append)
    return calls


def test_a_transient_failure_is_retried_on_the_policys_schedule(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "disk-trail")
    record(services, caller, 40)
    clock = Clock()
    engine = engine_with(services, clock, retry_seconds=5.0)
    calls = failing_appends(services, monkeypatch, [FULL, FULL])

    assert engine.run_once() == 0
    state, _ = read_state(services.stores.metadata, trail)
    assert state.latest_error == str(FULL) and state.delivered_events == 0
    # The policy: 5 s after the first failure, then 10 s after the second.
    for step, tried in [(4.9, 1), (0.1, 2), (9.9, 2), (0.1, 3)]:
        clock.now += step
        engine.run_once()
        assert len(calls) == tried, f"{step} s later"
    state, _ = read_state(services.stores.metadata, trail)
    assert state.latest_error == "" and state.delivered_events == 40


def test_a_terminal_failure_is_reported_as_such_and_delivery_resumes_once_fixed(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "refused-trail")
    record(services, caller, 20)
    engine = services.delivery_engine()
    failing_appends(services, monkeypatch, [REFUSED])
    with caplog.at_level(logging.WARNING, logger="trailhouse.delivery.engine"):
        engine.run_once()
    state, _ = read_state(services.stores.metadata, trail)
    assert state.latest_error == f"NoPermission: {REFUSED.message}"
    assert "(terminal failure)" in caplog.text
    drain(engine)  # the writer is allowed again: the next attempt delivers
    state, _ = read_state(services.stores.metadata, trail)
    assert state.latest_error == "" and state.delivered_events == 20


def test_a_history_job_retries_a_transient_failure_and_fails_on_a_terminal_one(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, caller = account(services)
    record(services, caller, 30)  # before either trail: only a history job delivers them
    first = start_trail(services, account_id, "first-trail")
    second = start_trail(services, account_id, "second-trail")
    engine = services.delivery_engine()
    drain(engine)
    failures: list[Exception] = [FULL]
    failing_appends(services, monkeypatch, failures)
    history = services.history

    job = history.create(account_id, first.name)
    engine.run_once()
    assert not failures  # the batch met the full disk...
    assert history.get(account_id, job.job_id).status in JobStatus.RUNNING  # ...and goes on
    drain(engine)
    done = history.get(account_id, job.job_id)
    assert (done.status, done.delivered_events, done.error) == (JobStatus.COMPLETE, 30, "")

    failures.append(REFUSED)
    job = history.create(account_id, second.name)
    drain(engine)
    failed = history.get(account_id, job.job_id)
    assert failed.status == JobStatus.FAILED
    assert failed.error == f"NoPermission: {REFUSED.message}"


def _conflicting_states(services: Services, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make every commit of a trail's delivery state conflict; return the undo."""
    store = services.stores.metadata
    real = store.commit

    def commit(writes: Sequence[DocumentWrite]) -> Any:
        if any(w.kind == DELIVERY_KIND for w in writes):
            raise VersionConflict("the delivery state changed since it was read")
        return real(writes)

    monkeypatch.setattr(store, "commit", commit)
    return lambda: monkeypatch.setattr(store, "commit", real)


def test_a_loss_retention_cannot_count_is_logged_and_the_events_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = {"data_dir": tmp_path / "data"}
    services = open_services(Settings.load(data, environ={}))
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "slow-trail")
    assert record_old(services, caller, 50).accepted == 50
    services.close()
    services = open_services(
        Settings.load({**data, "retention_days": 1, "retention_hold_days": 0}, environ={})
    )
    try:
        undo = _conflicting_states(services, monkeypatch)
        with pytest.raises(VersionConflict, match="delivery state of trail slow-trail kept"):
            services.delivery_engine().record_loss(trail, 50)
        with caplog.at_level(logging.ERROR, logger="trailhouse.runtime"):
            assert services.purge_expired() == 0  # kept: their loss is not counted yet
        assert "50 undelivered events of trail slow-trail" in caplog.text
        assert read_state(services.stores.metadata, trail)[0].lost_events == 0

        undo()
        assert services.purge_expired() == 50  # the next purge counts them, then deletes
        assert read_state(services.stores.metadata, trail)[0].lost_events == 50
    finally:
        services.close()
