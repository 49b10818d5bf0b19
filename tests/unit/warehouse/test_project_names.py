"""Project names: `actiontrail_<id>` belongs to account `<id>` alone, the prefix is reserved, and
a project is deleted with its tables, partitions and files by its owner's root key only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    WarehouseFixture,
    logged_events,
    open_test_warehouse,
    ram_user,
    root,
)

from trailhouse.errors import (
    InvalidParameter,
    NoPermission,
    ProjectNotFound,
    TableNotFound,
    VersionConflict,
)
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.store.ports import DocumentWrite
from trailhouse.warehouse.catalog import check_project_name
from trailhouse.warehouse.model import (
    FILE_KIND,
    PARTITION_KIND,
    TABLE_KIND,
    Project,
    delivery_project_account,
    project_name,
    trail_tables,
)


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data", payg_quota_regions="cn-hangzhou")
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("owner", "name", "refusal"),
    [
        (OTHER_ACCOUNT, project_name(ACCOUNT), f"reserved for account {ACCOUNT}'s trails"),
        (OTHER_ACCOUNT, project_name(ACCOUNT).upper(), f"reserved for account {ACCOUNT}"),
        (ACCOUNT, "actiontrail_x", "prefix actiontrail_ is reserved"),
        (ACCOUNT, "actiontrail_audit", "prefix actiontrail_ is reserved"),
        (ACCOUNT, f"actiontrail_{ACCOUNT}0", "prefix actiontrail_ is reserved"),
        (ACCOUNT, f"actiontrail_{ACCOUNT}\n", "use letters, digits and underscores"),
        (ACCOUNT, "team_data\n", "use letters, digits and underscores"),
    ],
)
def test_reserved_and_malformed_project_names_are_refused(
    owner: str, name: str, refusal: str
) -> None:
    with pytest.raises(InvalidParameter, match=refusal):
        check_project_name(owner, name)


def test_the_owner_and_plain_names_pass() -> None:
    check_project_name(ACCOUNT, project_name(ACCOUNT))
    check_project_name(OTHER_ACCOUNT, "team_data")
    assert delivery_project_account(project_name(ACCOUNT)) == ACCOUNT
    assert delivery_project_account(project_name(ACCOUNT) + "\n") is None


def test_a_trail_writes_its_table_and_its_digest_table() -> None:
    expected = ("actiontrail_a_b", "actiontrail_a_b_digest")
    assert trail_tables("a-b") == trail_tables("a_b") == expected
    assert trail_tables("x_digest")[0] == trail_tables("x")[1]


def test_another_account_cannot_take_an_absent_delivery_project(tw: WarehouseFixture) -> None:
    with pytest.raises(InvalidParameter, match=f"reserved for account {OTHER_ACCOUNT}"):
        tw.warehouse.catalog.ensure_project(ACCOUNT, "cn-hangzhou", project_name(OTHER_ACCOUNT))
    assert [p.name for p in tw.warehouse.catalog.list_projects()] == [project_name(ACCOUNT)]


def _no_trails(project: Project) -> list[DocumentWrite]:
    return []


def _delivered(tw: WarehouseFixture) -> None:
    tw.warehouse.writer.append(
        tw.project,
        tw.table,
        logged_events(30, days=2),
        writer_role_arn=service_linked_role_arn(ACCOUNT),
        source_account=ACCOUNT,
        source="t",
    )


def test_only_the_owners_root_key_deletes_a_project(tw: WarehouseFixture) -> None:
    catalog = tw.warehouse.catalog
    catalog.set_member(root(), REGION, tw.project.name, f"{ACCOUNT}/alice", "Admin")
    for caller in (root(OTHER_ACCOUNT), ram_user("alice")):
        with pytest.raises(NoPermission, match=f"only the root key of the owner account {ACCOUNT}"):
            catalog.delete_project(caller, REGION, tw.project.name, _no_trails)
    assert catalog.get_project(REGION, tw.project.name).name == tw.project.name
    with pytest.raises(ProjectNotFound):
        catalog.delete_project(root(), REGION, "no_such_project", _no_trails)


def test_deleting_a_project_removes_its_tables_partitions_and_files(tw: WarehouseFixture) -> None:
    _delivered(tw)
    catalog, metadata = tw.warehouse.catalog, tw.metadata
    assert catalog.files(tw.table)
    catalog.delete_project(root(), REGION, tw.project.name, _no_trails)
    with pytest.raises(ProjectNotFound):
        catalog.get_project(REGION, tw.project.name)
    for kind in (TABLE_KIND, PARTITION_KIND, FILE_KIND):
        assert metadata.list_documents(kind) == []
    again = catalog.ensure_project(ACCOUNT, REGION, tw.project.name)
    table = catalog.ensure_table(again, tw.table.name)
    assert catalog.list_partitions(table) == [] and catalog.files(table) == []


def test_a_refusing_guard_leaves_everything(tw: WarehouseFixture) -> None:
    _delivered(tw)

    def refuse(project: Project) -> list[DocumentWrite]:
        raise InvalidParameter("a trail delivers into it")

    with pytest.raises(InvalidParameter):
        tw.warehouse.catalog.delete_project(root(), REGION, tw.project.name, refuse)
    assert tw.warehouse.catalog.files(tw.table)


def test_a_guard_check_that_no_longer_holds_fails_the_whole_commit(tw: WarehouseFixture) -> None:
    stale = DocumentWrite("trail", ACCOUNT, "gone", None, 3, check_only=True)
    with pytest.raises(VersionConflict):
        tw.warehouse.catalog.delete_project(root(), REGION, tw.project.name, lambda p: [stale])
    assert tw.warehouse.catalog.get_project(REGION, tw.project.name) == tw.project


def test_a_table_name_with_a_trailing_newline_is_refused(tw: WarehouseFixture) -> None:
    with pytest.raises(InvalidParameter, match="table name"):
        tw.warehouse.catalog.ensure_table(tw.project, "actiontrail_audit\n")
    assert [t.name for t in tw.warehouse.catalog.list_tables(tw.project)] == [tw.table.name]


def test_a_batch_for_a_deleted_project_commits_nothing(tw: WarehouseFixture) -> None:
    tw.warehouse.catalog.delete_project(root(), REGION, tw.project.name, _no_trails)
    with pytest.raises(TableNotFound, match="its project was deleted"):
        _delivered(tw)
    for kind in (PARTITION_KIND, FILE_KIND):
        assert tw.metadata.list_documents(kind) == []
