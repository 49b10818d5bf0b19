"""Messages that say what to fix, seen through the official SDK and the trailhouse command."""

from __future__ import annotations

import hashlib
import re
import shlex
import uuid
from pathlib import Path

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import ACCOUNT_A, Fixture, Keys, cli_environment, run_cli, sdk, trailhouse

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed


@pytest.mark.parametrize("signature", [None, "v2"], ids=["v3", "v2"])
def test_a_wrong_secret_is_named_before_what_the_server_computed(
    running: Fixture, signature: str | None
) -> None:
    wrong = Keys(running.root.account_id, running.root.access_key_id, "a-mistyped-secret")
    with pytest.raises(ClientException) as raised:
        sdk(running.server, wrong, signature=signature).lookup_events(
            models.LookupEventsRequest(max_results="7")
        )
    error = raised.value
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)
    message = error.message
    advice = message.index("Check your AccessKey secret.")
    alibaba = message.index("Specified signature does not match our calculation.")
    computed = message.index("Server string to sign is: ")
    assert advice < alibaba < computed
    assert f"The AccessKey ID {running.root.access_key_id} exists" in message[advice:alibaba]
    shown = message[computed:].removeprefix("Server string to sign is: ")
    if signature is None:
        string_to_sign, _, canonical = shown.partition(" ; server canonical request is: ")
        canonical = canonical.partition(" request id: ")[0]  # the SDK appends it
        # The canonical request the SDK signed, as the server rebuilt it, with its hash.
        assert canonical.startswith("POST\n/\n")
        assert "x-acs-action:LookupEvents\n" in canonical
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        assert string_to_sign.startswith(f"ACS3-HMAC-SHA256\n{digest}")
    else:
        assert shown.startswith("POST&%2F&AccessKeyId%3D" + running.root.access_key_id)
        assert "Action%3DLookupEvents" in shown and "MaxResults%3D7" in shown


def _new_user(running: Fixture, name: str) -> Keys:
    document = trailhouse(
        "user",
        "create",
        "--data-dir",
        str(running.server.data_dir),
        "--account-id",
        ACCOUNT_A,
        "--user-name",
        name,
    )
    return Keys(document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"])


def test_a_user_without_membership_is_told_who_runs_which_command(
    running: Fixture, tmp_path: Path
) -> None:
    word = uuid.uuid4().hex[:10]
    project, name = f"messages_{word}", f"newcomer-{word}"
    owner_env = cli_environment(running.server, tmp_path, running.root)
    created = run_cli("warehouse", "project", "create", project, env=owner_env)
    assert created.returncode == 0, created.stderr
    newcomer = _new_user(running, name)
    user_env = cli_environment(running.server, tmp_path, newcomer)

    listed = run_cli("warehouse", "ls", project, env=user_env)
    assert listed.returncode == 1 and listed.stdout == ""
    told = listed.stderr
    assert told.startswith("trailhouse: NoPermission: ODPS-0130013:Authorization exception - ")
    assert f"RAM user {name} of account {ACCOUNT_A} has no Select privilege" in told
    assert "it is not a member of it" in told
    assert f"The project's owner, account {ACCOUNT_A} (with its root AccessKey)" in told
    command = re.search(r"run `trailhouse ([^`]+)`", told)
    assert command is not None, told
    assert command.group(1) == (
        f"warehouse grant {project} {ACCOUNT_A}/{name} --role Reader --region cn-hangzhou"
    )
    with RpcClient(running.server.url, newcomer.access_key_id, newcomer.access_key_secret) as rpc:
        with pytest.raises(RequestFailed) as refused:
            rpc.call("SubmitSqlJob", {"Project": project, "Sql": "SELECT 1"})
        assert (refused.value.status, refused.value.code) == (403, "NoPermission")
        assert f"run `trailhouse {command.group(1)}`" in refused.value.message

        # The newcomer cannot grant itself; the command works as the owner's root key.
        itself = run_cli(*shlex.split(command.group(1)), env=user_env)
        assert itself.returncode == 1 and "no Manage privilege" in itself.stderr
        assert "--role Admin" in itself.stderr
        granted = run_cli(*shlex.split(command.group(1)), env=owner_env)
        assert granted.returncode == 0, granted.stderr
        assert rpc.call("ListTables", {"Project": project})["Tables"] == []
    own = run_cli("warehouse", "project", "create", f"{project}_own", env=user_env)
    assert own.returncode == 1
    assert own.stderr == (
        f"trailhouse: NoPermission: CreateProject needs the account's root key; ram-user {name} "
        "may not call it, and no policy can allow it: the owner of account "
        f"{ACCOUNT_A} must call it with the account's root AccessKey"
        f"{own.stderr[own.stderr.index(' (request id ') :]}"
    )
    deleted = run_cli("warehouse", "project", "delete", project, env=owner_env)
    assert deleted.returncode == 0, deleted.stderr


def test_the_cli_says_where_a_wrong_secret_came_from(running: Fixture, tmp_path: Path) -> None:
    env = cli_environment(running.server, tmp_path)
    from_environment = run_cli(
        "events",
        "lookup",
        env={
            **env,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": running.root.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "a-mistyped-secret",
        },
    )
    assert from_environment.returncode == 1
    assert from_environment.stderr.startswith(
        "trailhouse: SignatureDoesNotMatch: Check your AccessKey secret."
    )
    assert from_environment.stderr.splitlines()[-1] == (
        "trailhouse: the AccessKey came from ALIBABA_CLOUD_ACCESS_KEY_ID and "
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET in the environment; set them to the key's ID and "
        "secret as they were printed when the key was created"
    )
    assert "a-mistyped-secret" not in from_environment.stderr

    for profile, key_id, code in (
        ("typo", running.root.access_key_id, "SignatureDoesNotMatch"),
        ("gone", "LTAI5tNoSuchKeyMessages", "InvalidAccessKeyId.NotFound"),
    ):
        configured = run_cli(
            "configure",
            "--profile",
            profile,
            "--access-key-id",
            key_id,
            "--access-key-secret",
            "a-mistyped-secret",
            env=env,
        )
        assert configured.returncode == 0, configured.stderr
        refused = run_cli("trail", "list", "--profile", profile, env=env)
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"trailhouse: {code}: ")
        assert refused.stderr.splitlines()[-1] == (
            f"trailhouse: the AccessKey came from profile {profile!r} in "
            f"{tmp_path / 'config.json'}; store the right ID and secret with "
            f"`trailhouse configure --profile {profile}`"
        )
