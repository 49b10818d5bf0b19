"""The examples of MaxCompute's function pages for the functions that were checked only on rows
built from the pages' rules (page_examples.py, window_examples.py), run through the SQL job
service on DuckDB and on Spark: each answer must be the page's, or the form must be refused by
name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from builders import WarehouseFixture, root
from conformance_helpers import ENGINES, answer, engine_warehouse
from maxcompute_examples import Example
from page_examples import LAST_DIGIT_VARIES, PAGE_EXAMPLES, PAGE_QUERIES, PAGE_REFUSED
from window_examples import NAMES_TIED_ROWS, WINDOW_QUERIES, WINDOW_REFUSED

from trailhouse.errors import ApiError


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    yield from engine_warehouse(request, tmp_path_factory)


@pytest.mark.parametrize("example", PAGE_EXAMPLES, ids=[e.id for e in PAGE_EXAMPLES])
def test_page_example(tw: WarehouseFixture, example: Example) -> None:
    result = answer(tw, f"SELECT {example.sql} AS v")
    assert result.rows == [[example.expected]], (example.function, example.page)
    if example.kind:
        assert result.types == (example.kind,), (example.function, example.page)


def _ordered(rows: list[list[Any]]) -> list[list[Any]]:
    # An integer sorts as the equal float: a page may print a BIGINT 5000 as 5000.0.
    return sorted(rows, key=lambda row: repr([_number(v) for v in row]))


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _printed_order(sql: str) -> bool:
    """Whether the query orders its rows (an ORDER BY after the last subquery or window)."""
    return "order by" in sql.lower().rsplit(")", 1)[-1]


def _without(rows: list[list[Any]], column: int) -> list[list[Any]]:
    return _ordered([row[:column] + row[column + 1 :] for row in rows])


QUERIES = PAGE_QUERIES + WINDOW_QUERIES


@pytest.mark.parametrize(
    ("function", "sql", "expected", "page"), QUERIES, ids=[q[0] for q in QUERIES]
)
def test_page_query(
    tw: WarehouseFixture, function: str, sql: str, expected: list[list[Any]], page: str
) -> None:
    rows = answer(tw, sql).rows
    if not _printed_order(sql):  # the page's rows in the order it printed them, or any order
        rows, expected = _ordered(rows), _ordered(expected)
    if function in NAMES_TIED_ROWS:  # tied rows' numbers in an order the query does not state
        name, number = NAMES_TIED_ROWS[function], len(expected[0]) - 1
        assert _without(rows, name) == _without(expected, name), (function, page)
        assert _without(rows, number) == _without(expected, number), (function, page)
    elif function in LAST_DIGIT_VARIES:
        assert rows == [pytest.approx(row, rel=1e-15) for row in expected], (function, page)
    else:
        assert rows == expected, (function, page)


REFUSED = PAGE_REFUSED + WINDOW_REFUSED


@pytest.mark.parametrize(("sql", "code", "says"), REFUSED, ids=[r[0] for r in REFUSED])
def test_page_example_refused_by_name(tw: WarehouseFixture, sql: str, code: str, says: str) -> None:
    with pytest.raises(ApiError) as refused:
        tw.warehouse.jobs.submit(root(), tw.project, f"SELECT {sql}")
    assert refused.value.code == code and says in refused.value.message, refused.value.message
