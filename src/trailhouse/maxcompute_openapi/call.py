"""One verified OpenAPI call and the parameter readers every view shares: the region, pages
after an opaque marker, whole numbers and booleans, each refused with what to fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trailhouse.api import rest
from trailhouse.iam.principals import Caller
from trailhouse.maxcompute_openapi.errors import InvalidParameter
from trailhouse.runtime import Services

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
    max_items = whole(call.params.get("maxItem"), "maxItem", rest.MAX_ITEMS, 1, 10_000)
    try:
        page, marker = rest.page_after(
            items, key, call.params.get("marker", ""), max_items, "marker"
        )
    except rest.BadParameter as exc:
        raise InvalidParameter(str(exc)) from None
    return page, marker, max_items


def whole(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """`text` as a whole number from `low` to `high` (`default` when absent)."""
    try:
        return rest.whole(text, name, default, low, high)
    except rest.BadParameter as exc:
        raise InvalidParameter(str(exc)) from None


def boolean(text: str, name: str) -> bool:
    """`true` or `false`, in any case."""
    if text.lower() not in ("true", "false"):
        raise InvalidParameter(f"{name} {text!r}: use true or false")
    return text.lower() == "true"
