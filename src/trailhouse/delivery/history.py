"""Delivery history jobs: backfill a trail's destination with the events of the last 90 days.

ActionTrail backfills only into Log Service; trailhouse backfills into the trail's MaxCompute
table. A job covers the log up to where it was when the job was created, skipping every range
the trail has already covered (live, or by an earlier job), so nothing is delivered twice. Each
batch commits with the job's new cursor in one transaction, as live delivery does, so a crash
replays it exactly once. When the job ends, its range joins the trail's covered ranges.

Status codes (reference §1.5): 0 initializing, 1 delivering, 2 complete, 3 failed. One job per
account runs at a time; a ClientToken makes CreateDeliveryHistoryJob idempotent.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from trailhouse.delivery.state import extend_coverage, read_state, state_write
from trailhouse.errors import ApiError, InvalidParameter, VersionConflict
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import DocumentWrite, EventLog, MetadataStore
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService

HISTORY_JOB_KIND = "delivery-history-job"
HISTORY_COUNTER_KIND = "delivery-history-counter"
_TOKEN = re.compile(r"^[\x20-\x7e]{1,64}\Z")


class JobStatus:
    """A history job's status codes, as ActionTrail numbers them."""

    INITIALIZING = 0
    DELIVERING = 1
    COMPLETE = 2
    FAILED = 3
    RUNNING = (INITIALIZING, DELIVERING)


class DeliveryHistoryJobNotFound(ApiError):
    code = "DeliveryHistoryJobNotFound"
    http_status = 404


class DeliveryHistoryJobRunning(ApiError):
    """The account already has a job initializing or delivering."""

    code = "DeliveryHistoryJobLimitExceeded"
    http_status = 400


@dataclass(frozen=True, slots=True)
class HistoryJob:
    """One backfill of a trail: the log range it covers and how far it has got."""

    account_id: str
    job_id: int
    trail_name: str
    home_region: str
    client_token: str
    status: int
    created_time: int
    updated_time: int
    start_time: int
    end_time: int
    upto_seq: int
    cursor_seq: int
    delivered_events: int
    error: str


class HistoryJobService:
    """Creates, lists and deletes history jobs; the delivery engine runs them."""

    def __init__(
        self,
        metadata: MetadataStore,
        events: EventLog,
        trails: TrailService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._events = events
        self._trails = trails
        self._clock = clock

    def create(self, account_id: str, trail_name: str, client_token: str = "") -> HistoryJob:
        """A new job for the trail, or the job this ClientToken already created."""
        if client_token and not _TOKEN.match(client_token):
            raise InvalidParameter("ClientToken: 1-64 printable ASCII characters")
        trail = self._trails.get(account_id, trail_name)
        if not trail.destinations.max_compute_project_arn:
            raise InvalidParameter(
                f"the trail {trail_name} has no MaxCompute destination to backfill; set "
                "MaxComputeProjectArn first"
            )

        def attempt() -> HistoryJob:
            jobs = self.list_jobs(account_id)
            if client_token:
                for job in jobs:
                    if job.client_token == client_token:
                        return job
            running = [j for j in jobs if j.status in JobStatus.RUNNING]
            if running:
                raise DeliveryHistoryJobRunning(
                    f"history job {running[0].job_id} of trail {running[0].trail_name} is still "
                    "running; an account runs one at a time"
                )
            counter = self._metadata.get_document(HISTORY_COUNTER_KIND, account_id, "")
            job_id = (int(counter.body) if counter else 0) + 1
            now = int(self._clock())
            job = HistoryJob(
                account_id=account_id,
                job_id=job_id,
                trail_name=trail.name,
                home_region=trail.home_region,
                client_token=client_token,
                status=JobStatus.INITIALIZING,
                created_time=now,
                updated_time=now,
                start_time=0,
                end_time=0,
                upto_seq=self._history_end(trail),
                cursor_seq=0,
                delivered_events=0,
                error="",
            )
            self._metadata.commit(
                [
                    DocumentWrite(
                        HISTORY_COUNTER_KIND,
                        account_id,
                        "",
                        str(job_id).encode(),
                        counter.version if counter else 0,
                    ),
                    self.write(job, 0),
                ]
            )
            return job

        return retry_on_conflict(attempt, what=f"the history jobs of account {account_id}")

    def _history_end(self, trail: Trail) -> int:
        """Where the job's range ends: where the running session began (what follows is the
        live delivery's), or the log's end when the trail is not logging."""
        state, _ = read_state(self._metadata, trail)
        if trail.is_logging and state.covered:
            return min(self._events.last_seq(), state.covered[-1][0])
        return self._events.last_seq()

    def get(self, account_id: str, job_id: int) -> HistoryJob:
        """One job of the account, or DeliveryHistoryJobNotFound."""
        job, _ = read(self._metadata, HistoryJob, HISTORY_JOB_KIND, account_id, _name(job_id))
        if job is None:
            raise DeliveryHistoryJobNotFound(
                f"the delivery history job {job_id} does not exist in account {account_id}"
            )
        return job

    def list_jobs(self, account_id: str) -> list[HistoryJob]:
        """The account's jobs, newest first."""
        jobs = [
            decode(HistoryJob, d.body)
            for d in self._metadata.list_documents(HISTORY_JOB_KIND, account_id)
        ]
        return sorted(jobs, key=lambda j: j.job_id, reverse=True)

    def running(self) -> list[tuple[HistoryJob, int]]:
        """Every job still to run, with its document version."""
        found = []
        for document in self._metadata.list_documents(HISTORY_JOB_KIND):
            job = decode(HistoryJob, document.body)
            if job.status in JobStatus.RUNNING:
                found.append((job, document.version))
        return found

    def delete(self, account_id: str, job_id: int) -> None:
        """Delete a job. A running one stops: what it delivered stays, and the range it went
        through counts as covered, so that no later job delivers those events again."""

        def attempt() -> None:
            job, version = read(
                self._metadata, HistoryJob, HISTORY_JOB_KIND, account_id, _name(job_id)
            )
            if job is None:
                raise DeliveryHistoryJobNotFound(
                    f"the delivery history job {job_id} does not exist in account {account_id}"
                )
            writes = [DocumentWrite(HISTORY_JOB_KIND, account_id, _name(job_id), None, version)]
            if job.status in JobStatus.RUNNING and job.cursor_seq:
                trail = self._trail_of(job)
                if trail is not None:
                    state, state_version = read_state(self._metadata, trail)
                    covered = replace(state, covered=extend_coverage(state, 0, job.cursor_seq))
                    writes.append(state_write(covered, state_version))
            self._metadata.commit(writes)

        retry_on_conflict(attempt, what=f"history job {job_id}")

    def _trail_of(self, job: HistoryJob) -> Trail | None:
        try:
            return self._trails.get(job.account_id, job.trail_name)
        except ApiError:
            return None  # the trail is gone, and its coverage with it

    @staticmethod
    def write(job: HistoryJob, version: int) -> DocumentWrite:
        """The document write that stores `job` over `version`."""
        return DocumentWrite(
            HISTORY_JOB_KIND, job.account_id, _name(job.job_id), encode(job), version
        )

    def finish(self, job: HistoryJob, version: int, trail: Trail) -> None:
        """Mark the job complete and add its range to the trail's covered ranges, together."""

        def attempt() -> None:
            state, state_version = read_state(self._metadata, trail)
            done = replace(
                job,
                status=JobStatus.COMPLETE,
                updated_time=int(self._clock()),
                end_time=int(self._clock()),
                cursor_seq=job.upto_seq,
            )
            covered = replace(state, covered=extend_coverage(state, 0, job.upto_seq))
            try:
                self._metadata.commit(
                    [self.write(done, version), state_write(covered, state_version)]
                )
            except VersionConflict:
                current = self._metadata.get_document(
                    HISTORY_JOB_KIND, job.account_id, _name(job.job_id)
                )
                if current is None or current.version != version:
                    return  # deleted or moved on meanwhile: whoever changed it owns it now
                raise  # the trail's state moved on: read it again

        retry_on_conflict(attempt, what=f"the delivery state of trail {trail.name}")

    def fail(self, job: HistoryJob, version: int, message: str) -> None:
        """Mark the job failed with a message saying why."""
        failed = replace(
            job,
            status=JobStatus.FAILED,
            error=message,
            updated_time=int(self._clock()),
            end_time=int(self._clock()),
        )
        # Deleted or moved on meanwhile: the worker that moved it meets the failure and records it.
        with contextlib.suppress(VersionConflict):
            self._metadata.commit([self.write(failed, version)])


def _name(job_id: int) -> str:
    return f"{job_id:012d}"
