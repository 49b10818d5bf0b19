"""Projects per account and region, quotas, members and who may read, tables and their names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    WarehouseFixture,
    open_test_warehouse,
    ram_user,
    root,
)

from trailhouse.errors import (
    InvalidParameter,
    NoAvailableQuota,
    NoPermission,
    ProjectNotFound,
    TableNotFound,
)
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.warehouse import access
from trailhouse.warehouse.model import PAYG_QUOTA, Privilege, Role, project_name, table_name


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data", payg_quota_regions="cn-hangzhou")
    yield opened
    opened.close()


def test_table_names_turn_trail_hyphens_into_underscores() -> None:
    assert table_name("prod-audit-2") == "actiontrail_prod_audit_2"
    assert project_name(ACCOUNT) == f"actiontrail_{ACCOUNT}"


def test_a_project_is_created_once_and_reused(tw: WarehouseFixture) -> None:
    again = tw.warehouse.catalog.ensure_project(ACCOUNT, REGION, project_name(ACCOUNT))
    assert again == tw.project
    assert tw.project.quota == PAYG_QUOTA
    assert tw.project.role_of(service_linked_role_arn(ACCOUNT)) == Role.ADMIN
    assert tw.project.arn == f"acs:odps:{REGION}:{ACCOUNT}:project/{project_name(ACCOUNT)}"
    assert [p.name for p in tw.warehouse.catalog.list_projects()] == [project_name(ACCOUNT)]


def test_another_accounts_project_name_is_refused(tw: WarehouseFixture) -> None:
    tw.warehouse.catalog.ensure_project(ACCOUNT, REGION, "team_data")
    with pytest.raises(InvalidParameter, match=f"belongs to account {ACCOUNT}"):
        tw.warehouse.catalog.ensure_project(OTHER_ACCOUNT, REGION, "team_data")


def test_a_region_without_quota_names_the_regions_that_have_one(tw: WarehouseFixture) -> None:
    with pytest.raises(NoAvailableQuota, match=r"no MaxCompute quota in cn-shanghai.*cn-hangzhou"):
        tw.warehouse.catalog.ensure_project(ACCOUNT, "cn-shanghai", project_name(ACCOUNT))
    assert tw.warehouse.catalog.list_projects("cn-shanghai") == []
    tw.warehouse.quotas.create_subscription(ACCOUNT, "cn-shanghai", "team-quota", 4)
    project = tw.warehouse.catalog.ensure_project(ACCOUNT, "cn-shanghai", project_name(ACCOUNT))
    assert project.quota == "team-quota"


def test_subscription_quotas_are_sized_in_cu(tw: WarehouseFixture) -> None:
    quota = tw.warehouse.quotas.create_subscription(ACCOUNT, REGION, "big", 8)
    assert (quota.threads, quota.memory_gb, quota.concurrency) == (8, 32.0, 8)
    with pytest.raises(InvalidParameter, match="already has a quota named big"):
        tw.warehouse.quotas.create_subscription(ACCOUNT, REGION, "big", 2)
    with pytest.raises(InvalidParameter, match="1 to 2048 CU"):
        tw.warehouse.quotas.create_subscription(ACCOUNT, REGION, "tiny", 0)
    with pytest.raises(NoAvailableQuota, match="no quota named nope"):
        tw.warehouse.catalog.ensure_project(ACCOUNT, REGION, "other_project", quota="nope")
    assert [q.name for q in tw.warehouse.quotas.list(ACCOUNT, REGION)] == [PAYG_QUOTA, "big"]


def test_owner_reads_and_manages_others_need_membership(tw: WarehouseFixture) -> None:
    outsider, alice = root(OTHER_ACCOUNT), ram_user("alice")
    assert access.may(root(), tw.project, Privilege.MANAGE)
    for caller in (outsider, alice):
        with pytest.raises(NoPermission, match=f"no Select privilege on project {tw.project.name}"):
            access.require(caller, tw.project, Privilege.SELECT)
    catalog = tw.warehouse.catalog
    with pytest.raises(NoPermission, match="no Manage privilege"):
        catalog.set_member(outsider, REGION, tw.project.name, OTHER_ACCOUNT, Role.READER)
    project = catalog.set_member(root(), REGION, tw.project.name, OTHER_ACCOUNT, Role.READER)
    project = catalog.set_member(root(), REGION, tw.project.name, f"{ACCOUNT}/alice", Role.ADMIN)
    assert access.may(outsider, project, Privilege.SELECT)
    assert not access.may(outsider, project, Privilege.MANAGE)
    assert access.may(alice, project, Privilege.MANAGE)
    assert [p.name for p in catalog.visible_projects(outsider)] == [tw.project.name]
    project = catalog.remove_member(alice, REGION, tw.project.name, OTHER_ACCOUNT)
    assert not access.may(outsider, project, Privilege.SELECT)
    assert catalog.get_project(REGION, tw.project.name) == project  # members survive a reload
    with pytest.raises(InvalidParameter, match="role 'Owner'"):
        catalog.set_member(root(), REGION, tw.project.name, OTHER_ACCOUNT, "Owner")


def test_unknown_projects_and_tables_are_named(tw: WarehouseFixture) -> None:
    with pytest.raises(ProjectNotFound, match="'nope'"):
        tw.warehouse.catalog.get_project(REGION, "nope")
    with pytest.raises(TableNotFound, match=f"{tw.project.name}.missing"):
        tw.warehouse.catalog.get_table(tw.project, "missing")
    with pytest.raises(InvalidParameter, match="letters, digits and underscores"):
        tw.warehouse.catalog.ensure_table(tw.project, "bad-name")
    assert [t.name for t in tw.warehouse.catalog.list_tables(tw.project)] == [tw.table.name]
