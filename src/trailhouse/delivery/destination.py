"""Where a trail delivers: its MaxCompute project, its table, and the role that writes them.

Resolved and checked at the start of each delivery session, naming exactly what is missing:
for the trail's own account the project is created when absent (with the service-linked role as
its Admin); for another account the project must exist there, and the role named by
MaxComputeWriteRoleArn must trust `<account>@actiontrail.aliyuncs.com` and carry the delivery
policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from trailhouse.errors import ApiError, TerminalError
from trailhouse.iam.arns import parse_project_arn, parse_role_arn
from trailhouse.iam.roles import (
    DELIVERY_POLICY,
    SERVICE_LINKED_ROLE,
    RoleService,
    delivery_principal,
    trusts,
)
from trailhouse.store.ports import MetadataStore
from trailhouse.trails.model import Trail
from trailhouse.warehouse.catalog import Catalog, service_linked_role_arn
from trailhouse.warehouse.model import Project, Table, table_name


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one trail writes, as checked at `checked_at`."""

    project: Project
    table: Table
    writer_role_arn: str
    checked_at: float


def writer_role(trail: Trail, owner: str) -> str:
    """The role that writes the trail's project: the owner's service-linked role when the
    trail delivers to its own account without a role, else the role the trail names."""
    role = trail.destinations.max_compute_write_role_arn
    if owner == trail.account_id and not role:
        return service_linked_role_arn(owner)
    return role


def resolve_destination(
    trail: Trail, catalog: Catalog, roles: RoleService, metadata: MetadataStore, now: float
) -> Destination:
    """Check the trail's destination and create what delivery may create; TerminalError names
    what is missing."""
    arn = trail.destinations.max_compute_project_arn
    project_ref = parse_project_arn(arn, "odps")
    if project_ref is None:
        raise TerminalError(f"MaxComputeProjectArn {arn!r} is not a MaxCompute project ARN")
    role_arn = trail.destinations.max_compute_write_role_arn
    if project_ref.account_id == trail.account_id and not role_arn:
        project = catalog.ensure_project(trail.account_id, project_ref.region, project_ref.name)
        _require_linked_role(trail.account_id, roles, metadata)
    else:
        _check_role(trail, role_arn, project_ref.account_id, roles)
        project = _existing_project(
            catalog, project_ref.region, project_ref.name, project_ref.account_id
        )
    table = catalog.ensure_table(project, table_name(trail.name))
    return Destination(project, table, writer_role(trail, project.owner), now)


def _require_linked_role(account_id: str, roles: RoleService, metadata: MetadataStore) -> None:
    if roles.find_role(account_id, SERVICE_LINKED_ROLE) is None:
        write = roles.service_linked_role_write(account_id)
        if write is not None:
            metadata.commit([write])


def _existing_project(catalog: Catalog, region: str, name: str, owner: str) -> Project:
    try:
        project = catalog.get_project(region, name)
    except ApiError as exc:
        raise TerminalError(
            f"the project {name} does not exist in {region}: account {owner} must create it "
            "(trailhouse warehouse project create) before delivery can write into it"
        ) from exc
    if project.owner != owner:
        raise TerminalError(
            f"the project {name} in {region} belongs to {project.owner}, not {owner}"
        )
    return project


def _check_role(trail: Trail, role_arn: str, owner: str, roles: RoleService) -> None:
    role_ref = parse_role_arn(role_arn)
    if role_ref is None:
        raise TerminalError(f"MaxComputeWriteRoleArn {role_arn!r} is not a role ARN")
    role = roles.find_role(role_ref.account_id, role_ref.role_name)
    if role is None:
        raise TerminalError(f"the role {role_arn} does not exist in account {role_ref.account_id}")
    principal = delivery_principal(trail.account_id)
    if role_ref.account_id != trail.account_id and not trusts(role, principal):
        raise TerminalError(
            f"the role {role.arn} no longer trusts {principal}: add it to the role's trust "
            "policy (Principal.Service)"
        )
    linked = role_ref.role_name.lower() == SERVICE_LINKED_ROLE.lower()
    if DELIVERY_POLICY not in role.policies and not linked:
        raise TerminalError(
            f"the role {role.arn} does not carry {DELIVERY_POLICY}: attach it again "
            f"(trailhouse role attach-policy --policy-name {DELIVERY_POLICY})"
        )
    if role_ref.account_id != owner:
        raise TerminalError(f"the role {role.arn} is not a role of the project's account {owner}")
