"""Attack: recording events that claim someone else did something (issue 17, item 3).

A RAM user with no policy once recorded a root `ConsoleSignin` that looked exactly like a real
one. Now recording needs `actiontrail:PutEvents` (service keys excepted), and every event is
stored with who recorded it: LookupEvents (through the official SDK) and the warehouse's
`recorded_by` column tell a producer's claim from trailhouse's own records, whatever the event
says about itself. Each test is one attack against a real server.
"""

from __future__ import annotations

import http.client
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import (
    Keys,
    Server,
    free_port,
    project_arn,
    put_events,
    rpc_client,
    sdk,
    sql_rows,
    trailhouse,
    wait_delivered,
)
from factory import make_event

from trailhouse.iam.signatures import sign_request_v3

TRAIL = "forgery-watch"
TABLE = "actiontrail_forgery_watch"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass(frozen=True)
class Setup:
    server: Server
    root: Keys
    nobody: Keys  # a RAM user without any policy
    reader: Keys  # AliyunActionTrailReadOnlyAccess
    writer: Keys  # AliyunActionTrailFullAccess
    service: Keys


def _keys(document: dict[str, Any]) -> Keys:
    return Keys(document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data_dir = tmp_path_factory.mktemp("forgery") / "data"
    root = _keys(trailhouse("account", "create", "--data-dir", str(data_dir)))

    def user(name: str) -> Keys:
        account = ["--account-id", root.account_id]
        return _keys(
            trailhouse("user", "create", "--data-dir", str(data_dir), *account, "--user-name", name)
        )

    nobody, reader, writer = user("nobody"), user("reader"), user("writer")
    service = _keys(trailhouse("service", "create", "forgery-bot", "--data-dir", str(data_dir)))
    server = Server(data_dir, free_port())
    server.start(env={"TRAILHOUSE_DELIVERY_FLUSH_SECONDS": "0.1"})
    try:
        with rpc_client(server, root) as rpc:
            for name, policy in (
                ("reader", "AliyunActionTrailReadOnlyAccess"),
                ("writer", "AliyunActionTrailFullAccess"),
            ):
                rpc.call(
                    "AttachPolicyToUser",
                    {"UserName": name, "PolicyName": policy, "PolicyType": "System"},
                )
        client = sdk(server, root)
        client.create_trail(
            models.CreateTrailRequest(
                name=TRAIL, max_compute_project_arn=project_arn(root.account_id)
            )
        )
        client.start_logging(models.StartLoggingRequest(name=TRAIL))
        yield Setup(server, root, nobody, reader, writer, service)
    finally:
        assert server.stop() == 0


def _root_signin(account_id: str, root_key: str, **fields: Any) -> dict[str, Any]:
    """A `ConsoleSignin` of the root account, as trailhouse's console writes one."""
    return make_event(
        account_id,
        1,
        eventName="ConsoleSignin",
        eventType="ConsoleSignin",
        eventRW="Write",
        eventSource="signin.cn-hangzhou.aliyuncs.com",
        serviceName="Signin",
        userIdentity={
            "type": "root-account",
            "principalId": account_id,
            "accountId": account_id,
            "accessKeyId": root_key,
        },
        additionalEventData={"loginAccount": "root", "signInMethod": "AccessKey"},
        **fields,
    )


def _lookup(setup: Setup, key: str, value: str) -> list[dict[str, Any]]:
    """The root's LookupEvents through the official SDK, once the events are searchable."""
    client = sdk(setup.server, setup.root)
    request = models.LookupEventsRequest(
        lookup_attribute=[models.LookupEventsRequestLookupAttribute(key=key, value=value)],
        max_results=50,
    )
    deadline = time.monotonic() + 15
    while True:
        events: list[dict[str, Any]] = client.lookup_events(request).body.events or []
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def _recorder(keys: Keys, kind: str, name: str, principal: str) -> dict[str, str]:
    return {
        "type": kind,
        "accessKeyId": keys.access_key_id,
        "principalId": principal,
        "accountId": keys.account_id,
        "userName": name,
    }


def test_a_ram_user_without_a_policy_is_refused_put_events(setup: Setup) -> None:
    forged = _root_signin(setup.root.account_id, setup.root.access_key_id)
    for keys in (setup.nobody, setup.reader):  # ReadOnly does not grant recording either
        with pytest.raises(ClientException) as refused:
            put_events(sdk(setup.server, keys), [forged])
        assert refused.value.code == "NoPermission"
        assert "actiontrail:PutEvents" in refused.value.message
    assert _lookup(setup, "EventId", forged["eventId"]) == []


def test_a_forged_root_signin_is_told_from_trailhouses_own(setup: Setup) -> None:
    forged = _root_signin(setup.root.account_id, setup.root.access_key_id)
    answer = put_events(sdk(setup.server, setup.writer), [forged])
    assert answer["Accepted"] == 1 and not answer["Failed"]
    # The root's real sign-in, through the console over HTTP: trailhouse records it itself.
    with httpx.Client(base_url=setup.server.url) as browser:
        token = _CSRF.search(browser.get("/console/signin").text)
        assert token is not None
        signed_in = browser.post(
            "/console/signin",
            json={
                "AccessKeyId": setup.root.access_key_id,
                "AccessKeySecret": setup.root.access_key_secret,
            },
            headers={"X-CSRF-Token": token.group(1)},
        )
        assert signed_in.status_code == 200, signed_in.text
    deadline = time.monotonic() + 15
    while len(signins := _lookup(setup, "EventName", "ConsoleSignin")) < 2:
        assert time.monotonic() < deadline, signins
        time.sleep(0.1)
    by_id = {event["eventId"]: event for event in signins}
    fake = by_id.pop(forged["eventId"])
    [real] = by_id.values()
    # Both claim the root account's key; only the recorder tells them apart.
    assert fake["userIdentity"]["type"] == real["userIdentity"]["type"] == "root-account"
    writer_principal = fake["trailhouseRecorder"]["principalId"]
    assert fake["trailhouseRecorder"] == _recorder(
        setup.writer, "ram-user", "writer", writer_principal
    )
    assert real["trailhouseRecorder"] == {"type": "trailhouse"}
    # The same in the warehouse; the `event` column is the event as recorded, without it.
    wait_delivered(setup.server, setup.root, TRAIL)
    rows = sql_rows(
        setup.server,
        setup.root,
        f"SELECT event_id, recorded_by, event FROM {TABLE} WHERE event_name = 'ConsoleSignin'",
    )
    recorded = {row[0]: (orjson.loads(row[1]), orjson.loads(row[2])) for row in rows}
    assert recorded[forged["eventId"]][0] == fake["trailhouseRecorder"]
    assert recorded[real["eventId"]][0] == {"type": "trailhouse"}
    assert "trailhouseRecorder" not in recorded[forged["eventId"]][1]
    assert recorded[forged["eventId"]][1]["userIdentity"] == forged["userIdentity"]


def test_a_forger_cannot_take_a_real_events_id_first(setup: Setup) -> None:
    account = setup.root.account_id
    real = make_event(account, 5, eventName="DeleteBucket", eventRW="Write")
    # The forger guesses (or saw) the id and records a harmless-looking event under it first.
    squatter = {**real, "eventName": "DescribeBuckets", "eventRW": "Read"}
    assert put_events(sdk(setup.server, setup.writer), [squatter])["Accepted"] == 1
    answer = put_events(sdk(setup.server, setup.root), [real])
    assert answer["Accepted"] == 0
    [failed] = answer["Failed"]
    assert failed["Code"] == "InvalidEvent.DuplicateFromOtherRecorder"
    assert real["eventId"] in failed["Message"]
    [stored] = _lookup(setup, "EventId", real["eventId"])
    assert stored["eventName"] == "DescribeBuckets"  # the first copy stays, and says whose it is
    assert stored["trailhouseRecorder"]["accessKeyId"] == setup.writer.access_key_id
    # The same principal's retry is idempotent as ever.
    retried = put_events(sdk(setup.server, setup.writer), [squatter])
    assert retried["Accepted"] == 1 and retried["Failed"] == []


def test_an_event_may_not_bring_its_own_recorder_in_any_spelling(setup: Setup) -> None:
    account = setup.root.account_id
    claimed = make_event(account, 5, trailhouseRecorder={"type": "trailhouse"})
    answer = put_events(sdk(setup.server, setup.writer), [claimed])
    assert answer["Accepted"] == 0
    assert [f["Code"] for f in answer["Failed"]] == ["InvalidEvent.ReservedField"]
    # The key spelled with a JSON escape, sent as raw bytes.
    event = orjson.dumps(make_event(account, 5, trailhouseRecorder={"type": "trailhouse"}))
    escaped = event.replace(b'"trailhouseRecorder"', b'"trailhouse\\u0052ecorder"')
    status, body = _put_raw(setup.server, setup.writer, b'{"Events":[' + escaped + b"]}")
    assert status == 200, body
    assert [f["Code"] for f in orjson.loads(body)["Failed"]] == ["InvalidEvent.ReservedField"]


def test_service_keys_still_record_for_any_account(setup: Setup) -> None:
    account = setup.root.account_id
    event = make_event(account, 5, recipientAccountId=account, eventName="ServiceThing")
    assert put_events(sdk(setup.server, setup.service), [event])["Accepted"] == 1
    [stored] = _lookup(setup, "EventId", event["eventId"])
    recorder = stored["trailhouseRecorder"]
    assert recorder["type"] == "service" and recorder["userName"] == "forgery-bot"
    assert recorder["accessKeyId"] == setup.service.access_key_id
    assert "accountId" not in recorder  # a service key belongs to no account


def _put_raw(server: Server, keys: Keys, body: bytes) -> tuple[int, bytes]:
    query, headers = sign_request_v3(
        "POST",
        server.endpoint,
        "PutEvents",
        "2020-07-06",
        {},
        body,
        keys.access_key_id,
        keys.access_key_secret,
        content_type="application/json",
        nonce=str(uuid.uuid4()),
    )
    connection = http.client.HTTPConnection(server.endpoint, timeout=10)
    try:
        connection.request("POST", f"/?{query}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
