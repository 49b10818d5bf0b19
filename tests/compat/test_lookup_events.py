"""LookupEvents through the official SDK against a real server: every attribute, paging, errors."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, put_events, sdk
from factory import make_event

from trailhouse.events.validation import format_event_time

# Thirty events an hour apart, newest first; the markers make every attribute selective.
EVENT_COUNT = 30


def _events(account_id: str) -> list[dict[str, Any]]:
    events = []
    for index in range(EVENT_COUNT):
        identity = {
            "type": "ram-user",
            "principalId": "209876543210987654",
            "accountId": account_id,
            "accessKeyId": "LTAI5tPagingKey" + ("AAAAAA" if index % 3 == 0 else "BBBBBB"),
            "userName": "paging-user" if index % 2 == 0 else "other-user",
        }
        events.append(
            make_event(
                account_id,
                seconds_ago=3600 * (index + 1),
                eventName="PagingProbe" if index % 5 else "PagingRareProbe",
                serviceName="PagingSvc",
                eventRW="Write" if index % 4 == 0 else "Read",
                resourceType="ACS::Paging::Thing;ACS::Paging::Other",
                resourceName=f"thing-{index},shared-thing;other-{index}",
                userIdentity=identity,
            )
        )
    return events


@pytest.fixture(scope="module")
def recorded(running: Fixture) -> list[dict[str, Any]]:
    client = sdk(running.server, running.root)
    events = _events(running.root.account_id)
    answer = put_events(client, events)
    assert answer["Accepted"] == EVENT_COUNT and answer["Failed"] == []
    _wait_searchable(client, events[-1]["eventId"])
    return events


def _wait_searchable(client: Client, event_id: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _lookup(client, [("EventId", event_id)]).body.events:
            return
        time.sleep(0.05)
    raise AssertionError(f"event {event_id} never became searchable")


def _lookup(client: Client, attributes: list[tuple[str, str]], **params: Any) -> Any:
    request = models.LookupEventsRequest(
        start_time=params.pop("start_time", format_event_time(int(time.time()) - 7 * 86400)),
        lookup_attribute=[
            models.LookupEventsRequestLookupAttribute(key=key, value=value)
            for key, value in attributes
        ],
        **params,
    )
    return client.lookup_events(request)


def _all_pages(client: Client, attributes: list[tuple[str, str]], **params: Any) -> list[str]:
    # The same StartTime on every page: a token is valid only for the query that issued it.
    params.setdefault("start_time", format_event_time(int(time.time()) - 7 * 86400))
    ids: list[str] = []
    token = None
    for _ in range(100):
        answer = _lookup(client, attributes, next_token=token, **params).body
        ids.extend(event["eventId"] for event in answer.events)
        token = answer.next_token
        if not token:
            return ids
    raise AssertionError("paging never ended")


def _expected(events: list[dict[str, Any]], keep: Any) -> list[str]:
    return [event["eventId"] for event in events if keep(event)]


ATTRIBUTE_CASES = [
    ("ServiceName", "PagingSvc", lambda e: True),
    ("EventName", "PagingRareProbe", lambda e: e["eventName"] == "PagingRareProbe"),
    ("User", "paging-user", lambda e: e["userIdentity"]["userName"] == "paging-user"),
    ("ResourceType", "ACS::Paging::Other", lambda e: True),
    ("ResourceName", "thing-7", lambda e: e["resourceName"].startswith("thing-7,")),
    ("ResourceName", "shared-thing", lambda e: True),
    ("EventRW", "Write", lambda e: e["eventRW"] == "Write"),
    (
        "EventAccessKeyId",
        "LTAI5tPagingKeyAAAAAA",
        lambda e: e["userIdentity"]["accessKeyId"].endswith("AAAAAA"),
    ),
]


@pytest.mark.parametrize(("key", "value", "keep"), ATTRIBUTE_CASES)
def test_every_attribute_key_finds_exactly_its_events(
    running: Fixture, recorded: list[dict[str, Any]], key: str, value: str, keep: Any
) -> None:
    client = sdk(running.server, running.root)
    attributes = [(key, value)]
    if key in {"EventRW"}:
        attributes.append(("ServiceName", "PagingSvc"))  # AND with a second attribute
    ids = _all_pages(client, attributes, max_results="50")
    assert ids == _expected(recorded, keep)


def test_event_id_finds_one_event_with_its_full_json(
    running: Fixture, recorded: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.root)
    wanted = recorded[4]
    answer = _lookup(client, [("EventId", wanted["eventId"])]).body
    assert len(answer.events) == 1
    event = answer.events[0]
    assert event["userIdentity"] == wanted["userIdentity"]
    assert event["resourceName"] == wanted["resourceName"]
    assert event["recipientAccountId"] == running.root.account_id
    assert answer.next_token is None


@pytest.mark.parametrize(("direction", "order"), [("BACKWARD", 1), ("FORWARD", -1)])
def test_paging_walks_every_event_once_in_either_direction(
    running: Fixture, recorded: list[dict[str, Any]], direction: str, order: int
) -> None:
    client = sdk(running.server, running.root)
    ids = _all_pages(client, [("ServiceName", "PagingSvc")], max_results="7", direction=direction)
    assert ids == [event["eventId"] for event in recorded][::order]


def test_time_window_and_default_page_size(
    running: Fixture, recorded: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.root)
    newest = recorded[0]["eventTime"]
    oldest_kept = recorded[9]["eventTime"]
    answer = _lookup(
        client, [("ServiceName", "PagingSvc")], start_time=oldest_kept, end_time=newest
    ).body
    assert [event["eventId"] for event in answer.events] == [e["eventId"] for e in recorded[:10]]
    assert answer.start_time == oldest_kept and answer.end_time == newest
    default_page = _lookup(client, [("ServiceName", "PagingSvc")]).body
    assert len(default_page.events) == 20 and default_page.next_token


def test_other_accounts_never_see_the_events(
    running: Fixture, recorded: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.other)
    assert _lookup(client, [("ServiceName", "PagingSvc")]).body.events == []


def test_the_legacy_v2_signature_works_too(
    running: Fixture, recorded: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.root, signature="v2")
    answer = _lookup(client, [("EventName", "PagingRareProbe")]).body
    assert [e["eventId"] for e in answer.events] == _expected(
        recorded, lambda e: e["eventName"] == "PagingRareProbe"
    )


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


@pytest.mark.parametrize(
    ("params", "attributes", "message"),
    [
        ({"max_results": "0"}, [], "MaxResults must be from 1 to 50"),
        ({"max_results": "51"}, [], "MaxResults must be from 1 to 50"),
        ({"max_results": "ten"}, [], "MaxResults must be an integer"),
        ({"start_time": "2025-01-01 00:00:00"}, [], "StartTime '2025-01-01 00:00:00' must be UTC"),
        ({"end_time": "yesterday"}, [], "EndTime 'yesterday' must be UTC"),
        (
            {"start_time": format_event_time(int(time.time()) - 100 * 86400)},
            [],
            "more than 90 days",
        ),
        (
            {
                "start_time": format_event_time(int(time.time()) - 3600),
                "end_time": format_event_time(int(time.time()) - 7200),
            },
            [],
            "StartTime must not be later than EndTime",
        ),
        ({"direction": "SIDEWAYS"}, [], "Direction must be one of BACKWARD, FORWARD"),
        ({}, [("Colour", "blue")], "LookupAttribute.1.Key 'Colour' must be one of"),
        ({}, [("EventRW", "Delete")], "EventRW must be Read or Write"),
        ({"next_token": "not-a-token"}, [], "not a token this server issued"),
    ],
)
def test_bad_parameters_raise_client_exception_with_invalid_parameter(
    running: Fixture, params: dict[str, Any], attributes: list[tuple[str, str]], message: str
) -> None:
    client = sdk(running.server, running.root)
    error = _error(lambda: _lookup(client, attributes, **params))
    assert error.code == "InvalidParameter"
    assert error.status_code == 400
    assert message in error.message
    assert error.request_id


def test_a_next_token_from_another_query_is_refused(
    running: Fixture, recorded: list[dict[str, Any]]
) -> None:
    client = sdk(running.server, running.root)
    token = _lookup(client, [("ServiceName", "PagingSvc")], max_results="5").body.next_token
    error = _error(
        lambda: _lookup(client, [("EventRW", "Write")], max_results="5", next_token=token)
    )
    assert error.code == "InvalidParameter"
    assert "belongs to a query with other parameters" in error.message
