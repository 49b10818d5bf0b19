"""RAM roles with trust policies, system policies attached to roles and users, permissions.

As far as delivery needs it: a role trusts principals through its trust policy (reference
§3.5), carries attached system policies (at least `AliyunActionTrailDeliveryPolicy`), and is
named by an ARN whose role name is case-insensitive. The first trail of an account creates the
service-linked role `AliyunServiceRoleForActionTrail`.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from trailhouse.errors import (
    DeleteConflictRole,
    DeleteConflictRolePolicy,
    EntityAlreadyExistsRole,
    EntityNotExistPolicy,
    EntityNotExistRole,
    InvalidParameterTooDeep,
    MalformedPolicyDocument,
    VersionConflict,
)
from trailhouse.jsonlimits import MAX_DOCUMENT_DEPTH, nests_deeper_than
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore

ROLE_KIND = "role"
USER_POLICIES_KIND = "user-policies"
SERVICE_LINKED_ROLE = "AliyunServiceRoleForActionTrail"
SERVICE_LINKED_POLICY = "AliyunServiceRolePolicyForActionTrail"
DELIVERY_POLICY = "AliyunActionTrailDeliveryPolicy"
FULL_ACCESS_POLICY = "AliyunActionTrailFullAccess"
READ_ONLY_POLICY = "AliyunActionTrailReadOnlyAccess"
RAM_FULL_ACCESS_POLICY = "AliyunRAMFullAccess"
RAM_READ_ONLY_POLICY = "AliyunRAMReadOnlyAccess"
ACTIONTRAIL_SERVICE = "actiontrail.aliyuncs.com"

# The system policies trailhouse knows, and the actions each allows ("*" = all actiontrail ones).
SYSTEM_POLICIES: dict[str, tuple[str, ...]] = {
    DELIVERY_POLICY: (),
    SERVICE_LINKED_POLICY: (),
    FULL_ACCESS_POLICY: ("*",),
    READ_ONLY_POLICY: ("Describe*", "Get*", "List*", "Lookup*"),
    # RAM's own (iam/permissions.py: a bare pattern is an actiontrail one)
    RAM_FULL_ACCESS_POLICY: ("ram:*",),
    RAM_READ_ONLY_POLICY: ("ram:Get*", "ram:List*"),
}
_ROLE_NAME = re.compile(r"^[A-Za-z0-9.-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Role:
    """A RAM role: who may assume it (trust policy) and what it may do (attached policies)."""

    account_id: str
    role_name: str
    role_id: str
    trust_policy: str
    description: str
    policies: tuple[str, ...]
    created_at: int

    @property
    def arn(self) -> str:
        """The role's ARN (role names appear lower-cased in ARNs)."""
        return f"acs:ram::{self.account_id}:role/{self.role_name.lower()}"


@dataclass(frozen=True, slots=True)
class UserPolicies:
    """The system policies attached to a RAM user."""

    policies: tuple[str, ...]


def trust_policy_for_services(*services: str) -> str:
    """A trust policy letting the given service principals assume the role (reference §3.5)."""
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": list(services)},
    }
    return orjson.dumps({"Version": "1", "Statement": [statement]}).decode()


def service_linked_role_arn(account_id: str) -> str:
    """The ARN of an account's ActionTrail service-linked role."""
    return f"acs:ram::{account_id}:role/{SERVICE_LINKED_ROLE.lower()}"


def delivery_principal(account_id: str) -> str:
    """The principal ActionTrail delivers as for a source account."""
    return f"{account_id}@{ACTIONTRAIL_SERVICE}"


def trusts(role: Role, service_principal: str) -> bool:
    """True when the role's trust policy lets `service_principal` assume it (Deny wins)."""
    allowed = False
    for statement in _statements(orjson.loads(role.trust_policy)):
        actions = _as_list(statement.get("Action"))
        services = _as_list((statement.get("Principal") or {}).get("Service"))
        if "sts:AssumeRole" in actions and service_principal in services:
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


class RoleService:
    """Creates roles, attaches policies, and answers who may assume and do what."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    def create_role(
        self, account_id: str, role_name: str, trust_policy: str, description: str = ""
    ) -> Role:
        """Create a role; EntityAlreadyExistsRole when the name (in any case) is taken."""
        if not _ROLE_NAME.match(role_name):
            raise ValueError(f"role name {role_name!r} must be 1-64 letters, digits, '.' or '-'")
        validate_trust_policy(trust_policy)
        role = Role(
            account_id=account_id,
            role_name=role_name,
            role_id=str(secrets.randbelow(9 * 10**17) + 10**17),
            trust_policy=orjson.dumps(orjson.loads(trust_policy)).decode(),
            description=description,
            policies=(),
            created_at=int(time.time()),
        )
        try:
            self._metadata.commit([self._write(role, expected_version=0)])
        except VersionConflict:
            raise EntityAlreadyExistsRole(
                f"the role {role_name} already exists in account {account_id}"
            ) from None
        return role

    def service_linked_role_write(self, account_id: str) -> DocumentWrite | None:
        """The write creating the account's service-linked role, or None when it exists."""
        if self.find_role(account_id, SERVICE_LINKED_ROLE) is not None:
            return None
        role = Role(
            account_id=account_id,
            role_name=SERVICE_LINKED_ROLE,
            role_id=str(secrets.randbelow(9 * 10**17) + 10**17),
            trust_policy=trust_policy_for_services(ACTIONTRAIL_SERVICE),
            description="The service-linked role of ActionTrail (created with the first trail).",
            policies=(SERVICE_LINKED_POLICY,),
            created_at=int(time.time()),
        )
        return self._write(role, expected_version=0)

    def attach_policy(self, account_id: str, role_name: str, policy_name: str) -> Role:
        """Attach a system policy to a role (idempotent)."""
        _require_policy(policy_name)
        return self._change_policies(
            account_id,
            role_name,
            lambda policies: policies if policy_name in policies else (*policies, policy_name),
        )

    def detach_policy(self, account_id: str, role_name: str, policy_name: str) -> Role:
        """Detach a policy from a role (idempotent)."""
        return self._change_policies(
            account_id, role_name, lambda policies: tuple(p for p in policies if p != policy_name)
        )

    def update_trust_policy(self, account_id: str, role_name: str, trust_policy: str) -> Role:
        """Replace a role's trust policy (what RAM's UpdateRole does with a new document)."""
        validate_trust_policy(trust_policy)
        document = orjson.dumps(orjson.loads(trust_policy)).decode()
        return self._change(
            account_id, role_name, lambda role: replace(role, trust_policy=document)
        )

    def update_description(self, account_id: str, role_name: str, description: str) -> Role:
        """Replace a role's description (UpdateRole's NewDescription)."""
        return self._change(
            account_id, role_name, lambda role: replace(role, description=description)
        )

    def delete_role(self, account_id: str, role_name: str) -> None:
        """Delete a role, as RAM's DeleteRole: only once no policy is attached to it, and never
        the service-linked role (ActionTrail's delivery needs it; RAM deletes those only through
        DeleteServiceLinkedRole)."""
        if role_name.lower() == SERVICE_LINKED_ROLE.lower():
            raise DeleteConflictRole(
                f"{SERVICE_LINKED_ROLE} is ActionTrail's service-linked role: delivery to the "
                "account's own project writes through it, so it cannot be deleted"
            )

        def attempt() -> None:
            role, version = read(self._metadata, Role, ROLE_KIND, account_id, role_name.lower())
            if role is None:
                raise EntityNotExistRole(
                    f"the role {role_name} does not exist in account {account_id}"
                )
            if role.policies:
                first = role.policies[0]
                raise DeleteConflictRolePolicy(
                    f"the role {role.role_name} still has policies attached "
                    f"({', '.join(role.policies)}); detach them first (trailhouse role "
                    f"detach-policy --role-name {role.role_name} --policy-name {first})"
                )
            delete = DocumentWrite(ROLE_KIND, account_id, role_name.lower(), None, version)
            self._metadata.commit([delete])

        retry_on_conflict(attempt, what=f"the role {role_name}")

    def _change_policies(
        self,
        account_id: str,
        role_name: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]],
    ) -> Role:
        return self._change(
            account_id, role_name, lambda role: replace(role, policies=change(role.policies))
        )

    def _change(self, account_id: str, role_name: str, change: Callable[[Role], Role]) -> Role:
        """Read the role, change it, commit at the version read; retry on conflict."""

        def attempt() -> Role:
            role, version = read(self._metadata, Role, ROLE_KIND, account_id, role_name.lower())
            if role is None:
                raise EntityNotExistRole(
                    f"the role {role_name} does not exist in account {account_id}"
                )
            updated = change(role)
            if updated == role:
                return role
            self._metadata.commit([self._write(updated, expected_version=version)])
            return updated

        return retry_on_conflict(attempt, what=f"the role {role_name}")

    def find_role(self, account_id: str, role_name: str) -> Role | None:
        """The role of this name (any case) in the account, or None."""
        role, _ = read(self._metadata, Role, ROLE_KIND, account_id, role_name.lower())
        return role

    def list_roles(self, account_id: str) -> list[Role]:
        """The account's roles, by name."""
        return [decode(Role, d.body) for d in self._metadata.list_documents(ROLE_KIND, account_id)]

    def attach_user_policy(self, account_id: str, user_name: str, policy_name: str) -> None:
        """Attach a system policy to a RAM user (idempotent)."""
        _require_policy(policy_name)

        def attempt() -> None:
            current, version = read(
                self._metadata, UserPolicies, USER_POLICIES_KIND, account_id, user_name
            )
            policies = current.policies if current else ()
            if policy_name in policies:
                return
            body = encode(UserPolicies((*policies, policy_name)))
            write = DocumentWrite(USER_POLICIES_KIND, account_id, user_name, body, version)
            self._metadata.commit([write])

        retry_on_conflict(attempt, what=f"the policies of user {user_name}")

    def user_policies(self, account_id: str, user_name: str) -> tuple[str, ...]:
        """The system policies attached to a RAM user."""
        current, _ = read(self._metadata, UserPolicies, USER_POLICIES_KIND, account_id, user_name)
        return current.policies if current else ()

    def ensure_service_linked_role(self, account_id: str) -> None:
        """Create the account's service-linked role unless it exists (the demo's one-off load
        writes with it before any trail would have created it)."""
        write = self.service_linked_role_write(account_id)
        if write is not None:
            with contextlib.suppress(VersionConflict):  # created meanwhile by another caller
                self._metadata.commit([write])

    @staticmethod
    def _write(role: Role, expected_version: int) -> DocumentWrite:
        return DocumentWrite(
            ROLE_KIND, role.account_id, role.role_name.lower(), encode(role), expected_version
        )


def validate_trust_policy(text: str) -> None:
    """Refuse a trust policy that is not the JSON shape of reference §3.5."""
    if nests_deeper_than(text, MAX_DOCUMENT_DEPTH):  # before orjson, which writes 255 at most
        raise InvalidParameterTooDeep(
            f"the trust policy nests arrays and objects more than {MAX_DOCUMENT_DEPTH} levels deep"
        )
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedPolicyDocument(f"the trust policy is not valid JSON: {exc}") from None
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument('the trust policy needs a non-empty "Statement" list')
    for number, statement in enumerate(statements, 1):
        if not isinstance(statement, dict) or statement.get("Effect") not in {"Allow", "Deny"}:
            raise MalformedPolicyDocument(f'statement {number} needs "Effect": "Allow" or "Deny"')
        if not statement.get("Action") or not isinstance(statement.get("Principal"), dict):
            raise MalformedPolicyDocument(f'statement {number} needs "Action" and "Principal"')


def _require_policy(policy_name: str) -> None:
    if policy_name not in SYSTEM_POLICIES:
        raise EntityNotExistPolicy(
            f"the policy {policy_name} does not exist; system policies are "
            + ", ".join(sorted(SYSTEM_POLICIES))
        )


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement") if isinstance(document, dict) else None
    return [s for s in statements or [] if isinstance(s, dict)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
