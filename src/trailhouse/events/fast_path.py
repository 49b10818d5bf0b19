"""The fast path of PutEvents validation: one typed msgspec decode per event, no dict.

PutEvents spends most of its CPU here, so an event that is valid as sent is checked by decoding
its raw bytes into a Struct that names only the fields the schema constrains (nested objects
stay raw, unparsed), and is stored as the producer's own bytes with the few missing fields
spliced in. Anything unusual (a rule broken, an eventId to derive) goes to the precise validator
in `validation.py`, which explains the rejection or fills the event; both paths accept and
reject the same events (tests/unit/events/test_fast_path.py checks that).
"""

# The Struct fields are the event schema's wire names, camelCase as ActionTrail spells them.
# ruff: noqa: N815

from __future__ import annotations

import functools

import msgspec

from trailhouse.events.attributes import derived_event_rw
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import (
    EVENT_RW_VALUES,
    EVENT_TYPES,
    IDENTITY_TYPES,
    EventRejected,
    RejectCode,
    ValidationLimits,
    check_source_address,
    parse_event_time,
    split_resources,
    validate_event,
)
from trailhouse.jsonlimits import MAX_EVENT_DEPTH, nests_deeper_than

_Text = str | None


class _Issuer(msgspec.Struct):
    userName: object = None


class _Session(msgspec.Struct):
    sessionIssuer: _Issuer | None = None


class _Identity(msgspec.Struct):
    type: str
    principalId: _Text = None
    accountId: _Text = None
    accessKeyId: _Text = None
    userName: _Text = None
    # Typed only as far as the role name needs; another shape takes the precise path.
    sessionContext: _Session | None = None


class _EventAttributes(msgspec.Struct):
    SensitiveAction: object = None


class _Event(msgspec.Struct):
    eventTime: str
    eventName: str
    eventType: str
    serviceName: str
    userIdentity: _Identity
    eventSource: _Text = None
    eventRW: _Text = None
    acsRegion: _Text = None
    requestId: _Text = None
    sourceIpAddress: _Text = None
    userAgent: _Text = None
    eventId: _Text = None
    # Absent (UNSET) fields are filled in; an explicit null takes the precise path.
    eventVersion: str | int | msgspec.UnsetType | None = msgspec.UNSET
    eventCategory: str | msgspec.UnsetType | None = msgspec.UNSET
    apiVersion: _Text = None
    errorCode: _Text = None
    errorMessage: _Text = None
    resourceType: _Text = None
    resourceName: _Text = None
    vpcId: _Text = None
    recipientAccountId: str | msgspec.UnsetType | None = msgspec.UNSET
    isGlobal: bool | None = None
    requestParameters: msgspec.Raw = msgspec.Raw(b"null")
    responseElements: msgspec.Raw = msgspec.Raw(b"null")
    additionalEventData: msgspec.Raw = msgspec.Raw(b"null")
    referencedResources: msgspec.Raw = msgspec.Raw(b"null")
    eventAttributes: _EventAttributes | None = None
    # Trailhouse's own field (events/recorder.py): present in any spelling, the precise path
    # refuses the event.
    trailhouseRecorder: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


class _Recipient(msgspec.Struct):
    recipientAccountId: object = None


class Batch(msgspec.Struct):
    """A PutEvents body: each event kept as its raw JSON bytes."""

    Events: list[msgspec.Raw]


_decode_event = msgspec.json.Decoder(_Event).decode
_OBJECT_FIELDS = (
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "referencedResources",
)


_decode_recipient = msgspec.json.Decoder(_Recipient).decode


def refuse_deep(raw: bytes) -> None:
    """EventRejected when the event nests too deeply for any parser to be given it."""
    if nests_deeper_than(raw, MAX_EVENT_DEPTH):
        raise EventRejected(
            RejectCode.TOO_DEEP,
            f"the event's arrays and objects nest more than {MAX_EVENT_DEPTH} levels deep; "
            "flatten requestParameters or responseElements",
        )


def recipient_of(raw: bytes) -> object:
    """The recipientAccountId an event names (None when absent or unreadable)."""
    try:
        return _decode_recipient(raw).recipientAccountId
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def validate_raw_event(
    raw: bytes, *, account_id: str, limits: ValidationLimits, recorder: str = ""
) -> EventRecord:
    """The record for one event's raw JSON, recorded by `recorder`; EventRejected (from the
    precise path) if invalid."""
    refuse_deep(raw)
    record = _fast(raw, account_id, limits, recorder)
    if record is not None:
        return record
    try:
        event = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        event = None  # the precise validator names what is wrong with a non-object
    return validate_event(event, account_id=account_id, limits=limits, recorder=recorder)


def _fast(
    raw: bytes, account_id: str, limits: ValidationLimits, recorder: str = ""
) -> EventRecord | None:
    """The record when the event is valid as sent and carries its eventId, else None."""
    if b"\\u0000" in raw:  # a NUL somewhere: the precise path tells whether it is indexed
        return None
    try:
        event = _decode_event(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    identity = event.userIdentity
    if (
        not event.eventId
        or len(event.eventId) > 128
        or event.eventType not in EVENT_TYPES
        or (event.eventRW is not None and event.eventRW not in EVENT_RW_VALUES)
        or identity.type not in IDENTITY_TYPES
        or event.recipientAccountId not in (msgspec.UNSET, account_id)
        or event.eventVersion is None
        or event.trailhouseRecorder is not msgspec.UNSET
        or event.eventCategory is None
        or isinstance(event.eventVersion, bool)
        or not (event.eventName and event.serviceName)
        or any(
            not (value.startswith(b"{") or value == b"null")
            for value in (bytes(getattr(event, name)) for name in _OBJECT_FIELDS)
        )
    ):
        return None
    event_time = _event_time(event.eventTime)
    if event_time is None or (
        event.sourceIpAddress is not None and not _source_ok(event.sourceIpAddress)
    ):
        return None
    sensitive, role_name = _sensitive(event.eventAttributes), _role_name(identity)
    if sensitive is None or role_name is None:
        return None
    if (
        not limits.now - limits.retention_seconds
        <= event_time
        <= (limits.now + limits.max_future_seconds)
    ):
        return None
    body = _filled(raw, event, account_id)
    if len(body) > limits.max_event_bytes:
        return None
    return EventRecord(
        account_id=account_id,
        event_id=event.eventId,
        event_time=event_time,
        event_name=event.eventName,
        service_name=event.serviceName,
        event_rw=event.eventRW or derived_event_rw(event.eventName),
        user_name=identity.userName,
        access_key_id=identity.accessKeyId,
        resource_types=split_resources(event.resourceType),
        resource_names=split_resources(event.resourceName),
        body=body,
        recorder=recorder,
        event_type=event.eventType,
        source_ip=event.sourceIpAddress or "",
        sensitive=sensitive,
        role_name=role_name,
    )


def _sensitive(attributes: _EventAttributes | None) -> str | None:
    """ "true" or "false" as `attributes.sensitive_of` says; None to take the precise path."""
    if attributes is None or attributes.SensitiveAction is None:
        return "false"
    value = attributes.SensitiveAction
    if isinstance(value, str) and "\0" not in value:
        return "true" if value.lower() == "true" else "false"
    return "true" if value is True else "false"


def _role_name(identity: _Identity) -> str | None:
    """As `attributes.role_name_of`; None to take the precise path (a NUL in the issuer)."""
    if identity.type != "assumed-role":
        return ""
    issuer = identity.sessionContext.sessionIssuer if identity.sessionContext else None
    name = issuer.userName if issuer is not None else None
    if isinstance(name, str) and name:
        return None if "\0" in name else name
    return identity.userName.split(":", 1)[0] if identity.userName else ""


# Audit streams repeat their times (many events per second) and addresses (few per user):
# caching the exact checks keeps their meaning and removes most of their cost.
@functools.lru_cache(maxsize=8192)
def _event_time(text: str) -> int | None:
    try:
        return parse_event_time(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=65536)
def _source_ok(text: str) -> bool:
    """Whether `text` passes the precise path's sourceIpAddress check."""
    try:
        check_source_address(text)
    except EventRejected:
        return False
    return True


def _filled(raw: bytes, event: _Event, account_id: str) -> bytes:
    """The producer's bytes with the fields trailhouse fills spliced in at the front."""
    fills = []
    if event.eventVersion is msgspec.UNSET:
        fills.append(b'"eventVersion":"1",')
    if event.eventCategory is msgspec.UNSET:
        fills.append(b'"eventCategory":"Management",')
    if event.recipientAccountId is msgspec.UNSET:
        fills.append(b'"recipientAccountId":"' + account_id.encode() + b'",')
    text = raw.strip()
    if not fills:
        return bytes(text)
    return b"{" + b"".join(fills) + bytes(text[1:])
