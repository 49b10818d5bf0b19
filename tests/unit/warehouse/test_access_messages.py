"""A warehouse refusal tells the caller who must grant what, with the command that does it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from builders import ACCOUNT, OTHER_ACCOUNT, REGION, WarehouseFixture, open_test_warehouse, root
from builders import ram_user as user

from trailhouse.errors import NoPermission
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.warehouse import access
from trailhouse.warehouse.model import Member, Privilege, Project, Role

PROJECT = Project(REGION, "team_data", ACCOUNT, "pay-as-you-go", (), 0)


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data")
    yield opened
    opened.close()


def _refusal(caller: Caller, project: Project, privilege: str) -> str:
    with pytest.raises(NoPermission) as caught:
        access.require(caller, project, privilege)
    return caught.value.message


@pytest.mark.parametrize(
    ("caller", "member", "label"),
    [
        (user("newcomer"), f"{ACCOUNT}/newcomer", f"RAM user newcomer of account {ACCOUNT}"),
        (root(OTHER_ACCOUNT), OTHER_ACCOUNT, f"account {OTHER_ACCOUNT}"),
    ],
    ids=["ram-user-of-the-owner", "another-account"],
)
def test_a_non_member_is_told_who_runs_which_command(
    caller: Caller, member: str, label: str
) -> None:
    message = _refusal(caller, PROJECT, Privilege.SELECT)
    assert message == (
        f"ODPS-0130013:Authorization exception - {label} has no Select privilege on project "
        f"team_data ({REGION}): it is not a member of it. The project's owner, account "
        f"{ACCOUNT} (with its root AccessKey), or an Admin member of the project must add "
        f"{member} as a member with role Reader: run `trailhouse warehouse grant team_data "
        f"{member} --role Reader --region {REGION}` (or call SetProjectMember with "
        f"Project=team_data, Principal={member}, Role=Reader)."
    )


def test_a_reader_who_would_manage_is_told_it_needs_admin() -> None:
    member = f"{ACCOUNT}/reader"
    project = replace(PROJECT, members=(Member(member, Role.READER, 0),))
    access.require(user("reader"), project, Privilege.SELECT)
    message = _refusal(user("reader"), project, Privilege.MANAGE)
    assert "has no Manage privilege on project team_data" in message
    assert "it is a member with role Reader, which lacks it" in message
    assert f"grant team_data {member} --role Admin --region {REGION}`" in message


def test_a_role_of_the_owner_that_is_no_admin_is_told_the_grant(tw: WarehouseFixture) -> None:
    arn = service_linked_role_arn(ACCOUNT)
    with pytest.raises(NoPermission) as caught:
        access.require_write(arn, PROJECT, tw.roles, ACCOUNT)
    assert f"{arn} has no Write privilege on project team_data: it is not an Admin member" in (
        caught.value.message
    )
    assert f"run `trailhouse warehouse grant team_data {arn} --role Admin" in caught.value.message
    admin = replace(PROJECT, members=(Member(arn, Role.ADMIN, 0),))
    access.require_write(arn, admin, tw.roles, ACCOUNT)


def test_a_role_no_grant_can_help_is_not_told_to_ask_for_one(tw: WarehouseFixture) -> None:
    arn = service_linked_role_arn(OTHER_ACCOUNT)
    foreign = replace(PROJECT, members=(Member(arn, Role.ADMIN, 0),))
    with pytest.raises(NoPermission) as caught:
        access.require_write(arn, foreign, tw.roles, ACCOUNT)
    assert f"only an existing role of the owner account {ACCOUNT}" in caught.value.message
    assert "trailhouse warehouse grant" not in caught.value.message
