"""What `GET /metrics` reports: this process's counters and the state every process shares.

Trails' figures come from the trail-status read model (`trailhouse.trail_status`), the one
GetTrailStatus answers from, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from trailhouse.metrics import Family, Labels, gauge, labels, render
from trailhouse.runtime import Services
from trailhouse.trail_status import TrailStatus

LOG_SEQ = gauge("trailhouse_event_log_last_seq", "The newest sequence number in the event log.")
LOG_INDEXED = gauge("trailhouse_event_log_indexed_seq", "How far LookupEvents' index has got.")
LOG_EVENTS = gauge("trailhouse_event_log_events", "Events the log holds.")
LOG_BYTES = gauge("trailhouse_event_log_bytes", "Bytes the event log uses on disk.")
LOG_LET_GO = gauge(
    "trailhouse_event_log_unindexed_let_go",
    "Acknowledged events the unindexed tail let go before the index reached them (LookupEvents "
    "finds them once indexed); stays 0 while the indexer keeps moving.",
)
LOG_WAITS = gauge(
    "trailhouse_event_log_index_wait_seconds",
    "Seconds PutEvents calls spent waiting for the index to catch up, summed.",
)
LOGGING = gauge("trailhouse_trail_logging", "1 while the trail logs.")
BACKLOG = gauge(
    "trailhouse_trail_delivery_backlog",
    "Log positions after the trail's checkpoint that live delivery will still go through.",
)
LAG = gauge("trailhouse_trail_delivery_lag_ms", "Accepted → committed, recent batches.")
DELIVERED = gauge("trailhouse_trail_delivered_events", "Events the trail has delivered live.")
LOST = gauge("trailhouse_trail_lost_events", "Undelivered events retention deleted.")
FAILING = gauge("trailhouse_trail_delivery_failing", "1 while the trail's delivery fails.")
WATERMARK = gauge(
    "trailhouse_trail_delivered_up_to_seconds", "Every event accepted before this is delivered."
)
DIGEST = gauge("trailhouse_trail_latest_digest_sequence", "The trail's newest signed digest.")
LEASE = gauge("trailhouse_delivery_lease", "1 for the worker holding the trail's lease now.")
WORKERS = gauge("trailhouse_delivery_workers", "Delivery workers seen in the last lease period.")
STORAGE = gauge("trailhouse_project_storage_bytes", "Committed bytes of a warehouse project.")
JOBS = gauge("trailhouse_sql_jobs", "SQL jobs kept, by status.")
OBSERVING = gauge(
    "trailhouse_observer_pending_events",
    "Stored events this process has yet to hand to insights and detections.",
)


def scrape(services: Services) -> str:
    """The metrics text."""
    samples: list[tuple[Family, Labels, float]] = list(services.counters.samples())
    stats = services.lookup.stats()
    samples += [
        (LOG_SEQ, (), stats.last_seq),
        (LOG_INDEXED, (), stats.indexed_seq),
        (LOG_EVENTS, (), stats.events),
        (LOG_BYTES, (), stats.bytes_on_disk),
        (LOG_LET_GO, (), stats.let_go),
        (LOG_WAITS, (), stats.index_wait_seconds),
    ]
    samples.append((OBSERVING, (), services.observed.pending()))
    samples += trail_samples(services.trail_status.all_statuses())
    samples.append((WORKERS, (), services.trail_status.live_workers()))
    catalog = services.warehouse.catalog
    for project in catalog.list_projects():
        project_labels = labels(region=project.region, project=project.name)
        samples.append((STORAGE, project_labels, catalog.project_bytes(project)))
    statuses = services.warehouse.jobs.count_by_status()
    samples += [(JOBS, labels(status=status), count) for status, count in statuses.items()]
    return render(samples)


def trail_samples(statuses: Iterable[TrailStatus]) -> list[tuple[Family, Labels, float]]:
    """The per-trail gauges of the trails that deliver into the warehouse, and which worker
    delivers each."""
    samples: list[tuple[Family, Labels, float]] = []
    for status in statuses:
        if not status.delivers_to_warehouse:
            continue
        trail = status.trail
        trail_labels = labels(account=trail.account_id, trail=trail.name)
        digest = status.latest_digest
        samples += [
            (LOGGING, trail_labels, 1.0 if status.is_logging else 0.0),
            (BACKLOG, trail_labels, status.pending_events),
            (DELIVERED, trail_labels, status.delivered_events),
            (LOST, trail_labels, status.lost_events),
            (FAILING, trail_labels, 1.0 if status.delivery_failing else 0.0),
            (WATERMARK, trail_labels, status.delivered_up_to_ms / 1000),
            (DIGEST, trail_labels, digest.sequence if digest else 0),
        ]
        for quantile, value in (("0.5", status.lag_p50_ms), ("0.99", status.lag_p99_ms)):
            samples.append((LAG, (*trail_labels, ("quantile", quantile)), value))
        if status.lease_holder:
            owner = labels(account=trail.account_id, trail=trail.name, worker=status.lease_holder)
            samples.append((LEASE, owner, 1.0))
    return samples
