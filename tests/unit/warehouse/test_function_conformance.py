"""MaxCompute's documented function examples, run through the SQL job service on DuckDB and on
Spark: each answer must be the documented one, or the form must be refused by name.

The examples are in maxcompute_examples.py; docs/sql-functions.md counts them per function.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import WarehouseFixture, open_test_warehouse, root
from family_examples import FAMILY_EXAMPLES, FAMILY_REFUSED, QUERY_EXAMPLES
from maxcompute_examples import EXAMPLES, REFUSED, WINDOW_SUM_OF_TIES, Example
from sqlglot import exp

from trailhouse.errors import ApiError
from trailhouse.warehouse.model import JobStatus
from trailhouse.warehouse.sql.engine import Engine, JobControl, Limits, QueryPlan, ResultSet
from trailhouse.warehouse.sql.spark import SparkEngine

ENGINES = ["duckdb", "spark"]


class _Shared:
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


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    engine: Engine | None = None
    if request.param == "spark":
        engine = _Shared(request.getfixturevalue("spark_engine"))
    opened = open_test_warehouse(Path(tmp_path_factory.mktemp(request.param)) / "data", engine)
    assert opened.warehouse.jobs.engine_name == request.param
    yield opened
    opened.close()


def answer(tw: WarehouseFixture, sql: str) -> ResultSet:
    jobs = tw.warehouse.jobs
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=120)
    assert job.status == JobStatus.TERMINATED, (job.error_code, job.error_message)
    return jobs.result(root(), job.job_id)


ALL_EXAMPLES = EXAMPLES + FAMILY_EXAMPLES
ALL_REFUSED = REFUSED + FAMILY_REFUSED


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=[e.id for e in ALL_EXAMPLES])
def test_documented_example(tw: WarehouseFixture, example: Example) -> None:
    result = answer(tw, f"SELECT {example.sql} AS v")
    assert result.rows == [[example.expected]], example.page
    if example.kind:
        assert result.types == (example.kind,), example.page


def test_ordered_window_sums_tied_rows_one_by_one(tw: WarehouseFixture) -> None:
    sql, expected, page = WINDOW_SUM_OF_TIES
    assert [[int(v) for v in row] for row in answer(tw, sql).rows] == expected, page


@pytest.mark.parametrize(
    ("function", "sql", "expected", "page"), QUERY_EXAMPLES, ids=[q[1] for q in QUERY_EXAMPLES]
)
def test_documented_query(
    tw: WarehouseFixture, function: str, sql: str, expected: list[list[Any]], page: str
) -> None:
    assert answer(tw, sql).rows == expected, (function, page)


@pytest.mark.parametrize(("sql", "code", "says"), ALL_REFUSED, ids=[r[0] for r in ALL_REFUSED])
def test_unsupported_forms_are_refused_by_name(
    tw: WarehouseFixture, sql: str, code: str, says: str
) -> None:
    with pytest.raises(ApiError) as refused:
        tw.warehouse.jobs.submit(root(), tw.project, f"SELECT {sql}")
    assert refused.value.code == code and says in refused.value.message, refused.value.message
    assert refused.value.message.startswith("[1,8] ")
