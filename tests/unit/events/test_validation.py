"""The PutEvents schema check: every rule with its code and message, and what it fills in."""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson
import pytest

from trailhouse.events.validation import (
    EventRejected,
    RejectCode,
    ValidationLimits,
    derive_event_id,
    format_event_time,
    parse_event_time,
    validate_event,
)

ACCOUNT = "1234567890123456"
NOW = 1_740_000_000  # 2025-02-19T21:20:00Z
LIMITS = ValidationLimits(
    now=NOW, retention_seconds=90 * 86400, max_future_seconds=900, max_event_bytes=256 * 1024
)


def make_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": "5C1E2A9B-7D3F-4E61-9A0B-2F8C4D6E1A37",
        "eventVersion": "1",
        "eventTime": format_event_time(NOW - 60),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "StopInstance",
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": "0E7E0D8C-1E0B-4C4B-8E0F-2C1D3B4A5F60",
        "sourceIpAddress": "203.0.113.24",
        "userAgent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "userIdentity": {
            "type": "ram-user",
            "principalId": "209876543210987654",
            "accountId": ACCOUNT,
            "accessKeyId": "LTAI5tExampleKey0001",
            "userName": "alice",
        },
        "resourceType": "ACS::ECS::Instance",
        "resourceName": "i-bp1a,i-bp1b;vpc-1",
        "errorCode": None,
    }
    for name, value in changes.items():
        if value is _DELETE:
            event.pop(name)
        else:
            event[name] = value
    return event


_DELETE = object()


def test_a_valid_event_becomes_a_record() -> None:
    record = validate_event(make_event(), account_id=ACCOUNT, limits=LIMITS)
    assert record.event_id == "5C1E2A9B-7D3F-4E61-9A0B-2F8C4D6E1A37"
    assert record.event_time == NOW - 60
    assert (record.event_name, record.service_name, record.event_rw) == (
        "StopInstance",
        "Ecs",
        "Write",
    )
    assert record.user_name == "alice"
    assert record.access_key_id == "LTAI5tExampleKey0001"
    assert record.resource_names == ("i-bp1a", "i-bp1b", "vpc-1")
    body = orjson.loads(record.body)
    assert body["recipientAccountId"] == ACCOUNT
    assert body["eventCategory"] == "Management"


def test_missing_event_id_is_derived_from_content_so_retries_keep_it() -> None:
    event = make_event(eventId=_DELETE)
    first = validate_event(copy.deepcopy(event), account_id=ACCOUNT, limits=LIMITS)
    again = validate_event(copy.deepcopy(event), account_id=ACCOUNT, limits=LIMITS)
    other = validate_event(
        make_event(eventId=_DELETE, requestId="X"), account_id=ACCOUNT, limits=LIMITS
    )
    assert first.event_id == again.event_id == derive_event_id(ACCOUNT, event)
    assert other.event_id != first.event_id
    assert orjson.loads(first.body)["eventId"] == first.event_id


def test_event_version_defaults_to_one() -> None:
    record = validate_event(make_event(eventVersion=_DELETE), account_id=ACCOUNT, limits=LIMITS)
    assert orjson.loads(record.body)["eventVersion"] == "1"


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"eventTime": _DELETE}, RejectCode.MISSING_FIELD, "eventTime is required"),
        ({"eventName": _DELETE}, RejectCode.MISSING_FIELD, "eventName is required"),
        ({"serviceName": None}, RejectCode.MISSING_FIELD, "serviceName is required"),
        ({"eventType": ""}, RejectCode.INVALID_FIELD, 'eventType "" must be a non-empty string'),
        ({"requestId": 5}, RejectCode.INVALID_FIELD, "requestId 5 must be a string or null"),
        ({"userIdentity": _DELETE}, RejectCode.MISSING_FIELD, "userIdentity is required"),
        (
            {"eventTime": "2025/02/19 10:00:00"},
            RejectCode.INVALID_FIELD,
            "format YYYY-MM-DDThh:mm:ssZ",
        ),
        (
            {"eventTime": "2025-02-30T10:00:00Z"},
            RejectCode.INVALID_FIELD,
            "format YYYY-MM-DDThh:mm:ssZ",
        ),
        ({"eventTime": "2025-02-19T10:00:00+08:00"}, RejectCode.INVALID_FIELD, "UTC"),
        # int(), \\d and strptime take other scripts' digits; the warehouse's casts do not.
        (
            {"eventTime": "\uff12\uff10\uff12\uff15-02-19T10:00:00Z"},
            RejectCode.INVALID_FIELD,
            "with ASCII digits 0-9",
        ),
        (
            {"eventTime": "2025-02-19T\u0661\u0660:00:00Z"},
            RejectCode.INVALID_FIELD,
            "with ASCII digits 0-9",
        ),
        ({"eventTime": "2025-02-19T10:00:00Z\n"}, RejectCode.INVALID_FIELD, "ASCII digits"),
        ({"eventTime": "2025-02-19T10:00:0\u00b2Z"}, RejectCode.INVALID_FIELD, "ASCII digits"),
        ({"eventTime": format_event_time(NOW + 3600)}, RejectCode.INVALID_FIELD, "in the future"),
        (
            {"eventTime": format_event_time(NOW - 91 * 86400)},
            RejectCode.OUTSIDE_RETENTION,
            "older than the 90-day history",
        ),
        (
            {"eventRW": "ReadWrite"},
            RejectCode.INVALID_FIELD,
            'eventRW "ReadWrite" must be Read or Write',
        ),
        ({"eventType": "Click"}, RejectCode.INVALID_FIELD, 'eventType "Click" must be one of'),
        ({"sourceIpAddress": "300.1.1.1"}, RejectCode.INVALID_FIELD, "IPv4 or IPv6"),
        ({"sourceIpAddress": "my laptop"}, RejectCode.INVALID_FIELD, "a masked one (42.120.*.*)"),
        ({"sourceIpAddress": "1.2.3.4\n"}, RejectCode.INVALID_FIELD, "IPv4 or IPv6"),
        ({"sourceIpAddress": "x" * 256}, RejectCode.INVALID_FIELD, "at most 255 characters"),
        (
            {"userIdentity": "alice"},
            RejectCode.INVALID_FIELD,
            'userIdentity "alice" must be a JSON object',
        ),
        (
            {"userIdentity": {"userName": "x"}},
            RejectCode.MISSING_FIELD,
            "userIdentity.type is required",
        ),
        ({"userIdentity": {"type": "robot"}}, RejectCode.INVALID_FIELD, "userIdentity.type"),
        (
            {"userIdentity": {"type": "ram-user", "userName": 5}},
            RejectCode.INVALID_FIELD,
            "userName",
        ),
        ({"requestParameters": "a=b"}, RejectCode.INVALID_FIELD, "must be a JSON object or null"),
        ({"isGlobal": "yes"}, RejectCode.INVALID_FIELD, 'isGlobal "yes" must be true or false'),
        ({"eventVersion": True}, RejectCode.INVALID_FIELD, "eventVersion"),
        ({"eventId": 12}, RejectCode.INVALID_FIELD, "eventId 12 must be a non-empty string"),
        ({"recipientAccountId": "9999999999999999"}, RejectCode.RECIPIENT, "use a service key"),
        ({"requestParameters": {"blob": "x" * 300_000}}, RejectCode.TOO_LARGE, "at most 262144"),
    ],
)
def test_each_rule_rejects_with_its_code_and_a_message(
    changes: dict[str, Any], code: str, message: str
) -> None:
    with pytest.raises(EventRejected) as rejected:
        validate_event(make_event(**changes), account_id=ACCOUNT, limits=LIMITS)
    assert rejected.value.code == code
    assert message in rejected.value.message


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(EventRejected) as rejected:
        validate_event(["not", "an", "event"], account_id=ACCOUNT, limits=LIMITS)
    assert rejected.value.code == RejectCode.NOT_AN_OBJECT


def test_platform_service_events_may_name_a_host() -> None:
    event = make_event(eventType="AliyunServiceEvent", sourceIpAddress="ecs.aliyuncs.com")
    assert validate_event(event, account_id=ACCOUNT, limits=LIMITS).event_name == "StopInstance"


def test_ipv6_addresses_are_valid() -> None:
    event = make_event(sourceIpAddress="2001:db8::1")
    assert validate_event(event, account_id=ACCOUNT, limits=LIMITS)


def test_event_time_round_trips() -> None:
    now = int(time.time())
    assert parse_event_time(format_event_time(now)) == now
    assert format_event_time(0) == "1970-01-01T00:00:00Z"
