"""ActionTrail Insights in their wire shapes: GetInsightTypes, EnableInsight, DisableInsight,
PutInsightSelectors, GetInsightSelectors, LookupInsightEvents and GetInsightsEventsCount."""

from __future__ import annotations

import time
from typing import Any

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.api.handlers.trails import TRAIL_RESOURCE
from trailhouse.errors import InvalidParameter
from trailhouse.events.validation import format_event_time, parse_event_time
from trailhouse.insights.lookup import InsightQuery, counts, lookup
from trailhouse.trails.insight_selectors import InsightSelectors, selectors_document

DEFAULT_MAX_RESULTS = 20
MAX_RESULTS_LIMIT = 50
DEFAULT_DAYS = 7
# LookupInsightEvents' LookupAttribute keys and the insight event field each one matches.
_KEYS = {
    "EventId": "eventId",
    "InsightType": "insightType",
    "InsightObject": "insightObject",
    "EventName": "eventName",
    "ServiceName": "serviceName",
    "SourceIpAddress": "sourceIpAddress",
    "AccessKeyId": "accessKeyId",
}
MAX_ATTRIBUTES = 2


def get_insight_types(ctx: ActionContext) -> dict[str, Any]:
    """GetInsightTypes: every insight type, Enable or Disable for the caller's account."""
    types = ctx.services.insights.types(ctx.caller.account_id)
    return {"InsightTypes": {k: "Enable" if on else "Disable" for k, on in types.items()}}


def enable_insight(ctx: ActionContext) -> dict[str, Any]:
    """EnableInsight: start computing one insight type over the account's events."""
    ctx.services.insights.enable(ctx.caller.account_id, params.required(ctx.params, "InsightType"))
    return {}


def disable_insight(ctx: ActionContext) -> dict[str, Any]:
    """DisableInsight: stop computing one insight type (recorded insight events stay)."""
    ctx.services.insights.disable(ctx.caller.account_id, params.required(ctx.params, "InsightType"))
    return {}


def put_insight_selectors(ctx: ActionContext) -> dict[str, Any]:
    """PutInsightSelectors: which insight types the trail delivers ("[]" none)."""
    name = _trail_name(ctx)
    document = ctx.params.get("InsightSelectors", "")
    trail = InsightSelectors(ctx.services.trails).put(ctx.caller.account_id, name, document)
    return {"InsightSelectors": selectors_document(trail.insight_types), "TrailArn": trail.arn}


def get_insight_selectors(ctx: ActionContext) -> dict[str, Any]:
    """GetInsightSelectors: the trail's insight selector ("[]" when it has none)."""
    trail = InsightSelectors(ctx.services.trails).get(ctx.caller.account_id, _trail_name(ctx))
    return {"InsightSelectors": selectors_document(trail.insight_types), "TrailArn": trail.arn}


def lookup_insight_events(ctx: ActionContext) -> dict[str, Any]:
    """LookupInsightEvents: one page of the account's insight events, newest first."""
    start, end = _range(ctx)
    query = InsightQuery(
        account_id=ctx.caller.account_id,
        start=start,
        end=end,
        conditions=_conditions(ctx),
        limit=params.integer(ctx.params, "MaxResults", DEFAULT_MAX_RESULTS, 1, MAX_RESULTS_LIMIT),
        token=ctx.params.get("NextToken") or None,
    )
    page = lookup(ctx.services.insights, query)
    return {"Events": page.events, "NextToken": page.next_token}


def get_insights_events_count(ctx: ActionContext) -> dict[str, Any]:
    """GetInsightsEventsCount: how many insights of each type began in the range (or Date)."""
    date = ctx.params.get("Date")
    if date:
        try:
            start = parse_event_time(f"{date}T00:00:00Z")
        except ValueError:
            raise InvalidParameter(f"Date must be a day YYYY-MM-DD, not {date!r}") from None
        end = start + 86399
    else:
        start, end = _range(ctx)
    rows = counts(ctx.services.insights, ctx.caller.account_id, start, end)
    data = [
        {"InsightType": kind, "RegionId": region or ctx.region, "Count": count}
        for kind, region, count in rows
    ]
    return {"Data": data, "NextToken": ""}


def _range(ctx: ActionContext) -> tuple[int, int]:
    now = int(time.time())
    end = params.optional_timestamp(ctx.params, "EndTime")
    end = now if end is None else end
    start = params.optional_timestamp(ctx.params, "StartTime")
    start = end - DEFAULT_DAYS * 86400 if start is None else start
    if start > end:
        raise InvalidParameter(
            f"StartTime {format_event_time(start)} is after EndTime {format_event_time(end)}"
        )
    return start, end


def _conditions(ctx: ActionContext) -> tuple[tuple[str, str], ...]:
    attributes = params.indexed_list(ctx.params, "LookupAttribute")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameter(
            f"LookupAttribute takes at most {MAX_ATTRIBUTES} items, not {len(attributes)}"
        )
    found = []
    for number, attribute in enumerate(attributes, 1):
        key = attribute.get("Key", "")
        if key not in _KEYS:
            raise InvalidParameter(
                f"LookupAttribute.{number}.Key {key!r} must be one of {', '.join(_KEYS)}"
            )
        value = attribute.get("Value", "")
        if not value:
            raise InvalidParameter(f"LookupAttribute.{number}.Value is required for Key {key}")
        found.append((_KEYS[key], value))
    return tuple(found)


def _trail_name(ctx: ActionContext) -> str:
    name = params.required(ctx.params, "TrailName")
    ctx.resources.append((TRAIL_RESOURCE, name))
    return name
