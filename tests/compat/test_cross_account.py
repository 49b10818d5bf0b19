"""Delivery to another account's MaxCompute project through a role there (reference §3.5), and
multi-account trails of an organization (§3.6), through the official SDK against a real server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, sdk_at

from trailhouse.client import RpcClient
from trailhouse.iam.organizations import OrganizationService
from trailhouse.settings import Settings
from trailhouse.store import open_metadata

DELIVERY_ROLE = "ActionTrailDeliveryRole"
DELIVERY_POLICY = "AliyunActionTrailDeliveryPolicy"


def _principal(account_id: str) -> str:
    return f"{account_id}@actiontrail.aliyuncs.com"


def _trust(*principals: str) -> str:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": list(principals)},
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


def _project(account_id: str) -> str:
    return f"acs:odps:cn-hangzhou:{account_id}:project/actiontrail_{account_id}"


def _role_arn(account_id: str, role_name: str) -> str:
    return f"acs:ram::{account_id}:role/{role_name.lower()}"


def _ram(regional: Regional, keys: Keys, action: str, params: dict[str, str]) -> dict[str, Any]:
    """A RAM call (not in the ActionTrail SDK) through trailhouse's own client."""
    with RpcClient(regional.server.url, keys.access_key_id, keys.access_key_secret) as client:
        return client.call(action, params)


def _make_role(regional: Regional, keys: Keys, name: str, trusted: list[str], policy: bool) -> str:
    _ram(
        regional,
        keys,
        "CreateRole",
        {"RoleName": name, "AssumeRolePolicyDocument": _trust(*trusted)},
    )
    if policy:
        _ram(
            regional,
            keys,
            "AttachPolicyToRole",
            {"RoleName": name, "PolicyType": "System", "PolicyName": DELIVERY_POLICY},
        )
    return _role_arn(keys.account_id, name)


def _names(client: Client, **fields: Any) -> list[str]:
    request = models.DescribeTrailsRequest(**fields)
    return [trail.name for trail in client.describe_trails(request).body.trail_list]


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


@dataclass(frozen=True)
class Delivery:
    """Source account A, destination account B (with the delivery role), third account C."""

    a: Keys
    b: Keys
    c: Keys
    role_arn: str


@pytest.fixture(scope="module")
def delivery(regional: Regional) -> Delivery:
    a, b, c = regional.new_account(), regional.new_account(), regional.new_account()
    role_arn = _make_role(regional, b, DELIVERY_ROLE, [_principal(a.account_id)], policy=True)
    # The same role in C, so that the only thing wrong with pointing at it is the account.
    _make_role(regional, c, DELIVERY_ROLE, [_principal(a.account_id)], policy=True)
    return Delivery(a, b, c, role_arn)


def test_delivery_to_another_accounts_project_through_its_role(
    regional: Regional, delivery: Delivery
) -> None:
    a, b = delivery.a, delivery.b
    client = sdk_at(regional.endpoint("cn-hangzhou"), a)
    created = client.create_trail(
        models.CreateTrailRequest(
            name="cross-ok",
            max_compute_project_arn=_project(b.account_id),
            max_compute_write_role_arn=delivery.role_arn,
        )
    ).body
    assert created.max_compute_project_arn == _project(b.account_id)
    assert created.max_compute_write_role_arn == delivery.role_arn
    client.start_logging(models.StartLoggingRequest(name="cross-ok"))
    trail = client.describe_trails(models.DescribeTrailsRequest(name_list="cross-ok")).body
    described = trail.trail_list[0]
    assert described.status == "Enable"
    assert described.trail_arn == f"acs:actiontrail:cn-hangzhou:{a.account_id}:trail/cross-ok"
    assert described.max_compute_write_role_arn == delivery.role_arn
    assert _names(sdk_at(regional.endpoint("cn-hangzhou"), b)) == []  # the trail is A's

    missing_role = f"acs:ram::{b.account_id}:role/nosuchrole"
    error = _error(
        lambda: client.update_trail(
            models.UpdateTrailRequest(name="cross-ok", max_compute_write_role_arn=missing_role)
        )
    )
    assert (error.code, error.status_code) == ("EntityNotExist.Role", 404)
    kept = client.describe_trails(models.DescribeTrailsRequest(name_list="cross-ok")).body
    assert kept.trail_list[0].max_compute_write_role_arn == delivery.role_arn


@dataclass(frozen=True)
class Broken:
    """A cross-account CreateTrail that must be refused."""

    role: str  # role ARN template: {a} {b} {c} are the accounts; "" = no role ARN
    code: str
    status: int
    message: str  # the same placeholders


BROKEN = {
    "role-missing": Broken(
        "acs:ram::{b}:role/nosuchdeliveryrole",
        "EntityNotExist.Role",
        404,
        "the role nosuchdeliveryrole does not exist in account {b}",
    ),
    "trust-missing": Broken(
        "acs:ram::{b}:role/untrustingrole",
        "InsufficientMaxComputePolicyException",
        403,
        "does not trust {a}@actiontrail.aliyuncs.com",
    ),
    "policy-not-attached": Broken(
        "acs:ram::{b}:role/unpolicedrole",
        "InsufficientMaxComputePolicyException",
        403,
        f"does not carry the policy {DELIVERY_POLICY}",
    ),
    "role-in-third-account": Broken(
        "acs:ram::{c}:role/actiontraildeliveryrole",
        "InvalidParameter",
        400,
        "must be a role of the project's account {b}, not of {c}",
    ),
    "no-role-for-other-account": Broken(
        "",
        "InvalidParameter",
        400,
        "delivery to another account ({b}) needs MaxComputeWriteRoleArn",
    ),
}


@pytest.fixture(scope="module")
def broken_roles(regional: Regional, delivery: Delivery) -> None:
    """In B: a role trusting someone else (with the policy), and one trusting A without it."""
    _make_role(regional, delivery.b, "UntrustingRole", [_principal("9" * 16)], policy=True)
    _make_role(regional, delivery.b, "UnpolicedRole", [_principal(delivery.a.account_id)], False)


@pytest.mark.parametrize("case", list(BROKEN.values()), ids=list(BROKEN))
def test_a_broken_delivery_setup_is_refused_naming_what_is_missing(
    regional: Regional, delivery: Delivery, broken_roles: None, case: Broken
) -> None:
    accounts = {"a": delivery.a.account_id, "b": delivery.b.account_id, "c": delivery.c.account_id}
    client = sdk_at(regional.endpoint("cn-hangzhou"), delivery.a)
    before = _names(client)
    request = models.CreateTrailRequest(
        name="cross-broken",
        max_compute_project_arn=_project(delivery.b.account_id),
        max_compute_write_role_arn=case.role.format(**accounts) or None,
    )
    error = _error(lambda: client.create_trail(request))
    assert (error.code, error.status_code) == (case.code, case.status), error.message
    assert case.message.format(**accounts) in error.message
    assert _names(client) == before


def test_fixing_the_role_makes_the_same_request_succeed(
    regional: Regional, delivery: Delivery
) -> None:
    b = delivery.b
    role_arn = _make_role(regional, b, "LatePolicyRole", [_principal(delivery.a.account_id)], False)
    client = sdk_at(regional.endpoint("cn-hangzhou"), delivery.a)
    request = models.CreateTrailRequest(
        name="cross-late",
        max_compute_project_arn=_project(b.account_id),
        max_compute_write_role_arn=role_arn,
    )
    error = _error(lambda: client.create_trail(request))
    assert error.code == "InsufficientMaxComputePolicyException"
    _ram(
        regional,
        b,
        "AttachPolicyToRole",
        {"RoleName": "LatePolicyRole", "PolicyType": "System", "PolicyName": DELIVERY_POLICY},
    )
    assert client.create_trail(request).body.name == "cross-late"


# --- multi-account (organization) trails ---------------------------------------------------


def _organization(data_dir: Path, management: str, *members: str) -> str:
    """Create an organization straight in the metadata (there is no admin command for it yet)."""
    metadata = open_metadata(Settings.load({"data_dir": str(data_dir)}, environ={}))
    try:
        service = OrganizationService(metadata)
        organization = service.create(management)
        for member in members:
            service.add_account(organization.organization_id, member)
        return organization.organization_id
    finally:
        metadata.close()


@dataclass(frozen=True)
class Organization:
    """Management account M and member N of one organization, and an outsider."""

    organization_id: str
    m: Keys
    n: Keys
    outsider: Keys


@pytest.fixture(scope="module")
def organization(regional: Regional) -> Organization:
    m, n, outsider = regional.new_account(), regional.new_account(), regional.new_account()
    organization_id = _organization(regional.server.data_dir, m.account_id, n.account_id)
    return Organization(organization_id, m, n, outsider)


def _organization_trail(keys: Keys, name: str) -> models.CreateTrailRequest:
    return models.CreateTrailRequest(
        name=name, is_organization_trail=True, max_compute_project_arn=_project(keys.account_id)
    )


def test_a_multi_account_trail_is_seen_by_members_and_kept_by_its_manager(
    regional: Regional, organization: Organization
) -> None:
    m, n = organization.m, organization.n
    manager = sdk_at(regional.endpoint("cn-hangzhou"), m)
    manager.create_trail(_organization_trail(m, "org-trail"))

    request = models.DescribeTrailsRequest(include_organization_trail=True)
    [trail] = manager.describe_trails(request).body.trail_list
    assert trail.name == "org-trail"
    assert trail.is_organization_trail is True
    assert trail.organization_id == organization.organization_id
    assert trail.organization_id.startswith("rd-")
    assert trail.trail_arn == f"acs:actiontrail:cn-hangzhou:{m.account_id}:trail/org-trail"

    member = sdk_at(regional.endpoint("cn-hangzhou"), n)
    assert _names(member) == []
    [seen] = member.describe_trails(request).body.trail_list
    assert (seen.name, seen.is_organization_trail) == ("org-trail", True)
    assert seen.organization_id == organization.organization_id
    status = member.get_trail_status(
        models.GetTrailStatusRequest(name="org-trail", is_organization_trail=True)
    ).body
    assert status.is_logging is False

    for call in (
        lambda: member.delete_trail(models.DeleteTrailRequest(name="org-trail")),
        lambda: member.stop_logging(models.StopLoggingRequest(name="org-trail")),
    ):
        error = _error(call)
        assert (error.code, error.status_code) == ("NoPermission", 403)
        assert f"only its management account {m.account_id}" in error.message
    assert _names(member, include_organization_trail=True) == ["org-trail"]

    outsider = sdk_at(regional.endpoint("cn-hangzhou"), organization.outsider)
    assert _names(outsider, include_organization_trail=True) == []

    error = _error(lambda: manager.create_trail(_organization_trail(m, "org-second")))
    assert (error.code, error.status_code) == ("MaximumNumberOfTrailsExceededException", 403)
    assert "already has a multi-account trail (org-trail)" in error.message
    assert _names(manager, include_organization_trail=True) == ["org-trail"]


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_only_a_management_account_may_create_a_multi_account_trail(
    regional: Regional, organization: Organization, who: str
) -> None:
    keys = organization.n if who == "member" else organization.outsider
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    error = _error(lambda: client.create_trail(_organization_trail(keys, f"org-by-{who}")))
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert f"account {keys.account_id} is not one" in error.message
    assert f"org-by-{who}" not in _names(client, include_organization_trail=True)
