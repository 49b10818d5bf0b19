"""The sample events Alibaba publishes are accepted as written, by both validation paths, and
what ActionTrail leaves out is derived for the index only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_validation import ACCOUNT, LIMITS, NOW, make_event

from trailhouse.events.attributes import attributes_of, derived_event_rw
from trailhouse.events.fast_path import validate_raw_event
from trailhouse.events.validation import (
    EventRejected,
    RejectCode,
    format_event_time,
    validate_event,
)

PUBLISHED = Path(__file__).parents[2] / "data" / "published_events"
SAMPLES = sorted(PUBLISHED.glob("*.json"))
_TIME = re.compile(rb'"eventTime": "[^"]*"')


def recent(raw: bytes) -> bytes:
    """The sample with its eventTime moved into the retained history, nothing else changed."""
    return _TIME.sub(b'"eventTime": "' + format_event_time(NOW - 60).encode() + b'"', raw, 1)


def test_the_samples_are_there() -> None:
    assert len(SAMPLES) >= 4


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_each_published_sample_is_accepted_as_written(path: Path) -> None:
    raw = recent(path.read_bytes())
    record = validate_raw_event(raw, account_id=ACCOUNT, limits=LIMITS)
    sent = orjson.loads(raw)
    stored = orjson.loads(record.body)
    # only the fields trailhouse fills when absent are added; nothing sent changes
    assert {k: v for k, v in stored.items() if k in sent} == sent
    assert set(stored) - set(sent) <= {
        "eventId",
        "eventVersion",
        "eventCategory",
        "recipientAccountId",
    }
    assert "eventRW" not in stored or "eventRW" in sent  # derived values stay in the index
    assert record.event_rw == sent.get("eventRW", derived_event_rw(sent["eventName"]))
    assert record.event_type == sent["eventType"]
    assert record.source_ip == sent.get("sourceIpAddress", "")


def test_an_event_sent_with_every_filled_field_is_stored_byte_for_byte() -> None:
    raw = recent((PUBLISHED / "sts_assume_role.json").read_bytes())
    event = orjson.loads(raw)
    event["eventCategory"] = "Management"
    event["recipientAccountId"] = ACCOUNT
    sent = orjson.dumps(event, option=orjson.OPT_INDENT_2)
    assert validate_raw_event(sent, account_id=ACCOUNT, limits=LIMITS).body == sent.strip()


@pytest.mark.parametrize(
    ("name", "rw"),
    [
        ("DescribeInstances", "Read"),
        ("ListTrails", "Read"),
        ("GetTrailStatus", "Read"),
        ("QueryBill", "Read"),
        ("CheckAccount", "Read"),
        ("LookupEvents", "Read"),
        ("StopInstance", "Write"),
        ("ConsoleSignin", "Write"),
        ("Describer", "Read"),  # a prefix rule, documented in docs/api.md
    ],
)
def test_event_rw_is_derived_from_the_event_name_when_absent(name: str, rw: str) -> None:
    from test_validation import _DELETE

    event = make_event(eventRW=_DELETE, eventName=name)
    record = validate_event(event, account_id=ACCOUNT, limits=LIMITS)
    assert record.event_rw == rw
    assert "eventRW" not in orjson.loads(record.body)


def test_a_stated_event_rw_is_kept_even_against_the_rule() -> None:
    record = validate_event(
        make_event(eventRW="Write", eventName="DescribeX"), account_id=ACCOUNT, limits=LIMITS
    )
    assert record.event_rw == "Write"


@pytest.mark.parametrize(
    "address",
    [
        "42.120.*.*",
        "1.2.3.xxx",
        "192.168.XX.XX",
        "ecs.aliyuncs.com",
        "internal",
        "Internal",
        "2001:db8::*",
        "10.0.0.1, 10.0.0.2",
    ],
)
def test_source_addresses_services_send_are_accepted(address: str) -> None:
    from test_validation import _DELETE

    for identity in ({"type": "ram-user", "userName": "a"}, {"type": "system"}):
        event = make_event(sourceIpAddress=address, userIdentity=identity, eventType="ApiCall")
        record = validate_event(event, account_id=ACCOUNT, limits=LIMITS)
        assert record.source_ip == address
    raw = orjson.dumps(make_event(sourceIpAddress=address, eventRW=_DELETE))
    assert validate_raw_event(raw, account_id=ACCOUNT, limits=LIMITS).source_ip == address


@pytest.mark.parametrize(
    "field", ["eventRW", "acsRegion", "userAgent", "sourceIpAddress", "eventSource", "requestId"]
)
def test_fields_actiontrail_leaves_out_are_optional(field: str) -> None:
    from test_validation import _DELETE

    raw = orjson.dumps(make_event(**{field: _DELETE}))
    record = validate_raw_event(raw, account_id=ACCOUNT, limits=LIMITS)
    assert field.encode() not in record.body


def test_every_problem_of_an_event_is_reported_at_once() -> None:
    event = make_event(
        eventName=None, eventRW="Sometimes", sourceIpAddress="my laptop", isGlobal="yes"
    )
    with pytest.raises(EventRejected) as rejected:
        validate_event(event, account_id=ACCOUNT, limits=LIMITS)
    message = rejected.value.message
    assert rejected.value.code == RejectCode.MISSING_FIELD
    assert message.startswith("4 problems: (1) eventName is required")
    for part in ("eventRW", "sourceIpAddress", "isGlobal"):
        assert part in message
    with pytest.raises(EventRejected) as again:
        validate_raw_event(orjson.dumps(event), account_id=ACCOUNT, limits=LIMITS)
    assert again.value.message == message


def test_a_json_array_sent_as_an_event_is_told_about_json_lines() -> None:
    with pytest.raises(EventRejected) as rejected:
        validate_raw_event(
            b"[" + orjson.dumps(make_event()) + b"]", account_id=ACCOUNT, limits=LIMITS
        )
    assert rejected.value.code == RejectCode.NOT_AN_OBJECT
    assert "jq -c '.[]'" in rejected.value.message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ("false", "")),
        ({"eventAttributes": {"SensitiveAction": "true"}}, ("true", "")),
        ({"eventAttributes": {"SensitiveAction": True}}, ("true", "")),
        ({"eventAttributes": {"SensitiveAction": "false"}}, ("false", "")),
        (
            {"userIdentity": {"type": "assumed-role", "userName": "ops-role:alice"}},
            ("false", "ops-role"),
        ),
        (
            {
                "userIdentity": {
                    "type": "assumed-role",
                    "userName": "x:y",
                    "sessionContext": {"sessionIssuer": {"userName": "IssuerRole"}},
                }
            },
            ("false", "IssuerRole"),
        ),
        ({"userIdentity": {"type": "ram-user", "userName": "ops-role:alice"}}, ("false", "")),
    ],
)
def test_sensitive_action_and_role_name_as_both_paths_derive_them(
    changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    event = make_event(**changes)
    fast = validate_raw_event(orjson.dumps(event), account_id=ACCOUNT, limits=LIMITS)
    precise = validate_event(event, account_id=ACCOUNT, limits=LIMITS)
    derived = attributes_of(event)
    assert (fast.sensitive, fast.role_name) == expected
    assert (precise.sensitive, precise.role_name) == expected
    assert (derived.sensitive, derived.role_name) == expected


@pytest.mark.parametrize("address", ["1.2.3.4,\n5.6.7.8", "1.2.3.4,\t5.6.7.8", "1.2.3.4 "])
def test_no_control_character_or_stray_space_in_a_source_address(address: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        validate_event(make_event(sourceIpAddress=address), account_id=ACCOUNT, limits=LIMITS)
    assert "sourceIpAddress" in rejected.value.message


# Every identity type ActionTrail's event structure lists ("Data event structure", table 1,
# userIdentity.type: root-account, ram-user, assumed-role, system, cloudsso-user, saml-user,
# alibaba-cloud-account, oidc-user), and aliyun-service, which trailhouse's service keys write.
@pytest.mark.parametrize(
    "kind",
    [
        "root-account",
        "ram-user",
        "assumed-role",
        "system",
        "cloudsso-user",
        "saml-user",
        "alibaba-cloud-account",
        "oidc-user",
        "aliyun-service",
    ],
)
def test_every_identity_type_actiontrail_writes_is_accepted(kind: str) -> None:
    identity = {"type": kind, "principalId": "2938xxxx", "userName": "someone"}
    record = validate_event(make_event(userIdentity=identity), account_id=ACCOUNT, limits=LIMITS)
    assert orjson.loads(record.body)["userIdentity"] == identity
    raw = orjson.dumps(make_event(userIdentity=identity))
    body = validate_raw_event(raw, account_id=ACCOUNT, limits=LIMITS).body
    assert body.endswith(raw[1:])  # the producer's bytes, after the fields filled at the front
