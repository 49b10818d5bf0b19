"""DuckDB and Spark give the same answers to the same MaxCompute queries over a delivered table.

The table is filled by the real writer with a few thousand demo events over five days; each
query is planned once (typed-column rewrite, pruning) and the plan run on both engines.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, root

from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import EngineError, JobControl, Limits, ResultSet
from trailhouse.warehouse.sql.planner import PlannedQuery
from trailhouse.warehouse.sql.spark import SparkEngine

TABLE = "actiontrail_audit_trail"
LIMITS = Limits(2, 2.0, 10000)
EVENT_TIME = "TO_DATE(event_time, 'yyyy-mm-dd\\'T\\'hh:mi:ss\\'Z\\'')"


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path_factory.mktemp("parity") / "data")
    opened.append(logged_events(3000, days=5))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> DuckDbEngine:
    return DuckDbEngine(tmp_path_factory.mktemp("duck-spill"))


@pytest.fixture(scope="module")
def days(tw: WarehouseFixture) -> list[str]:
    return sorted(p.ds for p in tw.warehouse.catalog.list_partitions(tw.table))


def plan(tw: WarehouseFixture, sql: str) -> PlannedQuery:
    return tw.warehouse.planner.plan(root(), tw.project, sql)


def _key(row: list[Any]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, repr(value)) for value in row)


def _same_value(left: Any, right: Any) -> bool:
    """Equal, floats within a tolerance; a number never equals text (a DECIMAL reaches JSON as
    text, a DOUBLE as a number)."""
    if isinstance(left, float) or isinstance(right, float):
        numbers = (int, float)
        return (
            isinstance(left, numbers)
            and isinstance(right, numbers)
            and math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
        )
    return type(left) is type(right) and bool(left == right)


def assert_same_rows(duck: ResultSet, spark: ResultSet, ordered: bool) -> None:
    assert spark.columns == duck.columns
    assert spark.truncated == duck.truncated
    left = duck.rows if ordered else sorted(duck.rows, key=_key)
    right = spark.rows if ordered else sorted(spark.rows, key=_key)
    assert len(right) == len(left)
    for duck_row, spark_row in zip(left, right, strict=True):
        assert len(spark_row) == len(duck_row)
        assert all(_same_value(d, s) for d, s in zip(duck_row, spark_row, strict=True)), (
            f"DuckDB {duck_row} != Spark {spark_row}"
        )


def run_both(
    tw: WarehouseFixture, duck: DuckDbEngine, spark: SparkEngine, sql: str
) -> tuple[ResultSet, ResultSet]:
    planned = plan(tw, sql)
    return (
        duck.run(planned.plan, LIMITS, JobControl()),
        spark.run(planned.plan, LIMITS, JobControl()),
    )


# Each query: (name, MaxCompute SQL with {first}/{mid}/{last} ds values, ordered?)
QUERIES = [
    (
        "count by eventName over a ds range",
        f"SELECT GET_JSON_OBJECT(event, '$.eventName') AS name, COUNT(*) AS c FROM {TABLE} "
        "WHERE ds BETWEEN '{first}' AND '{mid}' GROUP BY GET_JSON_OBJECT(event, '$.eventName')",
        False,
    ),
    (
        "top users by Write events",
        f"SELECT user_name, COUNT(*) AS writes FROM {TABLE} WHERE event_rw = 'Write' "
        "GROUP BY user_name ORDER BY writes DESC, user_name LIMIT 5",
        True,
    ),
    (
        "failed calls by errorCode",
        f"SELECT error_code, service_name, COUNT(*) AS failures FROM {TABLE} "
        "WHERE error_code IS NOT NULL GROUP BY error_code, service_name",
        False,
    ),
    (
        "one user's activity for a week via GET_JSON_OBJECT",
        "SELECT GET_JSON_OBJECT(event, '$.eventTime') AS at, "
        "GET_JSON_OBJECT(event, '$.eventSource') AS source, "
        "GET_JSON_OBJECT(event, '$.requestParameters.RegionId') AS region, "
        "GET_JSON_OBJECT(event, '$.requestParameters') AS params, "
        "GET_JSON_OBJECT(event, '$.requestParameters.PageSize') AS page_size, "
        "GET_JSON_OBJECT(event, '$.isGlobal') AS global, "
        "GET_JSON_OBJECT(event, '$.userIdentity.principalId') AS principal "
        f"FROM {TABLE} WHERE GET_JSON_OBJECT(event, '$.userIdentity.userName') = 'alice' "
        "AND ds >= TO_CHAR(DATEADD(GETDATE(), -7, 'dd'), 'yyyymmdd') "
        "ORDER BY at, GET_JSON_OBJECT(event, '$.eventId')",
        True,
    ),
    (
        "JSON_TUPLE with LATERAL VIEW",
        "SELECT j.source, j.version, j.global, COUNT(*) AS c "
        f"FROM {TABLE} t LATERAL VIEW JSON_TUPLE(t.event, 'eventSource', 'apiVersion', "
        "'isGlobal') j AS source, version, global GROUP BY j.source, j.version, j.global",
        False,
    ),
    (
        "DATETRUNC, TO_CHAR and TO_DATE of event_time",
        f"SELECT DATETRUNC({EVENT_TIME}, 'hh') AS hour, TO_CHAR({EVENT_TIME}, 'yyyymmdd') AS day, "
        f"TO_CHAR(DATETRUNC({EVENT_TIME}, 'mm'), 'yyyy-mm-dd hh:mi:ss') AS month, "
        f"COUNT(*) AS c FROM {TABLE} GROUP BY DATETRUNC({EVENT_TIME}, 'hh'), "
        f"TO_CHAR({EVENT_TIME}, 'yyyymmdd'), TO_CHAR(DATETRUNC({EVENT_TIME}, 'mm'), "
        "'yyyy-mm-dd hh:mi:ss')",
        False,
    ),
    (
        "DATEADD and DATEDIFF with units",
        f"SELECT event_id, DATEADD({EVENT_TIME}, 90, 'mi') AS later, "
        f"DATEADD({EVENT_TIME}, -1, 'mm') AS month_before, "
        f"DATEDIFF({EVENT_TIME}, TO_DATE('{{first}}', 'yyyymmdd'), 'hh') AS hours, "
        f"DATEDIFF(TO_DATE('{{last}}', 'yyyymmdd'), {EVENT_TIME}, 'dd') AS days_ago, "
        f"DATEDIFF({EVENT_TIME}, TO_DATE('{{first}}', 'yyyymmdd')) AS days "
        f"FROM {TABLE} WHERE ds = '{{mid}}'",
        False,
    ),
    (
        "FROM_UNIXTIME and UNIX_TIMESTAMP",
        f"SELECT event_id, UNIX_TIMESTAMP({EVENT_TIME}) AS epoch, "
        f"FROM_UNIXTIME(UNIX_TIMESTAMP({EVENT_TIME}) + 3600) AS hour_later, "
        f"WEEKDAY({EVENT_TIME}) AS weekday FROM {TABLE} WHERE ds = '{{last}}'",
        False,
    ),
    (
        "CONCAT_WS and REGEXP_EXTRACT on an ARN",
        "SELECT CONCAT_WS(':', service_name, event_name, user_name) AS what, "
        "REGEXP_EXTRACT(arn, '^acs:ram::(\\\\d+):', 1) AS account, "
        "REGEXP_EXTRACT(arn, '/([^:/]+)(:(.+))?$', 1) AS principal, "
        "REGEXP_EXTRACT(arn, '^acs:(\\\\w+)', 0) AS head "
        "FROM (SELECT service_name, event_name, user_name, CONCAT('acs:ram::', account_id, "
        "':', user_type, '/', COALESCE(user_name, 'root')) AS arn "
        f"FROM {TABLE} WHERE ds = '{{mid}}') x",
        False,
    ),
    (
        "COUNT(DISTINCT)",
        "SELECT service_name, COUNT(DISTINCT user_name) AS users, "
        "COUNT(DISTINCT source_ip_address) AS ips, COUNT(*) AS c "
        f"FROM {TABLE} GROUP BY service_name",
        False,
    ),
    (
        "ROW_NUMBER, RANK and a running SUM",
        "SELECT service_name, event_name, c, "
        "ROW_NUMBER() OVER (PARTITION BY service_name ORDER BY c DESC, event_name) AS rn, "
        "RANK() OVER (PARTITION BY service_name ORDER BY c DESC) AS rk, "
        "SUM(c) OVER (PARTITION BY service_name ORDER BY c DESC, event_name "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running, "
        "c / SUM(c) OVER (PARTITION BY service_name) AS share, "
        "c / (rn_all - rn_all) AS by_zero "
        f"FROM (SELECT service_name, event_name, COUNT(*) AS c, 1 AS rn_all FROM {TABLE} "
        "GROUP BY service_name, event_name) s",
        False,
    ),
    (
        "a CTE",
        "WITH daily AS (SELECT ds, event_rw, COUNT(*) AS c FROM "
        f"{TABLE} GROUP BY ds, event_rw), "
        "totals AS (SELECT ds, SUM(c) AS total FROM daily GROUP BY ds) "
        "SELECT d.ds, d.event_rw, d.c, t.total, ROUND(d.c * 100.0 / t.total, 2) AS pct "
        "FROM daily d JOIN totals t ON d.ds = t.ds ORDER BY d.ds, d.event_rw",
        True,
    ),
    (
        "a subquery",
        f"SELECT user_name, COUNT(*) AS c FROM {TABLE} WHERE user_name IN "
        f"(SELECT f.user_name FROM {TABLE} f WHERE f.error_code IS NOT NULL) "
        f"AND ds > '{{first}}' GROUP BY user_name "
        f"HAVING COUNT(*) > (SELECT COUNT(*) / 100 FROM {TABLE} a)",
        False,
    ),
    (
        "every column in table order",
        f"SELECT * FROM {TABLE} WHERE ds = '{{last}}' ORDER BY event_id LIMIT 3",
        True,
    ),
    (
        "an empty ds range reads no file",
        f"SELECT event_name, COUNT(*) AS c, MAX(ds) AS ds FROM {TABLE} "
        "WHERE ds > '29990101' GROUP BY event_name",
        False,
    ),
    (
        "an aggregate over no file",
        f"SELECT COUNT(*) AS c, MAX(event_time) AS latest FROM {TABLE} WHERE ds < '19700101'",
        False,
    ),
]


@pytest.mark.parametrize(("name", "sql", "ordered"), QUERIES, ids=[q[0] for q in QUERIES])
def test_both_engines_agree(
    tw: WarehouseFixture,
    duck: DuckDbEngine,
    spark_engine: SparkEngine,
    days: list[str],
    name: str,
    sql: str,
    ordered: bool,
) -> None:
    text = sql.format(first=days[0], mid=days[len(days) // 2], last=days[-1])
    duck_result, spark_result = run_both(tw, duck, spark_engine, text)
    if "no file" not in name:
        assert duck_result.rows, f"{name}: the query should return rows to compare"
    assert_same_rows(duck_result, spark_result, ordered)


def test_wm_concat_joins_the_same_values(
    tw: WarehouseFixture, duck: DuckDbEngine, spark_engine: SparkEngine
) -> None:
    """The order WM_CONCAT joins values in is not defined: compare what it joins."""
    sql = (
        "SELECT service_name, WM_CONCAT('|', event_name) AS names FROM "
        f"(SELECT DISTINCT service_name, event_name FROM {TABLE}) d GROUP BY service_name"
    )
    duck_result, spark_result = run_both(tw, duck, spark_engine, sql)

    def joined(result: ResultSet) -> dict[str, list[str]]:
        return {service: sorted(names.split("|")) for service, names in result.rows}

    assert joined(duck_result) and joined(spark_result) == joined(duck_result)


def test_the_empty_view_has_every_column_as_strings(
    tw: WarehouseFixture, duck: DuckDbEngine, spark_engine: SparkEngine
) -> None:
    planned = plan(tw, f"SELECT * FROM {TABLE} WHERE ds = '20000101'")
    assert planned.plan.inputs[0].files == ()
    duck_result, spark_result = run_both(tw, duck, spark_engine, planned.sql)
    assert spark_result.rows == duck_result.rows == []
    assert spark_result.columns == duck_result.columns
    assert set(spark_result.types) == set(duck_result.types) == {"STRING"}


def test_types_are_named_as_maxcompute_names_them(
    tw: WarehouseFixture, duck: DuckDbEngine, spark_engine: SparkEngine, days: list[str]
) -> None:
    sql = (
        f"SELECT event_name, COUNT(*) AS c, {EVENT_TIME} AS at, ds, 1.5 AS d, "
        f"UNIX_TIMESTAMP({EVENT_TIME}) AS epoch FROM {TABLE} WHERE ds = '{days[-1]}' "
        "GROUP BY event_name, event_time, ds"
    )
    duck_result, spark_result = run_both(tw, duck, spark_engine, sql)
    assert spark_result.types == duck_result.types
    assert duck_result.types == ("STRING", "BIGINT", "DATETIME", "STRING", "DOUBLE", "BIGINT")


def test_rows_past_the_limit_are_cut_on_both(
    tw: WarehouseFixture, duck: DuckDbEngine, spark_engine: SparkEngine
) -> None:
    planned = plan(tw, f"SELECT event_id, event_time FROM {TABLE} ORDER BY event_id")
    limits = Limits(2, 2.0, 25)
    duck_result = duck.run(planned.plan, limits, JobControl())
    spark_result = spark_engine.run(planned.plan, limits, JobControl())
    assert duck_result.truncated and spark_result.truncated
    assert len(spark_result.rows) == 25
    assert spark_result.rows == duck_result.rows


def test_jobs_run_at_once_on_the_shared_session_keep_their_own_views(
    tw: WarehouseFixture, duck: DuckDbEngine, spark_engine: SparkEngine, days: list[str]
) -> None:
    """Every job names its views after itself: two jobs at once read their own files."""
    sqls = [f"SELECT ds, COUNT(*) AS c FROM {TABLE} WHERE ds = '{day}' GROUP BY ds" for day in days]
    plans = [plan(tw, sql).plan for sql in sqls]
    results: dict[int, ResultSet | BaseException] = {}

    def work(index: int) -> None:
        try:
            results[index] = spark_engine.run(plans[index], LIMITS, JobControl())
        except BaseException as exc:
            results[index] = exc

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(plans))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    for index, planned in enumerate(plans):
        expected = duck.run(planned, LIMITS, JobControl())
        got = results[index]
        assert isinstance(got, ResultSet), got
        assert got.rows == expected.rows


def test_an_unknown_column_is_a_binder_error_on_both(
    tw: WarehouseFixture, duck: DuckDbEngine, spark_engine: SparkEngine
) -> None:
    planned = plan(tw, f"SELECT no_such_column FROM {TABLE}")
    for engine in (duck, spark_engine):
        with pytest.raises(EngineError) as caught:
            engine.run(planned.plan, LIMITS, JobControl())
        assert caught.value.kind == "binder", (engine.name, caught.value.message)
        assert "no_such_column" in caught.value.message


def test_a_spark_job_is_cancelled_while_it_runs(
    tw: WarehouseFixture, spark_engine: SparkEngine, days: list[str]
) -> None:
    # Billions of rows: minutes unless cancelled. One day of `c` keeps the work done for each
    # row of `a` (between two checks for a cancel) under a second.
    planned = plan(
        tw,
        "SELECT SUM(LENGTH(a.event_id) + LENGTH(b.event_id) + LENGTH(c.event_id)) AS n "
        f"FROM {TABLE} a CROSS JOIN {TABLE} b CROSS JOIN {TABLE} c "
        f"WHERE c.ds = '{days[len(days) // 2]}'",
    )
    control = JobControl()
    outcome: dict[str, BaseException | ResultSet] = {}

    def work() -> None:
        try:
            outcome["result"] = spark_engine.run(planned.plan, LIMITS, control)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    while control.progress == 0.0 and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.is_alive(), f"the query ended before it could be cancelled: {outcome}"
    cancelled_at = time.monotonic()
    control.cancel()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the cancelled job is still running"
    error = outcome.get("error")
    assert isinstance(error, EngineError) and error.kind == "cancelled", outcome
    assert time.monotonic() - cancelled_at < 15
    # Its tasks stop too (they would hold the cores), and the shared session runs the next job.
    assert _idle_within(spark_engine, 30), "the cancelled job's tasks are still running"
    after = spark_engine.run(
        plan(tw, f"SELECT COUNT(*) AS c FROM {TABLE}").plan, LIMITS, JobControl()
    )
    assert after.rows == [[3000]]


def _idle_within(engine: SparkEngine, seconds: float) -> bool:
    tracker = engine.session().sparkContext.statusTracker()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(executor.numRunningTasks for executor in tracker.getExecutorInfos()):
            return True
        time.sleep(0.1)
    return False


def test_a_job_cancelled_before_it_starts_does_not_run(
    tw: WarehouseFixture, spark_engine: SparkEngine
) -> None:
    control = JobControl()
    control.cancel()
    with pytest.raises(EngineError) as caught:
        spark_engine.run(plan(tw, f"SELECT COUNT(*) FROM {TABLE}").plan, LIMITS, control)
    assert caught.value.kind == "cancelled"
