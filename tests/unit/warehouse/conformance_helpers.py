"""What the conformance tests share: a test warehouse on each engine (DuckDB, or the session's
Spark left running between modules) and the answer of a query run through the SQL job service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import WarehouseFixture, open_test_warehouse, root
from sqlglot import exp

from trailhouse.warehouse.model import JobStatus
from trailhouse.warehouse.sql.engine import Engine, JobControl, Limits, QueryPlan, ResultSet
from trailhouse.warehouse.sql.spark import SparkEngine

ENGINES = ["duckdb", "spark"]


class SharedSpark:
    """The session's Spark engine, left running when one test warehouse closes."""

    name = "spark"

    def __init__(self, engine: SparkEngine) -> None:
        self._engine = engine

    def run(self, plan: QueryPlan, limits: Limits, control: JobControl) -> ResultSet:
        return self._engine.run(plan, limits, control)

    def evaluate_constant(self, expression: exp.Expr) -> Any:
        return self._engine.evaluate_constant(expression)

    def close(self) -> None:
        """The session fixture stops the engine."""


def engine_warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    """A test warehouse on the engine the fixture's param names."""
    engine: Engine | None = None
    if request.param == "spark":
        engine = SharedSpark(request.getfixturevalue("spark_engine"))
    opened = open_test_warehouse(Path(tmp_path_factory.mktemp(request.param)) / "data", engine)
    assert opened.warehouse.jobs.engine_name == request.param
    yield opened
    opened.close()


def answer(tw: WarehouseFixture, sql: str) -> ResultSet:
    jobs = tw.warehouse.jobs
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=120)
    assert job.status == JobStatus.TERMINATED, (job.error_code, job.error_message)
    return jobs.result(root(), job.job_id)
