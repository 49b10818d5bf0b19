"""SQL jobs: queued under their quota, run, paged, cancelled, priced, recovered after a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    WarehouseFixture,
    logged_events,
    open_test_warehouse,
    root,
)

from trailhouse.errors import (
    InvalidParameter,
    JobNotFound,
    NoPermission,
    QuotaExceeded,
    SqlSemanticError,
)
from trailhouse.store.documents import encode
from trailhouse.store.ports import DocumentWrite
from trailhouse.warehouse.model import JOB_KIND, RUNNER_KIND, JobStatus, Role, SqlJob
from trailhouse.warehouse.pricing import BYTES_PER_GB
from trailhouse.warehouse.sql import duckdb_engine
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import EngineError, JobControl, Limits

TABLE = "actiontrail_audit_trail"


def slow_sql() -> str:
    """A query that streams billions of rows without holding them: minutes, unless cancelled."""
    return (
        "SELECT SUM(LENGTH(a.event_id) + LENGTH(b.event_id) + LENGTH(c.event_id)) "
        f"FROM {TABLE} a CROSS JOIN {TABLE} b CROSS JOIN {TABLE} c"
    )


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(
        tmp_path / "data", payg_concurrency=1, sql_queue_limit=2, sql_result_rows=50
    )
    opened.append(logged_events(3000, days=4))
    yield opened
    opened.close()


def submit(tw: WarehouseFixture, sql: str) -> SqlJob:
    return tw.warehouse.jobs.submit(root(), tw.project, sql)


def test_a_job_runs_and_records_what_it_read_and_cost(tw: WarehouseFixture) -> None:
    sql = f"SELECT event_name, COUNT(*) c FROM {TABLE} GROUP BY event_name ORDER BY c DESC LIMIT 5"
    job = submit(tw, sql)
    assert job.status in {JobStatus.WAITING, JobStatus.RUNNING}
    done = tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
    assert done.status == JobStatus.TERMINATED, done.error_message
    files = tw.warehouse.catalog.files(tw.table)
    assert done.input_bytes == sum(f.column_bytes["event_name"] for f in files)
    assert done.complexity == 1.0
    expected = done.input_bytes / BYTES_PER_GB * 1.0 * tw.settings.sql_price_per_gb
    assert done.cost_usd == pytest.approx(expected)
    assert done.rows == 5 and done.progress == 1.0
    assert done.billed_account == ACCOUNT and done.submitted_by == ACCOUNT
    result = tw.warehouse.jobs.result(root(), job.job_id)
    assert result.columns == ("event_name", "c")
    counts = [row[1] for row in result.rows]
    assert counts == sorted(counts, reverse=True) and sum(counts) > 0


def test_results_are_paged_and_cut_at_the_row_limit(tw: WarehouseFixture) -> None:
    job = submit(tw, f"SELECT event_id FROM {TABLE}")
    done = tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
    assert done.rows == 50 and done.truncated  # sql_result_rows = 50
    first = tw.warehouse.jobs.result(root(), job.job_id, 0, 30)
    second = tw.warehouse.jobs.result(root(), job.job_id, 30, 30)
    assert len(first.rows) == 30 and first.truncated
    assert len(second.rows) == 20 and not second.truncated
    assert not {r[0] for r in first.rows} & {r[0] for r in second.rows}


def test_cost_sql_prices_without_running(tw: WarehouseFixture) -> None:
    job = submit(tw, f"COST SQL SELECT DISTINCT user_name FROM {TABLE} ORDER BY user_name LIMIT 3")
    assert job.status == JobStatus.TERMINATED and job.kind == "cost"
    rows = dict(tw.warehouse.jobs.result(root(), job.job_id).rows)
    files = tw.warehouse.catalog.files(tw.table)
    assert rows["Input"] == sum(f.column_bytes["user_name"] for f in files)
    assert rows["Complexity"] == 1.0  # DISTINCT + ORDER BY + 1
    bill = tw.warehouse.metering.bill(ACCOUNT, "20000101", "20991231")
    assert [line for line in bill if line.item == "sql"] == []


def test_jobs_over_the_quota_concurrency_wait_and_the_queue_has_a_limit(
    tw: WarehouseFixture,
) -> None:
    first = submit(tw, slow_sql())
    deadline = time.time() + 30
    while tw.warehouse.jobs.get(root(), first.job_id).status != JobStatus.RUNNING:
        assert time.time() < deadline
        time.sleep(0.02)
    second = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    third = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    with pytest.raises(QuotaExceeded, match="runs 1 jobs at once and already has 2 waiting"):
        submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    assert tw.warehouse.jobs.get(root(), second.job_id).status == JobStatus.WAITING
    cancelled = tw.warehouse.jobs.cancel(root(), first.job_id)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.cost_usd == 0.0
    for job in (second, third):
        done = tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
        assert done.status == JobStatus.TERMINATED
        assert done.queue_seconds > 0
    assert tw.warehouse.jobs.result(root(), second.job_id).rows == [[3000]]


def test_a_job_cancelled_while_waiting_never_runs(tw: WarehouseFixture) -> None:
    first = submit(tw, slow_sql())
    waiting = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    assert tw.warehouse.jobs.cancel(root(), waiting.job_id).status == JobStatus.CANCELLED
    tw.warehouse.jobs.cancel(root(), first.job_id)
    with pytest.raises(InvalidParameter, match="is Cancelled"):
        tw.warehouse.jobs.result(root(), waiting.job_id)


def test_an_unknown_column_is_refused_before_a_job_exists(tw: WarehouseFixture) -> None:
    with pytest.raises(SqlSemanticError, match="no_such_column"):
        submit(tw, f"SELECT no_such_column FROM {TABLE}")
    assert tw.warehouse.jobs.list_jobs(root()) == []


def test_only_the_submitter_or_a_project_admin_sees_a_job(tw: WarehouseFixture) -> None:
    shared = tw.warehouse.catalog.set_member(
        root(), REGION, tw.project.name, OTHER_ACCOUNT, Role.READER
    )
    reader = root(OTHER_ACCOUNT)
    job = tw.warehouse.jobs.submit(reader, shared, f"SELECT COUNT(*) FROM {TABLE}")
    tw.warehouse.jobs.wait(reader, job.job_id, timeout=60)
    assert job.billed_account == ACCOUNT  # the project's owner pays
    with pytest.raises(JobNotFound):
        tw.warehouse.jobs.get(root(), job.job_id)  # kept under the submitter's account
    assert [j.job_id for j in tw.warehouse.jobs.list_jobs(reader)] == [job.job_id]
    stranger_project = tw.warehouse.catalog.ensure_project(OTHER_ACCOUNT, REGION, "other_data")
    with pytest.raises(NoPermission, match="no Select privilege on project other_data"):
        tw.warehouse.jobs.submit(root(), stranger_project, "SELECT 1")


def test_jobs_left_running_by_a_crash_are_marked_failed(tw: WarehouseFixture) -> None:
    job = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
    stuck = replace(job, status=JobStatus.RUNNING, job_id="stuck-job", runner="a-killed-process")
    tw.metadata.commit([DocumentWrite(JOB_KIND, ACCOUNT, "stuck-job", encode(stuck), 0)])
    assert tw.warehouse.jobs.recover() == 1
    recovered = tw.warehouse.jobs.get(root(), "stuck-job")
    assert recovered.status == JobStatus.FAILED
    assert "stopped while the job" in recovered.error_message


def test_jobs_are_counted_by_status_across_accounts(tw: WarehouseFixture) -> None:
    assert tw.warehouse.jobs.count_by_status() == {}
    job = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
    elsewhere = replace(job, status=JobStatus.FAILED, job_id="other-job", billed_account="1")
    tw.metadata.commit([DocumentWrite(JOB_KIND, "1", "other-job", encode(elsewhere), 0)])
    assert tw.warehouse.jobs.count_by_status() == {JobStatus.TERMINATED: 1, JobStatus.FAILED: 1}


def test_threads_do_not_leak_after_close(tmp_path: Path) -> None:
    opened = open_test_warehouse(tmp_path / "data")
    opened.append(logged_events(100))
    job = opened.warehouse.jobs.submit(root(), opened.project, slow_sql())
    opened.close()
    assert not any(t.name == f"sql-{job.job_id}" and t.is_alive() for t in threading.enumerate())


def test_a_job_that_outgrows_its_quotas_memory_fails_free(tmp_path: Path) -> None:
    opened = open_test_warehouse(tmp_path / "data", payg_memory_gb=0.1)
    try:
        opened.append(logged_events(3000))
        job = opened.warehouse.jobs.submit(
            root(),
            opened.project,
            "SELECT SIZE(COLLECT_LIST(CONCAT(a.event, b.event))) "
            f"FROM {TABLE} a CROSS JOIN {TABLE} b",
        )
        done = opened.warehouse.jobs.wait(root(), job.job_id, timeout=120)
        assert done.status == JobStatus.FAILED
        assert done.error_code == QuotaExceeded.code
        assert "more than its quota's 0.1 GB of memory" in done.error_message
        assert done.cost_usd == 0.0
    finally:
        opened.close()


def test_another_live_process_keeps_its_jobs_until_it_stops_beating(tw: WarehouseFixture) -> None:
    from trailhouse.warehouse.jobs import RUNNER_STALE_SECONDS, SqlJobService

    w = tw.warehouse
    moment = [time.time()]

    def another_process() -> SqlJobService:
        """A second process sharing the store, on the test's clock."""
        return SqlJobService(
            tw.settings,
            tw.metadata,
            w.catalog,
            w.quotas,
            w.planner,
            DuckDbEngine(tw.settings.data_dir),
            validate=lambda plan: None,
            clock=lambda: moment[0],
        )

    other = another_process()
    other.heartbeat()
    job = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    done = w.jobs.wait(root(), job.job_id, timeout=60)
    running = replace(done, job_id="theirs", status=JobStatus.RUNNING, runner=other.runner)
    tw.metadata.commit([DocumentWrite(JOB_KIND, ACCOUNT, "theirs", encode(running), 0)])
    w.jobs.heartbeat()
    assert w.jobs.recover() == 0  # the other process is alive: its job is left alone
    moment[0] += RUNNER_STALE_SECONDS + 1
    w.jobs.heartbeat()  # only this process beats on
    assert another_process().recover() == 1
    assert w.jobs.get(root(), "theirs").status == JobStatus.FAILED
    other.close()


def test_a_process_alone_on_its_store_ends_a_killed_predecessors_jobs_at_once(
    tw: WarehouseFixture,
) -> None:
    """On SQLite a server holds the store alone: a job of the process killed a moment ago (its
    beat still fresh) ends at start-up, not a minute later."""
    w = tw.warehouse
    job = submit(tw, f"SELECT COUNT(*) FROM {TABLE}")
    done = w.jobs.wait(root(), job.job_id, timeout=60)
    killed = "a-runner-that-beat-just-now"
    tw.metadata.commit(
        [
            DocumentWrite(RUNNER_KIND, "", killed, orjson.dumps({"beat": time.time()}), 0),
            DocumentWrite(
                JOB_KIND,
                ACCOUNT,
                "killed",
                encode(replace(done, job_id="killed", status=JobStatus.RUNNING, runner=killed)),
                0,
            ),
        ]
    )
    assert w.jobs.recover() == 0  # sharing a store, it waits for the beat to go stale
    assert w.jobs.recover(alone=True) == 1
    assert w.jobs.get(root(), "killed").status == JobStatus.FAILED


def test_a_refused_job_can_be_kept_as_failed_and_free(tw: WarehouseFixture) -> None:
    """What MaxCompute instances need: SQL refused while planning kept as a Failed job."""
    sql = f"SELECT nope FROM {TABLE}"
    with pytest.raises(SqlSemanticError) as refused:
        submit(tw, sql)
    jobs = tw.warehouse.jobs
    kept = jobs.record_refused(root(), tw.project, sql, refused.value.code, refused.value.message)
    got = jobs.get(root(), kept.job_id)
    assert got.status == JobStatus.FAILED and got.cost_usd == 0 and got.input_bytes == 0
    assert (got.error_code, got.error_message) == (refused.value.code, refused.value.message)
    assert got.sql == sql and got.quota == tw.project.quota and got.finished_at > 0
    assert kept.job_id in [j.job_id for j in jobs.list_jobs(root())]
    assert jobs.wait(root(), kept.job_id).status == JobStatus.FAILED  # nothing runs
    with pytest.raises(InvalidParameter, match="is Failed"):
        jobs.result(root(), kept.job_id)


def test_running_queries_report_progress_through_one_shared_watcher(
    tw: WarehouseFixture, tmp_path: Path
) -> None:
    """Each running DuckDB query's progress reaches its job control, read by one thread for
    all of them (a thread started per query cost each a thread start and a join)."""
    engine = DuckDbEngine(tmp_path / "spill")
    plan = tw.warehouse.planner.plan(root(), tw.project, slow_sql()).plan
    assert plan is not None
    controls = [JobControl(), JobControl()]
    outcomes: list[BaseException | None] = [None, None]

    def work(index: int) -> None:
        try:
            engine.run(plan, Limits(1, 1.0, 10), controls[index])
        except BaseException as exc:
            outcomes[index] = exc

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while any(c.progress == 0.0 for c in controls) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(0.0 < c.progress < 1.0 for c in controls), [c.progress for c in controls]
        watchers = [t for t in threading.enumerate() if t.name == "sql-progress"]
        assert len(watchers) == 1, watchers
    finally:
        for control in controls:
            control.cancel()
        for worker in workers:
            worker.join(timeout=30)
    assert all(isinstance(o, EngineError) and o.kind == "cancelled" for o in outcomes), outcomes


def test_planning_lends_its_duckdb_connections_again(
    tw: WarehouseFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Binding a query at submit opens no DuckDB connection of its own each time (opening one
    cost more CPU than planning); refusals still come, and leave the connection usable."""
    opened: list[object] = []
    real_connect = duckdb_engine.duckdb.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        con = real_connect(*args, **kwargs)
        opened.append(con)
        return con

    monkeypatch.setattr(duckdb_engine.duckdb, "connect", counted)
    for _ in range(3):
        with pytest.raises(SqlSemanticError, match="no_such_column"):
            submit(tw, f"SELECT no_such_column FROM {TABLE}")
        job = submit(tw, f"SELECT COUNT(*) FROM {TABLE} WHERE ds >= '2000' || '0101'")
        done = tw.warehouse.jobs.wait(root(), job.job_id, timeout=60)
        assert done.status == JobStatus.TERMINATED, done.error_message
        assert tw.warehouse.jobs.result(root(), job.job_id).rows == [[3000]]
    # Each job's own connection (3), and one for planning, not one per query bound or folded.
    assert len(opened) == 4, len(opened)
