"""Delivery authority's rules, one table: each holds alike when a trail is created, at each
delivery session and at each write, but for the service-linked role a first trail creates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from trailhouse.iam.delivery_authority import Delivery, Moment, Rule, refusal
from trailhouse.iam.roles import (
    ACTIONTRAIL_SERVICE,
    DELIVERY_POLICY,
    SERVICE_LINKED_POLICY,
    SERVICE_LINKED_ROLE,
    RoleService,
    delivery_principal,
    service_linked_role_arn,
    trust_policy_for_services,
)
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.store.ports import MetadataStore

A, B, C = "1111222233334444", "5555666677778888", "9999000011112222"


class Roles:
    """The roles a case makes, over a real metadata store."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self.service = RoleService(metadata)

    def make(self, account: str, name: str, trusted: str, *policies: str) -> str:
        """A role trusting one service principal and carrying `policies`; its ARN."""
        role = self.service.create_role(account, name, trust_policy_for_services(trusted))
        for policy in policies:
            self.service.attach_policy(account, name, policy)
        return role.arn

    def linked(self, account: str, *, named: bool = True, without_policy: bool = False) -> str:
        """The account's service-linked role, as its first trail creates it; its ARN when
        `named`, else "" (a trail that names no role)."""
        write = self.service.service_linked_role_write(account)
        assert write is not None
        self.metadata.commit([write])
        if without_policy:
            self.service.detach_policy(account, SERVICE_LINKED_ROLE, SERVICE_LINKED_POLICY)
        return service_linked_role_arn(account) if named else ""


@pytest.fixture
def roles(settings: Settings) -> Iterator[Roles]:
    metadata = open_metadata(settings)
    yield Roles(metadata)
    metadata.close()


@dataclass(frozen=True)
class Case:
    """A world (made by `given`, which returns the role ARN to name) and the rule it fails."""

    given: Callable[[Roles], str]
    project_account: str
    fails: Rule | None  # None: authorised
    passes_at_creation: bool = False  # the own service-linked role, which a first trail creates

    def expected(self, moment: Moment) -> Rule | None:
        return None if self.passes_at_creation and moment is Moment.CREATE else self.fails


CASES = {
    "own project, service-linked role": Case(lambda r: r.linked(A, named=False), A, None),
    "own project, service-linked role named": Case(lambda r: r.linked(A), A, None),
    "own project, first trail: no service-linked role yet": Case(
        lambda r: "", A, Rule.ROLE_EXISTS, passes_at_creation=True
    ),
    "own project, first trail naming the service-linked role": Case(
        lambda r: service_linked_role_arn(A), A, Rule.ROLE_EXISTS, passes_at_creation=True
    ),
    "own role trusting <account>@actiontrail": Case(
        lambda r: r.make(A, "Own", delivery_principal(A), DELIVERY_POLICY), A, None
    ),
    "own role trusting actiontrail.aliyuncs.com": Case(
        lambda r: r.make(A, "Own", ACTIONTRAIL_SERVICE, DELIVERY_POLICY), A, None
    ),
    "own role that does not trust ActionTrail": Case(
        lambda r: r.make(A, "Own", "ecs.aliyuncs.com", DELIVERY_POLICY), A, Rule.TRUST
    ),
    "own role trusting another account's delivery": Case(
        lambda r: r.make(A, "Own", delivery_principal(B), DELIVERY_POLICY), A, Rule.TRUST
    ),
    "own role without the delivery policy": Case(
        lambda r: r.make(A, "Own", delivery_principal(A)), A, Rule.POLICY
    ),
    "service-linked role without its policy": Case(
        lambda r: r.linked(A, without_policy=True), A, Rule.POLICY
    ),
    "another account's project, its trusting role": Case(
        lambda r: r.make(B, "Delivery", delivery_principal(A), DELIVERY_POLICY), B, None
    ),
    "another account's project, no role named": Case(lambda r: "", B, Rule.WRITE_ROLE),
    "another account's project, not a role ARN": Case(lambda r: "role/x", B, Rule.ROLE_ARN),
    "another account's project, a third account's role": Case(
        lambda r: r.make(C, "Delivery", delivery_principal(A), DELIVERY_POLICY),
        B,
        Rule.ROLE_ACCOUNT,
    ),
    "another account's project, the source's own role": Case(
        lambda r: r.make(A, "Own", delivery_principal(A), DELIVERY_POLICY), B, Rule.ROLE_ACCOUNT
    ),
    "another account's project, a missing role": Case(
        lambda r: f"acs:ram::{B}:role/nosuchrole", B, Rule.ROLE_EXISTS
    ),
    "another account's project, its service-linked role": Case(
        lambda r: r.linked(B), B, Rule.TRUST
    ),
    "another account's role trusting only actiontrail.aliyuncs.com": Case(
        lambda r: r.make(B, "Delivery", ACTIONTRAIL_SERVICE, DELIVERY_POLICY), B, Rule.TRUST
    ),
    "another account's role trusting someone else": Case(
        lambda r: r.make(B, "Delivery", delivery_principal(C), DELIVERY_POLICY), B, Rule.TRUST
    ),
    "another account's role without the delivery policy": Case(
        lambda r: r.make(B, "Delivery", delivery_principal(A)), B, Rule.POLICY
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_each_rule_holds_alike_at_every_moment(roles: Roles, case: Case) -> None:
    delivery = Delivery(A, case.project_account, case.given(roles))
    for moment in Moment:
        refused = refusal(delivery, roles.service, moment)
        assert (refused.rule if refused else None) == case.expected(moment), (moment, refused)


def test_each_refusal_says_how_to_fix_it(roles: Roles) -> None:
    def message(role_arn: str) -> str:
        refused = refusal(Delivery(A, B, role_arn), roles.service, Moment.SESSION)
        assert refused is not None
        return refused.message

    principal = delivery_principal(A)
    untrusting = roles.make(B, "Untrusting", delivery_principal(C), DELIVERY_POLICY)
    assert message(untrusting) == (
        f"the role {untrusting} does not trust {principal}: add it to the role's trust policy, "
        f'e.g. {{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {{"Service": '
        f'["{principal}"]}}}} (in account {B}: trailhouse role update --role-name Untrusting '
        f"--trust-policy @policy.json, or --trusted-account {A} to trust this account alone)"
    )
    bare = roles.make(B, "Bare", principal)
    assert message(bare) == (
        f"the role {bare} does not carry the policy {DELIVERY_POLICY}: attach it in account {B} "
        f"(trailhouse role attach-policy --policy-name {DELIVERY_POLICY} --role-name Bare)"
    )
    assert message(f"acs:ram::{B}:role/gone") == (
        f"the role gone does not exist in account {B}: create it there (trailhouse role create)"
    )
    assert message("") == (
        f"delivery to another account ({B}) needs MaxComputeWriteRoleArn: a role in that "
        f"account that trusts {principal} and carries {DELIVERY_POLICY}"
    )
    assert message(f"acs:ram::{C}:role/x") == (
        f"MaxComputeWriteRoleArn must be a role of the project's account {B}, not of {C}"
    )


def test_the_writer_role_is_the_named_one_else_the_own_service_linked_role() -> None:
    named = f"acs:ram::{B}:role/delivery"
    assert Delivery(A, B, named).writer_role_arn == named
    assert Delivery(A, A, "").writer_role_arn == service_linked_role_arn(A)
    assert Delivery(A, B, "").writer_role_arn == ""  # refused: another account needs a role
