"""Reading a table's rows outside SQL (MaxCompute's tunnel): a download session fixes the
committed files of one partition, and reads hand out any row range of them, any columns.

An audit table's partition is a `ds` day; a user's table's is its folder of key values
(`day=d1`), or "" for an unpartitioned table. The session keeps the table's shape as it was
(an audit table's schema version, a user table's own columns) and reads it through
`Catalog.shape`, the one owner of what a table's columns are. Staged upload blocks are never
read: only files the catalog lists as committed.

The session is a metadata document, so a reader in another process (PyODPS splits a read
across processes) or a later request finds it; it lasts `SESSION_SECONDS` (24 hours, as
MaxCompute's). Only the files of the chosen partition are listed and opened, as the SQL planner
prunes by `ds`. Each read checks the caller's Select privilege again (`access.py`), so a member
removed meanwhile reads nothing more. Rows come in the session's file order (day, then log
order), the same on every read, so ranges read apart fit together.

    ApiError
    └── ReadError                     what a tunnel read refuses, by MaxCompute tunnel code
        ├── NoSuchPartition     404   the partition has no files (or was never added)
        ├── MissingPartitionSpec 400  a partitioned table read without a partition
        ├── InvalidPartitionSpec 400  a spec that does not name the table's partition keys
        ├── InvalidRowRange     400   a range outside the session's rows
        ├── InvalidColumnSpec   400   a column the table does not have
        ├── NoSuchDownload      404   a download id nobody created (for this table)
        ├── StatusConflict      409   an expired session
        └── TableModified       409   files of the session are gone (compacted long ago)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from trailhouse.errors import ApiError, InvalidParameter
from trailhouse.iam.principals import Caller
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse import access
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.model import (
    Privilege,
    Project,
    Table,
    UserColumn,
    is_partition,
    table_scope,
)
from trailhouse.warehouse.user_tables import TableShape, partition_folder, partition_values

DOWNLOAD_KIND = "wh-download"
SESSION_SECONDS = 24 * 3600
BATCH_ROWS = 8192  # rows per Arrow batch handed out: about 10 MB of audit rows


class ReadError(ApiError):
    """A refused tunnel read (the code is MaxCompute tunnel's)."""

    code: ClassVar[str] = "InvalidArgument"
    http_status: ClassVar[int] = 400


class NoSuchPartition(ReadError):
    code = "NoSuchPartition"
    http_status = 404


class MissingPartitionSpec(ReadError):
    code = "MissingPartitionSpec"


class InvalidPartitionSpec(ReadError):
    code = "InvalidPartitionSpec"


class InvalidRowRange(ReadError):
    code = "InvalidRowRange"


class InvalidColumnSpec(ReadError):
    code = "InvalidColumnSpec"


class NoSuchDownload(ReadError):
    code = "NoSuchDownload"
    http_status = 404


class StatusConflict(ReadError):
    code = "StatusConflict"
    http_status = 409


class TableModified(ReadError):
    code = "TableModified"
    http_status = 409


@dataclass(frozen=True, slots=True)
class DownloadSession:
    """The files a download reads, in read order, with their rows; who created it and when."""

    id: str
    region: str
    project: str
    table: str
    ds: str
    schema_version: int
    files: tuple[tuple[str, int], ...]
    rows: int
    created_by: str
    created_at: int
    expires_at: int
    columns: tuple[UserColumn, ...] = ()  # a user table's columns when it was created
    partition_keys: tuple[UserColumn, ...] = ()

    @property
    def shape(self) -> TableShape:
        """The columns the session reads (the table's when it was created)."""
        as_created = Table(
            self.region,
            self.project,
            self.table,
            0,
            schema_version=self.schema_version,
            columns=self.columns,
            partition_keys=self.partition_keys,
        )
        return Catalog.shape(as_created)


def partition_of(spec: str) -> str:
    """The day of a partition spec as PyODPS sends it (ds=20261205, quotes optional)."""
    values = _spec_values(spec)
    if values is None or set(values) != {"ds"} or not is_partition(values["ds"]):
        raise InvalidPartitionSpec(
            f"partition spec {spec!r} is not valid: trailhouse tables have one partition "
            "column, ds; name a day as ds='YYYYMMDD'"
        )
    return values["ds"]


def _spec_values(spec: str) -> dict[str, str] | None:
    """The key values of a spec such as day='d1',region=x (None when a part has no '=')."""
    pairs = [part.partition("=") for part in spec.split(",") if part.strip()]
    values = {k.strip().lower(): v.strip().strip("'\"") for k, eq, v in pairs if eq}
    return values if len(values) == len(pairs) else None


def partition_in(table: Table, spec: str) -> str:
    """The partition a spec names in this table: an audit table's day, a user table's folder
    ("" for no spec); InvalidPartitionSpec saying what the table's partition keys are."""
    if not spec:
        return ""
    if not table.is_user_table:
        return partition_of(spec)
    values = _spec_values(spec)
    try:
        if values is None:
            raise InvalidParameter(f"write partition {spec!r} as key='value'[,key='value']")
        return partition_folder(table, values)
    except InvalidParameter as exc:
        raise InvalidPartitionSpec(f"partition spec {spec!r} is not valid: {exc.message}") from exc


class TableReads:
    """Creates download sessions and reads their rows as Arrow batches."""

    def __init__(
        self,
        metadata: MetadataStore,
        catalog: Catalog,
        root: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._catalog = catalog
        self._root = root
        self._clock = clock

    def create(self, caller: Caller, project: Project, table: Table, ds: str) -> DownloadSession:
        """A session over the partition `ds` of the table (`partition_in`): "" reads an
        unpartitioned user table; a partitioned table read without a partition is refused, as
        MaxCompute's tunnel refuses it."""
        access.require(caller, project, Privilege.SELECT)
        shape = Catalog.shape(table)
        if not ds and shape.partition_keys:
            keys = ",".join(f"{key}='…'" for key in shape.key_names)
            raise MissingPartitionSpec(
                f"{project.name}.{table.name} is partitioned by {', '.join(shape.key_names)}: "
                f'name the partition to read, for example open_reader(partition="{keys}"); '
                "table.partitions lists them"
            )
        stats, _ = self._catalog.partition(table, ds)
        if stats is None and ds:
            raise self._no_partition(project, table, ds)
        chosen = [] if stats is None else [stats]  # an unpartitioned table not yet written
        files = sorted(self._catalog.files(table, chosen), key=lambda f: (f.first_seq, f.path))
        now = int(self._clock())
        session = DownloadSession(
            id=time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + secrets.token_hex(12).upper(),
            region=project.region,
            project=project.name,
            table=table.name,
            ds=ds,
            schema_version=table.schema_version,
            files=tuple((f.path, f.rows) for f in files),
            rows=sum(f.rows for f in files),
            created_by=access.member_name(caller),
            created_at=now,
            expires_at=now + SESSION_SECONDS,
            columns=table.columns,
            partition_keys=table.partition_keys,
        )
        scope = table_scope(project.region, project.name, table.name)
        writes = [DocumentWrite(DOWNLOAD_KIND, scope, session.id, encode(session), 0)]
        for document in self._metadata.list_documents(DOWNLOAD_KIND, scope):
            if decode(DownloadSession, document.body).expires_at <= now:  # swept as it goes
                writes.append(
                    DocumentWrite(DOWNLOAD_KIND, scope, document.name, None, document.version)
                )
        self._metadata.commit(writes)
        return session

    def head(
        self,
        caller: Caller,
        project: Project,
        table: Table,
        ds: str,
        limit: int,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The first `limit` rows of the partition `ds` (of the table, oldest partition first,
        when "") in `columns` (all when none), partition keys last: PyODPS's `table.head()`."""
        access.require(caller, project, Privilege.SELECT)
        partitions = self._catalog.list_partitions(table)
        if ds:
            partitions = [p for p in partitions if p.ds == ds]
            if not partitions:
                raise self._no_partition(project, table, ds)
        shape = Catalog.shape(table)
        known = shape.view_names
        names = [n.lower() for n in columns or known]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidColumnSpec(
                f"the specified columns are not valid: {project.name}.{table.name} has no column "
                f"{', '.join(unknown)}; its columns are {', '.join(known)}"
            )
        keys = [n for n in names if n in shape.key_names]
        data = [n for n in names if n not in shape.key_names]
        by_name = {c.name: c for c in shape.columns}
        out = pa.schema([pa.field(n, by_name[n].arrow_type) for n in data])
        key_types = {key.name: key.arrow_type for key in shape.partition_keys}
        full = pa.schema([*out, *(pa.field(key, key_types[key]) for key in keys)])
        pieces: list[pa.Table] = []
        left = limit
        for stats in partitions:
            values = partition_values(stats.ds)
            files = sorted(self._catalog.files(table, [stats]), key=lambda f: (f.first_seq, f.path))
            for data_file in files:
                if left <= 0:
                    break
                batches = list(_file_batches(self._root / data_file.path, out, 0, left))
                if not batches:
                    continue
                piece = pa.Table.from_batches(batches, schema=out)
                for key in keys:
                    piece = piece.append_column(
                        key, pa.array([values.get(key)] * piece.num_rows, key_types[key])
                    )
                pieces.append(piece)
                left -= piece.num_rows
        if not pieces:
            return full.empty_table()
        return pa.concat_tables(pieces)

    @staticmethod
    def _no_partition(project: Project, table: Table, ds: str) -> NoSuchPartition:
        if table.is_user_table:
            return NoSuchPartition(
                f"the specified partition does not exist: {project.name}.{table.name} has no "
                f"partition {ds.replace('/', ',')} (add it with ALTER TABLE … ADD PARTITION or "
                "write into it); table.partitions lists them"
            )
        return NoSuchPartition(
            f"the specified partition does not exist: {project.name}.{table.name} has no "
            f"partition ds='{ds}' (a partition exists once events of that UTC day are "
            "delivered); table.partitions lists them"
        )

    def get(
        self, caller: Caller, project: Project, table: Table, download_id: str
    ) -> DownloadSession:
        """The session of this id on this table, whether or not it has expired."""
        access.require(caller, project, Privilege.SELECT)
        scope = table_scope(project.region, project.name, table.name)
        document = self._metadata.get_document(DOWNLOAD_KIND, scope, download_id)
        if document is None:
            raise NoSuchDownload(
                f"the specified download id {download_id!r} does not exist for table "
                f"{project.name}.{table.name}: create a download session (open_reader) and "
                "use the DownloadID it returns"
            )
        return decode(DownloadSession, document.body)

    def expired(self, session: DownloadSession) -> bool:
        """True once the session may no longer be read."""
        return self._clock() >= session.expires_at

    def columns(self, session: DownloadSession, names: Sequence[str] | None) -> list[str]:
        """The columns a read names, checked against the session's (all when none named)."""
        shape = session.shape
        known = shape.names
        if not names:
            return list(known)
        unknown = [n for n in names if n.lower() not in known]
        if unknown or len(set(names)) != len(names):
            what = f"no column {', '.join(unknown)}" if unknown else "a column named twice"
            raise InvalidColumnSpec(
                f"the specified columns are not valid: {session.project}.{session.table} has "
                f"{what}; its columns are {', '.join(known)}"
                + (
                    f" ({', '.join(shape.key_names)}: the partition, not read from the tunnel)"
                    if shape.key_names
                    else ""
                )
            )
        return [n.lower() for n in names]

    def check_range(self, session: DownloadSession, start: int, count: int) -> None:
        """Refuse a range that is not inside the session's rows."""
        if self.expired(session):
            raise StatusConflict(
                f"the download session {session.id} is expired (sessions last "
                f"{SESSION_SECONDS // 3600} hours): create a new one (open_reader(reopen=True))"
            )
        if start < 0 or count < 0 or start + count > session.rows:
            raise InvalidRowRange(
                f"the specified row range ({start},{count}) is not valid: the session "
                f"{session.id} holds {session.rows} rows, so start + count must be at most "
                f"{session.rows}"
            )
        missing = [path for path, _ in session.files if not (self._root / path).is_file()]
        if missing:
            raise TableModified(
                f"files of {session.project}.{session.table} {_partition_label(session)} "
                f"changed since the download session {session.id} was created: create a new one "
                "(open_reader(reopen=True))"
            )

    def batches(
        self, session: DownloadSession, start: int, count: int, columns: Sequence[str]
    ) -> Iterator[pa.RecordBatch]:
        """Rows [start, start + count) of the session, `columns` in that order, in batches;
        files and row groups wholly outside the range are not read."""
        by_name = {c.name: c for c in session.shape.columns}
        out = pa.schema([pa.field(n, by_name[n].arrow_type) for n in columns])
        offset = 0
        end = start + count
        for path, rows in session.files:
            first, offset = offset, offset + rows
            if offset <= start or first >= end or rows == 0:
                continue
            yield from _file_batches(self._root / path, out, start - first, end - first)


def _partition_label(session: DownloadSession) -> str:
    if session.columns:
        return f"partition {session.ds.replace('/', ',')}" if session.ds else "(unpartitioned)"
    return f"ds='{session.ds}'"


def _file_batches(path: Path, out: pa.Schema, lo: int, hi: int) -> Iterator[pa.RecordBatch]:
    """Rows [lo, hi) of one file (clipped to it) in the columns of `out`, by name; a column
    the file lacks (written by an older schema version) is NULL."""
    with pq.ParquetFile(path) as parquet:
        present = set(parquet.schema_arrow.names)
        wanted = [name for name in out.names if name in present]
        groups: list[int] = []
        skip = 0
        position = 0
        for index in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(index).num_rows
            if position + size > lo and position < hi:
                if not groups:
                    skip = max(lo - position, 0)
                groups.append(index)
            position += size
        remaining = min(hi, position) - max(lo, 0)
        if not groups or remaining <= 0:
            return
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=groups, columns=wanted):
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            piece = batch.slice(skip, remaining)
            skip = 0
            remaining -= piece.num_rows
            arrays = [
                piece.column(name).cast(field.type)
                if name in present
                else pa.nulls(piece.num_rows, field.type)
                for name, field in zip(out.names, out, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=out)
            if remaining <= 0:
                return
