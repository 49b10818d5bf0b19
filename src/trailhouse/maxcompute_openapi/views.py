"""The read calls, one function per action (`ListProjects` → `list_projects`): each takes a
verified call and returns the JSON body the SDK's response model reads (`data`, `requestId`
added by the route). What a caller sees is what the warehouse services let it see: projects it
may read (`warehouse/access.py`), its own account's quotas, jobs it submitted or manages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trailhouse.errors import ProjectNotFound
from trailhouse.iam.principals import Caller
from trailhouse.maxcompute_openapi.errors import InvalidParameter, NoSuchObject
from trailhouse.runtime import Services
from trailhouse.warehouse import access
from trailhouse.warehouse.model import Privilege, Project, Quota, SqlJob, Table
from trailhouse.warehouse.schema import PARTITION, schema_of

PROJECT_RESOURCE = "ACS::MaxCompute::Project"
TABLE_RESOURCE = "ACS::MaxCompute::Table"
QUOTA_RESOURCE = "ACS::MaxCompute::Quota"
JOB_RESOURCE = "ACS::MaxCompute::Instance"
DEFAULT_SCHEMA = "default"
TABLE_TYPE = "MANAGED_TABLE"
MAX_ITEMS = 1000  # a page when the caller names no maxItem
JOB_PAGE = 10  # ListJobInfos' documented default pageSize

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OpenApiCall:
    """One verified call: who, in which region, the path's names, the query and the JSON body."""

    services: Services
    caller: Caller
    region: str
    names: tuple[str, ...]
    params: Mapping[str, str]
    body: Mapping[str, Any] = field(default_factory=dict)
    resources: list[tuple[str, str]] = field(default_factory=list)


# -- projects --------------------------------------------------------------------------------


def list_projects(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/projects: the region's projects the caller may read (prefix, marker,
    maxItem; quotaNickName keeps those bound to that quota)."""
    region = _region(call)
    found = call.services.warehouse.catalog.visible_projects(call.caller, region)
    prefix = call.params.get("prefix", "")
    quota = call.params.get("quotaNickName") or call.params.get("quotaName") or ""
    found = [p for p in found if p.name.startswith(prefix) and quota in ("", p.quota)]
    page, marker, max_items = _page(call, found, lambda p: p.name)
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
            "timezone": "UTC",
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
    page, marker, max_items = _page(call, found, lambda t: t.name)
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
                for c in schema_of(table.schema_version).columns
            ],
            "partitionColumns": [
                {
                    "name": PARTITION.name,
                    "type": PARTITION.odps_type,
                    "comment": PARTITION.comment,
                    "label": "",
                }
            ],
            "createTableDDL": _ddl(project, table),
        }
    }


def _ddl(project: Project, table: Table) -> str:
    columns = ",\n".join(
        f"  `{c.name}` {c.odps_type} COMMENT '{_quoted(c.comment)}'"
        for c in schema_of(table.schema_version).columns
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {project.name}.{DEFAULT_SCHEMA}.`{table.name}` (\n"
        f"{columns}\n)\nPARTITIONED BY (`{PARTITION.name}` {PARTITION.odps_type});"
    )


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


# -- quotas ----------------------------------------------------------------------------------


def list_quotas(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/quotas: the account's quotas (in `region` when given), billingType
    `payasyougo` or `subscription` (or ALL), marker, maxItem."""
    region = call.params.get("region") or None
    if region is not None:
        region = _region(call)
    billing = call.params.get("billingType", "").lower()
    if billing not in ("", "all", "payasyougo", "subscription"):
        raise InvalidParameter(
            f"billingType {call.params['billingType']!r}: use payasyougo, subscription or ALL"
        )
    quotas = [
        q
        for q in call.services.warehouse.quotas.list(call.caller.account_id, region)
        if billing in ("", "all", _billing(q))
    ]
    page, marker, max_items = _page(call, quotas, lambda q: f"{q.region}/{q.name}")
    data = {
        "quotaInfoList": [_quota(q) for q in page],
        "marker": marker,
        "maxItem": max_items,
    }
    return {"data": data}


def get_quota(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/quotas/{nickname}: one quota of the caller's account in the region."""
    name = call.names[0]
    region = _region(call)
    call.resources.append((QUOTA_RESOURCE, name))
    for quota in call.services.warehouse.quotas.list(call.caller.account_id, region):
        if quota.name == name:
            return {"data": _quota(quota)}
    held = ", ".join(q.name for q in call.services.warehouse.quotas.list(call.caller.account_id))
    raise NoSuchObject(
        f"account {call.caller.account_id} has no quota with nickname {name!r} in {region} "
        f"(its quotas: {held or 'none'})"
    )


def _billing(quota: Quota) -> str:
    return "subscription" if quota.is_subscription else "payasyougo"


def _quota(quota: Quota) -> dict[str, Any]:
    return {
        "id": f"{quota.region}/{quota.name}",
        "name": quota.name,
        "nickName": quota.name,
        "type": "FUXI_OFFLINE",
        "status": "ON",
        "regionId": quota.region,
        "tenantId": quota.account_id,
        "creatorId": quota.account_id,
        "createTime": quota.created_at * 1000,
        "version": "1",
        "billingPolicy": {
            "billingMethod": _billing(quota),
            "odpsSpecCode": "OdpsStandard" if quota.is_subscription else "OdpsPayAsYouGo",
            "orderId": "",
        },
        "parameter": {
            "minCU": quota.cu,
            "maxCU": quota.cu,
            "elasticReservedCU": 0,
            "schedulerType": "Fifo",
            "enablePriority": False,
            "forceReservedMin": quota.is_subscription,
            "singleJobCULimit": quota.threads,
            # trailhouse's own limits: what a job of this quota runs with (docs).
            "threads": quota.threads,
            "memoryGb": quota.memory_gb,
            "concurrency": quota.concurrency,
        },
        "subQuotaInfoList": [],
        "tag": "",
    }


# -- jobs ------------------------------------------------------------------------------------

# trailhouse's job statuses as MaxCompute's job list names them.
_STATUS = {
    "Waiting": "waiting",
    "Running": "running",
    "Terminated": "terminated",
    "Failed": "failed",
    "Cancelled": "cancelled",
}
_ORDER = {
    "submittedAtTime": lambda j: j.submitted_at,
    "inputBytes": lambda j: j.input_bytes,
    "runningTime": lambda j: j.run_seconds,
    "waitingTime": lambda j: j.queue_seconds,
    "totalTime": lambda j: j.queue_seconds + j.run_seconds,
    "instanceId": lambda j: j.job_id,
}
_MAX_JOBS = 100_000


def list_job_infos(call: OpenApiCall) -> dict[str, Any]:
    """POST /api/v1/jobs: the SQL jobs the caller may see, filtered by the body's lists and
    time window, ordered (orderColumn, ascOrder) and paged (pageNumber, pageSize)."""
    body = call.body
    projects = set(_strings(body, "projectList"))
    statuses = {s.lower() for s in _strings(body, "statusList")}
    ids = set(_strings(body, "instanceIdList"))
    owners = set(_strings(body, "jobOwnerList"))
    types = {t.upper() for t in _strings(body, "typeList")}
    quota = body.get("quotaNickname") or ""
    if not isinstance(quota, str):
        raise InvalidParameter("quotaNickname must be a string")
    since, until = _seconds(body, "from"), _seconds(body, "to")
    jobs = [
        j
        for j in call.services.warehouse.jobs.list_jobs(call.caller, "", _MAX_JOBS)
        if (not projects or j.project in projects)
        and (not statuses or _STATUS.get(j.status, j.status.lower()) in statuses)
        and (not ids or j.job_id in ids)
        and (not owners or _owner(j) in owners or j.submitted_by in owners)
        and (not types or "SQL" in types)
        and (not quota or j.quota == quota)
        and (since is None or j.submitted_at >= since)
        and (until is None or j.submitted_at <= until)
    ]
    column = call.params.get("orderColumn") or "submittedAtTime"
    if column not in _ORDER:
        raise InvalidParameter(f"orderColumn {column!r}: use one of {', '.join(sorted(_ORDER))}")
    ascending = _boolean(call.params.get("ascOrder", "false"), "ascOrder")
    jobs.sort(key=_ORDER[column], reverse=not ascending)
    number = _whole(call.params.get("pageNumber"), "pageNumber", 1, 1, 10**6)
    size = _whole(call.params.get("pageSize"), "pageSize", JOB_PAGE, 1, 1000)
    page = jobs[(number - 1) * size : number * size]
    for job in page:
        call.resources.append((JOB_RESOURCE, job.job_id))
    return {
        "httpCode": 200,
        "data": {
            "jobInfoList": [_job(call, j) for j in page],
            "pageNumber": number,
            "pageSize": size,
            "totalCount": len(jobs),
        },
    }


def get_job_info(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/jobs/{instanceId}/info: one job the caller submitted or manages."""
    job_id = call.names[0]
    call.resources.append((JOB_RESOURCE, job_id))
    job = call.services.warehouse.jobs.get(call.caller, job_id)
    shown = _job(call, job)
    shown["jobSubStatusList"] = []
    return {"httpCode": 200, "data": shown}


def _job(call: OpenApiCall, job: SqlJob) -> dict[str, Any]:
    waiting = int(job.queue_seconds)
    running = int(job.run_seconds)
    return {
        "instanceId": job.job_id,
        "project": job.project,
        "region": job.region,
        "tenantId": job.billed_account or job.account_id,
        "quotaNickname": job.quota,
        "quotaType": "payasyougo" if job.quota == "pay-as-you-go" else "subscription",
        "jobOwner": _owner(job),
        "jobType": "SQL",
        "status": _STATUS.get(job.status, job.status.lower()),
        "priority": 1,
        "signature": job.job_id,
        "taskName": "AnonymousSQLTask",
        "submittedAtTime": int(job.submitted_at),
        "runningAtTime": int(job.started_at) if job.started_at else None,
        "endAtTime": int(job.finished_at) if job.finished_at else None,
        "waitingTime": waiting,
        "runningTime": running,
        "totalTime": waiting + running,
        "inputBytes": job.input_bytes,
        "cuUsage": 0,
        "memoryUsage": 0,
        "sceneResults": [],
    }


def _owner(job: SqlJob) -> str:
    """The submitter as MaxCompute names it: `ALIYUN$<account>` or `RAM$<account>:<user>`."""
    account, _, user = job.submitted_by.partition("/")
    return f"RAM${account}:{user}" if user else f"ALIYUN${account}"


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


def _region(call: OpenApiCall) -> str:
    region = call.params.get("region") or call.region
    if region not in call.services.regions:
        raise InvalidParameter(
            f"region {region!r} is not one of {', '.join(call.services.regions.ids())}"
        )
    return region


def _page(
    call: OpenApiCall, items: Sequence[T], key: Callable[[T], str]
) -> tuple[list[T], str, int]:
    """One page of `items` after the caller's `marker`, with the marker of the next page."""
    max_items = _whole(call.params.get("maxItem"), "maxItem", MAX_ITEMS, 1, 10_000)
    after = _decode_marker(call.params.get("marker", ""))
    start = 0
    if after:
        start = next((i for i, item in enumerate(items) if key(item) == after), len(items)) + 1
    page = list(items[start : start + max_items])
    more = start + max_items < len(items)
    marker = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more and page else ""
    return page, marker, max_items


def _decode_marker(marker: str) -> str:
    if not marker:
        return ""
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameter(
            f"marker {marker!r} is not one this server returned; pass the marker of the "
            "previous page unchanged"
        ) from None


def _whole(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidParameter(f"{name} {text!r}: use a whole number from {low} to {high}")
    return int(text)


def _boolean(text: str, name: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise InvalidParameter(f"{name} {text!r}: use true or false")
    return text.lower() == "true"


def _strings(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"{name} must be a list of strings")
    return value


def _seconds(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidParameter(f"{name} must be a time in epoch seconds, such as 1672112000")
    return float(value)
