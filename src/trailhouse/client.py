"""A small RPC client for trailhouse's API, signing requests as the official SDK does (V3).

The CLI and `trailhouse.Recorder` use it; anything else may use the official Alibaba Cloud SDK
pointed at the same endpoint. One client holds one keep-alive connection and is not
thread-safe: give each thread its own.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from trailhouse.errors import RequestFailed
from trailhouse.iam.signatures import sign_request_v3
from trailhouse.retry import THROTTLED

API_VERSION = "2020-07-06"
DEFAULT_ENDPOINT = "http://127.0.0.1:8080"


class RpcClient:
    """Calls actions of a trailhouse server with one AccessKey pair."""

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        *,
        timeout: float = 30.0,
        user_agent: str = "trailhouse-client",
        throttle_retries: int = THROTTLED.retries,
    ) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"endpoint {endpoint!r} must look like http://host:port")
        self._https = parts.scheme == "https"
        self._host = parts.netloc
        self._access_key_id = access_key_id
        self._secret = access_key_secret
        self._timeout = timeout
        self._user_agent = user_agent
        self._throttle_retries = throttle_retries
        self._connection: http.client.HTTPConnection | None = None

    @property
    def endpoint(self) -> str:
        """The server this client talks to."""
        return f"{'https' if self._https else 'http'}://{self._host}"

    def call(
        self,
        action: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        method: str = "POST",
    ) -> dict[str, Any]:
        """Call `action` and return the decoded response; RequestFailed on an error answer.

        `body`, when given, is sent as JSON (the way the SDK's generic call path sends it). A
        throttled call is resent, under a fresh signature, after the delay the server names in
        `x-acs-retry-after` (at most `trailhouse.retry.THROTTLED.max_delay`), a few times at most.
        """
        payload = b"" if body is None else orjson.dumps(body)
        for attempt in range(self._throttle_retries + 1):
            query, headers = sign_request_v3(
                method,
                self._host,
                action,
                API_VERSION,
                dict(params or {}),
                payload,
                self._access_key_id,
                self._secret,
                content_type="application/json" if body is not None else None,
            )
            headers["user-agent"] = self._user_agent
            target = f"/?{query}" if query else "/"
            status, data, retry_after_ms = self._send(method, target, payload, headers)
            if status != 429 or retry_after_ms is None or attempt == self._throttle_retries:
                break
            time.sleep(THROTTLED.capped(retry_after_ms / 1000))
        return _decode(status, data)

    def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(
        self, method: str, target: str, payload: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, int | None]:
        for attempt in range(2):
            connection = self._connection or self._connect()
            try:
                connection.request(method, target, body=payload, headers=headers)
                response = connection.getresponse()
                retry_after = response.getheader("x-acs-retry-after")
                delay = int(retry_after) if retry_after and retry_after.isdigit() else None
                return response.status, response.read(), delay
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                # A kept-alive connection the server had closed (idle): reconnect once, at once.
                # A stale connection, not a failing server, so no backoff policy applies.
                self.close()
                if attempt == 1:
                    raise RequestFailed(0, "ConnectionFailed", f"{self.endpoint}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise RequestFailed(0, "ConnectionFailed", f"{self.endpoint}: {exc}") from exc
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._connection = kind(self._host, timeout=self._timeout)
        return self._connection


def _decode(status: int, data: bytes) -> dict[str, Any]:
    """The response document, or RequestFailed for an error answer."""
    try:
        document = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        text = data[:200].decode("utf-8", "replace")
        raise RequestFailed(status, "InvalidResponse", text) from None
    if status >= 400 or not isinstance(document, dict):
        document = document if isinstance(document, dict) else {}
        raise RequestFailed(
            status,
            str(document.get("Code", f"HTTP{status}")),
            str(document.get("Message", "")),
            str(document.get("RequestId", "")),
        )
    return document
