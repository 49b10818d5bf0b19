"""Validation of one incoming event against the ActionTrail event schema (reference §2).

`validate_event` turns a decoded JSON object into an `EventRecord`, or raises `EventRejected`
with a code and a message that tells the producer every problem to fix at once. It accepts the
events ActionTrail itself writes, as written: only the fields every ActionTrail event carries
are required; `eventRW` is derived for the index when absent (`events/attributes.py`), never
added to the event. It fills what the schema lets trailhouse fill when absent: `eventId`
(derived from the event's content, so a retried event keeps its id), `eventVersion` ("1"),
`eventCategory` ("Management") and `recipientAccountId`.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from trailhouse.events.attributes import attributes_of
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
        # MaxCompute's own audit events (ActionTrail's management event structure lists them)
        "JobEvent",
        "TunnelEvent",
        "TableEvent",
        "AdminEvent",
        "ResourceEvent",
        "FunctionEvent",
        "PrivilegeEvent",
        "RoleEvent",
        "UserEvent",
        "SchemaEvent",
    }
)
EVENT_RW_VALUES = frozenset({"Read", "Write"})
# ActionTrail's event structure lists the first eight (an Alibaba Cloud account, a RAM user, a
# RAM role, a service, a CloudSSO user, SAML and OIDC identities, an account acting across
# accounts); aliyun-service is what trailhouse's own service keys record as.
IDENTITY_TYPES = frozenset(
    {
        "root-account",
        "ram-user",
        "assumed-role",
        "system",
        "cloudsso-user",
        "saml-user",
        "alibaba-cloud-account",
        "oidc-user",
        "aliyun-service",
    }
)
# What services put in sourceIpAddress besides an address: a masked address ("42.120.*.*",
# "1.2.3.xxx"), a service's host ("ecs.aliyuncs.com"), "internal"; several joined by commas.
SOURCE_ADDRESS_MAX = 255
_ONLY_DIGITS_AND_DOTS = re.compile(r"[0-9.]+", re.ASCII)
_SOURCE_ADDRESS = re.compile(r"[A-Za-z0-9*.:_%\[\]-]+(, ?[A-Za-z0-9*.:_%\[\]-]+)*", re.ASCII)

# The fields every event ActionTrail writes carries (the management event structure).
REQUIRED_STRINGS = (
    "eventTime",
    "eventName",
    "eventType",
    "serviceName",
)
OPTIONAL_STRINGS = (
    "eventSource",
    "eventRW",
    "acsRegion",
    "requestId",
    "sourceIpAddress",
    "userAgent",
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
_RESOURCE_SPLIT = re.compile(r"[;,]")
_T = TypeVar("_T")
_NO_TIME = -1
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
    recorded by `recorder` (`events/recorder.py`); EventRejected names every problem found."""
    if not isinstance(event, dict):
        raise EventRejected(RejectCode.NOT_AN_OBJECT, _not_an_object(event))
    problems = _Problems()
    if RECORDER_FIELD in event:
        problems.add(
            RejectCode.RESERVED_FIELD,
            f"{RECORDER_FIELD} is trailhouse's own field (who recorded the event); "
            "drop it from the event",
        )
    for name in REQUIRED_STRINGS:
        problems.catch(_require_string, event, name)
    for name in OPTIONAL_STRINGS:
        problems.catch(_optional, event, name, str, "a string")
    for name in OPTIONAL_OBJECTS:
        problems.catch(_optional, event, name, dict, "a JSON object")
    problems.catch(_optional, event, "isGlobal", bool, "true or false")
    version = event.get("eventVersion")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        problems.add_rejection(
            _invalid("eventVersion", version, 'must be a string or an integer, e.g. "1"')
        )
    event_time = problems.catch(_check_time, event.get("eventTime"), limits)
    kind = event.get("eventType")
    if isinstance(kind, str) and kind and kind not in EVENT_TYPES:
        rule = f"must be one of {_listing(EVENT_TYPES)}"
        problems.add_rejection(_invalid("eventType", kind, rule))
    rw = event.get("eventRW")
    if isinstance(rw, str) and rw not in EVENT_RW_VALUES:
        problems.add_rejection(_invalid("eventRW", rw, "must be Read or Write (or absent)"))
    identity = problems.catch(_check_identity, event.get("userIdentity"))
    source = event.get("sourceIpAddress")
    if isinstance(source, str):
        problems.catch(check_source_address, source)
    recipient = event.get("recipientAccountId")
    if isinstance(recipient, str) and recipient != account_id:
        problems.add(
            RejectCode.RECIPIENT,
            f"recipientAccountId {recipient} is not the account {account_id} this key records "
            "into; drop the field or use a service key",
        )
    event_id = event.get("eventId")
    if event_id is not None and (
        not isinstance(event_id, str) or not event_id or len(event_id) > 128
    ):
        problems.add_rejection(
            _invalid("eventId", event_id, "must be a non-empty string of at most 128 characters")
        )
    problems.catch(_refuse_nul_in_indexed_fields, event, identity or {}, event_id)
    problems.raise_any()
    assert isinstance(event_time, int)  # no problem was found
    assert identity is not None
    if event_id is None:
        event_id = derive_event_id(account_id, event)
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
    derived = attributes_of(event)
    return EventRecord(
        account_id=account_id,
        event_id=event_id,
        event_time=event_time,
        event_name=event["eventName"],
        service_name=event["serviceName"],
        event_rw=derived.event_rw,
        user_name=identity.get("userName"),
        access_key_id=identity.get("accessKeyId"),
        resource_types=split_resources(event.get("resourceType")),
        resource_names=split_resources(event.get("resourceName")),
        body=body,
        recorder=recorder,
        event_type=derived.event_type,
        source_ip=derived.source_ip,
        sensitive=derived.sensitive,
        role_name=derived.role_name,
    )


class _Problems:
    """Every problem of one event, reported together (the first one's code leads)."""

    def __init__(self) -> None:
        self._found: list[EventRejected] = []

    def add(self, code: str, message: str) -> None:
        self._found.append(EventRejected(code, message))

    def add_rejection(self, rejected: EventRejected) -> None:
        self._found.append(rejected)

    def catch(self, check: Callable[..., _T], *args: Any) -> _T | None:
        """`check(*args)`, or None with its rejection kept."""
        try:
            return check(*args)
        except EventRejected as rejected:
            self._found.append(rejected)
            return None

    def raise_any(self) -> None:
        if not self._found:
            return
        if len(self._found) == 1:
            raise self._found[0]
        messages = "; ".join(f"({n}) {p.message}" for n, p in enumerate(self._found, 1))
        raise EventRejected(self._found[0].code, f"{len(self._found)} problems: {messages}")


def _not_an_object(event: object) -> str:
    if isinstance(event, list):
        return (
            "each event must be a JSON object, not a JSON array; send the array's items as "
            "separate events (for a file, JSON lines: one event per line, e.g. jq -c '.[]')"
        )
    return "each event must be a JSON object"


def _refuse_nul_in_indexed_fields(
    event: dict[str, Any], identity: dict[str, Any], event_id: object
) -> None:
    """The fields LookupEvents searches may hold any character but NUL, which PostgreSQL text
    cannot store: refused on every store alike, naming the field (the rest of the event may
    hold it, as it is kept as sent)."""
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    attributes = event.get("eventAttributes")
    indexed = {
        "eventId": event_id,
        "eventName": event.get("eventName"),
        "serviceName": event.get("serviceName"),
        "userIdentity.userName": identity.get("userName"),
        "userIdentity.accessKeyId": identity.get("accessKeyId"),
        "userIdentity.sessionContext.sessionIssuer.userName": (
            issuer.get("userName") if isinstance(issuer, dict) else None
        ),
        "eventAttributes.SensitiveAction": (
            attributes.get("SensitiveAction") if isinstance(attributes, dict) else None
        ),
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


def _check_time(value: object, limits: ValidationLimits) -> int:
    if not isinstance(value, str) or not value:
        return _NO_TIME  # reported by the check of required fields
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


def check_source_address(value: str) -> None:
    """EventRejected unless `value` is what services put in sourceIpAddress: an IPv4 or IPv6
    address, a masked one, a host name or a word such as `internal`."""
    if is_ip_address(value):
        return
    if (
        len(value) > SOURCE_ADDRESS_MAX
        or _SOURCE_ADDRESS.fullmatch(value) is None
        or _ONLY_DIGITS_AND_DOTS.fullmatch(value) is not None  # "300.1.1.1": no address
    ):
        raise _invalid(
            "sourceIpAddress",
            value,
            "must be an IPv4 or IPv6 address, a masked one (42.120.*.*), a host name or "
            f"internal, at most {SOURCE_ADDRESS_MAX} characters",
        )


@functools.lru_cache(maxsize=65536)
def is_ip_address(text: str) -> bool:
    """Whether `text` is an IPv4 or IPv6 address (cached: audit streams repeat addresses)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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
