"""Download sessions (warehouse/reads.py): a partition of many files read in any row range and
any columns, the same rows SQL reads; only that partition's files; and what is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, ram_user, root

from trailhouse.errors import NoPermission
from trailhouse.warehouse import reads
from trailhouse.warehouse.model import JobStatus

TABLE = "actiontrail_audit_trail"


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data")
    events = logged_events(900, days=2)
    for start in range(0, len(events), 100):  # 9 batches: several files in each day
        opened.append(events[start : start + 100])
    yield opened
    opened.close()


def _rows(batches: Iterator[pa.RecordBatch]) -> list[dict[str, str]]:
    return [row for batch in batches for row in batch.to_pylist()]


def test_any_range_of_a_many_file_partition_fits_the_whole(tw: WarehouseFixture) -> None:
    table_reads = tw.warehouse.reads
    # The partition with the most rows: right after midnight the newest holds a few minutes only.
    day = max(tw.warehouse.catalog.list_partitions(tw.table), key=lambda p: p.rows)
    session = table_reads.create(root(), tw.project, tw.table, day.ds)
    assert session.rows == day.rows
    assert len(session.files) == day.files > 1
    names = table_reads.columns(session, None)
    whole = _rows(table_reads.batches(session, 0, session.rows, names))
    assert len(whole) == session.rows
    for start, count in [(0, 1), (95, 20), (99, 1), (100, 1), (150, 300), (session.rows - 1, 1)]:
        part = _rows(table_reads.batches(session, start, count, ["event_id", "event_name"]))
        assert part == [
            {"event_id": r["event_id"], "event_name": r["event_name"]}
            for r in whole[start : start + count]
        ]
    assert _rows(table_reads.batches(session, 5, 0, names)) == []
    jobs = tw.warehouse.jobs
    sql = f"SELECT event_id FROM {TABLE} WHERE ds = '{day.ds}' ORDER BY event_id"
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=60)
    assert job.status == JobStatus.TERMINATED, job.error_message
    assert [r[0] for r in jobs.result(root(), job.job_id).rows] == sorted(
        r["event_id"] for r in whole
    )


def test_a_session_lists_only_its_partitions_files(tw: WarehouseFixture) -> None:
    catalog = tw.warehouse.catalog
    partitions = catalog.list_partitions(tw.table)
    first, last = partitions[0], partitions[-1]
    session = tw.warehouse.reads.create(root(), tw.project, tw.table, first.ds)
    listed = {f.path for f in catalog.files(tw.table, [first])}
    assert {path for path, _ in session.files} == listed
    assert not listed & {f.path for f in catalog.files(tw.table, [last])}


def test_refusals(tw: WarehouseFixture, tmp_path: Path) -> None:
    table_reads = tw.warehouse.reads
    day = tw.warehouse.catalog.list_partitions(tw.table)[0].ds
    with pytest.raises(NoPermission, match="stranger"):
        table_reads.create(ram_user("stranger"), tw.project, tw.table, day)
    with pytest.raises(reads.MissingPartitionSpec):
        table_reads.create(root(), tw.project, tw.table, "")
    with pytest.raises(reads.NoSuchPartition, match="ds='20000101'"):
        table_reads.create(root(), tw.project, tw.table, "20000101")
    with pytest.raises(reads.InvalidPartitionSpec):
        reads.partition_of("ds='2024'")
    assert reads.partition_of("ds='20240101'") == reads.partition_of("ds=20240101") == "20240101"
    session = table_reads.create(root(), tw.project, tw.table, day)
    with pytest.raises(reads.NoSuchDownload):
        table_reads.get(root(), tw.project, tw.table, session.id + "X")
    with pytest.raises(NoPermission):
        table_reads.get(ram_user("stranger"), tw.project, tw.table, session.id)
    assert table_reads.get(root(), tw.project, tw.table, session.id) == session
    with pytest.raises(reads.InvalidRowRange, match=f"holds {session.rows} rows"):
        table_reads.check_range(session, session.rows, 1)
    with pytest.raises(reads.InvalidColumnSpec, match="nope"):
        table_reads.columns(session, ["event_id", "nope"])
    with pytest.raises(reads.InvalidColumnSpec, match="twice"):
        table_reads.columns(session, ["event_id", "event_id"])
    later = reads.TableReads(
        tw.metadata, tw.warehouse.catalog, tw.settings.warehouse_path, clock=lambda: 4e9
    )
    assert later.expired(session)
    with pytest.raises(reads.StatusConflict, match="expired"):
        later.check_range(session, 0, 1)
    (tw.settings.warehouse_path / session.files[0][0]).unlink()  # as a sweep after compaction
    with pytest.raises(reads.TableModified, match="reopen=True"):
        table_reads.check_range(session, 0, 1)
