"""Planning MaxCompute SQL: tables, the typed-column rewrite, pruning, bytes, complexity."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
import sqlglot
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    WarehouseFixture,
    logged_events,
    open_test_warehouse,
    root,
)
from sqlglot import exp

from trailhouse.errors import (
    ApiError,
    NoPermission,
    SqlParseError,
    SqlSemanticError,
    TableNotFound,
)
from trailhouse.warehouse.json_columns import column_name
from trailhouse.warehouse.schema import schema_of
from trailhouse.warehouse.sql.dialect import parse
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine, view_sql
from trailhouse.warehouse.sql.engine import EngineError, JobControl, Limits, QueryPlan
from trailhouse.warehouse.sql.planner import (
    MAX_SQL_NESTING,
    PlannedQuery,
    complexity_of,
    count_keywords,
)

TABLE = "actiontrail_audit_trail"


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path_factory.mktemp("planner") / "data")
    events = logged_events(3000, days=8)
    for start in range(0, len(events), 1000):
        opened.append(events[start : start + 1000])
    yield opened
    opened.close()


def plan(tw: WarehouseFixture, sql: str) -> PlannedQuery:
    return tw.warehouse.planner.plan(root(), tw.project, sql)


def run(tw: WarehouseFixture, sql: str) -> list[tuple[Any, ...]]:
    planned = plan(tw, sql)
    engine = DuckDbEngine(tw.settings.data_dir / "spill")
    result = engine.run(planned.plan, Limits(2, 1.0, 100_000), JobControl())
    return _sorted(tuple(row) for row in result.rows)


def plain(tw: WarehouseFixture, select: str) -> list[tuple[Any, ...]]:
    """The same question asked of the files directly, through DuckDB's own JSON functions."""
    files = [str(tw.settings.warehouse_path / f.path) for f in tw.warehouse.catalog.files(tw.table)]
    listed = ", ".join(f"'{name}'" for name in files)
    with duckdb.connect() as con:
        con.execute(
            f"CREATE VIEW t AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
            "hive_types = {'ds': VARCHAR})"
        )
        return _sorted(con.execute(select).fetchall())


def _sorted(rows: Any) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda row: tuple((value is None, str(value)) for value in row))


def partitions(tw: WarehouseFixture) -> list[str]:
    return [p.ds for p in tw.warehouse.catalog.list_partitions(tw.table)]


def test_get_json_object_on_a_typed_path_reads_the_column(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT GET_JSON_OBJECT(event, '$.userIdentity.userName') u, COUNT(*) c FROM {TABLE} "
        "WHERE GET_JSON_OBJECT(event, '$.eventRW') = 'Write' "
        "GROUP BY GET_JSON_OBJECT(event, '$.userIdentity.userName')"
    )
    planned = plan(tw, sql)
    translated = planned.plan.tree.sql("duckdb")
    assert "user_name" in translated and "event_rw" in translated and "$." not in translated
    assert planned.scans[0].columns == ("event_rw", "user_name")
    expected = plain(
        tw,
        "SELECT json_extract_string(event, '$.userIdentity.userName') u, COUNT(*) FROM t "
        "WHERE json_extract_string(event, '$.eventRW') = 'Write' GROUP BY u",
    )
    assert run(tw, sql) == expected
    assert sum(count for _, count in expected) > 0


def test_paths_without_a_typed_column_read_their_json_path_column(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT GET_JSON_OBJECT(t.event, '$.requestParameters.RegionId') r, COUNT(*) "
        f"FROM {TABLE} t GROUP BY GET_JSON_OBJECT(t.event, '$.requestParameters.RegionId')"
    )
    planned = plan(tw, sql)
    # Not the JSON text: the path's own column (warehouse/json_columns.py), the same answer.
    assert planned.scans[0].columns == (column_name("requestParameters.RegionId"),)
    assert run(tw, sql) == plain(
        tw,
        "SELECT json_extract_string(event, '$.requestParameters.RegionId') r, COUNT(*) FROM t "
        "GROUP BY r",
    )


def test_an_event_column_of_a_subquery_is_not_rewritten(tw: WarehouseFixture) -> None:
    sql = (
        "SELECT GET_JSON_OBJECT(q.event, '$.eventName') FROM "
        '(SELECT \'{"eventName": "Made-up"}\' AS event) q'
    )
    assert run(tw, sql) == [("Made-up",)]


def test_json_tuple_keys_with_typed_columns_are_rewritten_too(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT x.n, COUNT(*) FROM {TABLE} t "
        "LATERAL VIEW JSON_TUPLE(t.event, 'eventName') x AS n GROUP BY x.n"
    )
    planned = plan(tw, sql)
    assert planned.scans[0].columns == ("event_name",)
    assert run(tw, sql) == plain(tw, "SELECT event_name, COUNT(*) FROM t GROUP BY event_name")


def _days(tw: WarehouseFixture) -> list[str]:
    return partitions(tw)


def _shanghai_day(offset: int) -> str:
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai"))
    return (today + datetime.timedelta(days=offset)).strftime("%Y%m%d")


@pytest.mark.parametrize(
    ("where", "keep"),
    [
        ("ds = '{d2}'", lambda d: [d[2]]),
        ("ds >= '{d5}'", lambda d: d[5:]),
        ("ds > '{d5}' AND ds < '{d7}'", lambda d: [d[6]]),
        ("ds BETWEEN '{d1}' AND '{d3}'", lambda d: d[1:4]),
        ("ds IN ('{d0}', '{d4}')", lambda d: [d[0], d[4]]),
        ("'{d6}' <= ds", lambda d: d[6:]),
        ("(ds = '{d3}')", lambda d: [d[3]]),
        ("ds = {d3}", lambda d: [d[3]]),  # a number compares as a number
        ("ds = '{d2}' OR ds = '{d3}'", lambda d: d),  # OR is not pruned; the filter still runs
        ("event_name = 'x' AND ds <= '{d0}'", lambda d: [d[0]]),
        (
            "ds >= TO_CHAR(DATEADD(GETDATE(), -2, 'dd'), 'yyyymmdd')",
            # GETDATE is now in the project's zone (Asia/Shanghai for cn-hangzhou).
            lambda d: [x for x in d if x >= _shanghai_day(-2)],
        ),
    ],
)
def test_ds_predicates_prune_partitions(tw: WarehouseFixture, where: str, keep: Any) -> None:
    days = _days(tw)
    assert len(days) == 9
    condition = where.format(**{f"d{i}": day for i, day in enumerate(days)})
    planned = plan(tw, f"SELECT COUNT(*) FROM {TABLE} WHERE {condition}")
    assert list(planned.scans[0].partitions_read) == keep(days)
    assert {f.ds for f in planned.scans[0].files} == set(keep(days))
    counted = run(tw, f"SELECT COUNT(*) FROM {TABLE} WHERE {condition}")
    listed = ", ".join(f"'{day}'" for day in keep(days))
    assert counted == plain(
        tw,
        f"SELECT COUNT(*) FROM t WHERE ds IN ({listed}) AND ({condition})"
        if "GETDATE" not in condition
        else f"SELECT COUNT(*) FROM t WHERE ds IN ({listed})",
    )


def test_pruning_lowers_the_bytes_a_query_is_billed(tw: WarehouseFixture) -> None:
    everything = plan(tw, f"SELECT event_name FROM {TABLE}")
    one_day = plan(tw, f"SELECT event_name FROM {TABLE} WHERE ds = '{_days(tw)[4]}'")
    files = tw.warehouse.catalog.files(tw.table)
    assert everything.input_bytes == sum(f.column_bytes["event_name"] for f in files)
    assert 0 < one_day.input_bytes < everything.input_bytes
    assert plan(tw, f"SELECT COUNT(*) FROM {TABLE}").input_bytes == 0
    star = plan(tw, f"SELECT * FROM {TABLE}")
    # Every column of the table, and not the JSON path columns, which a `*` does not read.
    names = schema_of(tw.table.schema_version).names
    assert star.input_bytes == sum(f.column_bytes.get(c, 0) for f in files for c in names)
    assert star.input_bytes < sum(sum(f.column_bytes.values()) for f in files)


@pytest.mark.parametrize(
    ("sql", "keywords"),
    [
        ("SELECT a FROM t", 1),
        ("SELECT a, COUNT(*) FROM t GROUP BY a ORDER BY a LIMIT 5", 3),
        ("SELECT DISTINCT a FROM t JOIN u ON t.k = u.k", 3),
        ("SELECT COUNT(DISTINCT a), ROW_NUMBER() OVER (PARTITION BY b ORDER BY c) FROM t", 3),
        (
            "SELECT a FROM t JOIN u ON t.k = u.k JOIN v ON v.k = u.k GROUP BY a ORDER BY a LIMIT 1",
            5,
        ),
    ],
)
def test_keywords_are_counted_as_maxcompute_counts_them(sql: str, keywords: int) -> None:
    assert count_keywords(parse(sql)) == keywords


@pytest.mark.parametrize(
    ("keywords", "factor"), [(1, 1.0), (3, 1.0), (4, 1.5), (6, 1.5), (7, 2.0), (19, 2.0), (20, 4.0)]
)
def test_complexity_factors(keywords: int, factor: float) -> None:
    assert complexity_of(keywords) == factor


def test_cost_sql_is_recognised(tw: WarehouseFixture) -> None:
    planned = plan(tw, f"cost sql SELECT event_name, COUNT(*) FROM {TABLE} GROUP BY event_name;")
    assert planned.is_cost
    assert planned.complexity == 1.0
    assert planned.input_bytes > 0


@pytest.mark.parametrize(
    ("sql", "error", "says"),
    [
        ("SELEC 1", SqlParseError, "Parse exception"),
        (f"SELECT FOO_BAR(event) FROM {TABLE}", SqlSemanticError, "FOO_BAR"),
        (f"INSERT INTO {TABLE} SELECT * FROM {TABLE}", NoPermission, "only from ActionTrail"),
        (f"DROP TABLE {TABLE}", NoPermission, "DROP on"),
        ("CREATE TABLE mine (a STRING)", NoPermission, "accepts table writes only"),
        ("SELECT 1; SELECT 2", SqlSemanticError, "one statement"),
        ("SELECT * FROM no_such_table", TableNotFound, "no_such_table"),
        ("SELECT * FROM read_csv('/etc/passwd')", SqlSemanticError, "reads files"),
        (f"SELECT * FROM actiontrail_{OTHER_ACCOUNT}.t", Exception, "Project not found"),
        ("", SqlParseError, "empty"),
    ],
)
def test_bad_sql_is_refused_naming_what_is_wrong(
    tw: WarehouseFixture, sql: str, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        plan(tw, sql)


DEEP = MAX_SQL_NESTING + 1


@pytest.mark.parametrize(
    ("sql", "code", "says"),
    [
        ("SELECT " + "(" * 1000 + "1" + ")" * 1000, "ODPS-0130161", "more than 32 levels deep"),
        ("SELECT " + "(" * DEEP + "1" + ")" * DEEP, "ODPS-0130161", "more than 32 levels deep"),
        (
            f"SELECT * FROM {'(SELECT * FROM ' * DEEP}{TABLE}{') x' * DEEP}",
            "ODPS-0130161",
            "subqueries or expressions more than 32",
        ),
        ("SELECT " + "ABS(" * DEEP + "1" + ")" * DEEP, "ODPS-0130161", "flatten it"),
        # CASE nests without parentheses: the planner's own recursion is caught.
        (
            f"SELECT {'CASE WHEN event_rw = 1 THEN ' * 200}1{' END' * 200} FROM {TABLE}",
            "ODPS-0130161",
            "more than 32 levels deep",
        ),
        (f"SELECT 1 -- {'(' * 1000}", None, ""),
        (f"SELECT '{'(' * 1000}'", None, ""),
        ("SELECT '" + "x" * (2 * 1024 * 1024) + "'", "ODPS-0130161", "at most 2097152 (2 MB)"),
        (
            f"SELECT TRANSFORM(event_name) USING 'cat' AS (x) FROM {TABLE}",
            "ODPS-0130071",
            "TRANSFORM/MAP/REDUCE ... USING 'script'",
        ),
        (
            f'FROM {TABLE} SELECT TRANSFORM(event_name) USING "/bin/sh -c id" AS (x)',
            "ODPS-0130071",
            "runs an external program",
        ),
        (f"MAP event_name USING 'cat' AS x FROM {TABLE}", "ODPS-0130071", "not support"),
        (f"REDUCE event_name USING 'cat' AS x FROM {TABLE}", "ODPS-0130071", "not support"),
        ("ADD FILE /etc/passwd", "ODPS-0130071", "not ADD"),
        ("ADD JAR /tmp/x.jar", "ODPS-0130071", "not ADD"),
        (
            f"SELECT * FROM {TABLE} JOIN {TABLE} b USING (event_id) LIMIT 1",
            None,
            "",
        ),
    ],
)
def test_sql_over_the_limits_or_running_a_script_is_refused_by_name(
    tw: WarehouseFixture, sql: str, code: str | None, says: str
) -> None:
    if code is None:
        plan(tw, sql)
        return
    with pytest.raises(ApiError) as refused:
        plan(tw, sql)
    assert refused.value.code == code
    assert says in refused.value.message
    assert "\x1b" not in refused.value.message


def test_parse_errors_say_where_without_terminal_codes(tw: WarehouseFixture) -> None:
    with pytest.raises(SqlParseError) as refused:
        plan(tw, "SELECT event_name FROM t WHERE")
    assert "\x1b" not in refused.value.message
    assert refused.value.message.startswith("[1,26] Parse exception")


def test_a_project_qualified_name_resolves(tw: WarehouseFixture) -> None:
    assert run(tw, f"SELECT COUNT(*) FROM actiontrail_{ACCOUNT}.{TABLE}") == [(3000,)]


def test_the_engine_reads_no_file_outside_the_warehouse(tw: WarehouseFixture) -> None:
    tree = sqlglot.parse_one("SELECT * FROM read_text('/etc/hostname')", read="duckdb")
    assert isinstance(tree, exp.Query)
    engine = DuckDbEngine(tw.settings.data_dir / "spill")
    with pytest.raises(EngineError, match="disabled by configuration"):
        engine.run(QueryPlan(tree, ()), Limits(1, 1.0, 10), JobControl())


def test_a_view_over_files_holding_all_its_columns_reads_them_as_they_are(
    tw: WarehouseFixture,
) -> None:
    sql = f"SELECT event_name, ds, COUNT(*) FROM {TABLE} GROUP BY event_name, ds"
    table = plan(tw, sql).plan.inputs[0]
    assert table.uniform
    direct, unified = view_sql(table), view_sql(replace(table, uniform=False))
    assert "UNION" not in direct and "UNION ALL BY NAME" in unified
    answers = []
    for view in (direct, unified):
        with duckdb.connect() as con:
            con.execute(f'CREATE VIEW "{table.view}" AS {view}')
            answers.append(_sorted(con.execute(f'SELECT * FROM "{table.view}"').fetchall()))
            names = [row[0] for row in con.execute(f'DESCRIBE "{table.view}"').fetchall()]
            assert names == list(table.columns)
    assert answers[0] == answers[1] and len(answers[0]) == 3000


def test_a_table_named_twice_reads_twice(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT COUNT(*) FROM {TABLE} WHERE event_name IN "
        f"(SELECT event_name FROM {TABLE} WHERE event_rw = 'Write')"
    )
    expected = plain(
        tw,
        "SELECT COUNT(*) FROM t WHERE event_name IN (SELECT event_name FROM t "
        "WHERE event_rw = 'Write')",
    )
    assert run(tw, sql) == expected
    assert len(plan(tw, sql).scans) == 2


@pytest.mark.parametrize("where", ["ds >= {d}", "ds BETWEEN {d} AND 99999999", "{d} <= ds"])
def test_ds_compared_with_a_number_compares_as_numbers(tw: WarehouseFixture, where: str) -> None:
    day = _days(tw)[4]
    condition = where.format(d=day)
    expected = plain(tw, f"SELECT COUNT(*) FROM t WHERE ds >= '{day}'")
    assert run(tw, f"SELECT COUNT(*) FROM {TABLE} WHERE {condition}") == expected
    assert (
        list(plan(tw, f"SELECT COUNT(*) FROM {TABLE} WHERE {condition}").scans[0].partitions_read)
        == _days(tw)[4:]
    )
