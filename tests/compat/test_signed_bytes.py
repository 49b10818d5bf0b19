"""Every signed byte is the byte acted on: captured requests cannot be re-cut or refilled.

Each request here is signed by the official SDK's own signing code (`alibabacloud_tea_openapi`:
`get_rpcsignature` for V2, `get_authorization` for V3), then altered as an attacker holding a
captured request would alter it. Two attacks once passed: a V2 request carried a JSON body its
signature does not cover, and its events were recorded; a V3 query was re-split into other
parameters (`a=1&b` = `2` signs as `a` = `1`, `b` = `2`: the SDK does not encode keys, so
such names are refused).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import time
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from alibabacloud_tea_openapi.utils import Utils
from compat_support import Fixture, Keys, Server
from factory import make_event

from trailhouse.events.validation import format_event_time
from trailhouse.iam.signing import format_timestamp


def _send(
    server: Server, query: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(server.endpoint, timeout=10)
    try:
        connection.request("POST", f"/?{query}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _v2_params(keys: Keys, action: str, extra: dict[str, str]) -> dict[str, str]:
    params = {
        "Action": action,
        "Format": "json",
        "Version": "2020-07-06",
        "AccessKeyId": keys.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": format_timestamp(time.time()),
        **extra,
    }
    params["Signature"] = Utils.get_rpcsignature(params, "POST", keys.access_key_secret)
    return params


def _v3_headers(server: Server, keys: Keys, action: str, query: dict[str, str]) -> dict[str, str]:
    headers = {
        "host": server.endpoint,
        "x-acs-action": action,
        "x-acs-version": "2020-07-06",
        "x-acs-date": format_timestamp(time.time()),
        "x-acs-signature-nonce": secrets.token_hex(16),
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "accept": "application/json",
    }
    request = SimpleNamespace(method="POST", pathname="/", query=query, headers=headers)
    headers["Authorization"] = Utils.get_authorization(
        request,
        "ACS3-HMAC-SHA256",
        headers["x-acs-content-sha256"],
        keys.access_key_id,
        keys.access_key_secret,
    )
    return headers


def _lookup_params(event_id: str) -> dict[str, str]:
    return {
        "LookupAttribute.1.Key": "EventId",
        "LookupAttribute.1.Value": event_id,
        "StartTime": format_event_time(int(time.time()) - 86400),
    }


def _found(running: Fixture, event_id: str) -> bool:
    params = _v2_params(running.root, "LookupEvents", _lookup_params(event_id))
    for _ in range(100):  # other tests share the account's LookupEvents rate: wait for a turn
        status, answer = _send(running.server, urlencode(params), {})
        if status != 429:
            break
        time.sleep(0.05)
        params = _v2_params(running.root, "LookupEvents", _lookup_params(event_id))
    assert status == 200, answer
    return bool(answer["Events"])


def test_a_v2_request_does_not_carry_an_unsigned_json_body(running: Fixture) -> None:
    event = make_event(running.root.account_id, seconds_ago=10, eventName="ForgedBySwap")
    params = _v2_params(running.root, "PutEvents", {})
    body = json.dumps({"Events": [event]}).encode()
    status, answer = _send(
        running.server, urlencode(params), {"content-type": "application/json"}, body
    )
    assert (status, answer["Code"]) == (400, "IncompleteSignature"), answer
    assert "V3" in answer["Message"]
    assert not _found(running, event["eventId"])


def test_a_v2_form_body_is_acted_on_only_as_its_signed_fields(running: Fixture) -> None:
    # Form decoding reads `+` as a space: JSON text with `+` where the signed one had a space
    # signs the same, so the raw body must never be read as JSON under V2.
    signed_event = make_event(running.root.account_id, seconds_ago=10, eventName="Signed Name")
    swapped = {**signed_event, "eventName": "Signed+Name", "eventId": str(uuid.uuid4())}
    form = {"Events": json.dumps([signed_event])}
    params = _v2_params(running.root, "PutEvents", form)
    signed_body = urlencode({"Events": params.pop("Events")})
    attack = json.dumps({"Events": [swapped]}).replace(" ", "+")
    query = urlencode(params)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    status, answer = _send(running.server, query, headers, attack.encode())
    assert (status, answer["Code"]) == (400, "SignatureDoesNotMatch"), answer
    assert not _found(running, swapped["eventId"])
    # The same signed parameters, sent as signed, record the signed event.
    status, answer = _send(running.server, query, headers, signed_body.encode())
    assert (status, answer.get("Accepted")) == (200, 1), answer
    deadline = time.monotonic() + 10
    while not _found(running, signed_event["eventId"]):  # searchable a moment after the reply
        assert time.monotonic() < deadline, "the signed event never became searchable"
        time.sleep(0.05)
    assert not _found(running, swapped["eventId"])


def test_a_v3_query_cannot_be_re_split_into_other_parameters(running: Fixture) -> None:
    signed = {
        "LookupAttribute.1.Key": "EventName",
        "LookupAttribute.1.Value": "NoSuchEventEver",
        "StartTime": format_event_time(int(time.time()) - 86400),
    }
    headers = _v3_headers(running.server, running.root, "LookupEvents", signed)
    # As signed: answered, nothing found.
    status, answer = _send(running.server, urlencode(signed), headers)
    assert (status, answer["Events"]) == (200, []), answer
    # Re-split: one key swallows the condition; unencoded keys would sign the same text.
    headers = _v3_headers(running.server, running.root, "LookupEvents", signed)
    merged_key = "LookupAttribute.1.Key=EventName&LookupAttribute.1.Value"
    resplit = (
        f"{quote(merged_key, safe='')}=NoSuchEventEver"
        f"&StartTime={quote(signed['StartTime'], safe='')}"
    )
    status, answer = _send(running.server, resplit, headers)
    assert (status, answer["Code"]) == (400, "InvalidParameter"), answer
    assert "holds '&', '='" in answer["Message"]
