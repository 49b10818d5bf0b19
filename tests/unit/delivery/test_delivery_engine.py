"""The delivery engine over real stores: events reach the trail's table once, filtered, with
status; a broken destination stops that trail only and resumes once fixed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from delivery_support import (
    REGION,
    account,
    drain,
    record,
    record_old,
    start_trail,
    table_rows,
)

from trailhouse.delivery.state import read_state
from trailhouse.events.attributes import derived_event_rw
from trailhouse.iam.roles import DELIVERY_POLICY, trust_policy_for_services
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.trails.model import Destinations
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name


def test_a_trail_delivers_its_accounts_events_exactly_once(services: Services) -> None:
    account_id, caller = account(services)
    other_id, other = account(services)
    trail = start_trail(services, account_id, "prod-audit")
    mine = record(services, caller, 800)
    record(services, other, 300, seed=2)  # another account's: not this trail's
    engine = services.delivery_engine()
    drain(engine)
    drain(engine)  # nothing more, nothing twice
    rows = table_rows(
        services,
        account_id,
        project_name(account_id),
        "SELECT event_id, ds FROM actiontrail_prod_audit",
    )
    assert sorted(r[0] for r in rows) == sorted(e["eventId"] for e in mine)
    days = {e["eventId"]: e["eventTime"][:10].replace("-", "") for e in mine}
    assert all(days[event_id] == ds for event_id, ds in rows)  # late events in their own day
    state, _ = read_state(services.stores.metadata, trail)
    assert state.checkpoint_seq == services.stores.events.last_seq()
    assert state.delivered_events == 800 and not state.latest_error
    assert state.latest_delivery_time >= int(time.time()) - 60
    assert state.table == f"{project_name(account_id)}.actiontrail_prod_audit"
    project = services.warehouse.catalog.get_project(REGION, project_name(account_id))
    assert project.role_of(f"acs:ram::{account_id}:role/aliyunserviceroleforactiontrail") == "Admin"
    assert other_id not in {m.principal for m in project.members}


def test_event_rw_selects_what_is_delivered(services: Services) -> None:
    account_id, caller = account(services)
    start_trail(services, account_id, "writes-only", event_rw="Write")
    events = record(services, caller, 600)
    drain(services.delivery_engine())
    rows = table_rows(
        services,
        account_id,
        project_name(account_id),
        "SELECT event_rw, COUNT(*) FROM actiontrail_writes_only GROUP BY event_rw",
    )
    assert rows == [["Write", sum(1 for e in events if e["eventRW"] == "Write")]]


def test_an_event_without_event_rw_is_selected_by_the_derived_one(services: Services) -> None:
    """ActionTrail's older events lack eventRW: a Read or Write trail selects them by the
    value derived from the event name, and delivers them as they were sent (no eventRW)."""
    account_id, caller = account(services)
    start_trail(services, account_id, "reads-only", event_rw="Read")
    events = record(services, caller, 40)
    for event in events:
        del event["eventRW"]
        event["eventId"] += "-norw"
    result = services.ingest.put_events(caller, [orjson.dumps(e) for e in events])
    assert not result.failed
    drain(services.delivery_engine())
    rows = table_rows(
        services,
        account_id,
        project_name(account_id),
        "SELECT event_id, event_name FROM actiontrail_reads_only WHERE event_rw IS NULL",
    )
    reads = sorted(e["eventId"] for e in events if derived_event_rw(e["eventName"]) == "Read")
    assert reads and len(reads) < len(events)
    assert sorted(r[0] for r in rows) == reads


def test_a_stopped_trail_delivers_what_it_accepted_and_nothing_more(services: Services) -> None:
    account_id, caller = account(services)
    start_trail(services, account_id, "stop-me")
    record(services, caller, 100)
    engine = services.delivery_engine()
    drain(engine)
    tail = record(services, caller, 50, seed=4)  # accepted while logging, not yet delivered
    services.stop_logging(account_id, "stop-me")
    after = record(services, caller, 100, seed=5)
    drain(engine)
    rows = table_rows(
        services, account_id, project_name(account_id), "SELECT event_id FROM actiontrail_stop_me"
    )
    ids = {r[0] for r in rows}
    assert len(rows) == len(ids) == 150
    assert {e["eventId"] for e in tail} <= ids
    assert not {e["eventId"] for e in after} & ids


class _OneSecond:
    """The trail service's clock, stopped in one second: StopLogging and StartLogging within
    it give the new session the old one's start time."""

    @staticmethod
    def time() -> float:
        return 1_800_000_000.5


def test_a_trail_stopped_and_started_in_one_second_skips_what_came_between(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, caller = account(services)
    monkeypatch.setattr("trailhouse.trails.service.time", _OneSecond)
    start_trail(services, account_id, "blink-trail")
    before = record(services, caller, 20)
    engine = services.delivery_engine()
    drain(engine)
    services.stop_logging(account_id, "blink-trail")
    between = record(services, caller, 30)  # accepted while stopped: not delivered live
    services.start_logging(account_id, "blink-trail")
    after = record(services, caller, 10)
    drain(engine)
    rows = table_rows(
        services,
        account_id,
        project_name(account_id),
        "SELECT event_id FROM actiontrail_blink_trail",
    )
    ids = {r[0] for r in rows}
    assert {e["eventId"] for e in before + after} == ids
    assert not {e["eventId"] for e in between} & ids


def test_a_broken_cross_account_trail_reports_and_resumes(services: Services) -> None:
    source_id, source = account(services)
    destination_id, _ = account(services)
    roles = services.roles
    roles.create_role(
        destination_id,
        "DeliveryRole",
        trust_policy_for_services(f"{source_id}@actiontrail.aliyuncs.com"),
    )
    roles.attach_policy(destination_id, "DeliveryRole", DELIVERY_POLICY)
    healthy = start_trail(services, source_id, "healthy-trail")
    broken = start_trail(
        services,
        source_id,
        "shared-trail",
        max_compute_project_arn=(
            f"acs:odps:{REGION}:{destination_id}:project/{project_name(destination_id)}"
        ),
        max_compute_write_role_arn=f"acs:ram::{destination_id}:role/deliveryrole",
    )
    events = record(services, source, 200)
    engine = services.delivery_engine()
    drain(engine)
    state, _ = read_state(services.stores.metadata, broken)
    assert f"the project {project_name(destination_id)} does not exist" in state.latest_error
    assert read_state(services.stores.metadata, healthy)[0].delivered_events == 200  # unharmed

    services.warehouse.catalog.ensure_project(destination_id, REGION, project_name(destination_id))
    roles.detach_policy(destination_id, "DeliveryRole", DELIVERY_POLICY)
    drain(engine)
    state, _ = read_state(services.stores.metadata, broken)
    assert f"does not carry the policy {DELIVERY_POLICY}" in state.latest_error

    roles.attach_policy(destination_id, "DeliveryRole", DELIVERY_POLICY)
    drain(engine)
    state, _ = read_state(services.stores.metadata, broken)
    assert state.latest_error == "" and state.delivered_events == 200
    rows = table_rows(
        services,
        destination_id,
        project_name(destination_id),
        "SELECT COUNT(DISTINCT event_id) FROM actiontrail_shared_trail",
    )
    assert rows == [[len(events)]]


def _reopen(services: Services, **changes: Any) -> Services:
    settings = services.settings
    services.close()
    return open_services(
        Settings.load(
            {
                **{f: getattr(settings, f) for f in ("data_dir", "delivery_flush_seconds")},
                **changes,
            },
            environ={},
        )
    )


def test_retention_keeps_undelivered_events_then_counts_what_it_loses(tmp_path: Path) -> None:
    services = open_services(Settings.load({"data_dir": tmp_path / "data"}, environ={}))
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "slow-trail")
    assert record_old(services, caller, 50).accepted == 50

    services = _reopen(services, retention_days=1, retention_hold_days=7)
    try:
        assert services.purge_expired() == 0  # undelivered: held past retention
        services = _reopen(services, retention_days=1, retention_hold_days=0)
        assert services.purge_expired() == 50  # retention wins and the loss is counted
        state, _ = read_state(services.stores.metadata, trail)
        assert state.lost_events == 50
    finally:
        services.close()


def test_retention_holds_what_a_stopped_trail_still_delivers(tmp_path: Path) -> None:
    """Events accepted while a trail logged are still delivered after StopLogging: retention
    holds them as it holds a logging trail's, and counts a loss for the stopped trail too."""
    services = open_services(Settings.load({"data_dir": tmp_path / "data"}, environ={}))
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "stopped-trail")
    assert record_old(services, caller, 50).accepted == 50
    services.stop_logging(account_id, trail.name)

    services = _reopen(services, retention_days=1, retention_hold_days=7)
    try:
        assert services.purge_expired() == 0  # still owed by the stopped trail: held
        services = _reopen(services, retention_days=1, retention_hold_days=0)
        assert services.purge_expired() == 50
        state, _ = read_state(services.stores.metadata, trail)
        assert state.lost_events == 50
    finally:
        services.close()


def test_retention_deletes_what_was_delivered(tmp_path: Path) -> None:
    services = open_services(
        Settings.load({"data_dir": tmp_path / "data", "delivery_flush_seconds": 0.0}, environ={})
    )
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "fast-trail")
    record_old(services, caller, 50)
    drain(services.delivery_engine())
    services = _reopen(services, retention_days=1)
    try:
        assert services.purge_expired() == 50
        assert read_state(services.stores.metadata, trail)[0].lost_events == 0
    finally:
        services.close()


def test_a_history_job_backfills_what_came_before_the_trail_once(services: Services) -> None:
    account_id, caller = account(services)
    before = record(services, caller, 300, seed=1)  # before the trail existed
    trail = start_trail(services, account_id, "late-trail")
    after = record(services, caller, 200, seed=2)
    engine = services.delivery_engine()
    drain(engine)
    count = "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM actiontrail_late_trail"
    project = project_name(account_id)
    assert table_rows(services, account_id, project, count) == [[200, 200]]

    first = services.history.create(account_id, trail.name, client_token="backfill-1")
    assert services.history.create(account_id, trail.name, "backfill-1") == first  # idempotent
    drain(engine)
    done = services.history.get(account_id, first.job_id)
    assert done.status == 2 and done.delivered_events == 300
    rows = table_rows(services, account_id, project, "SELECT event_id FROM actiontrail_late_trail")
    assert sorted(r[0] for r in rows) == sorted(e["eventId"] for e in before + after)

    second = services.history.create(account_id, trail.name)  # nothing left to fill
    drain(engine)
    assert services.history.get(account_id, second.job_id).delivered_events == 0
    assert table_rows(services, account_id, project, count) == [[500, 500]]
    assert [j.job_id for j in services.history.list_jobs(account_id)] == [2, 1]


def test_history_jobs_one_at_a_time_and_unknown_ones(services: Services) -> None:
    from trailhouse.delivery.history import DeliveryHistoryJobNotFound, DeliveryHistoryJobRunning
    from trailhouse.errors import InvalidParameter

    account_id, caller = account(services)
    record(services, caller, 50)
    start_trail(services, account_id, "busy-trail")
    services.history.create(account_id, "busy-trail")
    with pytest.raises(DeliveryHistoryJobRunning, match="one at a time"):
        services.history.create(account_id, "busy-trail")
    with pytest.raises(DeliveryHistoryJobNotFound):
        services.history.get(account_id, 99)
    services.trails.create(
        account_id,
        REGION,
        TrailSpec(name="oss-only", destinations=Destinations(oss_bucket_name="bucket-one")),
    )
    services.history.delete(account_id, 1)
    with pytest.raises(InvalidParameter, match="no MaxCompute destination"):
        services.history.create(account_id, "oss-only")


def test_a_transient_write_failure_is_reported_and_delivery_resumes(services: Services) -> None:
    account_id, caller = account(services)
    start_trail(services, account_id, "flaky-trail")
    record(services, caller, 100)
    engine = services.delivery_engine()
    # The table's staging folder is taken by a file: the writer cannot stage its batch.
    table_dir = (
        services.settings.warehouse_path
        / REGION
        / project_name(account_id)
        / "actiontrail_flaky_trail"
    )
    table_dir.mkdir(parents=True)
    (table_dir / "_staging").write_text("in the way")
    drain(engine)
    trail = services.trails.get(account_id, "flaky-trail")
    state, _ = read_state(services.stores.metadata, trail)
    assert "could not be written" in state.latest_error and state.delivered_events == 0
    (table_dir / "_staging").unlink()
    drain(engine)
    state, _ = read_state(services.stores.metadata, trail)
    assert state.latest_error == "" and state.delivered_events == 100


def test_an_organization_trail_delivers_every_members_events(services: Services) -> None:
    manager_id, manager = account(services)
    member_id, member = account(services)
    _, outsider = account(services)
    organization = services.organizations.create(manager_id)
    services.organizations.add_account(organization.organization_id, member_id)
    spec = TrailSpec(
        name="org-trail",
        is_organization_trail=True,
        destinations=Destinations(
            max_compute_project_arn=f"acs:odps:{REGION}:{manager_id}:project/{project_name(manager_id)}"
        ),
    )
    services.trails.create(manager_id, REGION, spec)
    services.start_logging(manager_id, "org-trail")
    mine = record(services, manager, 50, seed=1)
    theirs = record(services, member, 60, seed=2)
    record(services, outsider, 70, seed=3)
    drain(services.delivery_engine())
    rows = table_rows(
        services,
        manager_id,
        project_name(manager_id),
        "SELECT account_id, COUNT(*) FROM actiontrail_org_trail GROUP BY account_id",
    )
    assert sorted(rows) == sorted([[manager_id, len(mine)], [member_id, len(theirs)]])


def test_deleting_a_running_history_job_keeps_what_it_delivered_covered(tmp_path: Path) -> None:
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "delivery_flush_seconds": 0.0,
            "delivery_batch_events": 100,
        },
        environ={},
    )
    services = open_services(settings)
    try:
        account_id, caller = account(services)
        record(services, caller, 450)
        start_trail(services, account_id, "part-trail")
        engine = services.delivery_engine()
        job = services.history.create(account_id, "part-trail")
        engine.run_once()
        engine.run_once()  # two batches of 100 log positions
        services.history.delete(account_id, job.job_id)
        later = services.history.create(account_id, "part-trail")
        drain(engine)
        assert services.history.get(account_id, later.job_id).delivered_events == 250
        rows = table_rows(
            services,
            account_id,
            project_name(account_id),
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM actiontrail_part_trail",
        )
        assert rows == [[450, 450]]
    finally:
        services.close()


def test_a_batch_holds_at_most_its_bytes_of_events(tmp_path: Path) -> None:
    """A batch stops at `delivery_batch_mb` of event JSON, however many events that is (at
    least one), so large events cannot make a batch take gigabytes; every event still arrives
    once."""
    budget = 4096
    settings = Settings.load(
        {
            "data_dir": tmp_path / "data",
            "delivery_flush_seconds": 0.0,
            "delivery_batch_mb": budget / (1024 * 1024),
        },
        environ={},
    )
    services = open_services(settings)
    try:
        account_id, caller = account(services)
        record(services, caller, 40)
        start_trail(services, account_id, "small-batches")
        engine = services.delivery_engine()
        job = services.history.create(account_id, "small-batches")
        engine.run_once()
        first = services.history.get(account_id, job.job_id)
        stored = services.stores.events.read_after(0, 100)
        sizes = [len(event.body) for event in stored[: first.delivered_events + 1]]
        assert 1 <= first.delivered_events < 40
        assert sum(sizes[:-1]) <= budget < sum(sizes)  # stopped before the next event's JSON
        drain(engine)
        assert services.history.get(account_id, job.job_id).delivered_events == 40
        rows = table_rows(
            services,
            account_id,
            project_name(account_id),
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM actiontrail_small_batches",
        )
        assert rows == [[40, 40]]
    finally:
        services.close()
