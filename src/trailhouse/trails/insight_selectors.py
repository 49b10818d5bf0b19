"""A trail's insight selector: which types of insight events (eventCategory `Insight`, computed
by `insights/`) the trail delivers, and the rules PutInsightSelectors checks.

A trail delivers no insight event until its selector names the event's type. The selector is
kept in the trail's own document (`Trail.insight_types`), as the data event selector is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from trailhouse.errors import InvalidParameter
from trailhouse.trails.model import Trail
from trailhouse.trails.service import TrailService

INSIGHT_CATEGORY = "Insight"
# ActionTrail's insight types (GetInsightTypes, "Insights event structure"): unusual API call
# rates, API error rates, calls from unusual IP addresses, unusual AccessKey pair call rates.
INSIGHT_TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight", "IpInsight", "AkInsight")
MAX_DOCUMENT_CHARACTERS = 4096
_EXAMPLE = '[{"InsightType":"ApiCallRateInsight"},{"InsightType":"IpInsight"}]'


def check_insight_type(value: str, parameter: str = "InsightType") -> str:
    """`value` when it is an insight type; InvalidParameter naming the valid ones if not."""
    if value not in INSIGHT_TYPES:
        raise InvalidParameter(
            f"{parameter} must be one of {', '.join(INSIGHT_TYPES)}, not {value!r}"
        )
    return value


def parse_insight_selectors(document: str) -> tuple[str, ...]:
    """The insight types an InsightSelectors JSON array names, in order, each once; an empty
    array (or an empty string) selects none."""
    if not document.strip():
        return ()
    if len(document) > MAX_DOCUMENT_CHARACTERS:
        raise InvalidParameter(
            f"InsightSelectors has {len(document)} characters; at most "
            f"{MAX_DOCUMENT_CHARACTERS} are allowed"
        )
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise InvalidParameter(
            f"InsightSelectors must be a JSON array such as {_EXAMPLE}"
        ) from None
    if not isinstance(parsed, list):
        raise InvalidParameter(f"InsightSelectors must be a JSON array such as {_EXAMPLE}")
    chosen: list[str] = []
    for index, item in enumerate(parsed, start=1):
        where = f"InsightSelectors element {index}"
        if not isinstance(item, dict) or set(item) != {"InsightType"}:
            raise InvalidParameter(f'{where} must be an object {{"InsightType": "<type>"}}')
        kind = item["InsightType"]
        check_insight_type(kind if isinstance(kind, str) else repr(kind), f"{where}: InsightType")
        if kind not in chosen:
            chosen.append(kind)
    return tuple(chosen)


def selectors_document(types: tuple[str, ...]) -> str:
    """The InsightSelectors JSON array of `types` (GetInsightSelectors' answer)."""
    return orjson.dumps([{"InsightType": kind} for kind in types]).decode()


def is_insight_event(body: Mapping[str, Any]) -> bool:
    """True for an insight event (eventCategory `Insight`)."""
    return body.get("eventCategory") == INSIGHT_CATEGORY


def captures_insights(trail: Trail) -> Callable[[Mapping[str, Any]], bool]:
    """Whether the trail delivers an insight event (its parsed JSON), as its selector says."""
    chosen = set(trail.insight_types)

    def selects(event: Mapping[str, Any]) -> bool:
        details = event.get("insightDetails")
        return isinstance(details, dict) and details.get("insightType") in chosen

    return selects


class InsightSelectors:
    """The insight selector actions over one TrailService (which keeps the trails)."""

    def __init__(self, trails: TrailService) -> None:
        self._trails = trails

    def put(self, account_id: str, trail_name: str, document: str) -> Trail:
        """Replace the trail's insight selector; nothing changes when a rule refuses it."""
        types = parse_insight_selectors(document)
        now = int(time.time())
        return self._trails.change(
            account_id,
            trail_name,
            lambda trail: replace(trail, insight_types=types, update_time=now),
        )

    def get(self, account_id: str, trail_name: str) -> Trail:
        """The trail, whose `insight_types` is its selector (empty when it has none)."""
        return self._trails.get(account_id, trail_name)
