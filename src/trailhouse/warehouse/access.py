"""Who may read, write and manage a project; every refusal names the project and the privilege.

- The owner account's root key may do anything but write into an `actiontrail_*` project.
- A member holds a role: `Admin` (query and manage members) or `Reader` (query). A member is
  named by an account id (that account's root key, which is how another account is granted
  read access), by `<account id>/<user name>` (one RAM user) or by a role ARN.
- An `actiontrail_*` project accepts table writes only from ActionTrail delivery, as
  `iam/delivery_authority.py` decides for the account whose events are written (the same rules
  as at trail creation and at each delivery session). Anyone else is refused, saying so.
- Any other project accepts table writes from a role of its owner that is an Admin member.
- A user's own write (SQL, a tunnel upload, creating or dropping a table: `require_user_write`)
  is never delivery: into an `actiontrail_*` project it is refused for everyone, the owner's root
  key included; into any other project it needs Write held by a principal of the owner account
  (its root key, or an Admin member of that account). Another account's members, Admins
  included, only read.
"""

from __future__ import annotations

from trailhouse.errors import NoPermission
from trailhouse.iam import delivery_authority
from trailhouse.iam.arns import parse_role_arn
from trailhouse.iam.delivery_authority import Delivery, Moment
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import RoleService
from trailhouse.store.ports import PrincipalKind
from trailhouse.warehouse.model import PROJECT_PREFIX, Privilege, Project, Role


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
    """Raise NoPermission naming the project, the missing privilege, and who must grant it how."""
    if may(caller, project, privilege):
        return
    member = member_name(caller)
    held = project.role_of(member)
    standing = (
        "is not a member of it" if held is None else f"is a member with role {held}, which lacks it"
    )
    role = Role.READER if privilege == Privilege.SELECT else Role.ADMIN
    raise NoPermission(
        f"ODPS-0130013:Authorization exception - {caller_label(caller)} has no {privilege} "
        f"privilege on project {project.name} ({project.region}): it {standing}. "
        f"{who_may_grant(project)} must add {member} as a member with role {role}: "
        f"{grant_instruction(project, member, role)}"
    )


ACCESS_DENIED = "ODPS-0420095:Access Denied"
SQL_DENIED = "ODPS-0130013:Authorization exception"


def require_user_write(
    caller: Caller, project: Project, what: str, number: str = ACCESS_DENIED
) -> None:
    """Raise NoPermission unless the caller may `what` (e.g. "upload into table t") in the
    project: never in an `actiontrail_*` project, whose tables only delivery writes; elsewhere
    only a principal of the owner account with the Write privilege (its root key, or an Admin
    member). The message starts with `number`: MaxCompute's `ODPS-0420095` Access Denied, as
    its tunnel and catalog answer, or `ODPS-0130013` for SQL, which PyODPS reads as
    NoPermission."""
    if project.is_delivery_project:
        raise NoPermission(
            f"{number} - {caller_label(caller)} may not {what} in project "
            f"{project.name}: a project named {PROJECT_PREFIX}* accepts table writes only from "
            "ActionTrail delivery, for every caller including the owner account, so that its "
            "audit events stay exactly as recorded. Keep results in a project of your own "
            "(CreateProject)"
        )
    if caller.account_id != project.owner:
        raise NoPermission(
            f"{number} - {caller_label(caller)} may not {what} in project {project.name} "
            f"({project.region}): it belongs to account {project.owner}, and only that "
            "account's own principals write its tables (another account's members may read "
            "them). Keep results in a project of your own account (CreateProject)"
        )
    if may(caller, project, Privilege.WRITE):
        return
    member = member_name(caller)
    raise NoPermission(
        f"{number} - {caller_label(caller)} has no {Privilege.WRITE} privilege "
        f"on project {project.name} ({project.region}) to {what}. {who_may_grant(project)} must "
        f"add {member} as a member with role {Role.ADMIN}: "
        f"{grant_instruction(project, member, Role.ADMIN)}"
    )


def who_may_grant(project: Project) -> str:
    """Who may add members to a project, as a refusal names them."""
    return (
        f"The project's owner, account {project.owner} (with its root AccessKey), or an "
        f"{Role.ADMIN} member of the project"
    )


def grant_instruction(project: Project, member: str, role: str) -> str:
    """The CLI command (and the API action) that gives `member` `role` on the project."""
    return (
        f"run `trailhouse warehouse grant {project.name} {member} --role {role} "
        f"--region {project.region}` (or call SetProjectMember with Project={project.name}, "
        f"Principal={member}, Role={role})."
    )


def require_write(
    writer_role_arn: str, project: Project, roles: RoleService, source_account: str
) -> None:
    """Raise NoPermission unless this role may write the project's tables.

    Into a delivery project the write delivers `source_account`'s events, and delivery authority
    decides; into any other project, the role must be a role of the owner and an Admin member.
    """
    if project.is_delivery_project:
        delivery = Delivery(source_account, project.owner, writer_role_arn)
        refused = delivery_authority.refusal(delivery, roles, Moment.WRITE)
        if refused is None:
            return
        raise NoPermission(
            f"ODPS-0130013:Authorization exception - project {project.name} accepts table "
            f"writes only from ActionTrail delivery, and delivery for account {source_account} "
            f"may not write into it: {refused.message}"
        )
    role_ref = parse_role_arn(writer_role_arn)
    is_owners_role = (
        role_ref is not None
        and role_ref.account_id == project.owner
        and roles.find_role(role_ref.account_id, role_ref.role_name) is not None
    )
    if role_ref is not None and is_owners_role and project.role_of(str(role_ref)) == Role.ADMIN:
        return
    if role_ref is None or not is_owners_role:
        who = writer_role_arn if role_ref is not None else repr(writer_role_arn)
        raise NoPermission(
            f"ODPS-0130013:Authorization exception - {who} has no Write privilege on project "
            f"{project.name}: only an existing role of the owner account {project.owner} that "
            f"is an {Role.ADMIN} member of the project may write its tables"
        )
    raise NoPermission(
        f"ODPS-0130013:Authorization exception - {role_ref} has no Write privilege on project "
        f"{project.name}: it is not an {Role.ADMIN} member. {who_may_grant(project)} must add "
        f"it as a member with role {Role.ADMIN}: "
        f"{grant_instruction(project, str(role_ref), Role.ADMIN)}"
    )
