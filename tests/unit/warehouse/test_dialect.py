"""MaxCompute SQL translated to DuckDB: every function's result checked against Python's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from function_cases import FunctionCases, Run, table_rows

from trailhouse.warehouse.sql.checked import MAXCOMPUTE_UNCHECKED
from trailhouse.warehouse.sql.dialect import (
    InvalidSql,
    UnsupportedSql,
    java_format_to_strftime,
    maxcompute_format_to_strftime,
    parse,
    to_duckdb,
)
from trailhouse.warehouse.sql.functions import NOT_SUPPORTED


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute(
        "CREATE TABLE t (id INTEGER, ts TIMESTAMP, st TIMESTAMP, s VARCHAR, x BIGINT, "
        "e VARCHAR, g VARCHAR, a VARCHAR, b VARCHAR)"
    )
    for row in table_rows():
        c.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row))
    yield c
    c.close()


@pytest.fixture
def run(con: duckdb.DuckDBPyConnection) -> Run:
    """Runs MaxCompute SQL on DuckDB through `to_duckdb`."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(to_duckdb(sql)).fetchall()

    return rows


class TestFunctionsOnDuckDb(FunctionCases):
    """Every case of function_cases.py, run on DuckDB."""


@pytest.mark.parametrize(
    ("pattern", "strftime"),
    [
        ("yyyy-mm-dd hh:mi:ss", "%Y-%m-%d %H:%M:%S"),
        ("YYYYMMDD", "%Y%m%d"),
        ("hh:mi:ss.ff3", "%H:%M:%S.%f_three"),
        ("yyyy-mm-dd'T'hh'h'", "%Y-%m-%dT%Hh"),
        ("'mm'mm", "mm%m"),
        ("a''b", "a'b"),
        ("50%", "50%%"),
    ],
)
def test_format_tokens(pattern: str, strftime: str) -> None:
    assert maxcompute_format_to_strftime(pattern) == strftime


def test_java_format_rejects_unknown_letters() -> None:
    assert java_format_to_strftime("dd MMM yyyy, EEE") == "%d %b %Y, %a"
    with pytest.raises(UnsupportedSql, match="'Q'"):
        java_format_to_strftime("yyyy-Q")


# ---- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("INSERT INTO t SELECT * FROM t", "INSERT"),
        ("INSERT OVERWRITE TABLE t PARTITION (ds='20250101') SELECT * FROM t", "INSERT"),
        ("DROP TABLE t", "DROP"),
        ("CREATE TABLE u (a STRING)", "CREATE"),
        ("DELETE FROM t WHERE id = 1", "DELETE"),
        ("SELECT MY_UDF(a) FROM t", "MY_UDF"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT DATEADD(ts, 1, 'fortnight') FROM t", "fortnight"),
        ("SELECT DATETRUNC(ts, a) FROM t", "DATETRUNC"),
        ("SELECT GET_JSON_OBJECT(e, '$.arr[*].k[?(@.x)]') FROM t", "unsupported JSON path"),
        ("SELECT TO_CHAR(ts, 'yyyy''mm') FROM t", "TO_CHAR"),
        ("SELECT x FROM t LATERAL VIEW EXPLODE(SPLIT(a, ':')) v", "EXPLODE gives one column"),
        ("SELECT x FROM t LATERAL VIEW INLINE(a) v AS x", "INLINE"),
        ("SELECT TO_CHAR(3.1415926, 'aa')", "TO_CHAR with a format takes a DATETIME"),
        ("SELECT TO_CHAR(-1, 'yyyy')", "TO_CHAR with a format takes a DATETIME"),
        ("SELECT x FROM t LATERAL VIEW JSON_TUPLE(e, 'a', 'b') v AS x", "one column name per key"),
        ("SELECT JSON_TUPLE(e, 'a'), 1 FROM t", "JSON_TUPLE in the select list must be the only"),
    ],
)
def test_unsupported_sql_names_what(sql: str, named: str) -> None:
    with pytest.raises(UnsupportedSql, match=re.escape(named)):
        to_duckdb(sql)


def test_unparseable_sql() -> None:
    with pytest.raises(InvalidSql):
        to_duckdb("SELECT FROM WHERE (")


_NOT_RUN = sorted(MAXCOMPUTE_UNCHECKED | NOT_SUPPORTED)


@pytest.mark.parametrize("name", _NOT_RUN)
def test_every_built_in_not_run_is_refused_as_a_built_in(name: str) -> None:
    # docs/sql-functions.md lists them as refused with these words; SUBSTRING_INDEX, PERCENTILE
    # and others were refused as unknown names, and JSON_OBJECT ran on the engine.
    with pytest.raises(UnsupportedSql, match=f"function {name} is a MaxCompute built-in"):
        parse(f"SELECT {name}(1, 2)")


def test_extract_is_refused_by_name() -> None:
    # MaxCompute's EXTRACT is not checked against its page; DuckDB answered it (DOW as Sunday 0).
    with pytest.raises(UnsupportedSql, match="function EXTRACT is a MaxCompute built-in"):
        parse("SELECT EXTRACT(YEAR FROM GETDATE())")
