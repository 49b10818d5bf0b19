"""GET_JSON_OBJECT over the `event` column answers the same whether the planner rewrites it to a
typed column or reads the JSON text (docs/warehouse.md, typed-column rewrite), on DuckDB and on
Spark, for every typed path and for paths no column holds (missing keys, `['…']`, `[*]`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from builders import WarehouseFixture, logged_events, root
from conformance_helpers import ENGINES, answer, engine_warehouse
from sqlglot import exp

from trailhouse.warehouse.schema import current

TABLE = "actiontrail_audit_trail"
TYPED = [column.path for column in current().typed]
UNTYPED = [
    "$.userIdentity",
    "$['userIdentity']['type']",
    "$['userIdentity'].userName",
    "$.userIdentity.nope",
    "$.no_such_key.below",
    "$.eventName[0]",
    "$['eventName.eventId']",
    "$.resourceName[*]",
    "$",
]


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    for opened in engine_warehouse(request, tmp_path_factory):
        opened.append(logged_events(60, days=2))
        yield opened


def _rewritten(tw: WarehouseFixture, path: str) -> bool:
    quoted = path.replace("'", "\\'")
    sql = f"SELECT GET_JSON_OBJECT(event, '{quoted}') AS v FROM {TABLE}"
    tree = tw.warehouse.planner.plan(root(), tw.project, sql).plan.tree
    return not any(tree.find_all(exp.JSONExtractScalar, exp.JSONExtract))


@pytest.mark.parametrize("path", TYPED + UNTYPED)
def test_rewritten_and_read_paths_answer_alike(tw: WarehouseFixture, path: str) -> None:
    quoted = path.replace("'", "\\'")
    sql = (
        f"SELECT GET_JSON_OBJECT(event, '{quoted}') AS typed, "
        f"GET_JSON_OBJECT(CONCAT(event, ''), '{quoted}') AS read FROM {TABLE}"
    )
    rows = answer(tw, sql).rows
    assert len(rows) == 60
    assert all(row[0] == row[1] for row in rows), [r for r in rows if r[0] != r[1]][:3]
    if path in TYPED:
        assert any(row[0] is not None for row in rows), path


def test_typed_paths_are_rewritten_and_others_are_not(tw: WarehouseFixture) -> None:
    assert all(_rewritten(tw, path) for path in TYPED)
    # A key with a dot in it is that key, not a path into the event: never a typed column.
    assert not _rewritten(tw, "$['eventName.eventId']")
    assert not _rewritten(tw, "$.resourceName[*]")
