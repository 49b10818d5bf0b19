"""MaxCompute SQL translated to Spark: the same function cases as on DuckDB, and Spark's own."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from function_cases import PAIRS, TABLE_COLUMNS, FunctionCases, Run, column, table_rows

from trailhouse.warehouse.sql.dialect import UnsupportedSql, parse
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.spark import SparkEngine, naive_timestamps
from trailhouse.warehouse.sql.spark_sql import spark_json_path, strftime_to_java, to_spark_sql

# The Spark type of each column of `t` (its rows are written as text and cast).
_SPARK_TYPES = ("INT", "TIMESTAMP", "TIMESTAMP", "STRING", "BIGINT", *["STRING"] * 4)


def _trunc_day(d: datetime) -> datetime:
    return d.replace(hour=0, minute=0, second=0, microsecond=0)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    text = value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def spark(spark_engine: SparkEngine) -> Iterator[Any]:
    """The shared session with the table `t` of function_cases as a temporary view."""
    session = spark_engine.session()
    values = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in table_rows())
    casts = ", ".join(
        f"CAST({name} AS {kind}) AS {name}"
        for name, kind in zip(TABLE_COLUMNS, _SPARK_TYPES, strict=True)
    )
    session.sql(
        f"CREATE OR REPLACE TEMPORARY VIEW t AS SELECT {casts} "
        f"FROM VALUES {values} AS v({', '.join(TABLE_COLUMNS)})"
    )
    yield session
    session.catalog.dropTempView("t")


@pytest.fixture
def run(spark: Any) -> Run:
    """Runs MaxCompute SQL on Spark through `to_spark_sql`, timestamps as the engine hands them."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        frame = spark.sql(to_spark_sql(parse(sql)))
        return [tuple(row) for row in naive_timestamps(frame).collect()]

    return rows


class TestFunctionsOnSpark(FunctionCases):
    """Every case of function_cases.py, run on Spark."""


@pytest.mark.parametrize(
    ("strftime", "java"),
    [
        ("%Y-%m-%d %H:%M:%S", "yyyy'-'MM'-'dd' 'HH':'mm':'ss"),
        ("%Y%m%d", "yyyyMMdd"),
        ("%H:%M:%S.%f_three", "HH':'mm':'ss'.'SSS"),
        ("%Y-%m-%dT%H:%M:%SZ", "yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'"),
        ("it's %Y", "'it''s 'yyyy"),
        ("100%% %y", "'100% 'yy"),
        ("%d %b %Y, %a %I %p", "dd' 'MMM' 'yyyy', 'EEE' 'hh' 'a"),
    ],
)
def test_strftime_to_java_quotes_every_literal(strftime: str, java: str) -> None:
    assert strftime_to_java(strftime) == java


def test_strftime_to_java_parses_one_or_two_digits_between_literals() -> None:
    assert strftime_to_java("%Y-%m-%d %H:%M:%S", parsing=True) == "yyyy'-'M'-'d' 'H':'m':'s"
    # Fields side by side keep their width, or 20250307 could not be split.
    assert strftime_to_java("%Y%m%d %H%M", parsing=True) == "yyyyMMdd' 'HHmm"


def test_regression_to_date_of_a_compact_date(run: Run) -> None:
    """With one-letter fields side by side, 'yyyymmdd' parsed nothing on Spark."""
    got = column(run, "TO_DATE(TO_CHAR(ts, 'yyyymmdd'), 'yyyymmdd')")
    assert got == [_trunc_day(end) for end, _ in PAIRS]


def test_strftime_code_without_a_java_letter_is_unsupported() -> None:
    with pytest.raises(UnsupportedSql, match="%Z"):
        strftime_to_java("%Y %Z")


def test_json_paths_use_spark_brackets() -> None:
    assert spark_json_path('$."b".c') == "$['b'].c"
    assert spark_json_path("$.arr[0].k") == "$.arr[0].k"
    with pytest.raises(UnsupportedSql, match="it's"):
        spark_json_path('$."it\'s"')


def test_regression_dateadd_keeps_the_time_of_day() -> None:
    """sqlglot writes Spark's DATE_ADD, which returns a DATE and counts days only."""
    sql = to_spark_sql(parse("SELECT DATEADD(ts, 1, 'hh') FROM t"))
    assert "TIMESTAMPADD(HOUR, 1," in sql
    assert "DATE_ADD(" not in sql


def test_timestamps_do_not_depend_on_the_process_time_zone(run: Run) -> None:
    """PySpark turns a Spark TIMESTAMP into this process's local time; results must not move."""
    expected = [e.replace(microsecond=0) for e, _ in PAIRS]
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    try:
        got = [row[0] for row in run("SELECT FROM_UNIXTIME(x) AS v FROM t ORDER BY id")]
        seconds = [row[0] for row in run("SELECT UNIX_TIMESTAMP(ts) AS v FROM t ORDER BY id")]
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()
    assert got == expected
    assert seconds == [calendar.timegm(e.timetuple()) for e, _ in PAIRS]


def test_constants_are_evaluated_as_duckdb_evaluates_them(
    spark_engine: SparkEngine, tmp_path: Path
) -> None:
    expression = parse("SELECT TO_CHAR(DATEADD(GETDATE(), -7, 'dd'), 'yyyymmdd')").selects[0]
    expected = DuckDbEngine(tmp_path).evaluate_constant(expression)
    assert spark_engine.evaluate_constant(expression) == expected
