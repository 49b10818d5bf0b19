"""SQL that would exhaust the server, run on Spark: the time limit and the memory budget hold.

A cross join is stopped by `sql_job_seconds` through the job service, as on DuckDB
(test_attack_sql.py), and the shared session runs the next job.

On a local Spark, the process's SQL memory budget is the memory every job shares.
`trailhouse serve` with `sql_engine = spark` on `local[N]` runs every job in one JVM. Its heap is
`sql_memory_budget_gb`, and a job that needs more fails alone (QuotaExceeded, as on DuckDB):
before, the heap was Spark's default whatever the budget said, and a job past it ended the JVM,
so every later job of the process failed with "Connection refused" until a restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlglot
from builders import OTHER_ACCOUNT, logged_events, open_test_warehouse, root
from sqlglot import exp

from system_packages import require_java
from trailhouse.warehouse.model import JobStatus, project_name
from trailhouse.warehouse.sql.engine import (
    EngineError,
    JobControl,
    Limits,
    QueryPlan,
    ResultSet,
    TableInput,
)
from trailhouse.warehouse.sql.spark import SparkEngine

HERE = Path(__file__).parent
TABLE = "actiontrail_audit_trail"
# Each row 2 MB (REPEAT's cap): 400 rows are 800 MB, past a 512 MB heap.
GREEDY = f"SELECT REPEAT(event, 100000) AS big FROM {TABLE}"
COUNT = f"SELECT COUNT(*) AS n FROM {TABLE}"


def test_a_local_masters_jvm_gets_the_budget_and_survives_a_job_past_it(tmp_path: Path) -> None:
    require_java()
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "spark_budget_client.py"),
            str(tmp_path / "data"),
            "0.5",
            "400",
            GREEDY,
            COUNT,
        ],
        capture_output=True,
        env={**os.environ, "SPARK_CONF_DIR": str(tmp_path)},  # no spark-defaults.conf
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    report = orjson.loads(run.stdout.splitlines()[-1])
    assert 450 <= report["heap_mb"] <= 512, report
    greedy, count = report["jobs"]
    assert (greedy["status"], greedy["code"]) == ("Failed", "QuotaExceeded"), report
    assert (count["status"], count["rows"]) == ("Terminated", [[400]]), report


@pytest.mark.parametrize(
    ("master", "memory_gb", "expected"),
    [
        ("local[2]", 6.0, {"spark.driver.memory": "6144m", "killOnFatalError": "0"}),
        ("local[2]", None, {"spark.driver.memory": None, "killOnFatalError": "0"}),
        ("local[2]", 0.1, {"spark.driver.memory": "512m", "killOnFatalError": "0"}),
        ("spark://127.0.0.1:7077", 6.0, {"spark.driver.memory": "6144m", "killOnFatalError": None}),
        ("spark://127.0.0.1:7077", None, {"spark.driver.memory": None, "killOnFatalError": None}),
    ],
)
def test_the_driver_on_this_host_is_given_the_budget_as_its_heap(
    tmp_path: Path, master: str, memory_gb: float | None, expected: dict[str, str | None]
) -> None:
    # The driver JVM runs here on local[N] and spark:// alike: its heap is the budget. On a
    # cluster the executors do the work with the cluster's memory, and a task out of heap is
    # the cluster's to handle (killOnFatalError is set for the one local JVM only).
    conf = SparkEngine(master, tmp_path, memory_gb=memory_gb)._classic_conf()
    assert conf.get("spark.driver.memory") == expected["spark.driver.memory"]
    assert conf.get("spark.executor.killOnFatalError.depth") == expected["killOnFatalError"]


class _KeptOpen:
    """The test run's shared Spark engine, left running when this test's warehouse closes."""

    name = "spark"

    def __init__(self, engine: SparkEngine) -> None:
        self._engine = engine

    def run(self, plan: QueryPlan, limits: Limits, control: JobControl) -> ResultSet:
        return self._engine.run(plan, limits, control)

    def evaluate_constant(self, expression: exp.Expr) -> Any:
        return self._engine.evaluate_constant(expression)

    def close(self) -> None:
        """The session is the run's (conftest.py stops it)."""


def test_a_cross_join_on_spark_is_stopped_by_the_time_limit(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    tw = open_test_warehouse(
        tmp_path / "data", engine=_KeptOpen(spark_engine), sql_job_seconds=20.0
    )
    try:
        tw.append(logged_events(400, days=2))
        jobs = tw.warehouse.jobs
        sql = f"SELECT COUNT(*) FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d"
        started = time.monotonic()
        job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=90)
        assert (job.status, job.error_code) == (JobStatus.FAILED, "ODPS-0010000"), job
        assert "JobRunningTimeout" in job.error_message and "20 seconds" in job.error_message
        assert time.monotonic() - started < 75
        assert job.cost_usd == 0.0
        assert jobs.memory_budget.used_gb == 0.0
        # The stopped job's tasks stop too (they would hold the cores), and the shared session
        # runs the next job.
        tracker = spark_engine.session().sparkContext.statusTracker()
        deadline = time.monotonic() + 30
        while any(executor.numRunningTasks for executor in tracker.getExecutorInfos()):
            assert time.monotonic() < deadline, "the stopped job's tasks are still running"
            time.sleep(0.1)
        after = jobs.wait(root(), jobs.submit(root(), tw.project, COUNT).job_id, timeout=90)
        assert after.status == JobStatus.TERMINATED, after.error_message
        assert jobs.result(root(), after.job_id).rows == [[400]]
    finally:
        tw.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM parquet.`{other}`",
        "SELECT * FROM parquet.`{warehouse}`",
        "SELECT * FROM text.`/etc/passwd`",
        "SELECT * FROM csv.`/etc/passwd`",
        "SELECT * FROM json.`/etc/passwd`",
    ],
)
def test_spark_reads_no_path_even_when_the_planner_misses_an_attack(
    tmp_path: Path, spark_engine: SparkEngine, sql: str
) -> None:
    # The planner refuses these (a `parquet` project does not exist); Spark's own SQL-on-files
    # is the wall behind it, as DuckDB's locked configuration is (test_attack_sql.py).
    tw = open_test_warehouse(tmp_path / "data")
    try:
        tw.append(logged_events(50, days=1))
        warehouse = tw.settings.data_dir / "warehouse"
        files = tuple(warehouse / f.path for f in tw.warehouse.catalog.files(tw.table))
        victim = warehouse / "cn-hangzhou" / project_name(OTHER_ACCOUNT) / "part-stolen.parquet"
        victim.parent.mkdir(parents=True)
        victim.write_bytes(files[0].read_bytes())
        attack = sql.format(other=victim, warehouse=warehouse)
        table = TableInput("__t0", TABLE, files, warehouse, ("event_name", "ds"))
        tree = sqlglot.parse_one(attack, read="spark")
        assert isinstance(tree, exp.Query)
        with pytest.raises(EngineError) as caught:
            spark_engine.run(QueryPlan(tree, (table,)), Limits(1, 0.5, 10), JobControl())
        assert caught.value.kind == "binder", caught.value.message
        assert "root:" not in caught.value.message and "PAR1" not in caught.value.message
    finally:
        tw.close()
