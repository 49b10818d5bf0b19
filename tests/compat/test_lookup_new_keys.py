"""LookupEvents' keys SensitiveAction, SourceIpAddress, EventType and RoleName through the
official SDK, and ActionTrail's rule for a key given twice (the later value is searched)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, put_events, sdk
from factory import make_event

from trailhouse.events.validation import format_event_time


def _lookup(client: Any, *attributes: tuple[str, str]) -> list[str]:
    """The eventIds LookupEvents answers, newest first (asked again while the index catches
    up with what was just put)."""
    request = models.LookupEventsRequest(
        lookup_attribute=[
            models.LookupEventsRequestLookupAttribute(key=key, value=value)
            for key, value in attributes
        ],
        start_time=format_event_time(int(time.time()) - 3600),
        max_results=50,
    )
    return [event["eventId"] for event in client.lookup_events(request).body.events]


@pytest.fixture(scope="module")
def recorded(running: Fixture) -> tuple[Any, str, dict[str, str]]:
    """Six events of one unique service, each with other derived keys."""
    client = sdk(running.server, running.root)
    service = f"Keys{uuid.uuid4().hex[:10]}"
    account = running.root.account_id
    assumed = {"type": "assumed-role", "accountId": account, "userName": "ops-role:s1"}
    events = {
        "plain": make_event(account, 60, serviceName=service),
        "masked": make_event(account, 59, serviceName=service, sourceIpAddress="42.120.*.*"),
        "console": make_event(account, 58, serviceName=service, eventType="ConsoleOperation"),
        "sensitive": make_event(
            account, 57, serviceName=service, eventAttributes={"SensitiveAction": "true"}
        ),
        "role": make_event(account, 56, serviceName=service, userIdentity=assumed),
        "service": make_event(
            account,
            55,
            serviceName=service,
            eventType="AliyunServiceEvent",
            sourceIpAddress="ecs.aliyuncs.com",
            userIdentity={"type": "system", "userName": "ecs.aliyuncs.com"},
        ),
    }
    assert put_events(client, list(events.values()))["Accepted"] == len(events)
    deadline = time.monotonic() + 15
    while len(_lookup(client, ("ServiceName", service))) < len(events):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return client, service, {name: event["eventId"] for name, event in events.items()}


@pytest.mark.parametrize(
    ("key", "value", "names"),
    [
        ("SourceIpAddress", "42.120.*.*", ["masked"]),
        ("SourceIpAddress", "ecs.aliyuncs.com", ["service"]),
        ("EventType", "ConsoleOperation", ["console"]),
        ("EventType", "ApiCall", ["role", "sensitive", "masked", "plain"]),
        ("SensitiveAction", "true", ["sensitive"]),
        ("SensitiveAction", "false", ["service", "role", "console", "masked", "plain"]),
        ("RoleName", "ops-role", ["role"]),
    ],
)
def test_each_new_key_with_the_service_finds_its_events(
    recorded: tuple[Any, str, dict[str, str]], key: str, value: str, names: list[str]
) -> None:
    client, service, ids = recorded
    assert _lookup(client, ("ServiceName", service), (key, value)) == [ids[n] for n in names]


def test_a_key_given_twice_searches_its_later_value(
    recorded: tuple[Any, str, dict[str, str]],
) -> None:
    client, service, ids = recorded
    twice = (("EventType", "ApiCall"), ("EventType", "ConsoleOperation"))
    assert _lookup(client, ("ServiceName", service), *twice) == [ids["console"]]
    assert _lookup(client, ("ServiceName", "NoSuchService"), ("ServiceName", service)) == list(
        reversed(ids.values())
    )


def test_sensitive_action_takes_true_or_false(running: Fixture) -> None:
    client = sdk(running.server, running.root)
    with pytest.raises(ClientException) as raised:
        _lookup(client, ("SensitiveAction", "yes"))
    assert raised.value.code == "InvalidParameter"
    assert "SensitiveAction must be true or false" in raised.value.message
