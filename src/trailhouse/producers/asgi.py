"""`AuditMiddleware`: record each HTTP request of an ASGI application as an ActionTrail event.

Pure ASGI, so it wraps Starlette, FastAPI or any other ASGI app. The event is queued on a
`Recorder` after the response is sent; the response itself is passed through untouched.
"""

from __future__ import annotations

import http
import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from trailhouse.events.validation import format_event_time
from trailhouse.producers.recorder import Recorder

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Query parameters whose name contains one of these (ignoring case, "_" and "-") are left out.
SENSITIVE_WORDS = (
    "password",
    "passwd",
    "token",
    "secret",
    "signature",
    "credential",
    "apikey",
    "authorization",
)
ANONYMOUS: Mapping[str, str] = MappingProxyType({"type": "ram-user", "userName": "anonymous"})
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 - a placeholder value in an event, not a bind address


class AuditMiddleware:
    """Records every HTTP request of the wrapped app as an `ApiCall` event through `recorder`."""

    def __init__(
        self,
        app: ASGIApp,
        recorder: Recorder,
        *,
        service_name: str = "App",
        event_source: str | None = None,
        region: str = "cn-hangzhou",
        api_version: str | None = None,
        event_name: Callable[[Scope], str] | None = None,
        identify: Callable[[Scope], dict[str, Any]] | None = None,
        trust_forwarded: bool = False,
        request_id_header: str = "x-request-id",
        sensitive_words: tuple[str, ...] = SENSITIVE_WORDS,
    ) -> None:
        self.app = app
        self._recorder = recorder
        self._service_name = service_name
        self._event_source = event_source
        self._region = region
        self._api_version = api_version
        self._event_name = event_name or default_event_name
        self._identify = identify
        self._trust_forwarded = trust_forwarded
        self._request_id_header = request_id_header.lower().encode("latin-1")
        self._sensitive = tuple(_normalize(word) for word in sensitive_words)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            # The app failed: whatever reached the client, the request was a server error.
            self._record(scope, started, 500, type(exc).__name__)
            raise
        self._record(scope, started, status or 500, None)

    def _record(self, scope: Scope, started: float, status: int, failure: str | None) -> None:
        try:
            event = self.build_event(scope, started, status, failure)
        except Exception:  # auditing must never break the app
            log.exception("could not build the audit event of %s", scope.get("path"))
            return
        # Never wait for room in the queue: this runs on the event loop.
        self._recorder.record(event, timeout=0)

    def build_event(
        self, scope: Scope, started: float, status: int, failure: str | None = None
    ) -> dict[str, Any]:
        """The event of one finished request (`failure`: the exception the app raised)."""
        headers = _headers(scope)
        method = str(scope.get("method", "GET")).upper()
        event: dict[str, Any] = {
            "eventId": str(uuid.uuid4()).upper(),
            "eventVersion": "1",
            "eventTime": format_event_time(int(started)),
            "eventSource": self._event_source or _host(scope, headers),
            "eventName": self._event_name(scope),
            "eventType": "ApiCall",
            "eventRW": "Read" if method in READ_METHODS else "Write",
            "acsRegion": self._region,
            "serviceName": self._service_name,
            "requestId": _decode(headers.get(self._request_id_header)) or str(uuid.uuid4()).upper(),
            "sourceIpAddress": self._source_address(scope, headers),
            "userAgent": _decode(headers.get(b"user-agent")) or "unknown",
            "userIdentity": self._identity(scope),
            "requestParameters": self._parameters(scope),
            "additionalEventData": {
                "Scheme": str(scope.get("scheme", "http")),
                "Method": method,
                "Path": str(scope.get("path", "/")),
                "Status": status,
                "DurationMs": round((time.time() - started) * 1000, 3),
            },
        }
        if self._api_version:
            event["apiVersion"] = self._api_version
        if status >= 400:
            event["errorCode"] = f"HTTP{status}"
            event["errorMessage"] = failure or _reason(status)
        return event

    def _source_address(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
        if self._trust_forwarded:
            forwarded = _decode(headers.get(b"x-forwarded-for"))
            # The left-most entry is the original client; each proxy appends the one it saw.
            first = forwarded.split(",")[0].strip() if forwarded else ""
            if _is_address(first):
                return first
        client = scope.get("client")
        host = str(client[0]) if client else ""
        return host if _is_address(host) else UNKNOWN_ADDRESS

    def _identity(self, scope: Scope) -> dict[str, Any]:
        if self._identify is None:
            return dict(ANONYMOUS)
        try:
            return dict(self._identify(scope))
        except Exception:
            log.exception("the audit middleware's identify callback failed")
            return dict(ANONYMOUS)

    def _parameters(self, scope: Scope) -> dict[str, Any]:
        query = _decode(scope.get("query_string", b""))
        parameters: dict[str, Any] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            normalized = _normalize(name)
            if any(word in normalized for word in self._sensitive):
                continue
            previous = parameters.get(name)
            if previous is None:
                parameters[name] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                parameters[name] = [previous, value]
        return parameters


def default_event_name(scope: Scope) -> str:
    """The matched route's name (Starlette, FastAPI), else "<METHOD> <path>"."""
    route = scope.get("route")
    name = getattr(route, "name", None)
    if isinstance(name, str) and name:
        return name
    endpoint = scope.get("endpoint")
    name = getattr(endpoint, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return f"{str(scope.get('method', 'GET')).upper()} {scope.get('path', '/')}"


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # ASGI header names are lower-case already; with repeats, the first one wins.
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(bytes(name).lower(), bytes(value))
    return headers


def _host(scope: Scope, headers: dict[bytes, bytes]) -> str:
    host = _decode(headers.get(b"host"))
    if host:
        return host.rsplit(":", 1)[0] if not host.endswith("]") else host
    server = scope.get("server")
    return str(server[0]) if server else "localhost"


def _decode(value: bytes | None) -> str:
    return value.decode("latin-1") if value else ""


def _normalize(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP status {status}"
