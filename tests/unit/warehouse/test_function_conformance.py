"""MaxCompute's documented function examples, run through the SQL job service on DuckDB and on
Spark: each answer must be the documented one, or the form must be refused by name.

The examples are in maxcompute_examples.py and family_examples.py; docs/sql-functions.md
counts them per function.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from builders import WarehouseFixture, root
from conformance_helpers import ENGINES, answer, engine_warehouse
from family_examples import FAMILY_EXAMPLES, FAMILY_REFUSED, QUERY_EXAMPLES
from maxcompute_examples import EXAMPLES, REFUSED, WINDOW_SUM_OF_TIES, Example

from trailhouse.errors import ApiError


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    yield from engine_warehouse(request, tmp_path_factory)


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
    rows = [[int(v) for v in row] for row in answer(tw, sql).rows]
    # The two tied rows (x = 1 and x = 2) may be summed in either order, in MaxCompute too; each
    # stops at itself: 1 then 3, or 2 then 3 (a RANGE frame would give both 3).
    tie_order_swapped = [[1, 3], [2, 2], [3, 6]]
    assert rows in (expected, tie_order_swapped), page


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
