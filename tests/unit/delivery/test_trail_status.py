"""The trail-status read model: what a trail shows before and after delivery, with a lease,
a digest and an error; and GetTrailStatus and `/metrics` showing the same figures for it."""

from __future__ import annotations

import re
import time
from dataclasses import replace

from delivery_support import REGION, account, drain, record, start_trail

from trailhouse.api.actions import ActionContext
from trailhouse.api.handlers.trails import get_trail_status
from trailhouse.api.metrics import scrape
from trailhouse.delivery.state import read_state, state_write
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.iam.roles import DELIVERY_POLICY, trust_policy_for_services
from trailhouse.integrity.digester import DIGEST_STATE_KIND, DigestState
from trailhouse.runtime import Services
from trailhouse.store.documents import encode
from trailhouse.store.ports import DocumentWrite
from trailhouse.trail_status import TrailStatus, TrailStatusReader
from trailhouse.trails.model import Trail
from trailhouse.warehouse.model import project_name


def _only(statuses: list[TrailStatus], trail: Trail) -> TrailStatus:
    (found,) = [s for s in statuses if s.trail.name == trail.name]
    return found


def _write_digest(services: Services, trail: Trail, sequence: int) -> DigestState:
    digest = DigestState(
        account_id=trail.account_id,
        trail_name=trail.name,
        sequence=sequence,
        interval_end=1_800_000_000,
        sha256="ab" * 32,
        signature="sig",
        key_id="key-1",
        path="_digests/x.json",
    )
    services.stores.metadata.commit(
        [DocumentWrite(DIGEST_STATE_KIND, trail.account_id, trail.name, encode(digest), 0)]
    )
    return digest


def test_a_trail_before_any_delivery(services: Services) -> None:
    account_id, caller = account(services)
    record(services, caller, 5)  # accepted before the trail existed: not its to deliver
    trail = start_trail(services, account_id, "fresh-trail")
    status = services.trail_status.status(trail)
    assert status.is_logging and status.delivers_to_warehouse
    assert status.checkpoint_seq == services.stores.events.last_seq() == 5
    assert status.pending_events == 0
    assert (status.delivered_events, status.lost_events, status.latest_delivery_time) == (0, 0, 0)
    assert status.latest_delivery_error == "" and not status.delivery_failing
    assert (status.delivered_up_to_ms, status.lease_holder, status.lease_expires_ms) == (0, "", 0)
    assert status.latest_digest is None and status.delivery_table == ""
    record(services, caller, 3)
    assert services.trail_status.status(trail).pending_events == 3
    assert _only(services.trail_status.all_statuses(), trail) == services.trail_status.status(trail)


def test_a_trail_after_delivery_with_its_lease(services: Services) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "busy-trail")
    record(services, caller, 40)
    engine = services.delivery_engine()
    drain(engine)
    status = services.trail_status.status(trail)
    delivery, _ = read_state(services.stores.metadata, trail)
    assert status.delivered_events == 40 and status.pending_events == 0
    assert status.checkpoint_seq == services.stores.events.last_seq()
    assert status.latest_delivery_time >= int(time.time()) - 60
    assert status.delivered_up_to_ms == delivery.watermark_ms > 0
    assert (status.lag_p50_ms, status.lag_p99_ms, status.lag_max_ms) == (
        delivery.lag_p50_ms,
        delivery.lag_p99_ms,
        delivery.lag_max_ms,
    )
    assert status.delivery_table == f"{project_name(account_id)}.actiontrail_busy_trail"
    assert status.lease_holder == engine.leases.worker_id
    assert status.lease_expires_ms > time.time() * 1000
    assert services.trail_status.live_workers() == 1
    assert _only(services.trail_status.all_statuses(), trail) == status

    # A lease past its expiry is nobody's, though the document still names the worker.
    later = TrailStatusReader(
        services.stores.metadata,
        services.stores.events,
        services.trails,
        services.settings.delivery_lease_seconds,
        clock=lambda: status.lease_expires_ms / 1000 + 1,
    )
    assert later.status(trail).lease_holder == "" and later.status(trail).lease_expires_ms == 0
    assert later.live_workers() == 0
    engine.close()  # handed back: nobody holds it
    assert services.trail_status.status(trail).lease_holder == ""


def test_a_stopped_trails_backlog_is_what_it_still_delivers_and_reaches_0(
    services: Services,
) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "stopping-trail")
    record(services, caller, 6)  # accepted while it logged: still delivered after StopLogging
    trail = services.stop_logging(account_id, trail.name)
    record(services, caller, 9)  # accepted after: never delivered live
    status = services.trail_status.status(trail)
    assert not status.is_logging and status.pending_events == 6
    drain(services.delivery_engine())
    status = services.trail_status.status(trail)
    assert status.delivered_events == 6 and status.pending_events == 0
    assert _only(services.trail_status.all_statuses(), trail) == status
    answer = _get_trail_status(services, trail)
    assert (answer["IsLogging"], answer["DeliveryBacklog"]) == (False, 0)
    gauges = _gauges(scrape(services), trail)
    assert gauges["trailhouse_trail_logging"] == 0.0
    assert gauges["trailhouse_trail_delivery_backlog"] == 0.0


def test_a_trail_with_a_digest(services: Services) -> None:
    account_id, _ = account(services)
    trail = start_trail(services, account_id, "signed-trail")
    digest = _write_digest(services, trail, 7)
    assert services.trail_status.status(trail).latest_digest == digest
    assert _only(services.trail_status.all_statuses(), trail).latest_digest == digest


def test_a_trail_whose_delivery_fails(services: Services) -> None:
    account_id, caller = account(services)
    other_id, _ = account(services)
    services.roles.create_role(
        other_id,
        "DeliveryRole",
        trust_policy_for_services(f"{account_id}@actiontrail.aliyuncs.com"),
    )
    services.roles.attach_policy(other_id, "DeliveryRole", DELIVERY_POLICY)
    trail = start_trail(  # into a project that does not exist
        services,
        account_id,
        "broken-trail",
        max_compute_project_arn=f"acs:odps:{REGION}:{other_id}:project/{project_name(other_id)}",
        max_compute_write_role_arn=f"acs:ram::{other_id}:role/deliveryrole",
    )
    record(services, caller, 10)
    drain(services.delivery_engine())
    status = services.trail_status.status(trail)
    assert status.delivery_failing and status.latest_delivery_error
    assert (
        status.latest_delivery_error == read_state(services.stores.metadata, trail)[0].latest_error
    )
    assert status.delivered_events == 0 and status.pending_events == 10


def test_a_trail_without_a_warehouse_destination_says_so(services: Services) -> None:
    account_id, _ = account(services)
    trail = start_trail(
        services, account_id, "oss-only", max_compute_project_arn="", oss_bucket_name="bucket"
    )
    status = services.trail_status.status(trail)
    assert not status.delivers_to_warehouse and status.is_logging


def _get_trail_status(services: Services, trail: Trail) -> dict[str, object]:
    caller = Caller("key", PrincipalKind.ROOT, trail.account_id, "root", trail.account_id)
    ctx = ActionContext(
        services=services,
        caller=caller,
        action="GetTrailStatus",
        params={"Name": trail.name},
        body=b"",
        content_type="",
        request_id="r",
        source_ip="127.0.0.1",
        user_agent="test",
        region=REGION,
    )
    return get_trail_status(ctx)


def _gauges(text: str, trail: Trail) -> dict[str, float]:
    """The trail's per-trail samples, by series name (with the quantile for lags)."""
    mine = f'account="{trail.account_id}",'
    found = {}
    for line in text.splitlines():
        match = re.match(r"^(trailhouse_[a-z_]+)\{([^}]*)\} (\S+)$", line)
        if match and mine in match[2] and f'trail="{trail.name}"' in match[2]:
            quantile = re.search(r'quantile="([^"]+)"', match[2])
            worker = re.search(r'worker="([^"]+)"', match[2])
            key = match[1] + (f"@{quantile[1]}" if quantile else "")
            key += f"@{worker[1]}" if worker else ""
            found[key] = float(match[3])
    return found


def test_get_trail_status_and_metrics_show_the_same_figures(services: Services) -> None:
    account_id, caller = account(services)
    trail = start_trail(services, account_id, "twin-trail")
    record(services, caller, 25)
    engine = services.delivery_engine()
    drain(engine)
    record(services, caller, 4)  # pending
    _write_digest(services, trail, 3)
    state, version = read_state(services.stores.metadata, trail)
    services.stores.metadata.commit(
        [state_write(replace(state, lost_events=2, latest_error="it broke"), version)]
    )

    answer = _get_trail_status(services, trail)
    gauges = _gauges(scrape(services), trail)
    worker = engine.leases.worker_id
    assert answer["DeliveryWorker"] == worker
    assert gauges == {
        "trailhouse_trail_logging": 1.0,
        "trailhouse_trail_delivery_backlog": answer["DeliveryBacklog"],
        "trailhouse_trail_delivered_events": answer["DeliveredEvents"],
        "trailhouse_trail_lost_events": answer["DeliveryLostEvents"],
        "trailhouse_trail_delivery_failing": 1.0,
        "trailhouse_trail_delivered_up_to_seconds": gauges[
            "trailhouse_trail_delivered_up_to_seconds"
        ],
        "trailhouse_trail_latest_digest_sequence": answer["LatestDigestSequence"],
        "trailhouse_trail_delivery_lag_ms@0.5": answer["DeliveryLagP50Ms"],
        "trailhouse_trail_delivery_lag_ms@0.99": answer["DeliveryLagP99Ms"],
        f"trailhouse_delivery_lease@{worker}": 1.0,
    }
    assert (answer["DeliveryBacklog"], answer["DeliveredEvents"]) == (4, 25)
    assert (answer["DeliveryLostEvents"], answer["LatestDigestSequence"]) == (2, 3)
    assert answer["IsLogging"] is True and answer["LatestDeliveryError"] == "it broke"
    watermark_ms = round(gauges["trailhouse_trail_delivered_up_to_seconds"] * 1000)
    up_to = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(watermark_ms // 1000))
    assert answer["DeliveredUpTo"] == f"{up_to}.{watermark_ms % 1000:03d}Z"
