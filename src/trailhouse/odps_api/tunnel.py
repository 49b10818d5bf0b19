"""MaxCompute's table tunnel (downloads) under `/api`: PyODPS's `open_reader`, `read_table`,
`to_pandas` and `head`, over the warehouse's download sessions (`warehouse/reads.py`), of an
audit table or of a user's own table alike (its own typed columns and partition keys).

PyODPS asks `GET /projects/<p>/tunnel?service` for the tunnel host: the answer is this server's
own `/api`, so the rows never leave it. `POST /projects/<p>/tables/<t>?downloads&partition=…`
creates a session (JSON: DownloadID, Status, RecordCount, Schema); `GET …?downloadid=…` reloads
it; `GET …?downloadid=…&data&rowrange=(start,count)[&columns=…][&arrow]` streams the rows as
protobuf records or chunked Arrow (`tunnel_wire.py`). Refusals are the tunnel's JSON body
(`{"Code", "Message", "RequestId"}`) with its codes (NoSuchPartition, InvalidRowRange, …).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from trailhouse import errors
from trailhouse.odps_api import catalog, render, tunnel_wire
from trailhouse.odps_api.catalog import CatalogCall, Reply
from trailhouse.odps_api.errors import OdpsWireError, wire_error
from trailhouse.warehouse.reads import DownloadSession, ReadError, TableReads, partition_in

ACTION = "DownloadTable"  # MaxCompute's audit event of a tunnel download (TunnelEvent)
UPLOAD_ACTION = "UploadTable"  # MaxCompute's audit event of a tunnel upload (TunnelEvent)
HEAD_ACTION = "ReadTableData"  # MaxCompute's audit event of reading a table's data
HEAD_LIMIT = 10_000  # table.head's most rows, as PyODPS documents it
JSON = "application/json"
_ROW_RANGE = re.compile(r"\(\s*(\d{1,18})\s*,\s*(\d{1,18})\s*\)")
_TABLE_PATHS = (("projects", "*", "tables", "*"), ("projects", "*", "schemas", "*", "tables", "*"))


@dataclass(frozen=True, slots=True)
class StreamReply(Reply):
    """A successful answer whose body is streamed as it is made."""

    stream: Iterator[bytes] = field(default_factory=lambda: iter(()))


class TunnelRefusal(OdpsWireError):
    """A tunnel call's refusal, answered as the tunnel's JSON body (its subclasses, one per code,
    are made by `refusal`)."""

    def body(self, request_id: str) -> bytes:
        """The tunnel's JSON error body."""
        return orjson.dumps({"Code": self.code, "Message": self.message, "RequestId": request_id})


@functools.cache
def _refusal_class(code: str, http_status: int) -> type[TunnelRefusal]:
    made = type(code, (TunnelRefusal,), {"code": code, "http_status": http_status})
    return cast(type[TunnelRefusal], made)


def refusal(exc: Exception) -> TunnelRefusal | None:
    """The tunnel refusal answering `exc`, None for a failure that is not a refusal (a bug)."""
    if isinstance(exc, TunnelRefusal):
        return exc
    if isinstance(exc, ReadError):
        return _refusal_class(exc.code, exc.http_status)(exc.message)
    if isinstance(exc, errors.ProjectNotFound):
        return _refusal_class("NoSuchProject", 404)(exc.message)
    if isinstance(exc, errors.TableNotFound):
        return _refusal_class("NoSuchTable", 404)(exc.message)
    wire = wire_error(exc)
    if wire is None:
        return None
    return _refusal_class(wire.code, wire.http_status)(wire.message)


def _is_table_path(segments: tuple[str, ...]) -> bool:
    return any(
        len(pattern) == len(segments)
        and all(p in ("*", s) and s for p, s in zip(pattern, segments, strict=True))
        for pattern in _TABLE_PATHS
    )


def is_service(segments: tuple[str, ...], params: dict[str, str]) -> bool:
    """`GET /projects/<p>/tunnel?service`: where the tunnel is."""
    return len(segments) == 3 and segments[::2] == ("projects", "tunnel") and "service" in params


def service_host(host: str) -> Reply:
    """The tunnel host: this server's own `/api` (PyODPS prefixes the endpoint's scheme)."""
    return Reply(f"{host}/api".encode(), media_type="text/plain")


def match(
    method: str, segments: tuple[str, ...], params: dict[str, str]
) -> tuple[str, Callable[[CatalogCall], Reply]] | None:
    """The audited name and handler of the row-reading call a request is, if it is one."""
    if not _is_table_path(segments):
        return None
    if (method == "POST" and "uploads" in params) or "uploadid" in params:
        return UPLOAD_ACTION, refuse_upload  # a call tunnel_upload.match does not take
    if method == "POST" and "downloads" in params:
        return ACTION, create_download
    if method == "GET" and "downloadid" in params:
        return ACTION, read_download if "data" in params else get_download
    if method == "GET" and "data" in params:
        return HEAD_ACTION, head
    return None


def guarded(handler: Callable[[CatalogCall], Reply]) -> Callable[[CatalogCall], Reply]:
    """The handler, its refusals turned into the tunnel's JSON ones."""

    @functools.wraps(handler)
    def run(call: CatalogCall) -> Reply:
        try:
            return handler(call)
        except Exception as exc:
            answered = refusal(exc)
            if answered is None:
                raise
            raise answered from exc

    return run


# -- the calls -------------------------------------------------------------------------------


def create_download(call: CatalogCall) -> Reply:
    """POST …/tables/<t>?downloads: a download session over one partition."""
    project, table = catalog._readable_table(call)
    ds = partition_in(table, call.params.get("partition", ""))
    session = _reads(call).create(call.caller, project, table, ds)
    return _session_reply(call, session)


def get_download(call: CatalogCall) -> Reply:
    """GET …/tables/<t>?downloadid=…: the session again (EXPIRED once it is)."""
    project, table = catalog._readable_table(call)
    session = _reads(call).get(call.caller, project, table, call.params["downloadid"])
    return _session_reply(call, session)


def read_download(call: CatalogCall) -> Reply:
    """GET …?downloadid=…&data&rowrange=(s,c): the rows, as records or (`arrow`) Arrow."""
    project, table = catalog._readable_table(call)
    reads = _reads(call)
    session = reads.get(call.caller, project, table, call.params["downloadid"])
    start, count = _row_range(call.params.get("rowrange"))
    names = [n.strip() for n in call.params.get("columns", "").split(",") if n.strip()]
    columns = reads.columns(session, names)
    reads.check_range(session, start, count)
    shape = session.shape
    if "arrow" in call.params:
        # Arrow columns come in the table's order: PyODPS reorders them to what it asked for.
        chosen = set(columns)
        ordered = [name for name in shape.names if name in chosen]
        batches = reads.batches(session, start, count, ordered)
        stream = tunnel_wire.arrow(tunnel_wire.wire_batch(batch) for batch in batches)
    else:
        kinds = {c.name: c.odps_type.lower() for c in shape.columns}
        stream = tunnel_wire.records(
            reads.batches(session, start, count, columns), [kinds[name] for name in columns]
        )
    return StreamReply(
        b"",
        media_type="application/octet-stream",
        headers={"odps-tunnel-record-count": str(count)},
        stream=stream,
    )


def refuse_upload(call: CatalogCall) -> Reply:
    """An upload call `tunnel_upload.py` does not serve (a DELETE of a session, …): refused,
    NoPermission into an `actiontrail_*` project whoever asks (`access.py`)."""
    project, table = catalog.writable_table(call, "upload into table")
    raise _refusal_class("MethodNotAllowed", 405)(
        f"ODPS-0420095:Access Denied - trailhouse does not serve this upload call on "
        f"{project.name}.{table}; docs/pyodps.md lists the PyODPS calls that work"
    )


def head(call: CatalogCall) -> Reply:
    """GET /projects/<p>/tables/<t>?data&linenum=N[&partition=…][&cols=…]: the first rows as
    CSV with a header row, NULL as \\N (PyODPS's `table.head()`)."""
    project, table = catalog._readable_table(call)
    limit = call.params.get("linenum", "")
    if not limit.isdigit() or not 1 <= int(limit) <= HEAD_LIMIT:
        raise _refusal_class("InvalidArgument", 400)(
            f"linenum {limit!r} is not valid: ask for 1 to {HEAD_LIMIT} rows"
        )
    ds = partition_in(table, call.params.get("partition", ""))
    names = [n.strip() for n in call.params.get("cols", "").split(",") if n.strip()]
    rows = _reads(call).head(call.caller, project, table, ds, int(limit), names)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(rows.column_names)
    for record in zip(*(column.to_pylist() for column in rows.columns), strict=True):
        writer.writerow(["\\N" if value is None else value for value in record])
    return Reply(text.getvalue().encode(), media_type="text/csv; charset=utf-8")


# -- helpers ---------------------------------------------------------------------------------


def _reads(call: CatalogCall) -> TableReads:
    return call.services.warehouse.reads


def _session_reply(call: CatalogCall, session: DownloadSession) -> Reply:
    expired = _reads(call).expired(session)
    shape = session.shape
    body: dict[str, Any] = {
        "DownloadID": session.id,
        "Status": "expired" if expired else "normal",
        "RecordCount": session.rows,
        "Schema": {
            "columns": [render._column(c.name, c.odps_type, c.comment) for c in shape.columns],
            "partitionKeys": [
                render._column(k.name, k.odps_type, k.comment) for k in shape.partition_keys
            ],
        },
        "QuotaName": "",
        "SupportReadByRawSize": False,
    }
    return Reply(orjson.dumps(body), media_type=JSON)


def _row_range(text: str | None) -> tuple[int, int]:
    found = _ROW_RANGE.fullmatch(text or "")
    if found is None:
        raise _refusal_class("InvalidRowRange", 400)(
            f"the specified row range {text!r} is not valid: write it as (start,count) with "
            "whole numbers, for example rowrange=(0,1000)"
        )
    return int(found.group(1)), int(found.group(2))
