"""Server-side check of signed API requests: V3 `ACS3-HMAC-SHA256` (the SDK's default) and the
legacy V2 RPC signature (`Config(signature_algorithm='v2')`), as the official SDK signs them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from trailhouse.errors import (
    ContentSha256Mismatch,
    IncompleteSignature,
    InvalidAccessKeyIdNotFound,
    InvalidParameter,
    InvalidTimeStampExpired,
    SignatureDoesNotMatch,
)
from trailhouse.iam.signing import (
    FORM_CONTENT_TYPE,
    V2_METHOD,
    V2_VERSION,
    V3_ALGORITHM,
    format_timestamp,
    parse_pairs,
    parse_timestamp,
    sign_request_v3,
    v2_signature,
    v2_string_to_sign,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

__all__ = ["SignedRequest", "VerifiedRequest", "sign_request_v3", "verify_request"]

# The signature protocol's own parameters; they never reach an action handler.
PROTOCOL_PARAMS = frozenset(
    {
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "SecurityToken",
        "Timestamp",
        "AccessKeyId",
        "Format",
        "Version",
        "Action",
    }
)
# Headers a V3 request must sign: without them a signature could be replayed with a fresh
# date or nonce, or moved to another action.
V3_REQUIRED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
)
# Query names the V3 canonical query cannot tell apart from a split (see canonical_query).
_AMBIGUOUS_KEY = re.compile(r"[&=\x00-\x1f\x7f]")
V2_REQUIRED_PARAMS = ("Signature", "AccessKeyId", "Timestamp", "SignatureNonce")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An HTTP request as received, before its signature is checked."""

    method: str
    path: str
    query_string: str  # raw and still encoded, exactly as received
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    # Decoded form fields when the body is a form; None lets verify_request decode the body.
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """Who signed a request, for which action, and its parameters without the protocol's own."""

    access_key_id: str
    action: str
    version: str
    nonce: str
    signed_at: int
    signature_version: str  # "ACS3-HMAC-SHA256" or "v2"
    params: dict[str, str]
    # The body as the signature covers it: the whole body under V3 (x-acs-content-sha256);
    # nothing under V2, whose signature covers a form body only as the fields in `params`.
    body: bytes


def verify_request(
    req: SignedRequest,
    lookup_secret: Callable[[str], str | None],
    *,
    now: float,
    max_skew_seconds: int,
) -> VerifiedRequest:
    """Check the V3 or V2 signature of `req` and return what it proves.

    Nonce reuse is not checked here: the caller records `VerifiedRequest.nonce` in its store.
    """
    query = _query(req)
    authorization = req.headers.get("authorization")
    if authorization is not None:
        return _verify_v3(req, authorization, query, lookup_secret, now, max_skew_seconds)
    # The SDK signs the query merged with the form body, a form field winning.
    form = _form(req)
    params = query | dict(form)
    if "Signature" in params:
        if req.body.strip() and not form:
            raise IncompleteSignature(
                "A V2 signature covers only the query and a form body, not this body "
                f"({req.headers.get('content-type') or 'no content-type'}): send it as a form "
                "(application/x-www-form-urlencoded), or sign the request with V3 "
                "(ACS3-HMAC-SHA256), which covers any body."
            )
        return _verify_v2(req, params, lookup_secret, now, max_skew_seconds)
    raise IncompleteSignature(
        "The request is not signed: it has neither an Authorization header (V3) "
        "nor a Signature parameter (V2)."
    )


def _query(req: SignedRequest) -> dict[str, str]:
    """The decoded query parameters; a name that could re-split the signed query is refused."""
    params: dict[str, str] = {}
    for key, value in parse_pairs(req.query_string, "query"):
        if _AMBIGUOUS_KEY.search(key):
            raise InvalidParameter(
                f"The query parameter name {key!r} holds '&', '=' or a control character; "
                "parameter names are letters, digits and '.' (as the SDK sends them)."
            )
        if key in params:
            raise InvalidParameter(f"The query parameter {key!r} appears more than once.")
        params[key] = value
    return params


def _form(req: SignedRequest) -> Mapping[str, str]:
    """The decoded form-body fields, or nothing when the body is not a form."""
    if req.form is not None:
        return req.form
    content_type = req.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
        return {}
    try:
        body = req.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter("The form body is not valid UTF-8.") from None
    return dict(parse_pairs(body, "form"))


def _verify_v3(
    req: SignedRequest,
    authorization: str,
    query: dict[str, str],
    lookup_secret: Callable[[str], str | None],
    now: float,
    max_skew_seconds: int,
) -> VerifiedRequest:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        raise IncompleteSignature(
            f"The Authorization header names the algorithm {algorithm!r}; "
            f"only {V3_ALGORITHM} is supported."
        )
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    for field in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(field):
            raise IncompleteSignature(f"The Authorization header has no {field}=.")
    signed_headers = fields["SignedHeaders"].split(";")
    for name in V3_REQUIRED_HEADERS:
        if name not in req.headers:
            raise IncompleteSignature(f"The request has no {name} header.")
    unsigned = [
        name
        for name in req.headers
        if (name.startswith("x-acs-") or name in ("host", "content-type"))
        and name not in signed_headers
    ]
    if unsigned:
        raise IncompleteSignature(
            f"SignedHeaders must include host, content-type and every x-acs-* header; "
            f"missing: {';'.join(sorted(unsigned))}."
        )
    absent = [name for name in signed_headers if name not in req.headers]
    if absent:
        raise IncompleteSignature(
            f"SignedHeaders names headers the request does not have: {';'.join(absent)}."
        )
    access_key_id = fields["Credential"]
    signed_at = _check_time(req.headers["x-acs-date"], "x-acs-date", now, max_skew_seconds)
    secret = _secret(lookup_secret, access_key_id)
    content_sha256 = req.headers["x-acs-content-sha256"]
    actual_sha256 = hashlib.sha256(req.body).hexdigest()
    if content_sha256.strip().lower() != actual_sha256:
        raise ContentSha256Mismatch(
            f"x-acs-content-sha256 is {content_sha256} but the body's SHA-256 is {actual_sha256}."
        )
    canonical = v3_canonical_request(
        req.method.upper(), req.path, query, req.headers, signed_headers, content_sha256
    )
    string_to_sign = v3_string_to_sign(canonical)
    expected = v3_signature(secret, string_to_sign)
    if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
        raise _mismatch(
            access_key_id,
            f"Server string to sign is: {string_to_sign} ; "
            f"server canonical request is: {canonical}",
        )
    return VerifiedRequest(
        access_key_id=access_key_id,
        action=req.headers["x-acs-action"],
        version=req.headers.get("x-acs-version", ""),
        nonce=req.headers["x-acs-signature-nonce"],
        signed_at=signed_at,
        signature_version=V3_ALGORITHM,
        # A form body is covered by x-acs-content-sha256, so its fields are signed too.
        params=_strip_protocol(query | dict(_form(req))),
        body=req.body,
    )


def _verify_v2(
    req: SignedRequest,
    params: dict[str, str],
    lookup_secret: Callable[[str], str | None],
    now: float,
    max_skew_seconds: int,
) -> VerifiedRequest:
    for name in V2_REQUIRED_PARAMS:
        if not params.get(name):
            raise IncompleteSignature(f"The request has no {name} parameter.")
    method = params.get("SignatureMethod")
    if method != V2_METHOD:
        raise IncompleteSignature(f"SignatureMethod is {method!r}; only {V2_METHOD} is supported.")
    version = params.get("SignatureVersion")
    if version != V2_VERSION:
        raise IncompleteSignature(
            f"SignatureVersion is {version!r}; only {V2_VERSION} is supported."
        )
    if not params.get("Action"):
        raise IncompleteSignature("The request has no Action parameter.")
    access_key_id = params["AccessKeyId"]
    signed_at = _check_time(params["Timestamp"], "Timestamp", now, max_skew_seconds)
    secret = _secret(lookup_secret, access_key_id)
    string_to_sign = v2_string_to_sign(req.method.upper(), params)
    expected = v2_signature(secret, string_to_sign)
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
        raise _mismatch(access_key_id, f"Server string to sign is: {string_to_sign}")
    return VerifiedRequest(
        access_key_id=access_key_id,
        action=params["Action"],
        version=params.get("Version", ""),
        nonce=params["SignatureNonce"],
        signed_at=signed_at,
        signature_version="v2",
        params=_strip_protocol(params),
        body=b"",
    )


def _check_time(text: str, name: str, now: float, max_skew_seconds: int) -> int:
    signed_at = parse_timestamp(text.strip())
    if signed_at is None:
        raise IncompleteSignature(
            f"{name} is {text!r}; expected a UTC time such as 2025-01-01T00:00:00Z."
        )
    if abs(signed_at - now) > max_skew_seconds:
        raise InvalidTimeStampExpired(
            f"The request was signed at {format_timestamp(signed_at)} but the server time is "
            f"{format_timestamp(now)}; at most {max_skew_seconds} seconds apart are allowed."
        )
    return signed_at


def _mismatch(access_key_id: str, computed: str) -> SignatureDoesNotMatch:
    """SignatureDoesNotMatch for a known key: what to check first, in plain words, then
    Alibaba's sentence and what the server computed, for comparing with what the client signed."""
    return SignatureDoesNotMatch(
        f"Check your AccessKey secret. The AccessKey ID {access_key_id} exists, but the "
        "request's signature does not match the one computed with that key's secret: either "
        "the secret is wrong (copied incompletely, with a stray space or line break, or "
        "belonging to another key), or the request was changed after it was signed (a proxy "
        "rewrote a header, the query or the body), or the client encoded it differently when "
        "signing. Specified signature does not match our calculation. " + computed
    )


def _secret(lookup_secret: Callable[[str], str | None], access_key_id: str) -> str:
    secret = lookup_secret(access_key_id)
    if secret is None:
        raise InvalidAccessKeyIdNotFound(
            f"The AccessKey ID {access_key_id!r} does not exist (it was never created on this "
            "server, or it was deleted): check the AccessKey ID your client is configured with."
        )
    return secret


def _strip_protocol(params: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in params.items() if key not in PROTOCOL_PARAMS}
