"""Reading RPC query parameters: required values, booleans, integers, times and N-lists.

Every failure raises `MissingParameter` or `InvalidParameter` with a message that names the
parameter and says what a valid value looks like. Numbers and times take ASCII digits only:
Python's `int()`, `str.isdigit()` and `\\d` also take other scripts' digits (fullwidth `２`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trailhouse.errors import InvalidParameter, InvalidParameterTooDeep, MissingParameter
from trailhouse.events.validation import EVENT_TIME_RULE, parse_event_time
from trailhouse.jsonlimits import MAX_DOCUMENT_DEPTH

_INDEXED = re.compile(r"(?P<name>[A-Za-z]+)\.(?P<index>[0-9]{1,9})\.(?P<field>[A-Za-z]+)", re.ASCII)
_INTEGER = re.compile(r"-?[0-9]{1,18}", re.ASCII)


def required(params: Mapping[str, str], name: str) -> str:
    """The value of a required parameter."""
    value = params.get(name)
    if value is None or value == "":
        raise MissingParameter(f"the parameter {name} is required")
    return value


def boolean(params: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean sent as true/false in any case (the Python SDK sends True/False)."""
    value = params.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered not in {"true", "false"}:
        raise InvalidParameter(f"{name} must be true or false, not {value!r}")
    return lowered == "true"


def integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer within [low, high]."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if _INTEGER.fullmatch(value) is None:
        raise InvalidParameter(
            f"{name} must be an integer from {low} to {high} in ASCII digits, not {value!r}"
        )
    number = int(value)
    if not low <= number <= high:
        raise InvalidParameter(f"{name} must be from {low} to {high}, not {number}")
    return number


def optional_timestamp(params: Mapping[str, str], name: str) -> int | None:
    """A UTC time `YYYY-MM-DDThh:mm:ssZ` as seconds since the epoch, or None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_event_time(value)
    except ValueError:
        raise InvalidParameter(
            f"{name} {value!r} {EVENT_TIME_RULE}, e.g. 2025-03-04T08:15:42Z"
        ) from None


def choice(params: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed`, matched exactly."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise InvalidParameter(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def indexed_list(params: Mapping[str, str], name: str) -> list[dict[str, str]]:
    """A flattened list `Name.N.Field=value` (N from 1) as a list of {Field: value}, in N order."""
    items: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        match = _INDEXED.fullmatch(key)
        if match is None or match["name"] != name:
            continue
        items.setdefault(int(match["index"]), {})[match["field"]] = value
    return [items[index] for index in sorted(items)]


def unflatten(params: Mapping[str, str], name: str) -> list[Any] | None:
    """Rebuild the list the SDK flattened into `Name.N.field.sub…` form fields (N from 1).

    The SDK's legacy (V2) signature path sends a JSON body this way: every value becomes a
    string, nested objects join their keys with dots and lists count from 1. Returns None when
    no such field exists.
    """
    prefix = name + "."
    root: dict[str, Any] = {}
    for key, value in params.items():
        if not key.startswith(prefix):
            continue
        node = root
        *path, leaf = key[len(prefix) :].split(".")
        if len(path) >= MAX_DOCUMENT_DEPTH:  # rebuilding recurses once per level
            raise InvalidParameterTooDeep(
                f"the form field {_shown(key)} nests more than {MAX_DOCUMENT_DEPTH} levels deep"
            )
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidParameter(f"the form field {key} conflicts with {prefix}{part}")
            node = child
        node[leaf] = value
    if not root:
        return None
    rebuilt = _lists(root)
    if not isinstance(rebuilt, list):
        raise InvalidParameter(f"the form fields {prefix}N… must be numbered from 1")
    return rebuilt


def _lists(node: Any) -> Any:
    """Dicts whose keys are exactly 1..n become lists, recursively."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isascii() and key.isdigit() for key in converted):
        indexes = sorted(int(key) for key in converted)
        if indexes == list(range(1, len(indexes) + 1)):
            return [converted[str(index)] for index in indexes]
    return converted


def _shown(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
