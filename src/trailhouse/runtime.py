"""The services of one trailhouse process, wired to the stores its settings select.

`open_services` is the one place that builds them; the API, the CLI and the console receive the
result and call services, never stores (a test checks that they do not even import them).
`open_admin_services` (`trailhouse.admin_services`, re-exported here) builds the few an
administration command needs over the metadata store alone, for use while a server holds the
event log.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from trailhouse.admin_services import AdminServices as AdminServices
from trailhouse.admin_services import open_admin_services as open_admin_services
from trailhouse.admin_services import upgrade_stores as upgrade_stores
from trailhouse.advanced_query.search import EventSearch
from trailhouse.advanced_query.service import AdvancedQueries
from trailhouse.background import Periodic
from trailhouse.delivery.engine import DeliveryEngine
from trailhouse.delivery.history import HistoryJobService
from trailhouse.delivery.projects import ProjectDeletion
from trailhouse.delivery.state import session_writes
from trailhouse.detections.egress import Egress
from trailhouse.detections.service import DetectionService
from trailhouse.errors import SettingsError, StoreError, VersionConflict
from trailhouse.evaluation import Evaluation
from trailhouse.events.ingest import IngestService
from trailhouse.events.lookup import LookupService
from trailhouse.events.observers import ObserverQueue
from trailhouse.events.throttle import RateLimiter, history_read_limiters
from trailhouse.iam.access_keys import AccessKeyService
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.console_sessions import SessionStore
from trailhouse.iam.nonces import SignatureNonces
from trailhouse.iam.organizations import OrganizationService
from trailhouse.iam.roles import RoleService
from trailhouse.iam.signin_guard import SignInGuard, SignInLimits
from trailhouse.insights.service import InsightService, thresholds_of
from trailhouse.integrity.digester import DigestAnchors, Digester
from trailhouse.integrity.keys import SigningKeys
from trailhouse.metrics import Counters
from trailhouse.regions import Regions
from trailhouse.retry import delivery_policy
from trailhouse.settings import Settings
from trailhouse.store import Stores, open_stores
from trailhouse.store.ports import DocumentWrite
from trailhouse.trail_status import TrailStatusReader
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService
from trailhouse.usage.access_keys import AccessKeyUsage
from trailhouse.usage.activity import Activity
from trailhouse.usage.governance import Governance
from trailhouse.warehouse.jobs import RUNNER_BEAT_SECONDS, RUNNER_STALE_SECONDS
from trailhouse.warehouse.model import trail_tables
from trailhouse.warehouse.service import Warehouse, open_warehouse

log = logging.getLogger(__name__)
# How often a server looks for findings whose event a process died before appending.
FINDING_EVENTS_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a request handler or command may call."""

    settings: Settings
    stores: Stores
    regions: Regions
    accounts: AccountService
    access_keys: AccessKeyService
    roles: RoleService
    organizations: OrganizationService
    trails: TrailService
    ingest: IngestService
    observed: ObserverQueue
    evaluation: Evaluation
    detections: DetectionService
    insights: InsightService
    lookup: LookupService
    warehouse: Warehouse
    history: HistoryJobService
    project_deletion: ProjectDeletion
    signing_keys: SigningKeys
    counters: Counters
    trail_status: TrailStatusReader
    nonces: SignatureNonces
    read_limiters: Mapping[str, RateLimiter]  # the history reads, per account (HISTORY_READS)
    console_sessions: SessionStore
    signin_guard: SignInGuard
    key_usage: AccessKeyUsage
    advanced_queries: AdvancedQueries
    event_search: EventSearch
    activity: Activity
    governance: Governance

    def purge_expired(self) -> int:
        """Delete events older than the retention window; return how many went.

        Events a trail has not delivered yet are kept, up to `retention_hold_days` past the
        window, whether it logs or was stopped with events still owed (a stopped trail delivers
        what it accepted while it logged); beyond that retention wins, and each trail counts
        what it lost. A loss
        the trail's status could not count (its state kept changing, the disk refused) is never
        made silently: it is logged as an error and that trail's events are all kept until a
        later purge counts them.
        """
        cutoff = int(time.time()) - self.settings.retention_days * 86400
        hard_cutoff = cutoff - self.settings.retention_hold_days * 86400
        engine = self.delivery_engine()
        oldest_pending: int | None = None
        uncounted: list[int] = []  # the oldest undelivered event of each trail left uncounted
        for trail in self.trails.all_trails():
            if not trail.destinations.max_compute_project_arn:
                continue
            lost, oldest = engine.pending(trail, hard_cutoff)
            if lost:
                try:
                    engine.record_loss(trail, lost)
                except (VersionConflict, StoreError) as exc:
                    log.error(
                        "retention keeps %d undelivered events of trail %s past the hold: their "
                        "loss could not be counted (%s); the next purge tries again",
                        lost,
                        trail.name,
                        exc,
                    )
                    if oldest is not None:  # always so, when events are lost
                        uncounted.append(oldest)
                else:
                    log.warning(
                        "retention deletes %d undelivered events of trail %s", lost, trail.name
                    )
            if oldest is not None:
                oldest_pending = oldest if oldest_pending is None else min(oldest_pending, oldest)
        if oldest_pending is not None and oldest_pending < cutoff:
            cutoff = max(hard_cutoff, oldest_pending)
        if uncounted:
            cutoff = min(cutoff, *uncounted)
        return self.stores.events.purge(cutoff)

    def start_logging(self, account_id: str, name: str) -> Trail:
        """Enable a trail; it delivers the events accepted from now on."""
        return self.trails.set_logging(account_id, name, True, self._session_writes)

    def stop_logging(self, account_id: str, name: str) -> Trail:
        """Disable a trail; what it accepted until now is still delivered."""
        return self.trails.set_logging(account_id, name, False, self._session_writes)

    def _session_writes(self, before: Trail, after: Trail) -> list[DocumentWrite]:
        """The delivery session's change, committed with the trail's (`delivery/state.py`)."""
        return session_writes(self.stores.metadata, self.stores.events, before, after)

    def delivery_engine(self) -> DeliveryEngine:
        """A delivery engine over these services (started by the caller)."""
        return DeliveryEngine(
            self.settings,
            self.stores.events,
            self.stores.metadata,
            self.trails,
            self.roles,
            self.organizations,
            self.warehouse,
        )

    def digester(self, owns: Callable[[Trail], bool] | None = None) -> Digester:
        """The writer of the trails' signed digests (started by the caller); with `owns`, only
        of the trails it accepts (a delivery worker's: those it holds the lease of)."""
        return Digester(
            self.settings,
            self.stores.metadata,
            self.trails,
            self.warehouse,
            self.signing_keys,
            owns=owns,
        )

    def digest_anchors(self) -> DigestAnchors:
        """The signer of the trails' anchors: their newest digest, signed with the time now."""
        return DigestAnchors(self.stores.metadata, self.signing_keys)

    def background_work(self, *, serving: bool) -> list[Periodic]:
        """The loops that run beside the API (`serving`), or alone in a delivery worker.

        A server purges expired events and samples storage for the bills; with
        `delivery_enabled` it also delivers trails, writes their digests and compacts their
        small files, which is all a delivery worker (`trailhouse deliver`) does.
        """
        settings = self.settings
        work = []
        if serving:
            work += [
                Periodic(
                    "trailhouse-purge",
                    settings.purge_interval_seconds,
                    self._purge_step,
                    wait_first=True,
                ),
                Periodic("trailhouse-sql-heartbeat", RUNNER_BEAT_SECONDS, self._beat_step),
                # Listing every job is costly, and a runner is stale only after this long.
                Periodic(
                    "trailhouse-sql-recovery",
                    RUNNER_STALE_SECONDS,
                    self._recover_step,
                    wait_first=True,
                ),
                Periodic(
                    "trailhouse-finding-webhooks",
                    1.0,
                    lambda: self.detections.webhooks.send_due() > 0,
                ),
                # Findings whose event a process died before appending (findings.py).
                Periodic(
                    "trailhouse-finding-events",
                    FINDING_EVENTS_SECONDS,
                    self._finding_events_step,
                ),
                Periodic(
                    "trailhouse-insights",
                    max(1.0, settings.insights_idle_seconds / 4),
                    self.evaluation.close_idle,
                    wait_first=True,
                ),
                Periodic(
                    "trailhouse-storage-sampler",
                    settings.storage_sample_seconds,
                    self._sample_step,
                ),
            ]
        if settings.delivery_enabled or not serving:
            engine = self.delivery_engine()
            digester = self.digester(owns=engine.leases.holds)
            work += [
                Periodic(
                    "trailhouse-delivery",
                    settings.delivery_poll_seconds,
                    lambda: engine.run_once() > 0,
                    on_stop=engine.close,
                ),
                Periodic(
                    "trailhouse-digests",
                    min(60.0, settings.digest_interval_seconds / 4),
                    lambda: digester.run_once() > 0,
                ),
                Periodic(
                    "trailhouse-compaction",
                    settings.compaction_interval_seconds,
                    self._compaction_step,
                    wait_first=True,
                ),
            ]
        return work

    def _compaction_step(self) -> None:
        self.warehouse.compactor.run_once()

    def _beat_step(self) -> None:
        self.warehouse.jobs.heartbeat()

    def recover_at_start(self) -> None:
        """End the SQL jobs a killed predecessor left Waiting or Running: at once where this
        process holds the store alone (SQLite), else once their process stops beating."""
        self.warehouse.jobs.recover(alone=self.stores.one_process)

    def _recover_step(self) -> None:
        """Fail the jobs of processes that stopped beating."""
        self.warehouse.jobs.recover()

    def _finding_events_step(self) -> None:
        recorded = self.detections.findings.record_unsettled()
        if recorded:
            log.warning("recorded %d finding events a stopped process left unrecorded", recorded)

    def _sample_step(self) -> None:
        self.warehouse.metering.sample_storage()

    def purge_signals(self, now: float) -> tuple[int, int]:
        """Delete the insight events older than `retention_days` and the findings older than
        `findings_retention_days`; how many of each went."""
        insights = self.insights.purge(int(now) - self.settings.retention_days * 86400)
        cutoff_ms = int((now - self.settings.findings_retention_days * 86400) * 1000)
        return insights, self.detections.findings.purge(cutoff_ms)

    def _purge_step(self) -> None:
        self.purge_signals(time.time())
        removed = self.purge_expired()
        if removed:
            log.info("purged expired events", extra={"events": removed})

    def close(self) -> None:
        """Observe what waits (then stop the evaluation's helper), cancel running SQL jobs,
        finish pending appends and close the stores."""
        self.observed.close()
        self.evaluation.close()
        self.warehouse.close()
        self.stores.close()


def apply_switch_interval(settings: Settings) -> None:
    """Set the process's GIL switch interval (`switch_interval_ms`): a request thread waits at
    most that long for the GIL behind a thread running Python (observers, the indexer)."""
    if not 0 < settings.switch_interval_ms <= 1000:
        raise SettingsError(
            f"switch_interval_ms={settings.switch_interval_ms} must be above 0 and at most 1000"
        )
    sys.setswitchinterval(settings.switch_interval_ms / 1000)


def open_services(settings: Settings) -> Services:
    """Open the stores and build the services over them."""
    regions = Regions(settings)
    stores = open_stores(settings)
    accounts = AccountService(stores.metadata)
    roles = RoleService(stores.metadata)
    organizations = OrganizationService(stores.metadata)
    trails = TrailService(stores.metadata, regions, roles, organizations, trail_tables)
    counters = Counters()
    metadata = stores.metadata
    sessions = SessionStore(metadata, settings.console_session_seconds)
    warehouse = open_warehouse(
        settings, stores.metadata, roles, tuple(regions.ids()), counters=counters
    )
    key_usage = AccessKeyUsage(stores.events, metadata, settings.retention_days)
    # Rules and insight types changed here reach the evaluation in order with the events,
    # bound late (`evaluation.py`); a finding is recorded through the ingest service.
    insights = InsightService(
        metadata,
        stores.events.append,
        thresholds_of(settings),
        lambda account_id: evaluation.changed(account_id),
    )
    detections = DetectionService(
        metadata,
        lambda records: ingest.record(records),
        delivery_policy(settings.delivery_retry_seconds),
        Egress(allow_private=settings.webhook_allow_private),
        lambda account_id, rule_id: evaluation.changed(account_id, rule_id),
    )
    # Insights and detections run behind PutEvents' answer, on one worker (events/observers.py)
    # that hands them to a helper process (`detections_process`) or calls them itself.
    observed = ObserverQueue()
    evaluation = Evaluation(
        settings,
        observed,
        detections,
        insights,
        lambda records: ingest.record(records),
        stores.events.append,
    )
    ingest = IngestService(
        settings,
        stores.events,
        accounts.account_exists,
        observers=(observed.bind((evaluation.observe,)),),
        own_observers=(observed.bind((evaluation.observe_own,)),),
    )
    return Services(
        settings=settings,
        stores=stores,
        regions=regions,
        accounts=accounts,
        access_keys=AccessKeyService(metadata, sessions),
        roles=roles,
        organizations=organizations,
        trails=trails,
        ingest=ingest,
        observed=observed,
        evaluation=evaluation,
        insights=insights,
        detections=detections,
        lookup=LookupService(
            stores.events, settings.retention_days, slack_seconds=settings.clock_skew_seconds
        ),
        warehouse=warehouse,
        history=HistoryJobService(stores.metadata, stores.events, trails),
        project_deletion=ProjectDeletion(trails, warehouse.catalog, settings.warehouse_path),
        signing_keys=SigningKeys(stores.metadata, settings.signing_key_days * 86400),
        counters=counters,
        trail_status=TrailStatusReader(
            metadata, stores.events, trails, settings.delivery_lease_seconds
        ),
        nonces=SignatureNonces(metadata, settings.clock_skew_seconds),
        read_limiters=history_read_limiters(metadata, settings.lookup_rate_per_second),
        console_sessions=sessions,
        signin_guard=SignInGuard(
            metadata,
            SignInLimits(
                per_address_per_minute=settings.console_signin_per_minute,
                failures_per_key=settings.console_signin_failures,
                window_seconds=settings.console_signin_window_seconds,
            ),
        ),
        key_usage=key_usage,
        advanced_queries=AdvancedQueries(metadata),
        event_search=EventSearch(
            stores.events, settings.retention_days, slack_seconds=settings.clock_skew_seconds
        ),
        activity=Activity(stores.events, settings.retention_days),
        governance=Governance(trails.all_trails, metadata.list_access_keys, key_usage),
    )
