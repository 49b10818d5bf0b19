"""Access key usage (GetAccessKeyLastUsed*): the wire shapes over `usage/access_keys.py`."""

from __future__ import annotations

import time
from typing import Any

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.errors import EntityNotExistUserAccessKey, InvalidParameter
from trailhouse.usage.access_keys import Distinct, KeyUse, ScanResult, UnknownAccessKey
from trailhouse.usage.pages import InvalidToken, fingerprint, page_of

KEY_RESOURCE = "ACS::RAM::AccessKey"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def get_access_key_last_used_info(ctx: ActionContext) -> dict[str, Any]:
    """GetAccessKeyLastUsedInfo: the key's owner and its newest use."""
    key_id = _key(ctx)
    usage = ctx.services.key_usage
    try:
        last = usage.last_used(ctx.caller.account_id, key_id, int(time.time()))
    except UnknownAccessKey:
        raise _unknown(ctx, key_id) from None
    use = last.use
    return {
        "AccessKeyId": key_id,
        "AccountId": last.owner.account_id,
        "OwnerId": last.owner.account_id,
        "AccountType": last.owner.account_type,
        "UserName": last.owner.user_name,
        "ServiceName": use.service_name if use else "",
        "ServiceNameCn": use.service_name if use else "",
        "ServiceNameEn": use.service_name if use else "",
        "Source": use.source if use else "",
        "UsedTimestamp": use.used_ms if use else 0,
        "Detail": use.detail if use else "",
    }


def get_access_key_last_used_products(ctx: ActionContext) -> dict[str, Any]:
    """GetAccessKeyLastUsedProducts: every service the key was used for, newest first."""
    key_id = _key(ctx)
    try:
        found = ctx.services.key_usage.products(ctx.caller.account_id, key_id, int(time.time()))
    except UnknownAccessKey:
        raise _unknown(ctx, key_id) from None
    return {
        "Products": [
            {
                "ServiceName": use.service_name,
                "ServiceNameCn": use.service_name,
                "ServiceNameEn": use.service_name,
                "Source": use.source,
                "UsedTimestamp": use.used_ms,
                "Detail": use.detail,
            }
            for use in found.uses
        ]
    }


def get_access_key_last_used_events(ctx: ActionContext) -> dict[str, Any]:
    """GetAccessKeyLastUsedEvents: the key's event names within a service, newest use each."""
    uses, token = _per_service(ctx, Distinct.EVENTS)
    events = [
        {
            "EventName": use.event_name,
            "Source": use.source,
            "UsedTimestamp": use.used_ms,
            "Detail": use.detail,
        }
        for use in uses
    ]
    return {"Events": events, **_next(token)}


def get_access_key_last_used_ips(ctx: ActionContext) -> dict[str, Any]:
    """GetAccessKeyLastUsedIps: the IP addresses the key was used from within a service."""
    uses, token = _per_service(ctx, Distinct.IPS)
    ips = [
        {"Ip": use.ip, "Source": use.source, "UsedTimestamp": use.used_ms, "Detail": use.detail}
        for use in uses
    ]
    return {"Ips": ips, **_next(token)}


def get_access_key_last_used_resources(ctx: ActionContext) -> dict[str, Any]:
    """GetAccessKeyLastUsedResources: the resources the key acted on within a service."""
    uses, token = _per_service(ctx, Distinct.RESOURCES)
    resources = [
        {
            "ResourceType": use.resource_type,
            "ResourceName": use.resource_name,
            "Source": use.source,
            "UsedTimestamp": use.used_ms,
            "Detail": use.detail,
        }
        for use in uses
    ]
    return {"Resources": resources, **_next(token)}


def _per_service(ctx: ActionContext, what: Distinct) -> tuple[list[KeyUse], str | None]:
    key_id = _key(ctx)
    service = params.required(ctx.params, "ServiceName")
    size = params.integer(ctx.params, "PageSize", DEFAULT_PAGE_SIZE, 0, MAX_PAGE_SIZE)
    size = size or DEFAULT_PAGE_SIZE
    token = ctx.params.get("NextToken") or None
    question = fingerprint(ctx.caller.account_id, ctx.action, key_id, service, str(size))
    try:
        found: ScanResult = ctx.services.key_usage.per_service(
            ctx.caller.account_id, key_id, service, what, int(time.time())
        )
        page = page_of(found.uses, token, size, question)
    except UnknownAccessKey:
        raise _unknown(ctx, key_id) from None
    except InvalidToken as error:
        raise InvalidParameter(str(error)) from None
    return page.items, page.next_token


def _key(ctx: ActionContext) -> str:
    key_id = params.required(ctx.params, "AccessKey")
    if len(key_id) > 128 or not key_id.isascii() or not key_id.replace(".", "").isalnum():
        raise InvalidParameter(
            "AccessKey must be an AccessKey ID: up to 128 ASCII letters, digits and dots"
        )
    ctx.resources.append((KEY_RESOURCE, key_id))
    return key_id


def _unknown(ctx: ActionContext, key_id: str) -> EntityNotExistUserAccessKey:
    days = ctx.services.key_usage.window_days
    return EntityNotExistUserAccessKey(
        f"the access key {key_id} is not a key of account {ctx.caller.account_id}, and no "
        f"event of the account in the last {days} days was signed with it"
    )


def _next(token: str | None) -> dict[str, Any]:
    return {"NextToken": token} if token else {}
