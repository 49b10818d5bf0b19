"""Warehouse actions: projects, members, tables, partitions, quotas, SQL jobs and bills.

They are trailhouse actions on the same RPC endpoint, signed like every other call and audited
as serviceName `MaxCompute`. The region is the request's (its port, or RegionId).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.errors import InvalidParameter, NoPermission
from trailhouse.iam.principals import PrincipalKind
from trailhouse.warehouse import access
from trailhouse.warehouse.model import Privilege, Project, Quota, Role, SqlJob

PROJECT_RESOURCE = "ACS::MaxCompute::Project"
JOB_RESOURCE = "ACS::MaxCompute::Instance"
_MAX_PAGE = 10_000


def create_project(ctx: ActionContext) -> dict[str, Any]:
    """CreateProject: a project of the caller's account (e.g. the destination of other accounts'
    trails), bound to QuotaName or the region's first quota."""
    name = _project_name(ctx)
    project = ctx.services.warehouse.catalog.ensure_project(
        ctx.caller.account_id, ctx.region, name, ctx.params.get("QuotaName", "")
    )
    return {"Project": _project(project, manager=True)}


def delete_project(ctx: ActionContext) -> dict[str, Any]:
    """DeleteProject: the owner's root key deletes a project no enabled trail delivers into,
    with its tables and files."""
    project = ctx.services.project_deletion.delete(ctx.caller, ctx.region, _project_name(ctx))
    return {"Project": _project(project, manager=True)}


def list_projects(ctx: ActionContext) -> dict[str, Any]:
    """ListProjects: the projects of this region the caller may query."""
    projects = ctx.services.warehouse.catalog.visible_projects(ctx.caller, ctx.region)
    manages = [access.may(ctx.caller, p, Privilege.MANAGE) for p in projects]
    return {"Projects": [_project(p, m) for p, m in zip(projects, manages, strict=True)]}


def set_project_member(ctx: ActionContext) -> dict[str, Any]:
    """SetProjectMember: add a member (an account id, `<account>/<user>`, or a role ARN)
    with a role, or change its role."""
    role = params.choice(ctx.params, "Role", Role.READER, Role.ALL)
    project = ctx.services.warehouse.catalog.set_member(
        ctx.caller, ctx.region, _project_name(ctx), params.required(ctx.params, "Principal"), role
    )
    return {"Project": _project(project, manager=True)}


# The project properties SetProjectProperty sets (MaxCompute's `setproject key=value`).
TIME_ZONE_PROPERTY = "odps.sql.timezone"


def set_project_property(ctx: ActionContext) -> dict[str, Any]:
    """SetProjectProperty: the owner's root key sets `odps.sql.timezone`, the time zone the
    project's jobs show datetimes in; other properties are refused by name."""
    name = params.required(ctx.params, "Name").strip()
    if name.lower() != TIME_ZONE_PROPERTY:
        raise InvalidParameter(
            f"project property {name!r} cannot be set: trailhouse sets {TIME_ZONE_PROPERTY} only"
        )
    project = ctx.services.warehouse.catalog.set_time_zone(
        ctx.caller, ctx.region, _project_name(ctx), params.required(ctx.params, "Value")
    )
    return {"Project": _project(project, manager=True)}


def remove_project_member(ctx: ActionContext) -> dict[str, Any]:
    """RemoveProjectMember."""
    project = ctx.services.warehouse.catalog.remove_member(
        ctx.caller, ctx.region, _project_name(ctx), params.required(ctx.params, "Principal")
    )
    return {"Project": _project(project, manager=True)}


def list_tables(ctx: ActionContext) -> dict[str, Any]:
    """ListTables: a project's tables with their columns (those of the table's schema version),
    partitions, rows and bytes."""
    catalog = ctx.services.warehouse.catalog
    project = _readable_project(ctx)
    tables = []
    for table in catalog.list_tables(project):
        partitions = catalog.list_partitions(table)
        schema = catalog.shape(table)
        tables.append(
            {
                "Name": table.name,
                "CreateTime": _time(table.created_at),
                "Partitions": len(partitions),
                "Rows": sum(p.rows for p in partitions),
                "Bytes": sum(p.bytes for p in partitions),
                "SchemaVersion": schema.version,  # 0: a user's table
                "Columns": [_column(c.name, c.odps_type, c.comment) for c in schema.columns],
                "PartitionKeys": [
                    _column(k.name, k.odps_type, k.comment) for k in schema.partition_keys
                ],
            }
        )
    return {"Tables": tables}


def _column(name: str, odps_type: str, comment: str) -> dict[str, str]:
    return {"Name": name, "Type": odps_type, "Comment": comment}


def list_partitions(ctx: ActionContext) -> dict[str, Any]:
    """ListPartitions: a table's `ds` partitions with files, rows and bytes."""
    catalog = ctx.services.warehouse.catalog
    project = _readable_project(ctx)
    table = catalog.get_table(project, params.required(ctx.params, "Table"))
    return {
        "Partitions": [
            {
                "Ds": p.ds,
                "Files": p.files,
                "Rows": p.rows,
                "Bytes": p.bytes,
                "LastModified": _time(p.last_modified),
            }
            for p in catalog.list_partitions(table)
        ]
    }


def create_quota(ctx: ActionContext) -> dict[str, Any]:
    """CreateQuota: buy a subscription quota of Cu CUs in the request's region."""
    quota = ctx.services.warehouse.quotas.create_subscription(
        ctx.caller.account_id,
        ctx.region,
        params.required(ctx.params, "QuotaName"),
        params.integer(ctx.params, "Cu", 0, 1, 2048),
    )
    return {"Quota": _quota(quota)}


def list_quotas(ctx: ActionContext) -> dict[str, Any]:
    """ListQuotas: the account's quotas in every region (or in RegionId's, when given)."""
    region = ctx.region if "RegionId" in ctx.params else None
    return {
        "Quotas": [
            _quota(q) for q in ctx.services.warehouse.quotas.list(ctx.caller.account_id, region)
        ]
    }


def submit_sql_job(ctx: ActionContext) -> dict[str, Any]:
    """SubmitSqlJob: plan (refusing bad SQL at once) and queue a MaxCompute SQL job."""
    project = _readable_project(ctx)
    job = ctx.services.warehouse.jobs.submit(
        ctx.caller, project, params.required(ctx.params, "Sql"), _job_settings(ctx)
    )
    ctx.resources.append((JOB_RESOURCE, job.job_id))
    return {"JobId": job.job_id, "Job": _job(job)}


def _job_settings(ctx: ActionContext) -> dict[str, str]:
    """Settings: a JSON object of SET flags ({"odps.sql.allow.fullscan": "false"})."""
    text = ctx.params.get("Settings", "")
    if not text:
        return {}
    try:
        settings = orjson.loads(text)
    except orjson.JSONDecodeError:
        settings = None
    if not isinstance(settings, dict) or not all(
        isinstance(v, (str, bool, int, float)) for v in settings.values()
    ):
        raise InvalidParameter(
            "Settings must be a JSON object of flags and values, such as "
            '{"odps.sql.allow.fullscan": "false"}'
        )
    return {
        str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in settings.items()
    }


def get_sql_job(ctx: ActionContext) -> dict[str, Any]:
    """GetSqlJob: status, progress, bytes, complexity, cost and timings of a job."""
    job = ctx.services.warehouse.jobs.get(ctx.caller, _job_id(ctx))
    return {"Job": _job(job)}


def get_sql_job_result(ctx: ActionContext) -> dict[str, Any]:
    """GetSqlJobResult: a page of a finished job's rows."""
    offset = params.integer(ctx.params, "Offset", 0, 0, 10**9)
    limit = params.integer(ctx.params, "MaxResults", 1000, 1, _MAX_PAGE)
    job_id = _job_id(ctx)
    jobs = ctx.services.warehouse.jobs
    result = jobs.result(ctx.caller, job_id, offset, limit)
    job = jobs.get(ctx.caller, job_id)
    return {
        "Columns": list(result.columns),
        "Types": list(result.types),
        "Rows": result.rows,
        "Offset": offset,
        "NextOffset": offset + len(result.rows) if result.truncated else None,
        "Truncated": job.truncated,
    }


def cancel_sql_job(ctx: ActionContext) -> dict[str, Any]:
    """CancelSqlJob: stop a waiting or running job (free of charge)."""
    return {"Job": _job(ctx.services.warehouse.jobs.cancel(ctx.caller, _job_id(ctx)))}


def list_sql_jobs(ctx: ActionContext) -> dict[str, Any]:
    """ListSqlJobs: the caller's jobs (all of a project for its Admins), newest first."""
    jobs = ctx.services.warehouse.jobs.list_jobs(
        ctx.caller,
        ctx.params.get("Project", ""),
        params.integer(ctx.params, "MaxResults", 100, 1, 1000),
    )
    return {"Jobs": [_job(j) for j in jobs]}


def describe_bills(ctx: ActionContext) -> dict[str, Any]:
    """DescribeBills: the account's daily charges by project and type (root key only)."""
    if ctx.caller.kind != PrincipalKind.ROOT:
        raise NoPermission("bills are shown to the account's root key only")
    today = time.strftime("%Y%m%d", time.gmtime())
    lines = ctx.services.warehouse.metering.bill(
        ctx.caller.account_id,
        ctx.params.get("StartDay") or today[:6] + "01",
        ctx.params.get("EndDay") or today,
    )
    return {
        "Bills": [
            {
                "Day": line.day,
                "Region": line.region,
                "Project": line.project,
                "Item": line.item,
                "Usage": line.usage,
                "Unit": line.unit,
                "AmountUSD": round(line.amount_usd, 6),
            }
            for line in lines
        ],
        "TotalUSD": round(sum(line.amount_usd for line in lines), 6),
    }


def _project_name(ctx: ActionContext) -> str:
    name = params.required(ctx.params, "Project").lower()
    ctx.resources.append((PROJECT_RESOURCE, name))
    return name


def _readable_project(ctx: ActionContext) -> Project:
    project = ctx.services.warehouse.catalog.get_project(ctx.region, _project_name(ctx))
    access.require(ctx.caller, project, Privilege.SELECT)
    return project


def _job_id(ctx: ActionContext) -> str:
    job_id = params.required(ctx.params, "JobId")
    ctx.resources.append((JOB_RESOURCE, job_id))
    return job_id


def _time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch else ""


def _project(project: Project, manager: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "Name": project.name,
        "Region": project.region,
        "Owner": project.owner,
        "Arn": project.arn,
        "Quota": project.quota,
        "CreateTime": _time(project.created_at),
        "TimeZone": project.time_zone,
    }
    if manager:
        shown["Members"] = [{"Principal": m.principal, "Role": m.role} for m in project.members]
    return shown


def _quota(quota: Quota) -> dict[str, Any]:
    return {
        "Name": quota.name,
        "Region": quota.region,
        "Type": quota.kind,
        "Cu": quota.cu,
        "Threads": quota.threads,
        "MemoryGb": quota.memory_gb,
        "Concurrency": quota.concurrency,
    }


def _job(job: SqlJob) -> dict[str, Any]:
    return {
        "JobId": job.job_id,
        "Project": job.project,
        "Region": job.region,
        "Quota": job.quota,
        "Engine": job.engine,
        "Kind": job.kind,
        "Sql": job.sql,
        "Status": job.status,
        "Progress": round(job.progress, 3),
        "SubmittedBy": job.submitted_by,
        "SubmitTime": _time(job.submitted_at),
        "QueueSeconds": round(job.queue_seconds, 3),
        "RunSeconds": round(job.run_seconds, 3),
        "InputBytes": job.input_bytes,
        "Complexity": job.complexity,
        "CostUSD": round(job.cost_usd, 8),
        "PartitionsRead": job.partitions_read,
        "PartitionsTotal": job.partitions_total,
        "Rows": job.rows,
        "Truncated": job.truncated,
        "ErrorCode": job.error_code,
        "ErrorMessage": job.error_message,
    }
