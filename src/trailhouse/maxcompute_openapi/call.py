"""One verified OpenAPI call and the parameter readers every view shares: the region, pages
after an opaque marker, whole numbers and booleans, each refused with what to fix."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trailhouse.iam.principals import Caller
from trailhouse.maxcompute_openapi.errors import InvalidParameter
from trailhouse.runtime import Services

MAX_ITEMS = 1000  # a page when the caller names no maxItem

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OpenApiCall:
    """One verified call: who, in which region, the path's names, the query and the JSON body."""

    services: Services
    caller: Caller
    region: str
    names: tuple[str, ...]
    params: Mapping[str, str]
    body: Mapping[str, Any] = field(default_factory=dict)
    resources: list[tuple[str, str]] = field(default_factory=list)


def region_of(call: OpenApiCall) -> str:
    """The region the call names (`region`), else the one its port serves."""
    region = call.params.get("region") or call.region
    if region not in call.services.regions:
        raise InvalidParameter(
            f"region {region!r} is not one of {', '.join(call.services.regions.ids())}"
        )
    return region


def one_page(
    call: OpenApiCall, items: Sequence[T], key: Callable[[T], str]
) -> tuple[list[T], str, int]:
    """One page of `items` after the caller's `marker`, with the marker of the next page."""
    max_items = whole(call.params.get("maxItem"), "maxItem", MAX_ITEMS, 1, 10_000)
    after = _decode_marker(call.params.get("marker", ""))
    start = 0
    if after:
        start = next((i for i, item in enumerate(items) if key(item) == after), len(items)) + 1
    page = list(items[start : start + max_items])
    more = start + max_items < len(items)
    marker = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more and page else ""
    return page, marker, max_items


def _decode_marker(marker: str) -> str:
    if not marker:
        return ""
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameter(
            f"marker {marker!r} is not one this server returned; pass the marker of the "
            "previous page unchanged"
        ) from None


def whole(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """`text` as a whole number from `low` to `high` (`default` when absent)."""
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidParameter(f"{name} {text!r}: use a whole number from {low} to {high}")
    return int(text)


def boolean(text: str, name: str) -> bool:
    """`true` or `false`, in any case."""
    if text.lower() not in ("true", "false"):
        raise InvalidParameter(f"{name} {text!r}: use true or false")
    return text.lower() == "true"
