"""Tunnel uploads into a user's table (MaxCompute's upload sessions): PyODPS's `open_writer`
and `write_table`.

A session names one partition of a user's table (the table's folder, when unpartitioned) and is
a metadata document, so any server process answers its calls. Each block a client sends is
decoded and checked by the edge, then written here as one staged Parquet file named after the
session and the block (a block sent again replaces its file); nothing of it is visible. The
commit hands the blocks' files to `job_writes.JobWriter`, which lists them in one transaction
under the session's id: a commit retried, or sent twice, lists them once. Only a principal of
the table's owner account with Write uploads (`access.require_user_write`), checked at each call.

    ReadError (reads.py)
    ├── NoSuchUpload        404   an upload id nobody created for this table
    ├── MalformedDataStream 400   a block whose rows, checksums or schema do not check
    └── UploadConflict      409   a call on a committed or expired session
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailhouse.durable import place_file
from trailhouse.errors import InvalidParameter, NoPermission
from trailhouse.iam.principals import Caller
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse import access
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.job_writes import JobWrite, JobWriter, placed_path, staged_path
from trailhouse.warehouse.model import PROJECT_PREFIX, Project, Table, table_scope
from trailhouse.warehouse.reads import InvalidPartitionSpec, NoSuchPartition, ReadError
from trailhouse.warehouse.user_tables import partition_folder, shape_of

UPLOAD_KIND = "wh-upload"
UPLOAD_SECONDS = 24 * 3600  # as MaxCompute's sessions
MAX_BLOCK_ID = 19_999  # MaxCompute's block ids: 0 to 19999


class NoSuchUpload(ReadError):
    code = "NoSuchUpload"
    http_status = 404


class MalformedDataStream(ReadError):
    code = "MalformedDataStream"


class UploadConflict(ReadError):
    code = "StatusConflict"
    http_status = 409


class UploadStatus:
    """A session's life: normal (taking blocks) → closed (committed); expired after a day."""

    NORMAL = "normal"
    COMMITTED = "closed"  # MaxCompute: a committed session is CLOSED
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class UploadSession:
    """An upload into one partition: its blocks so far, whether it replaces the partition's
    rows (`overwrite`), who made it and until when it takes blocks."""

    id: str
    region: str
    project: str
    table: str
    table_created_at: int
    partition: str
    overwrite: bool
    blocks: tuple[int, ...]
    status: str
    created_by: str
    created_at: int
    expires_at: int


class TableUploads:
    """Creates upload sessions, stages their blocks and commits them."""

    def __init__(
        self,
        metadata: MetadataStore,
        catalog: Catalog,
        writer: JobWriter,
        root: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._catalog = catalog
        self._writer = writer
        self._root = root
        self._clock = clock

    def create(
        self,
        caller: Caller,
        project: Project,
        table: Table,
        partition: Mapping[str, str],
        *,
        overwrite: bool = False,
        create_partition: bool = False,
    ) -> UploadSession:
        """A session uploading into the partition named by its key values (none for an
        unpartitioned table); a partition that has no rows yet needs `create_partition`."""
        self._require(caller, project, table)
        try:
            folder = partition_folder(table, partition)
        except InvalidParameter as exc:
            raise InvalidPartitionSpec(exc.message) from exc
        if folder and not create_partition and self._catalog.partition(table, folder)[0] is None:
            spec = ",".join(f"{k}='{v}'" for k, v in partition.items())
            raise NoSuchPartition(
                f"partition {spec} of {project.name}.{table.name} does not exist: pass "
                "create_partition=True to open_writer or write_table to create it"
            )
        now = int(self._clock())
        session = UploadSession(
            id=time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + secrets.token_hex(12).upper(),
            region=project.region,
            project=project.name,
            table=table.name,
            table_created_at=table.created_at,
            partition=folder,
            overwrite=overwrite,
            blocks=(),
            status=UploadStatus.NORMAL,
            created_by=access.member_name(caller),
            created_at=now,
            expires_at=now + UPLOAD_SECONDS,
        )
        scope = table_scope(project.region, project.name, table.name)
        self._metadata.commit([DocumentWrite(UPLOAD_KIND, scope, session.id, encode(session), 0)])
        return session

    def get(self, caller: Caller, project: Project, table: Table, upload_id: str) -> UploadSession:
        """The session (its status `expired` once past its time), or NoSuchUpload."""
        self._require(caller, project, table)
        session, _ = self._read(table, upload_id)
        return session

    def write_block(
        self,
        caller: Caller,
        project: Project,
        table: Table,
        upload_id: str,
        block_id: int,
        rows: pa.Table,
    ) -> UploadSession:
        """Stage a checked block of rows (in the table's columns, by name) as its Parquet file;
        nothing is visible until the commit. A block sent again replaces the earlier one."""
        self._require(caller, project, table)
        if not 0 <= block_id <= MAX_BLOCK_ID:
            raise MalformedDataStream(f"block id {block_id}: use 0 to {MAX_BLOCK_ID}")
        session, _ = self._open(table, upload_id)
        shape = shape_of(table)
        schema = pa.schema([pa.field(c.name, c.arrow_type) for c in shape.columns])
        buffer = io.BytesIO()
        pq.write_table(rows.select(list(schema.names)).cast(schema), buffer, compression="zstd")
        target = staged_path(self._root, table, session.id, block_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        place_file(
            buffer.getvalue(),
            target.with_name(target.name.replace(".parquet", ".part")),  # still *.staged
            target,
            staged="warehouse.upload.block_staged",
        )

        def attempt() -> UploadSession:
            found, version = self._open(table, upload_id)
            grown = replace(found, blocks=tuple(sorted({*found.blocks, block_id})))
            scope = table_scope(table.region, table.project, table.name)
            self._metadata.commit(
                [DocumentWrite(UPLOAD_KIND, scope, found.id, encode(grown), version)]
            )
            return grown

        return retry_on_conflict(attempt, what=f"upload {upload_id}")

    def commit(
        self, caller: Caller, project: Project, table: Table, upload_id: str
    ) -> UploadSession:
        """List every block's rows in the table at once (once, however often it is asked)."""
        self._require(caller, project, table)
        session, version = self._read(table, upload_id)
        if session.status == UploadStatus.COMMITTED:
            return session
        if session.status != UploadStatus.NORMAL:
            raise UploadConflict(
                f"upload {upload_id} is {session.status}: create a new session and send the "
                "rows again"
            )
        staged = tuple(staged_path(self._root, table, session.id, b) for b in session.blocks)
        gone = [  # a block renamed into the partition by a commit a crash cut short is there
            b
            for index, (b, path) in enumerate(zip(session.blocks, staged, strict=True))
            if not path.exists()
            and not placed_path(self._root, table, session.partition, session.id, index).exists()
        ]
        if gone and not self._writer.committed(table, session.id):
            raise UploadConflict(
                f"upload {upload_id}: block {gone[0]} is no longer staged (a block waits for its "
                "commit as long as the sweep's grace time, an hour by default); create a new "
                "session and send the rows again"
            )
        self._writer.commit(
            JobWrite(session.id, table, session.partition, staged, overwrite=session.overwrite)
        )
        done = replace(session, status=UploadStatus.COMMITTED)
        scope = table_scope(table.region, table.project, table.name)
        retry_on_conflict(
            lambda: self._metadata.commit(
                [DocumentWrite(UPLOAD_KIND, scope, done.id, encode(done), version)]
            ),
            what=f"upload {upload_id}",
        )
        return done

    def _require(self, caller: Caller, project: Project, table: Table) -> None:
        what = f"upload into table {table.name}"
        access.require_user_write(caller, project, what)
        if not table.is_user_table or table.name.startswith(PROJECT_PREFIX):
            raise NoPermission(
                f"{access.ACCESS_DENIED} - {access.caller_label(caller)} may not {what}: a "
                f"trail's {PROJECT_PREFIX}* table accepts rows only from ActionTrail delivery; "
                "upload into a table you created (CREATE TABLE or o.create_table)"
            )

    def _read(self, table: Table, upload_id: str) -> tuple[UploadSession, int]:
        scope = table_scope(table.region, table.project, table.name)
        session, version = read(self._metadata, UploadSession, UPLOAD_KIND, scope, upload_id)
        if session is None or session.table_created_at != table.created_at:
            raise NoSuchUpload(
                f"upload id {upload_id!r} was not created for {table.project}.{table.name}: "
                "create a session with open_writer() or TableTunnel.create_upload_session"
            )
        if session.status == UploadStatus.NORMAL and session.expires_at <= self._clock():
            session = replace(session, status=UploadStatus.EXPIRED)
        return session, version

    def _open(self, table: Table, upload_id: str) -> tuple[UploadSession, int]:
        session, version = self._read(table, upload_id)
        if session.status != UploadStatus.NORMAL:
            raise UploadConflict(
                f"upload {upload_id} is {session.status} and takes no more blocks: create a new "
                "session"
            )
        return session, version
