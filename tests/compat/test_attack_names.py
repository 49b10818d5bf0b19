"""Attacks on names, through a real server with the official SDK and trailhouse's own client:
taking another account's `actiontrail_<id>` project, deleting it, choosing a trail name that
writes another trail's table (or its digest table), and names that pass a `$` anchor with a
trailing newline."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, cli_environment, rpc_client, run_cli, sdk_at

from trailhouse.errors import RequestFailed

REGION = "cn-hangzhou"
DELIVERY_POLICY = "AliyunActionTrailDeliveryPolicy"


@dataclass(frozen=True)
class Tenants:
    """Victim B, attacker A, and a role of B that delivers A's events into B's project."""

    a: Keys
    b: Keys
    role_arn: str


def _project(account_id: str) -> str:
    return f"actiontrail_{account_id}"


def _arn(account_id: str, project: str | None = None) -> str:
    return f"acs:odps:{REGION}:{account_id}:project/{project or _project(account_id)}"


def _call(regional: Regional, keys: Keys, action: str, params: dict[str, str]) -> dict[str, Any]:
    with rpc_client(regional.server, keys) as client:
        return client.call(action, params)


def _refused(regional: Regional, keys: Keys, action: str, params: dict[str, str]) -> RequestFailed:
    with pytest.raises(RequestFailed) as raised:
        _call(regional, keys, action, params)
    return raised.value


def _sdk_refused(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _projects(regional: Regional, keys: Keys) -> list[str]:
    return [p["Name"] for p in _call(regional, keys, "ListProjects", {})["Projects"]]


@pytest.fixture(scope="module")
def tenants(regional: Regional) -> Tenants:
    a, b = regional.new_account(), regional.new_account()
    trust = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": [f"{a.account_id}@actiontrail.aliyuncs.com"]},
            }
        ],
    }
    _call(
        regional,
        b,
        "CreateRole",
        {"RoleName": "NamesDelivery", "AssumeRolePolicyDocument": json.dumps(trust)},
    )
    _call(
        regional,
        b,
        "AttachPolicyToRole",
        {"RoleName": "NamesDelivery", "PolicyType": "System", "PolicyName": DELIVERY_POLICY},
    )
    return Tenants(a, b, f"acs:ram::{b.account_id}:role/namesdelivery")


def test_another_accounts_delivery_project_cannot_be_taken(
    regional: Regional, tenants: Tenants
) -> None:
    a, b = tenants.a, tenants.b
    error = _refused(regional, a, "CreateProject", {"Project": _project(b.account_id)})
    assert (error.code, error.status) == ("InvalidParameter", 400)
    assert f"reserved for account {b.account_id}'s trails" in error.message
    upper = _refused(regional, a, "CreateProject", {"Project": _project(b.account_id).upper()})
    assert upper.code == "InvalidParameter"
    for name in ("actiontrail_audit", f"actiontrail_{b.account_id}0"):
        reserved = _refused(regional, a, "CreateProject", {"Project": name})
        assert reserved.code == "InvalidParameter"
        assert "prefix actiontrail_ is reserved for delivery projects" in reserved.message
    assert _project(b.account_id) not in _projects(regional, a) + _projects(regional, b)
    created = _call(regional, b, "CreateProject", {"Project": _project(b.account_id)})
    assert created["Project"]["Owner"] == b.account_id


def test_a_trail_cannot_name_another_accounts_project_as_its_own(
    regional: Regional, tenants: Tenants
) -> None:
    client = sdk_at(regional.endpoint(REGION), tenants.a)
    arn = _arn(tenants.a.account_id, _project(tenants.b.account_id))
    error = _sdk_refused(
        lambda: client.create_trail(
            models.CreateTrailRequest(name="names-mine", max_compute_project_arn=arn)
        )
    )
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert f"must be named {_project(tenants.a.account_id)}" in error.message


def test_trail_names_of_one_table_are_refused(regional: Regional, tenants: Tenants) -> None:
    a = tenants.a
    client = sdk_at(regional.endpoint(REGION), a)
    arn = _arn(a.account_id)
    for name in ("names-ab", "namesx", "namesy_digest"):
        client.create_trail(models.CreateTrailRequest(name=name, max_compute_project_arn=arn))
    for name, holder in (
        ("names_ab", "names-ab"),  # the same table, actiontrail_names_ab
        ("namesx_digest", "namesx"),  # namesx's digest table
        ("namesy", "namesy_digest"),  # its digest table is namesy_digest's table
    ):
        error = _sdk_refused(
            lambda name=name: client.create_trail(
                models.CreateTrailRequest(name=name, max_compute_project_arn=arn)
            )
        )
        assert (error.code, error.status_code) == ("TrailAlreadyExistsException", 400)
        assert f"which trail {holder} of account {a.account_id} already writes" in error.message
    names = client.describe_trails(models.DescribeTrailsRequest()).body.trail_list
    assert sorted(t.name for t in names) == ["names-ab", "namesx", "namesy_digest"]
    client.delete_trail(models.DeleteTrailRequest(name="names-ab"))
    client.create_trail(models.CreateTrailRequest(name="names_ab", max_compute_project_arn=arn))
    for name in ("names_ab", "namesx", "namesy_digest"):
        client.delete_trail(models.DeleteTrailRequest(name=name))


def test_another_account_cannot_write_a_trails_table_by_its_name(
    regional: Regional, tenants: Tenants
) -> None:
    a, b = tenants.a, tenants.b
    victim = sdk_at(regional.endpoint(REGION), b)
    attacker = sdk_at(regional.endpoint(REGION), a)
    victim.create_trail(
        models.CreateTrailRequest(name="names-audit", max_compute_project_arn=_arn(b.account_id))
    )
    for name in ("names-audit", "names_audit", "names-audit_digest"):
        error = _sdk_refused(
            lambda name=name: attacker.create_trail(
                models.CreateTrailRequest(
                    name=name,
                    max_compute_project_arn=_arn(b.account_id),
                    max_compute_write_role_arn=tenants.role_arn,
                )
            )
        )
        assert error.code == "TrailAlreadyExistsException"
        assert f"trail names-audit of account {b.account_id}" in error.message
    # Re-aiming an existing trail at the victim's table is refused the same way.
    attacker.create_trail(
        models.CreateTrailRequest(name="names-audit", max_compute_project_arn=_arn(a.account_id))
    )
    error = _sdk_refused(
        lambda: attacker.update_trail(
            models.UpdateTrailRequest(
                name="names-audit",
                max_compute_project_arn=_arn(b.account_id),
                max_compute_write_role_arn=tenants.role_arn,
            )
        )
    )
    assert error.code == "TrailAlreadyExistsException"
    kept = attacker.describe_trails(models.DescribeTrailsRequest(name_list="names-audit")).body
    assert kept.trail_list[0].max_compute_project_arn == _arn(a.account_id)
    # A name of its own delivers into the victim's project, as the victim's role allows.
    attacker.create_trail(
        models.CreateTrailRequest(
            name="names-from-a",
            max_compute_project_arn=_arn(b.account_id),
            max_compute_write_role_arn=tenants.role_arn,
        )
    )
    for client, name in (
        (attacker, "names-audit"),
        (attacker, "names-from-a"),
        (victim, "names-audit"),
    ):
        client.delete_trail(models.DeleteTrailRequest(name=name))


def test_only_the_owner_deletes_a_project_and_not_while_a_trail_delivers(
    regional: Regional, tenants: Tenants, tmp_path: Path
) -> None:
    a, b = tenants.a, tenants.b
    project = _project(a.account_id)
    _call(regional, a, "CreateProject", {"Project": project})
    client = sdk_at(regional.endpoint(REGION), a)
    client.create_trail(
        models.CreateTrailRequest(name="names-live", max_compute_project_arn=_arn(a.account_id))
    )
    client.start_logging(models.StartLoggingRequest(name="names-live"))
    refused = _refused(regional, b, "DeleteProject", {"Project": project})
    assert (refused.code, refused.status) == ("NoPermission", 403)
    assert f"only the root key of the owner account {a.account_id}" in refused.message
    busy = _refused(regional, a, "DeleteProject", {"Project": project})
    assert (busy.code, busy.status) == ("InvalidParameter", 400)
    assert f"names-live (account {a.account_id})" in busy.message
    assert project in _projects(regional, a)

    client.stop_logging(models.StopLoggingRequest(name="names-live"))
    env = cli_environment(regional.server, tmp_path, a)
    deleted = run_cli("warehouse", "project", "delete", project, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert project not in _projects(regional, a)
    assert not (regional.server.data_dir / "warehouse" / REGION / project).exists()
    gone = _refused(regional, a, "DeleteProject", {"Project": project})
    assert (gone.code, gone.status) == ("NoSuchProject", 404)

    # The name is free for its owner only.
    taken = _refused(regional, b, "CreateProject", {"Project": project})
    assert taken.code == "InvalidParameter"
    assert _call(regional, a, "CreateProject", {"Project": project})["Project"]["Owner"] == (
        a.account_id
    )
    client.delete_trail(models.DeleteTrailRequest(name="names-live"))
    _audited(regional, a, "DeleteProject")


def _audited(regional: Regional, keys: Keys, action: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        found = _call(
            regional,
            keys,
            "LookupEvents",
            {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": action},
        )["Events"]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert found, f"{action} was not recorded"
    assert found[0]["serviceName"] == "MaxCompute"


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        ("CreateProject", {"Project": "names_project\n"}, "InvalidParameter"),
        ("CreateQuota", {"QuotaName": "namesquota\n", "Cu": "1"}, "InvalidParameter"),
        (
            "CreateRole",
            {
                "RoleName": "NamesRole\n",
                "AssumeRolePolicyDocument": json.dumps(
                    {
                        "Version": "1",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Principal": {"Service": ["actiontrail.aliyuncs.com"]},
                            }
                        ],
                    }
                ),
            },
            "InvalidParameter",
        ),
    ],
)
def test_a_trailing_newline_fails_the_name_rule(
    regional: Regional, tenants: Tenants, action: str, params: dict[str, str], code: str
) -> None:
    error = _refused(regional, tenants.a, action, params)
    assert (error.code, error.status) == (code, 400)


def test_a_trail_name_with_a_trailing_newline_is_refused(
    regional: Regional, tenants: Tenants
) -> None:
    client = sdk_at(regional.endpoint(REGION), tenants.a)
    error = _sdk_refused(
        lambda: client.create_trail(
            models.CreateTrailRequest(
                name="atrail1\n", max_compute_project_arn=_arn(tenants.a.account_id)
            )
        )
    )
    assert (error.code, error.status_code) == ("InvalidTrailNameException", 400)
