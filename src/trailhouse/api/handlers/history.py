"""Delivery history jobs (reference §1.5), in ActionTrail's wire shapes; they backfill the
trail's MaxCompute table (ActionTrail backfills Log Service only)."""

from __future__ import annotations

from typing import Any

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.delivery.history import HistoryJob
from trailhouse.events.validation import format_event_time

TRAIL_RESOURCE = "ACS::ActionTrail::Trail"
JOB_RESOURCE = "ACS::ActionTrail::DeliveryHistoryJob"


def create_delivery_history_job(ctx: ActionContext) -> dict[str, Any]:
    """CreateDeliveryHistoryJob: backfill a trail; idempotent by ClientToken."""
    name = params.required(ctx.params, "TrailName")
    ctx.resources.append((TRAIL_RESOURCE, name))
    job = ctx.services.history.create(
        ctx.caller.account_id, name, ctx.params.get("ClientToken", "")
    )
    ctx.resources.append((JOB_RESOURCE, str(job.job_id)))
    return {"JobId": job.job_id}


def get_delivery_history_job(ctx: ActionContext) -> dict[str, Any]:
    """GetDeliveryHistoryJob: a job with its per-region status."""
    job = ctx.services.history.get(ctx.caller.account_id, _job_id(ctx))
    return {
        **_summary(job),
        "Status": [{"Region": job.home_region, "Status": job.status}],
        "DeliveredEvents": job.delivered_events,
        "ErrorMessage": job.error,
    }


def list_delivery_history_jobs(ctx: ActionContext) -> dict[str, Any]:
    """ListDeliveryHistoryJobs: the account's jobs, newest first, a page at a time."""
    page = params.integer(ctx.params, "PageNumber", 1, 1, 10**6)
    size = params.integer(ctx.params, "PageSize", 20, 1, 100)
    jobs = ctx.services.history.list_jobs(ctx.caller.account_id)
    shown = jobs[(page - 1) * size : page * size]
    return {
        "PageNumber": page,
        "PageSize": size,
        "TotalCount": len(jobs),
        "DeliveryHistoryJobs": [_summary(job) for job in shown],
    }


def delete_delivery_history_job(ctx: ActionContext) -> dict[str, Any]:
    """DeleteDeliveryHistoryJob: a running job stops; what it delivered stays."""
    ctx.services.history.delete(ctx.caller.account_id, _job_id(ctx))
    return {}


def _job_id(ctx: ActionContext) -> int:
    """The required JobId (Alibaba's reference marks it required): absent is MissingParameter."""
    params.required(ctx.params, "JobId")
    job_id = params.integer(ctx.params, "JobId", 0, 1, 10**12)
    ctx.resources.append((JOB_RESOURCE, str(job_id)))
    return job_id


def _summary(job: HistoryJob) -> dict[str, Any]:
    return {
        "JobId": job.job_id,
        "TrailName": job.trail_name,
        "HomeRegion": job.home_region,
        "JobStatus": job.status,
        "CreatedTime": _time(job.created_time),
        "UpdatedTime": _time(job.updated_time),
        "StartTime": _time(job.start_time),
        "EndTime": _time(job.end_time),
    }


def _time(epoch: int) -> str:
    return format_event_time(epoch) if epoch else ""
