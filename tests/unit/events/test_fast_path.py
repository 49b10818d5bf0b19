"""The fast path and the precise validator accept and reject the same events, identically."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from test_validation import _DELETE, ACCOUNT, LIMITS, NOW, make_event

from trailhouse.events import fast_path
from trailhouse.events.fast_path import validate_raw_event
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import EventRejected, format_event_time, validate_event

VARIANTS: list[dict[str, Any]] = [
    {},
    {"eventVersion": _DELETE},
    {"eventVersion": 1},
    {"eventVersion": None},
    {"eventCategory": None},
    {"recipientAccountId": ACCOUNT},
    {"recipientAccountId": None},
    {"recipientAccountId": "9999999999999999"},
    {"eventId": _DELETE},
    {"eventId": ""},
    {"eventId": "x" * 129},
    {"requestParameters": {"a": [1, {"b": None}]}, "responseElements": None},
    {"requestParameters": [1, 2]},
    {"additionalEventData": "text"},
    {"isGlobal": True},
    {"isGlobal": "true"},
    {"eventTime": "2025-02-19T21:19:00+08:00"},
    {"eventTime": format_event_time(NOW + 3600)},
    {"eventTime": "\uff12\uff10\uff12\uff15-02-19T21:19:00Z"},
    {"eventTime": format_event_time(NOW - 60) + "\n"},
    {"eventTime": format_event_time(NOW - 100 * 86400)},
    {"eventRW": "Both"},
    {"eventType": "ConsoleSignin"},
    {"sourceIpAddress": "2001:db8::1"},
    {"sourceIpAddress": "01.2.3.4"},
    {"userAgent": ""},
    {"userIdentity": {"type": "system"}, "sourceIpAddress": "ecs.aliyuncs.com"},
    {"userIdentity": {"type": "robot"}},
    {"userIdentity": {"type": "ram-user", "userName": 7}},
    {"resourceName": " i-1 ; i-2,i-1 "},
    {"resourceType": None, "resourceName": None},
    {"requestParameters": {"blob": "x" * 300_000}},
    {"serviceName": 5},
    {"trailhouseRecorder": {"type": "trailhouse"}},
    {"trailhouseRecorder": None},
    {"eventRW": _DELETE, "eventName": "ListThings"},
    {"eventRW": None},
    {"eventRW": ""},
    {"acsRegion": _DELETE, "userAgent": _DELETE, "eventSource": _DELETE, "requestId": _DELETE},
    {"sourceIpAddress": _DELETE},
    {"sourceIpAddress": None},
    {"sourceIpAddress": "42.120.*.*"},
    {"sourceIpAddress": "internal"},
    {"sourceIpAddress": "300.1.1.1"},
    {"sourceIpAddress": "a b"},
    {"eventType": "JobEvent"},
    {"eventAttributes": {"SensitiveAction": "true"}},
    {"eventAttributes": {"SensitiveAction": True}},
    {"eventAttributes": {"SensitiveAction": 1}},
    {"eventAttributes": "sensitive"},
    {"userIdentity": {"type": "assumed-role", "userName": "r:s"}},
    {"userIdentity": {"type": "assumed-role", "sessionContext": "x"}},
    {
        "userIdentity": {
            "type": "assumed-role",
            "sessionContext": {"sessionIssuer": {"userName": "R"}},
        }
    },
    {
        "userIdentity": {
            "type": "assumed-role",
            "sessionContext": {"sessionIssuer": {"userName": 5}},
        }
    },
    {"eventName": None, "eventRW": "Sometimes", "isGlobal": "yes"},
]


FIELDS = (
    "account_id",
    "event_id",
    "event_time",
    "event_name",
    "service_name",
    "event_rw",
    "user_name",
    "access_key_id",
    "resource_types",
    "resource_names",
    "event_type",
    "source_ip",
    "sensitive",
    "role_name",
)


def _outcome(validate: Callable[[], EventRecord]) -> tuple[Any, ...]:
    """What a validator made of an event: its record's fields and body, or its rejection."""
    try:
        record = validate()
    except EventRejected as rejected:
        return ("rejected", rejected.code, rejected.message)
    return ("stored", orjson.loads(record.body), *(getattr(record, f) for f in FIELDS))


@pytest.mark.parametrize("changes", VARIANTS, ids=[str(i) for i in range(len(VARIANTS))])
def test_both_paths_agree(changes: dict[str, Any]) -> None:
    event = make_event(**changes)
    raw = orjson.dumps(event)
    precise = _outcome(
        lambda: validate_event(copy.deepcopy(event), account_id=ACCOUNT, limits=LIMITS)
    )
    fast = _outcome(lambda: validate_raw_event(raw, account_id=ACCOUNT, limits=LIMITS))
    assert fast == precise


def test_a_valid_event_with_its_id_takes_the_fast_path_and_keeps_its_bytes() -> None:
    raw = orjson.dumps(make_event(recipientAccountId=ACCOUNT, eventCategory="Management"))
    record = fast_path._fast(raw, ACCOUNT, LIMITS)
    assert record is not None
    assert record.body == raw


def test_fields_are_filled_without_duplicating_keys() -> None:
    raw = orjson.dumps(make_event(eventVersion=_DELETE))
    record = fast_path._fast(raw, ACCOUNT, LIMITS)
    assert record is not None
    for key in (b'"eventVersion"', b'"eventCategory"', b'"recipientAccountId"'):
        assert record.body.count(key) == 1
