"""The audit table's schema: its columns, the JSON path each typed column holds, and its versions.

This module is the one owner of the warehouse table's columns. The writer turns events into rows
with `rows_of`, compaction reshapes old files with `conform`, the planner and the SQL engines
take a table's columns from `schema_of(table.schema_version)`, and the API describes tables
with them. Columns are only ever added: version N has the columns of version N-1 and more, so a
file written in any older version is read by name, its missing columns as NULL (docs/warehouse.md,
"Schema versions").

A typed column holds exactly what GET_JSON_OBJECT(event, path) returns (ARCHITECTURE decision 3),
so a query rewritten from the path to the column gives the same answer, in every file written in
a version that has the column. A supplied column holds what the writer knows of the event beside
its JSON (`recorded_by`: who recorded it), so it has no path and is never a rewrite's target.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
import pyarrow as pa

EVENT_COLUMN = "event"
RECORDED_BY_COLUMN = "recorded_by"
PARTITION_COLUMN = "ds"
# The key of a Parquet file's key-value metadata that records its schema version.
VERSION_KEY = b"trailhouse.schema_version"
# Files and tables from before versions were recorded hold the columns of version 1.
FIRST_VERSION = 1


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the audit table: its name, the event path it is extracted from ("" for the
    raw event and supplied columns), what it holds, the schema version that added it, its types,
    and whether the writer supplies its value (`rows_of`'s `supplied`) rather than the JSON."""

    name: str
    path: str
    comment: str
    since: int = FIRST_VERSION
    odps_type: str = "STRING"
    arrow_type: pa.DataType = pa.string()
    supplied: bool = False


# Every column ever added, in table order: the raw event first, then the typed ones. A new
# column goes at the end with `since` = the new SCHEMA_VERSION; none is removed or reordered.
COLUMNS: tuple[Column, ...] = (
    Column(EVENT_COLUMN, "", "the whole event as JSON text"),
    Column("event_id", "$.eventId", "the event's id"),
    Column("event_time", "$.eventTime", "when the event happened, ISO 8601 UTC text"),
    Column("event_name", "$.eventName", "the API action or console event"),
    Column("event_type", "$.eventType", "ApiCall, ConsoleSignin, ..."),
    Column("event_rw", "$.eventRW", "Read or Write"),
    Column("service_name", "$.serviceName", "the cloud service called"),
    Column("acs_region", "$.acsRegion", "the region of the call"),
    Column("source_ip_address", "$.sourceIpAddress", "the caller's IP address"),
    Column("user_agent", "$.userAgent", "the caller's client"),
    Column("user_type", "$.userIdentity.type", "root-account, ram-user, assumed-role, ..."),
    Column("user_name", "$.userIdentity.userName", "the caller's user name"),
    Column("principal_id", "$.userIdentity.principalId", "the caller's principal id"),
    Column("access_key_id", "$.userIdentity.accessKeyId", "the AccessKey the call was signed with"),
    Column("account_id", "$.userIdentity.accountId", "the caller's account"),
    Column("resource_type", "$.resourceType", "the type of the resources acted on"),
    Column("resource_name", "$.resourceName", "the names of the resources acted on"),
    Column("error_code", "$.errorCode", "the error the call ended with, if any"),
    Column("request_id", "$.requestId", "the request's id"),
    Column(
        RECORDED_BY_COLUMN,
        "",
        "who recorded the event, as JSON text: type (root-account, ram-user, service, trailhouse "
        "or unknown), accessKeyId, principalId, accountId, userName",
        since=2,
        supplied=True,
    ),
)
# The version this trailhouse writes: the highest `since` of COLUMNS.
SCHEMA_VERSION = 2
PARTITION = Column(PARTITION_COLUMN, "", "the UTC day of eventTime, YYYYMMDD")


@dataclass(frozen=True, slots=True)
class TableSchema:
    """The columns of one schema version, in table order (the partition key `ds` apart)."""

    version: int
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The data columns' names, `event` first."""
        return tuple(column.name for column in self.columns)

    @property
    def view_names(self) -> tuple[str, ...]:
        """The columns a query sees: the data columns, then `ds`."""
        return (*self.names, PARTITION_COLUMN)

    @property
    def typed(self) -> tuple[Column, ...]:
        """The columns extracted from a JSON path of the event."""
        return tuple(column for column in self.columns if column.path)

    @property
    def supplied(self) -> tuple[Column, ...]:
        """The columns whose values the writer supplies."""
        return tuple(column for column in self.columns if column.supplied)

    @property
    def column_for_path(self) -> dict[str, str]:
        """The typed column that holds each JSON path."""
        return {column.path: column.name for column in self.typed}

    @property
    def arrow(self) -> pa.Schema:
        """The Arrow schema of a file of this version, its version in the key-value metadata."""
        fields = [pa.field(column.name, column.arrow_type) for column in self.columns]
        return pa.schema(fields, metadata={VERSION_KEY: str(self.version).encode()})


def schema_of(version: int) -> TableSchema:
    """The schema of a version; a version newer than this trailhouse's reads as its own newest
    (a newer trailhouse wrote the table: the columns this one does not know stay unseen)."""
    known = min(max(version, FIRST_VERSION), SCHEMA_VERSION)
    return TableSchema(known, tuple(column for column in COLUMNS if column.since <= known))


def current() -> TableSchema:
    """The schema this trailhouse writes."""
    return schema_of(SCHEMA_VERSION)


def all_names() -> frozenset[str]:
    """Every column name of every version, `ds` included (all of them STRING)."""
    return frozenset((*current().names, PARTITION_COLUMN))


def version_of(metadata: dict[bytes, bytes] | None) -> int:
    """The schema version a Parquet file's key-value metadata records (1 when it has none)."""
    recorded = (metadata or {}).get(VERSION_KEY)
    return int(recorded) if recorded else FIRST_VERSION


def json_path_value(event: dict[str, Any], path: str) -> str | None:
    """What GET_JSON_OBJECT(event, path) returns for a `$.a.b` path: text, or None."""
    value: Any = event
    for key in path[2:].split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def rows_of(
    bodies: Sequence[bytes],
    schema: TableSchema,
    supplied: Mapping[str, Sequence[str | None]] | None = None,
    events: pa.Array | None = None,
) -> pa.Table:
    """The rows of a file of `schema` for these events (JSON bodies): the raw event, each typed
    column's value and each supplied column's values (`supplied[name]`, one per body; KeyError
    when the schema has a supplied column not given), built column by column by name. `events`
    is the raw event column when the caller holds the bodies as Arrow text already."""
    paths = tuple(column.path for column in schema.typed)
    decoder = _decoder(paths)
    blank = decoder.decode(b"{}")
    records: list[Any] = []
    general: list[tuple[int, dict[str, Any]]] = []
    for index, body in enumerate(bodies):
        try:
            records.append(decoder.decode(body))
        except msgspec.ValidationError:
            # A number or an object where text is expected: rendered as JSON text, as
            # GET_JSON_OBJECT renders it.
            records.append(blank)
            general.append((index, orjson.loads(body)))
    arrays: dict[str, pa.Array] = {
        EVENT_COLUMN: events
        if events is not None
        else pa.array(bodies, pa.binary()).cast(pa.string()),
    }
    for column in schema.typed:
        values = list(map(_getter(column.path), records))
        for index, event in general:
            values[index] = json_path_value(event, column.path)
        arrays[column.name] = pa.array(values, column.arrow_type)
    for column in schema.supplied:
        given = (supplied or {})[column.name]
        if len(given) != len(bodies):
            raise ValueError(f"{column.name}: {len(given)} values for {len(bodies)} events")
        arrays[column.name] = pa.array(given, column.arrow_type)
    return pa.table([arrays[name] for name in schema.names], schema=schema.arrow)


def conform(table: pa.Table, schema: TableSchema) -> pa.Table:
    """A file's rows in the columns of `schema`, taken by name: a column the file lacks is NULL
    and a column `schema` does not know is dropped."""
    arrays = [
        table.column(column.name).cast(column.arrow_type)
        if column.name in table.column_names
        else pa.nulls(table.num_rows, column.arrow_type)
        for column in schema.columns
    ]
    return pa.table(arrays, schema=schema.arrow)


def with_version(table: pa.Table, version: int) -> pa.Table:
    """The rows with `version` as the schema version their file records."""
    return table.replace_schema_metadata({VERSION_KEY: str(version).encode()})


# -- the fast path: decode only the fields that have a typed column ----------------------------


@functools.cache
def _decoder(paths: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    """A decoder of the event fields these paths name, every one of them text or absent; any
    other field is skipped, so the common event is decoded without building a dict."""
    return msgspec.json.Decoder(_struct("TypedFields", [path[2:].split(".") for path in paths]))


def _struct(name: str, keys: list[list[str]]) -> Any:
    """A Struct type with a field per first key: text for a leaf, a nested Struct otherwise."""
    children: dict[str, list[list[str]]] = {}
    leaves = {key[0] for key in keys if len(key) == 1}
    for key in keys:
        children.setdefault(key[0], [])
        if len(key) > 1:
            if key[0] in leaves:
                raise ValueError(f"{name}: {key[0]!r} is both a typed column and a parent of one")
            children[key[0]].append(key[1:])
    fields: list[tuple[str, Any, Any]] = []
    for field_name, rest in children.items():
        kind: Any = _struct(f"{name}_{field_name}", rest) if rest else str
        fields.append((field_name, kind | None, None))
    return msgspec.defstruct(name, fields)


def _getter(path: str) -> Callable[[Any], Any]:
    """A function reading a path's value from a record of the fast path's Struct."""
    first, *rest = path[2:].split(".")
    top = operator.attrgetter(first)
    if not rest:
        return top

    def nested(record: Any) -> Any:
        value = top(record)
        for key in rest:
            if value is None:
                return None
            value = getattr(value, key)
        return value

    return nested
