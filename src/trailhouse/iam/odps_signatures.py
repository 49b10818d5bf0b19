"""Server-side check of MaxCompute REST signatures, exactly as PyODPS signs them.

PyODPS (`odps/accounts.py`, `CloudAccount.sign_request`) signs a canonical string: the method,
the sorted `content-md5`, `content-type`, `date` and `x-odps-*` headers (and `x-odps-*` query
parameters), then the resource: the URL after the endpoint, percent-decoded, with its query
parameters sorted. It sends `Authorization: ODPS <key>:<signature>`, the signature being
base64(HMAC-SHA1(secret, canonical)); with a region name (v4) it sends
`ODPS <key>/<yyyymmdd>/<region>/odps/aliyun_v4_request:<signature>`, keyed with a key derived
from the secret, the day and the region. There is no nonce: a request is fresh while its `Date`
header is within the allowed skew of the server's clock (MaxCompute allows 15 minutes).

Failures are `OdpsAuthError`s naming what went wrong; the REST edge turns them into
MaxCompute's wire codes.

    TrailhouseError
    └── OdpsAuthError
        ├── MissingAuthentication   no Authorization or Date header
        ├── MalformedAuthentication an Authorization header PyODPS would not send
        ├── RequestExpired          the Date header is too far from the server's clock
        ├── UnknownAccessKey        no such key
        └── SignatureMismatch       the signature is not the one the key's secret makes
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import ParseResult, parse_qsl, unquote, urlparse

from trailhouse.errors import TrailhouseError

V4_PREFIX = "aliyun_v4"
_SIGNED_HEADERS = ("content-type", "content-md5")


class OdpsAuthError(TrailhouseError):
    """A MaxCompute REST request whose signature cannot be accepted."""


class MissingAuthentication(OdpsAuthError):
    """The request carries no Authorization (or no Date) header."""


class MalformedAuthentication(OdpsAuthError):
    """The Authorization header is not one PyODPS sends."""


class RequestExpired(OdpsAuthError):
    """The Date header is further from the server's clock than allowed."""

    def __init__(self, message: str, signed_at: float, now: float, max_skew: int) -> None:
        super().__init__(message)
        self.signed_at = signed_at
        self.now = now
        self.max_skew = max_skew


class UnknownAccessKey(OdpsAuthError):
    """No key has this id."""


class SignatureMismatch(OdpsAuthError):
    """The signature is not the one this key's secret makes."""


@dataclass(frozen=True, slots=True)
class OdpsRequest:
    """A REST request as received: `target` is the raw (still encoded) path after the
    endpoint's prefix, with `?query` when there is one; headers in arrival order."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class VerifiedOdpsRequest:
    """Who signed a request, and the resource exactly as the signature covers it."""

    access_key_id: str
    path: str  # percent-decoded, as signed
    params: dict[str, str]  # the decoded query parameters, as signed (a name alone: "")
    signed_at: float
    signature_version: str  # "v2" or "v4"
    region: str  # the v4 credential's region ("" under v2)


def resource_of(target: str) -> tuple[ParseResult, dict[str, str]]:
    """The decoded URL and its parameters, exactly as PyODPS reads them before signing."""
    components = urlparse(unquote(target), allow_fragments=False)
    params = dict(parse_qsl(components.query, True)) if components.query else {}
    return components, params


def canonical_string(method: str, target: str, headers: Sequence[tuple[str, str]]) -> str:
    """The string PyODPS signs for this request (`BaseAccount._build_canonical_str`)."""
    components, params = resource_of(target)
    resource = components.path
    if components.query:
        pairs = sorted(params.items(), key=lambda kv: kv[0])
        resource += "?" + "&".join(k if v == "" else f"{k}={v}" for k, v in pairs)
    to_sign: dict[str, str] = {}
    date = ""
    for name, value in headers:
        lower = name.lower()
        if lower in _SIGNED_HEADERS or lower.startswith("x-odps-"):
            to_sign[lower] = value
        if lower == "date":
            date = value
    for name in _SIGNED_HEADERS:
        to_sign.setdefault(name, "")
    to_sign["date"] = date
    for key, value in params.items():
        if key.startswith("x-odps-"):
            to_sign[key] = value
    lines = [method.upper()]
    for name in sorted(to_sign):
        lines.append(f"{name}:{to_sign[name]}" if name.startswith("x-odps-") else to_sign[name])
    lines.append(resource)
    return "\n".join(lines)


def v2_signature(secret: str, canonical: str) -> str:
    """base64(HMAC-SHA1(secret, canonical)): the legacy signature."""
    digest = hmac.new(secret.encode(), canonical.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def v4_signing_key(secret: str, day: str, region: str) -> bytes:
    """The v4 key of a secret for one UTC day (yyyymmdd) and region."""
    key = hmac.new((V4_PREFIX + secret).encode(), day.encode(), hashlib.sha256).digest()
    key = hmac.new(key, region.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"odps", hashlib.sha256).digest()
    return hmac.new(key, f"{V4_PREFIX}_request".encode(), hashlib.sha256).digest()


def v4_signature(secret: str, day: str, region: str, canonical: str) -> str:
    """base64(HMAC-SHA1(v4 key, canonical)): the v4 signature."""
    key = v4_signing_key(secret, day, region)
    return base64.b64encode(hmac.new(key, canonical.encode(), hashlib.sha1).digest()).decode()


def authorization(
    access_key_id: str, secret: str, canonical: str, *, region: str = "", day: str = ""
) -> str:
    """The Authorization header PyODPS would send (v4 when a region is given): for tests and
    clients."""
    if not region:
        return f"ODPS {access_key_id}:{v2_signature(secret, canonical)}"
    credential = f"{access_key_id}/{day}/{region}/odps/{V4_PREFIX}_request"
    return f"ODPS {credential}:{v4_signature(secret, day, region, canonical)}"


# The header PyODPS's StsAccount adds to each request (the token itself, unsigned).
STS_TOKEN_HEADER = "authorization-sts-token"  # noqa: S105 (a header name)


def verify_odps_request(
    req: OdpsRequest,
    lookup_secret: Callable[[str], str | None],
    *,
    region: str,
    now: float,
    max_skew_seconds: int,
) -> VerifiedOdpsRequest:
    """Check the signature of `req` for an endpoint serving `region` and return what it
    proves. The order: the header's shape, the Date, the key, the signature."""
    values = _single_headers(req.headers)
    header = values.get("authorization")
    if header is None:
        raise MissingAuthentication(
            "the request has no Authorization header; sign it as PyODPS does "
            "(ODPS(access_id, secret_access_key, project, endpoint=...))"
        )
    scheme, _, rest = header.strip().partition(" ")
    credential, colon, signature = rest.strip().rpartition(":")
    if scheme != "ODPS" or not colon or not credential or not signature:
        raise MalformedAuthentication(
            "the Authorization header must read 'ODPS <AccessKeyId>:<signature>'"
        )
    if STS_TOKEN_HEADER in values:
        # PyODPS's StsAccount sends the token unsigned beside an STS AccessKey; trailhouse has
        # no AssumeRole, so no token is valid, and ignoring one would look like checking it.
        raise UnknownAccessKey(
            "the request carries an STS security token (authorization-sts-token), but "
            "trailhouse issues no STS tokens: it has no AssumeRole. Sign with an AccessKey "
            "pair of the account or of a RAM user (ODPS(access_id, secret, ...) or "
            "odps.accounts.AliyunAccount), not odps.accounts.StsAccount"
        )
    signed_at = _check_date(values.get("date"), now, max_skew_seconds)
    canonical = canonical_string(req.method, req.target, req.headers)
    access_key_id, day, signed_region = _credential(credential, now, max_skew_seconds, region)
    secret = lookup_secret(access_key_id)
    if secret is None:
        raise UnknownAccessKey(
            f"accessKeyId not found - the AccessKey {access_key_id} does not exist"
        )
    expected = (
        v4_signature(secret, day, signed_region, canonical)
        if signed_region
        else v2_signature(secret, canonical)
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        shown = canonical.replace("\n", "\\n")
        raise SignatureMismatch(
            "User signature dose not match - the signature is not the one AccessKey "
            f"{access_key_id}'s secret makes; check the secret. The server signed: {shown}"
        )
    components, params = resource_of(req.target)
    return VerifiedOdpsRequest(
        access_key_id=access_key_id,
        path=components.path,
        params=params,
        signed_at=signed_at,
        signature_version="v4" if signed_region else "v2",
        region=signed_region,
    )


def _single_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-case name; a signed or authenticating header sent twice is refused,
    since the signer saw only one of its values."""
    found: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in found and (
            lower in ("authorization", "date", *_SIGNED_HEADERS) or lower.startswith("x-odps-")
        ):
            raise MalformedAuthentication(f"the header {lower} appears more than once")
        found[lower] = value
    return found


def _check_date(text: str | None, now: float, max_skew_seconds: int) -> float:
    if not text:
        raise MissingAuthentication(
            "the request has no Date header; PyODPS sends one (RFC 1123, e.g. "
            "'Sun, 06 Dec 2026 10:00:00 GMT') and signs it"
        )
    try:
        signed_at = email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        raise MalformedAuthentication(
            f"the Date header {text!r} is not an RFC 1123 date such as "
            "'Sun, 06 Dec 2026 10:00:00 GMT'"
        ) from None
    if abs(signed_at - now) > max_skew_seconds:
        raise RequestExpired(
            f"the request is dated {text}, more than {max_skew_seconds} seconds from the "
            "server's clock; sign requests with the current time (sync the client's clock)",
            signed_at,
            now,
            max_skew_seconds,
        )
    return signed_at


def _credential(
    credential: str, now: float, max_skew_seconds: int, region: str
) -> tuple[str, str, str]:
    """(access key id, day, region) of a v2 (`<key>`) or v4 credential."""
    if "/" not in credential:
        return credential, "", ""
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != "odps" or parts[4] != f"{V4_PREFIX}_request":
        raise MalformedAuthentication(
            "a v4 credential reads '<AccessKeyId>/<yyyymmdd>/<region>/odps/aliyun_v4_request'"
        )
    access_key_id, day, signed_region = parts[0], parts[1], parts[2]
    days = {_day(now - max_skew_seconds), _day(now), _day(now + max_skew_seconds)}
    if day not in days:
        raise MalformedAuthentication(
            f"the v4 credential's day {day} is not today ({_day(now)}, UTC); sign with the "
            "current date"
        )
    if signed_region != region:
        raise MalformedAuthentication(
            f"the v4 credential names region {signed_region!r} but this endpoint serves "
            f"{region}; pass region_name={region!r} to ODPS() or use that region's endpoint"
        )
    return access_key_id, day, signed_region


def _day(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y%m%d")
