"""May this caller call this action? The root key always may; a RAM user needs a policy.

Permissions are RAM action names, `service:Action`; a bare name is an ActionTrail action
(`CreateTrail` is `actiontrail:CreateTrail`). A policy's patterns are read the same way, so
ActionTrail's full access (`*`) allows every `actiontrail:` action and nothing of RAM's.
"""

from __future__ import annotations

import fnmatch

from trailhouse.errors import NoPermission
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.iam.roles import (
    FULL_ACCESS_POLICY,
    RAM_FULL_ACCESS_POLICY,
    READ_ONLY_POLICY,
    SYSTEM_POLICIES,
    RoleService,
)

DEFAULT_SERVICE = "actiontrail"


def qualified(name: str) -> str:
    """`service:Action` for a permission or pattern; bare names are ActionTrail's."""
    return name if ":" in name else f"{DEFAULT_SERVICE}:{name}"


def require(caller: Caller, action: str, roles: RoleService) -> None:
    """Raise NoPermission naming the permission (`actiontrail:<action>`, `ram:<action>`)
    unless the caller is allowed it."""
    if caller.kind == PrincipalKind.ROOT:
        return
    permission = qualified(action)
    if caller.kind == PrincipalKind.RAM_USER:
        for policy in roles.user_policies(caller.account_id, caller.name):
            patterns = SYSTEM_POLICIES[policy]
            if any(fnmatch.fnmatchcase(permission, qualified(p)) for p in patterns):
                return
    example = _a_policy_allowing(permission)
    raise NoPermission(
        f"{caller.kind} {caller.name} is not allowed {permission}; attach a policy that "
        f"allows it, e.g. {example} (trailhouse user attach-policy)"
    )


def _a_policy_allowing(permission: str) -> str:
    """The narrowest system policy to suggest for `permission` (read-only when it will do)."""
    if permission.startswith("ram:"):
        return RAM_FULL_ACCESS_POLICY
    read_only = SYSTEM_POLICIES[READ_ONLY_POLICY]
    if any(fnmatch.fnmatchcase(permission, qualified(p)) for p in read_only):
        return READ_ONLY_POLICY
    return FULL_ACCESS_POLICY
