"""The attack that steered the history index, replayed through the official SDK.

An event whose resource name held `\\x1f` (the old log's field separator) was found under
another user and event name. Here the attacker's events carry every control character in every
field LookupEvents searches; each is found by its true values only, and a NUL (which a store
cannot keep in an indexed field) is refused naming the field, never stored half-way.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ThrottlingException
from compat_support import Fixture, put_events, sdk
from factory import make_event

from trailhouse.events.validation import format_event_time

# C0 (NUL apart: refused, see test_a_nul_in_an_indexed_field_is_refused_naming_it), DEL and C1.
CONTROL = [chr(code) for code in (*range(0x01, 0x20), 0x7F, *range(0x80, 0xA0))]


def _steering(account_id: str, index: int, char: str) -> dict[str, Any]:
    def field(name: str) -> str:
        return f"{name}{char}\x1f{char}\x1e{index}"

    return make_event(
        account_id,
        seconds_ago=60 + index,
        eventId=field("steer-id"),
        eventName=field("SteerDeleteTrail"),
        serviceName=field("Steer"),
        resourceType=field("ACS::Steer::Trail"),
        resourceName=field("steer-res"),
        userIdentity={
            "type": "assumed-role",
            "principalId": "209876543210987654",
            "accountId": account_id,
            "accessKeyId": field("LTAI5tSteer"),
            "userName": field("steer-mallory"),
            # RoleName (issue 20) is read from here.
            "sessionContext": {"sessionIssuer": {"type": "role", "userName": field("steer-role")}},
        },
    )


def _lookup(client: Client, key: str, value: str) -> list[str]:
    request = models.LookupEventsRequest(
        start_time=format_event_time(int(time.time()) - 86400),
        lookup_attribute=[models.LookupEventsRequestLookupAttribute(key=key, value=value)],
        max_results="50",
    )
    for _ in range(100):  # the searches of this test outrun LookupEvents' rate limit: wait
        try:
            return [event["eventId"] for event in client.lookup_events(request).body.events]
        except ThrottlingException:
            time.sleep(0.05)
    raise AssertionError("throttled for 5 s")


@pytest.fixture(scope="module")
def steering(running: Fixture) -> list[dict[str, Any]]:
    client = sdk(running.server, running.root)
    events = [_steering(running.root.account_id, index, char) for index, char in enumerate(CONTROL)]
    answer = put_events(client, events)
    assert answer["Accepted"] == len(events), answer["Failed"]
    deadline = time.monotonic() + 10
    while not _lookup(client, "EventId", events[-1]["eventId"]):
        assert time.monotonic() < deadline, "never searchable"
        time.sleep(0.05)
    return events


def test_every_event_is_found_by_its_true_values_only(
    running: Fixture, steering: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.root)
    for event in steering:
        identity = event["userIdentity"]
        for key, value in (
            ("EventId", event["eventId"]),
            ("EventName", event["eventName"]),
            ("ServiceName", event["serviceName"]),
            ("User", identity["userName"]),
            ("EventAccessKeyId", identity["accessKeyId"]),
            ("ResourceType", event["resourceType"]),
            ("ResourceName", event["resourceName"]),
            ("RoleName", identity["sessionContext"]["sessionIssuer"]["userName"]),
        ):
            assert _lookup(client, key, value) == [event["eventId"]], (key, value)


def test_no_piece_of_a_field_finds_anything(
    running: Fixture, steering: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.root)
    for key in ("User", "EventName", "ResourceName", "EventId", "RoleName"):
        # Pieces of the fields above: other tests share this account, so only this test's own
        # words can be asked for.
        pieces = (
            "steer-mallory",
            "SteerDeleteTrail",
            "steer-res",
            "steer-id",
            "Steer",
            "steer-role",
        )
        for piece in pieces:
            assert _lookup(client, key, piece) == [], (key, piece)


@pytest.mark.parametrize(
    ("field", "named"),
    [("eventName", "eventName"), ("resourceName", "resourceName"), ("user", "userName")],
)
def test_a_nul_in_an_indexed_field_is_refused_naming_it(
    running: Fixture, field: str, named: str
) -> None:
    client = sdk(running.server, running.root)
    account_id = running.root.account_id
    event = make_event(account_id, seconds_ago=30, eventName="NulProbe")
    if field == "user":
        event["userIdentity"] = {**event.get("userIdentity", {}), "userName": "mal\x00lory"}
        event["userIdentity"].setdefault("type", "ram-user")
        event["userIdentity"].setdefault("principalId", "209876543210987654")
        event["userIdentity"].setdefault("accountId", account_id)
    else:
        event[field] = f"nul\x00{field}"
    answer = put_events(client, [event])
    assert answer["Accepted"] == 0
    [failed] = answer["Failed"]
    assert failed["Code"] == "InvalidEvent.InvalidField"
    assert named in failed["Message"] and "NUL" in failed["Message"]
    assert _lookup(client, "EventId", event["eventId"]) == []
