"""The delivery engine: every enabled trail follows the event log into its warehouse table.

For each trail with a MaxCompute destination, the engine reads the log after the trail's
checkpoint, keeps the events the trail selects (its account or its organization's members,
EventRW, TrailRegion), and commits them through the warehouse's exactly-once writer together
with the trail's new checkpoint: one transaction, so a crash anywhere replays the same range and
nothing is lost or doubled. A batch is flushed once its oldest event has waited
`delivery_flush_seconds`, or when it is full.

A failure stops that trail only. `trailhouse.retry.classify` tells a terminal one (project
missing, role not trusting the account, policy detached) from a transient one (disk full, store
busy) by its class. Either is recorded in the trail's state, naming what is missing, and retried
on the `trailhouse.retry.delivery_policy` schedule (after `delivery_retry_seconds`, doubling up
to a minute while it keeps failing), so delivery resumes by itself once the cause is fixed; a
history job fails on a terminal error and retries a transient one at the next pass. Each trail
is handled in turn, and a broken one costs the others one quick check per retry.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

import orjson

from trailhouse.delivery.destination import Destination, resolve_destination
from trailhouse.delivery.history import HistoryJob, HistoryJobService
from trailhouse.delivery.history import JobStatus as HistoryStatus
from trailhouse.delivery.lags import LagWindow
from trailhouse.delivery.leases import DeliveryLeases
from trailhouse.delivery.state import (
    DeliveryState,
    begin_session,
    extend_coverage,
    history_skips,
    is_covered,
    live_end,
    live_ranges,
    next_session,
    owes,
    read_state,
    skip_covered,
    state_write,
)
from trailhouse.errors import (
    ApiError,
    DiskError,
    TrailhouseError,
    VersionConflict,
)
from trailhouse.events.attributes import attributes_of
from trailhouse.events.model import LoggedEvent
from trailhouse.events.visibility import is_data_event
from trailhouse.iam.organizations import OrganizationService
from trailhouse.iam.roles import (
    RoleService,
)
from trailhouse.memory import MemoryReleaser
from trailhouse.retry import Outcome, classify, delivery_policy, retry_on_conflict
from trailhouse.settings import Settings
from trailhouse.store.ports import DocumentWrite, EventLog, MetadataStore
from trailhouse.trails.data_events import captures
from trailhouse.trails.insight_selectors import captures_insights, is_insight_event
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService
from trailhouse.warehouse.service import Warehouse

log = logging.getLogger(__name__)

_LAG_WINDOW_SECONDS = 300
# Events read from the log at once while a batch is gathered under its byte budget.
_READ_STEP = 2_000
_CHECKPOINT_ONLY_EVERY = 1.0


class DeliveryEngine:
    """Delivers every trail, one pass at a time (`Services.background_work` loops it)."""

    def __init__(
        self,
        settings: Settings,
        events: EventLog,
        metadata: MetadataStore,
        trails: TrailService,
        roles: RoleService,
        organizations: OrganizationService,
        warehouse: Warehouse,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
    ) -> None:
        self._history = HistoryJobService(metadata, events, trails, clock)
        self.leases = DeliveryLeases(metadata, settings.delivery_lease_seconds, worker_id, clock)
        self._settings = settings
        self._events = events
        self._metadata = metadata
        self._trails = trails
        self._roles = roles
        self._organizations = organizations
        self._warehouse = warehouse
        self._clock = clock
        self._retry = delivery_policy(settings.delivery_retry_seconds)
        self._targets: dict[tuple[str, str], Destination] = {}
        self._retry_at: dict[tuple[str, str], float] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._lags: dict[tuple[str, str], LagWindow] = {}
        self._last_checkpoint: dict[tuple[str, str], float] = {}
        self._memory = MemoryReleaser()

    def run_once(self) -> int:
        """One pass over every delivering trail and history job.

        Returns the events committed, plus one for every history batch that moved its cursor
        without finding anything to deliver: zero means there was nothing to do.
        """
        delivering = [
            t for t in self._trails.all_trails() if t.destinations.max_compute_project_arn
        ]
        self.leases.refresh(delivering)
        delivered = 0
        for trail in delivering:
            if self.leases.holds(trail):
                delivered += self._deliver(trail)
        # A job runs where its trail is held; one whose trail is gone (or no longer delivers
        # to MaxCompute) is failed by whichever worker meets it.
        held = self.leases.held()
        delivered_trails = {(t.account_id, t.name) for t in delivering}
        for job, version in self._history.running():
            key = (job.account_id, job.trail_name)
            if key in held or key not in delivered_trails:
                delivered += self._backfill(job, version)
        self._memory.after_batch(delivered)
        return delivered

    def close(self) -> None:
        """Hand this worker's leases back, so that other workers take its trails at once."""
        self.leases.release_all()

    def _backfill(self, job: HistoryJob, version: int) -> int:
        """One batch of a history job: the trail's uncovered events up to the job's end."""
        try:
            trail = self._trails.get(job.account_id, job.trail_name)
            target = self._target(trail, self._clock())
        except (TrailhouseError, OSError) as exc:
            return self._backfill_failed(job, version, exc)
        state, _ = read_state(self._metadata, trail)
        # What live delivery still owes is its own, as what is covered is done.
        skipped = history_skips(state)
        cursor = skip_covered(job.cursor_seq, skipped)
        # Never past the job's end: what lies beyond is the live delivery's (a purged stretch
        # in the range lets a read of `limit` events reach beyond it).
        limit = min(self._settings.delivery_batch_events, job.upto_seq - cursor)
        events = self._read_batch(cursor, limit) if limit > 0 else []
        if events and events[-1].seq > job.upto_seq:
            events = [e for e in events if e.seq <= job.upto_seq]
        if not events:
            self._history.finish(job, version, trail)
            return 0
        selects = self._selector(trail)
        # Coverage is checked per event only where a covered range meets this batch.
        first, last = events[0].seq, events[-1].seq
        overlapping = tuple((a, u) for a, u in skipped if a < last and u >= first)
        chosen = [e for e in events if selects(e)]
        if overlapping:
            chosen = [e for e in chosen if not is_covered(overlapping, e.seq)]
        now = int(self._clock())
        moved = replace(
            job,
            status=HistoryStatus.DELIVERING,
            cursor_seq=events[-1].seq,
            delivered_events=job.delivered_events + len(chosen),
            start_time=job.start_time or now,
            updated_time=now,
        )
        try:
            if chosen:
                self._warehouse.writer.append(
                    target.project,
                    target.table,
                    chosen,
                    writer_role_arn=target.writer_role_arn,
                    source_account=trail.account_id,
                    source=f"{trail.account_id}-{trail.name}-history{job.job_id}",
                    extra_writes=[self._history.write(moved, version), self.leases.fence(trail)],
                )
            else:
                self._metadata.commit(
                    [self._history.write(moved, version), self.leases.fence(trail)]
                )
        except VersionConflict:
            return 0  # deleted or advanced meanwhile: read again next pass
        except (TrailhouseError, OSError) as exc:
            return self._backfill_failed(job, version, exc)
        return max(len(chosen), 1)

    def _backfill_failed(self, job: HistoryJob, version: int, exc: Exception) -> int:
        """A terminal failure fails the job, saying why; a transient one is retried next pass."""
        if classify(exc) is Outcome.TERMINAL:
            self._history.fail(job, version, _describe(exc))
        else:
            log.warning("history job %s of %s failed a batch: %s", job.job_id, job.account_id, exc)
        return 0

    def pending(self, trail: Trail, older_than: int) -> tuple[int, int | None]:
        """The trail's undelivered events: how many have an eventTime before `older_than`,
        and the oldest eventTime of all of them (None when everything is delivered). Only what
        live delivery still goes through counts: not what was accepted while it was stopped."""
        state, _ = read_state(self._metadata, trail)
        selects = self._selector(trail)
        before, oldest = 0, None
        for seq, upto in live_ranges(state, trail.is_logging):
            while batch := self._events.read_after(seq, 10_000):
                inside = [e for e in batch if upto is None or e.seq <= upto]
                for event in filter(selects, inside):
                    oldest = event.event_time if oldest is None else min(oldest, event.event_time)
                    before += event.event_time < older_than
                if len(inside) < len(batch):
                    break  # past the session's end
                seq = batch[-1].seq
        return before, oldest

    def record_loss(self, trail: Trail, lost: int) -> None:
        """Count undelivered events that retention is about to delete, in the trail's status.

        VersionConflict, naming the trail, when its state kept changing (nothing was counted):
        the caller must then keep the events (see `Services.purge_expired`)."""

        def attempt() -> None:
            state, version = read_state(self._metadata, trail)
            counted = replace(state, lost_events=state.lost_events + lost)
            self._metadata.commit([state_write(counted, version)])

        retry_on_conflict(attempt, what=f"the delivery state of trail {trail.name}")

    def _deliver(self, trail: Trail) -> int:
        key = (trail.account_id, trail.name)
        now = self._clock()
        if self._retry_at.get(key, 0.0) > now:
            return 0
        state, version = read_state(self._metadata, trail)
        if not owes(state, trail.is_logging):
            return 0  # stopped, and everything accepted while it logged is delivered
        try:
            if trail.is_logging and state.session_started != trail.start_logging_time:
                begin_session(self._metadata, self._events, trail)
                state, version = read_state(self._metadata, trail)
            moved = next_session(state)
            if moved is not None:  # an ended session is delivered: on to the next one
                self._commit_state(trail, moved, version)
                state, version = read_state(self._metadata, trail)
            target = self._target(trail, now)
            return self._deliver_batch(trail, target, state, version)
        except VersionConflict:
            return 0  # another worker committed this trail meanwhile; read again next pass
        except (TrailhouseError, OSError) as exc:
            self._targets.pop(key, None)
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            self._retry_at[key] = now + self._retry.delay(failures)
            self._record_error(trail, state, version, _describe(exc), classify(exc))
            return 0

    def _deliver_batch(
        self, trail: Trail, target: Destination, state: DeliveryState, version: int
    ) -> int:
        key = (trail.account_id, trail.name)
        read_at = self._clock()
        limit = self._settings.delivery_batch_events
        # An ended session is still delivered, up to where it ended (session_end).
        ended_at = live_end(state, trail.is_logging)
        end = self._events.last_seq() if ended_at is None else ended_at
        head = (
            self._events.read_after(state.checkpoint_seq, 1) if end > state.checkpoint_seq else []
        )
        if not head or head[0].seq > end:
            # Nothing is left of an ended session (its last events purged, say): the checkpoint
            # goes to its end, so that the next owed session is not held up.
            done = state.checkpoint_seq if ended_at is None else max(state.checkpoint_seq, end)
            self._advance(trail, state, version, done, int(read_at * 1000), None)
            return 0
        full = end - state.checkpoint_seq >= limit
        young = read_at - head[0].accepted_ms / 1000 < self._settings.delivery_flush_seconds
        if young and not full and ended_at is None:
            return 0  # let the batch grow a little; it is flushed once old enough
        events = [e for e in self._read_batch(state.checkpoint_seq, limit) if e.seq <= end]
        selects = self._selector(trail)
        selected = [e for e in events if selects(e)]
        caught_up = events[-1].seq >= end
        watermark = int(read_at * 1000) if caught_up else events[-1].accepted_ms
        if not selected:
            self._advance(trail, state, version, events[-1].seq, watermark, None)
            return 0
        new_state = replace(
            state,
            covered=extend_coverage(state, state.checkpoint_seq, events[-1].seq),
            checkpoint_seq=events[-1].seq,
            delivered_events=state.delivered_events + len(selected),
            latest_delivery_time=int(read_at),
            latest_error="",
            error_time=0,
            watermark_ms=watermark,
            table=f"{target.project.name}.{target.table.name}",
        )
        # Lags as of now go in with the batch; the exact ones, after the commit, replace them.
        lags = self._lag_window(key)
        p50, p99, worst = lags.percentiles(
            read_at, (int(read_at * 1000) - e.accepted_ms for e in selected)
        )
        new_state = replace(new_state, lag_p50_ms=p50, lag_p99_ms=p99, lag_max_ms=worst)
        self._warehouse.writer.append(
            target.project,
            target.table,
            selected,
            writer_role_arn=target.writer_role_arn,
            source_account=trail.account_id,
            source=f"{trail.account_id}-{trail.name}",
            extra_writes=self._state_writes(trail, new_state, version),
        )
        self._record_lags(key, trail, new_state, version + 1, selected)
        self._retry_at.pop(key, None)
        self._failures.pop(key, None)
        return len(selected)

    def _read_batch(self, after: int, limit: int) -> list[LoggedEvent]:
        """The events after `after`, at most `limit` and, past the first, at most
        `delivery_batch_mb` of JSON. A batch holds several times its JSON in memory while it is
        written (parsed columns, Arrow arrays, the Parquet file), so an event count alone let
        large events take gigabytes; measured with the benchmark's 1.3 KB events, 50,000 of them
        raised the server's resident memory by ~200 MB. The same log gives the same batches."""
        budget = int(self._settings.delivery_batch_mb * 1024 * 1024)
        events: list[LoggedEvent] = []
        size = 0
        while len(events) < limit and size < budget:
            step = self._events.read_after(after, min(_READ_STEP, limit - len(events)))
            if not step:
                break
            for event in step:
                if events and size + len(event.body) > budget:
                    return events
                events.append(event)
                size += len(event.body)
            after = step[-1].seq
        return events

    def _lag_window(self, key: tuple[str, str]) -> LagWindow:
        return self._lags.setdefault(key, LagWindow(_LAG_WINDOW_SECONDS))

    def _record_lags(
        self,
        key: tuple[str, str],
        trail: Trail,
        state: DeliveryState,
        version: int,
        committed: list[LoggedEvent],
    ) -> None:
        """Add the batch's accepted → committed lags, measured after its commit, to the status."""
        now = self._clock()
        lags = self._lag_window(key)
        lags.add(now, (int(now * 1000) - e.accepted_ms for e in committed))
        p50, p99, worst = lags.percentiles(now)
        measured = replace(
            state, latest_delivery_time=int(now), lag_p50_ms=p50, lag_p99_ms=p99, lag_max_ms=worst
        )
        with contextlib.suppress(VersionConflict):  # a newer state wins; the next batch reports
            self._commit_state(trail, measured, version)

    def _advance(
        self,
        trail: Trail,
        state: DeliveryState,
        version: int,
        checkpoint: int,
        watermark: int,
        error: str | None,
    ) -> None:
        """Move the checkpoint and watermark without writing data (rate-limited)."""
        key = (trail.account_id, trail.name)
        now = self._clock()
        if (
            now - self._last_checkpoint.get(key, 0.0) < _CHECKPOINT_ONLY_EVERY
            and not state.latest_error
        ):
            return
        self._last_checkpoint[key] = now
        changed = replace(
            state,
            covered=extend_coverage(state, state.checkpoint_seq, checkpoint),
            checkpoint_seq=checkpoint,
            watermark_ms=watermark,
            latest_error=error or "",
            error_time=0 if not error else state.error_time,
        )
        if changed != state:
            self._commit_state(trail, changed, version)

    def _record_error(
        self, trail: Trail, state: DeliveryState, version: int, message: str, outcome: Outcome
    ) -> None:
        if state.latest_error == message:
            return
        log.warning(
            "delivery of trail %s/%s stopped (%s failure): %s",
            trail.account_id,
            trail.name,
            outcome,
            message,
        )
        failed = replace(state, latest_error=message, error_time=int(self._clock()))
        # Else recorded at the next attempt; a full disk may refuse the status as well.
        with contextlib.suppress(VersionConflict, DiskError):
            self._commit_state(trail, failed, version)

    def _state_writes(
        self, trail: Trail, state: DeliveryState, version: int
    ) -> list[DocumentWrite]:
        """The trail's new state over `version`, fenced by this worker's lease."""
        return [state_write(state, version), self.leases.fence(trail)]

    def _commit_state(self, trail: Trail, state: DeliveryState, version: int) -> None:
        """Store the trail's new state alone; VersionConflict when it or the lease moved on."""
        self._metadata.commit(self._state_writes(trail, state, version))

    def _selector(self, trail: Trail) -> Callable[[LoggedEvent], bool]:
        """Whether the trail captures an event: whose account, Read/Write, which region; a data
        event only as the trail's data event selector says (`trails/data_events.py`)."""
        accounts = {trail.account_id}
        if trail.is_organization_trail:
            organization = self._organizations.get(trail.organization_id)
            accounts = set(organization.members) if organization is not None else set()
        every_kind = trail.event_rw == "All" and trail.trail_region == "All"

        def selects(event: LoggedEvent) -> bool:
            if event.account_id not in accounts:
                return False
            if every_kind:
                return True
            body = orjson.loads(event.body)
            if trail.event_rw != "All" and attributes_of(body).event_rw != trail.event_rw:
                return False
            return bool(body.get("isGlobal")) or trail.covers_region(str(body.get("acsRegion", "")))

        return _with_data_events(trail, accounts, selects)

    def _target(self, trail: Trail, now: float) -> Destination:
        """The project, table and role of the trail's destination, checked once a session."""
        key = (trail.account_id, trail.name)
        cached = self._targets.get(key)
        if cached is not None and now - cached.checked_at < self._settings.delivery_session_seconds:
            return cached
        target = resolve_destination(
            trail, self._warehouse.catalog, self._roles, self._metadata, now
        )
        self._targets[key] = target
        return target


def _with_data_events(
    trail: Trail, accounts: set[str], selects: Callable[[LoggedEvent], bool]
) -> Callable[[LoggedEvent], bool]:
    """`selects` for management events; a data event of the trail's accounts only as the
    trail's data event selector says (none without one), an insight event of the trail's own
    account only as its insight selector says (`trails/insight_selectors.py`)."""
    data_events = captures(trail)
    insights = captures_insights(trail)

    def choose(event: LoggedEvent) -> bool:
        if b'"Data"' in event.body and event.account_id in accounts:
            body = orjson.loads(event.body)
            if is_data_event(body):
                return data_events(body)
        if b'"Insight"' in event.body:
            body = orjson.loads(event.body)
            if is_insight_event(body):
                return event.account_id == trail.account_id and insights(body)
        return selects(event)

    return choose


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, OSError):
        return f"the warehouse could not be written ({exc.strerror or exc}); retrying"
    return str(exc)
