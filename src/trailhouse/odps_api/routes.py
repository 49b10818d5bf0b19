"""Serving `/api`: authenticate a PyODPS request, route it to its catalog or instance call
(`catalog.py`, `instances.py`), answer, audit; and `/logview/`, where Logview links land.

Every request is signed, including PyODPS's start-up questions (`/tenants`, `/logview/host`),
and nothing in an answer points away from this server, so a PyODPS session stays on it. Calls
of the catalog are audited in the caller's account as serviceName MaxCompute, like the
warehouse's RPC actions; failed authentications are not (as in `api/dispatch.py`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from trailhouse.api.audit import AuditWriter, audited_rest_call
from trailhouse.api.failures import unexpected
from trailhouse.api.protocol import new_request_id
from trailhouse.api.rest import path_names
from trailhouse.iam.odps_signatures import OdpsRequest, verify_odps_request
from trailhouse.odps_api import (
    catalog,
    instance_tunnel,
    instances,
    job_xml,
    render,
    tunnel,
    tunnel_upload,
)
from trailhouse.odps_api.catalog import CatalogCall, Reply
from trailhouse.odps_api.errors import (
    InternalServerError,
    InvalidArgument,
    MethodNotAllowed,
    NoPermission,
    OdpsWireError,
    wire_error,
)
from trailhouse.runtime import Services

PREFIX = "/api"
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for its audit event and region."""

    source_ip: str
    user_agent: str
    port: int | None
    host: str


def _refusal(exc: Exception) -> OdpsWireError:
    """What an audited call that raised `exc` is recorded as refused with."""
    return wire_error(exc) or InternalServerError("ODPS-0010000:System internal error")


# Which catalog call a path is, by its shape: (segments' pattern, query flag, action, handler).
# "*" matches any one segment; a query flag picks among calls on the same path.
_CALLS: tuple[tuple[tuple[str, ...], str, str, Callable[[CatalogCall], Reply]], ...] = (
    (("projects",), "", "ListProjects", catalog.list_projects),
    (("projects", "*"), "", "GetProject", catalog.get_project),
    (("projects", "*", "schemas"), "", "ListSchemas", catalog.list_schemas),
    (("projects", "*", "schemas", "*"), "", "GetSchema", catalog.get_schema),
    (("projects", "*", "tables"), "", "ListTables", catalog.list_tables),
    (("projects", "*", "schemas", "*", "tables"), "", "ListTables", catalog.list_tables),
    (("projects", "*", "tables", "*"), "partitions", "ListPartitions", catalog.list_partitions),
    (("projects", "*", "tables", "*"), "partition", "GetPartition", catalog.get_partition),
    (("projects", "*", "tables", "*"), "", "GetTable", catalog.get_table),
    (
        ("projects", "*", "schemas", "*", "tables", "*"),
        "partitions",
        "ListPartitions",
        catalog.list_partitions,
    ),
    (
        ("projects", "*", "schemas", "*", "tables", "*"),
        "partition",
        "GetPartition",
        catalog.get_partition,
    ),
    (("projects", "*", "schemas", "*", "tables", "*"), "", "GetTable", catalog.get_table),
)


def _match(segments: tuple[str, ...], params: dict[str, str]) -> tuple[str, Any] | None:
    for pattern, flag, name, handler in _CALLS:
        if path_names(pattern, segments) is None or (flag and flag not in params):
            continue
        return name, handler
    return None


class OdpsEndpoint:
    """The `/api` endpoint over `services`."""

    def __init__(self, services: Services, audit: AuditWriter) -> None:
        self._services = services
        self._audit = audit

    def answer(self, req: OdpsRequest, request_id: str, origin: Origin, body: bytes = b"") -> Reply:
        """Authenticate `req` and answer it, or raise the error to answer."""
        services = self._services
        region = services.regions.for_port(origin.port)
        key = services.accounts.request_key()  # read once, as the store holds it now
        verified = verify_odps_request(
            req,
            key.secret_of,
            region=region,
            now=time.time(),
            max_skew_seconds=services.settings.clock_skew_seconds,
        )
        caller = key.caller(verified.access_key_id)  # a disabled key is refused here
        if caller.is_service:
            raise NoPermission(
                f"ODPS-0130013:Authorization exception - service key {caller.access_key_id} may "
                "only record events; sign MaxCompute requests with an account's or a RAM user's "
                "AccessKey"
            )
        segments = tuple(verified.path.strip("/").split("/")) if verified.path.strip("/") else ()
        # The table tunnel (downloads; docs/pyodps.md): its own methods and JSON refusals.
        if req.method == "GET" and tunnel.is_service(segments, verified.params):
            return tunnel.service_host(origin.host)
        upload = tunnel_upload.match(req.method, segments, verified.params)
        if upload is not None:  # uploads into a table of one's own (tunnel_upload.py)
            call = CatalogCall(services, caller, region, segments, verified.params)
            name, upload_handler = upload
            handler = tunnel.guarded(lambda c: upload_handler(c, body, req.headers))
            return self._audited_call(name, handler, call, request_id, origin)
        reading = tunnel.match(req.method, segments, verified.params)
        if reading is not None:
            call = CatalogCall(services, caller, region, segments, verified.params)
            name, handler = reading
            return self._audited_call(name, tunnel.guarded(handler), call, request_id, origin)
        # The instance tunnel: reading a finished instance's result (instance_tunnel.py).
        result_read = instance_tunnel.match(req.method, segments, verified.params)
        if result_read is not None:
            call = CatalogCall(services, caller, region, segments, verified.params)
            name, handler = result_read
            return self._audited_call(name, handler, call, request_id, origin)
        # SQL instances (and the Logview token PyODPS asks for): odps_api/instances.py.
        instance_call = _match_instance(req.method, segments, verified.params)
        if instance_call is not None:
            _check_content_md5(req.headers, body)
            name, instance_handler = instance_call
            call = CatalogCall(services, caller, region, segments, verified.params)
            return self._audited_call(
                name, lambda c: instance_handler(c, body), call, request_id, origin
            )
        table_write = _table_write(req.method, segments)
        if table_write is not None:
            call = CatalogCall(services, caller, region, segments, verified.params)
            return self._audited_call(table_write, catalog.refuse_write, call, request_id, origin)
        if req.method not in _READ_METHODS:
            raise MethodNotAllowed(
                f"ODPS-0420095:Access Denied - trailhouse answers only GET and HEAD on {PREFIX} "
                f"so far (and SQL instances), not {req.method} {verified.path}; docs/pyodps.md "
                "lists what works"
            )
        if segments in (("logview", "host"), ("webconsole", "host")):
            # Where PyODPS points its Logview links: this server, never a host elsewhere.
            return Reply(f"http://{origin.host}".encode(), media_type="text/plain")
        call = CatalogCall(services, caller, region, segments, verified.params)
        if segments == ("tenants",):
            return catalog.get_tenant(call)
        matched = _match(segments, verified.params)
        if matched is None:
            raise MethodNotAllowed(
                f"ODPS-0420095:Access Denied - trailhouse does not serve GET {verified.path} "
                "yet; docs/pyodps.md lists the PyODPS calls that work"
            )
        name, handler = matched
        return self._audited_call(name, handler, call, request_id, origin)

    def _audited_call(
        self,
        name: str,
        handler: Callable[[CatalogCall], Reply],
        call: CatalogCall,
        request_id: str,
        origin: Origin,
    ) -> Reply:
        writes = name in WRITE_ACTIONS
        with audited_rest_call(
            self._audit,
            call,
            name,
            request_id,
            origin,
            api_version="",
            refusal=_refusal,
            read_only=not writes,
        ):
            return handler(call)


_WRITE_ACTIONS = {"POST": "CreateTable", "PUT": "UpdateTable", "PATCH": "UpdateTable"}
# Calls recorded as writes (eventRW Write), refused or not.
WRITE_ACTIONS = frozenset({*_WRITE_ACTIONS.values(), "DropTable", tunnel.UPLOAD_ACTION})


def _table_write(method: str, segments: tuple[str, ...]) -> str | None:
    """The audited name of a write on a project's tables (`/projects/<p>[/schemas/<s>]/tables…`),
    None for anything else."""
    if method in _READ_METHODS or len(segments) < 3 or segments[0] != "projects":
        return None
    rest = segments[4:] if segments[2] == "schemas" else segments[2:]
    if not rest or rest[0] != "tables" or any(not s for s in segments):
        return None
    return "DropTable" if method == "DELETE" else _WRITE_ACTIONS.get(method, "UpdateTable")


def _check_content_md5(headers: Sequence[tuple[str, str]], body: bytes) -> None:
    """PyODPS signs `Content-MD5` when it is sent but not the body itself: a body that does not
    match its signed digest was altered after signing."""
    sent = [v.strip() for k, v in headers if k.lower() == "content-md5"]
    if not sent:
        return
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    if sent[0] not in (base64.b64encode(digest).decode(), digest.hex()):
        raise InvalidArgument(
            "ODPS-0420061:Invalid parameter in HTTP request - the body does not match its "
            "Content-MD5; send the body that was signed"
        )


def _ignore_body(handler: Callable[[CatalogCall], Reply]) -> Callable[[CatalogCall, bytes], Reply]:
    return lambda call, _body: handler(call)


# SQL instances: (method, segments' pattern, query flag, audited action, handler).
_INSTANCE_CALLS: tuple[
    tuple[str, tuple[str, ...], str, str, Callable[[CatalogCall, bytes], Reply]], ...
] = (
    ("POST", ("projects", "*", "instances"), "", "CreateInstance", instances.create_instance),
    (
        "POST",
        ("projects", "*", "authorization"),
        "sign_bearer_token",
        "SignBearerToken",
        instances.bearer_token,
    ),
    ("PUT", ("projects", "*", "instances", "*"), "", "StopInstance", instances.stop_instance),
    *(
        ("GET", ("projects", "*", "instances", "*"), flag, name, _ignore_body(handler))
        for flag, name, handler in (
            ("result", "GetInstanceResult", instances.result),
            ("taskstatus", "GetInstanceTaskStatus", instances.task_status),
            ("source", "GetInstanceSource", instances.source),
            ("instancesummary", "GetInstanceSummary", instances.summary),
            ("detail", "GetInstanceDetail", instances.detail),
            ("instancedetail", "GetInstanceDetail", instances.detail),
            ("instanceprogress", "GetInstanceProgress", instances.progress),
            ("", "GetInstance", instances.get_instance),
        )
    ),
)


def _match_instance(
    method: str, segments: tuple[str, ...], params: dict[str, str]
) -> tuple[str, Callable[[CatalogCall, bytes], Reply]] | None:
    for wanted, pattern, flag, name, handler in _INSTANCE_CALLS:
        if method != wanted and not (method == "HEAD" and wanted == "GET"):
            continue
        if path_names(pattern, segments) is None or (flag and flag not in params):
            continue
        return name, handler
    return None


def odps_routes(services: Services, audit: AuditWriter) -> list[BaseRoute]:
    """The routes serving MaxCompute's REST API under `/api`."""
    endpoint = OdpsEndpoint(services, audit)

    async def serve(request: Request) -> Response:
        request_id = new_request_id()
        host = request.headers.get("host", "")
        try:
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            path = raw_path.decode("latin-1")
            if not (path == PREFIX or path.startswith(PREFIX + "/")):
                raise InvalidArgument(
                    f"ODPS-0420061:Invalid parameter in HTTP request - the path must start with "
                    f"{PREFIX}/ exactly as PyODPS sends it"
                )
            query = request.scope["query_string"].decode("latin-1")
            target = path[len(PREFIX) :] + (f"?{query}" if query else "")
            headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.scope["headers"]
            ]
            server = request.scope.get("server")
            origin = Origin(
                source_ip=request.client.host if request.client else "127.0.0.1",
                user_agent=request.headers.get("user-agent", ""),
                port=server[1] if server else None,
                host=host,
            )
            odps_request = OdpsRequest(request.method, target, headers)
            limit = (
                tunnel_upload.MAX_BLOCK_BYTES
                if tunnel_upload.is_block(request.method, query)
                else job_xml.MAX_BODY
            )
            body = await _bounded_body(request, limit)
            reply = await run_in_threadpool(endpoint.answer, odps_request, request_id, origin, body)
        except Exception as exc:
            wire = wire_error(exc)
            if wire is None:
                failure = unexpected(services.counters, "odps", request_id, "answering PyODPS")
                wire = InternalServerError(
                    f"ODPS-0010000:System internal error - {failure.message}"
                )
            return _error_response(wire, request_id, host)
        answer_headers = {"x-odps-request-id": request_id, **reply.headers}
        if isinstance(reply, tunnel.StreamReply):
            # A sync iterator: Starlette takes each piece from it in a worker thread.
            return StreamingResponse(
                reply.stream, media_type=reply.media_type, headers=answer_headers
            )
        return Response(
            reply.body,
            status_code=reply.status,
            media_type=reply.media_type,
            headers=answer_headers,
        )

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
    return [
        Route(PREFIX, serve, methods=methods),
        Route(PREFIX + "/{rest:path}", serve, methods=methods),
        Route(LOGVIEW_PATH, logview, methods=["GET", "HEAD"]),
    ]


LOGVIEW_PATH = "/logview/"
_INSTANCE_ID = re.compile(r"[0-9]{17}g[0-9a-z]{1,32}")
_PROJECT = re.compile(r"[a-z][a-z0-9_]{2,63}")


async def logview(request: Request) -> Response:
    """Where PyODPS's Logview links land (`<logview host>/logview/?h=…&p=…&i=…&token=…`, the
    host being this server): the console's SQL page showing that job, which asks the caller to
    sign in and shows the job only to whom GetSqlJob would. The token is not used."""
    project = request.query_params.get("p", "").lower()
    instance = request.query_params.get("i", "")
    if not (_PROJECT.fullmatch(project) and _INSTANCE_ID.fullmatch(instance)):
        return Response(
            "Not a Logview link of this server: it needs p=<project> and i=<instance id>\n",
            status_code=400,
            media_type="text/plain",
        )
    target = "/console/sql?" + urlencode({"project": project, "job": instance})
    return RedirectResponse(target, status_code=303)


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused once it passes `limit`: what a submitted job may hold, or a
    tunnel upload's block (read before the signature is checked, so its size is bounded for
    every caller)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidArgument(
                f"ODPS-0420061:Invalid parameter in HTTP request - the body passes "
                f"{limit} bytes, the most trailhouse takes (SQL text: 2 MB; an upload block: "
                f"{tunnel_upload.MAX_BLOCK_BYTES // 2**20} MiB, send more blocks)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _error_response(error: OdpsWireError, request_id: str, host: str) -> Response:
    if isinstance(error, tunnel.TunnelRefusal):  # the tunnel answers JSON
        return Response(
            error.body(request_id),
            status_code=error.http_status,
            media_type="application/json",
            headers={"x-odps-request-id": request_id},
        )
    body = render.error(error.code, error.message, request_id, host)
    return Response(
        body,
        status_code=error.http_status,
        media_type="application/xml",
        headers={"x-odps-request-id": request_id},
    )
