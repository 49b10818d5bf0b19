"""A column added to the audit table's schema: files of the older version stay readable by name.

The table is filled with files of the released version (`THEN`), then the schema module is moved
to a next version that adds `event_version` (`$.eventVersion`) and more events are delivered.
DuckDB, Spark and compaction then read across both versions: every row is there, and the older
rows read NULL in the new column.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, root

from trailhouse.errors import SqlSemanticError
from trailhouse.events.model import LoggedEvent
from trailhouse.warehouse import schema
from trailhouse.warehouse.json_columns import COLUMN_PREFIX
from trailhouse.warehouse.schema import Column, current, rows_of, version_of
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import JobControl, Limits, ResultSet
from trailhouse.warehouse.sql.spark import SparkEngine
from trailhouse.warehouse.writer import ds_of

TABLE = "actiontrail_audit_trail"
LIMITS = Limits(2, 2.0, 100_000)
THEN = schema.SCHEMA_VERSION  # what this trailhouse writes
NEXT = THEN + 1
EVENT_VERSION = Column("event_version", "$.eventVersion", "the event format's version", since=NEXT)


@contextlib.contextmanager
def at_version_1() -> Iterator[None]:
    """The schema module as the release before `event_version` had it."""
    with pytest.MonkeyPatch.context() as version_1:
        version_1.setattr(schema, "COLUMNS", tuple(c for c in schema.COLUMNS if c.since == 1))
        version_1.setattr(schema, "SCHEMA_VERSION", 1)
        yield


def move_to_next_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a release adding `event_version` would change: one column, one version."""
    monkeypatch.setattr(schema, "COLUMNS", (*schema.COLUMNS, EVENT_VERSION))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NEXT)


@dataclasses.dataclass
class TwoVersions:
    """A table with files of version THEN (every day but today's) and NEXT (today's)."""

    tw: WarehouseFixture
    old: list[LoggedEvent]
    new: list[LoggedEvent]
    old_day: str
    today: str


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoVersions]:
    tw = open_test_warehouse(tmp_path / "data", compaction_min_files=3, compaction_age_seconds=0)
    # Today's events from midnight (UTC) on, however little of today has passed.
    midnight = int(time.time()) // 86400 * 86400
    new = logged_events(400, first_seq=10_001, seed=11, since=midnight)
    today = ds_of(new[-1].event_time)
    new = [e for e in new if ds_of(e.event_time) == today]
    old = [e for e in logged_events(1200, days=4) if ds_of(e.event_time) != today]
    for start in range(0, len(old), 200):
        tw.append(old[start : start + 200])
    move_to_next_version(monkeypatch)
    for start in range(0, len(new), 100):
        tw.append(new[start : start + 100])
    yield TwoVersions(tw, old, new, ds_of(old[0].event_time), today)
    tw.close()


def run(engine: DuckDbEngine | SparkEngine, two: TwoVersions, sql: str) -> ResultSet:
    planned = two.tw.warehouse.planner.plan(root(), two.tw.project, sql)
    return engine.run(planned.plan, LIMITS, JobControl())


def event_versions(engine: DuckDbEngine | SparkEngine, two: TwoVersions) -> dict[str, str | None]:
    rows = run(engine, two, f"SELECT event_id, event_version FROM {TABLE}").rows
    return {str(event_id): version for event_id, version in rows}


def expected_versions(two: TwoVersions) -> dict[str, str | None]:
    old: dict[str, str | None] = {e.event_id: None for e in two.old}
    return old | {e.event_id: orjson.loads(e.body)["eventVersion"] for e in two.new}


def test_files_and_the_table_record_their_schema_version(two: TwoVersions) -> None:
    catalog = two.tw.warehouse.catalog
    files = catalog.files(two.tw.table)
    assert {f.schema_version for f in files if f.ds != two.today} == {THEN}
    assert {f.schema_version for f in files if f.ds == two.today} == {NEXT}
    for data_file in files:
        path = two.tw.settings.warehouse_path / data_file.path
        metadata = pq.ParquetFile(path).schema_arrow.metadata
        assert version_of(metadata) == data_file.schema_version
        assert ("event_version" in pq.read_schema(path).names) == (data_file.schema_version == NEXT)
    assert two.tw.table.schema_version == THEN  # as it was read before NEXT existed
    assert catalog.get_table(two.tw.project, TABLE).schema_version == NEXT


def test_duckdb_reads_old_and_new_files_by_name(two: TwoVersions, tmp_path: Path) -> None:
    duck = DuckDbEngine(tmp_path / "spill")
    assert event_versions(duck, two) == expected_versions(two)
    # A day of version-1 files only: the new column is NULL, not unknown.
    only_old = run(
        duck, two, f"SELECT COUNT(*), COUNT(event_version) FROM {TABLE} WHERE ds = '{two.old_day}'"
    )
    assert only_old.rows == [[sum(ds_of(e.event_time) == two.old_day for e in two.old), 0]]


def test_a_path_reads_the_event_where_the_new_column_is_null(
    two: TwoVersions, tmp_path: Path
) -> None:
    duck = DuckDbEngine(tmp_path / "spill")
    sql = f"SELECT COUNT(GET_JSON_OBJECT(event, '$.eventVersion')) FROM {TABLE}"
    assert run(duck, two, sql).rows == [[len(two.old) + len(two.new)]]
    planned = two.tw.warehouse.planner.plan(root(), two.tw.project, sql)
    assert planned.scans[0].columns == ("event",)  # older files: not rewritten to the column
    today = two.tw.warehouse.planner.plan(root(), two.tw.project, f"{sql} WHERE ds = '{two.today}'")
    assert today.scans[0].columns == ("event_version",)  # only version-2 files: rewritten
    assert run(duck, two, f"{sql} WHERE ds = '{two.today}'").rows == [[len(two.new)]]


def test_spark_reads_old_and_new_files_by_name(two: TwoVersions, spark_engine: SparkEngine) -> None:
    assert event_versions(spark_engine, two) == expected_versions(two)
    only_old = run(
        spark_engine,
        two,
        f"SELECT COUNT(*), COUNT(event_version) FROM {TABLE} WHERE ds = '{two.old_day}'",
    )
    assert only_old.rows == [[sum(ds_of(e.event_time) == two.old_day for e in two.old), 0]]


def test_compaction_merges_files_of_both_versions_and_answers_the_same(
    two: TwoVersions, tmp_path: Path
) -> None:
    catalog = two.tw.warehouse.catalog
    # Version-1 files into today's partition too, as an older trailhouse would have left them.
    midnight = int(time.time()) // 86400 * 86400
    earlier = logged_events(300, first_seq=20_001, seed=5, since=midnight)
    earlier = [e for e in earlier if ds_of(e.event_time) == two.today]
    with at_version_1():
        two.tw.append(earlier)
    two.old.extend(earlier)
    duck = DuckDbEngine(tmp_path / "spill")
    before = event_versions(duck, two)
    assert before == expected_versions(two)

    assert two.tw.warehouse.compactor.run_once() > 0

    merged = next(f for f in catalog.files(two.tw.table) if f.ds == two.today)
    assert merged.replaces and catalog.partition(two.tw.table, two.today)[0].files == 1
    assert merged.schema_version == 1  # the oldest merged: event_version is NULL in some rows
    path = two.tw.settings.warehouse_path / merged.path
    names = pq.read_schema(path).names
    assert names[: len(current().names)] == list(current().names)
    assert all(name.startswith(COLUMN_PREFIX) for name in names[len(current().names) :])
    assert version_of(pq.ParquetFile(path).schema_arrow.metadata) == 1
    assert event_versions(duck, two) == before
    sql = f"SELECT COUNT(GET_JSON_OBJECT(event, '$.eventVersion')) FROM {TABLE}"
    assert run(duck, two, f"{sql} WHERE ds = '{two.today}'").rows == [
        [sum(ds_of(e.event_time) == two.today for e in two.old) + len(two.new)]
    ]


def test_each_table_shows_the_columns_of_its_version(two: TwoVersions, tmp_path: Path) -> None:
    catalog, planner = two.tw.warehouse.catalog, two.tw.warehouse.planner
    with at_version_1():
        idle = catalog.ensure_table(two.tw.project, "actiontrail_idle")
    assert idle.schema_version == 1
    assert catalog.ensure_table(two.tw.project, "actiontrail_new").schema_version == NEXT
    assert schema.schema_of(THEN).names == current().names[:-1]
    assert schema.schema_of(9).version == NEXT  # written by a newer trailhouse: what it knows

    moved = planner.plan(root(), two.tw.project, f"SELECT * FROM {TABLE}")
    assert moved.plan.inputs[0].columns == (*current().names, "ds")
    stayed = planner.plan(root(), two.tw.project, "SELECT * FROM actiontrail_idle")
    assert stayed.plan.inputs[0].columns == (*schema.schema_of(1).names, "ds")
    unknown = planner.plan(root(), two.tw.project, "SELECT event_version FROM actiontrail_idle")
    with pytest.raises(SqlSemanticError, match="event_version"):
        DuckDbEngine(tmp_path / "spill").validate(unknown.plan)


def test_rows_of_builds_columns_by_name_and_renders_non_text_values_as_json() -> None:
    events = [
        {"eventId": "a", "eventVersion": "1", "userIdentity": {"type": "ram-user"}},
        {"eventId": "b", "eventVersion": 2, "userIdentity": None, "errorCode": {"x": 1}},
        {"eventName": "c"},
    ]
    version_1 = rows_of([orjson.dumps(e) for e in events], schema.schema_of(1))
    assert version_1.column_names == list(schema.schema_of(1).names)
    assert version_of(version_1.schema.metadata) == 1
    assert version_1.column("event_id").to_pylist() == ["a", "b", None]
    assert version_1.column("user_type").to_pylist() == ["ram-user", None, None]
    assert version_1.column("error_code").to_pylist() == [None, '{"x":1}', None]


def test_rows_of_fills_an_added_column(monkeypatch: pytest.MonkeyPatch) -> None:
    move_to_next_version(monkeypatch)
    events = [{"eventVersion": "1"}, {"eventVersion": 2}, {}]
    recorders = ['{"type":"trailhouse"}'] * 3
    rows = rows_of([orjson.dumps(e) for e in events], current(), {"recorded_by": recorders})
    assert rows.column_names[-1] == "event_version"
    assert rows.column("event_version").to_pylist() == ["1", "2", None]
    assert version_of(rows.schema.metadata) == NEXT


def test_the_schema_only_grows_and_its_version_is_the_newest_column() -> None:
    names = [column.name for column in schema.COLUMNS]
    assert len(names) == len(set(names)) and names[0] == "event"
    assert max(column.since for column in schema.COLUMNS) == schema.SCHEMA_VERSION
    versions = [column.since for column in schema.COLUMNS]
    assert versions == sorted(versions)  # a newer column never goes before an older one
    assert all(c.path.startswith("$.") != c.supplied for c in schema.COLUMNS[1:])


def test_recorded_by_is_supplied_by_the_writer_never_read_from_the_event() -> None:
    """Version 2's `recorded_by` holds who recorded each event, as the writer is told: a field
    of the same name inside the event's JSON does not reach it, and no path rewrites to it."""
    events = [{"eventId": "a", "recorded_by": "forged", "trailhouseRecorder": {"type": "x"}}]
    version_2 = schema.schema_of(2)
    assert version_2.names[-1] == "recorded_by" and "recorded_by" not in schema.schema_of(1).names
    assert "recorded_by" not in version_2.column_for_path.values()
    with pytest.raises(KeyError, match="recorded_by"):
        rows_of([orjson.dumps(e) for e in events], version_2)
    rows = rows_of([orjson.dumps(e) for e in events], version_2, {"recorded_by": ["real"]})
    assert rows.column("recorded_by").to_pylist() == ["real"]
