"""May this caller call this action? The root key always may; a RAM user needs a policy."""

from __future__ import annotations

import fnmatch

from trailhouse.errors import NoPermission
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.iam.roles import FULL_ACCESS_POLICY, SYSTEM_POLICIES, RoleService


def require(caller: Caller, action: str, roles: RoleService) -> None:
    """Raise NoPermission naming `actiontrail:<action>` unless the caller is allowed it."""
    if caller.kind == PrincipalKind.ROOT:
        return
    if caller.kind == PrincipalKind.RAM_USER:
        for policy in roles.user_policies(caller.account_id, caller.name):
            if any(fnmatch.fnmatchcase(action, pattern) for pattern in SYSTEM_POLICIES[policy]):
                return
    raise NoPermission(
        f"{caller.kind} {caller.name} is not allowed actiontrail:{action}; attach a policy that "
        f"allows it, e.g. {FULL_ACCESS_POLICY} (trailhouse user attach-policy)"
    )
