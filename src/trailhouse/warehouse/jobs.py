"""SQL jobs: submitted, queued under their project's quota, run on the engine, metered, kept.

A submission is planned at once, so bad SQL, an unknown table or a missing privilege is refused
before a job exists; planning runs in a planning thread under `sql_plan_seconds`
(`sql/bounded.py`), so no statement holds the request thread or the process for long. A planned
job waits for a slot of its quota (at most `concurrency` run at once; more than
`sql_queue_limit` waiting are refused) and for its memory to fit in the process's
`sql_memory_budget_gb` beside the running jobs, runs with the quota's threads and memory for at
most `sql_job_seconds`, and records its bytes, complexity, cost, duration and status. Queue time
is recorded apart and never billed; failed and cancelled jobs cost nothing. `COST SQL` jobs only
price.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson
from sqlglot import exp

from trailhouse.background import Deadlines
from trailhouse.errors import (
    ApiError,
    InvalidParameter,
    JobCancelled,
    JobNotFound,
    JobTimedOut,
    NoPermission,
    ProjectNotFound,
    QuotaExceeded,
    ServiceUnavailable,
    SqlSemanticError,
    SqlTooComplex,
)
from trailhouse.iam.principals import Caller
from trailhouse.metrics import INTERNAL_ERRORS, Counters
from trailhouse.settings import Settings
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse import access
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.job_writes import JobWriter
from trailhouse.warehouse.model import (
    JOB_KIND,
    RUNNER_KIND,
    WRITE_KIND,
    JobStatus,
    Privilege,
    Project,
    Quota,
    SqlJob,
)
from trailhouse.warehouse.pricing import sql_cost
from trailhouse.warehouse.quotas import MemoryBudget, QuotaGate, QuotaService
from trailhouse.warehouse.sql.bounded import BoundedPlanning, PlannersBusy, PlanningTimedOut
from trailhouse.warehouse.sql.diagnostics import scrub, semantic_failure
from trailhouse.warehouse.sql.dialect import UnsupportedSql
from trailhouse.warehouse.sql.engine import (
    Engine,
    EngineError,
    JobControl,
    Limits,
    ParquetWriter,
    QueryPlan,
    ResultSet,
)
from trailhouse.warehouse.sql.planner import PlannedQuery, Planner, check_text, too_deep
from trailhouse.warehouse.sql.runtime_errors import runtime_error
from trailhouse.warehouse.write_jobs import NO_ROWS, run_write

log = logging.getLogger(__name__)

RUNNER_BEAT_SECONDS = 10.0
# A process whose heartbeat is this old has stopped: its unfinished jobs are failed.
RUNNER_STALE_SECONDS = 60.0


class SqlJobService:
    """Submits, runs, cancels and reports SQL jobs."""

    def __init__(
        self,
        settings: Settings,
        metadata: MetadataStore,
        catalog: Catalog,
        quotas: QuotaService,
        planner: Planner,
        engine: Engine,
        validate: Callable[[QueryPlan], None],
        clock: Callable[[], float] = time.time,
        counters: Counters | None = None,
        job_writer: JobWriter | None = None,
    ) -> None:
        self._settings = settings
        self._metadata = metadata
        self._catalog = catalog
        self._quotas = quotas
        self._planner = planner
        self._engine = engine
        self._validate = validate
        self._clock = clock
        self._counters = counters or Counters()
        self._results = settings.data_dir / "sql-results"
        self._job_writer = job_writer or JobWriter(settings.warehouse_path, metadata, catalog)
        self._runner = uuid.uuid4().hex
        self._gates: dict[tuple[str, str, str], QuotaGate] = {}
        self._controls: dict[str, JobControl] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._budget = MemoryBudget(settings.sql_memory_budget_gb)
        self._planning = BoundedPlanning(settings.sql_plan_concurrency, settings.sql_plan_seconds)

    def on_clock(self, clock: Callable[[], float]) -> SqlJobService:
        """This service's engine, stores and planner with another clock: jobs it runs are dated
        by `clock`. The demo runs its past days' jobs with it, as their loads are sampled for
        the hours they stand for, so the bill shows SQL usage on each day."""
        return SqlJobService(
            self._settings,
            self._metadata,
            self._catalog,
            self._quotas,
            self._planner,
            self._engine,
            self._validate,
            clock,
            self._counters,
            self._job_writer,
        )

    @property
    def memory_budget(self) -> MemoryBudget:
        """The memory all running jobs of this process share."""
        return self._budget

    @property
    def engine_name(self) -> str:
        """The engine jobs run on."""
        return self._engine.name

    def start_engine(self) -> None:
        """Make the engine ready for jobs now (Spark's session); returns once it is."""
        self._engine.start()

    @property
    def runner(self) -> str:
        """This process's runner id, which its jobs carry."""
        return self._runner

    def heartbeat(self) -> None:
        """Say this process is alive and running its jobs (every RUNNER_BEAT_SECONDS)."""
        found = self._metadata.get_document(RUNNER_KIND, "", self._runner)
        beat = orjson.dumps({"beat": self._clock()})
        self._metadata.commit(
            [DocumentWrite(RUNNER_KIND, "", self._runner, beat, found.version if found else 0)]
        )

    def recover(self, alone: bool = False) -> int:
        """Mark as Failed the jobs left Waiting or Running by a process that stopped beating
        (crashed or killed); return how many jobs it ended. Other live processes' jobs are left
        alone, and a process that beat within RUNNER_STALE_SECONDS may be one; `alone` says no
        other process can be running jobs (a store that admits one process, at start-up), so
        every other process's jobs end now. A write job whose commit went through before the
        crash is marked Terminated instead: its rows are in the table, and a client told Failed
        would run it again and double them."""
        alive = {self._runner} if alone else self._live_runners()
        ended = 0
        committed: set[str] | None = None
        for document in self._metadata.list_documents(JOB_KIND):
            job = decode(SqlJob, document.body)
            if job.status not in JobStatus.FINAL and job.runner not in alive:
                if job.kind == "write":
                    if committed is None:  # every write's marker, read once and only if needed
                        committed = {d.name for d in self._metadata.list_documents(WRITE_KIND)}
                    if job.job_id in committed:
                        done = replace(
                            job,
                            status=JobStatus.TERMINATED,
                            finished_at=self._clock(),
                            progress=1.0,
                        )
                        self._write_result(done, NO_ROWS)
                        self._save(done)
                        ended += 1
                        continue
                self._save(
                    replace(
                        job,
                        status=JobStatus.FAILED,
                        finished_at=self._clock(),
                        error_code="InternalError",
                        error_message="the server stopped while the job was queued or running",
                    )
                )
                ended += 1
        return ended

    def _live_runners(self) -> set[str]:
        stale = self._clock() - RUNNER_STALE_SECONDS
        return {self._runner} | {
            d.name
            for d in self._metadata.list_documents(RUNNER_KIND, "")
            if orjson.loads(d.body)["beat"] >= stale
        }

    def submit(
        self,
        caller: Caller,
        project: Project,
        sql: str,
        settings: Mapping[str, str] | None = None,
    ) -> SqlJob:
        """Plan and queue a job (or price it, for COST SQL) under the job's `settings` (SET
        flags, as also given by `SET key=value;` lines before the query); refusals raise before
        any job."""
        check_text(sql)
        access.require(caller, project, Privilege.SELECT)
        planned = self._plan(caller, project, sql, settings or {})
        self._refuse_unwritable(planned)
        quota = self._quotas.get(project.owner, project.region, project.quota)
        now = self._clock()
        job = SqlJob(
            job_id=_new_job_id(now),
            account_id=caller.account_id,
            billed_account=project.owner,
            submitted_by=access.member_name(caller),
            region=project.region,
            project=project.name,
            quota=quota.name,
            engine=self._engine.name,
            sql=sql,
            kind="cost" if planned.is_cost else ("write" if planned.write else "query"),
            status=JobStatus.WAITING,
            submitted_at=now,
            started_at=0.0,
            finished_at=0.0,
            input_bytes=planned.input_bytes,
            complexity=planned.complexity,
            cost_usd=sql_cost(planned.input_bytes, planned.complexity, quota, self._settings),
            partitions_read=sum(len(s.partitions_read) for s in planned.scans),
            partitions_total=sum(s.partitions_total for s in planned.scans),
            rows=0,
            truncated=False,
            error_code="",
            error_message="",
            progress=0.0,
            runner=self._runner,
        )
        if planned.is_cost:
            finished = replace(job, status=JobStatus.TERMINATED, finished_at=now, progress=1.0)
            priced = _cost_result(finished, planned)
            finished = replace(finished, rows=len(priced.rows))
            self._write_result(finished, priced)
            self._save(finished, created=True)
            return finished
        gate = self._gate(quota)
        gate.reserve(quota)
        control = JobControl()
        self._save(job, created=True)
        thread = threading.Thread(
            target=self._run, args=(job, planned, quota, gate, control), name=f"sql-{job.job_id}"
        )
        with self._lock:
            self._controls[job.job_id] = control
            self._threads[job.job_id] = thread
        thread.start()
        return job

    def record_refused(
        self, caller: Caller, project: Project, sql: str, code: str, message: str
    ) -> SqlJob:
        """Keep a job refused while planning as Failed (free, nothing read), for callers that,
        like MaxCompute's instances, report bad SQL as a failed job with an id."""
        now = self._clock()
        job = SqlJob(
            job_id=_new_job_id(now),
            account_id=caller.account_id,
            billed_account=project.owner,
            submitted_by=access.member_name(caller),
            region=project.region,
            project=project.name,
            quota=project.quota,
            engine=self._engine.name,
            sql=sql,
            kind="query",
            status=JobStatus.FAILED,
            submitted_at=now,
            started_at=0.0,
            finished_at=now,
            input_bytes=0,
            complexity=0.0,
            cost_usd=0.0,
            partitions_read=0,
            partitions_total=0,
            rows=0,
            truncated=False,
            error_code=code,
            error_message=message,
            progress=0.0,
            runner=self._runner,
        )
        self._save(job, created=True)
        return job

    def _plan(
        self, caller: Caller, project: Project, sql: str, settings: Mapping[str, str]
    ) -> PlannedQuery:
        """Plan and bind `sql` in a planning thread, within `sql_plan_seconds`."""

        def plan() -> PlannedQuery:
            planned = self._planner.plan(caller, project, sql, settings)
            try:
                if planned.plan is not None:
                    self._validate(planned.plan)
            except RecursionError:
                raise too_deep() from None
            return planned

        seconds = self._planning.seconds
        try:
            return self._planning.run(plan)
        except PlanningTimedOut:
            raise SqlTooComplex(
                f"Parse exception - planning the SQL took longer than {seconds:g} seconds and was "
                "stopped; simplify it: an IN list rather than a long chain of OR, fewer or "
                "smaller constant expressions, WITH clauses for repeated parts"
            ) from None
        except PlannersBusy:
            raise ServiceUnavailable(
                f"every SQL planner stayed busy for {seconds:g} seconds; submit the job again "
                "in a moment"
            ) from None

    def _refuse_unwritable(self, planned: PlannedQuery) -> None:
        """Refuse, naming the engine, a write or a read of a user's table that this engine
        cannot do (Spark reads audit tables only; CREATE and DROP TABLE need no engine)."""
        if isinstance(self._engine, ParquetWriter) or planned.is_cost:
            return
        if planned.plan is not None and (planned.write or planned.reads_user_tables):
            what = planned.write.statement.kind if planned.write else "reading a user's table"
            raise SqlSemanticError(
                f"Semantic analysis exception - {what} is not supported on the "
                f"{self._engine.name} engine, which reads audit tables only; run it on a "
                "server whose engine is duckdb (docs/pyodps.md)"
            )

    def get(self, caller: Caller, job_id: str) -> SqlJob:
        """A job the caller submitted (or may see as its project's manager), with live progress."""
        job, _ = read(self._metadata, SqlJob, JOB_KIND, caller.account_id, job_id)
        if job is None:
            raise JobNotFound(f"no SQL job {job_id} of account {caller.account_id}")
        if job.submitted_by != access.member_name(caller) and not self._manages(caller, job):
            raise NoPermission(
                f"the SQL job {job_id} was submitted by {job.submitted_by}; only it or an Admin "
                f"of project {job.project} may see it"
            )
        control = self._controls.get(job_id)
        if control is not None and job.status == JobStatus.RUNNING:
            return replace(job, progress=control.progress)
        return job

    def wait(self, caller: Caller, job_id: str, timeout: float | None = None) -> SqlJob:
        """Wait for the job to end (or the timeout to pass) and return it."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(caller, job_id)

    def result(self, caller: Caller, job_id: str, offset: int = 0, limit: int = 1000) -> ResultSet:
        """A page of a finished job's rows (`truncated` says whether more rows follow)."""
        job = self.get(caller, job_id)
        if job.status != JobStatus.TERMINATED:
            raise InvalidParameter(
                f"the SQL job {job_id} is {job.status}; results exist once it is Terminated"
                + (f" ({job.error_code}: {job.error_message})" if job.error_message else "")
            )
        data = orjson.loads((self._results / f"{job_id}.json").read_bytes())
        rows = data["rows"]
        page = rows[offset : offset + limit]
        return ResultSet(
            tuple(data["columns"]), tuple(data["types"]), page, offset + limit < len(rows)
        )

    def cancel(self, caller: Caller, job_id: str) -> SqlJob:
        """Stop a waiting or running job; a finished job is left as it is."""
        job = self.get(caller, job_id)
        control = self._controls.get(job_id)
        if job.status not in JobStatus.FINAL and control is not None:
            control.cancel()
            self.wait(caller, job_id, timeout=30)
        return self.get(caller, job_id)

    def list_jobs(self, caller: Caller, project: str = "", limit: int = 100) -> list[SqlJob]:
        """The caller's account's jobs it may see, newest first."""
        jobs = [
            decode(SqlJob, d.body)
            for d in self._metadata.list_documents(JOB_KIND, caller.account_id)
        ]
        mine = access.member_name(caller)
        manages: dict[tuple[str, str], bool] = {}  # a project is read once, not once per job

        def may_see(job: SqlJob) -> bool:
            if job.submitted_by == mine:
                return True
            where = (job.region, job.project)
            if where not in manages:
                manages[where] = self._manages(caller, job)
            return manages[where]

        visible = [j for j in jobs if (not project or j.project == project) and may_see(j)]
        return sorted(visible, key=lambda j: j.submitted_at, reverse=True)[:limit]

    def jobs_billed_to(self, account_id: str) -> list[SqlJob]:
        """Every job that ran in a project of this account, whoever submitted it (for bills)."""
        jobs = (decode(SqlJob, d.body) for d in self._metadata.list_documents(JOB_KIND))
        return [job for job in jobs if job.billed_account == account_id]

    def count_by_status(self) -> dict[str, int]:
        """How many jobs every account keeps, by status (for `/metrics`)."""
        jobs = (decode(SqlJob, d.body) for d in self._metadata.list_documents(JOB_KIND))
        return dict(Counter(job.status for job in jobs))

    def close(self) -> None:
        """Cancel what is still running and wait for it."""
        with self._lock:
            controls = list(self._controls.values())
            threads = list(self._threads.values())
        for control in controls:
            control.cancel()
        for thread in threads:
            thread.join(timeout=30)
        self._engine.close()

    def _manages(self, caller: Caller, job: SqlJob) -> bool:
        try:
            project = self._catalog.get_project(job.region, job.project)
        except ProjectNotFound:  # deleted since: only its submitter still sees the job
            return False
        return access.may(caller, project, Privilege.MANAGE)

    def _gate(self, quota: Quota) -> QuotaGate:
        key = (quota.account_id, quota.region, quota.name)
        with self._lock:
            gate = self._gates.get(key)
            if gate is None:
                gate = QuotaGate(quota.concurrency, self._settings.sql_queue_limit)
                self._gates[key] = gate
            return gate

    def _run(
        self,
        job: SqlJob,
        planned: PlannedQuery,
        quota: Quota,
        gate: QuotaGate,
        control: JobControl,
    ) -> None:
        timed_out = threading.Event()
        try:
            if not gate.acquire(control):
                self._finish(job, JobStatus.CANCELLED, JobCancelled.code, "cancelled while queued")
                return
            try:
                memory = self._budget.limit_of(quota)
                if not self._budget.acquire(memory, control):
                    self._finish(
                        job, JobStatus.CANCELLED, JobCancelled.code, "cancelled while queued"
                    )
                    return
                try:
                    job = replace(job, status=JobStatus.RUNNING, started_at=self._clock())
                    self._save(job)
                    limits = Limits(quota.threads, memory, self._settings.sql_result_rows)
                    result = self._run_timed(job.job_id, planned, limits, control, timed_out)
                finally:
                    self._budget.release(memory)
            finally:
                gate.release()
        except EngineError as exc:
            if timed_out.is_set():
                self._finish(job, JobStatus.FAILED, *self._timed_out())
            else:
                tree = planned.plan.tree if planned.plan is not None else None
                self._finish(job, *_failure(exc, quota, job.sql, tree))
            return
        except ApiError as exc:  # a semantic error found while running; a write's refusal
            self._finish(job, JobStatus.FAILED, exc.code, exc.message)
            return
        except UnsupportedSql as exc:  # the engine cannot run a form the planner let through
            self._finish(
                job,
                JobStatus.FAILED,
                SqlSemanticError.code,
                f"Semantic analysis exception - {exc} (on the {self._engine.name} engine)",
            )
            return
        except Exception:  # the job fails, the service goes on; the details stay in the log
            log.exception("SQL job %s failed with an unexpected error", job.job_id)
            self._counters.add(INTERNAL_ERRORS, where="sql_job")
            self._finish(
                job,
                JobStatus.FAILED,
                "InternalError",
                f"the job failed with an internal error; the server log has the details under "
                f"job id {job.job_id}",
            )
            return
        finally:
            with self._lock:
                self._controls.pop(job.job_id, None)
        finished = replace(
            job,
            status=JobStatus.TERMINATED,
            finished_at=self._clock(),
            rows=len(result.rows),
            truncated=result.truncated,
            progress=1.0,
        )
        self._write_result(finished, result)
        self._save(finished)

    def _run_timed(
        self,
        job_id: str,
        planned: PlannedQuery,
        limits: Limits,
        control: JobControl,
        timed_out: threading.Event,
    ) -> ResultSet:
        """Run the plan, stopped after `sql_job_seconds` (and `timed_out` set) if still running."""

        def expire() -> None:
            timed_out.set()
            control.cancel()

        timer = _DEADLINES.schedule(self._settings.sql_job_seconds, expire)
        try:
            if planned.write is not None:
                engine = self._engine if isinstance(self._engine, ParquetWriter) else None
                return run_write(
                    job_id,
                    planned.write,
                    planned.plan,
                    engine,
                    limits,
                    control,
                    self._catalog,
                    self._job_writer,
                    self._settings.warehouse_path,
                )
            assert planned.plan is not None  # only a write plans no query
            return self._engine.run(planned.plan, limits, control)
        finally:
            _DEADLINES.cancel(timer)

    def _timed_out(self) -> tuple[str, str]:
        limit = self._settings.sql_job_seconds
        return (
            JobTimedOut.code,
            f"JobRunningTimeout - the job ran longer than {limit:g} seconds, the most a job may "
            "run (sql_job_seconds), and was stopped; read fewer partitions with a ds condition, "
            "or avoid joining large tables without a join condition",
        )

    def _finish(self, job: SqlJob, status: str, code: str, message: str) -> None:
        self._save(
            replace(
                job,
                status=status,
                finished_at=self._clock(),
                error_code=code,
                error_message=message,
                cost_usd=0.0,  # failed and cancelled jobs are free
            )
        )

    def _write_result(self, job: SqlJob, result: ResultSet) -> None:
        self._results.mkdir(parents=True, exist_ok=True)
        target = self._results / f"{job.job_id}.json"
        staged = target.with_suffix(".tmp")
        staged.write_bytes(
            orjson.dumps({"columns": result.columns, "types": result.types, "rows": result.rows})
        )
        os.replace(staged, target)

    def _save(self, job: SqlJob, created: bool = False) -> None:
        found = self._metadata.get_document(JOB_KIND, job.account_id, job.job_id)
        version = 0 if created or found is None else found.version
        self._metadata.commit(
            [DocumentWrite(JOB_KIND, job.account_id, job.job_id, encode(job), version)]
        )


# Every job's time limit, on one thread rather than a timer thread started per job.
_DEADLINES = Deadlines("sql-job-deadlines")


def _failure(
    error: EngineError, quota: Quota, sql: str, tree: exp.Expr | None = None
) -> tuple[str, str, str]:
    if error.kind == "cancelled":
        return JobStatus.CANCELLED, JobCancelled.code, error.message
    if error.kind == "memory":
        return JobStatus.FAILED, QuotaExceeded.code, f"{scrub(error.message)} (quota {quota.name})"
    if error.kind == "binder":
        diagnosis = semantic_failure(error.message, tree, sql)
        return JobStatus.FAILED, diagnosis.code, diagnosis.located(sql)
    diagnosis = runtime_error(error.message)
    return JobStatus.FAILED, diagnosis.code, diagnosis.message


def _cost_result(job: SqlJob, planned: PlannedQuery) -> ResultSet:
    rows: list[list[Any]] = [
        ["Input", job.input_bytes],
        ["Complexity", job.complexity],
        ["UDF", 0],
        ["Partitions", f"{job.partitions_read} of {job.partitions_total}"],
        ["Cost", f"{job.cost_usd:.6f} USD"],
    ]
    rows.extend([f"Input:{scan.project}.{scan.table}", scan.bytes] for scan in planned.scans)
    return ResultSet(("Item", "Value"), ("STRING", "STRING"), rows, False)


def _new_job_id(now: float) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    return f"{stamp}{int(now * 1000) % 1000:03d}g{secrets.token_hex(5)}"
