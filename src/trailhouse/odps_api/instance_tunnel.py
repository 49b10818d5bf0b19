"""MaxCompute's instance tunnel under `/api`: PyODPS's `instance.open_reader()` with the tunnel
(its default), `reader[a:b]`, `read(start, count, columns=)`, `to_pandas()` and `arrow=True`,
over the rows a finished SQL job kept (`warehouse/jobs.py`).

`POST /projects/<p>/instances/<id>?downloads` answers a session (JSON: DownloadID, Status,
RecordCount, Schema with the result's MaxCompute types); `GET …?downloadid=…` answers it again;
`GET …?downloadid=…&data&rowrange=(start,count)[&columns=…][&arrow]` streams the rows as typed
protobuf records or chunked Arrow, with their CRC32C (`tunnel_wire.py`). A job's result does not
change once the job has ended, so a session holds nothing of its own: its id is derived from the
instance and whether it is limited, and any server answers it. Refusals are the tunnel's JSON.

A job keeps at most `sql_result_rows` rows. A *limited* session (`limit=True`, MaxCompute's
10 000-row instance tunnel) reads them; an unlimited one reads every row when the job kept them
all, and is refused (`InvalidArgument`, saying to pass `limit=True` or narrow the query) when
the job's result was cut, rather than handing out part of a result as if it were all of it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
import pyarrow as pa

from trailhouse.odps_api import instances, render, tunnel, tunnel_wire
from trailhouse.odps_api.catalog import CatalogCall, Reply
from trailhouse.odps_api.odps_types import ARRAY, MAP, STRUCT, Kind, parse_kind
from trailhouse.warehouse.model import JobStatus, SqlJob
from trailhouse.warehouse.sql.engine import ResultSet

ACTION = "DownloadInstance"  # a tunnel read of an instance's result (TunnelEvent)
LIMITED = "instance_tunnel_limit_enabled"
_EPOCH = dt.datetime(1970, 1, 1)
_ARROW = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("ms"),
}


def match(
    method: str, segments: tuple[str, ...], params: dict[str, str]
) -> tuple[str, Callable[[CatalogCall], Reply]] | None:
    """The handler of an instance tunnel call, if the request is one."""
    if len(segments) != 4 or segments[0] != "projects" or segments[2] != "instances":
        return None
    if not all(segments):
        return None
    if method == "POST" and "downloads" in params:
        return ACTION, tunnel.guarded(create_download)
    if method == "GET" and "downloadid" in params:
        return ACTION, tunnel.guarded(read_download if "data" in params else get_download)
    return None


def create_download(call: CatalogCall) -> Reply:
    """POST …/instances/<id>?downloads: a session over the job's result."""
    job, rows = _result(call, LIMITED in call.params)
    return _session_reply(job, rows, LIMITED in call.params)


def get_download(call: CatalogCall) -> Reply:
    """GET …/instances/<id>?downloadid=…: the session again."""
    job = instances._job(call)
    limited = _limited_of(job, call.params["downloadid"])
    job, rows = _result(call, limited)
    return _session_reply(job, rows, limited)


def read_download(call: CatalogCall) -> Reply:
    """GET …?downloadid=…&data&rowrange=(s,c)[&columns=…][&arrow]: the rows."""
    job = instances._job(call)
    limited = _limited_of(job, call.params["downloadid"])
    job, result = _result(call, limited)
    start, count = tunnel._row_range(call.params.get("rowrange"))
    if start + count > len(result.rows):
        raise tunnel._refusal_class("InvalidRowRange", 400)(
            f"the row range ({start},{count}) passes the end of the result of instance "
            f"{job.job_id}, which has {len(result.rows)} rows: ask for start + count <= "
            f"{len(result.rows)}"
        )
    kinds = [instances.odps_type(t) for t in result.types]
    wanted = [n.strip().lower() for n in call.params.get("columns", "").split(",") if n.strip()]
    chosen = _columns(result.columns, wanted)
    if "arrow" in call.params:
        # Arrow columns come in the result's order: PyODPS reorders them to what it asked for.
        chosen = sorted(chosen)
    names = [result.columns[i] for i in chosen]
    rows = [[row[i] for i in chosen] for row in result.rows[start : start + count]]
    picked = [kinds[i] for i in chosen]
    if "arrow" in call.params:
        stream = tunnel_wire.arrow(_batches(names, picked, rows))
    else:
        stream = tunnel_wire.typed_records(_wire_rows(rows, picked), picked)
    return tunnel.StreamReply(
        b"",
        media_type="application/octet-stream",
        headers={"odps-tunnel-record-count": str(count)},
        stream=stream,
    )


# -- helpers ---------------------------------------------------------------------------------


def download_id(job: SqlJob, limited: bool) -> str:
    """The id of the session over a job's result (there is one result, so one id each way)."""
    digest = hashlib.sha256(f"{job.job_id}:{'limited' if limited else 'all'}".encode())
    return digest.hexdigest()[:32].upper()


def _limited_of(job: SqlJob, given: str) -> bool:
    for limited in (False, True):
        if given == download_id(job, limited):
            return limited
    raise tunnel._refusal_class("NoSuchDownload", 404)(
        f"download {given!r} is not a session of instance {job.job_id}; open a new reader "
        "(instance.open_reader(reopen=True))"
    )


def _result(call: CatalogCall, limited: bool) -> tuple[SqlJob, ResultSet]:
    job = instances._job(call)
    if job.status != JobStatus.TERMINATED:
        state = {JobStatus.FAILED: "failed", JobStatus.CANCELLED: "was stopped"}.get(
            job.status, "has not finished"
        )
        raise tunnel._refusal_class("StatusConflict", 409)(
            f"instance {job.job_id} {state}: only a finished query's result can be read; "
            "wait_for_success() first"
            + (f" ({instances.failure_text(job)})" if job.error_message else "")
        )
    if job.truncated and not limited:
        rows = call.services.settings.sql_result_rows
        raise tunnel._refusal_class("InvalidArgument", 400)(
            f"the result of instance {job.job_id} has more than {rows} rows and trailhouse keeps "
            f"the first {rows} (sql_result_rows): read them with open_reader(limit=True), or "
            "narrow the query (WHERE, LIMIT, GROUP BY) so that it returns all of its rows"
        )
    result = call.services.warehouse.jobs.result(call.caller, job.job_id, 0, max(job.rows, 1))
    return job, result


def _session_reply(job: SqlJob, result: ResultSet, limited: bool) -> Reply:
    body = {
        "DownloadID": download_id(job, limited),
        "Status": "normal",
        "RecordCount": len(result.rows),
        "Schema": {
            "columns": [
                render._column(name, instances.odps_type(kind), "")
                for name, kind in zip(result.columns, result.types, strict=True)
            ],
            "partitionKeys": [],
        },
        "QuotaName": "",
        "SupportReadByRawSize": False,
    }
    return Reply(orjson.dumps(body), media_type=tunnel.JSON)


def _columns(columns: Sequence[str], wanted: list[str]) -> list[int]:
    """The positions of the asked columns, in the order asked (all when none)."""
    if not wanted:
        return list(range(len(columns)))
    lowered = [c.lower() for c in columns]
    unknown = [n for n in wanted if n not in lowered]
    if unknown or len(set(wanted)) != len(wanted):
        raise tunnel._refusal_class("InvalidColumnSpec", 400)(
            f"columns {','.join(wanted)!r}: name each column of the result once; it has "
            f"{', '.join(columns)}" + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    return [lowered.index(n) for n in wanted]


def _typed_as(value: Any, kind: Kind) -> Any:
    """A kept result value (JSON: datetimes and decimals as text) as its MaxCompute type: an
    ARRAY a list, a MAP a list of (key, value), a STRUCT a dict
    of its fields, each part typed in turn (a MAP's keys are text in the kept JSON)."""
    if value is None:
        return None
    if kind.nested:
        return _typed_nested(value, kind)
    name = kind.name
    if name == "datetime":
        return dt.datetime.fromisoformat(str(value))
    if name == "date":
        return dt.date.fromisoformat(str(value))
    if name.startswith("decimal"):
        return decimal.Decimal(str(value))
    if name in _ARROW and name != "string":
        return _scalar(value, name)
    if isinstance(value, str):
        return value
    return instances._cell(value)  # a value of a type not known here, as its text


def _typed_nested(value: Any, kind: Kind) -> Any:
    if kind.name == ARRAY:
        return [_typed_as(item, kind.parts[0]) for item in value]
    if kind.name == MAP:
        items = value.items() if isinstance(value, dict) else value
        return [(_typed_as(k, kind.parts[0]), _typed_as(v, kind.parts[1])) for k, v in items]
    if isinstance(value, dict):
        return {f: _typed_as(value.get(f), p) for f, p in zip(kind.fields, kind.parts, strict=True)}
    return {f: _typed_as(v, p) for f, v, p in zip(kind.fields, value, kind.parts, strict=True)}


def _scalar(value: Any, name: str) -> Any:
    """A number or boolean as its type: a MAP's key arrives as text (JSON's object keys)."""
    if not isinstance(value, str):
        return value
    if name == "boolean":
        return value == "true"
    return float(value) if name in ("double", "float") else int(value)


def _wire_rows(rows: list[list[Any]], kinds: list[str]) -> Iterator[list[Any]]:
    """Rows as the record stream carries them: DATETIME as epoch milliseconds (the job's
    wall-clock time read as UTC), DATE as epoch days, DECIMAL as text, a STRUCT as its fields'
    values in order (`tunnel_wire.encoder_of`)."""
    parsed = [parse_kind(kind) for kind in kinds]
    for row in rows:
        yield [
            _on_wire(_typed_as(value, kind), kind) for value, kind in zip(row, parsed, strict=True)
        ]


def _on_wire(typed: Any, kind: Kind) -> Any:
    if typed is None:
        return None
    if kind.name == ARRAY:
        return [_on_wire(item, kind.parts[0]) for item in typed]
    if kind.name == MAP:
        key, value = kind.parts
        return [(_on_wire(k, key), _on_wire(v, value)) for k, v in typed]
    if kind.name == STRUCT:
        return [_on_wire(typed[f], p) for f, p in zip(kind.fields, kind.parts, strict=True)]
    if isinstance(typed, dt.datetime):
        return (typed - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(typed, dt.date):
        return (typed - _EPOCH.date()).days
    if isinstance(typed, decimal.Decimal):
        return str(typed)
    return typed


def _arrow_of(kind: Kind) -> pa.DataType:
    """The Arrow type PyODPS builds for a column of this type (`odps_type_to_arrow_type`)."""
    if kind.name == ARRAY:
        return pa.list_(_arrow_of(kind.parts[0]))
    if kind.name == MAP:
        return pa.map_(_arrow_of(kind.parts[0]), _arrow_of(kind.parts[1]))
    if kind.name == STRUCT:
        return pa.struct([(f, _arrow_of(p)) for f, p in zip(kind.fields, kind.parts, strict=True)])
    if kind.name.startswith("decimal("):
        precision, scale = (int(p) for p in kind.name[len("decimal(") : -1].split(","))
        return pa.decimal128(precision, scale)
    return _ARROW.get(kind.name, pa.string())


def _batches(names: list[str], kinds: list[str], rows: list[list[Any]]) -> Iterator[pa.RecordBatch]:
    parsed = [parse_kind(kind) for kind in kinds]
    arrays = [
        pa.array([_typed_as(row[i], kind) for row in rows], type=_arrow_of(kind))
        for i, kind in enumerate(parsed)
    ]
    yield pa.RecordBatch.from_arrays(arrays, names=names)
