"""Access keys against a real server, through the official SDK and trailhouse's client: a key
disabled or deleted is refused at its very next request; another account's keys are out of
reach; a RAM user needs RAM's permission; the CLI does the same through the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, cli_environment, rpc_client, run_cli, sdk, trailhouse

from trailhouse.errors import RequestFailed


def _second_root_key(regional: Regional, account_id: str) -> Keys:
    made = trailhouse(
        "key-admin",
        "create",
        "--account-id",
        account_id,
        "--data-dir",
        str(regional.server.data_dir),
    )
    return Keys(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])


def _describe(regional: Regional, keys: Keys) -> None:
    sdk(regional.server, keys).describe_trails(models.DescribeTrailsRequest())


def _refused(regional: Regional, keys: Keys) -> str:
    with pytest.raises(ClientException) as refused:
        _describe(regional, keys)
    return str(refused.value.code)


def _ram(regional: Regional, keys: Keys, action: str, **params: str) -> dict[str, object]:
    with rpc_client(regional.server, keys) as client:
        return client.call(action, params)


def test_disable_enable_and_delete_take_effect_at_the_next_request(regional: Regional) -> None:
    root = regional.new_account()
    spare = _second_root_key(regional, root.account_id)
    _describe(regional, spare)
    _ram(regional, root, "UpdateAccessKey", UserAccessKeyId=spare.access_key_id, Status="Inactive")
    assert _refused(regional, spare) == "InvalidAccessKeyId.Inactive"
    _ram(regional, root, "UpdateAccessKey", UserAccessKeyId=spare.access_key_id, Status="Active")
    _describe(regional, spare)
    _ram(regional, root, "DeleteAccessKey", UserAccessKeyId=spare.access_key_id)
    assert _refused(regional, spare) == "InvalidAccessKeyId.NotFound"
    listed = _ram(regional, root, "ListAccessKeys")
    assert listed["AccessKeys"] == {
        "AccessKey": [
            {
                "AccessKeyId": root.access_key_id,
                "Status": "Active",
                "CreateDate": listed["AccessKeys"]["AccessKey"][0]["CreateDate"],  # type: ignore[index]
            }
        ]
    }


def test_a_host_admin_change_holds_for_the_running_server_at_once(
    regional: Regional, tmp_path: Path
) -> None:
    root = regional.new_account()
    env = cli_environment(regional.server, tmp_path)
    data = ("--data-dir", str(regional.server.data_dir))
    _describe(regional, root)  # the server has read the key (and once would have cached it)
    disabled = run_cli("key-admin", "disable", root.access_key_id, *data, env=env)
    assert disabled.returncode == 0, disabled.stderr
    assert _refused(regional, root) == "InvalidAccessKeyId.Inactive"
    enabled = run_cli("key-admin", "enable", root.access_key_id, *data, env=env)
    assert enabled.returncode == 0, enabled.stderr
    _describe(regional, root)


def test_another_accounts_key_cannot_be_disabled_or_deleted(regional: Regional) -> None:
    attacker, victim = regional.new_account(), regional.new_account()
    regional.new_user(victim.account_id, "ops")
    for action, extra in (("UpdateAccessKey", {"Status": "Inactive"}), ("DeleteAccessKey", {})):
        for params in ({}, {"UserName": "ops"}):
            with pytest.raises(RequestFailed) as refused:
                _ram(
                    regional,
                    attacker,
                    action,
                    UserAccessKeyId=victim.access_key_id,
                    **params,
                    **extra,
                )
            assert refused.value.code in {"EntityNotExist.User.AccessKey", "EntityNotExist.User"}
    _describe(regional, victim)


def test_a_ram_user_without_rams_permission_is_refused(regional: Regional) -> None:
    root = regional.new_account()
    bob = regional.new_user(root.account_id, "bob")
    _ram(regional, root, "AttachPolicyToUser", UserName="bob", PolicyType="System",
         PolicyName="AliyunActionTrailFullAccess")  # fmt: skip
    with pytest.raises(RequestFailed) as refused:
        _ram(
            regional, bob, "UpdateAccessKey", UserAccessKeyId=root.access_key_id, Status="Inactive"
        )
    assert refused.value.code == "NoPermission" and "ram:UpdateAccessKey" in refused.value.message
    _describe(regional, root)


def test_the_key_commands_work_through_the_api(regional: Regional, tmp_path: Path) -> None:
    root = regional.new_account()
    alice = regional.new_user(root.account_id, "alice")
    env = cli_environment(regional.server, tmp_path, root)
    listed = run_cli("key", "list", "--user-name", "alice", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)["AccessKeys"]["AccessKey"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(alice.access_key_id, "Active")]
    disabled = run_cli("key", "disable", alice.access_key_id, "--user-name", "alice", env=env)
    assert disabled.returncode == 0 and "is now Inactive" in disabled.stdout, disabled.stderr
    assert _refused(regional, alice) == "InvalidAccessKeyId.Inactive"
    table = run_cli("key", "list", "--user-name", "alice", env=env)
    assert alice.access_key_id in table.stdout and "Inactive" in table.stdout
    deleted = run_cli("key", "delete", alice.access_key_id, "--user-name", "alice", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert _refused(regional, alice) == "InvalidAccessKeyId.NotFound"
    again = run_cli("key", "delete", alice.access_key_id, "--user-name", "alice", env=env)
    assert again.returncode == 1 and "EntityNotExist.User.AccessKey" in again.stderr
