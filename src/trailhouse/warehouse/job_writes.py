"""Commit a job's (or an upload session's) Parquet files into a user's table exactly once.

A SQL write (CREATE TABLE … AS, INSERT INTO/OVERWRITE) or a tunnel upload writes its files into
the table's `_staging` folder under names derived from its id alone (`job-<id>-<n>.parquet`),
fsyncs them and renames them into their partition folder; then ONE metadata transaction lists
them: the file documents, the partition's totals, a marker document named after the id
(created, so a second commit of the same id collides), the new table's document for CTAS and,
for OVERWRITE, the deletion of every file the partition listed before. A crash before that
commit leaves only files no reader sees (swept later); a retried commit finds its marker and
changes nothing, and one a crash cut short between the rename and the commit lists the files
already renamed. Readers planned before an OVERWRITE read the files they listed, which stay on
disk until the sweep's grace time has passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow.parquet as pq

from trailhouse import faults
from trailhouse.durable import fsync_path
from trailhouse.errors import SqlSemanticError, TableNotFound, VersionConflict
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.encoder import column_bytes
from trailhouse.warehouse.model import (
    FILE_KIND,
    PARTITION_KIND,
    TABLE_KIND,
    WRITE_KIND,
    DataFile,
    PartitionStats,
    Table,
    partition_scope,
    table_scope,
)
from trailhouse.warehouse.writer import STAGED_SUFFIX, STAGING


@dataclass(frozen=True, slots=True)
class Committed:
    """The marker of a job's or upload's commit: when, and how many rows and files it listed."""

    at: int
    rows: int
    files: int


@dataclass(frozen=True, slots=True)
class JobWrite:
    """What one job or upload commits into one partition (`partition` "" when unpartitioned)."""

    write_id: str
    table: Table
    partition: str
    staged: tuple[Path, ...]
    overwrite: bool = False
    create_table: bool = False


@dataclass(frozen=True, slots=True)
class JobWriteResult:
    """The rows and files a commit listed, or that the id had committed before."""

    rows: int
    files: int
    already_committed: bool


def staging_dir(root: Path, table: Table) -> Path:
    """The folder a job stages its files in before they are committed."""
    return root / table_scope(table.region, table.project, table.name) / STAGING


def staged_path(root: Path, table: Table, write_id: str, index: int) -> Path:
    """Where a job stages its `index`th file: its final name with the staged suffix."""
    return staging_dir(root, table) / (file_name(write_id, index) + STAGED_SUFFIX)


def placed_path(root: Path, table: Table, partition: str, write_id: str, index: int) -> Path:
    """Where a job's `index`th file is once renamed into its partition's folder."""
    folder = root / table_scope(table.region, table.project, table.name)
    return (folder / partition if partition else folder) / file_name(write_id, index)


def file_name(write_id: str, index: int) -> str:
    """The deterministic name of a job's or upload's `index`th file."""
    return f"job-{write_id}-{index:05d}.parquet"


class JobWriter:
    """Places staged files and commits them into user tables, once per job or upload id."""

    def __init__(
        self,
        root: Path,
        metadata: MetadataStore,
        catalog: Catalog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._root = root
        self._metadata = metadata
        self._catalog = catalog
        self._clock = clock

    def committed(self, table: Table, write_id: str) -> bool:
        """True when this job or upload id has committed into the table."""
        scope = table_scope(table.region, table.project, table.name)
        return self._metadata.get_document(WRITE_KIND, scope, write_id) is not None

    def commit(self, write: JobWrite) -> JobWriteResult:
        """Place the staged files into the partition's folder and list them in one commit."""
        table = write.table
        if self.committed(table, write.write_id):
            return JobWriteResult(0, 0, already_committed=True)
        folder = self._root / table_scope(table.region, table.project, table.name)
        if write.partition:
            folder = folder / write.partition
        folder.mkdir(parents=True, exist_ok=True)
        files = [self._place(write, index, path, folder) for index, path in enumerate(write.staged)]
        fsync_path(folder)
        faults.point("warehouse.job_files.placed")
        return retry_on_conflict(
            lambda: self._attempt(write, files), what=f"table {table.project}.{table.name}"
        )

    def _place(self, write: JobWrite, index: int, staged: Path, folder: Path) -> DataFile:
        final = folder / file_name(write.write_id, index)
        if not staged.exists() and final.exists():
            # Placed by this same commit before a crash cut it short (its name is the write's
            # own, and the folder was fsynced after the rename): the retried commit lists it.
            data = final.read_bytes()
        else:
            with staged.open("rb") as handle:
                data = handle.read()
                os.fsync(handle.fileno())
            os.replace(staged, final)
        return DataFile(
            path=str(final.relative_to(self._root)),
            ds=write.partition,
            rows=pq.ParquetFile(final).metadata.num_rows,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            first_seq=0,
            last_seq=0,
            min_event_time="",
            max_event_time="",
            column_bytes=column_bytes(data),
            committed_at=0,
            schema_version=0,
        )

    def _attempt(self, write: JobWrite, files: Sequence[DataFile]) -> JobWriteResult:
        table = write.table
        scope = table_scope(table.region, table.project, table.name)
        files_scope = partition_scope(table.region, table.project, table.name, write.partition)
        now = int(self._clock())
        marker = Committed(now, sum(f.rows for f in files), len(files))
        writes = [DocumentWrite(WRITE_KIND, scope, write.write_id, encode(marker), 0)]
        if write.create_table:
            if self._metadata.get_document(
                TABLE_KIND, f"{table.region}/{table.project}", table.name
            ):
                raise SqlSemanticError(
                    f"Semantic analysis exception - table {table.project}.{table.name} was "
                    "created by another job while this one ran; nothing was written"
                )
            writes.append(
                DocumentWrite(
                    TABLE_KIND, f"{table.region}/{table.project}", table.name, encode(table), 0
                )
            )
        else:  # the table must still be the one planned against (not dropped, not re-created)
            document = self._catalog.table_document(table)
            if decode(Table, document.body).created_at != table.created_at:
                raise TableNotFound(
                    f"ODPS-0130131:Table not found - table {table.project}.{table.name} was "
                    "dropped and created again while the job ran; run the job again"
                )
            writes.append(DocumentWrite.check(document))
        stats, version = self._catalog.partition(table, write.partition)
        kept = stats if stats is not None and not write.overwrite else None
        replaced: list[Path] = []
        if write.overwrite:
            for old in self._metadata.list_documents(FILE_KIND, files_scope):
                writes.append(DocumentWrite(old.kind, old.scope, old.name, None, old.version))
                replaced.append(self._root / decode(DataFile, old.body).path)
        for data_file in files:
            name = Path(data_file.path).name
            stamped = encode(replace(data_file, committed_at=now))
            writes.append(DocumentWrite(FILE_KIND, files_scope, name, stamped, 0))
        totals = PartitionStats(
            ds=write.partition,
            files=(kept.files if kept else 0) + len(files),
            rows=(kept.rows if kept else 0) + sum(f.rows for f in files),
            bytes=(kept.bytes if kept else 0) + sum(f.bytes for f in files),
            last_modified=now,
        )
        writes.append(
            DocumentWrite(PARTITION_KIND, scope, write.partition, encode(totals), version)
        )
        try:
            self._metadata.commit(writes)
        except VersionConflict:
            if self.committed(table, write.write_id):
                return JobWriteResult(0, 0, already_committed=True)
            raise
        faults.point("warehouse.job_write.committed")
        for path in replaced:  # queries planned before keep reading them until the sweep's grace
            with contextlib.suppress(FileNotFoundError):
                os.utime(path, (now, now))
        return JobWriteResult(sum(f.rows for f in files), len(files), already_committed=False)
