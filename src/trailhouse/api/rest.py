"""What the warehouse's two REST edges share (`odps_api/` for PyODPS, `maxcompute_openapi/` for
the OpenAPI SDK): matching a path against a route's pattern, and paging a catalog list after an
opaque marker. Each edge words the refusals in its own wire errors, so the readers here raise
`BadParameter` with the part of the message that says what to fix."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_ITEMS = 1000  # a page when the caller names no page size


class BadParameter(ValueError):
    """A parameter the caller must fix; the message names it and says how."""


def path_names(pattern: Sequence[str], segments: Sequence[str]) -> tuple[str, ...] | None:
    """The names a route's `*`s stand for in `segments`, or None when the path is not of that
    pattern (another length, another literal part, or an empty name)."""
    if len(pattern) != len(segments) or not all(segments):
        return None
    if any(p != "*" and p != s for p, s in zip(pattern, segments, strict=True)):
        return None
    return tuple(s for p, s in zip(pattern, segments, strict=True) if p == "*")


def page_after(
    items: Sequence[T], key: Callable[[T], str], marker: str, max_items: int, answered_as: str
) -> tuple[list[T], str]:
    """The `max_items` items after the one `marker` names (from the first without one), and the
    marker of the next page ("" on the last), which the edge answers as `answered_as`."""
    after = _decode_marker(marker, answered_as)
    start = 0
    if after:
        start = next((i for i, item in enumerate(items) if key(item) == after), len(items)) + 1
    page = list(items[start : start + max_items])
    more = start + max_items < len(items)
    following = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more and page else ""
    return page, following


def _decode_marker(marker: str, answered_as: str) -> str:
    if not marker:
        return ""
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadParameter(
            f"marker {marker!r} is not one this server returned; pass the "
            f"{answered_as} of the previous page unchanged"
        ) from None


def whole(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """`text` as a whole number from `low` to `high` (`default` when absent)."""
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadParameter(f"{name} {text!r}: use a whole number from {low} to {high}")
    return int(text)
