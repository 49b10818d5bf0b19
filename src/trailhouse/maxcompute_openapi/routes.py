"""Serving `/api/v1`: authenticate an OpenAPI request (V3 `ACS3-HMAC-SHA256`, the canonical URI
being the path as sent), route it by method and path to its read call, answer JSON, audit.

Calls that pass authentication are audited in the caller's account as serviceName MaxCompute,
apiVersion 2022-01-04, like the warehouse's RPC actions. Writes are refused by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from trailhouse.api.audit import AuditWriter, audited_rest_call
from trailhouse.api.failures import unexpected
from trailhouse.api.protocol import new_request_id
from trailhouse.api.rest import path_names
from trailhouse.errors import ApiError, IncompleteSignature, SignatureNonceUsed
from trailhouse.iam.signatures import SignedRequest, verify_request
from trailhouse.maxcompute_openapi import catalog, compute
from trailhouse.maxcompute_openapi.call import OpenApiCall
from trailhouse.maxcompute_openapi.errors import (
    InternalServerError,
    InvalidParameter,
    MethodNotAllowed,
    NoPermission,
    error_body,
    wire_error,
)
from trailhouse.runtime import Services

PREFIX = "/api/v1"
API_VERSION = "2022-01-04"
View = Callable[[OpenApiCall], dict[str, Any]]

# (method, path pattern, action, view): "*" is one name of the path, passed to the view.
_CALLS: tuple[tuple[str, tuple[str, ...], str, View], ...] = (
    ("GET", ("projects",), "ListProjects", catalog.list_projects),
    ("GET", ("projects", "*"), "GetProject", catalog.get_project),
    ("GET", ("projects", "*", "tables"), "ListTables", catalog.list_tables),
    ("GET", ("projects", "*", "tables", "*"), "GetTableInfo", catalog.get_table_info),
    ("GET", ("quotas",), "ListQuotas", compute.list_quotas),
    ("GET", ("quotas", "*"), "GetQuota", compute.get_quota),
    ("POST", ("jobs",), "ListJobInfos", compute.list_job_infos),
    ("GET", ("jobs", "*", "info"), "GetJobInfo", compute.get_job_info),
)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for its audit event and region."""

    source_ip: str
    user_agent: str
    port: int | None


def _refusal(exc: Exception) -> ApiError:
    """What an audited call that raised `exc` is recorded as refused with."""
    return wire_error(exc) or InternalServerError("an internal error")


def _match(method: str, segments: tuple[str, ...]) -> tuple[str, View, tuple[str, ...]] | None:
    for verb, pattern, name, view in _CALLS:
        names = path_names(pattern, segments) if verb == method else None
        if names is not None:
            return name, view, names
    return None


def _segments(raw_path: str) -> tuple[str, ...]:
    """The decoded names of a path under /api/v1 (`%2F` inside a name stays inside it)."""
    rest = raw_path[len(PREFIX) :].strip("/")
    try:
        return tuple(unquote(part, errors="strict") for part in rest.split("/")) if rest else ()
    except UnicodeDecodeError:
        raise InvalidParameter(
            "the path holds a percent-encoded name that is not UTF-8; encode names as UTF-8"
        ) from None


class OpenApiEndpoint:
    """The `/api/v1` endpoint over `services`."""

    def __init__(self, services: Services, audit: AuditWriter) -> None:
        self._services = services
        self._audit = audit

    def answer(self, req: SignedRequest, request_id: str, origin: Origin) -> dict[str, Any]:
        """Authenticate `req` and answer it, or raise the error to answer."""
        services = self._services
        if "authorization" not in req.headers:
            raise IncompleteSignature(
                "The request is not signed: MaxCompute's OpenAPI takes a V3 signature "
                "(Authorization: ACS3-HMAC-SHA256 ...), as the official SDK sends by default."
            )
        key = services.accounts.request_key()  # read once, as the store holds it now
        verified = verify_request(
            req,
            key.secret_of,
            now=time.time(),
            max_skew_seconds=services.settings.clock_skew_seconds,
        )
        caller = key.caller(verified.access_key_id)  # a disabled key is refused here
        if not services.nonces.claim(verified.access_key_id, verified.nonce):
            raise SignatureNonceUsed(
                f"the signature nonce {verified.nonce} was already used; sign every request "
                "with a fresh x-acs-signature-nonce"
            )
        if caller.is_service:
            raise NoPermission(
                f"service key {caller.access_key_id} may only record events; sign MaxCompute "
                "calls with an account's or a RAM user's AccessKey"
            )
        segments = _segments(req.path)
        matched = _match(req.method, segments)
        claimed = verified.action
        if matched is None:
            what = f"{claimed} ({req.method} {req.path})" if claimed else f"{req.method} {req.path}"
            raise MethodNotAllowed(
                f"trailhouse's MaxCompute OpenAPI answers the project, table, quota and job "
                f"reads only, not {what}; docs/maxcompute-openapi.md lists the calls it serves "
                "(create projects and quotas with the RPC actions CreateProject and CreateQuota "
                "or the trailhouse command)"
            )
        name, view, names = matched
        if claimed != name:
            raise InvalidParameter(
                f"x-acs-action is {claimed!r} but {req.method} {req.path} is {name}; send the "
                "action the path names"
            )
        tenant = verified.params.get("tenantId")
        if tenant and tenant != caller.account_id:
            raise InvalidParameter(
                f"tenantId {tenant!r} is not the caller's account ({caller.account_id}): a key "
                "reads its own account's tenant only; omit tenantId"
            )
        call = OpenApiCall(
            services,
            caller,
            services.regions.for_port(origin.port),
            names,
            verified.params,
            _body(verified.body) if req.method == "POST" else {},
        )
        return self._audited_call(name, view, call, request_id, origin)

    def _audited_call(
        self, name: str, view: View, call: OpenApiCall, request_id: str, origin: Origin
    ) -> dict[str, Any]:
        with audited_rest_call(
            self._audit,
            call,
            name,
            request_id,
            origin,
            api_version=API_VERSION,
            refusal=_refusal,
        ):
            return view(call)


def _body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, dict):
        raise InvalidParameter("the request body must be a JSON object, as the SDK sends it")
    return decoded


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidParameter(f"the request body passes {limit} bytes; send a smaller one")
        chunks.append(chunk)
    return b"".join(chunks)


def openapi_routes(services: Services, audit: AuditWriter) -> list[BaseRoute]:
    """The routes serving MaxCompute's OpenAPI under `/api/v1`."""
    endpoint = OpenApiEndpoint(services, audit)

    async def serve(request: Request) -> Response:
        request_id = new_request_id()
        host = request.headers.get("host", "")
        try:
            raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode(
                "latin-1"
            )
            body = await _read_body(request, services.settings.max_body_bytes)
            server = request.scope.get("server")
            origin = Origin(
                source_ip=request.client.host if request.client else "127.0.0.1",
                user_agent=request.headers.get("user-agent", ""),
                port=server[1] if server else None,
            )
            signed = SignedRequest(
                method=request.method,
                path=raw_path,
                query_string=request.scope["query_string"].decode("latin-1"),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
                form={},
            )
            answer = await run_in_threadpool(endpoint.answer, signed, request_id, origin)
        except Exception as exc:
            wire = wire_error(exc)
            if wire is None:
                failure = unexpected(services.counters, "api", request_id, "answering OpenAPI")
                wire = InternalServerError(failure.message)
            return _json(error_body(wire, request_id, host), wire.http_status, request_id)
        return _json({"requestId": request_id, **answer}, 200, request_id)

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
    return [
        Route(PREFIX, serve, methods=methods),
        Route(PREFIX + "/{rest:path}", serve, methods=methods),
    ]


def _json(body: dict[str, Any], status: int, request_id: str) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json;charset=utf-8",
        headers={"x-acs-request-id": request_id},
    )
