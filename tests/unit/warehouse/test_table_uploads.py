"""Upload sessions (warehouse/uploads.py): blocks stay invisible until the commit, which lists
them once however often it is sent; a block sent again replaces the earlier one; only a writer
of the owner account uploads, never into a trail's table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from builders import ACCOUNT, OTHER_ACCOUNT, REGION, WarehouseFixture, open_test_warehouse, root

from trailhouse import faults
from trailhouse.errors import NoPermission
from trailhouse.warehouse.model import Project, Role, Table, UserColumn
from trailhouse.warehouse.reads import InvalidPartitionSpec, NoSuchPartition
from trailhouse.warehouse.uploads import NoSuchUpload, UploadConflict, UploadStatus

OWN = "upload_target"


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data")
    project = opened.warehouse.catalog.ensure_project(ACCOUNT, REGION, OWN)
    table = Table(
        REGION,
        OWN,
        "landed",
        1,
        columns=(UserColumn("name", "STRING"), UserColumn("n", "BIGINT")),
        partition_keys=(UserColumn("day", "STRING"),),
    )
    opened.warehouse.catalog.create_user_table(project, table, if_not_exists=False)
    yield opened
    opened.close()


def target(tw: WarehouseFixture) -> tuple[Project, Table]:
    project = tw.warehouse.catalog.get_project(REGION, OWN)
    return project, tw.warehouse.catalog.get_table(project, "landed")


def block(*names: str) -> pa.Table:
    return pa.table({"name": list(names), "n": list(range(len(names)))})


def rows(tw: WarehouseFixture) -> int:
    _, table = target(tw)
    return sum(p.rows for p in tw.warehouse.catalog.list_partitions(table))


def test_blocks_are_invisible_until_a_commit_that_lists_them_once(tw: WarehouseFixture) -> None:
    uploads = tw.warehouse.uploads
    project, table = target(tw)
    session = uploads.create(root(), project, table, {"day": "d1"}, create_partition=True)
    uploads.write_block(root(), project, table, session.id, 0, block("a", "b"))
    uploads.write_block(root(), project, table, session.id, 1, block("c"))
    uploads.write_block(root(), project, table, session.id, 1, block("c", "d"))  # sent again
    assert rows(tw) == 0
    assert uploads.get(root(), project, table, session.id).blocks == (0, 1)
    done = uploads.commit(root(), project, table, session.id)
    assert done.status == UploadStatus.COMMITTED
    assert uploads.commit(root(), project, table, session.id).status == UploadStatus.COMMITTED
    assert rows(tw) == 4
    with pytest.raises(UploadConflict, match="takes no more blocks"):
        uploads.write_block(root(), project, table, session.id, 2, block("e"))
    again = uploads.create(root(), project, table, {"day": "d1"}, overwrite=True)
    uploads.write_block(root(), project, table, again.id, 0, block("z"))
    uploads.commit(root(), project, table, again.id)
    assert rows(tw) == 1


def test_a_commit_cut_short_after_placing_its_files_lists_them_when_retried(
    tw: WarehouseFixture,
) -> None:
    """A commit stopped between renaming the blocks' files into the partition and listing them
    (a crash, here a disk error at that step) lists nothing; retried, it lists those files
    once, though their staged names are gone."""
    uploads = tw.warehouse.uploads
    project, table = target(tw)
    session = uploads.create(root(), project, table, {"day": "d1"}, create_partition=True)
    uploads.write_block(root(), project, table, session.id, 0, block("a", "b"))
    uploads.write_block(root(), project, table, session.id, 2, block("c"))
    faults.arm("warehouse.job_files.placed", "eio")
    try:
        with pytest.raises(faults.FaultInjected):
            uploads.commit(root(), project, table, session.id)
    finally:
        faults.disarm()
    assert rows(tw) == 0
    assert uploads.commit(root(), project, table, session.id).status == UploadStatus.COMMITTED
    assert uploads.commit(root(), project, table, session.id).status == UploadStatus.COMMITTED
    assert rows(tw) == 3


def test_bad_sessions_are_refused(tw: WarehouseFixture) -> None:
    uploads = tw.warehouse.uploads
    project, table = target(tw)
    with pytest.raises(NoSuchPartition, match="create_partition=True"):
        uploads.create(root(), project, table, {"day": "d9"})
    with pytest.raises(InvalidPartitionSpec, match="name day='…'"):
        uploads.create(root(), project, table, {"ds": "20261205"}, create_partition=True)
    with pytest.raises(NoSuchUpload, match="was not created for"):
        uploads.get(root(), project, table, "nope")


def test_only_the_owner_accounts_writers_upload(tw: WarehouseFixture) -> None:
    uploads = tw.warehouse.uploads
    project, table = target(tw)
    tw.warehouse.catalog.set_member(root(), REGION, OWN, OTHER_ACCOUNT, Role.ADMIN)
    project, table = target(tw)
    with pytest.raises(NoPermission, match="only that account's own principals"):
        uploads.create(root(OTHER_ACCOUNT), project, table, {"day": "d1"}, create_partition=True)
    trail_table = tw.warehouse.catalog.ensure_table(project, "actiontrail_planted")
    with pytest.raises(NoPermission, match="only from ActionTrail delivery"):
        uploads.create(root(), project, trail_table, {})
