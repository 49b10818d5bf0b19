"""LookupInsightEvents and GetInsightsEventsCount over an account's stored insight events:
filters, newest-first pages with opaque tokens, and counts per type and region."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trailhouse.errors import InvalidParameter
from trailhouse.insights.detector import START
from trailhouse.insights.service import InsightEvent, InsightService
from trailhouse.trails.insight_selectors import INSIGHT_TYPES

# What each filter reads of an insight event: a field of the event or of its insightDetails.
FILTER_FIELDS = (
    "eventId",
    "insightType",
    "insightObject",
    "eventName",
    "serviceName",
    "sourceIpAddress",
    "accessKeyId",
)


@dataclass(frozen=True, slots=True)
class InsightQuery:
    """One page of insight events: a time range, AND-ed (field, value) filters, a size and
    the token of the page before."""

    account_id: str
    start: int
    end: int
    conditions: tuple[tuple[str, str], ...]
    limit: int
    token: str | None = None


@dataclass(frozen=True, slots=True)
class InsightPage:
    """The events of a page, newest first, and the token of the next ("" at the end)."""

    events: list[dict[str, Any]]
    next_token: str


def _value(body: Mapping[str, Any], field: str) -> object:
    if field == "eventId":
        return body.get("eventId")
    details = body.get("insightDetails")
    return details.get(field) if isinstance(details, dict) else None


def lookup(service: InsightService, query: InsightQuery) -> InsightPage:
    """The page `query` asks for."""
    after = _after(query.token)
    chosen = [
        event
        for event in service.events(query.account_id, query.start, query.end)
        if all(_value(event.body, field) == value for field, value in query.conditions)
        and (after is None or (event.event_time, event.event_id) < after)
    ]
    shown = chosen[: query.limit]
    more = len(chosen) > query.limit
    return InsightPage([e.body for e in shown], _token(shown[-1]) if more else "")


def counts(
    service: InsightService, account_id: str, start: int, end: int
) -> list[tuple[str, str, int]]:
    """How many insights (their start events) each (type, region) had in [start, end]; every
    type appears, with 0 in `default_region` when none."""
    found: Counter[tuple[str, str]] = Counter()
    for event in service.events(account_id, start, end):
        details = event.body.get("insightDetails", {})
        if details.get("state") == START:
            found[(str(details.get("insightType")), str(event.body.get("acsRegion", "")))] += 1
    typed = {kind for kind, _ in found}
    rows = [(kind, region, count) for (kind, region), count in sorted(found.items())]
    return rows + [(kind, "", 0) for kind in INSIGHT_TYPES if kind not in typed]


def _token(event: InsightEvent) -> str:
    raw = f"insights:{event.event_time}:{event.event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str | None) -> tuple[int, str] | None:
    if not token:
        return None
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, moment, event_id = decoded.split(":", 2)
        if prefix != "insights":
            raise ValueError(prefix)
        return int(moment), event_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameter(
            "NextToken is not a token LookupInsightEvents issued; drop it to start over"
        ) from None
