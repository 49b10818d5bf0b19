"""Access keys through the signed API and the console, in one process: disable, enable, delete,
who may, and that sessions and requests of a key end the moment it is disabled or deleted."""

from __future__ import annotations

from console_support import ACCOUNT, Console

from trailhouse.iam.roles import RAM_FULL_ACCESS_POLICY

OTHER_ACCOUNT = "6543210987654321"


def _code(answer: object) -> tuple[int, str]:
    return answer.status_code, answer.json().get("Code", "OK")  # type: ignore[attr-defined]


def test_a_disabled_key_is_refused_at_its_next_request_and_works_again_once_enabled(
    console: Console,
) -> None:
    alice = console.alice
    assert _code(console.signed(alice, "DescribeTrails", {})) == (403, "NoPermission")
    disabled = console.signed(
        console.root,
        "UpdateAccessKey",
        {"UserName": "alice", "UserAccessKeyId": alice.access_key_id, "Status": "Inactive"},
    )
    assert _code(disabled) == (200, "OK")
    refused = console.signed(alice, "DescribeTrails", {})
    assert _code(refused) == (400, "InvalidAccessKeyId.Inactive")
    listed = console.signed(console.root, "ListAccessKeys", {"UserName": "alice"}).json()
    assert [(k["AccessKeyId"], k["Status"]) for k in listed["AccessKeys"]["AccessKey"]] == [
        (alice.access_key_id, "Inactive")
    ]
    enabled = console.signed(
        console.root,
        "UpdateAccessKey",
        {"UserName": "alice", "UserAccessKeyId": alice.access_key_id, "Status": "Active"},
    )
    assert _code(enabled) == (200, "OK")
    assert _code(console.signed(alice, "DescribeTrails", {})) == (403, "NoPermission")


def test_a_deleted_key_is_not_found_even_when_it_deleted_itself(console: Console) -> None:
    second = console.services.accounts.create_key(ACCOUNT)
    params = {"UserAccessKeyId": second.access_key_id}
    assert _code(console.signed(second, "DeleteAccessKey", params)) == (200, "OK")
    assert _code(console.signed(second, "ListAccessKeys", {})) == (
        404,
        "InvalidAccessKeyId.NotFound",
    )
    again = console.signed(console.root, "DeleteAccessKey", params)
    assert _code(again) == (404, "EntityNotExist.User.AccessKey")
    keys = console.signed(console.root, "ListAccessKeys", {}).json()["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in keys] == [console.root.access_key_id]


def test_another_accounts_keys_cannot_be_touched(console: Console) -> None:
    other = console.services.accounts.create_account(OTHER_ACCOUNT)
    victim = console.services.accounts.create_user(OTHER_ACCOUNT, "alice")
    for params in (
        {"UserAccessKeyId": other.access_key_id},
        {"UserAccessKeyId": victim.access_key_id, "UserName": "alice"},
    ):
        for action, extra in (("UpdateAccessKey", {"Status": "Inactive"}), ("DeleteAccessKey", {})):
            answer = console.signed(console.root, action, {**params, **extra})
            assert _code(answer) == (404, "EntityNotExist.User.AccessKey"), answer.text
    # and listing names only the caller's own account's keys
    listed = console.signed(console.root, "ListAccessKeys", {"UserName": "alice"}).json()
    assert [k["AccessKeyId"] for k in listed["AccessKeys"]["AccessKey"]] == [
        console.alice.access_key_id
    ]
    assert _code(console.signed(other, "ListAccessKeys", {})) == (200, "OK")
    assert _code(console.signed(victim, "DescribeTrails", {})) == (403, "NoPermission")


def test_a_ram_user_needs_a_ram_policy_to_manage_keys(console: Console) -> None:
    root_key = {"UserAccessKeyId": console.root.access_key_id, "Status": "Inactive"}
    own_key = {"UserAccessKeyId": console.alice.access_key_id, "Status": "Inactive"}
    for params in (root_key, own_key):
        answer = console.signed(console.alice, "UpdateAccessKey", params)
        assert _code(answer) == (403, "NoPermission")
        assert "ram:UpdateAccessKey" in answer.json()["Message"]
    console.services.roles.attach_user_policy(ACCOUNT, "alice", RAM_FULL_ACCESS_POLICY)
    # Even with RAM's full access a user reaches the root's keys by no name
    assert _code(console.signed(console.alice, "UpdateAccessKey", root_key)) == (
        404,
        "EntityNotExist.User.AccessKey",
    )
    assert _code(console.signed(console.root, "ListAccessKeys", {})) == (200, "OK")
    assert _code(console.signed(console.alice, "UpdateAccessKey", own_key)) == (200, "OK")
    assert _code(console.signed(console.alice, "ListAccessKeys", {})) == (
        400,
        "InvalidAccessKeyId.Inactive",
    )


def test_bad_parameters_are_refused_with_their_codes(console: Console) -> None:
    root = console.root
    cases = [
        ({"Status": "Inactive"}, 400, "MissingParameter"),
        ({"UserAccessKeyId": root.access_key_id}, 400, "MissingParameter"),
        ({"UserAccessKeyId": root.access_key_id, "Status": "inactive"}, 400, "InvalidParameter"),
        (
            {"UserAccessKeyId": root.access_key_id, "Status": "Inactive", "UserName": "bob"},
            404,
            "EntityNotExist.User",
        ),
    ]
    for params, status, code in cases:
        assert _code(console.signed(root, "UpdateAccessKey", params)) == (status, code), params
    assert _code(console.signed(root, "ListAccessKeys", {})) == (200, "OK")


def test_key_changes_are_audited_as_ram_calls(console: Console) -> None:
    params = {"UserName": "alice", "UserAccessKeyId": console.alice.access_key_id}
    console.signed(console.root, "UpdateAccessKey", {**params, "Status": "Inactive"})
    console.signed(console.root, "DeleteAccessKey", params)
    for name in ("UpdateAccessKey", "DeleteAccessKey"):
        (event,) = console.events(name, 1)
        assert event["serviceName"] == "Ram" and event["apiVersion"] == "2015-05-01"
        assert event["resourceType"] == "ACS::RAM::User;ACS::RAM::AccessKey"
        assert event["resourceName"] == f"alice;{console.alice.access_key_id}"
        assert event["userIdentity"]["accessKeyId"] == console.root.access_key_id


def test_a_console_session_ends_the_moment_its_key_is_disabled(console: Console) -> None:
    csrf = console.sign_in(console.alice)
    assert _code(console.api("DescribeTrails", {}, csrf)) == (403, "NoPermission")
    console.signed(
        console.root,
        "UpdateAccessKey",
        {"UserName": "alice", "UserAccessKeyId": console.alice.access_key_id, "Status": "Inactive"},
    )
    assert _code(console.api("DescribeTrails", {}, csrf)) == (401, "SessionExpired")
    page = console.client.get("/console/trails", follow_redirects=False)
    assert page.status_code == 303
    refused = console.sign_in_answer(console.alice.access_key_id, console.alice.access_key_secret)
    assert refused.status_code == 401 and "disabled" in refused.json()["Message"]
    console.signed(
        console.root,
        "UpdateAccessKey",
        {"UserName": "alice", "UserAccessKeyId": console.alice.access_key_id, "Status": "Active"},
    )
    # the ended session stays ended; signing in again works
    assert _code(console.api("DescribeTrails", {}, csrf)) == (401, "SessionExpired")
    csrf = console.sign_in(console.alice)
    assert _code(console.api("DescribeTrails", {}, csrf)) == (403, "NoPermission")


def test_a_console_session_can_delete_its_own_key_and_ends_with_it(console: Console) -> None:
    second = console.services.accounts.create_key(ACCOUNT)
    csrf = console.sign_in(second)
    keys = console.api("ListAccessKeys", {}, csrf).json()["AccessKeys"]["AccessKey"]
    assert {k["AccessKeyId"] for k in keys} == {console.root.access_key_id, second.access_key_id}
    deleted = console.api("DeleteAccessKey", {"UserAccessKeyId": second.access_key_id}, csrf)
    assert _code(deleted) == (200, "OK")
    assert _code(console.api("ListAccessKeys", {}, csrf)) == (401, "SessionExpired")
