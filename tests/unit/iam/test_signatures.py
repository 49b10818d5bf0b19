"""Request signatures: requests the official SDK really sends (V3 and V2) verify, tampering fails
with the right error, and `sign_request_v3` signs byte for byte as the SDK does."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models as at
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.models import Config, OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions

from trailhouse.errors import (
    ApiError,
    ContentSha256Mismatch,
    IncompleteSignature,
    InvalidAccessKeyIdNotFound,
    InvalidParameter,
    InvalidTimeStampExpired,
    SignatureDoesNotMatch,
)
from trailhouse.iam.signatures import SignedRequest, sign_request_v3, verify_request
from trailhouse.iam.signing import (
    flatten_params,
    parse_pairs,
    parse_timestamp,
    v2_signature,
    v3_signature,
)

AK = "LTAI5tTestKey0001"
SECRET = "s3cr3t/With+Odd=Chars"
SKEW = 900
# Spaces, +, /, *, ~, %, & and non-ASCII: every class of character the encodings treat apart.
ODD_VALUE = "a b+c/d*e~f %41 & x=y é 漢字"
EVENTS: list[dict[str, Any]] = [
    {"eventName": "Console Signin", "eventId": "e-1", "ok": True, "tags": ["a+b", "c d"]},
    {"eventName": "CreateTrail", "eventId": "e/2", "requestParameters": {"Name": "t~1 é"}},
]


def secrets_of(known: dict[str, str]) -> Callable[[str], str | None]:
    return known.get


LOOKUP = secrets_of({AK: SECRET})


@dataclass
class Capture:
    """A stdlib HTTP server that records every request and answers `{"RequestId": "X"}`."""

    port: int
    requests: list[SignedRequest]


def _handler(requests: list[SignedRequest]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path, _, query = self.path.partition("?")
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]},{value}" if key in headers else value
            requests.append(SignedRequest(self.command, path, query, headers, body))
            out = b'{"RequestId": "X"}'
            self.send_response(200)
            self.send_header("content-type", "application/json;charset=utf-8")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self) -> None:
            self._record()

        def do_POST(self) -> None:
            self._record()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    requests: list[SignedRequest] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(requests))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Capture(server.server_address[1], requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


CALLS = ("lookup_events", "describe_trails", "stop_logging", "put_events")


def _call(client: Client, call: str) -> None:
    if call == "lookup_events":
        attribute = at.LookupEventsRequestLookupAttribute(key="EventName", value=ODD_VALUE)
        client.lookup_events(
            at.LookupEventsRequest(
                start_time="2025-03-01T00:00:00Z",
                end_time="2025-03-02T00:00:00Z",
                max_results="20",
                lookup_attribute=[attribute],
            )
        )
    elif call == "describe_trails":
        client.describe_trails(at.DescribeTrailsRequest(include_shadow_trails=True))
    elif call == "stop_logging":
        client.stop_logging(at.StopLoggingRequest(name="trail 1"))
    else:
        params = Params(
            action="PutEvents",
            version="2020-07-06",
            protocol="HTTP",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="json",
            body_type="json",
        )
        client.call_api(params, OpenApiRequest(body={"Events": EVENTS}), RuntimeOptions())


@pytest.fixture(scope="module")
def sent(capture: Capture) -> dict[tuple[str, str], SignedRequest]:
    """What the official SDK really sent for each (signature version, call)."""
    out: dict[tuple[str, str], SignedRequest] = {}
    for version, algorithm in (("v3", None), ("v2", "v2")):
        config = Config(
            access_key_id=AK,
            access_key_secret=SECRET,
            endpoint=f"127.0.0.1:{capture.port}",
            protocol="http",
            region_id="cn-hangzhou",
            signature_algorithm=algorithm,
        )
        client = Client(config)
        for call in CALLS:
            before = len(capture.requests)
            _call(client, call)
            assert len(capture.requests) == before + 1
            out[version, call] = capture.requests[-1]
    return out


EXPECTED: dict[str, tuple[str, str, dict[str, str]]] = {
    "lookup_events": (
        "POST",
        "LookupEvents",
        {
            "StartTime": "2025-03-01T00:00:00Z",
            "EndTime": "2025-03-02T00:00:00Z",
            "MaxResults": "20",
            "LookupAttribute.1.Key": "EventName",
            "LookupAttribute.1.Value": ODD_VALUE,
        },
    ),
    "describe_trails": ("POST", "DescribeTrails", {"IncludeShadowTrails": "True"}),
    "stop_logging": ("GET", "StopLogging", {"Name": "trail 1"}),
    "put_events": ("POST", "PutEvents", {}),
}


def _verify(req: SignedRequest, now: float | None = None, lookup: Any = LOOKUP) -> Any:
    return verify_request(
        req, lookup, now=time.time() if now is None else now, max_skew_seconds=SKEW
    )


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("version", ["v3", "v2"])
def test_sdk_requests_verify(
    sent: dict[tuple[str, str], SignedRequest], version: str, call: str
) -> None:
    req = sent[version, call]
    method, action, params = EXPECTED[call]
    if version == "v2" and call == "put_events":
        # V2 sends a dict body form-encoded, flattened the way Utils.query flattens it.
        params = flatten_params({"Events": EVENTS})
    result = _verify(req)
    assert req.method == method
    assert result.access_key_id == AK
    assert result.action == action
    assert result.version == "2020-07-06"
    assert result.params == params
    assert abs(result.signed_at - time.time()) < 60
    if version == "v3":
        assert result.signature_version == "ACS3-HMAC-SHA256"
        assert result.nonce == req.headers["x-acs-signature-nonce"]
    else:
        assert result.signature_version == "v2"
        assert result.nonce == dict(parse_pairs(req.query_string, "q"))["SignatureNonce"]


def test_v3_put_events_body_is_json(sent: dict[tuple[str, str], SignedRequest]) -> None:
    req = sent["v3", "put_events"]
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert req.headers["x-acs-content-sha256"] == hashlib.sha256(req.body).hexdigest()
    assert json.loads(req.body) == {"Events": EVENTS}
    assert req.query_string == ""


def test_v2_put_events_body_is_a_flattened_form(
    sent: dict[tuple[str, str], SignedRequest],
) -> None:
    req = sent["v2", "put_events"]
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.body.startswith(b"Events.1.eventId=e-1&Events.1.eventName=Console+Signin&")
    assert b"Events.1.ok=True&Events.1.tags.1=a%2Bb&Events.1.tags.2=c+d&" in req.body
    assert b"Events.2.requestParameters.Name=t~1+%C3%A9" in req.body
    # The form the HTTP layer decoded itself is used as well as the raw body.
    form = dict(parse_pairs(req.body.decode(), "form"))
    result = _verify(replace(req, form=form, body=b""))
    assert result.params == flatten_params({"Events": EVENTS})


def _drop_query(name: str) -> Callable[[SignedRequest], SignedRequest]:
    def change(req: SignedRequest) -> SignedRequest:
        kept = [p for p in req.query_string.split("&") if p.partition("=")[0] != name]
        return replace(req, query_string="&".join(kept))

    return change


def _drop_header(name: str) -> Callable[[SignedRequest], SignedRequest]:
    def change(req: SignedRequest) -> SignedRequest:
        return replace(req, headers={k: v for k, v in req.headers.items() if k != name})

    return change


def _set_header(name: str, value: str) -> Callable[[SignedRequest], SignedRequest]:
    def change(req: SignedRequest) -> SignedRequest:
        return replace(req, headers={**req.headers, name: value})

    return change


def _edit_query(old: str, new: str) -> Callable[[SignedRequest], SignedRequest]:
    def change(req: SignedRequest) -> SignedRequest:
        assert old in req.query_string
        return replace(req, query_string=req.query_string.replace(old, new))

    return change


def _edit_body(req: SignedRequest) -> SignedRequest:
    assert b"e-1" in req.body
    return replace(req, body=req.body.replace(b"e-1", b"e-9"))


def _edit_body_and_hash(req: SignedRequest) -> SignedRequest:
    edited = _edit_body(req)
    sha = hashlib.sha256(edited.body).hexdigest()
    return replace(edited, headers={**edited.headers, "x-acs-content-sha256": sha})


def _same(req: SignedRequest) -> SignedRequest:
    return req


WRONG_SECRET = secrets_of({AK: "not-the-secret"})
NO_KEYS = secrets_of({})
AUTH_PREFIX = "ACS3-HMAC-SHA256 Credential=" + AK

# (id, request, change, lookup, clock offset, error, words the message must contain)
ERRORS: list[tuple[str, tuple[str, str], Any, Any, float, type[ApiError], str]] = [
    ("v3-wrong-secret", ("v3", "lookup_events"), _same, WRONG_SECRET, 0, SignatureDoesNotMatch,
     "Server string to sign is: ACS3-HMAC-SHA256\n"),
    ("v2-wrong-secret", ("v2", "lookup_events"), _same, WRONG_SECRET, 0, SignatureDoesNotMatch,
     "Server string to sign is: POST&%2F&AccessKeyId%3D"),
    ("v3-unknown-key", ("v3", "describe_trails"), _same, NO_KEYS, 0, InvalidAccessKeyIdNotFound,
     AK),
    ("v2-unknown-key", ("v2", "stop_logging"), _same, NO_KEYS, 0, InvalidAccessKeyIdNotFound,
     AK),
    ("v3-clock-ahead", ("v3", "stop_logging"), _same, LOOKUP, SKEW + 2,
     InvalidTimeStampExpired, f"at most {SKEW} seconds"),
    ("v3-clock-behind", ("v3", "stop_logging"), _same, LOOKUP, -SKEW - 2,
     InvalidTimeStampExpired, "but the server time is"),
    ("v2-clock-ahead", ("v2", "lookup_events"), _same, LOOKUP, SKEW + 2,
     InvalidTimeStampExpired, f"at most {SKEW} seconds"),
    ("v3-tampered-query", ("v3", "lookup_events"), _edit_query("MaxResults=20", "MaxResults=21"),
     LOOKUP, 0, SignatureDoesNotMatch, "MaxResults=21"),
    ("v3-added-query", ("v3", "stop_logging"), _edit_query("Name=", "Extra=1&Name="),
     LOOKUP, 0, SignatureDoesNotMatch, "Extra=1&Name=trail%201"),
    ("v2-tampered-query", ("v2", "stop_logging"), _edit_query("Name=trail+1", "Name=trail+2"),
     LOOKUP, 0, SignatureDoesNotMatch, "Name%3Dtrail%25202"),
    ("v3-tampered-body", ("v3", "put_events"), _edit_body, LOOKUP, 0, ContentSha256Mismatch,
     "x-acs-content-sha256 is"),
    ("v3-tampered-body-and-hash", ("v3", "put_events"), _edit_body_and_hash, LOOKUP, 0,
     SignatureDoesNotMatch, "server canonical request is: POST\n/\n\naccept:"),
    ("v2-tampered-form-body", ("v2", "put_events"), _edit_body, LOOKUP, 0,
     SignatureDoesNotMatch, "eventId%3De-9"),
    ("v3-no-authorization", ("v3", "lookup_events"), _drop_header("authorization"), LOOKUP, 0,
     IncompleteSignature, "neither an Authorization header"),
    ("v3-no-date", ("v3", "lookup_events"), _drop_header("x-acs-date"), LOOKUP, 0,
     IncompleteSignature, "no x-acs-date header"),
    ("v3-no-nonce", ("v3", "lookup_events"), _drop_header("x-acs-signature-nonce"), LOOKUP, 0,
     IncompleteSignature, "no x-acs-signature-nonce header"),
    ("v3-no-content-sha", ("v3", "put_events"), _drop_header("x-acs-content-sha256"), LOOKUP, 0,
     IncompleteSignature, "no x-acs-content-sha256 header"),
    ("v3-no-action", ("v3", "lookup_events"), _drop_header("x-acs-action"), LOOKUP, 0,
     IncompleteSignature, "no x-acs-action header"),
    ("v3-no-host", ("v3", "lookup_events"), _drop_header("host"), LOOKUP, 0,
     IncompleteSignature, "no host header"),
    ("v3-signed-header-absent", ("v3", "lookup_events"), _drop_header("user-agent"), LOOKUP, 0,
     IncompleteSignature, "does not have: user-agent"),
    ("v3-unsigned-acs-header", ("v3", "lookup_events"), _set_header("x-acs-extra", "1"),
     LOOKUP, 0, IncompleteSignature, "missing: x-acs-extra"),
    ("v3-garbled-date", ("v3", "lookup_events"), _set_header("x-acs-date", "yesterday"),
     LOOKUP, 0, IncompleteSignature, "x-acs-date is 'yesterday'"),
    ("v3-garbled-authorization", ("v3", "lookup_events"),
     _set_header("authorization", AUTH_PREFIX), LOOKUP, 0, IncompleteSignature,
     "no SignedHeaders="),
    ("v3-authorization-without-signature", ("v3", "lookup_events"),
     _set_header("authorization", AUTH_PREFIX + ",SignedHeaders=host"), LOOKUP, 0,
     IncompleteSignature, "no Signature="),
    ("v3-unknown-algorithm", ("v3", "lookup_events"),
     _set_header("authorization", "ACS3-HMAC-SM3 Credential=x,SignedHeaders=y,Signature=z"),
     LOOKUP, 0, IncompleteSignature, "'ACS3-HMAC-SM3'"),
    ("v2-no-signature", ("v2", "lookup_events"), _drop_query("Signature"), LOOKUP, 0,
     IncompleteSignature, "Signature parameter (V2)"),
    ("v2-no-access-key", ("v2", "lookup_events"), _drop_query("AccessKeyId"), LOOKUP, 0,
     IncompleteSignature, "no AccessKeyId parameter"),
    ("v2-no-timestamp", ("v2", "lookup_events"), _drop_query("Timestamp"), LOOKUP, 0,
     IncompleteSignature, "no Timestamp parameter"),
    ("v2-no-nonce", ("v2", "lookup_events"), _drop_query("SignatureNonce"), LOOKUP, 0,
     IncompleteSignature, "no SignatureNonce parameter"),
    ("v2-unknown-method", ("v2", "lookup_events"),
     _edit_query("SignatureMethod=HMAC-SHA1", "SignatureMethod=HMAC-SHA256"), LOOKUP, 0,
     IncompleteSignature, "SignatureMethod is 'HMAC-SHA256'"),
    ("v2-duplicate-param", ("v2", "stop_logging"), _edit_query("Name=", "Name=x&Name="),
     LOOKUP, 0, InvalidParameter, "'Name' appears more than once"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "change", "lookup", "offset", "error", "words"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_verification_errors(
    sent: dict[tuple[str, str], SignedRequest],
    source: tuple[str, str],
    change: Callable[[SignedRequest], SignedRequest],
    lookup: Callable[[str], str | None],
    offset: float,
    error: type[ApiError],
    words: str,
) -> None:
    req = change(sent[source])
    with pytest.raises(error) as caught:
        _verify(req, now=time.time() + offset, lookup=lookup)
    assert type(caught.value) is error
    assert words in caught.value.message


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_a_wrong_secret_says_so_first_then_shows_exactly_what_the_client_signed(
    sent: dict[tuple[str, str], SignedRequest], version: str
) -> None:
    req = sent[version, "lookup_events"]
    with pytest.raises(SignatureDoesNotMatch) as caught:
        _verify(req, lookup=WRONG_SECRET)
    message = caught.value.message
    assert message.startswith(f"Check your AccessKey secret. The AccessKey ID {AK} exists")
    alibaba = message.index("Specified signature does not match our calculation.")
    assert message.index("the secret is wrong") < alibaba < message.index("Server string to sign")
    # What the server shows is what the SDK signed: the SDK's own signature, made with the
    # right secret, is the signature of the string to sign in the message.
    computed = message.partition("Server string to sign is: ")[2]
    if version == "v3":
        string_to_sign, _, canonical = computed.partition(" ; server canonical request is: ")
        assert string_to_sign.endswith(hashlib.sha256(canonical.encode()).hexdigest())
        given = req.headers["authorization"].rpartition("Signature=")[2]
        assert v3_signature(SECRET, string_to_sign) == given
        assert v3_signature("not-the-secret", string_to_sign) != given
    else:
        assert v2_signature(SECRET, computed) == _pairs(req)["Signature"]


def test_an_unknown_key_id_says_to_check_the_key_id(
    sent: dict[tuple[str, str], SignedRequest],
) -> None:
    with pytest.raises(InvalidAccessKeyIdNotFound) as caught:
        _verify(sent["v3", "describe_trails"], lookup=NO_KEYS)
    assert caught.value.message.startswith(f"The AccessKey ID {AK!r} does not exist")
    assert "check the AccessKey ID your client is configured with" in caught.value.message


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_skew_is_inclusive(sent: dict[tuple[str, str], SignedRequest], version: str) -> None:
    signed_at = _verify(sent[version, "stop_logging"]).signed_at
    assert _verify(sent[version, "stop_logging"], now=signed_at + SKEW).signed_at == signed_at
    assert _verify(sent[version, "stop_logging"], now=signed_at - SKEW).signed_at == signed_at
    with pytest.raises(InvalidTimeStampExpired):
        _verify(sent[version, "stop_logging"], now=signed_at + SKEW + 1)


def _pairs(req: SignedRequest) -> dict[str, str]:
    return dict(parse_pairs(req.query_string, "query"))


@pytest.mark.parametrize("call", CALLS)
def test_sign_request_v3_matches_the_sdk(
    sent: dict[tuple[str, str], SignedRequest], call: str
) -> None:
    req = sent["v3", call]
    signed_at = parse_timestamp(req.headers["x-acs-date"])
    assert signed_at is not None
    query, headers = sign_request_v3(
        req.method,
        req.headers["host"],
        req.headers["x-acs-action"],
        req.headers["x-acs-version"],
        _pairs(req),
        req.body,
        AK,
        SECRET,
        content_type=req.headers.get("content-type"),
        now=signed_at,
        nonce=req.headers["x-acs-signature-nonce"],
        extra_headers={
            "user-agent": req.headers["user-agent"],
            "x-acs-credentials-provider": req.headers["x-acs-credentials-provider"],
        },
    )
    assert query == req.query_string
    assert headers.pop("Authorization") == req.headers["authorization"]
    assert headers == {k: v for k, v in req.headers.items() if k in headers}
    assert set(req.headers) - set(headers) <= {"accept-encoding", "content-length", "authorization"}


def test_v3_form_body_fields_are_params(capture: Capture) -> None:
    config = Config(
        access_key_id=AK,
        access_key_secret=SECRET,
        endpoint=f"127.0.0.1:{capture.port}",
        protocol="http",
        region_id="cn-hangzhou",
    )
    params = Params(
        action="PutEvents", version="2020-07-06", protocol="HTTP", pathname="/", method="POST",
        auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
    )  # fmt: skip
    request = OpenApiRequest(query={"Q": "1"}, body={"Events": EVENTS})
    Client(config).call_api(params, request, RuntimeOptions())
    req = capture.requests[-1]
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    result = _verify(req)
    assert result.signature_version == "ACS3-HMAC-SHA256"
    assert result.params == {"Q": "1", **flatten_params({"Events": EVENTS})}
    with pytest.raises(ContentSha256Mismatch):
        _verify(_edit_body(req))
