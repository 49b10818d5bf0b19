"""Data event selectors and the global events storage region, in ActionTrail's wire shapes:
PutDataEventSelector, GetDataEventSelector, DeleteDataEventSelector, ListDataEventSelectors,
ListDataEventServices, GetGlobalEventsStorageRegion and UpdateGlobalEventsStorageRegion."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.api.handlers.trails import TRAIL_RESOURCE
from trailhouse.errors import InvalidParameter
from trailhouse.events.validation import format_event_time
from trailhouse.trails.data_events import (
    DATA_EVENT_SERVICES,
    DataEventSelectors,
    SelectorSpec,
)
from trailhouse.trails.model import Trail

DEFAULT_MAX_RESULTS = 20
MAX_RESULTS_LIMIT = 100


def put_data_event_selector(ctx: ActionContext) -> dict[str, Any]:
    """PutDataEventSelector: create or replace the trail's data event selector."""
    name = _trail_name(ctx)
    spec = SelectorSpec(
        trail_name=name,
        document=params.required(ctx.params, "EventSelectors"),
        all_regions=params.boolean(ctx.params, "IsTrailAllRegion", False)
        if ctx.params.get("IsTrailAllRegion")
        else None,
        region_ids=ctx.params.get("TrailRegionIds") or None,
    )
    trail = _selectors(ctx).put(ctx.caller.account_id, spec)
    return {"DataEventSelectors": trail.data_events.document, "TrailArn": trail.arn}


def get_data_event_selector(ctx: ActionContext) -> dict[str, Any]:
    """GetDataEventSelector: the trail's selector; empty when it has none (as ActionTrail, so
    that Terraform's refresh of a trail without one succeeds)."""
    trail = _selectors(ctx).get(ctx.caller.account_id, _trail_name(ctx))
    return {
        "DataEventSelectors": trail.data_events.document,
        "IsTrailAllRegion": trail.data_events.all_regions,
        "SlsDeliveryConfigs": _sls_configs(ctx, trail),
        "TrailArn": trail.arn,
    }


def delete_data_event_selector(ctx: ActionContext) -> dict[str, Any]:
    """DeleteDataEventSelector: the trail delivers no data event from now on."""
    _selectors(ctx).delete(ctx.caller.account_id, _trail_name(ctx))
    return {}


def list_data_event_selectors(ctx: ActionContext) -> dict[str, Any]:
    """ListDataEventSelectors: the account's trails that have a selector, by name."""
    limit = _max_results(ctx)
    after = _after(ctx)
    page = _selectors(ctx).page(ctx.caller.account_id, after, limit)
    infos = [
        {
            "EventSelectors": trail.data_events.document,
            "IsTrailAllRegion": trail.data_events.all_regions,
            "SlsDeliveryConfigs": _sls_configs(ctx, trail),
            "TrailArn": trail.arn,
            "TrailName": trail.name,
        }
        for trail in page.trails
    ]
    return {"Data": _paged({"DataEventSelectorInfos": infos}, limit, page.next_after)}


def list_data_event_services(ctx: ActionContext) -> dict[str, Any]:
    """ListDataEventServices: the services whose data events a selector may name."""
    limit = _max_results(ctx)
    after = _after(ctx)
    names = sorted(name for name in DATA_EVENT_SERVICES if after is None or name > after)
    shown = names[:limit]
    infos = [{"ServiceName": name, "EventNames": list(DATA_EVENT_SERVICES[name])} for name in shown]
    following = shown[-1] if len(names) > limit else None
    return {"Data": _paged({"ServiceInfos": infos}, limit, following)}


def get_global_events_storage_region(ctx: ActionContext) -> dict[str, Any]:
    """GetGlobalEventsStorageRegion: where the account's global events are stored."""
    return {"StorageRegion": ctx.services.trails.global_events.region_of(ctx.caller.account_id)}


def update_global_events_storage_region(ctx: ActionContext) -> dict[str, Any]:
    """UpdateGlobalEventsStorageRegion: store (and show) the account's global events in a
    served region from now on."""
    region = ctx.services.trails.global_events.update(
        ctx.caller.account_id, params.required(ctx.params, "StorageRegion")
    )
    return {"StorageRegion": region}


def _selectors(ctx: ActionContext) -> DataEventSelectors:
    return DataEventSelectors(ctx.services.trails, ctx.services.regions)


def _trail_name(ctx: ActionContext) -> str:
    name = params.required(ctx.params, "TrailName")
    ctx.resources.append((TRAIL_RESOURCE, name))
    return name


def _sls_configs(ctx: ActionContext, trail: Trail) -> list[dict[str, str]]:
    """One entry per region whose data events the trail takes, when it names an SLS project
    (kept for later, as its other SLS settings: trailhouse delivers to MaxCompute)."""
    settings = trail.data_events
    if not settings.document or not trail.destinations.sls_project_arn:
        return []
    regions = ctx.services.regions.ids() if settings.all_regions else settings.region_ids
    return [
        {
            "TrailRegion": region,
            "RegionSlsProjectArn": trail.destinations.sls_project_arn,
            "Status": "success",
            "CreateTime": format_event_time(settings.create_time),
            "ErrorCode": "",
            "ErrorMessage": "",
        }
        for region in regions
    ]


def _max_results(ctx: ActionContext) -> int:
    return params.integer(ctx.params, "MaxResults", DEFAULT_MAX_RESULTS, 1, MAX_RESULTS_LIMIT)


def _paged(body: dict[str, Any], limit: int, following: str | None) -> dict[str, Any]:
    body["MaxResults"] = limit
    body["NextToken"] = _token(following) if following is not None else ""
    return body


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(f"after:{name}".encode()).decode().rstrip("=")


def _after(ctx: ActionContext) -> str | None:
    """The name a NextToken continues after; InvalidParameter for one this server did not issue."""
    token = ctx.params.get("NextToken")
    if not token:
        return None
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.startswith("after:"):
        raise InvalidParameter("NextToken is not a token this server issued; drop it to start over")
    return decoded[len("after:") :]
