"""Canonical forms and HMAC signatures of Alibaba Cloud API requests, byte for byte as the
official Python SDK (`alibabacloud_tea_openapi`) builds them: V3 `ACS3-HMAC-SHA256` and the
legacy V2 RPC `HMAC-SHA1` signature, plus the client side of V3."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_to_bytes, urlencode

from trailhouse.errors import InvalidParameter

V3_ALGORITHM = "ACS3-HMAC-SHA256"
V2_METHOD = "HMAC-SHA1"
V2_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: everything but `A-Z a-z 0-9 - _ . ~` is escaped, space is `%20`."""
    return quote(value, safe="~", encoding="utf-8")


def parse_pairs(encoded: str, what: str) -> list[tuple[str, str]]:
    """Decode an `a=1&b=x+y` query string or form body (`+` is a space) into ordered pairs.

    Raises `InvalidParameter` when a name or value is not valid UTF-8 once decoded.
    """
    pairs: list[tuple[str, str]] = []
    for item in encoded.split("&"):
        if not item:
            continue
        raw_key, _, raw_value = item.partition("=")
        try:
            key = unquote_to_bytes(raw_key.replace("+", " ")).decode("utf-8")
            value = unquote_to_bytes(raw_value.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameter(f"The {what} field {raw_key!r} is not valid UTF-8.") from None
        pairs.append((key, value))
    return pairs


def canonical_query(params: Mapping[str, str]) -> str:
    """The V3 canonical query: keys sorted and left as they are, values RFC 3986 encoded.

    Keys stay unencoded because the official SDK signs them so. That text is unambiguous only
    while no key holds `&`, `=` or a control character (`a=1&b` = `2` would sign as `a` = `1`,
    `b` = `2`): `signatures.py` refuses such keys before any signature is checked.
    """
    return "&".join(f"{key}={percent_encode(params[key])}" for key in sorted(params))


def canonical_headers(headers: Mapping[str, str], names: Iterable[str]) -> str:
    """`name:trimmed value\\n` for each signed header, in the order given."""
    return "".join(f"{name}:{headers[name].strip()}\n" for name in names)


def v3_canonical_request(
    method: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: list[str],
    content_sha256: str,
) -> str:
    """The V3 canonical request that the string to sign hashes."""
    return (
        f"{method}\n{path or '/'}\n{canonical_query(params)}\n"
        f"{canonical_headers(headers, signed_headers)}\n"
        f"{';'.join(signed_headers)}\n{content_sha256}"
    )


def v3_string_to_sign(canonical_request: str) -> str:
    """`ACS3-HMAC-SHA256\\n` + hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{V3_ALGORITHM}\n{digest}"


def v3_signature(secret: str, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign, keyed by the access key secret."""
    key = secret.encode("utf-8")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def v2_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """`METHOD&%2F&` + the encoded, sorted `key=value` list (without `Signature`)."""
    canonical = "&".join(
        f"{percent_encode(key)}={percent_encode(params[key])}"
        for key in sorted(params)
        if key != "Signature"
    )
    return f"{method}&%2F&{quote_plus(canonical, safe='~', encoding='utf-8')}"


def v2_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 of the string to sign, keyed by `secret + "&"`."""
    key = (secret + "&").encode("utf-8")
    digest = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def format_timestamp(epoch: float) -> str:
    """The UTC `2025-01-01T00:00:00Z` form the SDK sends in `x-acs-date` and `Timestamp`."""
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(epoch))


def parse_timestamp(text: str) -> int | None:
    """Epoch seconds of a `2025-01-01T00:00:00Z` timestamp, or None when it has another form."""
    if not text.isascii():  # strptime also takes other scripts' digits (fullwidth "２")
        return None
    try:
        return calendar.timegm(time.strptime(text, TIMESTAMP_FORMAT))
    except ValueError:
        return None


def flatten_params(value: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts and lists into `A.1.B` keys, as the SDK's `Utils.query` does.

    Lists count from 1, None is dropped, bytes are decoded and everything else goes through
    `str()` (so True becomes `"True"`).
    """
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.update(flatten_params(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value, start=1):
            out.update(flatten_params(item, f"{prefix}.{index}"))
    elif value is not None:
        out[prefix] = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return out


def sign_request_v3(
    method: str,
    host: str,
    action: str,
    version: str,
    params: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
    *,
    content_type: str | None = None,
    now: float | None = None,
    nonce: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """Return (query_string, headers) for a V3-signed request, as the official SDK builds it.

    `params` are already flat (see `flatten_params`); the query string keeps their order.
    `extra_headers` (for example `user-agent`) are sent and signed too, as the SDK signs every
    header it sends.
    """
    headers: dict[str, str] = {
        "host": host,
        "x-acs-version": version,
        "x-acs-action": action,
        "x-acs-date": format_timestamp(time.time() if now is None else now),
        "x-acs-signature-nonce": nonce if nonce is not None else secrets.token_hex(16),
        "accept": "application/json",
    }
    for name, value in (extra_headers or {}).items():
        headers[name.lower()] = value
    if content_type is not None:
        headers["content-type"] = content_type
    content_sha256 = hashlib.sha256(body).hexdigest()
    headers["x-acs-content-sha256"] = content_sha256
    signed = sorted(headers)
    canonical = v3_canonical_request(method, "/", params, headers, signed, content_sha256)
    signature = v3_signature(secret, v3_string_to_sign(canonical))
    headers["Authorization"] = (
        f"{V3_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return urlencode(dict(params)), headers
