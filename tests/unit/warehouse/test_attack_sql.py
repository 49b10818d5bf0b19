"""SQL as an attacker writes it: read files, escape the plan, exhaust memory, time or planning.

Each attack is refused with a MaxCompute code and a message that says what to fix, or stopped
by a limit, and no engine's own text reaches the caller. The engine's sandbox is attacked
directly too, as if the planner had let something through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    WarehouseFixture,
    logged_events,
    open_test_warehouse,
    root,
)

from trailhouse.errors import ApiError, SqlTooComplex
from trailhouse.warehouse.model import JobStatus, Quota, SqlJob, project_name, table_name
from trailhouse.warehouse.quotas import MemoryBudget
from trailhouse.warehouse.sql.bounded import (
    BoundedPlanning,
    PlannersBusy,
    PlanningTimedOut,
)
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import EngineError, JobControl, Limits, QueryPlan, TableInput

TABLE = "actiontrail_audit_trail"
ENGINE_WORDS = ("Binder Error", "Catalog Error", "duckdb", "sqlglot", "Traceback", "Permission")


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(
        tmp_path / "data",
        payg_concurrency=2,
        sql_plan_seconds=3.0,
        sql_job_seconds=2.0,
        sql_memory_budget_gb=4.0,
    )
    opened.append(logged_events(400, days=2))
    yield opened
    opened.close()


def submit(tw: WarehouseFixture, sql: str) -> SqlJob:
    return tw.warehouse.jobs.submit(root(), tw.project, sql)


def refusal(tw: WarehouseFixture, sql: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        submit(tw, sql)
    message = str(caught.value)
    assert not any(word in message for word in ENGINE_WORDS), message
    return caught.value


FILE_ATTACKS = [
    ("SELECT * FROM read_parquet('/etc/passwd')", "ODPS-0130071", "reads files"),
    ("SELECT * FROM read_csv('/etc/passwd')", "ODPS-0130071", "reads files"),
    ("SELECT read_csv('/etc/passwd')", "ODPS-0130071", "READ_CSV reads files"),
    (f"SELECT * FROM {TABLE} WHERE ds = read_parquet('/etc/x')", "ODPS-0130071", "reads files"),
    ("SELECT * FROM read_text('/etc/passwd')", "ODPS-0130071", "READ_TEXT"),
    (
        f"SELECT * FROM {TABLE} WHERE ds IN (SELECT content FROM read_text('/etc/passwd'))",
        "ODPS-0130071",
        "READ_TEXT",
    ),
    ("SELECT * FROM glob('/**')", "ODPS-0130071", "function or view GLOB cannot be resolved"),
    ("SELECT * FROM '/etc/passwd'", "ODPS-0130131", "cannot be resolved"),
    ('SELECT * FROM "/etc/passwd"', "ODPS-0130131", "cannot be resolved"),
    ("COPY (SELECT 1) TO '/tmp/stolen.csv'", "ODPS-0130071", "not COPY"),
    ("ATTACH '/tmp/other.db' AS o", "ODPS-0130161", "Parse exception"),
    ("INSTALL httpfs", "ODPS-0130071", "only SELECT"),
    ("LOAD httpfs", "ODPS-0130071", "only SELECT"),
    ("SET memory_limit = '100GB'", "ODPS-0130071", "only SELECT"),
    ("PRAGMA enable_external_access", "ODPS-0130071", "only SELECT"),
    ("SELECT getenv('HOME')", "ODPS-0130071", "GETENV"),
    ("SELECT current_setting('memory_limit')", "ODPS-0130071", "CURRENT_SETTING"),
    ("SELECT * FROM query('SELECT 1')", "ODPS-0130071", "QUERY"),
    ("SELECT REPEAT('x', 1500000000)", "ODPS-0130071", "at most 2097152"),
    ("SELECT LPAD('x', 1000000000, 'y')", "ODPS-0130071", "at most 2097152"),
    (f"SELECT 1; SELECT * FROM {TABLE}", "ODPS-0130071", "one statement"),
]


@pytest.mark.parametrize(("sql", "code", "says"), FILE_ATTACKS)
def test_sql_that_reaches_for_files_or_settings_is_refused(
    tw: WarehouseFixture, sql: str, code: str, says: str
) -> None:
    error = refusal(tw, sql)
    assert error.code == code and says in str(error), str(error)


def test_another_tenants_table_needs_its_grant_whatever_the_query_calls_it(
    tw: WarehouseFixture,
) -> None:
    other = tw.warehouse.catalog.ensure_project(OTHER_ACCOUNT, tw.project.region, "other_data")
    tw.warehouse.catalog.ensure_table(other, table_name("secret"))
    sql = "WITH actiontrail_secret AS (SELECT 1 AS x) SELECT * FROM other_data.actiontrail_secret"
    assert refusal(tw, sql).code == "NoPermission"


def _plan_reading(tw: WarehouseFixture, sql: str) -> QueryPlan:
    """A plan of this account's table whose tree, as if the planner had missed it, is `sql`."""
    files = tuple(
        tw.settings.data_dir / "warehouse" / f.path for f in tw.warehouse.catalog.files(tw.table)
    )
    columns = ("event_name", "ds")
    table = TableInput("__t0", TABLE, files, tw.settings.data_dir / "warehouse", columns)
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, sqlglot.exp.Query)
    return QueryPlan(tree, (table,))


def _run_directly(tw: WarehouseFixture, plan: QueryPlan) -> EngineError:
    engine = DuckDbEngine(tw.settings.data_dir / "sql-spill")
    with pytest.raises(EngineError) as caught:
        engine.run(plan, Limits(1, 0.5, 10), JobControl())
    return caught.value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/**')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_parquet('{other}')",
        "SELECT * FROM read_parquet('{warehouse}/**/*.parquet')",
        "SELECT * FROM parquet_metadata('{other}')",
    ],
)
def test_the_engine_reads_only_the_plans_files_even_when_the_planner_misses_an_attack(
    tw: WarehouseFixture, sql: str
) -> None:
    # Another tenant's file in the same warehouse folder, next to this tenant's.
    victim = tw.settings.data_dir / "warehouse" / "cn-hangzhou" / project_name(OTHER_ACCOUNT)
    victim.mkdir(parents=True)
    mine = tw.settings.data_dir / "warehouse" / tw.warehouse.catalog.files(tw.table)[0].path
    stolen = victim / "part-stolen.parquet"
    stolen.write_bytes(mine.read_bytes())
    attack = sql.format(other=stolen, warehouse=tw.settings.data_dir / "warehouse")
    error = _run_directly(tw, _plan_reading(tw, attack))
    assert error.kind == "other", error.message
    assert "root:" not in error.message and "PAR1" not in error.message


def test_the_plans_own_files_still_read(tw: WarehouseFixture) -> None:
    engine = DuckDbEngine(tw.settings.data_dir / "sql-spill")
    result = engine.run(
        _plan_reading(tw, "SELECT COUNT(*) FROM __t0"), Limits(1, 0.5, 10), JobControl()
    )
    assert result.rows == [[400]]


CTE_CASES = [
    # A CTE named like the table: the query reads the CTE.
    (f"WITH {TABLE} AS (SELECT 7 AS n) SELECT * FROM {TABLE}", [[7]]),
    # A CTE of a subquery does not reach outside it: the outer name is the table.
    (
        f"SELECT (SELECT COUNT(*) FROM {TABLE}) AS n FROM "
        f"(WITH {TABLE} AS (SELECT 1 AS x) SELECT x FROM {TABLE}) s",
        [[400]],
    ),
    # Inside its own definition a (non-recursive) CTE's name is the table.
    (f"WITH {TABLE} AS (SELECT COUNT(*) AS n FROM {TABLE}) SELECT n + 1 FROM {TABLE}", [[401]]),
    # A later CTE sees an earlier one.
    ("WITH a AS (SELECT 2 AS n), b AS (SELECT n * 3 AS n FROM a) SELECT n FROM b", [[6]]),
    # A CTE named like another tenant's table is only that CTE.
    (
        f"WITH actiontrail_other AS (SELECT 5 AS n), {project_name(OTHER_ACCOUNT)} AS "
        f"(SELECT 6 AS n) SELECT (SELECT n FROM actiontrail_other) + "
        f"(SELECT n FROM {project_name(OTHER_ACCOUNT)}) AS n",
        [[11]],
    ),
]


@pytest.mark.parametrize(("sql", "rows"), CTE_CASES)
def test_cte_names_are_scoped_as_sql_scopes_them(
    tw: WarehouseFixture, sql: str, rows: list[list[int]]
) -> None:
    job = tw.warehouse.jobs.wait(root(), submit(tw, sql).job_id, timeout=60)
    assert job.status == JobStatus.TERMINATED, job.error_message
    assert tw.warehouse.jobs.result(root(), job.job_id).rows == rows


def _or_chain(terms: int) -> str:
    return f"SELECT COUNT(*) FROM {TABLE} WHERE " + " OR ".join(f"ds={i}" for i in range(terms))


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        (_or_chain(100_000), "100k OR terms"),
        ("SELECT " + " + ".join("1" for _ in range(100_000)), "100k additions"),
        (f"SELECT 1 FROM {TABLE} WHERE ds = " + "||".join(["'x'"] * 200_000), "concatenation"),
    ],
)
def test_planning_is_refused_within_its_bound_and_the_process_stays_responsive(
    tw: WarehouseFixture, sql: str, what: str
) -> None:
    beats: list[float] = []
    stop = threading.Event()

    def heartbeat() -> None:  # another request's work, beside the attack
        while not stop.is_set():
            started = time.monotonic()
            tw.warehouse.jobs.list_jobs(root())
            beats.append(time.monotonic() - started)
            time.sleep(0.05)

    beside = threading.Thread(target=heartbeat)
    beside.start()
    started = time.monotonic()
    try:
        error = refusal(tw, sql)
    finally:
        stop.set()
        beside.join()
    took = time.monotonic() - started
    assert error.code == "ODPS-0130161", (what, str(error))
    assert isinstance(error, SqlTooComplex), (what, str(error))
    assert took < tw.settings.sql_plan_seconds + 3, (what, took)
    assert beats and max(beats) < 1.0, (what, max(beats))
    # The planner is free again: an ordinary query plans at once.
    assert submit(tw, f"SELECT COUNT(*) FROM {TABLE}").status != JobStatus.FAILED


def test_a_cross_join_of_the_table_with_itself_is_stopped_by_the_time_limit(
    tw: WarehouseFixture,
) -> None:
    # Five times: 400^4 rows is counted in about the 2 s limit itself on an idle core (DuckDB
    # counts a cross product fast), 400^5 in hours.
    sql = f"SELECT COUNT(*) FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d, {TABLE} e"
    started = time.monotonic()
    job = tw.warehouse.jobs.wait(root(), submit(tw, sql).job_id, timeout=60)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "ODPS-0010000"
    assert "JobRunningTimeout" in job.error_message and "2 seconds" in job.error_message
    assert time.monotonic() - started < 15
    assert job.cost_usd == 0.0
    assert tw.warehouse.jobs.memory_budget.used_gb == 0.0


def test_running_jobs_never_hold_more_than_the_memory_budget(tmp_path: Path) -> None:
    # Two accounts' quotas would each run two 4 GB jobs; the process has 6 GB for all of them.
    tw = open_test_warehouse(
        tmp_path / "data", payg_concurrency=2, sql_memory_budget_gb=6.0, sql_job_seconds=60.0
    )
    try:
        tw.append(logged_events(400, days=2))
        slow = f"SELECT COUNT(*) FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d, {TABLE} e"
        first = submit(tw, slow)
        second = submit(tw, slow)
        deadline = time.monotonic() + 30
        while tw.warehouse.jobs.get(root(), first.job_id).status != JobStatus.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.5)
        assert tw.warehouse.jobs.get(root(), second.job_id).status == JobStatus.WAITING
        assert tw.warehouse.jobs.memory_budget.used_gb == 4.0
        tw.warehouse.jobs.cancel(root(), first.job_id)
        while tw.warehouse.jobs.get(root(), second.job_id).status != JobStatus.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert tw.warehouse.jobs.memory_budget.used_gb == 4.0
        cancelled = tw.warehouse.jobs.cancel(root(), second.job_id)
        assert cancelled.status == JobStatus.CANCELLED
        assert tw.warehouse.jobs.memory_budget.used_gb == 0.0
    finally:
        tw.close()


def test_a_job_bigger_than_the_whole_budget_runs_within_the_budget() -> None:
    budget = MemoryBudget(2.0)
    big = Quota(ACCOUNT, REGION, "big", "subscription", 64, 64, 256.0, 64, 0)
    assert budget.limit_of(big) == 2.0
    assert budget.acquire(2.0, JobControl())
    control = JobControl()
    threading.Timer(0.2, control.cancel).start()
    assert not budget.acquire(0.5, control)  # waited, then gave up when cancelled
    budget.release(2.0)
    assert budget.used_gb == 0.0


def test_planning_past_its_bound_is_stopped_even_in_code_that_catches_everything() -> None:
    planning = BoundedPlanning(concurrency=1, seconds=0.5)
    finished = threading.Event()

    def stubborn() -> None:
        while True:
            try:
                sum(range(10_000))
            except Exception:  # noqa: S112 (what sqlglot's and the planner's fallbacks do)
                continue

    started = time.monotonic()
    with pytest.raises(PlanningTimedOut):
        planning.run(stubborn)
    assert time.monotonic() - started < 3
    assert planning.run(lambda: finished.set() or 42) == 42  # its slot came back


def test_a_busy_planner_refuses_rather_than_queueing_forever() -> None:
    planning = BoundedPlanning(concurrency=1, seconds=0.5)
    # Native code (as a sleep) cannot be stopped from outside: its thread keeps its slot.
    outcome: list[BaseException] = []

    def hold() -> None:
        try:
            planning.run(lambda: time.sleep(2))
        except PlanningTimedOut as exc:
            outcome.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    with pytest.raises(PlannersBusy):
        planning.run(lambda: 1)
    holder.join()
    assert len(outcome) == 1
    assert planning.run(lambda: 2) == 2


def test_strings_built_from_columns_stop_at_two_megabytes(tw: WarehouseFixture) -> None:
    # DuckDB's memory limit does not count such strings: uncapped, this takes gigabytes.
    sql = (
        f"SELECT MAX(LENGTH(REPEAT(event_name, 1000000000 + LENGTH(ds)))) AS r, "
        "MAX(LENGTH(LPAD(event_name, CAST(LENGTH(ds) * 1000000 AS INT), 'y'))) AS p "
        f"FROM (SELECT event_name, ds FROM {TABLE} WHERE event_name IS NOT NULL LIMIT 3) s"
    )
    job = tw.warehouse.jobs.wait(root(), submit(tw, sql).job_id, timeout=60)
    assert job.status == JobStatus.TERMINATED, job.error_message
    [[repeated, padded]] = tw.warehouse.jobs.result(root(), job.job_id).rows
    assert 2 * 1024 * 1024 - 64 <= repeated <= 2 * 1024 * 1024
    assert padded == 2 * 1024 * 1024
