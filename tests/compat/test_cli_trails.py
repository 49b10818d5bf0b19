"""The trailhouse command against a real server: trails, roles, user policies, organizations."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from compat_support import ACCOUNT_A, ACCOUNT_B, Fixture, Keys, cli_environment, run_cli


def _run(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*arguments, env=env)


def _environment(running: Fixture, tmp_path: Path, keys: Keys) -> dict[str, str]:
    return cli_environment(running.server, tmp_path, keys)


def _ok(*arguments: str, env: dict[str, str]) -> str:
    done = _run(*arguments, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _json(*arguments: str, env: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_ok(*arguments, "--output", "json", env=env))
    return document


# Delivery to the account's own MaxCompute project, through its service-linked role.
PROJECT = f"acs:odps:cn-hangzhou:{ACCOUNT_A}:project/actiontrail_{ACCOUNT_A}"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_trail_lifecycle(running: Fixture, tmp_path: Path) -> None:
    env = _environment(running, tmp_path, running.root)
    name = _unique("cli-life")

    created = _ok(
        "trail",
        "create",
        "--name",
        name,
        "--event-rw",
        "Write",
        "--max-compute-project-arn",
        PROJECT,
        env=env,
    )
    rows = dict(line.split(None, 1) for line in created.splitlines()[1:] if " " in line)
    assert rows["Name"] == name
    assert rows["EventRW"] == "Write"
    assert rows["HomeRegion"] == "cn-hangzhou"

    listed = _json("trail", "list", "--name-list", name, env=env)
    assert [(t["Name"], t["Status"]) for t in listed["TrailList"]] == [(name, "Fresh")]
    table = _ok("trail", "list", "--name-list", name, env=env).splitlines()
    assert table[0].split()[:2] == ["Name", "Status"]
    assert table[1].split()[:2] == [name, "Fresh"]

    assert _ok("trail", "start", "--name", name, env=env).strip() == f"trail {name} is logging"
    status = _json("trail", "status", "--name", name, env=env)
    assert status["IsLogging"] is True
    assert "StartLoggingTime" in status
    status_table = _ok("trail", "status", "--name", name, env=env)
    assert any(line.split() == ["IsLogging", "true"] for line in status_table.splitlines())
    # Counts and lags read plainly in the table; JSON keeps GetTrailStatus's numbers.
    fields = dict(line.split(None, 1) for line in status_table.splitlines()[1:] if " " in line)
    for field in ("DeliveryBacklog", "DeliveredEvents", "DeliveryLostEvents"):
        assert isinstance(status[field], int)
        assert re.fullmatch(r"1 event|(0|[02-9]|[1-9][\d,]+) events", fields[field]), fields
    for field in ("DeliveryLagP50Ms", "DeliveryLagP99Ms", "DeliveryLagMaxMs"):
        assert isinstance(status[field], int)
        assert re.fullmatch(r"\d+ ms|\d+\.\d\d s|\d+ min \d+ s|\d+ h \d+ min", fields[field])

    stopped = _ok("trail", "stop", "--name", name, env=env)
    assert stopped.strip() == f"trail {name} stopped logging"
    assert _json("trail", "status", "--name", name, env=env)["IsLogging"] is False
    assert _json("trail", "list", "--name-list", name, env=env)["TrailList"][0]["Status"] == (
        "Disable"
    )

    updated = _json("trail", "update", "--name", name, "--event-rw", "Read", env=env)
    assert (updated["Name"], updated["EventRW"]) == (name, "Read")
    assert _json("trail", "list", "--name-list", name, env=env)["TrailList"][0]["EventRW"] == (
        "Read"
    )

    assert _ok("trail", "delete", "--name", name, env=env).strip() == f"deleted trail {name}"
    assert _json("trail", "list", "--name-list", name, env=env)["TrailList"] == []
    assert len(_ok("trail", "list", "--name-list", name, env=env).splitlines()) == 1


def test_region_flag_selects_the_region(running: Fixture, tmp_path: Path) -> None:
    env = _environment(running, tmp_path, running.root)
    name = _unique("cli-region")
    refused = _run("trail", "list", "--region", "xx-nowhere-9", env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("trailhouse: InvalidRegionException:")
    created = _json(
        "trail",
        "create",
        "--name",
        name,
        "--max-compute-project-arn",
        PROJECT,
        "--region",
        "cn-hangzhou",
        env=env,
    )
    assert created["HomeRegion"] == "cn-hangzhou"
    assert "RequestId" in created
    _ok("trail", "delete", "--name", name, "--region", "cn-hangzhou", env=env)


def test_a_bad_trail_name_is_refused(running: Fixture, tmp_path: Path) -> None:
    env = _environment(running, tmp_path, running.root)
    done = _run("trail", "create", "--name", "x!", env=env)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("trailhouse: InvalidTrailNameException:")
    assert "(request id " in lines[0]
    assert done.stdout == ""


def test_role_with_trusted_accounts(running: Fixture, tmp_path: Path) -> None:
    env = _environment(running, tmp_path, running.root)
    role = _unique("cli-role")
    created = _json(
        "role",
        "create",
        "--role-name",
        role,
        "--trusted-account",
        ACCOUNT_A,
        ACCOUNT_B,
        "--description",
        "delivery from A and B",
        env=env,
    )["Role"]
    assert created["Arn"] == f"acs:ram::{ACCOUNT_A}:role/{role.lower()}"
    policy = json.loads(created["AssumeRolePolicyDocument"])
    assert policy["Statement"][0]["Principal"]["Service"] == [
        f"{ACCOUNT_A}@actiontrail.aliyuncs.com",
        f"{ACCOUNT_B}@actiontrail.aliyuncs.com",
    ]
    assert policy["Statement"][0]["Action"] == "sts:AssumeRole"

    attached = _ok(
        "role",
        "attach-policy",
        "--role-name",
        role,
        "--policy-name",
        "AliyunActionTrailDeliveryPolicy",
        env=env,
    )
    assert attached.strip() == f"attached AliyunActionTrailDeliveryPolicy to role {role}"
    roles = _json("role", "list", env=env)["Roles"]["Role"]
    mine = [r for r in roles if r["RoleName"] == role]
    assert mine[0]["AttachedPolicies"] == ["AliyunActionTrailDeliveryPolicy"]
    table = _ok("role", "list", env=env)
    assert any(
        line.startswith(role) and "AliyunActionTrailDeliveryPolicy" in line
        for line in table.splitlines()
    )

    _ok(
        "role",
        "detach-policy",
        "--role-name",
        role,
        "--policy-name",
        "AliyunActionTrailDeliveryPolicy",
        env=env,
    )
    assert _json("role", "get", "--role-name", role, env=env)["Role"]["AttachedPolicies"] == []

    # A trust policy from a file, and the root-key-only rule.
    document = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": ["actiontrail.aliyuncs.com"]},
            }
        ],
    }
    (tmp_path / "trust.json").write_text(json.dumps(document))
    from_file = _unique("cli-file")
    _ok(
        "role",
        "create",
        "--role-name",
        from_file,
        "--trust-policy",
        f"@{tmp_path / 'trust.json'}",
        env=env,
    )
    got = _json("role", "get", "--role-name", from_file, env=env)["Role"]
    assert json.loads(got["AssumeRolePolicyDocument"]) == document
    as_alice = _run("role", "list", env=_environment(running, tmp_path, running.alice))
    assert as_alice.returncode == 1
    assert as_alice.stderr.startswith("trailhouse: NoPermission:")
    missing = _run("role", "get", "--role-name", _unique("cli-none"), env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("trailhouse: EntityNotExist.Role")


def test_user_policy_lets_a_ram_user_list_trails(running: Fixture, tmp_path: Path) -> None:
    # A user of its own, so that policies other tests give alice cannot matter.
    user_name = _unique("cli-user")
    made = _ok(
        "user",
        "create",
        "--data-dir",
        str(running.server.data_dir),
        "--account-id",
        ACCOUNT_A,
        "--user-name",
        user_name,
        env=_environment(running, tmp_path, running.root),
    )
    user = json.loads(made)
    keys = Keys(user["AccountId"], user["AccessKeyId"], user["AccessKeySecret"])
    as_user = _environment(running, tmp_path, keys)
    before = _run("trail", "list", env=as_user)
    assert before.returncode == 1
    assert before.stderr.startswith("trailhouse: NoPermission:")

    root = _environment(running, tmp_path, running.root)
    attached = _ok(
        "user",
        "attach-policy",
        "--user-name",
        user_name,
        "--policy-name",
        "AliyunActionTrailReadOnlyAccess",
        env=root,
    )
    assert attached.strip() == f"attached AliyunActionTrailReadOnlyAccess to user {user_name}"
    assert "TrailList" in _json("trail", "list", env=as_user)
    # Read-only: creating a trail is still refused.
    refused = _run("trail", "create", "--name", _unique("cli-ro"), env=as_user)
    assert refused.returncode == 1
    assert refused.stderr.startswith("trailhouse: NoPermission:")
    # The user may not grant itself more.
    escalate = _run(
        "user",
        "attach-policy",
        "--user-name",
        user_name,
        "--policy-name",
        "AliyunActionTrailFullAccess",
        env=as_user,
    )
    assert escalate.returncode == 1
    assert escalate.stderr.startswith("trailhouse: NoPermission:")


def test_organizations_on_a_fresh_data_dir(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRAILHOUSE_")}
    data = str(tmp_path / "data")
    management = json.loads(_ok("account", "create", "--data-dir", data, env=env))["AccountId"]
    member = json.loads(_ok("account", "create", "--data-dir", data, env=env))["AccountId"]

    created = json.loads(
        _ok("org", "create", "--management-account-id", management, "--data-dir", data, env=env)
    )
    organization_id = created["OrganizationId"]
    assert organization_id.startswith("rd-")
    assert created == {
        "OrganizationId": organization_id,
        "ManagementAccountId": management,
        "Members": [management],
    }
    added = json.loads(
        _ok(
            "org",
            "add-account",
            "--organization-id",
            organization_id,
            "--account-id",
            member,
            "--data-dir",
            data,
            env=env,
        )
    )
    assert added["Members"] == [management, member]
    shown = json.loads(_ok("org", "show", "--account-id", member, "--data-dir", data, env=env))
    assert shown == added

    again = _run("org", "create", "--management-account-id", member, "--data-dir", data, env=env)
    assert again.returncode == 1
    assert "already belongs to an organization" in again.stderr
    unknown = _run(
        "org", "create", "--management-account-id", "9999000099990000", "--data-dir", data, env=env
    )
    assert unknown.returncode == 1
    assert "does not exist" in unknown.stderr
    alone = _run("org", "show", "--account-id", "9999000099990000", "--data-dir", data, env=env)
    assert alone.returncode == 1
    assert "belongs to no organization" in alone.stderr
