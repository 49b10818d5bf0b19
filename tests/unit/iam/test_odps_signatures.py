"""The MaxCompute signature check agrees with PyODPS's own signer byte for byte (PyODPS is the
oracle: its `AliyunAccount` signs, `verify_odps_request` must accept exactly that), for v2 and
v4, and refuses each altered part with the error that names it."""

from __future__ import annotations

import email.utils
import time
from urllib.parse import unquote, urlparse, urlsplit

import pytest
import requests
from odps.accounts import AliyunAccount

from trailhouse.iam.odps_signatures import (
    MalformedAuthentication,
    MissingAuthentication,
    OdpsRequest,
    RequestExpired,
    SignatureMismatch,
    UnknownAccessKey,
    canonical_string,
    verify_odps_request,
)

ENDPOINT = "http://127.0.0.1:9/api"
KEY, SECRET = "LTAIunitKey000000000001", "unit-secret-0001"
REGION = "cn-hangzhou"


def _pyodps(
    path: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    region: str | None = None,
) -> requests.PreparedRequest:
    prepared = requests.Request(
        "GET", ENDPOINT + path, params=params or {}, headers=headers or {}
    ).prepare()
    AliyunAccount(KEY, SECRET).sign_request(prepared, ENDPOINT, region_name=region)
    return prepared


def _received(prepared: requests.PreparedRequest) -> OdpsRequest:
    url = prepared.url or ""
    parts = urlsplit(url)
    target = parts.path.removeprefix("/api") + (f"?{parts.query}" if parts.query else "")
    return OdpsRequest("GET", target, list(prepared.headers.items()))


def _verify(request: OdpsRequest, now: float | None = None) -> str:
    verified = verify_odps_request(
        request,
        {KEY: SECRET}.get,
        region=REGION,
        now=time.time() if now is None else now,
        max_skew_seconds=900,
    )
    return verified.signature_version


CASES = [
    ("/projects/p", None, None),
    ("/projects/p/tables", {"expectmarker": "true", "name": "a b&c=d", "curr_project": "p"}, None),
    ("/projects/p/tables/t", {"partition": "ds='20250101'", "partitions": ""}, None),
    ("/projects/p/tables/t", {"x-odps-extra": "1"}, {"x-odps-user-agent": "ua", "x-odps-z": "2"}),
    ("/projects/%E4%B8%AD/tables", None, {"Content-Type": "application/xml"}),
]


@pytest.mark.parametrize(("path", "params", "headers"), CASES)
@pytest.mark.parametrize("region", [None, REGION])
def test_what_pyodps_signs_is_accepted(
    path: str,
    params: dict[str, str] | None,
    headers: dict[str, str] | None,
    region: str | None,
) -> None:
    request = _received(_pyodps(path, params=params, headers=headers, region=region))
    assert _verify(request) == ("v4" if region else "v2")


@pytest.mark.parametrize(("path", "params", "headers"), CASES)
def test_the_canonical_string_is_pyodps_s(
    path: str, params: dict[str, str] | None, headers: dict[str, str] | None
) -> None:
    prepared = _pyodps(path, params=params, headers=headers)
    url = (prepared.url or "")[len(ENDPOINT) :]
    expected = AliyunAccount(KEY, SECRET)._build_canonical_str(
        urlparse(unquote(url), allow_fragments=False), prepared
    )
    assert canonical_string("GET", _received(prepared).target, list(prepared.headers.items())) == (
        expected
    )


def _altered(prepared: requests.PreparedRequest, **headers: str) -> OdpsRequest:
    received = _received(prepared)
    kept = [(k, v) for k, v in received.headers if k.lower() not in {h.lower() for h in headers}]
    return OdpsRequest("GET", received.target, kept + list(headers.items()))


def test_each_refusal_names_what_is_wrong() -> None:
    prepared = _pyodps("/projects/p", headers={"x-odps-a": "1"})
    received = _received(prepared)
    with pytest.raises(SignatureMismatch, match="dose not match"):
        _verify(OdpsRequest("GET", "/projects/q", received.headers))
    with pytest.raises(SignatureMismatch):
        _verify(_altered(prepared, **{"x-odps-a": "2"}))
    with pytest.raises(MissingAuthentication, match="no Authorization"):
        _verify(OdpsRequest("GET", received.target, [("Date", prepared.headers["Date"])]))
    with pytest.raises(MalformedAuthentication, match="ODPS <AccessKeyId>"):
        _verify(_altered(prepared, Authorization="Bearer abc"))
    with pytest.raises(UnknownAccessKey, match="LTAInobody"):
        _verify(_altered(prepared, Authorization="ODPS LTAInobody:abc"))
    with pytest.raises(MalformedAuthentication, match="RFC 1123"):
        _verify(_altered(prepared, Date="yesterday"))
    with pytest.raises(RequestExpired, match="900 seconds"):
        _verify(received, now=time.time() + 901)
    with pytest.raises(MalformedAuthentication, match="more than once"):
        _verify(OdpsRequest("GET", received.target, [*received.headers, ("x-odps-a", "1")]))


def test_a_v4_credential_must_name_this_region_and_today() -> None:
    prepared = _pyodps("/projects/p", region="cn-beijing")
    with pytest.raises(MalformedAuthentication, match="serves cn-hangzhou"):
        _verify(_received(prepared))
    prepared = _pyodps("/projects/p", region=REGION)
    later = time.time() + 3 * 86400
    fresh = email.utils.formatdate(later, usegmt=True)
    with pytest.raises(MalformedAuthentication, match="not today"):
        _verify(_altered(prepared, Date=fresh), now=later)
