"""Validation of one incoming event against the ActionTrail event schema (reference §2).

`validate_event` turns a decoded JSON object into an `EventRecord`, or raises `EventRejected`
with a code and a message that tells the producer what to fix. It fills what the schema lets
trailhouse fill: `eventId` (derived from the event's content, so a retried event keeps its id),
`eventVersion` ("1"), `eventCategory` ("Management") and `recipientAccountId`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from trailhouse.events.model import EventRecord
from trailhouse.events.recorder import RECORDER_FIELD

EVENT_TYPES = frozenset(
    {
        "ApiCall",
        "ConsoleOperation",
        "ConsoleCall",
        "AliyunServiceEvent",
        "PasswordReset",
        "ConsoleSignin",
        "ConsoleSignout",
    }
)
EVENT_RW_VALUES = frozenset({"Read", "Write"})
IDENTITY_TYPES = frozenset({"root-account", "ram-user", "assumed-role", "system", "aliyun-service"})
# Events that a platform service performs may name the service's host instead of an address.
HOST_SOURCE_TYPES = frozenset({"AliyunServiceEvent"})
HOST_SOURCE_IDENTITIES = frozenset({"system", "aliyun-service"})

REQUIRED_STRINGS = (
    "eventTime",
    "eventSource",
    "eventName",
    "eventType",
    "eventRW",
    "acsRegion",
    "serviceName",
    "requestId",
    "sourceIpAddress",
    "userAgent",
)
OPTIONAL_STRINGS = (
    "eventCategory",
    "apiVersion",
    "errorCode",
    "errorMessage",
    "resourceType",
    "resourceName",
    "vpcId",
    "recipientAccountId",
)
OPTIONAL_OBJECTS = (
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "referencedResources",
    "eventAttributes",
)
IDENTITY_STRINGS = ("principalId", "accountId", "accessKeyId", "userName")

EVENT_TIME_FORMAT = "YYYY-MM-DDThh:mm:ssZ"
EVENT_TIME_RULE = f"must be UTC in the format {EVENT_TIME_FORMAT} with ASCII digits 0-9"
# [0-9], not \d: \d and int() also take other scripts' digits (fullwidth "２０２６"), which the
# warehouse's timestamp casts refuse later.
_EVENT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", re.ASCII)
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\Z")
_RESOURCE_SPLIT = re.compile(r"[;,]")
_ID_NAMESPACE = uuid.UUID("5c1e2a9b-7d3f-4e61-9a0b-2f8c4d6e1a37")


class RejectCode:
    """Codes reported per event in PutEvents' `Failed` list."""

    NOT_AN_OBJECT = "InvalidEvent.NotAnObject"
    MISSING_FIELD = "InvalidEvent.MissingField"
    INVALID_FIELD = "InvalidEvent.InvalidField"
    TOO_LARGE = "InvalidEvent.TooLarge"
    TOO_DEEP = "InvalidEvent.TooDeep"
    OUTSIDE_RETENTION = "InvalidEvent.OutsideRetention"
    RECIPIENT = "InvalidEvent.Recipient"
    RESERVED_FIELD = "InvalidEvent.ReservedField"
    # The event id is already stored in the account, recorded by another principal.
    DUPLICATE_OTHER_RECORDER = "InvalidEvent.DuplicateFromOtherRecorder"


class EventRejected(Exception):
    """One event failed validation; the rest of its batch is unaffected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """What `validate_event` checks against besides the schema."""

    now: int
    retention_seconds: int
    max_future_seconds: int
    max_event_bytes: int


def parse_event_time(value: str) -> int:
    """Seconds since the epoch for an ActionTrail time `YYYY-MM-DDThh:mm:ssZ` (ASCII digits only);
    ValueError if not."""
    if _EVENT_TIME.fullmatch(value) is None:
        raise ValueError(value)
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        raise ValueError(value)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(value)
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def format_event_time(epoch_seconds: int) -> str:
    """The ActionTrail time string for seconds since the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def derive_event_id(account_id: str, event: dict[str, Any]) -> str:
    """A stable eventId for an event sent without one, so that a retry keeps its id."""
    canonical = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(account_id.encode() + b"\0" + canonical).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4)).upper()


def validate_event(
    event: object, *, account_id: str, limits: ValidationLimits, recorder: str = ""
) -> EventRecord:
    """Check `event` against the schema and return the record to append to `account_id`'s log,
    recorded by `recorder` (`events/recorder.py`)."""
    if not isinstance(event, dict):
        raise EventRejected(RejectCode.NOT_AN_OBJECT, "each event must be a JSON object")
    if RECORDER_FIELD in event:
        raise EventRejected(
            RejectCode.RESERVED_FIELD,
            f"{RECORDER_FIELD} is trailhouse's own field (who recorded the event); "
            "drop it from the event",
        )
    for name in REQUIRED_STRINGS:
        _require_string(event, name)
    for name in OPTIONAL_STRINGS:
        _optional(event, name, str, "a string")
    for name in OPTIONAL_OBJECTS:
        _optional(event, name, dict, "a JSON object")
    _optional(event, "isGlobal", bool, "true or false")
    version = event.get("eventVersion")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        raise _invalid("eventVersion", version, 'must be a string or an integer, e.g. "1"')
    event_time = _check_time(event["eventTime"], limits)
    if event["eventType"] not in EVENT_TYPES:
        raise _invalid("eventType", event["eventType"], f"must be one of {_listing(EVENT_TYPES)}")
    if event["eventRW"] not in EVENT_RW_VALUES:
        raise _invalid("eventRW", event["eventRW"], "must be Read or Write")
    identity = _check_identity(event.get("userIdentity"))
    _check_source_address(event["sourceIpAddress"], event["eventType"], identity["type"])
    recipient = event.get("recipientAccountId")
    if recipient is not None and recipient != account_id:
        raise EventRejected(
            RejectCode.RECIPIENT,
            f"recipientAccountId {recipient} is not the account {account_id} this key records "
            "into; drop the field or use a service key",
        )

    event_id = event.get("eventId")
    if event_id is None:
        event_id = derive_event_id(account_id, event)
    elif not isinstance(event_id, str) or not event_id or len(event_id) > 128:
        raise _invalid("eventId", event_id, "must be a non-empty string of at most 128 characters")
    filled = {"eventId": event_id, **event}
    filled.setdefault("eventVersion", "1")
    filled.setdefault("eventCategory", "Management")
    filled["recipientAccountId"] = account_id
    body = orjson.dumps(filled)
    if len(body) > limits.max_event_bytes:
        raise EventRejected(
            RejectCode.TOO_LARGE,
            f"the event is {len(body)} bytes of JSON; at most {limits.max_event_bytes} are allowed "
            "(trim requestParameters or responseElements)",
        )
    _refuse_nul_in_indexed_fields(event, identity, event_id)
    return EventRecord(
        account_id=account_id,
        event_id=event_id,
        event_time=event_time,
        event_name=event["eventName"],
        service_name=event["serviceName"],
        event_rw=event["eventRW"],
        user_name=identity.get("userName"),
        access_key_id=identity.get("accessKeyId"),
        resource_types=split_resources(event.get("resourceType")),
        resource_names=split_resources(event.get("resourceName")),
        body=body,
        recorder=recorder,
    )


def _refuse_nul_in_indexed_fields(
    event: dict[str, Any], identity: dict[str, Any], event_id: str
) -> None:
    """The fields LookupEvents searches may hold any character but NUL, which PostgreSQL text
    cannot store: refused on every store alike, naming the field (the rest of the event may
    hold it, as it is kept as sent)."""
    indexed = {
        "eventId": event_id,
        "eventName": event["eventName"],
        "serviceName": event["serviceName"],
        "userIdentity.userName": identity.get("userName"),
        "userIdentity.accessKeyId": identity.get("accessKeyId"),
        "resourceType": event.get("resourceType"),
        "resourceName": event.get("resourceName"),
    }
    for name, value in indexed.items():
        if isinstance(value, str) and "\0" in value:
            raise _invalid(name, value, "must not contain the NUL character (\\u0000)")


def _require_string(event: dict[str, Any], name: str) -> None:
    value = event.get(name)
    if value is None:
        raise EventRejected(RejectCode.MISSING_FIELD, f"{name} is required")
    if not isinstance(value, str) or not value:
        raise _invalid(name, value, "must be a non-empty string")


def _optional(event: dict[str, Any], name: str, kind: type, described: str) -> None:
    value = event.get(name)
    if value is not None and not isinstance(value, kind):
        raise _invalid(name, value, f"must be {described} or null")


def _check_time(value: str, limits: ValidationLimits) -> int:
    try:
        seconds = parse_event_time(value)
    except ValueError:
        raise _invalid(
            "eventTime",
            value,
            f"{EVENT_TIME_RULE}, e.g. 2025-03-04T08:15:42Z",
        ) from None
    if seconds > limits.now + limits.max_future_seconds:
        raise EventRejected(
            RejectCode.INVALID_FIELD,
            f"eventTime {value} is in the future (server time {format_event_time(limits.now)}); "
            "check the producer's clock",
        )
    if seconds < limits.now - limits.retention_seconds:
        days = limits.retention_seconds // 86400
        raise EventRejected(
            RejectCode.OUTSIDE_RETENTION,
            f"eventTime {value} is older than the {days}-day history this server keeps",
        )
    return seconds


def _check_identity(identity: object) -> dict[str, Any]:
    if identity is None:
        raise EventRejected(RejectCode.MISSING_FIELD, "userIdentity is required")
    if not isinstance(identity, dict):
        raise _invalid("userIdentity", identity, "must be a JSON object")
    kind = identity.get("type")
    if kind is None:
        raise EventRejected(RejectCode.MISSING_FIELD, "userIdentity.type is required")
    if kind not in IDENTITY_TYPES:
        raise _invalid("userIdentity.type", kind, f"must be one of {_listing(IDENTITY_TYPES)}")
    for name in IDENTITY_STRINGS:
        value = identity.get(name)
        if value is not None and not isinstance(value, str):
            raise _invalid(f"userIdentity.{name}", value, "must be a string or null")
    return identity


def _check_source_address(value: str, event_type: str, identity_type: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        host_allowed = event_type in HOST_SOURCE_TYPES or identity_type in HOST_SOURCE_IDENTITIES
        if not (host_allowed and _HOST.match(value)):
            raise _invalid(
                "sourceIpAddress",
                value,
                "must be an IPv4 or IPv6 address (a host name only for platform service events)",
            ) from None


def split_resources(value: str | None) -> tuple[str, ...]:
    """The resource types or names an event lists, joined by ',' or ';' (no duplicates)."""
    if not value:
        return ()
    if "," not in value and ";" not in value:
        stripped = value.strip()
        return (stripped,) if stripped else ()
    parts = (part.strip() for part in _RESOURCE_SPLIT.split(value))
    return tuple(dict.fromkeys(part for part in parts if part))


def _invalid(name: str, value: object, rule: str) -> EventRejected:
    shown = orjson.dumps(value).decode()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return EventRejected(RejectCode.INVALID_FIELD, f"{name} {shown} {rule}")


def _listing(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))
