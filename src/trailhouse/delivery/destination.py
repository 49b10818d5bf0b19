"""Where a trail delivers: its MaxCompute project, its table, and the role that writes them.

Resolved at the start of each delivery session, naming exactly what is missing. For the trail's
own account without a named role, delivery creates what it needs: the service-linked role, then
the project (with that role as its Admin). Another account's project must exist there. Whether
the role may deliver into the project is `iam/delivery_authority.py`'s decision, the same as at
the trail's creation and at each batch write; here a refusal is a TerminalError.
"""

from __future__ import annotations

from dataclasses import dataclass

from trailhouse.errors import ApiError, TerminalError
from trailhouse.iam import delivery_authority
from trailhouse.iam.arns import parse_project_arn
from trailhouse.iam.delivery_authority import Delivery, Moment
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.store.ports import MetadataStore
from trailhouse.trails.model import Trail
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.model import Project, Table, table_name


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one trail writes, as checked at `checked_at`."""

    project: Project
    table: Table
    writer_role_arn: str
    checked_at: float


def delivery_of(trail: Trail, project_account: str) -> Delivery:
    """The trail's delivery into a project of `project_account`, as authority judges it."""
    return Delivery(
        trail.account_id, project_account, trail.destinations.max_compute_write_role_arn
    )


def writer_role(trail: Trail, owner: str) -> str:
    """The role that writes the trail's project: the owner's service-linked role when the
    trail delivers to its own account without a role, else the role the trail names."""
    return delivery_of(trail, owner).writer_role_arn


def resolve_destination(
    trail: Trail, catalog: Catalog, roles: RoleService, metadata: MetadataStore, now: float
) -> Destination:
    """Check the trail's destination and create what delivery may create; TerminalError names
    what is missing."""
    arn = trail.destinations.max_compute_project_arn
    project_ref = parse_project_arn(arn, "odps")
    if project_ref is None:
        raise TerminalError(f"MaxComputeProjectArn {arn!r} is not a MaxCompute project ARN")
    delivery = delivery_of(trail, project_ref.account_id)
    if delivery.writer_role_arn == service_linked_role_arn(trail.account_id):
        # Created with the account's first trail; created again should it be gone.
        _require_linked_role(trail.account_id, roles, metadata)
    refused = delivery_authority.refusal(delivery, roles, Moment.SESSION)
    if refused is not None:
        raise TerminalError(refused.message)
    if project_ref.account_id == trail.account_id and not delivery.role_arn:
        project = catalog.ensure_project(trail.account_id, project_ref.region, project_ref.name)
    else:
        project = _existing_project(
            catalog, project_ref.region, project_ref.name, project_ref.account_id
        )
    table = catalog.ensure_table(project, table_name(trail.name))
    return Destination(project, table, delivery.writer_role_arn, now)


def _require_linked_role(account_id: str, roles: RoleService, metadata: MetadataStore) -> None:
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
