"""Value types of the event path: what the recorder hands to the log and what readers get back.

An event travels as its compact JSON (`body`) plus the few fields extracted from it that the
log needs to sequence, deduplicate and index it. Times are whole seconds since the epoch (UTC),
the precision of ActionTrail's `eventTime`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import msgspec


class LookupKey(enum.Enum):
    """The LookupEvents attributes, valued by their wire names."""

    SERVICE_NAME = "ServiceName"
    EVENT_NAME = "EventName"
    USER = "User"
    EVENT_ID = "EventId"
    RESOURCE_TYPE = "ResourceType"
    RESOURCE_NAME = "ResourceName"
    EVENT_RW = "EventRW"
    EVENT_ACCESS_KEY_ID = "EventAccessKeyId"
    SENSITIVE_ACTION = "SensitiveAction"
    SOURCE_IP_ADDRESS = "SourceIpAddress"
    EVENT_TYPE = "EventType"
    ROLE_NAME = "RoleName"


class Direction(enum.Enum):
    """Order of LookupEvents results: BACKWARD is newest first."""

    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A validated event ready to be appended to the log, and who recorded it."""

    account_id: str
    event_id: str
    event_time: int
    event_name: str
    service_name: str
    event_rw: str
    user_name: str | None
    access_key_id: str | None
    resource_types: tuple[str, ...]
    resource_names: tuple[str, ...]
    body: bytes
    # Who recorded it (`events/recorder.py`): compact JSON, "" for unknown.
    recorder: str = ""
    # Searched by LookupEvents (`events/attributes.py`); "" when the event has none.
    event_type: str = ""
    source_ip: str = ""
    sensitive: str = "false"  # "true" or "false"
    role_name: str = ""


class StoredEvent(Protocol):
    """What insights and rules read of a newly stored event: an `EventRecord`, or the copy of
    those fields that the evaluation's helper process receives (`evaluation.py`)."""

    @property
    def account_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def event_time(self) -> int: ...
    @property
    def event_name(self) -> str: ...
    @property
    def service_name(self) -> str: ...
    @property
    def access_key_id(self) -> str | None: ...
    @property
    def source_ip(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def body(self) -> bytes: ...


class LoggedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event as the log holds it: its place in the sequence and when it was accepted.

    A msgspec Struct rather than a dataclass: delivery and backfill make millions of them, and
    a Struct is made several times faster and, holding no containers, is never tracked by the
    garbage collector.
    """

    seq: int
    account_id: str
    event_id: str
    event_time: int
    accepted_ms: int
    body: bytes
    recorder: str = ""  # `events/recorder.py`; "" for an event recorded before recorders


@dataclass(frozen=True, slots=True)
class LookupPosition:
    """Where a page of lookup results ended: the last event's time and sequence number."""

    event_time: int
    seq: int


@dataclass(frozen=True, slots=True)
class LookupQuery:
    """One page of a LookupEvents search over an account's history.

    `conditions` are ANDed (one per key: `events/lookup.py` keeps the last value of a key given
    twice, as ActionTrail does); `start` and `end` are inclusive bounds on `event_time`; `after`
    continues a previous page (results strictly beyond that position in `direction` order).
    """

    account_id: str
    start: int
    end: int
    direction: Direction
    conditions: tuple[tuple[LookupKey, str], ...]
    limit: int
    after: LookupPosition | None = None


@dataclass(frozen=True, slots=True)
class LookupPage:
    """Events of one page, in the query's order, and where to continue (None at the end)."""

    events: list[LoggedEvent]
    next_position: LookupPosition | None
