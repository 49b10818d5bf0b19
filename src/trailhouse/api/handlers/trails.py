"""Trail actions (reference §1.3) and DescribeRegions, in ActionTrail's wire shapes."""

from __future__ import annotations

from typing import Any

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.events.validation import format_event_time
from trailhouse.integrity.digester import DigestState
from trailhouse.trail_status import TrailStatus
from trailhouse.trails.model import Destinations, Trail
from trailhouse.trails.service import TrailChanges, TrailSpec

TRAIL_RESOURCE = "ACS::ActionTrail::Trail"

# Wire parameter → Destinations field.
_DESTINATION_PARAMETERS = {
    "OssBucketName": "oss_bucket_name",
    "OssKeyPrefix": "oss_key_prefix",
    "OssWriteRoleArn": "oss_write_role_arn",
    "SlsProjectArn": "sls_project_arn",
    "SlsWriteRoleArn": "sls_write_role_arn",
    "MaxComputeProjectArn": "max_compute_project_arn",
    "MaxComputeWriteRoleArn": "max_compute_write_role_arn",
}


def create_trail(ctx: ActionContext) -> dict[str, Any]:
    """CreateTrail: a new trail in the request's region, status Fresh."""
    name = _trail_name(ctx)
    spec = TrailSpec(
        name=name,
        event_rw=ctx.params.get("EventRW") or None,
        trail_region=ctx.params.get("TrailRegion") or None,
        is_organization_trail=params.boolean(ctx.params, "IsOrganizationTrail", False),
        destinations=Destinations(
            **{
                field: ctx.params.get(parameter, "")
                for parameter, field in _DESTINATION_PARAMETERS.items()
            }
        ),
    )
    trail = ctx.services.trails.create(ctx.caller.account_id, ctx.region, spec)
    return _settings(trail)


def update_trail(ctx: ActionContext) -> dict[str, Any]:
    """UpdateTrail: parameters given replace the trail's; the others are kept."""
    name = _trail_name(ctx)
    changes = TrailChanges(
        event_rw=ctx.params.get("EventRW") or None,
        trail_region=ctx.params.get("TrailRegion") or None,
        **{
            field: ctx.params[parameter]
            for parameter, field in _DESTINATION_PARAMETERS.items()
            if parameter in ctx.params
        },
    )
    return _settings(ctx.services.trails.update(ctx.caller.account_id, name, changes))


def delete_trail(ctx: ActionContext) -> dict[str, Any]:
    """DeleteTrail."""
    ctx.services.trails.delete(ctx.caller.account_id, _trail_name(ctx))
    return {}


def start_logging(ctx: ActionContext) -> dict[str, Any]:
    """StartLogging: the trail's status becomes Enable; it delivers events from now on."""
    ctx.services.start_logging(ctx.caller.account_id, _trail_name(ctx))
    return {}


def stop_logging(ctx: ActionContext) -> dict[str, Any]:
    """StopLogging: the trail's status becomes Disable; what it accepted is still delivered."""
    ctx.services.stop_logging(ctx.caller.account_id, _trail_name(ctx))
    return {}


def describe_trails(ctx: ActionContext) -> dict[str, Any]:
    """DescribeTrails: the trails this region shows, optionally with shadow and org trails."""
    listed = ctx.params.get("NameList")
    names = [n.strip() for n in listed.split(",") if n.strip()] if listed else None
    ctx.resources.extend((TRAIL_RESOURCE, name) for name in names or ())
    views = ctx.services.trails.describe(
        ctx.caller.account_id,
        ctx.region,
        names,
        include_shadow=params.boolean(ctx.params, "IncludeShadowTrails", False),
        include_organization=params.boolean(ctx.params, "IncludeOrganizationTrail", False),
    )
    return {
        "TrailList": [_description(view.trail, ctx.region if view.shadow else "") for view in views]
    }


def get_trail_status(ctx: ActionContext) -> dict[str, Any]:
    """GetTrailStatus: whether the trail logs, and how delivery is going."""
    trail = ctx.services.trails.get(
        ctx.caller.account_id,
        _trail_name(ctx),
        organization=params.boolean(ctx.params, "IsOrganizationTrail", False),
    )
    current = ctx.services.trail_status.status(trail)
    status: dict[str, Any] = {
        "IsLogging": current.is_logging,
        "LatestDeliveryTime": format_event_time(current.latest_delivery_time)
        if current.latest_delivery_time
        else "",
        "LatestDeliveryError": current.latest_delivery_error,
        "LatestDeliveryLogServiceTime": "",
        "LatestDeliveryLogServiceError": "",
        "OssBucketStatus": bool(trail.destinations.oss_bucket_name) and current.is_logging,
        "SlsLogStoreStatus": bool(trail.destinations.sls_project_arn) and current.is_logging,
    }
    status.update(_times(trail, "StartLoggingTime", "StopLoggingTime"))
    if current.delivers_to_warehouse:
        status.update(_delivery_progress(current))
    return status


def _delivery_progress(current: TrailStatus) -> dict[str, Any]:
    """trailhouse's additions to GetTrailStatus: how far MaxCompute delivery has got."""
    watermark = current.delivered_up_to_ms
    return {
        "DeliveryTable": current.delivery_table,
        "DeliveryCheckpoint": current.checkpoint_seq,
        "DeliveryBacklog": current.pending_events,
        "DeliveredEvents": current.delivered_events,
        "DeliveryLagP50Ms": current.lag_p50_ms,
        "DeliveryLagP99Ms": current.lag_p99_ms,
        "DeliveryLagMaxMs": current.lag_max_ms,
        "DeliveredUpTo": _millis(watermark) if watermark else "",
        "DeliveryLostEvents": current.lost_events,
        "DeliveryWorker": current.lease_holder,
        **_digest_status(current.latest_digest),
    }


def _digest_status(digest: DigestState | None) -> dict[str, Any]:
    """The newest signed digest, kept outside the warehouse so a deleted tail is noticed."""
    if digest is None:
        return {"LatestDigestSequence": 0, "LatestDigestEndTime": "", "LatestDigestSha256": ""}
    return {
        "LatestDigestSequence": digest.sequence,
        "LatestDigestEndTime": format_event_time(digest.interval_end),
        "LatestDigestSha256": digest.sha256,
    }


def get_digest_anchor(ctx: ActionContext) -> dict[str, Any]:
    """GetDigestAnchor (trailhouse's own): the trail's newest digest, signed with the time now,
    for `trailhouse verify --anchor` (docs/integrity.md)."""
    trail = ctx.services.trails.get(
        ctx.caller.account_id,
        _trail_name(ctx),
        organization=params.boolean(ctx.params, "IsOrganizationTrail", False),
    )
    return {"Anchor": ctx.services.digest_anchors().anchor(trail).document()}


def list_public_keys(ctx: ActionContext) -> dict[str, Any]:
    """ListPublicKeys: every digest signing key's public half, with its validity window."""
    region = ctx.region if "RegionId" in ctx.params else None
    return {"PublicKeys": [k.published() for k in ctx.services.signing_keys.public_keys(region)]}


def _millis(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{format_event_time(seconds)[:-1]}.{millis:03d}Z"


def describe_regions(ctx: ActionContext) -> dict[str, Any]:
    """DescribeRegions: every region with the endpoint that reaches it."""
    regions = [
        {"RegionId": r.region_id, "RegionEndpoint": r.endpoint, "LocalName": r.local_name}
        for r in ctx.services.regions.all()
    ]
    return {"Regions": {"Region": regions}}


def _trail_name(ctx: ActionContext) -> str:
    name = params.required(ctx.params, "Name")
    ctx.resources.append((TRAIL_RESOURCE, name))
    return name


def _settings(trail: Trail) -> dict[str, Any]:
    d = trail.destinations
    return {
        "Name": trail.name,
        "HomeRegion": trail.home_region,
        "TrailRegion": trail.trail_region,
        "EventRW": trail.event_rw,
        "OssBucketName": d.oss_bucket_name,
        "OssKeyPrefix": d.oss_key_prefix,
        "OssWriteRoleArn": d.oss_write_role_arn,
        "SlsProjectArn": d.sls_project_arn,
        "SlsWriteRoleArn": d.sls_write_role_arn,
        "MaxComputeProjectArn": d.max_compute_project_arn,
        "MaxComputeWriteRoleArn": d.max_compute_write_role_arn,
    }


def _description(trail: Trail, shadow_region: str) -> dict[str, Any]:
    described = _settings(trail)
    described.update(
        {
            "Status": trail.status,
            "Region": shadow_region or trail.home_region,
            "TrailArn": trail.arn,
            "IsOrganizationTrail": trail.is_organization_trail,
            "OssBucketLocation": f"oss-{trail.home_region}"
            if trail.destinations.oss_bucket_name
            else "",
        }
    )
    if trail.is_organization_trail:
        described["OrganizationId"] = trail.organization_id
    described.update(
        _times(trail, "CreateTime", "UpdateTime", "StartLoggingTime", "StopLoggingTime")
    )
    return described


def _times(trail: Trail, *names: str) -> dict[str, str]:
    values = {
        "CreateTime": trail.create_time,
        "UpdateTime": trail.update_time,
        "StartLoggingTime": trail.start_logging_time,
        "StopLoggingTime": trail.stop_logging_time,
    }
    return {name: format_event_time(values[name]) for name in names if values[name]}
