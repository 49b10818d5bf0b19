"""RAM actions (API 2015-05-01): the roles, trust policies and policies trail delivery needs,
and access keys (ListAccessKeys, UpdateAccessKey, DeleteAccessKey).

Served on the same endpoint as ActionTrail's, so that the `trailhouse role` and `trailhouse key`
commands (or any RAM client) work through the running server and every call lands in the
account's event history with serviceName `Ram`. Role actions take the root key; key actions take
the root key or a RAM user allowed `ram:<Action>` (AliyunRAMFullAccess).
"""

from __future__ import annotations

from typing import Any

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.errors import EntityNotExistRole, InvalidParameter
from trailhouse.events.validation import format_event_time
from trailhouse.iam.access_keys import STATUSES, AccessKey, KeyOwner
from trailhouse.iam.roles import Role

ROLE_RESOURCE = "ACS::RAM::Role"
USER_RESOURCE = "ACS::RAM::User"
ACCESS_KEY_RESOURCE = "ACS::RAM::AccessKey"
SYSTEM_POLICY_TYPE = "System"


def create_role(ctx: ActionContext) -> dict[str, Any]:
    """CreateRole with RoleName, AssumeRolePolicyDocument and an optional Description."""
    name = _role_name(ctx)
    try:
        role = ctx.services.roles.create_role(
            ctx.caller.account_id,
            name,
            params.required(ctx.params, "AssumeRolePolicyDocument"),
            ctx.params.get("Description", ""),
        )
    except ValueError as invalid:
        raise InvalidParameter(str(invalid)) from None
    return {"Role": _role(role)}


def get_role(ctx: ActionContext) -> dict[str, Any]:
    """GetRole."""
    name = _role_name(ctx)
    role = ctx.services.roles.find_role(ctx.caller.account_id, name)
    if role is None:
        raise EntityNotExistRole(
            f"the role {name} does not exist in account {ctx.caller.account_id}"
        )
    return {"Role": _role(role)}


def list_roles(ctx: ActionContext) -> dict[str, Any]:
    """ListRoles."""
    roles = ctx.services.roles.list_roles(ctx.caller.account_id)
    return {"IsTruncated": False, "Roles": {"Role": [_role(role) for role in roles]}}


def update_role(ctx: ActionContext) -> dict[str, Any]:
    """UpdateRole with NewAssumeRolePolicyDocument and/or NewDescription (RAM's names)."""
    name = _role_name(ctx)
    trust = ctx.params.get("NewAssumeRolePolicyDocument")
    description = ctx.params.get("NewDescription")
    if trust is None and description is None:
        raise InvalidParameter(
            "UpdateRole needs NewAssumeRolePolicyDocument or NewDescription: nothing to change"
        )
    roles, account_id = ctx.services.roles, ctx.caller.account_id
    role = roles.find_role(account_id, name)
    if role is None:
        raise EntityNotExistRole(f"the role {name} does not exist in account {account_id}")
    if trust is not None:
        role = roles.update_trust_policy(account_id, name, trust)
    if description is not None:
        role = roles.update_description(account_id, name, description)
    return {"Role": _role(role)}


def delete_role(ctx: ActionContext) -> dict[str, Any]:
    """DeleteRole: a role without attached policies (RAM's DeleteConflict.Role.Policy)."""
    ctx.services.roles.delete_role(ctx.caller.account_id, _role_name(ctx))
    return {}


def attach_policy_to_role(ctx: ActionContext) -> dict[str, Any]:
    """AttachPolicyToRole with PolicyType System and a system PolicyName."""
    ctx.services.roles.attach_policy(ctx.caller.account_id, _role_name(ctx), _policy_name(ctx))
    return {}


def detach_policy_from_role(ctx: ActionContext) -> dict[str, Any]:
    """DetachPolicyFromRole."""
    ctx.services.roles.detach_policy(ctx.caller.account_id, _role_name(ctx), _policy_name(ctx))
    return {}


def attach_policy_to_user(ctx: ActionContext) -> dict[str, Any]:
    """AttachPolicyToUser: grant a RAM user of the account a system policy."""
    user_name = params.required(ctx.params, "UserName")
    if ctx.services.accounts.find_user(ctx.caller.account_id, user_name) is None:
        raise InvalidParameter(f"the RAM user {user_name} does not exist in this account")
    ctx.resources.append((USER_RESOURCE, user_name))
    ctx.services.roles.attach_user_policy(ctx.caller.account_id, user_name, _policy_name(ctx))
    return {}


def list_access_keys(ctx: ActionContext) -> dict[str, Any]:
    """ListAccessKeys: the keys of UserName, or without it the caller's own (never secrets)."""
    keys = ctx.services.access_keys.list_keys(_key_owner(ctx))
    return {"AccessKeys": {"AccessKey": [_access_key(key) for key in keys]}}


def update_access_key(ctx: ActionContext) -> dict[str, Any]:
    """UpdateAccessKey with UserAccessKeyId and Status Active or Inactive; UserName optional."""
    owner = _key_owner(ctx)
    key_id = _key_id(ctx)
    status = params.required(ctx.params, "Status")
    if status not in STATUSES:
        raise InvalidParameter(f"Status must be Active or Inactive, not {status!r}")
    ctx.services.access_keys.set_status(key_id, status, owner)
    return {}


def delete_access_key(ctx: ActionContext) -> dict[str, Any]:
    """DeleteAccessKey with UserAccessKeyId; UserName optional. The signing key may go too."""
    owner = _key_owner(ctx)
    ctx.services.access_keys.delete(_key_id(ctx), owner)
    return {}


def _key_owner(ctx: ActionContext) -> KeyOwner:
    user_name = ctx.params.get("UserName") or None
    if user_name:
        ctx.resources.append((USER_RESOURCE, user_name))
    return ctx.services.access_keys.owner(ctx.caller, user_name)


def _key_id(ctx: ActionContext) -> str:
    key_id = params.required(ctx.params, "UserAccessKeyId")
    ctx.resources.append((ACCESS_KEY_RESOURCE, key_id))
    return key_id


def _access_key(key: AccessKey) -> dict[str, Any]:
    return {
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": format_event_time(key.created_at),
    }


def _role_name(ctx: ActionContext) -> str:
    name = params.required(ctx.params, "RoleName")
    ctx.resources.append((ROLE_RESOURCE, name))
    return name


def _policy_name(ctx: ActionContext) -> str:
    kind = ctx.params.get("PolicyType", SYSTEM_POLICY_TYPE)
    if kind != SYSTEM_POLICY_TYPE:
        raise InvalidParameter("PolicyType must be System: trailhouse has only system policies")
    return params.required(ctx.params, "PolicyName")


def _role(role: Role) -> dict[str, Any]:
    return {
        "RoleId": role.role_id,
        "RoleName": role.role_name,
        "Arn": role.arn,
        "Description": role.description,
        "AssumeRolePolicyDocument": role.trust_policy,
        "AttachedPolicies": list(role.policies),
        "CreateDate": format_event_time(role.created_at),
    }
