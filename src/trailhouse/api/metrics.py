"""What `GET /metrics` reports: this process's counters and the state every process shares."""

from __future__ import annotations

import time
from collections import Counter

from trailhouse.delivery.leases import live_workers, read_leases
from trailhouse.delivery.state import read_state
from trailhouse.integrity.digester import read_digest_state
from trailhouse.metrics import Family, Labels, gauge, labels, render
from trailhouse.runtime import Services
from trailhouse.store.documents import decode
from trailhouse.warehouse.model import JOB_KIND, SqlJob

LOG_SEQ = gauge("trailhouse_event_log_last_seq", "The newest sequence number in the event log.")
LOG_INDEXED = gauge("trailhouse_event_log_indexed_seq", "How far LookupEvents' index has got.")
LOG_EVENTS = gauge("trailhouse_event_log_events", "Events the log holds.")
LOG_BYTES = gauge("trailhouse_event_log_bytes", "Bytes the event log uses on disk.")
LOGGING = gauge("trailhouse_trail_logging", "1 while the trail logs.")
BACKLOG = gauge("trailhouse_trail_delivery_backlog", "Log positions after the trail's checkpoint.")
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


def scrape(services: Services) -> str:
    """The metrics text."""
    samples: list[tuple[Family, Labels, float]] = list(services.counters.samples())
    stats = services.stores.events.stats()
    samples += [
        (LOG_SEQ, (), stats.last_seq),
        (LOG_INDEXED, (), stats.indexed_seq),
        (LOG_EVENTS, (), stats.events),
        (LOG_BYTES, (), stats.bytes_on_disk),
    ]
    for trail in services.trails.all_trails():
        if not trail.destinations.max_compute_project_arn:
            continue
        trail_labels = labels(account=trail.account_id, trail=trail.name)
        state, _ = read_state(services.stores.metadata, trail)
        digest, _ = read_digest_state(services.stores.metadata, trail)
        samples += [
            (LOGGING, trail_labels, 1.0 if trail.is_logging else 0.0),
            (BACKLOG, trail_labels, max(0, stats.last_seq - state.checkpoint_seq)),
            (DELIVERED, trail_labels, state.delivered_events),
            (LOST, trail_labels, state.lost_events),
            (FAILING, trail_labels, 1.0 if state.latest_error else 0.0),
            (WATERMARK, trail_labels, state.watermark_ms / 1000),
            (DIGEST, trail_labels, digest.sequence if digest else 0),
        ]
        for quantile, value in (("0.5", state.lag_p50_ms), ("0.99", state.lag_p99_ms)):
            samples.append((LAG, (*trail_labels, ("quantile", quantile)), value))
    samples += _lease_samples(services)
    catalog = services.warehouse.catalog
    for project in catalog.list_projects():
        project_labels = labels(region=project.region, project=project.name)
        samples.append((STORAGE, project_labels, catalog.project_bytes(project)))
    statuses = Counter(
        decode(SqlJob, d.body).status for d in services.stores.metadata.list_documents(JOB_KIND)
    )
    samples += [(JOBS, labels(status=status), count) for status, count in statuses.items()]
    return render(samples)


def _lease_samples(services: Services) -> list[tuple[Family, Labels, float]]:
    """Which worker delivers each trail, and how many workers are alive."""
    metadata, lease_seconds = services.stores.metadata, services.settings.delivery_lease_seconds
    now = time.time()
    samples: list[tuple[Family, Labels, float]] = [
        (WORKERS, (), len(live_workers(metadata, lease_seconds, now)))
    ]
    for (account_id, trail), lease in sorted(read_leases(metadata).items()):
        if lease.owner and lease.expires_ms >= now * 1000:
            owner = labels(account=account_id, trail=trail, worker=lease.owner)
            samples.append((LEASE, owner, 1.0))
    return samples
