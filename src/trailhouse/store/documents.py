"""Frozen dataclasses as control-plane documents: encode, decode, read with their version."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, TypeVar

import orjson

from trailhouse.store.ports import MetadataStore

T = TypeVar("T")


def encode(value: Any) -> bytes:
    """The JSON body of a dataclass document."""
    return orjson.dumps(dataclasses.asdict(value))


def decode(kind: type[T], body: bytes) -> T:
    """A dataclass from its JSON body (nested dataclasses and tuples restored)."""
    built: T = _build(kind, orjson.loads(body))
    return built


# Resolving a class's annotations is far slower than decoding a document: once per class.
_hints = functools.cache(typing.get_type_hints)


def _build(kind: Any, data: Any) -> Any:
    if isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(data, dict):
        hints = _hints(kind)
        return kind(**{name: _build(hints[name], value) for name, value in data.items()})
    if typing.get_origin(kind) is tuple and isinstance(data, list):
        item = typing.get_args(kind)[0] if typing.get_args(kind) else Any
        return tuple(_build(item, value) for value in data)
    return data


def read(
    store: MetadataStore, kind: type[T], kind_name: str, scope: str, name: str
) -> tuple[T | None, int]:
    """The document decoded, and its version (0 when it does not exist)."""
    document = store.get_document(kind_name, scope, name)
    if document is None:
        return None, 0
    return decode(kind, document.body), document.version
