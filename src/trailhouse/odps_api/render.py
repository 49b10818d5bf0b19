"""The XML and JSON bodies PyODPS parses (`odps/models/*.py`): projects, tables with their JSON
`Schema` element, partitions, schemas, the tenant, and the `<Error>` body."""

from __future__ import annotations

import email.utils
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from trailhouse.warehouse.model import PartitionStats, Project, Table
from trailhouse.warehouse.user_tables import partition_values, shape_of

DEFAULT_SCHEMA = "default"


def rfc822(epoch: float) -> str:
    """A time as MaxCompute's headers and XML carry it: 'Sun, 06 Dec 2026 10:00:00 GMT'."""
    return email.utils.formatdate(epoch, usegmt=True)


def owner_of(account_id: str) -> str:
    """An account as MaxCompute names owners."""
    return f"ALIYUN${account_id}"


def document(root: ET.Element) -> bytes:
    """The XML document of `root`, with its declaration."""
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _child(parent: ET.Element, tag: str, text: str | int | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def error(code: str, message: str, request_id: str, host_id: str) -> bytes:
    """MaxCompute's error body."""
    root = ET.Element("Error")
    _child(root, "Code", code)
    _child(root, "Message", message)
    _child(root, "RequestId", request_id)
    _child(root, "HostId", host_id)
    return document(root)


def _project_element(parent: ET.Element | None, project: Project, modified: float) -> ET.Element:
    root = ET.Element("Project") if parent is None else _child(parent, "Project")
    _child(root, "Name", project.name)
    _child(root, "Type", "managed")
    _child(root, "Comment", project_comment(project))
    _child(root, "Owner", owner_of(project.owner))
    _child(root, "State", "AVAILABLE")
    _child(root, "Region", project.region)
    _child(root, "CreationTime", rfc822(project.created_at))
    _child(root, "LastModifiedTime", rfc822(modified))
    _child(root, "DefaultQuotaNickname", project.quota)
    _child(root, "DefaultQuotaRegion", project.region)
    _child(root, "Allow3Tier", "false")
    properties = _child(root, "Properties")
    for name, value in (
        ("odps.namespace.schema", "false"),
        ("odps.default.schema", "default"),
        ("odps.sql.timezone", project.time_zone),
    ):
        prop = _child(properties, "Property")
        _child(prop, "Name", name)
        _child(prop, "Value", value)
    clusters = _child(root, "Clusters")
    cluster = _child(clusters, "Cluster")
    _child(cluster, "Name", project.quota)
    _child(cluster, "QuotaID", project.quota)
    return root


def project_comment(project: Project) -> str:
    if project.is_delivery_project:
        return f"ActionTrail delivery project of account {project.owner}"
    return ""


def project(project: Project, modified: float) -> bytes:
    """GET /projects/<p>."""
    return document(_project_element(None, project, modified))


def project_headers(project: Project, modified: float) -> dict[str, str]:
    """The headers `Project.reload` reads."""
    return {
        "x-odps-owner": owner_of(project.owner),
        "x-odps-creation-time": rfc822(project.created_at),
        "Last-Modified": rfc822(modified),
    }


def projects(found: Sequence[Project], marker: str, max_items: int) -> bytes:
    """GET /projects: one page, and the marker of the next ('' on the last)."""
    root = ET.Element("Projects")
    _child(root, "Marker", marker or None)
    _child(root, "MaxItems", max_items)
    for item in found:
        _project_element(root, item, item.created_at)
    return document(root)


def table_id(table: Table) -> str:
    key = f"{table.region}/{table.project}/{table.name}/{table.created_at}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def table_comment(table: Table) -> str:
    if table.comment:
        return table.comment
    return "audit events, one row per event, partitioned by ds (the UTC day of eventTime)"


def _table_element(
    parent: ET.Element | None,
    table: Table,
    owner: str,
    partitions: Sequence[PartitionStats] | None,
    extended: bool = False,
) -> ET.Element:
    """A table; with its JSON Schema when `partitions` are given (a list leaves it out, so
    PyODPS loads it when asked)."""
    root = ET.Element("Table") if parent is None else _child(parent, "Table")
    modified = max([table.created_at, *(p.last_modified for p in partitions or ())])
    _child(root, "Name", table.name)
    _child(root, "TableId", table_id(table))
    _child(root, "Type", "MANAGED_TABLE")
    _child(root, "Owner", owner_of(owner))
    _child(root, "Comment", table_comment(table))
    _child(root, "CreationTime", rfc822(table.created_at))
    _child(root, "LastModifiedTime", rfc822(modified))
    if partitions is not None:
        schema_json = table_schema(table, owner, partitions, modified, extended)
        _child(root, "Schema", orjson.dumps(schema_json).decode())
    return root


def _column(name: str, odps_type: str, comment: str) -> dict[str, Any]:
    return {"name": name, "type": odps_type, "comment": comment, "isNullable": True}


def table_schema(
    table: Table,
    owner: str,
    partitions: Sequence[PartitionStats],
    modified: float,
    extended: bool,
) -> dict[str, Any]:
    """The JSON of a table's `Schema` element: columns (those of the table's schema version, or
    a user's table's own), its partition keys, size, rows and times."""
    schema = shape_of(table)
    size = sum(p.bytes for p in partitions)
    body: dict[str, Any] = {
        "tableName": table.name,
        "comment": table_comment(table),
        "owner": owner_of(owner),
        "createTime": table.created_at,
        "lastModifiedTime": int(modified),
        "lastDDLTime": table.created_at,
        "isVirtualView": False,
        "isExternal": False,
        "lifecycle": -1,
        "size": size,
        "recordNum": sum(p.rows for p in partitions),
        "shardExist": False,
        "columns": [_column(c.name, c.odps_type, c.comment) for c in schema.columns],
        "partitionKeys": [_column(k.name, k.odps_type, k.comment) for k in schema.partition_keys],
    }
    if extended:
        body.update(
            {
                "IsArchived": False,
                "PhysicalSize": size,
                "FileNum": sum(p.files for p in partitions),
                "Reserved": orjson.dumps(
                    {"Transactional": "false", "schema_version": str(schema.version or "")}
                ).decode(),
            }
        )
    return body


def table(found: Table, owner: str, partitions: Sequence[PartitionStats], extended: bool) -> bytes:
    """GET /projects/<p>/tables/<t> (`?extended` adds files and physical size)."""
    return document(_table_element(None, found, owner, partitions, extended))


def tables(found: Iterable[Table], owner: str, marker: str, max_items: int) -> bytes:
    """GET /projects/<p>/tables: one page, and the marker of the next ('' on the last)."""
    root = ET.Element("Tables")
    _child(root, "Marker", marker or None)
    _child(root, "MaxItems", max_items)
    for item in found:
        _table_element(root, item, owner, None)
    return document(root)


def _partition_meta(stats: PartitionStats, extended: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "createTime": stats.last_modified,
        "lastDDLTime": stats.last_modified,
        "lastModifiedTime": stats.last_modified,
        "partitionSize": stats.bytes,
        "partitionRecordNum": stats.rows,
    }
    if extended:
        meta.update(
            {
                "IsArchived": False,
                "IsExstore": False,
                "LifeCycle": -1,
                "PhysicalSize": stats.bytes,
                "FileNum": stats.files,
                "Reserved": "{}",
            }
        )
    return meta


def partition(stats: PartitionStats, extended: bool) -> bytes:
    """GET /projects/<p>/tables/<t>?partition=ds='…'."""
    root = ET.Element("Partition")
    _child(root, "Schema", orjson.dumps(_partition_meta(stats, extended)).decode())
    return document(root)


def partitions(found: Iterable[PartitionStats], marker: str, max_items: int) -> bytes:
    """GET /projects/<p>/tables/<t>?partitions: one page of `ds` partitions."""
    root = ET.Element("Partitions")
    _child(root, "Marker", marker or None)
    _child(root, "MaxItems", max_items)
    for stats in found:
        element = _child(root, "Partition")
        for name, value in partition_values(stats.ds).items():
            ET.SubElement(element, "Column", {"Name": name, "Value": value})
        _child(element, "CreationTime", stats.last_modified)
        _child(element, "LastDDLTime", stats.last_modified)
        _child(element, "LastModifiedTime", stats.last_modified)
        _child(element, "PartitionSize", stats.bytes)
        _child(element, "PartitionRecordCount", stats.rows)
    return document(root)


def _schema_element(parent: ET.Element | None, project: Project) -> ET.Element:
    root = ET.Element("Schema") if parent is None else _child(parent, "Schema")
    _child(root, "Name", DEFAULT_SCHEMA)
    _child(root, "Owner", owner_of(project.owner))
    _child(root, "Description", "the project's only schema")
    _child(root, "Type", "MANAGED")
    _child(root, "CreateTime", rfc822(project.created_at))
    _child(root, "ModifyTime", rfc822(project.created_at))
    return root


def schema(project: Project) -> bytes:
    """GET /projects/<p>/schemas/default."""
    return document(_schema_element(None, project))


def schemas(project: Project) -> bytes:
    """GET /projects/<p>/schemas: the one `default` schema."""
    root = ET.Element("Schemas")
    _child(root, "Marker")
    _child(root, "MaxItems", 1)
    _schema_element(root, project)
    return document(root)


def tenant(account_id: str) -> bytes:
    """GET /tenants: the caller's account as a tenant; schemas (three-tier names) are off."""
    body = {
        "Tenant": {
            "Name": account_id,
            "OwnerId": account_id,
            "TenantId": account_id,
            "TenantState": "NORMAL",
            "TenantMeta": "",
            "Parameters": {"odps.namespace.schema": "false"},
        }
    }
    return orjson.dumps(body)
