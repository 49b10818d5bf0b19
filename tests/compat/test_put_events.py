"""PutEvents through the SDK's generic call path: partial failure, idempotence, limits, keys."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, put_events, sdk
from factory import make_event

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed


def _find(running: Fixture, keys: Any, event_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    client = sdk(running.server, keys)
    deadline = time.monotonic() + timeout
    while True:
        events = client.lookup_events(
            models.LookupEventsRequest(
                lookup_attribute=[
                    models.LookupEventsRequestLookupAttribute(key="EventId", value=event_id)
                ]
            )
        ).body.events
        if events or time.monotonic() > deadline:
            return list(events)
        time.sleep(0.05)


def test_bad_events_are_reported_one_by_one_and_good_ones_kept(running: Fixture) -> None:
    account = running.root.account_id
    good = [make_event(account, 10, eventName="PartialGood") for _ in range(3)]
    bad_time = make_event(account, 10, eventTime="yesterday")
    bad_rw = make_event(account, 10, eventRW="Both")
    answer = put_events(
        sdk(running.server, running.root), [good[0], bad_time, good[1], bad_rw, good[2]]
    )
    assert answer["Accepted"] == 3
    assert [(f["Index"], f["Code"]) for f in answer["Failed"]] == [
        (1, "InvalidEvent.InvalidField"),
        (3, "InvalidEvent.InvalidField"),
    ]
    assert "eventTime" in answer["Failed"][0]["Message"]
    assert answer["RequestId"]
    for event in good:
        assert len(_find(running, running.root, event["eventId"])) == 1
    assert _find(running, running.root, bad_rw["eventId"], timeout=0.5) == []


def test_a_retry_never_duplicates_an_event(running: Fixture) -> None:
    account = running.root.account_id
    with_id = make_event(account, 5, eventName="RetryProbe")
    without_id = make_event(account, 5, eventName="RetryProbeNoId")
    del without_id["eventId"]
    client = sdk(running.server, running.root)  # alice holds no policy: no PutEvents
    for _ in range(3):
        assert put_events(client, [with_id, dict(without_id)])["Accepted"] == 2
    assert len(_find(running, running.root, with_id["eventId"])) == 1
    events = (
        sdk(running.server, running.root)
        .lookup_events(
            models.LookupEventsRequest(
                lookup_attribute=[
                    models.LookupEventsRequestLookupAttribute(
                        key="EventName", value="RetryProbeNoId"
                    )
                ]
            )
        )
        .body.events
    )
    assert len(events) == 1
    assert events[0]["eventId"]


def test_a_service_key_records_into_the_account_each_event_names(running: Fixture) -> None:
    other = running.other.account_id
    event = make_event(other, 5, eventName="ServiceRecorded", recipientAccountId=other)
    missing = make_event(other, 5)
    unknown = make_event(other, 5, recipientAccountId="9999999999999999")
    answer = put_events(sdk(running.server, running.service), [event, missing, unknown])
    assert answer["Accepted"] == 1
    assert [f["Code"] for f in answer["Failed"]] == ["InvalidEvent.Recipient"] * 2
    assert len(_find(running, running.other, event["eventId"])) == 1
    assert _find(running, running.root, event["eventId"], timeout=0.3) == []


def test_a_service_key_may_not_search(running: Fixture) -> None:
    with pytest.raises(ClientException) as raised:
        sdk(running.server, running.service).lookup_events(models.LookupEventsRequest())
    assert raised.value.code == "NoPermission"
    assert raised.value.status_code == 403


def test_an_account_key_cannot_record_into_another_account(running: Fixture) -> None:
    event = make_event(running.other.account_id, 5, recipientAccountId=running.other.account_id)
    answer = put_events(sdk(running.server, running.root), [event])
    assert answer["Accepted"] == 0
    assert answer["Failed"][0]["Code"] == "InvalidEvent.Recipient"


def _client(running: Fixture) -> RpcClient:
    keys = running.root
    return RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret)


def _marked(running: Fixture, name: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    return [make_event(running.root.account_id, 5, eventName=name, **fields) for _ in range(count)]


@pytest.mark.parametrize(
    ("case", "status", "code", "message"),
    [
        ("too-many", 400, "InvalidParameter", "at most 1000 events per call"),
        ("not-a-list", 400, "MalformedBody", "Events must be a JSON array"),
        ("no-events", 400, "MalformedBody", 'needs a JSON body {"Events": [...]}'),
        ("too-large", 413, "RequestEntityTooLarge", "at most 5242880 bytes"),
    ],
)
def test_whole_request_errors_store_nothing(
    running: Fixture, case: str, status: int, code: str, message: str
) -> None:
    name = f"Refused-{case}"
    events = _marked(running, name, 1001 if case == "too-many" else 2)
    body: Any = {"Events": events}
    if case == "not-a-list":
        body = {"Events": events[0]}
    elif case == "no-events":
        body = {"Records": events}
    elif case == "too-large":
        padding = {"blob": "x" * 200_000}
        body = {"Events": _marked(running, name, 30, requestParameters=padding)}
    with _client(running) as client, pytest.raises(RequestFailed) as raised:
        client.call("PutEvents", body=body)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert message in raised.value.message
    with _client(running) as client:
        answer = client.call(
            "LookupEvents", {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": name}
        )
    assert answer["Events"] == []


def test_malformed_json_is_refused(running: Fixture) -> None:
    import http.client

    from trailhouse.iam.signatures import sign_request_v3

    keys = running.root
    body = b'{"Events": [ {"eventName": '
    query, headers = sign_request_v3(
        "POST",
        running.server.endpoint,
        "PutEvents",
        "2020-07-06",
        {},
        body,
        keys.access_key_id,
        keys.access_key_secret,
        content_type="application/json",
    )
    connection = http.client.HTTPConnection(running.server.endpoint, timeout=10)
    try:
        connection.request("POST", f"/?{query}" if query else "/", body=body, headers=headers)
        response = connection.getresponse()
        assert response.status == 400
        assert b'"Code":"MalformedBody"' in response.read()
    finally:
        connection.close()


def test_the_legacy_v2_signature_sends_flattened_form_fields_that_are_rebuilt(
    running: Fixture,
) -> None:
    account = running.root.account_id
    events = [
        make_event(account, 5, eventName="V2Recorded", isGlobal=False, errorCode=None)
        for _ in range(12)  # more than 9, so that Events.10 sorts before Events.2
    ]
    answer = put_events(sdk(running.server, running.root, signature="v2"), events)
    assert (answer["Accepted"], answer["Failed"]) == (12, [])
    stored = _find(running, running.root, events[11]["eventId"])
    assert stored[0]["userIdentity"] == events[11]["userIdentity"]
    assert stored[0]["isGlobal"] is False
    assert stored[0]["requestParameters"] == {"RegionId": "cn-hangzhou"}
