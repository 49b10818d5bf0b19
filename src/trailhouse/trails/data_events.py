"""A trail's data event selector: which services' data events (reads and writes of data objects,
events of eventCategory `Data`) the trail delivers, and the rules PutDataEventSelector checks.

A trail delivers no data event until a selector asks for it; management events are untouched by
it. The selector is kept in the trail's own document (`Trail.data_events`), so it goes with the
trail and the delivery engine reads it from the trail it already holds (`captures`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from trailhouse.errors import InvalidParameter, MissingParameter
from trailhouse.regions import Regions
from trailhouse.trails.model import DataEvents, DataEventSelector, Trail
from trailhouse.trails.service import TrailService

MAX_SELECTORS = 20
# A selector is kept in its trail's document, read at every delivery pass: bounded.
MAX_DOCUMENT_CHARACTERS = 32768
READ_WRITE_TYPES = ("Read", "Write", "All")
# The services whose data events trailhouse knows, with the event names each one records
# (ActionTrail's OSS data events, product overview "OSS data events"). A selector may name
# other event names of a listed service: producers may record newer ones.
DATA_EVENT_SERVICES: Mapping[str, tuple[str, ...]] = {
    "Oss": (
        "AppendObject",
        "CleanRestoredObject",
        "CompleteMultipartUpload",
        "CopyObject",
        "CopyObjects",
        "CreateSelectObjectMeta",
        "DeleteMultipleObjects",
        "DeleteObject",
        "DeleteObjectTagging",
        "GetObject",
        "GetObjectAcl",
        "GetObjectMeta",
        "GetObjectTagging",
        "GetObjects",
        "GetSymlink",
        "HeadObject",
        "InitiateMultipartUpload",
        "ListObjectVersions",
        "ListObjects",
        "ListObjectsV2",
        "ListParts",
        "PostObject",
        "PutObject",
        "PutObjectAcl",
        "PutObjectTagging",
        "PutSymlink",
        "RestoreObject",
        "SelectObject",
        "UploadPart",
        "UploadPartCopy",
    ),
}
_MATCH_FIELDS = ("EventName", "ResourceArn")
_SELECTOR_FIELDS = ("ServiceName", "ReadWriteType", *_MATCH_FIELDS)
_SEPARATORS = re.compile(r"[,;]")


@dataclass(frozen=True, slots=True)
class SelectorSpec:
    """What PutDataEventSelector asks for (regions None = not given)."""

    trail_name: str
    document: str
    all_regions: bool | None = None
    region_ids: str | None = None


def parse_selectors(document: str) -> tuple[DataEventSelector, ...]:
    """The selectors of an EventSelectors JSON array; InvalidParameter names what is wrong."""
    if not document.strip():
        raise MissingParameter("the parameter EventSelectors is required")
    if len(document) > MAX_DOCUMENT_CHARACTERS:
        raise InvalidParameter(
            f"EventSelectors has {len(document)} characters; at most {MAX_DOCUMENT_CHARACTERS} "
            "are allowed (list fewer event names or resources)"
        )
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise InvalidParameter(
            'EventSelectors must be a JSON array such as [{"ServiceName":"Oss",'
            '"ReadWriteType":"All"}]'
        ) from None
    if not isinstance(parsed, list):
        raise InvalidParameter("EventSelectors must be a JSON array of selector objects")
    if len(parsed) > MAX_SELECTORS:
        raise InvalidParameter(
            f"EventSelectors holds {len(parsed)} selectors; at most {MAX_SELECTORS} are allowed"
        )
    return tuple(_selector(index, item) for index, item in enumerate(parsed, start=1))


def _selector(index: int, item: Any) -> DataEventSelector:
    where = f"EventSelectors element {index}"
    if not isinstance(item, dict):
        raise InvalidParameter(f"{where} must be a JSON object with ServiceName")
    unknown = sorted(set(item) - set(_SELECTOR_FIELDS))
    if unknown:
        raise InvalidParameter(
            f"{where} has unknown fields {', '.join(unknown)}; the fields are "
            f"{', '.join(_SELECTOR_FIELDS)}"
        )
    service = item.get("ServiceName")
    if service not in DATA_EVENT_SERVICES:
        raise InvalidParameter(
            f"{where}: ServiceName must be one of {', '.join(DATA_EVENT_SERVICES)} "
            f"(ListDataEventServices), not {service!r}"
        )
    read_write = item.get("ReadWriteType", "All")
    if read_write not in READ_WRITE_TYPES:
        raise InvalidParameter(
            f"{where}: ReadWriteType must be Read, Write or All, not {read_write!r}"
        )
    names = _condition(where, item, "EventName")
    arns = _condition(where, item, "ResourceArn")
    return DataEventSelector(str(service), read_write, *names, *arns)


def _condition(where: str, item: Mapping[str, Any], field: str) -> tuple[tuple[str, ...], bool]:
    """A field's values and whether they are NotEquals (an absent field matches everything)."""
    condition = item.get(field)
    if condition is None:
        return (), False
    if not isinstance(condition, dict) or len(condition) != 1:
        raise InvalidParameter(
            f'{where}: {field} must be {{"Equals": [...]}} or {{"NotEquals": [...]}}, one of them'
        )
    ((operator, values),) = condition.items()
    if operator not in {"Equals", "NotEquals"}:
        raise InvalidParameter(f"{where}: {field} takes Equals or NotEquals, not {operator!r}")
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise InvalidParameter(f"{where}: {field}.{operator} must be a list of non-empty strings")
    return tuple(values), operator == "NotEquals"


def check_regions(
    spec: SelectorSpec, trail: Trail, regions: Regions
) -> tuple[bool, tuple[str, ...]]:
    """Whether the selector covers every region, and else which (default: the trail's home)."""
    if spec.all_regions:
        return True, ()
    if not spec.region_ids:
        return False, (trail.home_region,)
    wanted = tuple(dict.fromkeys(p.strip() for p in spec.region_ids.split(",") if p.strip()))
    unknown = [region for region in wanted if region not in regions]
    if not wanted or unknown:
        raise InvalidParameter(
            f"TrailRegionIds must be regions of this installation ({', '.join(regions.ids())})"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return False, wanted


def with_selector(trail: Trail, spec: SelectorSpec, regions: Regions) -> Trail:
    """The trail with the selector `spec` describes (every rule checked first)."""
    selectors = parse_selectors(spec.document)
    all_regions, region_ids = check_regions(spec, trail, regions)
    now = int(time.time())
    created = trail.data_events.create_time if trail.data_events.document else now
    settings = DataEvents(spec.document, selectors, all_regions, region_ids, created, now)
    return replace(trail, data_events=settings, update_time=now)


def without_selector(trail: Trail) -> Trail:
    """The trail with no selector: it delivers no data event."""
    return replace(trail, data_events=DataEvents(), update_time=int(time.time()))


def captures(trail: Trail) -> Callable[[Mapping[str, Any]], bool]:
    """Whether the trail delivers a data event (its parsed JSON), as its selector says."""
    settings = trail.data_events
    if not settings.selectors:
        return lambda event: False

    def selects(event: Mapping[str, Any]) -> bool:
        region = str(event.get("acsRegion", ""))
        if not (settings.all_regions or region in settings.region_ids):
            return False
        return any(_matches(selector, event, region) for selector in settings.selectors)

    return selects


def _matches(selector: DataEventSelector, event: Mapping[str, Any], region: str) -> bool:
    service = str(event.get("serviceName", ""))
    if service.lower() != selector.service_name.lower():
        return False
    if selector.read_write_type != "All" and event.get("eventRW") != selector.read_write_type:
        return False
    if selector.event_names:
        named = event.get("eventName") in selector.event_names
        if named == selector.event_names_negated:
            return False
    if selector.resource_arns:
        account = str(event.get("recipientAccountId") or "")
        arns = _resource_arns(event, service.lower(), region, account)
        hit = any(_arn_matches(pattern, arn) for pattern in selector.resource_arns for arn in arns)
        if hit == selector.resource_arns_negated:
            return False
    return True


def _resource_arns(event: Mapping[str, Any], service: str, region: str, account: str) -> list[str]:
    """Each resource the event names, as its name and as `acs:<service>:<region>:<account>:…`."""
    named = event.get("resourceName")
    names = [n.strip() for n in _SEPARATORS.split(named) if n.strip()] if named else []
    return [*names, *(f"acs:{service}:{region}:{account}:{name}" for name in names)]


def _arn_matches(pattern: str, arn: str) -> bool:
    if pattern.endswith("*"):
        return arn.startswith(pattern[:-1])
    return arn == pattern


@dataclass(frozen=True, slots=True)
class SelectorPage:
    """One page of trails with a selector, and the name to continue after (None at the end)."""

    trails: list[Trail]
    next_after: str | None


class DataEventSelectors:
    """The data event selector actions over one TrailService (which keeps the trails)."""

    def __init__(self, trails: TrailService, regions: Regions) -> None:
        self._trails = trails
        self._regions = regions

    def put(self, account_id: str, spec: SelectorSpec) -> Trail:
        """Create or replace the trail's selector; nothing changes when a rule refuses it."""
        parse_selectors(spec.document)  # refuse a bad document before the trail is read
        return self._trails.change(
            account_id, spec.trail_name, lambda trail: with_selector(trail, spec, self._regions)
        )

    def get(self, account_id: str, trail_name: str) -> Trail:
        """The trail, whose `data_events` is its selector (empty when it has none)."""
        return self._trails.get(account_id, trail_name)

    def delete(self, account_id: str, trail_name: str) -> Trail:
        """Remove the trail's selector (a trail without one answers as deleted)."""
        return self._trails.change(account_id, trail_name, without_selector)

    def page(self, account_id: str, after: str | None, limit: int) -> SelectorPage:
        """The account's trails with a selector, by name, after the name `after`."""
        chosen = sorted(
            (t for t in self._trails.owned(account_id) if t.data_events.document),
            key=lambda t: t.name,
        )
        if after is not None:
            chosen = [t for t in chosen if t.name > after]
        more = len(chosen) > limit
        shown = chosen[:limit]
        return SelectorPage(shown, shown[-1].name if more else None)
