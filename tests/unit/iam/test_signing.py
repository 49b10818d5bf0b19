"""Client-side V3 signing and the shared canonical forms, checked against the official SDK's own
functions: `sign_request_v3` output verifies, and both signatures match the SDK on odd inputs."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

from trailhouse.iam.signatures import SignedRequest, sign_request_v3, verify_request
from trailhouse.iam.signing import (
    flatten_params,
    parse_timestamp,
    v2_signature,
    v2_string_to_sign,
)

AK = "LTAI5tTestKey0001"
SECRET = "s3cr3t/With+Odd=Chars"
SKEW = 900
ODD_VALUE = "a b+c/d*e~f %41 & x=y é 漢字"
EVENTS = [
    {"eventName": "Console Signin", "eventId": "e-1", "ok": True, "tags": ["a+b", "c d"]},
    {"eventName": "CreateTrail", "eventId": "e/2", "requestParameters": {"Name": "t~1 é"}},
]


def lookup(access_key_id: str) -> str | None:
    return SECRET if access_key_id == AK else None


@pytest.mark.parametrize("plus_as", ["+", "%20"])
def test_sign_request_v3_round_trip(plus_as: str) -> None:
    body = json.dumps({"Events": EVENTS}, ensure_ascii=False).encode()
    params = {"Name": ODD_VALUE, "LookupAttribute.1.Key": "EventName", "Empty": ""}
    query, headers = sign_request_v3(
        "POST", "trail.example:8080", "PutEvents", "2020-07-06", params, body, AK, SECRET,
        content_type="application/json; charset=utf-8", now=1_700_000_000, nonce="n-1",
    )  # fmt: skip
    assert "Name=a+b%2Bc%2Fd%2Ae~f+%2541+%26+x%3Dy+%C3%A9+" in query
    received = SignedRequest(
        "POST", "/", query.replace("+", plus_as), {k.lower(): v for k, v in headers.items()}, body
    )
    result = verify_request(received, lookup, now=1_700_000_000, max_skew_seconds=SKEW)
    assert (result.action, result.version, result.nonce) == ("PutEvents", "2020-07-06", "n-1")
    assert (result.signed_at, result.params) == (1_700_000_000, params)


def test_sign_request_v3_defaults_make_fresh_nonces() -> None:
    _, first = sign_request_v3("GET", "h", "A", "1", {}, b"", AK, SECRET)
    _, second = sign_request_v3("GET", "h", "A", "1", {}, b"", AK, SECRET)
    assert first["x-acs-signature-nonce"] != second["x-acs-signature-nonce"]
    assert len(first["x-acs-signature-nonce"]) == 32
    assert "content-type" not in first
    assert abs((parse_timestamp(first["x-acs-date"]) or 0) - time.time()) < 5


def test_v2_signature_matches_the_sdk_function() -> None:
    params = {"Action": "X", "Odd": ODD_VALUE, "Empty": "", "Ünï": "ü", "a.b": "~*"}
    for method in ("GET", "POST"):
        ours = v2_signature(SECRET, v2_string_to_sign(method, params))
        assert ours == Utils.get_rpcsignature(params, method, SECRET)


def test_flatten_params_matches_the_sdk() -> None:
    value = {"Events": EVENTS, "Skip": None, "Flag": False, "Raw": b"r\xc3\xa9", "N": 1.5}
    assert flatten_params(value) == Utils.query(value)


def test_sign_request_v3_matches_sdk_get_authorization_on_odd_inputs() -> None:
    params = {"Odd": ODD_VALUE, "Empty": "", "Ünï": "ü", "a.b": "~*"}
    query, headers = sign_request_v3(
        "POST", "h:1", "A", "1", params, b"x", AK, SECRET, now=0, nonce="n",
        extra_headers={"X-Acs-Padded": "  spaced value  ", "user-agent": "ua"},
    )  # fmt: skip
    sdk = DaraRequest()
    sdk.method, sdk.pathname, sdk.query = "POST", "/", params
    sdk.headers = {k: v for k, v in headers.items() if k != "Authorization"}
    sha = hashlib.sha256(b"x").hexdigest()
    assert headers["Authorization"] == Utils.get_authorization(
        sdk, "ACS3-HMAC-SHA256", sha, AK, SECRET
    )
    # A server that trims header values still verifies, as the SDK signs them trimmed.
    received = {k.lower(): v.strip() for k, v in headers.items()}
    result = verify_request(
        SignedRequest("POST", "/", query, received, b"x"), lookup, now=0, max_skew_seconds=1
    )
    assert result.params == params
