"""MaxCompute's table tunnel uploads under `/api`: PyODPS's `open_writer` and `write_table`, over
the warehouse's upload sessions (`warehouse/uploads.py`).

`POST /projects/<p>/tables/<t>?uploads[&partition=k=v][&create_partition][&overwrite]` creates
a session (JSON: UploadID, Status, UploadedBlockList, Schema); `GET …?uploadid=…` reloads it;
`PUT …?uploadid=…&blockid=N` sends a block, the protobuf record stream `upload_wire.py` decodes
and checks (with `&arrow`, the chunked Arrow batches `upload_arrow.py` decodes and checks);
`POST …?uploadid=…` commits the blocks. Into an `actiontrail_*` project every call is
NoPermission, for everyone (`access.py`). Refusals are the tunnel's JSON body.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from trailhouse.odps_api import catalog, render
from trailhouse.odps_api.catalog import CatalogCall, Reply
from trailhouse.odps_api.tunnel import JSON, UPLOAD_ACTION, _is_table_path, _refusal_class
from trailhouse.odps_api.upload_arrow import decode_arrow
from trailhouse.odps_api.upload_wire import BadStream, decode_records
from trailhouse.warehouse.model import Project, Table
from trailhouse.warehouse.uploads import MalformedDataStream, TableUploads, UploadSession
from trailhouse.warehouse.user_tables import partition_values, shape_of

# The most bytes one block may hold (PyODPS's buffered writer sends blocks of 20 MiB or so).
MAX_BLOCK_BYTES = 64 * 1024 * 1024

Handler = Callable[[CatalogCall, bytes, Sequence[tuple[str, str]]], Reply]


def match(
    method: str, segments: tuple[str, ...], params: Mapping[str, str]
) -> tuple[str, Handler] | None:
    """The audited name and handler of the upload call a request is, if it is one."""
    if not _is_table_path(segments):
        return None
    if method == "POST" and "uploads" in params:
        return UPLOAD_ACTION, create_upload
    if "uploadid" not in params:
        return None
    if method == "GET":
        return UPLOAD_ACTION, get_upload
    if method == "PUT" and "blockid" in params:
        return UPLOAD_ACTION, write_block
    if method == "POST":
        return UPLOAD_ACTION, commit_upload
    return None


def is_block(method: str, query: str) -> bool:
    """True for a block upload, whose body may be up to MAX_BLOCK_BYTES."""
    return method == "PUT" and "uploadid=" in query


def create_upload(call: CatalogCall, _body: bytes, _headers: Sequence[tuple[str, str]]) -> Reply:
    """POST …?uploads: a session uploading into one partition."""
    project, table = _table(call)
    spec = call.params.get("partition", "")
    session = _uploads(call).create(
        call.caller,
        project,
        table,
        partition_values(spec.replace(",", "/").replace("'", "")) if spec else {},
        overwrite=call.params.get("overwrite", "").lower() == "true",
        create_partition="create_partition" in call.params,
    )
    return _session_reply(table, session)


def get_upload(call: CatalogCall, _body: bytes, _headers: Sequence[tuple[str, str]]) -> Reply:
    """GET …?uploadid=…: the session and the blocks it holds."""
    project, table = _table(call)
    session = _uploads(call).get(call.caller, project, table, call.params["uploadid"])
    return _session_reply(table, session)


def write_block(call: CatalogCall, body: bytes, headers: Sequence[tuple[str, str]]) -> Reply:
    """PUT …?uploadid=…&blockid=N[&arrow]: one block of records (or Arrow batches), checked
    and staged."""
    project, table = _table(call)
    block = call.params.get("blockid", "")
    if not block.isdigit():
        raise MalformedDataStream(f"block id {block!r}: use a whole number from 0 to 19999")
    shape = shape_of(table)
    data = _decoded(body, headers)
    try:
        if "arrow" in call.params:
            rows = decode_arrow(data, shape.columns)
        else:
            rows = decode_records(data, shape.names, [c.odps_type for c in shape.columns])
    except BadStream as exc:
        raise MalformedDataStream(
            f"block {block} of upload {call.params['uploadid']}: {exc}; nothing of it was kept"
        ) from exc
    uploads = _uploads(call)
    uploads.write_block(call.caller, project, table, call.params["uploadid"], int(block), rows)
    return Reply(b"", media_type=JSON)


def commit_upload(call: CatalogCall, _body: bytes, _headers: Sequence[tuple[str, str]]) -> Reply:
    """POST …?uploadid=…: list every block's rows in the table at once."""
    project, table = _table(call)
    session = _uploads(call).commit(call.caller, project, table, call.params["uploadid"])
    return _session_reply(table, session)


def _table(call: CatalogCall) -> tuple[Project, Table]:
    project, name = catalog.writable_table(call, "upload into table")
    return project, call.services.warehouse.catalog.get_table(project, name)


def _uploads(call: CatalogCall) -> TableUploads:
    return call.services.warehouse.uploads


def _decoded(body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    encoding = next((v.lower() for k, v in headers if k.lower() == "content-encoding"), "")
    if not encoding:
        return body
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error as exc:
            raise MalformedDataStream(
                f"the deflate-compressed block does not inflate: {exc}"
            ) from exc
    raise _refusal_class("InvalidArgument", 400)(
        f"Content-Encoding {encoding} is not taken: send blocks uncompressed or deflate "
        "(options.tunnel.compress.algo = 'zlib')"
    )


def _session_reply(table: Table, session: UploadSession) -> Reply:
    shape = shape_of(table)
    body: dict[str, Any] = {
        "UploadID": session.id,
        "Status": session.status,
        "UploadedBlockList": [{"BlockID": block} for block in session.blocks],
        "Schema": {
            "columns": [render._column(c.name, c.odps_type, c.comment) for c in shape.columns],
            "partitionKeys": [
                render._column(k.name, k.odps_type, k.comment) for k in shape.partition_keys
            ],
        },
        "QuotaName": "",
    }
    return Reply(orjson.dumps(body), media_type=JSON)
