"""Trust policies: who may assume a role; malformed documents are refused with what to fix."""

from __future__ import annotations

import orjson
import pytest

from trailhouse.errors import EntityNotExistRole, MalformedPolicyDocument
from trailhouse.iam.roles import (
    Role,
    RoleService,
    delivery_principal,
    trust_policy_for_services,
    trusts,
    validate_trust_policy,
)
from trailhouse.settings import Settings
from trailhouse.store import open_metadata


def _role(policy: object) -> Role:
    return Role("1111222233334444", "Delivery", "1", orjson.dumps(policy).decode(), "", (), 0)


def test_the_reference_trust_policy_trusts_each_listed_account() -> None:
    role = _role(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": [delivery_principal("A"), delivery_principal("B")]},
                }
            ],
        }
    )
    assert trusts(role, "A@actiontrail.aliyuncs.com")
    assert trusts(role, "B@actiontrail.aliyuncs.com")
    assert not trusts(role, "C@actiontrail.aliyuncs.com")


def test_deny_wins_and_other_actions_do_not_trust() -> None:
    allow = {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {"Service": "X"}}
    deny = {"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": {"Service": ["X"]}}
    assert trusts(_role({"Statement": [allow]}), "X")
    assert not trusts(_role({"Statement": [allow, deny]}), "X")
    other = {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Principal": {"Service": "X"}}
    assert not trusts(_role({"Statement": [other]}), "X")


def test_generated_policies_are_valid_and_trust_their_services() -> None:
    policy = trust_policy_for_services("actiontrail.aliyuncs.com")
    validate_trust_policy(policy)
    assert trusts(_role(orjson.loads(policy)), "actiontrail.aliyuncs.com")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"Statement": []}', "non-empty"),
        ('{"Statement": [{"Effect": "Maybe"}]}', "Effect"),
        ('{"Statement": [{"Effect": "Allow"}]}', "Action"),
    ],
)
def test_malformed_trust_policies_are_refused(document: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument, match=message):
        validate_trust_policy(document)


def test_a_trust_policy_is_replaced_whole_and_a_malformed_one_changes_nothing(
    settings: Settings,
) -> None:
    metadata = open_metadata(settings)
    roles = RoleService(metadata)
    try:
        account = "1111222233334444"
        roles.create_role(account, "Delivery", trust_policy_for_services(delivery_principal("A")))
        with pytest.raises(MalformedPolicyDocument):
            roles.update_trust_policy(account, "delivery", '{"Statement": []}')
        role = roles.find_role(account, "Delivery")
        assert role is not None and trusts(role, delivery_principal("A"))
        roles.update_trust_policy(account, "delivery", trust_policy_for_services("B"))
        role = roles.find_role(account, "Delivery")
        assert role is not None and trusts(role, "B") and not trusts(role, delivery_principal("A"))
        with pytest.raises(EntityNotExistRole):
            roles.update_trust_policy(account, "missing", trust_policy_for_services("B"))
    finally:
        metadata.close()
