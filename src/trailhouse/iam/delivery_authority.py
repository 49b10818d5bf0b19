"""Who may deliver into a MaxCompute project: one set of rules, asked when a trail is created or
updated, when each delivery session starts, and before each batch is written.

A delivery acts for a *source account* (the trail's) and writes a project of the *project's
account* through a role: the one MaxComputeWriteRoleArn names, else the source account's
service-linked role. It is authorised when each rule holds, checked in this order:

    WRITE_ROLE    a project of another account is written through a named role
    ROLE_ARN      the name is a role ARN
    ROLE_ACCOUNT  the role is a role of the project's account
    ROLE_EXISTS   the role exists
    TRUST         the role trusts `<source account>@actiontrail.aliyuncs.com` (a role of the
                  source account may trust `actiontrail.aliyuncs.com` instead, as its
                  service-linked role does)
    POLICY        the role carries AliyunActionTrailDeliveryPolicy (the service-linked role
                  carries AliyunServiceRolePolicyForActionTrail, which grants the same)

The rules are the same at every moment but one: when a trail is created, the source account's
own service-linked role may not exist yet, since it is created with the account's first trail
(a delivery session creates it again before asking, should it be gone). A `Refusal` names the
rule and says how to fix it; each caller turns it into its own error:

    trail creation and update  InvalidParameter, EntityNotExist.Role or
                               InsufficientMaxComputePolicyException (trails/service.py)
    a delivery session         TerminalError, recorded in the trail's state
                               (delivery/destination.py)
    a batch write              NoPermission `ODPS-0130013:Authorization exception - …`
                               (warehouse/access.py, asked by warehouse/writer.py)

Whether the project exists is not a question of authority: the session resolves it, and the
writer is handed one. Compaction rewrites committed files as the warehouse itself, writing no
row of its own, so it does not ask (warehouse/compaction.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from trailhouse.iam.arns import parse_role_arn
from trailhouse.iam.roles import (
    ACTIONTRAIL_SERVICE,
    DELIVERY_POLICY,
    SERVICE_LINKED_POLICY,
    RoleService,
    delivery_principal,
    service_linked_role_arn,
    trusts,
)


class Moment(enum.Enum):
    """When delivery authority is asked."""

    CREATE = "create"  # CreateTrail, or an UpdateTrail that changes the destination
    SESSION = "session"  # the start of a delivery session
    WRITE = "write"  # each batch the writer commits into the project


class Rule(enum.Enum):
    """The rule a refusal failed (the module docstring says what each asks)."""

    WRITE_ROLE = "write-role"
    ROLE_ARN = "role-arn"
    ROLE_ACCOUNT = "role-account"
    ROLE_EXISTS = "role-exists"
    TRUST = "trust"
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Whose events go into whose project, through which role."""

    source_account: str
    project_account: str
    role_arn: str = ""  # MaxComputeWriteRoleArn; "" = the source account's service-linked role

    @property
    def writer_role_arn(self) -> str:
        """The role that writes: the one named, else (into a project of the source account)
        its service-linked role; "" for another account's project when none is named."""
        if self.role_arn or self.project_account != self.source_account:
            return self.role_arn
        return service_linked_role_arn(self.source_account)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a delivery may not write: the rule it failed, and what to do about it."""

    rule: Rule
    message: str


def refusal(delivery: Delivery, roles: RoleService, moment: Moment) -> Refusal | None:
    """The first rule this delivery fails at `moment`, or None when it is authorised."""
    source, owner = delivery.source_account, delivery.project_account
    principal = delivery_principal(source)
    role_arn = delivery.writer_role_arn
    if not role_arn:
        return Refusal(
            Rule.WRITE_ROLE,
            f"delivery to another account ({owner}) needs MaxComputeWriteRoleArn: a role in "
            f"that account that trusts {principal} and carries {DELIVERY_POLICY}",
        )
    role_ref = parse_role_arn(role_arn)
    if role_ref is None:
        return Refusal(
            Rule.ROLE_ARN,
            f"MaxComputeWriteRoleArn {role_arn!r} is not a role ARN "
            "(acs:ram::<account id>:role/<role name>)",
        )
    if role_ref.account_id != owner:
        return Refusal(
            Rule.ROLE_ACCOUNT,
            f"MaxComputeWriteRoleArn must be a role of the project's account {owner}, "
            f"not of {role_ref.account_id}",
        )
    role = roles.find_role(role_ref.account_id, role_ref.role_name)
    if role is None:
        if moment is Moment.CREATE and str(role_ref) == service_linked_role_arn(source):
            return None  # created with the account's first trail, in the trail's own commit
        return Refusal(
            Rule.ROLE_EXISTS,
            f"the role {role_ref.role_name} does not exist in account {role_ref.account_id}: "
            "create it there (trailhouse role create)",
        )
    accepted = (principal, ACTIONTRAIL_SERVICE) if role.account_id == source else (principal,)
    if not any(trusts(role, candidate) for candidate in accepted):
        return Refusal(
            Rule.TRUST,
            f"the role {role.arn} does not trust {principal}: add it to the role's trust "
            'policy, e.g. {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": '
            f'{{"Service": ["{principal}"]}}}} (in account {role.account_id}: trailhouse role '
            f"update --role-name {role.role_name} --trust-policy @policy.json, or "
            f"--trusted-account {source} to trust this account alone)",
        )
    if DELIVERY_POLICY not in role.policies and SERVICE_LINKED_POLICY not in role.policies:
        return Refusal(
            Rule.POLICY,
            f"the role {role.arn} does not carry the policy {DELIVERY_POLICY}: attach it in "
            f"account {role.account_id} (trailhouse role attach-policy --policy-name "
            f"{DELIVERY_POLICY} --role-name {role.role_name})",
        )
    return None
