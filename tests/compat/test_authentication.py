"""Signature checks seen from the official SDK and from raw requests: every documented code."""

from __future__ import annotations

import time
import uuid

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, Keys, sdk, signed_raw


def test_a_correctly_signed_raw_request_is_answered(running: Fixture) -> None:
    status, body = signed_raw(running.server, running.root)
    assert status == 200, body


def test_a_reused_nonce_is_refused(running: Fixture) -> None:
    nonce = uuid.uuid4().hex
    assert signed_raw(running.server, running.root, nonce=nonce)[0] == 200
    status, body = signed_raw(running.server, running.root, nonce=nonce)
    assert status == 400
    assert b'"Code":"SignatureNonceUsed"' in body


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60])
def test_clock_skew_over_15_minutes_is_refused(running: Fixture, skew: int) -> None:
    status, body = signed_raw(running.server, running.root, now=time.time() + skew)
    assert status == 400
    assert b'"Code":"InvalidTimeStamp.Expired"' in body


def test_clock_skew_under_15_minutes_is_fine(running: Fixture) -> None:
    assert signed_raw(running.server, running.root, now=time.time() - 14 * 60)[0] == 200


def test_a_missing_authorization_header_is_incomplete(running: Fixture) -> None:
    status, body = signed_raw(running.server, running.root, tamper={"Authorization": ""})
    assert status == 400
    assert b'"Code":"IncompleteSignature"' in body


def test_an_unknown_action_is_not_found(running: Fixture) -> None:
    status, body = signed_raw(running.server, running.root, action="LaunchRockets")
    assert status == 404
    assert b'"Code":"InvalidAction.NotFound"' in body
    # ActionTrail's own message, without claiming the API version lacks the action
    assert b"Specified api is not found, please check your url and method." in body
    assert b"LaunchRockets" in body
    assert b"2020-07-06" not in body


@pytest.mark.parametrize("signature", [None, "v2"])
def test_wrong_secret_and_unknown_key_through_the_sdk(
    running: Fixture, signature: str | None
) -> None:
    wrong_secret = Keys(running.root.account_id, running.root.access_key_id, "not-the-secret")
    with pytest.raises(ClientException) as raised:
        sdk(running.server, wrong_secret, signature=signature).lookup_events(
            models.LookupEventsRequest()
        )
    assert (raised.value.code, raised.value.status_code) == ("SignatureDoesNotMatch", 400)
    unknown = Keys(running.root.account_id, "LTAI5tNoSuchKey0000000", "whatever")
    with pytest.raises(ClientException) as raised:
        sdk(running.server, unknown, signature=signature).lookup_events(
            models.LookupEventsRequest()
        )
    assert (raised.value.code, raised.value.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    assert "LTAI5tNoSuchKey0000000" in raised.value.message


def test_calls_are_audited_in_the_callers_account(running: Fixture) -> None:
    client = sdk(running.server, running.alice)
    with pytest.raises(ClientException):
        client.lookup_events(models.LookupEventsRequest(max_results="99"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = (
            sdk(running.server, running.root)
            .lookup_events(
                models.LookupEventsRequest(
                    lookup_attribute=[
                        models.LookupEventsRequestLookupAttribute(
                            key="EventName", value="LookupEvents"
                        ),
                        models.LookupEventsRequestLookupAttribute(key="User", value="alice"),
                    ]
                )
            )
            .body.events
        )
        # alice holds no policy: her call is refused, and the refusal is audited.
        failed = [event for event in events if event.get("errorCode") == "NoPermission"]
        if failed:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the failed LookupEvents call was not audited")
    event = failed[0]
    assert event["serviceName"] == "Actiontrail"
    assert event["eventRW"] == "Read"
    assert event["userIdentity"]["userName"] == "alice"
    assert event["userIdentity"]["accessKeyId"] == running.alice.access_key_id
    assert event["requestParameters"]["MaxResults"] == "99"
    assert event["sourceIpAddress"] == "127.0.0.1"
    assert "AlibabaCloud" in event["userAgent"]
    assert "actiontrail:LookupEvents" in event["errorMessage"]
