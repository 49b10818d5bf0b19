"""LATERAL VIEW [OUTER] EXPLODE/POSEXPLODE and EXPLODE alone in a select list, on DuckDB and on
Spark (`warehouse/sql/udtf.py`), over the sample table of MaxCompute's LATERAL VIEW page
(pageAds: front_page [1, 2, 3] ["a", "b", "c"], contact_page [3, 4, 5] ["d", "e", "f"]), its three
queries, and the rules the page states (OUTER keeps a row whose input gives none, with NULLs).
The rows are compared as sets: neither MaxCompute nor the engines promise an order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from builders import WarehouseFixture, root
from conformance_helpers import ENGINES, answer, engine_warehouse

from trailhouse.errors import ApiError

PAGE = "https://www.alibabacloud.com/help/en/maxcompute/user-guide/lateral-view"
PAGE_ADS = (
    "(SELECT 'front_page' AS pageid, ARRAY(1, 2, 3) AS col1, ARRAY('a', 'b', 'c') AS col2 "
    "UNION ALL SELECT 'contact_page', ARRAY(3, 4, 5), ARRAY('d', 'e', 'f')) pageAds"
)
ROWS = {"front_page": ([1, 2, 3], ["a", "b", "c"]), "contact_page": ([3, 4, 5], ["d", "e", "f"])}


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    yield from engine_warehouse(request, tmp_path_factory)


def _rows(tw: WarehouseFixture, sql: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(row) for row in answer(tw, sql).rows), key=repr)


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


def test_one_view_gives_a_row_per_element(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT pageid, col1_new, col2 FROM {PAGE_ADS} "
        "LATERAL VIEW EXPLODE(col1) adTable AS col1_new"
    )
    result = answer(tw, sql)
    assert result.columns == ("pageid", "col1_new", "col2")
    expected = [(page, n, ROWS[page][1]) for page, (numbers, _) in ROWS.items() for n in numbers]
    assert _sorted([tuple(r) for r in result.rows]) == _sorted(expected), PAGE


def test_a_view_s_rows_group_like_any_table(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT col1_new, COUNT(1) AS count FROM {PAGE_ADS} "
        "LATERAL VIEW EXPLODE(col1) adTable AS col1_new GROUP BY col1_new"
    )
    assert _rows(tw, sql) == [(1, 1), (2, 1), (3, 2), (4, 1), (5, 1)], PAGE


def test_views_chain_each_seeing_the_ones_before(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT pageid, mycol1, mycol2 FROM {PAGE_ADS} "
        "LATERAL VIEW EXPLODE(col1) myTable1 AS mycol1 "
        "LATERAL VIEW EXPLODE(col2) myTable2 AS mycol2"
    )
    expected = [
        (page, n, s) for page, (numbers, strings) in ROWS.items() for n in numbers for s in strings
    ]
    assert _rows(tw, sql) == _sorted(expected), PAGE


def test_outer_keeps_a_row_whose_input_gives_none(tw: WarehouseFixture) -> None:
    data = (
        "(SELECT 1 AS id, ARRAY('x', 'y') AS a UNION ALL SELECT 2, CAST(NULL AS ARRAY<STRING>) "
        "UNION ALL SELECT 3, SPLIT(',', ',')) s"  # NULL, and an empty array
    )
    inner = f"SELECT s.id, t.x FROM {data} LATERAL VIEW EXPLODE(s.a) t AS x"
    assert _rows(tw, inner) == [(1, "x"), (1, "y")]
    outer = f"SELECT s.id, t.x FROM {data} LATERAL VIEW OUTER EXPLODE(s.a) t AS x"
    assert _rows(tw, outer) == _sorted([(1, "x"), (1, "y"), (2, None), (3, None)]), PAGE


def test_posexplode_numbers_from_zero_and_a_map_explodes_to_key_and_value(
    tw: WarehouseFixture,
) -> None:
    positions = f"SELECT pageid, p, v FROM {PAGE_ADS} LATERAL VIEW POSEXPLODE(col2) t AS p, v"
    expected = [(page, i, s) for page, (_, strings) in ROWS.items() for i, s in enumerate(strings)]
    assert _rows(tw, positions) == _sorted(expected)
    result = answer(tw, positions)
    assert result.types[1] == "INT"
    entries = (
        "SELECT k, v FROM (SELECT MAP('a', 1, 'b', 2) AS m) s LATERAL VIEW EXPLODE(m) t AS k, v"
    )
    assert _rows(tw, entries) == [("a", 1), ("b", 2)]


def test_alone_in_the_select_list(tw: WarehouseFixture) -> None:
    result = answer(tw, "SELECT EXPLODE(ARRAY(1, 2, 3))")
    assert result.columns == ("col",) and sorted(r[0] for r in result.rows) == [1, 2, 3]
    result = answer(tw, "SELECT POSEXPLODE(ARRAY('a', 'b'))")
    assert result.columns == ("pos", "val")
    assert sorted(map(tuple, result.rows)) == [(0, "a"), (1, "b")]
    result = answer(tw, "SELECT EXPLODE(MAP('a', 1, 'b', 2)) AS (k, v)")
    assert result.columns == ("k", "v") and sorted(map(tuple, result.rows)) == [("a", 1), ("b", 2)]
    named = f"SELECT EXPLODE(col1) AS n FROM {PAGE_ADS}"
    assert sorted(r[0] for r in answer(tw, named).rows) == [1, 2, 3, 3, 4, 5]


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT EXPLODE(ARRAY(1, 2)) + 1", "table-generating function"),
        ("SELECT 1, EXPLODE(ARRAY(1, 2))", "must be the only expression"),
        ("SELECT x FROM (SELECT ARRAY(1) a) s LATERAL VIEW EXPLODE(a) t", "name it after AS"),
        ("SELECT x FROM (SELECT ARRAY(1) a) s LATERAL VIEW POSEXPLODE(a) t AS x", "name them"),
    ],
)
def test_misplaced_or_unnamed_views_are_refused(tw: WarehouseFixture, sql: str, says: str) -> None:
    with pytest.raises(ApiError) as refused:
        tw.warehouse.jobs.submit(root(), tw.project, sql)
    assert refused.value.code == "ODPS-0130071"
    assert says in str(refused.value) and "EXPLODE" in str(refused.value)
