"""Bad bytes are refused at the door, through a real server: each gets its documented code,
never a 500, and a refused PutEvents stores nothing."""

from __future__ import annotations

import http.client
import time
from typing import Any

import orjson
import pytest
from compat_support import Fixture, Keys, Server, put_events, sdk
from factory import make_event

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.iam.signatures import sign_request_v3

PROJECT = "badbytes_sql"


def _post(server: Server, keys: Keys, action: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A V3-signed POST of a raw JSON body: the status and the decoded answer."""
    query, headers = sign_request_v3(
        "POST",
        server.endpoint,
        action,
        "2020-07-06",
        {},
        body,
        keys.access_key_id,
        keys.access_key_secret,
        content_type="application/json",
    )
    connection = http.client.HTTPConnection(server.endpoint, timeout=30)
    try:
        connection.request("POST", f"/?{query}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        connection.close()


def _stored(server: Server, keys: Keys, event_id: str) -> list[Any]:
    with RpcClient(server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        found: list[Any] = rpc.call(
            "LookupEvents",
            {"LookupAttribute.1.Key": "EventId", "LookupAttribute.1.Value": event_id},
        )["Events"]
    return found


def test_a_fullwidth_event_time_is_refused_and_not_stored(running: Fixture) -> None:
    fullwidth = "\uff12\uff10\uff12\uff16-01-02T03:04:05Z"
    account = running.root.account_id
    answer = put_events(
        sdk(running.server, running.root),
        [
            make_event(account, 60, eventId="bad-bytes-fullwidth", eventTime=fullwidth),
            make_event(account, 60, eventId="bad-bytes-good"),
        ],
    )
    assert answer["Accepted"] == 1
    [failed] = answer["Failed"]
    assert (failed["Index"], failed["Code"]) == (0, "InvalidEvent.InvalidField")
    assert "with ASCII digits 0-9" in failed["Message"]
    time.sleep(0.2)  # searchable a moment after PutEvents returns
    assert _stored(running.server, running.root, "bad-bytes-fullwidth") == []
    assert len(_stored(running.server, running.root, "bad-bytes-good")) == 1


def test_a_100000_deep_body_is_refused_whole_and_stores_nothing(running: Fixture) -> None:
    beside = orjson.dumps(make_event(running.root.account_id, 60, eventId="bad-bytes-beside-deep"))
    body = b'{"Events": [' + beside + b", " + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    status, answer = _post(running.server, running.root, "PutEvents", body)
    assert (status, answer["Code"]) == (400, "MalformedBody.TooDeep")
    assert "more than 128 levels deep" in answer["Message"]
    deep = b'{"Events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = _post(running.server, running.root, "PutEvents", deep)
    assert (status, answer["Code"]) == (400, "MalformedBody.TooDeep")
    # Not even an object: refused as a body that is not {"Events": [...]}, still not a 500.
    status, answer = _post(running.server, running.root, "PutEvents", b"[" * 100_000)
    assert (status, answer["Code"]) == (400, "MalformedBody")
    time.sleep(0.2)
    assert _stored(running.server, running.root, "bad-bytes-beside-deep") == []


@pytest.mark.parametrize(
    ("sql", "code", "says"),
    [
        ("SELECT " + "(" * 1000 + "1" + ")" * 1000, "ODPS-0130161", "more than 32 levels deep"),
        (
            "SELECT TRANSFORM(event_name) USING 'cat' AS (x) FROM t",
            "ODPS-0130071",
            "TRANSFORM/MAP/REDUCE ... USING 'script'",
        ),
    ],
)
def test_deep_sql_and_transform_get_maxcompute_codes(
    running: Fixture, sql: str, code: str, says: str
) -> None:
    keys = running.root
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        if PROJECT not in {p["Name"] for p in rpc.call("ListProjects", {})["Projects"]}:
            rpc.call("CreateProject", {"Project": PROJECT})
        with pytest.raises(RequestFailed) as refused:
            rpc.call("SubmitSqlJob", {"Project": PROJECT, "Sql": sql})
    assert (refused.value.status, refused.value.code) == (400, code)
    assert says in refused.value.message
