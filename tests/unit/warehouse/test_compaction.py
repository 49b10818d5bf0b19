"""Compaction: many small files of a partition become one, with every row and query unchanged."""

from __future__ import annotations

import calendar
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import msgspec
import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, root

from trailhouse.warehouse.compaction import Compactor
from trailhouse.warehouse.model import JobStatus, table_scope

TABLE = "actiontrail_audit_trail"


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(
        tmp_path / "data", compaction_min_files=5, compaction_age_seconds=0
    )
    events = logged_events(3000, days=2)
    for start in range(0, len(events), 100):  # 30 small batches, each a file per day
        opened.append(events[start : start + 100])
    yield opened
    opened.close()


def answer(tw: WarehouseFixture, sql: str) -> list[list[object]]:
    jobs = tw.warehouse.jobs
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=60)
    assert job.status == JobStatus.TERMINATED, job.error_message
    return jobs.result(root(), job.job_id).rows


def test_a_partition_of_small_files_becomes_one_and_answers_the_same(tw: WarehouseFixture) -> None:
    catalog = tw.warehouse.catalog
    sql = (
        f"SELECT ds, COUNT(*), COUNT(DISTINCT event_id), MIN(event_time), MAX(event_time) "
        f"FROM {TABLE} GROUP BY ds ORDER BY ds"
    )
    before = answer(tw, sql)
    due = [p.ds for p in catalog.list_partitions(tw.table) if p.files >= 5]
    old_files = catalog.files(
        tw.table, [p for p in catalog.list_partitions(tw.table) if p.ds in due]
    )
    assert due

    assert tw.warehouse.compactor.run_once() == len(due)

    partitions = catalog.list_partitions(tw.table)
    assert [p.files for p in partitions if p.ds in due] == [1] * len(due)
    assert sum(p.rows for p in partitions) == 3000
    assert answer(tw, sql) == before
    merged = next(f for f in catalog.files(tw.table) if f.ds in due)
    assert merged.replaces and {r[0] for r in merged.replaces} <= {f.path for f in old_files}
    assert merged.rows == sum(r[2] for r in merged.replaces)

    # The replaced files stay for queries planned before the swap, until the sweep's grace.
    assert all((tw.settings.warehouse_path / f.path).exists() for f in old_files)
    removed = tw.warehouse.writer.sweep(tw.table, older_than_seconds=-1)
    assert {str(p.relative_to(tw.settings.warehouse_path)) for p in removed} == {
        f.path for f in old_files
    }
    assert answer(tw, sql) == before
    files = [str(tw.settings.warehouse_path / f.path) for f in catalog.files(tw.table)]
    with duckdb.connect() as con:
        count = con.execute("SELECT COUNT(DISTINCT event_id) FROM read_parquet(?)", [files])
        assert count.fetchone() == (3000,)


def test_young_files_and_small_partitions_are_left_alone(tmp_path: Path) -> None:
    opened = open_test_warehouse(tmp_path / "data", compaction_min_files=5)  # 2 h by default
    try:
        events = logged_events(600, days=1)
        for start in range(0, 600, 100):
            opened.append(events[start : start + 100])
        before = opened.warehouse.catalog.list_partitions(opened.table)
        assert opened.warehouse.compactor.run_once() == 0
        assert opened.warehouse.catalog.list_partitions(opened.table) == before
    finally:
        opened.close()


def test_a_batch_committed_during_compaction_stays_beside_the_merged_file(
    tw: WarehouseFixture,
) -> None:
    catalog = tw.warehouse.catalog
    stats = max(catalog.list_partitions(tw.table), key=lambda p: p.files)
    assert stats.files >= 5
    noon = calendar.timegm(time.strptime(stats.ds, "%Y%m%d")) + 12 * 3600
    late = [  # a batch of the same day, committed while the partition is compacted
        msgspec.structs.replace(e, event_time=noon)
        for e in logged_events(50, first_seq=10_000, seed=9)
    ]

    class Racing(Compactor):
        """Lets one delivery batch land after the merged file is written, before the swap."""

        def _swap(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            tw.append(late)
            super()._swap(*args, **kwargs)  # type: ignore[arg-type]

    racing = Racing(tw.settings, tw.metadata, catalog, tw.warehouse.writer)
    merged = racing.compact(tw.table, stats)
    assert merged is not None
    after, _ = catalog.partition(tw.table, stats.ds)
    assert after is not None and after.files == 2  # the merged file and the new batch's
    assert sum(p.rows for p in catalog.list_partitions(tw.table)) == 3050
    rows = answer(tw, f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {TABLE}")
    assert rows == [[3050, 3050]]


def test_a_compacted_file_is_merged_again_only_once_a_digest_has_listed_it(
    tw: WarehouseFixture,
) -> None:
    catalog = tw.warehouse.catalog
    # The table's digests list what was committed until now: the small files, not yet merged.
    tw.metadata.commit([catalog.digested_write(tw.table, int(time.time()))])
    time.sleep(1.1)  # committed_at has whole seconds: the merged files come after `until`
    assert tw.warehouse.compactor.run_once() > 0
    first = {f.path for f in catalog.files(tw.table) if f.replaces}
    # No digest lists the compacted files yet: only the small files beside them are merged.
    assert not merge_more_batches(tw, 600) & first
    assert first <= {f.path for f in catalog.files(tw.table)}
    # Once a digest lists them, they may be merged again.
    tw.metadata.commit([catalog.digested_write(tw.table, int(time.time()) + 1)])
    assert merge_more_batches(tw, 0) & first
    assert sum(p.rows for p in catalog.list_partitions(tw.table)) == 3600


def test_a_table_without_digests_merges_compacted_files_again(tw: WarehouseFixture) -> None:
    catalog = tw.warehouse.catalog
    assert tw.warehouse.compactor.run_once() > 0
    first = {f.path for f in catalog.files(tw.table) if f.replaces}
    assert merge_more_batches(tw, 500) & first


def merge_more_batches(tw: WarehouseFixture, events: int) -> set[str]:
    """Append `events` more in batches of 100, merge every partition of two files or more,
    and return the paths the merged files replaced."""
    more = logged_events(events, days=2, first_seq=10_000, seed=3) if events else []
    for start in range(0, len(more), 100):
        tw.append(more[start : start + 100])
    catalog = tw.warehouse.catalog
    settings = dataclasses.replace(tw.settings, compaction_min_files=2)
    two_files = Compactor(settings, tw.metadata, catalog, tw.warehouse.writer)
    merged = [two_files.compact(tw.table, s) for s in catalog.list_partitions(tw.table)]
    return {r[0] for m in merged if m is not None for r in m.replaces}


def test_the_sweep_beside_delivery_leaves_a_batch_that_is_being_committed(
    tw: WarehouseFixture,
) -> None:
    # A batch's file is renamed into its partition a moment before its commit lists it; under
    # load that moment can outlast the compaction grace period (seen in the soak).
    table_dir = tw.settings.warehouse_path / table_scope(
        tw.table.region, tw.table.project, tw.table.name
    )
    pending = table_dir / "ds=20261206" / "part-being-committed.parquet"
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_bytes(b"PAR1")
    five_seconds_ago = time.time() - 5
    os.utime(pending, (five_seconds_ago, five_seconds_ago))
    assert tw.warehouse.compactor.run_once() > 0  # its sweep: replaced files after 1 s grace
    replaced = [
        tw.settings.warehouse_path / r[0]
        for f in tw.warehouse.catalog.files(tw.table)
        for r in f.replaces
    ]
    for path in replaced:
        os.utime(path, (five_seconds_ago, five_seconds_ago))
    removed = tw.warehouse.writer.sweep(tw.table, replaced_older_than=1)
    assert pending.exists() and pending not in removed
    assert sorted(removed) == sorted(replaced)
