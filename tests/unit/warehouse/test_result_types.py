"""Result values and column types as MaxCompute gives them (its 2.0 type system's names), on
DuckDB and on Spark: `/` is always DOUBLE and DIV a BIGINT, 1.5 is a DOUBLE and 1.5BD a DECIMAL,
an integer literal an INT (a BIGINT past INT's range), arithmetic the wider operand's type, CAST
the integer type it names,
a STRING constant in arithmetic is a DOUBLE, NULL goes through every operator, and no engine's
own type name (INTEGER, HUGEINT, VARCHAR, TIMESTAMP) reaches a caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from builders import WarehouseFixture
from conformance_helpers import ENGINES, answer, engine_warehouse

from trailhouse.warehouse.sql.types import maxcompute_type

# (expression, value, MaxCompute type of the result column)
CASES: list[tuple[str, Any, str]] = [
    ("1 / 2", 0.5, "DOUBLE"),
    ("4 / 2", 2.0, "DOUBLE"),
    ("7 DIV 2", 3, "BIGINT"),
    ("-7 DIV 2", -3, "BIGINT"),
    ("10 % 3", 1, "INT"),
    ("1 + 1", 2, "INT"),
    ("2 * 3", 6, "INT"),
    ("1 + 10L", 11, "BIGINT"),
    ("3000000000", 3000000000, "BIGINT"),
    ("2147483648", 2147483648, "BIGINT"),
    ("1Y", 1, "TINYINT"),
    ("2S", 2, "SMALLINT"),
    ("cast(1.6 as tinyint)", 1, "TINYINT"),
    ("cast('7' as smallint)", 7, "SMALLINT"),
    ("cast(7 as bigint)", 7, "BIGINT"),
    ("abs(-3)", 3, "INT"),
    ("1 + 1.5", 2.5, "DOUBLE"),
    ("1.5", 1.5, "DOUBLE"),
    ("1e3", 1000.0, "DOUBLE"),
    ("1.5BD", "1.5", "DECIMAL(2,1)"),
    ("10L", 10, "BIGINT"),
    ("'3' + 1", 4.0, "DOUBLE"),
    ("'3' * '2'", 6.0, "DOUBLE"),
    ("null + 1", None, "INT"),
    ("1 / null", None, "DOUBLE"),
    ("'a'", "a", "STRING"),
    ("concat('a', 'b')", "ab", "STRING"),
    ("null", None, "STRING"),
    ("true", True, "BOOLEAN"),
    ("1 < 2", True, "BOOLEAN"),
    ("null = null", None, "BOOLEAN"),
    ("date '2020-01-01'", "2020-01-01", "DATE"),
    ("datetime '2020-01-01 00:00:00'", "2020-01-01 00:00:00", "DATETIME"),
    ("cast('2020-01-01 10:00:00' as datetime)", "2020-01-01 10:00:00", "DATETIME"),
    ("cast(1 as string)", "1", "STRING"),
    # A DATETIME and a STRING in NVL or COALESCE: the STRING type, the DATETIME as its text
    # (NVL's page prints nvl(c3, '-') of a DATETIME c3 so).
    ("nvl(datetime '2020-01-01 10:00:00', '-')", "2020-01-01 10:00:00", "STRING"),
    ("nvl(cast(null as datetime), '-')", "-", "STRING"),
    (
        "coalesce(cast(null as datetime), datetime '2020-01-02 00:00:00', 'x')",
        "2020-01-02 00:00:00",
        "STRING",
    ),
    (
        "nvl(cast(null as datetime), datetime '2020-01-02 00:00:00')",
        "2020-01-02 00:00:00",
        "DATETIME",
    ),
    ("cast('7' as int)", 7, "INT"),
    ("array(1, 2)", [1, 2], "ARRAY<INT>"),
    ("array('a')", ["a"], "ARRAY<STRING>"),
    ("map('a', 1)", {"a": 1}, "MAP<STRING,INT>"),
    ("named_struct('a', 1, 'b', 'x')", {"a": 1, "b": "x"}, "STRUCT<a:INT,b:STRING>"),
]


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    yield from engine_warehouse(request, tmp_path_factory)


@pytest.mark.parametrize(("sql", "value", "kind"), CASES, ids=[c[0] for c in CASES])
def test_values_and_types_as_maxcompute_gives_them(
    tw: WarehouseFixture, sql: str, value: Any, kind: str
) -> None:
    result = answer(tw, f"SELECT {sql} AS v")
    assert result.rows == [[value]]
    assert result.types == (kind,)


def test_aggregates_are_bigint_and_double(tw: WarehouseFixture) -> None:
    result = answer(
        tw,
        "SELECT count(*) AS c, sum(x) AS s, avg(x) AS a, max(y) AS m, sum(z) AS d FROM "
        "(SELECT 1 AS x, 'p' AS y, 1.5 AS z UNION ALL SELECT 2 AS x, 'q' AS y, 2.5 AS z) t",
    )
    assert result.rows == [[2, 3, 1.5, "q", 4.0]]
    assert result.types == ("BIGINT", "BIGINT", "DOUBLE", "STRING", "DOUBLE")


@pytest.mark.parametrize(
    ("engine_name", "maxcompute_name"),
    [
        ("INTEGER", "INT"),
        ("TINYINT", "TINYINT"),
        ("BIGINT", "BIGINT"),
        ("HUGEINT", "BIGINT"),
        ("SMALLINT", "SMALLINT"),
        ("UBIGINT", "BIGINT"),
        ("VARCHAR", "STRING"),
        ("JSON", "JSON"),
        ('"NULL"', "STRING"),
        ("TIMESTAMP", "DATETIME"),
        ("TIMESTAMP WITH TIME ZONE", "DATETIME"),
        ("TIMESTAMP_NS", "DATETIME"),
        ("DECIMAL(38,18)", "DECIMAL(38,18)"),
        ("BLOB", "BINARY"),
        ("VARCHAR[][]", "ARRAY<ARRAY<STRING>>"),
        ("MAP(VARCHAR, INTEGER[])", "MAP<STRING,ARRAY<INT>>"),
        ('STRUCT(a INTEGER, "b c" VARCHAR)', "STRUCT<a:INT,`b c`:STRING>"),
    ],
)
def test_engine_type_names_become_maxcompute_names(engine_name: str, maxcompute_name: str) -> None:
    assert maxcompute_type(engine_name) == maxcompute_name


def test_rand_is_a_double_from_zero_to_one(tw: WarehouseFixture) -> None:
    """RAND's page: a DOUBLE in [0, 1), another each row (RAND(seed) is refused by name)."""
    result = answer(tw, "SELECT rand() AS r FROM (SELECT 1 AS x UNION ALL SELECT 2 AS x) t")
    values = [row[0] for row in result.rows]
    assert result.types == ("DOUBLE",)
    assert all(isinstance(v, float) and 0.0 <= v < 1.0 for v in values)
    assert values[0] != values[1]
