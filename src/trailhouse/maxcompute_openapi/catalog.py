"""The project and table reads (ListProjects, GetProject, ListTables, GetTableInfo): what the
caller may read of the warehouse catalog (`warehouse/access.py`), in the SDK's shapes."""

from __future__ import annotations

from typing import Any

from trailhouse.errors import ProjectNotFound
from trailhouse.maxcompute_openapi.call import OpenApiCall, one_page, region_of
from trailhouse.maxcompute_openapi.errors import InvalidParameter, NoSuchObject
from trailhouse.warehouse import access
from trailhouse.warehouse.model import Privilege, Project, Table
from trailhouse.warehouse.user_tables import shape_of

PROJECT_RESOURCE = "ACS::MaxCompute::Project"
TABLE_RESOURCE = "ACS::MaxCompute::Table"
DEFAULT_SCHEMA = "default"
TABLE_TYPE = "MANAGED_TABLE"


# -- projects --------------------------------------------------------------------------------


def list_projects(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/projects: the region's projects the caller may read (prefix, marker,
    maxItem; quotaNickName keeps those bound to that quota)."""
    region = region_of(call)
    found = call.services.warehouse.catalog.visible_projects(call.caller, region)
    prefix = call.params.get("prefix", "")
    quota = call.params.get("quotaNickName") or call.params.get("quotaName") or ""
    found = [p for p in found if p.name.startswith(prefix) and quota in ("", p.quota)]
    page, marker, max_items = one_page(call, found, lambda p: p.name)
    return {
        "data": {
            "projects": [_project(call, p) for p in page],
            "marker": marker,
            "maxItem": max_items,
        }
    }


def get_project(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/projects/{projectName}."""
    project = _readable_project(call)
    return {"httpCode": 200, "data": _project(call, project, detailed=True)}


def _project(call: OpenApiCall, project: Project, detailed: bool = False) -> dict[str, Any]:
    catalog = call.services.warehouse.catalog
    shown: dict[str, Any] = {
        "name": project.name,
        "owner": project.owner,
        "type": "managed",
        "comment": _project_comment(project),
        "defaultQuota": project.quota,
        "status": "AVAILABLE",
        "regionId": project.region,
        "createdTime": project.created_at * 1000,
        "costStorage": str(catalog.project_bytes(project)),
        "threeTierModel": False,
        "properties": {
            "timezone": project.time_zone,
            "typeSystem": "2.0",
            "allowFullScan": True,
            "enableDecimal2": True,
            "tableLifecycle": {"type": "optional", "value": "-1"},
            "encryption": {"enable": False, "algorithm": "", "key": ""},
            "retentionDays": 0,
        },
        "securityProperties": {
            "usingAcl": True,
            "usingPolicy": False,
            "labelSecurity": False,
            "objectCreatorHasAccessPermission": True,
            "objectCreatorHasGrantPermission": False,
            "enableDownloadPrivilege": False,
            "projectProtection": {"protected": False, "exceptionPolicy": ""},
        },
        "ipWhiteList": {"ipList": "", "vpcIpList": ""},
    }
    if detailed:
        shown["productType"] = _product_type(call, project)
        shown["superAdmins"] = [
            m.principal for m in project.members if m.role == "Admin" and "/" in m.principal
        ]
    return shown


def _project_comment(project: Project) -> str:
    if project.is_delivery_project:
        return f"ActionTrail delivery project of account {project.owner}"
    return f"project of account {project.owner}"


def _product_type(call: OpenApiCall, project: Project) -> str:
    for quota in call.services.warehouse.quotas.list(project.owner, project.region):
        if quota.name == project.quota:
            return "Subscription" if quota.is_subscription else "PayAsYouGo"
    return "PayAsYouGo"


# -- tables ----------------------------------------------------------------------------------


def list_tables(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/projects/{projectName}/tables: prefix, marker, maxItem, schemaName, type."""
    project = _readable_project(call)
    _check_schema(call)
    prefix = call.params.get("prefix", "").lower()
    kind = call.params.get("type", "")
    if kind not in ("", TABLE_TYPE):
        raise InvalidParameter(
            f"type {kind!r}: trailhouse tables are all {TABLE_TYPE}; omit type or name that one"
        )
    found = [
        t for t in call.services.warehouse.catalog.list_tables(project) if t.name.startswith(prefix)
    ]
    page, marker, max_items = one_page(call, found, lambda t: t.name)
    return {
        "data": {
            "tables": [
                {
                    "name": t.name,
                    "displayName": t.name,
                    "owner": project.owner,
                    "type": TABLE_TYPE,
                    "schema": DEFAULT_SCHEMA,
                    "creationTime": t.created_at * 1000,
                }
                for t in page
            ],
            "marker": marker,
            "maxItem": max_items,
        }
    }


def get_table_info(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/projects/{projectName}/tables/{tableName}: the table, its columns (those of
    its schema version), the `ds` partition column, sizes and times."""
    project = _readable_project(call)
    _check_schema(call)
    name = call.names[1].lower()
    call.resources.append((TABLE_RESOURCE, f"{project.name}.{name}"))
    catalog = call.services.warehouse.catalog
    table = catalog.get_table(project, name)
    partitions = catalog.list_partitions(table)
    size = sum(p.bytes for p in partitions)
    modified = max([p.last_modified for p in partitions], default=table.created_at)
    return {
        "data": {
            "name": table.name,
            "displayName": table.name,
            "projectName": project.name,
            "schema": DEFAULT_SCHEMA,
            "owner": project.owner,
            "type": TABLE_TYPE,
            "comment": table.comment,
            "creationTime": table.created_at * 1000,
            "lastDDLTime": table.created_at * 1000,
            "lastModifiedTime": modified * 1000,
            "lastAccessTime": modified * 1000,
            "size": size,
            "physicalSize": size,
            "fileNum": sum(p.files for p in partitions),
            "lifecycle": "-1",
            "isExternalTable": False,
            "isOutdated": False,
            "materializedView": False,
            "nativeColumns": [
                {"name": c.name, "type": c.odps_type, "comment": c.comment, "label": ""}
                for c in shape_of(table).columns
            ],
            "partitionColumns": [
                {"name": k.name, "type": k.odps_type, "comment": k.comment, "label": ""}
                for k in shape_of(table).partition_keys
            ],
            "createTableDDL": _ddl(project, table),
        }
    }


def _ddl(project: Project, table: Table) -> str:
    columns = ",\n".join(
        f"  `{c.name}` {c.odps_type} COMMENT '{_quoted(c.comment)}'"
        for c in shape_of(table).columns
    )
    keys = ", ".join(f"`{k.name}` {k.odps_type}" for k in shape_of(table).partition_keys)
    partitioned = f"\nPARTITIONED BY ({keys})" if keys else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {project.name}.{DEFAULT_SCHEMA}.`{table.name}` (\n"
        f"{columns}\n){partitioned};"
    )


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


# -- helpers ---------------------------------------------------------------------------------


def _readable_project(call: OpenApiCall) -> Project:
    """The project the path names, if the caller may read it.

    A project of another account that names nobody of the caller's account is answered as
    absent, word for word, so a tenant cannot tell another's project from no project; the
    owner's own RAM users get NoPermission, which says who must add them."""
    name = call.names[0].lower()
    call.resources.append((PROJECT_RESOURCE, name))
    absent = NoSuchObject(
        f"project {name!r} not found in {call.region}: it does not exist there, or it belongs "
        "to another account (ListProjects shows the projects you may read)"
    )
    try:
        project = call.services.warehouse.catalog.get_project(call.region, name)
    except ProjectNotFound:
        raise absent from None
    if not access.may(call.caller, project, Privilege.SELECT) and not _knows(call, project):
        raise absent
    access.require(call.caller, project, Privilege.SELECT)
    return project


def _knows(call: OpenApiCall, project: Project) -> bool:
    """True when the project is the caller's account's or names someone of that account."""
    account = call.caller.account_id
    return project.owner == account or any(
        m.principal == account
        or m.principal.startswith(f"{account}/")
        or f":{account}:role/" in m.principal
        for m in project.members
    )


def _check_schema(call: OpenApiCall) -> None:
    schema = call.params.get("schemaName")
    if schema and schema.lower() != DEFAULT_SCHEMA:
        raise NoSuchObject(
            f"schema {schema!r} not found in project {call.names[0]}; trailhouse projects have "
            f"one schema, '{DEFAULT_SCHEMA}'"
        )
