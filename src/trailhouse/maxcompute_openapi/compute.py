"""The quota and job reads (ListQuotas, GetQuota, ListJobInfos, GetJobInfo): the caller's
account's quotas, and the SQL jobs it submitted or manages, as MaxCompute shows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trailhouse.maxcompute_openapi.call import OpenApiCall, boolean, one_page, region_of, whole
from trailhouse.maxcompute_openapi.errors import InvalidParameter, NoSuchObject
from trailhouse.warehouse.model import Quota, SqlJob

QUOTA_RESOURCE = "ACS::MaxCompute::Quota"
JOB_RESOURCE = "ACS::MaxCompute::Instance"
JOB_PAGE = 10  # ListJobInfos' documented default pageSize


# -- quotas ----------------------------------------------------------------------------------


def list_quotas(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/quotas: the account's quotas (in `region` when given), billingType
    `payasyougo` or `subscription` (or ALL), marker, maxItem."""
    region = call.params.get("region") or None
    if region is not None:
        region = region_of(call)
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
    page, marker, max_items = one_page(call, quotas, lambda q: f"{q.region}/{q.name}")
    data = {
        "quotaInfoList": [_quota(q) for q in page],
        "marker": marker,
        "maxItem": max_items,
    }
    return {"data": data}


def get_quota(call: OpenApiCall) -> dict[str, Any]:
    """GET /api/v1/quotas/{nickname}: one quota of the caller's account in the region."""
    name = call.names[0]
    region = region_of(call)
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
    ascending = boolean(call.params.get("ascOrder", "false"), "ascOrder")
    jobs.sort(key=_ORDER[column], reverse=not ascending)
    number = whole(call.params.get("pageNumber"), "pageNumber", 1, 1, 10**6)
    size = whole(call.params.get("pageSize"), "pageSize", JOB_PAGE, 1, 1000)
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
