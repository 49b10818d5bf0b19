"""Who may read, write and manage a project; every refusal names the project and the privilege.

- The owner account's root key may do anything but write into an `actiontrail_*` project.
- A member holds a role: `Admin` (query and manage members) or `Reader` (query). A member is
  named by an account id (that account's root key, which is how another account is granted
  read access), by `<account id>/<user name>` (one RAM user) or by a role ARN.
- An `actiontrail_*` project accepts table writes only from ActionTrail delivery: the owner's
  service-linked role (made the project's Admin), or a role of the owner account that carries
  the delivery policy (the role a cross-account trail names). Anyone else is refused, saying so.
"""

from __future__ import annotations

from trailhouse.errors import NoPermission
from trailhouse.iam.arns import parse_role_arn
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import (
    DELIVERY_POLICY,
    SERVICE_LINKED_ROLE,
    RoleService,
)
from trailhouse.store.ports import PrincipalKind
from trailhouse.warehouse.model import Privilege, Project, Role


def member_name(caller: Caller) -> str:
    """How a caller appears in a project's member list."""
    if caller.kind == PrincipalKind.RAM_USER:
        return f"{caller.account_id}/{caller.name}"
    return caller.account_id


def caller_label(caller: Caller) -> str:
    """The caller as a refusal names it."""
    if caller.kind == PrincipalKind.RAM_USER:
        return f"RAM user {caller.name} of account {caller.account_id}"
    return f"account {caller.account_id}"


def may(caller: Caller, project: Project, privilege: str) -> bool:
    """True when the caller holds `privilege` (Select or Manage) on the project."""
    if caller.kind == PrincipalKind.ROOT and caller.account_id == project.owner:
        return True
    role = project.role_of(member_name(caller))
    if role == Role.ADMIN:
        return True
    return role == Role.READER and privilege == Privilege.SELECT


def require(caller: Caller, project: Project, privilege: str) -> None:
    """Raise NoPermission naming the project and the missing privilege."""
    if may(caller, project, privilege):
        return
    role = Role.READER if privilege == Privilege.SELECT else Role.ADMIN
    raise NoPermission(
        f"ODPS-0130013:Authorization exception - {caller_label(caller)} has no {privilege} "
        f"privilege on project {project.name} ({project.region}); its owner {project.owner} "
        f"must add {member_name(caller)} as a member with role {role}"
    )


def require_write(writer_role_arn: str, project: Project, roles: RoleService) -> None:
    """Raise NoPermission unless this role may write the project's tables.

    A delivery project takes writes from the owner's service-linked role or a role of the owner
    that carries the delivery policy; other projects from their Admin members.
    """
    role_ref = parse_role_arn(writer_role_arn)
    who = writer_role_arn if role_ref is not None else repr(writer_role_arn)
    if role_ref is not None and role_ref.account_id == project.owner:
        role = roles.find_role(role_ref.account_id, role_ref.role_name)
        if role is not None and _role_may_write(role.arn, role.policies, project):
            return
    if project.is_delivery_project:
        raise NoPermission(
            f"ODPS-0130013:Authorization exception - project {project.name} accepts table "
            f"writes only from ActionTrail delivery, through the service-linked role "
            f"{SERVICE_LINKED_ROLE} of account {project.owner} or a role of that account "
            f"carrying {DELIVERY_POLICY}; {who} may not write into it"
        )
    raise NoPermission(
        f"ODPS-0130013:Authorization exception - {who} has no Write privilege on project "
        f"{project.name}; its owner must add it as a member with role {Role.ADMIN}"
    )


def _role_may_write(arn: str, policies: tuple[str, ...], project: Project) -> bool:
    if arn.endswith(f":role/{SERVICE_LINKED_ROLE.lower()}"):
        return project.role_of(arn) == Role.ADMIN
    if DELIVERY_POLICY in policies:
        return True
    return not project.is_delivery_project and project.role_of(arn) == Role.ADMIN
