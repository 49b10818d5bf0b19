"""JSON path columns (warehouse/json_columns.py): GET_JSON_OBJECT on a path no typed column holds
reads the path's column where every file read answers it, and answers exactly as reading the
JSON text does, on DuckDB and Spark, over files with path columns, files from before them, a
table mixing both, and after compaction (docs/warehouse.md, "JSON path columns").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from builders import ACCOUNT, WarehouseFixture, open_test_warehouse, root
from conformance_helpers import ENGINES, answer
from sqlglot import exp

from trailhouse.events.model import LoggedEvent
from trailhouse.warehouse import encoder, json_columns
from trailhouse.warehouse.json_columns import (
    NO_LAYOUT,
    ROOT,
    JsonLayout,
    answers,
    column_name,
    shred,
)
from trailhouse.warehouse.schema import current
from trailhouse.warehouse.sql.engine import Engine
from trailhouse.warehouse.writer import ds_of

TABLE = "actiontrail_audit_trail"
TYPED = [column.path for column in current().typed]
DAY = 86_400


def event(number: int, when: int, **fields: object) -> dict[str, object]:
    """An audit event with the typed fields and `fields` on top."""
    body: dict[str, object] = {
        "eventId": f"ev-{number}",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        "eventName": "CreateRole",
        "eventSource": "ram.aliyuncs.com",
        "userIdentity": {"type": "ram-user", "userName": f"u{number % 3}"},
    }
    body.update(fields)
    return body


# Day one: every path holds text, an object, null, or is missing: the path columns answer.
DAY_ONE = [
    {"requestParameters": {"RoleName": "admin", "a.b": "dotted"}, "responseElements": None},
    {"requestParameters": {"RoleName": 'q"u\\o\u00e9te'}, "responseElements": {"Role": "r1"}},
    {"requestParameters": {}, "responseElements": {"Role": {"Arn": "acs:ram::1:role/x"}}},
    {
        "userIdentity": {
            "type": "assumed-role",
            "sessionContext": {"attributes": {"mfaAuthenticated": "true"}},
        },
        "additionalEventData": {"LoginId": None},
        "requestParameters": "not an object",
    },
    {"requestParameters": {"RoleName": "", "PageSize": 50}},
]
# Day two: RoleName is an array in one event, so it is read from the JSON on that day.
DAY_TWO = [
    {"requestParameters": {"RoleName": ["a", "b"]}},
    {"requestParameters": {"RoleName": "reader"}, "responseElements": {"Role": "r2"}},
]
PATHS = [
    "$.requestParameters.RoleName",
    "$.requestParameters.PageSize",
    "$.requestParameters",
    "$.responseElements.Role",
    "$.responseElements.Role.Arn",
    "$.userIdentity.sessionContext.attributes.mfaAuthenticated",
    "$.userIdentity.sessionContext",
    "$.additionalEventData.LoginId",
    "$.eventSource",
    "$.requestParameters.a.b",
    "$['requestParameters']['RoleName']",
    "$.no_such_key",
    "$.eventName.below",
]


def logged(rows: list[dict[str, object]], first_seq: int, day: int) -> list[LoggedEvent]:
    """The rows as events of the log, an hour apart on `day` (a day-start epoch)."""
    events = []
    for offset, fields in enumerate(rows):
        when = day + 3600 * (offset + 1)
        body = event(first_seq + offset, when, **fields)
        seq = first_seq + offset
        events.append(LoggedEvent(seq, ACCOUNT, f"ev-{seq}", when, 0, orjson.dumps(body)))
    return events


def before_path_columns(
    table: object, columns: object, layout: object
) -> tuple[object, JsonLayout]:
    """What the writer of the release before path columns wrote: the rows alone."""
    return table, NO_LAYOUT


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    engine: Engine | None = None
    if request.param == "spark":
        from conformance_helpers import SharedSpark

        engine = SharedSpark(request.getfixturevalue("spark_engine"))
    opened = open_test_warehouse(
        Path(tmp_path_factory.mktemp(request.param)) / "data",
        engine,
        compaction_min_files=2,
        compaction_age_seconds=0,
    )
    today = int(time.time()) // DAY * DAY
    opened.append(logged(DAY_ONE, 1, today - 3 * DAY))
    opened.append(logged(DAY_TWO, 101, today - 2 * DAY))
    # Day three: the same events in a file of the release before path columns, then in one of
    # today's, so the day mixes both until compaction merges them.
    with pytest.MonkeyPatch.context() as earlier:
        earlier.setattr(encoder, "appended", before_path_columns)
        opened.append(logged(DAY_ONE, 201, today - DAY))
    opened.append(logged(DAY_ONE, 301, today - DAY))
    yield opened
    opened.close()


def day(tw: WarehouseFixture, days_ago: int) -> str:
    return ds_of(int(time.time()) // DAY * DAY - days_ago * DAY)


def reads_json(tw: WarehouseFixture, sql: str) -> bool:
    """Whether the planned query still parses JSON text anywhere."""
    tree = tw.warehouse.planner.plan(root(), tw.project, sql).plan.tree
    return any(tree.find_all(exp.JSONExtractScalar, exp.JSONExtract))


def same_as_text(tw: WarehouseFixture, path: str, where: str) -> list[list[object]]:
    """The rows of GET_JSON_OBJECT over the event and over its text copy, which no column
    answers; asserts they agree row by row."""
    quoted = path.replace("'", "\\'")
    sql = (
        f"SELECT event_id, GET_JSON_OBJECT(event, '{quoted}') AS v, "
        f"GET_JSON_OBJECT(CONCAT(event, ''), '{quoted}') AS t FROM {TABLE} WHERE {where} "
        "ORDER BY event_id"
    )
    rows = answer(tw, sql).rows
    assert rows
    assert [row[1] for row in rows] == [row[2] for row in rows], (path, rows)
    return rows


def test_shredding_records_text_leaves_and_what_columns_cannot_answer() -> None:
    events = [orjson.dumps(event(1, 0, **fields)).decode() for fields in [*DAY_ONE, *DAY_TWO]]
    columns, layout = shred(events[: len(DAY_ONE)], TYPED, current().version)
    role = columns[column_name("requestParameters.RoleName")].to_pylist()
    assert role == ["admin", 'q"u\\o\u00e9te', None, None, ""]
    assert column_name("eventName") not in columns  # a typed column's path
    assert column_name("eventSource") in columns
    assert column_name("requestParameters.a.b") not in columns  # the key "a.b"
    columns, layout = shred(events, TYPED, current().version)
    assert column_name("requestParameters.RoleName") not in columns
    assert "requestParameters.RoleName" in layout.others  # an array in one event
    assert "requestParameters.PageSize" in layout.others  # a number
    assert {"requestParameters", "responseElements.Role"} <= set(layout.objects)
    assert "additionalEventData.LoginId" not in layout.others  # null reads as missing
    assert ROOT not in layout.others


@pytest.mark.parametrize(
    "text",
    [
        '{"eventId": "a", "eventId": "b"}',
        '{"x": {"k" : "v1", "k": "v2"}}',
        '{"x": [{"k": "v1", "k": "v2"}], "y": "\\":"}',
        '{"a":"x","b":{"c":"d"},"a":"y"}',
        '["not", "an object"]',
        "not json",
    ],
)
def test_an_event_shredding_cannot_read_exactly_leaves_the_file_to_the_json(text: str) -> None:
    columns, layout = shred([text, '{"a": "b"}'], TYPED, current().version)
    assert ROOT in layout.others
    assert answers("$.a", [layout]) is None
    assert columns == {}  # columns no query would read are not stored
    assert shred([text.encode(), b'{"a": "b"}'], TYPED, current().version) == (columns, layout)


def test_text_with_a_nul_is_left_to_the_json() -> None:
    events = ['{"a": "x\\u0000y", "b": "z"}', '{"a": "w", "b": "\\\\u0000"}']
    columns, layout = shred(events, TYPED, current().version)
    assert "a" in layout.others and answers("$.a", [layout]) is None
    assert columns[column_name("b")].to_pylist() == ["z", "\\u0000"]  # an escaped backslash


def test_escaped_text_and_colons_in_values_are_not_duplicates() -> None:
    text = '{"a": "x\\": y", "b": "\\\\", "c": ": z", "d" : {"e": "\\u00e9"}}'
    columns, layout = shred([text], TYPED, current().version)
    assert ROOT not in layout.others
    assert columns[column_name("d.e")].to_pylist() == ["\u00e9"]


SLICED = [
    '{"a": "x", "n": "1"}',
    '{"a": "y", "o": {"p": "q"}}',
    '{"n": 2, "late": {"t": "u"}}',  # `n` a number only in the second slice
    None,
    '{"b": "x\\u0000y", "a": "z"}',  # a NUL only in the third slice
    '{"c": "only here"}',  # a path met in the last slice alone
]


@pytest.mark.parametrize("rows", [1, 2, 4])
def test_shredding_in_slices_gives_what_shredding_at_once_gives(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_columns, "SLICE_ROWS", len(SLICED))
    at_once = shred(SLICED, TYPED, current().version)
    monkeypatch.setattr(json_columns, "SLICE_ROWS", rows)
    columns, layout = shred(SLICED, TYPED, current().version)
    assert layout == at_once[1]
    assert {"n", "b"} <= set(layout.others) and "o" in layout.objects
    assert {name: c.to_pylist() for name, c in columns.items()} == {
        name: c.to_pylist() for name, c in at_once[0].items()
    }
    assert columns[column_name("c")].to_pylist() == [None] * 5 + ["only here"]
    assert columns[column_name("late.t")].to_pylist() == [None, None, "u", None, None, None]
    unreadable = [*SLICED, "not json", '{"a": "w"}']
    assert shred(unreadable, TYPED, current().version) == (
        {},
        JsonLayout(layout.version, (), (ROOT,)),
    )


def test_which_paths_a_layout_answers() -> None:
    layout = JsonLayout(current().version, ("a", "a.b"), ("a.n", "arr"))
    assert answers("$.a.b.c", [layout]) == column_name("a.b.c")
    assert answers("$.a.s", [layout, layout]) == column_name("a.s")
    assert answers("$.a", [layout]) is None  # an object somewhere
    assert answers("$.a.n", [layout]) is None  # a number somewhere
    assert answers("$.arr.x", [layout]) is None  # below an array
    assert answers('$."a".s', [layout]) is None  # a quoted key
    assert answers("$.a[0]", [layout]) is None
    assert answers("$.eventName", [layout]) is None  # typed
    assert answers("$.a.s", [layout, NO_LAYOUT]) is None  # a file without path columns
    assert answers("$.a.s", []) is None


def test_files_record_their_path_columns_and_layout(tw: WarehouseFixture) -> None:
    files = tw.warehouse.catalog.files(tw.table)
    shredded = [f for f in files if f.json_layout.version]
    assert len(shredded) == 3 and len(files) == 4
    for data_file in shredded:
        names = pq.ParquetFile(tw.settings.warehouse_path / data_file.path).schema_arrow.names
        assert column_name("eventSource") in names
        assert data_file.column_bytes[column_name("eventSource")] > 0


@pytest.mark.parametrize("path", PATHS)
def test_each_path_answers_as_the_json_text_on_every_day(tw: WarehouseFixture, path: str) -> None:
    for days_ago in (3, 2, 1):
        same_as_text(tw, path, f"ds = '{day(tw, days_ago)}'")
    same_as_text(tw, path, "ds > '0'")


def test_columns_are_read_only_where_every_file_answers(tw: WarehouseFixture) -> None:
    one, two, mixed = (f"ds = '{day(tw, n)}'" for n in (3, 2, 1))
    role = "GET_JSON_OBJECT(event, '$.requestParameters.RoleName')"
    mfa = "GET_JSON_OBJECT(event, '$.userIdentity.sessionContext.attributes.mfaAuthenticated')"
    assert not reads_json(tw, f"SELECT {role}, {mfa} FROM {TABLE} WHERE {one}")
    assert reads_json(tw, f"SELECT {role} FROM {TABLE} WHERE {two}")  # an array that day
    assert not reads_json(tw, f"SELECT {mfa} FROM {TABLE} WHERE {two}")
    assert reads_json(tw, f"SELECT {mfa} FROM {TABLE} WHERE {mixed}")  # an older file
    assert reads_json(tw, f"SELECT * FROM {TABLE} WHERE {one} AND {role} = 'admin'")
    quoted_key = "GET_JSON_OBJECT(event, '$[\\'eventSource\\']')"
    assert not reads_json(tw, f"SELECT {quoted_key} FROM {TABLE} WHERE {one}")
    for path in ("$.requestParameters", "$.requestParameters.PageSize", "$['a.b']"):
        quoted = path.replace("'", "\\'")
        assert reads_json(tw, f"SELECT GET_JSON_OBJECT(event, '{quoted}') FROM {TABLE} WHERE {one}")


def test_a_filtered_grouped_query_and_json_tuple_answer_as_the_text(
    tw: WarehouseFixture,
) -> None:
    one = f"ds = '{day(tw, 3)}'"
    grouped = (
        "SELECT GET_JSON_OBJECT({e}, '$.requestParameters.RoleName') AS role, COUNT(*) AS n "
        f"FROM {TABLE} WHERE {one} AND GET_JSON_OBJECT({{e}}, '$.eventSource') LIKE 'ram%' "
        "GROUP BY GET_JSON_OBJECT({e}, '$.requestParameters.RoleName') ORDER BY role"
    )
    columns = grouped.format(e="event")
    assert not reads_json(tw, columns)
    assert answer(tw, columns).rows == answer(tw, grouped.format(e="CONCAT(event, '')")).rows
    tuple_sql = (
        "SELECT t.source, t.version FROM {table} LATERAL VIEW JSON_TUPLE({e}, 'eventSource', "
        "'apiVersion') t AS source, version WHERE {where} ORDER BY t.source"
    )
    fast = tuple_sql.format(table=TABLE, e="event", where=one)
    assert not reads_json(tw, fast)
    slow = tuple_sql.format(table=TABLE, e="CONCAT(event, '')", where=one)
    assert answer(tw, fast).rows == answer(tw, slow).rows


def test_star_shows_only_the_tables_columns(tw: WarehouseFixture) -> None:
    sql = (
        f"SELECT * FROM {TABLE} WHERE ds = '{day(tw, 3)}' "
        "AND GET_JSON_OBJECT(event, '$.requestParameters.RoleName') = 'admin'"
    )
    result = answer(tw, sql)
    assert list(result.columns) == [*current().names, "ds"]
    assert len(result.rows) == 1


def test_compaction_gives_older_files_path_columns(tw: WarehouseFixture) -> None:
    mixed = f"ds = '{day(tw, 1)}'"
    path = "$.userIdentity.sessionContext.attributes.mfaAuthenticated"
    before = same_as_text(tw, path, mixed)
    assert tw.warehouse.compactor.run_once() > 0
    files = tw.warehouse.catalog.files(tw.table)
    assert all(f.json_layout.version for f in files if f.ds == day(tw, 1))
    assert not reads_json(tw, f"SELECT GET_JSON_OBJECT(event, '{path}') FROM {TABLE} WHERE {mixed}")
    assert same_as_text(tw, path, mixed) == before
