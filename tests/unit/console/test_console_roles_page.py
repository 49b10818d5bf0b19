"""The Roles pages: their addresses, the role name they carry, and the RAM refusals they show
(the answers of the same actions signed)."""

from __future__ import annotations

import json

from console_support import ACCOUNT, Console

TRUST = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": [f"{ACCOUNT}@actiontrail.aliyuncs.com"]},
            }
        ],
    }
)


def test_the_roles_pages_are_in_the_navigation_and_carry_the_role_name(console: Console) -> None:
    console.sign_in(console.root)
    listing = console.client.get("/console/roles")
    assert listing.status_code == 200
    assert '<a href="/console/roles" aria-current=page>Roles</a>' in listing.text
    assert 'src="/console/static/js/pages/roles.js"' in listing.text
    one = console.client.get("/console/roles/a%22%3E%3Cscript%3Ex")
    assert one.status_code == 200
    assert 'data-role="a&quot;&gt;&lt;script&gt;x"' in one.text
    assert "<script>x" not in one.text
    assert console.client.get("/console/roles/a/b").status_code == 404
    assert console.client.get("/console/static/js/pages/roles.js").status_code == 200


def test_role_refusals_through_the_console_are_the_apis(console: Console) -> None:
    csrf = console.sign_in(console.root)
    created = console.api(
        "CreateRole", {"RoleName": "delivery", "AssumeRolePolicyDocument": TRUST}, csrf
    )
    assert created.status_code == 200, created.text
    attach = {
        "RoleName": "delivery",
        "PolicyType": "System",
        "PolicyName": "AliyunActionTrailDeliveryPolicy",
    }
    assert console.api("AttachPolicyToRole", attach, csrf).status_code == 200
    cases = [
        ("DeleteRole", {"RoleName": "delivery"}, "DeleteConflict.Role.Policy"),
        (
            "UpdateRole",
            {"RoleName": "delivery", "NewAssumeRolePolicyDocument": "{"},
            "MalformedPolicyDocument",
        ),
        ("GetRole", {"RoleName": "nobody"}, "EntityNotExist.Role"),
    ]
    for action, params, code in cases:
        through_console = console.api(action, params, csrf)
        signed = console.signed(console.root, action, params)
        assert through_console.status_code == signed.status_code != 200
        assert through_console.json()["Code"] == signed.json()["Code"] == code
        assert through_console.json()["Message"] == signed.json()["Message"]
    assert (
        console.client.post("/console/signout", headers={"X-CSRF-Token": csrf}).status_code == 200
    )
    alice = console.sign_in(console.alice)
    refused = console.api("ListRoles", {}, alice)
    assert refused.status_code == 403
    assert refused.json()["Code"] == "NoPermission"
