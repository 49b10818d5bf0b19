"""The console's HTTP routes: pages, sign-in and sign-out, `/console/api/<Action>`, assets.

`/console/api/<Action>` takes the action's parameters as a JSON object (or a form) in a POST and
answers exactly what the signed API answers: the action's JSON, or the error envelope with the
action's HTTP status. It runs through `Dispatcher.run_as`, so the signed-in key gets the same
permissions, errors and audit events it would get calling the API itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from trailhouse.api.audit import AuditWriter
from trailhouse.api.dispatch import Call, Dispatcher, Origin
from trailhouse.api.failures import unexpected
from trailhouse.api.protocol import error_response, json_response, new_request_id
from trailhouse.console import csrf, pages
from trailhouse.console.errors import SessionExpired, SignInThrottled
from trailhouse.console.signin import (
    UnknownKey,
    WrongSecret,
    authenticate,
    console_event,
    record_ended_windows,
)
from trailhouse.errors import (
    ApiError,
    InvalidParameter,
    MalformedBody,
    MalformedBodyTooDeep,
    RequestEntityTooLarge,
)
from trailhouse.iam.console_sessions import ConsoleSession
from trailhouse.iam.principals import Caller
from trailhouse.jsonlimits import MAX_DOCUMENT_DEPTH, nests_deeper_than
from trailhouse.runtime import Services
from trailhouse.warehouse import result_csv

log = logging.getLogger(__name__)

SESSION_COOKIE = "th_console"
COOKIE_PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"
HOME = "/console/trails"
# Sign-in form tokens last this long; the page is simply reloaded after that.
SIGNIN_TOKEN_SECONDS = 3600
# Console calls carry parameters only (SQL text is the largest); PutEvents has its own path.
MAX_PARAMS_BYTES = 1024 * 1024
# The most rows a SQL result's CSV download holds (the workbench says so beside the button).
CSV_ROWS = 10_000
# Every console answer, assets and JSON included, is read only as the type it is sent as.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A request's live session and the caller it acts as."""

    token: str
    session: ConsoleSession
    caller: Caller


class Console:
    """The console's request handlers over the services and the API's dispatcher."""

    def __init__(self, services: Services, dispatcher: Dispatcher, audit: AuditWriter) -> None:
        self._services = services
        self._dispatcher = dispatcher
        self._audit = audit
        self._sessions = services.console_sessions

    def routes(self) -> list[BaseRoute]:
        """Every console route, under /console."""
        return [
            Route("/console", self.home, methods=["GET"]),
            Route("/console/", self.home, methods=["GET"]),
            Route("/console/signin", self.signin_page, methods=["GET"]),
            Route("/console/signin", self.signin, methods=["POST"]),
            Route("/console/signout", self.signout, methods=["POST"]),
            Route("/console/api/{action}", self.api, methods=["POST"]),
            Route("/console/download/sql-result", self.sql_result_csv, methods=["POST"]),
            Mount("/console/static", app=Assets(directory=STATIC_DIR), name="console-static"),
            Route("/console/{path:path}", self.page, methods=["GET"]),
        ]

    async def home(self, request: Request) -> Response:
        return RedirectResponse(HOME, status_code=303, headers=NOSNIFF)

    async def page(self, request: Request) -> Response:
        """A signed-in page, or a redirect to sign-in that comes back here afterwards."""
        path = request.path_params["path"]
        found = pages.page_for(path)
        if found is None:
            return HTMLResponse(
                pages.render_not_found(request.url.path),
                status_code=404,
                headers=dict(pages.SECURITY_HEADERS),
            )
        signed_in = await run_in_threadpool(self._signed_in, request)
        if signed_in is None:
            return _to_signin(request)
        page, values = found
        shell = pages.Shell(
            caller=signed_in.caller,
            csrf_token=signed_in.session.csrf_token,
            regions=self._services.regions.all(),
            default_region=self._services.regions.for_port(_port(request)),
            expires_at=signed_in.session.expires_at,
        )
        return HTMLResponse(
            pages.render_page(page, shell, values), headers=dict(pages.SECURITY_HEADERS)
        )

    async def signin_page(self, request: Request) -> Response:
        """The sign-in form, with a fresh double-submit CSRF token."""
        next_path = safe_next(request.query_params.get("next", ""))
        if await run_in_threadpool(self._signed_in, request) is not None:
            return RedirectResponse(next_path, status_code=303, headers=NOSNIFF)
        token = csrf.new_token()
        expired = request.query_params.get("expired") == "1"
        response = HTMLResponse(
            pages.render_signin(token, next_path, expired), headers=dict(pages.SECURITY_HEADERS)
        )
        self._set_cookie(request, response, csrf.SIGNIN_COOKIE, token, SIGNIN_TOKEN_SECONDS)
        return response

    async def signin(self, request: Request) -> Response:
        """Check the AccessKey pair and open a session: `{"Next"}` and the session cookie."""
        request_id = new_request_id()
        origin = _origin(request)
        try:
            csrf.require_token(
                request.cookies.get(csrf.SIGNIN_COOKIE), request.headers.get(csrf.CSRF_HEADER)
            )
            params = await _params(request)
            token = await run_in_threadpool(
                self._open_session,
                params.get("AccessKeyId", ""),
                params.get("AccessKeySecret", ""),
                origin,
            )
        except ApiError as error:
            return _error(error, request_id, request)
        # Signing in again, maybe as someone else, ends the browser's previous session.
        await run_in_threadpool(self._sessions.end, request.cookies.get(SESSION_COOKIE, ""))
        response = json_response(
            {"RequestId": request_id, "Next": safe_next(params.get("Next", ""))}
        )
        response.headers.update(NOSNIFF)
        self._set_cookie(request, response, SESSION_COOKIE, token, self._sessions.lifetime_seconds)
        response.delete_cookie(csrf.SIGNIN_COOKIE, path=COOKIE_PATH)
        return response

    async def signout(self, request: Request) -> Response:
        """End the session everywhere and drop its cookie."""
        request_id = new_request_id()
        signed_in = await run_in_threadpool(self._signed_in, request)
        if signed_in is not None:
            try:
                csrf.require_token(
                    signed_in.session.csrf_token, request.headers.get(csrf.CSRF_HEADER)
                )
            except ApiError as error:
                return _error(error, request_id, request)
            await run_in_threadpool(self._sessions.end, signed_in.token)
            self._audit.submit(
                console_event(
                    signed_in.caller, "ConsoleSignout", self._region(request), _origin(request)
                )
            )
        response = json_response({"RequestId": request_id, "Next": "/console/signin"})
        response.headers.update(NOSNIFF)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    async def api(self, request: Request) -> Response:
        """Run one action for the signed-in caller, answering as the API does."""
        request_id = new_request_id()
        try:
            signed_in = await self._checked_session(request)
            call = Call(action=request.path_params["action"], params=await _params(request))
            origin = _origin(request, console=True)
            result = await run_in_threadpool(
                self._dispatcher.run_as, signed_in.caller, call, request_id, origin
            )
        except ApiError as error:
            return _error(error, request_id, request)
        except Exception:
            failure = unexpected(self._services.counters, "console", request_id, "in the console")
            return _error(failure, request_id, request)
        response = json_response({"RequestId": request_id, **result})
        response.headers["Cache-Control"] = "no-store"
        response.headers.update(NOSNIFF)
        return response

    async def sql_result_csv(self, request: Request) -> Response:
        """The rows of a finished SQL job (`JobId`; at most CSV_ROWS) as the CSV the workbench
        downloads, read with GetSqlJobResult as the signed-in caller (its permissions, errors
        and audit events) and written by `warehouse/result_csv.py`, as the CLI writes it."""
        request_id = new_request_id()
        try:
            signed_in = await self._checked_session(request)
            params = await _params(request)
            origin = _origin(request, console=True)
            text = await run_in_threadpool(
                self._result_csv, signed_in.caller, params, request_id, origin
            )
        except ApiError as error:
            return _error(error, request_id, request)
        except Exception:
            failure = unexpected(self._services.counters, "console", request_id, "in the console")
            return _error(failure, request_id, request)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Cache-Control": "no-store", **NOSNIFF},
        )

    def _result_csv(
        self, caller: Caller, params: dict[str, str], request_id: str, origin: Origin
    ) -> str:
        columns: list[str] = []
        rows: list[list[Any]] = []
        offset: int | None = 0
        while offset is not None and len(rows) < CSV_ROWS:
            page_size = str(CSV_ROWS - len(rows))
            call = Call(
                "GetSqlJobResult", {**params, "Offset": str(offset), "MaxResults": page_size}
            )
            page = self._dispatcher.run_as(caller, call, request_id, origin)
            columns = page["Columns"]
            rows += page["Rows"]
            offset = page["NextOffset"]
            request_id = new_request_id()  # one per call, as the page's own calls had
        return "".join(result_csv.csv_lines(columns, rows))

    async def _checked_session(self, request: Request) -> SignedIn:
        """The request's session, once its CSRF token is the session's; SessionExpired
        without one."""
        signed_in = await run_in_threadpool(self._signed_in, request)
        if signed_in is None:
            raise SessionExpired(
                "your console session has ended (it expired or you signed out); sign in again"
            )
        csrf.require_token(signed_in.session.csrf_token, request.headers.get(csrf.CSRF_HEADER))
        return signed_in

    def _signed_in(self, request: Request) -> SignedIn | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        session = self._sessions.find(token)
        if session is None:
            return None
        # The key is read for every request: a session whose key was disabled or deleted (by
        # any process) ends at once.
        caller = self._services.accounts.active_caller(session.access_key_id)
        if caller is None:
            return None
        return SignedIn(token, session, caller)

    def _open_session(self, access_key_id: str, secret: str, origin: Origin) -> str:
        """The new session's cookie token; SignInFailed for a pair that does not sign in,
        SignInThrottled for an attempt refused before its secret is checked."""
        region = self._services.regions.for_port(origin.port)
        guard = self._services.signin_guard
        key_id = access_key_id.strip()
        refusal = guard.admit(key_id, origin.source_ip)
        if refusal is not None:
            raise SignInThrottled(
                "too many sign-in attempts from your address; try again in "
                f"{refusal.retry_after_seconds} s"
                if refusal.reason == "address"
                else "too many failed sign-ins with this AccessKey ID; it cannot sign in for "
                f"{refusal.retry_after_seconds} s",
                refusal.retry_after_seconds,
            )
        try:
            caller = authenticate(self._services.accounts, access_key_id, secret)
        except (WrongSecret, UnknownKey) as failure:
            # A window that ended is recorded now rather than at the next sweep.
            record_ended_windows(guard, self._services.ingest, key_id)
            known = failure.caller if isinstance(failure, WrongSecret) else None
            if guard.failed(key_id, known, region, origin.source_ip, origin.user_agent) and known:
                self._audit.submit(console_event(known, "ConsoleSignin", region, origin, failure))
            raise
        token, _ = self._sessions.create(caller.access_key_id)
        self._audit.submit(console_event(caller, "ConsoleSignin", region, origin))
        return token

    def _region(self, request: Request) -> str:
        return self._services.regions.for_port(_port(request))

    def _set_cookie(
        self, request: Request, response: Response, name: str, value: str, max_age: float
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(max_age),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def console_routes(
    services: Services, dispatcher: Dispatcher, audit: AuditWriter
) -> list[BaseRoute]:
    """The console's routes, to mount beside the RPC endpoint."""
    return Console(services, dispatcher, audit).routes()


def safe_next(value: str) -> str:
    """Where to go after signing in: a console path of this server, never another site."""
    if (
        value.startswith("/console/")
        and not value.startswith("/console/signin")
        and "//" not in value
        and "\\" not in value
        and not any(ord(c) < 0x20 for c in value)
    ):
        return value
    return HOME


async def _params(request: Request) -> dict[str, str]:
    """The call's parameters from a JSON object or a form body (values as the API's strings)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_PARAMS_BYTES:
        raise RequestEntityTooLarge(f"console calls carry at most {MAX_PARAMS_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_PARAMS_BYTES:
        raise RequestEntityTooLarge(f"console calls carry at most {MAX_PARAMS_BYTES} bytes")
    if not body.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if nests_deeper_than(body, MAX_DOCUMENT_DEPTH):
        raise MalformedBodyTooDeep(
            f"the request body nests arrays and objects more than {MAX_DOCUMENT_DEPTH} levels "
            "deep; send the action's parameters as one flat JSON object"
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the request body is not a JSON object: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedBody("the request body must be a JSON object of parameters")
    return {name: _parameter(name, value) for name, value in document.items() if value is not None}


def _parameter(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidParameter(f"the parameter {name} must be a string, a number or a boolean")


def _origin(request: Request, console: bool = False) -> Origin:
    return Origin(
        source_ip=request.client.host if request.client else "127.0.0.1",
        user_agent=request.headers.get("user-agent", ""),
        port=_port(request),
        console=console,
    )


def _to_signin(request: Request) -> Response:
    """A redirect to sign-in that returns here; a stale cookie means the session ended."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expired = "&expired=1" if request.cookies.get(SESSION_COOKIE) else ""
    response = RedirectResponse(
        f"/console/signin?next={quote(target)}{expired}", status_code=303, headers=NOSNIFF
    )
    if expired:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def _port(request: Request) -> int | None:
    server = request.scope.get("server")
    return server[1] if server else None


def _error(error: ApiError, request_id: str, request: Request) -> Response:
    response = error_response(error, request_id, request.headers.get("host", ""))
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(NOSNIFF)
    if isinstance(error, SignInThrottled):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


class Assets(StaticFiles):
    """The console's static files, each sent with `nosniff`: a browser then runs a file only as
    the type it is served as (a script only from a JavaScript file, a style from CSS)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(NOSNIFF)
        return response
