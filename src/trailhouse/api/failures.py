"""Unexpected errors: each is logged with its traceback and request id, counted in `/metrics`
(`trailhouse_internal_errors_total{where}`) and answered with the `InternalError` envelope.

Routes answer the errors they expect themselves; `CatchUnexpected` is the net under every route
(console pages, sign-in, `/metrics`) so that no request ever gets a bare 500 page or an
unlogged failure.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trailhouse.api.protocol import error_response, new_request_id
from trailhouse.errors import InternalError
from trailhouse.metrics import INTERNAL_ERRORS, Counters

log = logging.getLogger(__name__)


def unexpected(counters: Counters, where: str, request_id: str, what: str) -> InternalError:
    """Log the exception being handled with its traceback and request id, count it, and return
    the error to answer (its message names the request id, never the exception's text)."""
    log.exception("unexpected error %s (request id %s)", what, request_id)
    counters.add(INTERNAL_ERRORS, where=where)
    return InternalError(
        f"internal error; the server log has the details under request id {request_id}"
    )


class CatchUnexpected:
    """ASGI middleware: an exception no route answered becomes a logged, counted InternalError."""

    def __init__(self, app: ASGIApp, counters: Counters) -> None:
        self._app = app
        self._counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except Exception:
            request = Request(scope)
            request_id = new_request_id()
            error = unexpected(
                self._counters,
                "http",
                request_id,
                f"answering {request.method} {request.url.path}",
            )
            if started:  # too late for an answer: the connection is closed on the client
                raise
            response = error_response(error, request_id, request.headers.get("host", ""))
            await response(scope, receive, send)
