"""A trail's status, read in one place: whether it logs, how far its delivery got, who delivers
it now and its newest signed digest.

GetTrailStatus, `GET /metrics`, the CLI's `trail status` and the console's trail pages all show
what `TrailStatusReader` returns (the last two through GetTrailStatus), so the figures agree
wherever they are read. Only this module reads the delivery-state, lease and digest-state
documents for status; the delivery engine and the digester keep reading their own for work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from trailhouse.delivery.leases import Lease, live_workers, read_lease, read_leases
from trailhouse.delivery.state import DELIVERY_KIND, DeliveryState, live_ranges, read_state
from trailhouse.integrity.digester import DIGEST_STATE_KIND, DigestState, read_digest_state
from trailhouse.store.documents import decode
from trailhouse.store.ports import PENDING_CAP, EventLog, MetadataStore
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService

TrailKey = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TrailStatus:
    """A trail and what its delivery has done, as of one read.

    `pending_events` counts the log's events after the delivery checkpoint that live delivery
    will go through (other accounts' events included: the log is shared), up to `PENDING_CAP`:
    to the end of each session it still owes (the log's end for one that still logs), never
    what was accepted while the trail was stopped.
    `delivered_up_to_ms` is the watermark: every event accepted before it is in the table.
    `lease_holder` is empty while no worker holds a live lease. `latest_digest` is None before
    the first digest.
    """

    trail: Trail
    is_logging: bool
    delivers_to_warehouse: bool
    delivery_table: str
    checkpoint_seq: int
    pending_events: int
    delivered_events: int
    lost_events: int
    latest_delivery_time: int
    latest_delivery_error: str
    lag_p50_ms: int
    lag_p99_ms: int
    lag_max_ms: int
    delivered_up_to_ms: int
    lease_holder: str
    lease_expires_ms: int
    latest_digest: DigestState | None

    @property
    def delivery_failing(self) -> bool:
        """True while the trail's latest delivery attempt failed."""
        return bool(self.latest_delivery_error)


class TrailStatusReader:
    """Reads trails' statuses from the metadata store and the event log, never writing."""

    def __init__(
        self,
        metadata: MetadataStore,
        events: EventLog,
        trails: TrailService,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._events = events
        self._trails = trails
        self._lease_seconds = lease_seconds
        self._clock = clock

    def status(self, trail: Trail) -> TrailStatus:
        """The status of one trail (GetTrailStatus)."""
        delivery, _ = read_state(self._metadata, trail)
        digest, _ = read_digest_state(self._metadata, trail)
        return self._status(
            trail,
            delivery,
            read_lease(self._metadata, trail),
            digest,
            self._backlog(trail, delivery),
        )

    def all_statuses(self) -> list[TrailStatus]:
        """The status of every trail of every account (`/metrics`), from one listing of each
        kind of document rather than one read per trail."""
        deliveries = _listed(self._metadata, DeliveryState, DELIVERY_KIND)
        digests = _listed(self._metadata, DigestState, DIGEST_STATE_KIND)
        leases = read_leases(self._metadata)
        statuses = []
        for trail in self._trails.all_trails():
            key = (trail.account_id, trail.name)
            delivery = deliveries.get(key) or DeliveryState.initial(trail)
            pending = self._backlog(trail, delivery)
            statuses.append(
                self._status(trail, delivery, leases.get(key), digests.get(key), pending)
            )
        return statuses

    def _backlog(self, trail: Trail, delivery: DeliveryState) -> int:
        """What live delivery has yet to go through: the log after the checkpoint up to where
        its session ended (the log's end while it logs), and each later session it still owes
        (`delivery/state.py`). What was accepted while the trail was stopped is never delivered
        live, so a stopped trail's backlog reaches 0 once its sessions are delivered."""
        pending = sum(
            self._events.pending_after(after, up_to=upto)
            for after, upto in live_ranges(delivery, trail.is_logging)
        )
        return min(pending, PENDING_CAP)

    def live_workers(self) -> int:
        """How many delivery workers were seen within the last lease period."""
        return len(live_workers(self._metadata, self._lease_seconds, self._clock()))

    def _status(
        self,
        trail: Trail,
        delivery: DeliveryState,
        lease: Lease | None,
        digest: DigestState | None,
        pending: int,
    ) -> TrailStatus:
        holder, expires_ms = "", 0
        if lease is not None and lease.owner and lease.expires_ms >= self._clock() * 1000:
            holder, expires_ms = lease.owner, lease.expires_ms
        return TrailStatus(
            trail=trail,
            is_logging=trail.is_logging,
            delivers_to_warehouse=bool(trail.destinations.max_compute_project_arn),
            delivery_table=delivery.table,
            checkpoint_seq=delivery.checkpoint_seq,
            pending_events=pending,
            delivered_events=delivery.delivered_events,
            lost_events=delivery.lost_events,
            latest_delivery_time=delivery.latest_delivery_time,
            latest_delivery_error=delivery.latest_error,
            lag_p50_ms=delivery.lag_p50_ms,
            lag_p99_ms=delivery.lag_p99_ms,
            lag_max_ms=delivery.lag_max_ms,
            delivered_up_to_ms=delivery.watermark_ms,
            lease_holder=holder,
            lease_expires_ms=expires_ms,
            latest_digest=digest,
        )


def _listed(metadata: MetadataStore, kind: type[T], kind_name: str) -> dict[TrailKey, T]:
    """Every document of a per-trail kind, decoded, by (account, trail name)."""
    return {(d.scope, d.name): decode(kind, d.body) for d in metadata.list_documents(kind_name)}
