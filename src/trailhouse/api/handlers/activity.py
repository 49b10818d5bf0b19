"""DescribeUserLogCount, DescribeUserAlertCount and DescribeResourceLifeCycleEvents in
ActionTrail's wire shapes, over `usage/activity.py`."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson

from trailhouse.api.actions import ActionContext
from trailhouse.usage.activity import DailyCounts, InvalidRange
from trailhouse.usage.errors import InvalidParameterCombination, InvalidQueryParameter


def describe_user_log_count(ctx: ActionContext) -> dict[str, Any]:
    """DescribeUserLogCount: the account's events per UTC day."""
    days = _days(ctx)
    return _counts(ctx.services.activity.log_counts(ctx.caller.account_id, days))


def describe_user_alert_count(ctx: ActionContext) -> dict[str, Any]:
    """DescribeUserAlertCount: the account's alerts per UTC day."""
    days = _days(ctx)
    return _counts(ctx.services.activity.alert_counts(ctx.caller.account_id, days))


def describe_resource_life_cycle_events(ctx: ActionContext) -> dict[str, Any]:
    """DescribeResourceLifeCycleEvents: per service and resource type, the event names that
    created, deleted, changed, started or stopped the account's resources, as JSON text."""
    service = ctx.params.get("ServiceName") or None
    resource_type = ctx.params.get("ResourceType") or None
    found = ctx.services.activity.lifecycle(
        ctx.caller.account_id, service, resource_type, int(time.time())
    )
    services: dict[str, list[dict[str, Any]]] = {}
    for group in found:
        services.setdefault(group.service_name, []).append(
            {
                "label": group.resource_type,
                "labelEn": group.resource_type,
                "value": group.resource_type,
                "children": [
                    {"label": label, "labelEn": label, "value": ",".join(names)}
                    for label, names in group.groups.items()
                ],
            }
        )
    data = [
        {"label": name, "labelEn": name, "value": name, "children": children}
        for name, children in services.items()
    ]
    return {"Data": orjson.dumps(data).decode()}


def _days(ctx: ActionContext) -> list[dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    try:
        return ctx.services.activity.day_range(
            ctx.params.get("StartDate") or None, ctx.params.get("EndDate") or None, today
        )
    except InvalidRange as error:
        if error.combination:
            raise InvalidParameterCombination(str(error)) from None
        raise InvalidQueryParameter(str(error)) from None


def _counts(counts: DailyCounts) -> dict[str, Any]:
    return {"Data": {"Dates": counts.dates, "Counts": counts.counts}}
