"""RAM's UpdateRole and DeleteRole against a real server, through the API and the CLI.

A delivery refused because its role does not trust the source account names the command that
fixes the trust policy; that command, run as printed, makes the role trusted.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_support import ACCOUNT_B, Fixture, Keys, Server, cli_environment, rpc_client, run_cli

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.iam.roles import DELIVERY_POLICY, SERVICE_LINKED_ROLE, trust_policy_for_services

Clients = Callable[[Server, Keys], RpcClient]


@pytest.fixture
def clients() -> Iterator[Callable[[Server, Keys], RpcClient]]:
    """Signed clients for the test, each closed at its end (no socket left open)."""
    with contextlib.ExitStack() as stack:
        yield lambda server, keys: stack.enter_context(rpc_client(server, keys))


def _role_name() -> str:
    return f"Role-{uuid.uuid4().hex[:8]}"


def _refused(call: Any) -> RequestFailed:
    with pytest.raises(RequestFailed) as refused:
        call()
    return refused.value


def test_update_role_replaces_the_trust_policy_and_description(
    running: Fixture, clients: Clients
) -> None:
    client = clients(running.server, running.root)
    name = _role_name()
    client.call(
        "CreateRole",
        {
            "RoleName": name,
            "AssumeRolePolicyDocument": trust_policy_for_services(
                f"{ACCOUNT_B}@actiontrail.aliyuncs.com"
            ),
        },
    )
    new_trust = trust_policy_for_services(f"{running.root.account_id}@actiontrail.aliyuncs.com")
    answer = client.call(
        "UpdateRole",
        {"RoleName": name, "NewAssumeRolePolicyDocument": new_trust, "NewDescription": "fixed"},
    )
    role = client.call("GetRole", {"RoleName": name})["Role"]
    assert answer["Role"] == role
    assert json.loads(role["AssumeRolePolicyDocument"]) == json.loads(new_trust)
    assert role["Description"] == "fixed"

    nothing = _refused(lambda: client.call("UpdateRole", {"RoleName": name}))
    assert (nothing.status, nothing.code) == (400, "InvalidParameter")
    malformed = _refused(
        lambda: client.call(
            "UpdateRole", {"RoleName": name, "NewAssumeRolePolicyDocument": "{not json"}
        )
    )
    assert malformed.code == "MalformedPolicyDocument"
    assert client.call("GetRole", {"RoleName": name})["Role"] == role  # unchanged
    missing = _refused(
        lambda: client.call("UpdateRole", {"RoleName": "NoSuchRole", "NewDescription": "x"})
    )
    assert (missing.status, missing.code) == (404, "EntityNotExist.Role")


def test_delete_role_needs_its_policies_detached_first(running: Fixture, clients: Clients) -> None:
    client = clients(running.server, running.root)
    name = _role_name()
    client.call(
        "CreateRole",
        {"RoleName": name, "AssumeRolePolicyDocument": trust_policy_for_services("x.com")},
    )
    client.call(
        "AttachPolicyToRole",
        {"RoleName": name, "PolicyType": "System", "PolicyName": DELIVERY_POLICY},
    )
    conflict = _refused(lambda: client.call("DeleteRole", {"RoleName": name}))
    assert (conflict.status, conflict.code) == (409, "DeleteConflict.Role.Policy")
    assert f"trailhouse role detach-policy --role-name {name}" in conflict.message
    client.call(
        "DetachPolicyFromRole",
        {"RoleName": name, "PolicyType": "System", "PolicyName": DELIVERY_POLICY},
    )
    client.call("DeleteRole", {"RoleName": name})
    gone = _refused(lambda: client.call("GetRole", {"RoleName": name}))
    assert (gone.status, gone.code) == (404, "EntityNotExist.Role")
    linked = _refused(lambda: client.call("DeleteRole", {"RoleName": SERVICE_LINKED_ROLE}))
    assert (linked.status, linked.code) == (409, "DeleteConflict.Role")


def test_a_ram_user_may_not_change_or_delete_roles(running: Fixture, clients: Clients) -> None:
    root = clients(running.server, running.root)
    name = _role_name()
    root.call(
        "CreateRole",
        {"RoleName": name, "AssumeRolePolicyDocument": trust_policy_for_services("x.com")},
    )
    alice = clients(running.server, running.alice)
    for action, params in (
        ("UpdateRole", {"RoleName": name, "NewDescription": "taken over"}),
        ("DeleteRole", {"RoleName": name}),
    ):
        refused = _refused(lambda action=action, params=params: alice.call(action, params))
        assert (refused.status, refused.code) == (403, "NoPermission")
    assert root.call("GetRole", {"RoleName": name})["Role"]["Description"] == ""


def test_the_trust_fix_a_refusal_names_works_as_printed(
    running: Fixture, clients: Clients, tmp_path: Path
) -> None:
    """A cross-account destination whose role trusts another account: CreateTrail's refusal
    names `trailhouse role update … --trusted-account`; run in the role's account, it fixes it."""
    owner = running.other  # account B owns the project and the role
    source = running.root  # account A's trail delivers into B's project
    name = _role_name()
    owner_env = cli_environment(running.server, tmp_path / "b", owner)
    done = run_cli(
        "role",
        "create",
        "--role-name",
        name,
        "--trusted-account",
        "1111000011110000",
        env=owner_env,
    )
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "role",
        "attach-policy",
        "--role-name",
        name,
        "--policy-name",
        DELIVERY_POLICY,
        env=owner_env,
    )
    assert done.returncode == 0, done.stderr
    trail = {
        "Name": f"fix-{uuid.uuid4().hex[:8]}",
        "MaxComputeProjectArn": (
            f"acs:odps:cn-hangzhou:{owner.account_id}:project/actiontrail_{owner.account_id}"
        ),
        "MaxComputeWriteRoleArn": f"acs:ram::{owner.account_id}:role/{name.lower()}",
    }
    client = clients(running.server, source)
    refused = _refused(lambda: client.call("CreateTrail", trail))
    assert refused.code == "InsufficientMaxComputePolicyException"
    command = f"trailhouse role update --role-name {name} --trust-policy @policy.json"
    assert command in refused.message
    assert f"--trusted-account {source.account_id}" in refused.message
    done = run_cli(
        "role",
        "update",
        "--role-name",
        name,
        "--trusted-account",
        source.account_id,
        env=owner_env,
    )
    assert done.returncode == 0, done.stderr
    assert client.call("CreateTrail", trail)["Name"] == trail["Name"]
    client.call("DeleteTrail", {"Name": trail["Name"]})
    done = run_cli("role", "delete", "--role-name", name, env=owner_env)
    assert done.returncode != 0 and "DeleteConflict.Role.Policy" in done.stderr
