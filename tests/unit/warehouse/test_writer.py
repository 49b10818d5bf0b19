"""The exactly-once writer: files per day, one commit with the caller's writes, replays ignored."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    TRAIL,
    WarehouseFixture,
    logged_events,
    open_test_warehouse,
)

from trailhouse import faults
from trailhouse.errors import InvalidParameter, NoPermission, VersionConflict
from trailhouse.iam.roles import DELIVERY_POLICY, service_linked_role_arn, trust_policy_for_services
from trailhouse.integrity.readers import readers_of
from trailhouse.store.ports import DocumentWrite
from trailhouse.warehouse.json_columns import COLUMN_PREFIX
from trailhouse.warehouse.model import project_name, table_name
from trailhouse.warehouse.schema import current
from trailhouse.warehouse.writer import ds_of, file_name


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data")
    yield opened
    opened.close()


def _rows_in_files(tw: WarehouseFixture) -> list[tuple[str, str]]:
    files = [str(tw.settings.warehouse_path / f.path) for f in tw.warehouse.catalog.files(tw.table)]
    if not files:
        return []
    with duckdb.connect() as con:
        return con.execute(
            "SELECT event_id, ds FROM read_parquet(?, hive_partitioning = true, "
            "hive_types = {'ds': VARCHAR})",
            [files],
        ).fetchall()


def test_a_batch_lands_as_one_file_per_day_with_every_event_once(tw: WarehouseFixture) -> None:
    events = logged_events(600, days=4)
    tw.append(events)
    partitions = tw.warehouse.catalog.list_partitions(tw.table)
    expected_days = sorted({ds_of(e.event_time) for e in events})
    assert [p.ds for p in partitions] == expected_days
    assert sum(p.rows for p in partitions) == 600
    assert all(p.files == 1 for p in partitions)
    rows = _rows_in_files(tw)
    assert sorted(r[0] for r in rows) == sorted(e.event_id for e in events)
    by_id = {e.event_id: ds_of(e.event_time) for e in events}
    assert all(by_id[event_id] == ds for event_id, ds in rows)


def test_file_names_follow_source_range_and_day(tw: WarehouseFixture) -> None:
    events = logged_events(50, days=1, first_seq=101)
    tw.append(events)
    (data_file,) = tw.warehouse.catalog.files(tw.table)[:1]
    assert data_file.path.endswith(file_name(f"{ACCOUNT}-{TRAIL}", 101, 150, data_file.ds))
    assert data_file.path.startswith(
        f"cn-hangzhou/{project_name(ACCOUNT)}/{table_name(TRAIL)}/ds={data_file.ds}/"
    )
    assert not list((tw.settings.warehouse_path).rglob("_staging/*"))


def test_a_replayed_range_changes_nothing(tw: WarehouseFixture) -> None:
    events = logged_events(300)
    tw.append(events[:200])
    tw.append(events[200:])
    before = tw.warehouse.catalog.list_partitions(tw.table)
    result = tw.warehouse.writer.append(
        tw.project,
        tw.table,
        events[:200],
        writer_role_arn=service_linked_role_arn(ACCOUNT),
        source_account=ACCOUNT,
        source=f"{ACCOUNT}-{TRAIL}",
    )
    assert result.already_committed
    assert tw.warehouse.catalog.list_partitions(tw.table) == before
    assert len(_rows_in_files(tw)) == 300


def test_the_callers_checkpoint_commits_with_the_files_or_nothing_does(
    tw: WarehouseFixture,
) -> None:
    events = logged_events(100)
    checkpoint = DocumentWrite("checkpoint", ACCOUNT, TRAIL, orjson.dumps({"seq": 100}), 0)
    tw.warehouse.writer.append(
        tw.project,
        tw.table,
        events,
        writer_role_arn=service_linked_role_arn(ACCOUNT),
        source_account=ACCOUNT,
        source="s1",
        extra_writes=[checkpoint],
    )
    assert tw.metadata.get_document("checkpoint", ACCOUNT, TRAIL) is not None
    stale = DocumentWrite("checkpoint", ACCOUNT, TRAIL, orjson.dumps({"seq": 200}), 0)
    more = logged_events(100, first_seq=101, seed=8)
    with pytest.raises(VersionConflict):
        tw.warehouse.writer.append(
            tw.project,
            tw.table,
            more,
            writer_role_arn=service_linked_role_arn(ACCOUNT),
            source_account=ACCOUNT,
            source="s1",
            extra_writes=[stale],
        )
    assert sum(p.rows for p in tw.warehouse.catalog.list_partitions(tw.table)) == 100
    assert len(_rows_in_files(tw)) == 100  # the orphaned files are invisible to readers


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_file_the_disk_refuses_is_neither_kept_nor_listed_and_the_retry_lands_once(
    tw: WarehouseFixture, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    tw.append(logged_events(50, days=1))
    more = logged_events(100, days=3, first_seq=51, seed=9)
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync_fails_on_the_second_file(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # file 1, its folder, then file 2: half the batch is on disk
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_on_the_second_file)
    with pytest.raises(OSError, match=os.strerror(code)) as refused:
        tw.append(more)
    assert refused.value.errno == code
    assert not list(tw.settings.warehouse_path.rglob("_staging/*"))  # nothing half-written
    assert sum(p.rows for p in tw.warehouse.catalog.list_partitions(tw.table)) == 50
    assert len(_rows_in_files(tw)) == 50  # the renamed first file is not listed
    tw.append(more)  # space returns: the same range again
    rows = _rows_in_files(tw)
    assert len(rows) == 150
    assert len({event_id for event_id, _ in rows}) == 150


def test_sweep_removes_only_uncommitted_files(tw: WarehouseFixture) -> None:
    tw.append(logged_events(40, days=1))
    committed = tw.warehouse.catalog.files(tw.table)[0]
    orphan = tw.settings.warehouse_path / Path(committed.path).parent / "part-crashed.parquet"
    orphan.write_bytes(b"half a file")
    os.utime(orphan, (0, 0))
    staging = orphan.parent.parent / "_staging"
    staging.mkdir(exist_ok=True)
    staged = staging / "part-crashed-while-staged.parquet.staged"
    staged.write_bytes(b"a staged batch a crash left")
    os.utime(staged, (0, 0))
    fresh = staging / "part-being-written.parquet.staged"
    fresh.write_bytes(b"a batch being written now")
    assert sorted(tw.warehouse.writer.sweep(tw.table, older_than_seconds=60)) == sorted(
        [orphan, staged]
    )
    assert (tw.settings.warehouse_path / committed.path).exists()
    assert fresh.exists()


def test_typed_columns_hold_what_get_json_object_returns(tw: WarehouseFixture) -> None:
    tw.append(logged_events(500))
    files = [str(tw.settings.warehouse_path / f.path) for f in tw.warehouse.catalog.files(tw.table)]
    checks = " + ".join(
        f"COUNT(*) FILTER (WHERE {column} IS DISTINCT FROM json_extract_string(event, '{path}'))"
        for column, path in ((c.name, c.path) for c in current().typed)
    )
    with duckdb.connect() as con:
        mismatches, filled = con.execute(
            f"SELECT {checks}, COUNT(user_name) FROM read_parquet(?)", [files]
        ).fetchone() or (None, None)
    assert mismatches == 0
    assert filled and filled > 0  # the comparison saw real values, not only NULLs


def test_column_bytes_and_hash_describe_the_file(tw: WarehouseFixture) -> None:
    import hashlib

    tw.append(logged_events(200, days=1))
    data_file = tw.warehouse.catalog.files(tw.table)[0]
    content = (tw.settings.warehouse_path / data_file.path).read_bytes()
    assert data_file.bytes == len(content)
    assert data_file.sha256 == hashlib.sha256(content).hexdigest()
    path_columns = set(data_file.column_bytes) - set(current().names)
    assert set(current().names) <= set(data_file.column_bytes)
    assert path_columns and all(name.startswith(COLUMN_PREFIX) for name in path_columns)
    assert data_file.column_bytes["event"] > data_file.column_bytes["event_name"] > 0


def test_only_delivery_writes_an_actiontrail_project(tw: WarehouseFixture) -> None:
    events = logged_events(10)
    for stranger in (
        f"acs:ram::{ACCOUNT}:role/ops",  # does not exist
        f"acs:ram::{OTHER_ACCOUNT}:role/aliyunserviceroleforactiontrail",  # another account's
        "not an arn",
    ):
        with pytest.raises(NoPermission, match="accepts table writes only from ActionTrail"):
            tw.warehouse.writer.append(
                tw.project,
                tw.table,
                events,
                writer_role_arn=stranger,
                source_account=ACCOUNT,
                source="x",
            )
    tw.roles.create_role(
        ACCOUNT, "plain", trust_policy_for_services(f"{ACCOUNT}@actiontrail.aliyuncs.com"), ""
    )
    with pytest.raises(NoPermission, match=DELIVERY_POLICY):
        tw.warehouse.writer.append(
            tw.project,
            tw.table,
            events,
            writer_role_arn=f"acs:ram::{ACCOUNT}:role/plain",
            source_account=ACCOUNT,
            source="x",
        )
    assert tw.warehouse.catalog.list_partitions(tw.table) == []
    tw.roles.attach_policy(ACCOUNT, "plain", DELIVERY_POLICY)
    tw.warehouse.writer.append(
        tw.project,
        tw.table,
        events,
        writer_role_arn=f"acs:ram::{ACCOUNT}:role/plain",
        source_account=ACCOUNT,
        source="x",
    )
    assert sum(p.rows for p in tw.warehouse.catalog.list_partitions(tw.table)) == 10


def test_an_empty_batch_or_odd_source_is_refused(tw: WarehouseFixture) -> None:
    arn = service_linked_role_arn(ACCOUNT)
    with pytest.raises(InvalidParameter, match="at least one event"):
        tw.warehouse.writer.append(
            tw.project, tw.table, [], writer_role_arn=arn, source_account=ACCOUNT, source="x"
        )
    with pytest.raises(InvalidParameter, match="source"):
        tw.warehouse.writer.append(
            tw.project,
            tw.table,
            logged_events(1),
            writer_role_arn=arn,
            source_account=ACCOUNT,
            source="../x",
        )


def test_a_number_or_object_in_a_typed_field_is_kept_as_json_text(tw: WarehouseFixture) -> None:
    event = orjson.loads(logged_events(1)[0].body)
    event["errorCode"] = 404
    event["resourceName"] = {"id": "i-1", "tags": ["a"]}
    event["userIdentity"]["userName"] = None
    (template,) = logged_events(1)
    odd = type(template)(1, ACCOUNT, event["eventId"], template.event_time, 0, orjson.dumps(event))
    tw.append([odd])
    files = [str(tw.settings.warehouse_path / f.path) for f in tw.warehouse.catalog.files(tw.table)]
    with duckdb.connect() as con:
        row = con.execute(
            "SELECT error_code, resource_name, user_name, json_extract_string(event, "
            "'$.resourceName') FROM read_parquet(?)",
            [files],
        ).fetchone()
    assert row is not None
    assert row[:3] == ("404", '{"id":"i-1","tags":["a"]}', None)
    assert row[1] == row[3]  # what GET_JSON_OBJECT gives


def test_a_staged_batch_is_read_by_no_reader_before_it_is_committed(
    tw: WarehouseFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped right after staging (as a crash would stop it), the batch's file waits in
    `_staging` under a name that DuckDB's `**/*.parquet`, Spark and pyarrow all pass over."""

    class Stopped(Exception):
        pass

    def stop_when_staged(name: str) -> None:
        if name == "warehouse.file.staged":
            raise Stopped

    monkeypatch.setattr(faults, "point", stop_when_staged)
    with pytest.raises(Stopped):
        tw.append(logged_events(20, days=1))
    table_dir = next(tw.settings.warehouse_path.rglob("_staging")).parent
    [staged] = (table_dir / "_staging").iterdir()
    relative = staged.relative_to(table_dir).as_posix()
    assert readers_of(relative) == ()
    found = duckdb.sql(f"SELECT count(*) FROM glob('{table_dir}/**/*.parquet')").fetchall()
    assert found == [(0,)]
