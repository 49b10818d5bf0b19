"""The catalog calls PyODPS makes: projects, tables, partitions and the `default` schema, each
answered from the warehouse catalog for what the caller may read (`warehouse/access.py`).

A name nobody has is NoSuchObject (so PyODPS's `exist_*` say False); a project that exists but
that the caller may not read is NoPermission, never NoSuchObject, so an `exist_*` call raises
rather than quietly answering False.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from trailhouse.api import rest
from trailhouse.errors import InvalidParameter
from trailhouse.iam.principals import Caller
from trailhouse.odps_api import render
from trailhouse.odps_api.errors import (
    InvalidArgument,
    MethodNotAllowed,
    NoSuchObject,
    NoSuchPartition,
)
from trailhouse.runtime import Services
from trailhouse.warehouse import access
from trailhouse.warehouse.model import PartitionStats, Privilege, Project, Table, is_partition
from trailhouse.warehouse.user_tables import partition_folder, partition_values

PROJECT_RESOURCE = "ACS::MaxCompute::Project"
TABLE_RESOURCE = "ACS::MaxCompute::Table"
XML = "application/xml"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CatalogCall:
    """One verified call: who, in which region, the decoded path segments and parameters."""

    services: Services
    caller: Caller
    region: str
    segments: tuple[str, ...]
    params: Mapping[str, str]
    resources: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer."""

    body: bytes
    media_type: str = XML
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int = 200


# -- projects --------------------------------------------------------------------------------


def list_projects(call: CatalogCall) -> Reply:
    """GET /projects: the region's projects the caller may read (name = prefix, owner)."""
    found = call.services.warehouse.catalog.visible_projects(call.caller, call.region)
    prefix = call.params.get("name", "")
    owner = call.params.get("owner", "")
    found = [
        p
        for p in found
        if p.name.startswith(prefix) and owner in ("", p.owner, render.owner_of(p.owner))
    ]
    page, marker, max_items = _page(call, found, lambda p: p.name)
    return Reply(render.projects(page, marker, max_items))


def get_project(call: CatalogCall) -> Reply:
    """GET /projects/<p>."""
    project = _readable_project(call)
    modified = _project_modified(call, project)
    return Reply(
        render.project(project, modified), headers=render.project_headers(project, modified)
    )


def _project_modified(call: CatalogCall, project: Project) -> float:
    catalog = call.services.warehouse.catalog
    times = [float(project.created_at)]
    for table in catalog.list_tables(project):
        times.append(float(table.created_at))
    return max(times)


def list_schemas(call: CatalogCall) -> Reply:
    """GET /projects/<p>/schemas: the one `default` schema."""
    return Reply(render.schemas(_readable_project(call)))


def get_schema(call: CatalogCall) -> Reply:
    """GET /projects/<p>/schemas/default."""
    project = _readable_project(call)
    _check_schema(call, call.segments[3])
    return Reply(render.schema(project))


# -- tables ----------------------------------------------------------------------------------


def list_tables(call: CatalogCall) -> Reply:
    """GET /projects/<p>/tables (or …/schemas/default/tables): name = prefix, owner, type."""
    project = _readable_project(call)
    _check_schema(call, _schema_segment(call))
    prefix = call.params.get("name", "").lower()
    owner = call.params.get("owner", "")
    kind = call.params.get("type", "")
    found = [
        t
        for t in call.services.warehouse.catalog.list_tables(project)
        if t.name.startswith(prefix)
        and owner in ("", project.owner, render.owner_of(project.owner))
        and kind in ("", "MANAGED_TABLE")
    ]
    page, marker, max_items = _page(call, found, lambda t: t.name)
    return Reply(render.tables(page, project.owner, marker, max_items))


def get_table(call: CatalogCall) -> Reply:
    """GET /projects/<p>/tables/<t>: the table with its JSON schema (`?extended`: more)."""
    project, table = _readable_table(call)
    partitions = call.services.warehouse.catalog.list_partitions(table)
    extended = "extended" in call.params
    return Reply(render.table(table, project.owner, partitions, extended))


def list_partitions(call: CatalogCall) -> Reply:
    """GET /projects/<p>/tables/<t>?partitions: `ds` partitions, oldest first (`reverse`:
    newest first), only those matching `partition=ds='…'` when given."""
    _, table = _readable_table(call)
    found = call.services.warehouse.catalog.list_partitions(table)
    spec = call.params.get("partition")
    if spec and table.is_user_table:  # every partition holding the key values named
        wanted = _spec_pairs(spec).items()
        found = [p for p in found if wanted <= partition_values(p.ds).items()]
    elif spec:
        ds = _partition_value(spec)
        found = [p for p in found if p.ds == ds]
    if "reverse" in call.params:
        found = list(reversed(found))
    page, marker, max_items = _page(call, found, lambda p: p.ds)
    return Reply(render.partitions(page, marker, max_items))


def get_partition(call: CatalogCall) -> Reply:
    """GET /projects/<p>/tables/<t>?partition=ds='…': one partition (NoSuchPartition)."""
    _, table = _readable_table(call)
    spec = call.params["partition"]
    if table.is_user_table:
        try:
            folder = partition_folder(table, _spec_pairs(spec))
        except InvalidParameter as exc:
            raise InvalidArgument(
                f"ODPS-0420061:Invalid parameter in HTTP request - {exc.message}"
            ) from exc
        held, _ = call.services.warehouse.catalog.partition(table, folder)
        if held is None:
            raise NoSuchPartition(
                f"ODPS-0130111:Partition not found - {table.project}.{table.name} has no "
                f"partition {spec} (ALTER TABLE … ADD PARTITION, or a write with "
                "create_partition=True, makes it)"
            )
        return Reply(render.partition(held, "extended" in call.params))
    ds = _partition_value(spec)
    stats: PartitionStats | None = None
    if is_partition(ds):
        stats, _ = call.services.warehouse.catalog.partition(table, ds)
    if stats is None:
        raise NoSuchPartition(
            f"ODPS-0130111:Partition not found - {table.project}.{table.name} has no "
            f"partition ds='{ds}' (a partition exists once events of that UTC day are delivered)"
        )
    return Reply(render.partition(stats, "extended" in call.params))


# -- the caller's account ---------------------------------------------------------------------


def get_tenant(call: CatalogCall) -> Reply:
    """GET /tenants: the caller's account, whose projects have no schemas beyond `default`."""
    return Reply(render.tenant(call.caller.account_id), media_type="application/json")


# -- helpers ---------------------------------------------------------------------------------


def _readable_project(call: CatalogCall) -> Project:
    name = call.segments[1].lower()
    call.resources.append((PROJECT_RESOURCE, name))
    project = call.services.warehouse.catalog.get_project(call.region, name)
    access.require(call.caller, project, Privilege.SELECT)
    return project


def _readable_table(call: CatalogCall) -> tuple[Project, Table]:
    project = _readable_project(call)
    _check_schema(call, _schema_segment(call))
    name = call.segments[-1].lower()
    call.resources.append((TABLE_RESOURCE, f"{project.name}.{name}"))
    return project, call.services.warehouse.catalog.get_table(project, name)


def writable_table(call: CatalogCall, what: str) -> tuple[Project, str]:
    """The project and table name a write names, once `access.py` lets the caller `what` there
    (NoPermission into any `actiontrail_*` project, whoever asks; NoSuchTable for a table its
    project does not have)."""
    name = call.segments[1].lower()
    call.resources.append((PROJECT_RESOURCE, name))
    project = call.services.warehouse.catalog.get_project(call.region, name)
    after = call.segments[call.segments.index("tables") + 1 :] if "tables" in call.segments else ()
    table = after[0].lower() if after else ""
    if table:
        call.resources.append((TABLE_RESOURCE, f"{project.name}.{table}"))
    access.require_user_write(call.caller, project, f"{what} {table}".strip())
    _check_schema(call, _schema_segment(call))
    if table:
        call.services.warehouse.catalog.get_table(project, table)
    return project, table


def refuse_write(call: CatalogCall) -> Reply:
    """A POST, PUT or DELETE on a project's tables (PyODPS's writes go through SQL and the
    tunnel; these REST forms are MaxCompute's own): refused, with NoPermission into an
    `actiontrail_*` project."""
    project, table = writable_table(call, "change table")
    raise MethodNotAllowed(
        f"ODPS-0420095:Access Denied - trailhouse does not serve this write of "
        f"{project.name}{'.' + table if table else ''} yet; docs/pyodps.md lists the PyODPS "
        "calls that work"
    )


def _schema_segment(call: CatalogCall) -> str | None:
    """The schema a path names (/projects/p/schemas/<s>/tables/…), else `curr_schema`."""
    if len(call.segments) > 3 and call.segments[2] == "schemas":
        return call.segments[3]
    return call.params.get("curr_schema")


def _check_schema(call: CatalogCall, schema: str | None) -> None:
    if schema is not None and schema.lower() != render.DEFAULT_SCHEMA:
        raise NoSuchObject(
            f"ODPS-0110061:Failed to run ddltask - schema {schema!r} not found in project "
            f"{call.segments[1]}; trailhouse projects have one schema, '{render.DEFAULT_SCHEMA}'"
        )


def _spec_pairs(spec: str) -> dict[str, str]:
    """The key values of a partition spec such as day='d1',region='x' (quotes optional)."""
    pairs = [part.partition("=") for part in spec.split(",") if part.strip()]
    if any(not eq for _, eq, _ in pairs):
        raise InvalidArgument(
            f"ODPS-0420061:Invalid parameter in HTTP request - partition spec {spec!r}: write "
            "it as key='value'[,key='value']"
        )
    return {k.strip().lower(): v.strip().strip("'\"") for k, _, v in pairs}


def _partition_value(spec: str) -> str:
    """The `ds` value of a partition spec such as ds='20250101' (PyODPS quotes it)."""
    pairs = [part.partition("=") for part in spec.split(",") if part.strip()]
    values = {k.strip().lower(): v.strip().strip("'\"") for k, eq, v in pairs if eq}
    if len(values) != len(pairs) or set(values) != {"ds"}:
        raise InvalidArgument(
            f"ODPS-0420061:Invalid parameter in HTTP request - partition spec {spec!r}: "
            "trailhouse tables have one partition column, ds; name it as ds='YYYYMMDD'"
        )
    return values["ds"]


def _page(
    call: CatalogCall, items: Sequence[T], key: Callable[[T], str]
) -> tuple[list[T], str, int]:
    """One page of `items` after the caller's `marker`, with the marker of the next page."""
    try:
        max_items = rest.whole(call.params.get("maxitems"), "maxitems", rest.MAX_ITEMS, 1, 10_000)
        page, marker = rest.page_after(
            items, key, call.params.get("marker", ""), max_items, "Marker"
        )
    except rest.BadParameter as exc:
        raise InvalidArgument(f"ODPS-0420061:Invalid parameter in HTTP request - {exc}") from None
    return page, marker, max_items
