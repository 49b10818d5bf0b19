"""Compaction: a partition's many small files merged into one, without losing a row or a proof.

Delivery commits a file per batch, so a day of a quiet trail can hold thousands of small files,
and every query lists and opens them all. Once a partition has `compaction_min_files` files older
than `compaction_age_seconds`, they are merged (in log order) into one file, which records the
path, SHA-256 and rows of each file it replaces. One metadata transaction swaps them: the new
file's document appears, the old ones' go, and the partition totals are checked unchanged in
rows. Readers planned before the swap still find the old files: they are deleted only by the
sweep, `compaction_grace_seconds` after the swap. Digests list the compacted file with what it
replaces, so `trailhouse verify` still accounts for every row (docs/integrity.md).

Compaction is the warehouse's own upkeep, not a delivery: it writes no row that an authorised
writer did not commit before, so it does not ask `iam/delivery_authority.py` (a trail whose role
lost its authority keeps its committed files compacted, and gets no new ones).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailhouse import faults
from trailhouse.durable import place_file
from trailhouse.errors import VersionConflict
from trailhouse.retry import retry_on_conflict
from trailhouse.settings import Settings
from trailhouse.store.documents import encode
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.encoder import column_bytes
from trailhouse.warehouse.json_columns import with_columns
from trailhouse.warehouse.model import (
    FILE_KIND,
    PARTITION_KIND,
    DataFile,
    PartitionStats,
    Table,
    partition_scope,
    table_scope,
)
from trailhouse.warehouse.schema import conform, current, with_version
from trailhouse.warehouse.writer import STAGED_SUFFIX, STAGING, TableWriter

log = logging.getLogger(__name__)


class Compactor:
    """Merges the small files of partitions, and sweeps what compaction and crashes left."""

    def __init__(
        self,
        settings: Settings,
        metadata: MetadataStore,
        catalog: Catalog,
        writer: TableWriter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._root = settings.warehouse_path
        self._metadata = metadata
        self._catalog = catalog
        self._writer = writer
        self._clock = clock

    def run_once(self) -> int:
        """Compact every partition that is due, then sweep; return the partitions compacted."""
        compacted = 0
        for project in self._catalog.list_projects():
            for table in self._catalog.list_tables(project):
                for stats in self._catalog.list_partitions(table):
                    # A user's table keeps its files as its jobs wrote them (its schema is its
                    # own; compaction merges in the audit schema).
                    if (
                        not table.is_user_table
                        and stats.files >= self._settings.compaction_min_files
                    ):
                        compacted += self.compact(table, stats) is not None
                self._writer.sweep(
                    table, replaced_older_than=self._settings.compaction_grace_seconds
                )
        return compacted

    def compact(self, table: Table, stats: PartitionStats) -> DataFile | None:
        """Merge the partition's old enough files into one; None when there is nothing to do
        or the partition changed meanwhile (it is tried again next time)."""
        digested_until = self._catalog.digested_until(table)
        files = [f for f in self._catalog.files(table, [stats]) if self._ripe(f, digested_until)]
        if len(files) < self._settings.compaction_min_files:
            return None
        files.sort(key=lambda f: (f.first_seq, f.path))
        merged = self._write_merged(table, stats.ds, files)
        try:
            self._swap(table, stats.ds, files, merged)
        except VersionConflict:
            log.info("partition %s of %s changed while it was compacted", stats.ds, table.name)
            return None
        now = time.time()
        for old in files:  # the sweep deletes them once the grace period has passed
            path = self._root / old.path
            if path.exists():
                os.utime(path, (now, now))
        return merged

    def _ripe(self, data_file: DataFile, digested_until: int | None) -> bool:
        """True when the file may be merged: old enough, and, for a file compaction made, listed
        by a signed digest already when the table has digests. A compacted file merged again
        before any digest listed it would take the names of the files it replaced out of the
        digest chain, and `trailhouse verify` would count their rows twice."""
        if self._clock() - data_file.committed_at < self._settings.compaction_age_seconds:
            return False
        return (
            not data_file.replaces
            or digested_until is None
            or data_file.committed_at < digested_until
        )

    def _write_merged(self, table: Table, ds: str, files: list[DataFile]) -> DataFile:
        # Files of older schema versions are read by name, their missing columns NULL, so the
        # merged file answers every query as the files it replaces did. It is laid out in the
        # current version but records the oldest version merged: only that version's columns
        # hold, in every row, what the writer extracts from the event.
        schema = current()
        oldest = min(f.schema_version for f in files)
        merged = with_version(
            pa.concat_tables([conform(pq.read_table(self._root / f.path), schema) for f in files]),
            oldest,
        )
        # The path columns are made again from `event`, so files from before them gain them.
        typed = (column.path for column in schema.typed)
        merged, layout = with_columns(merged, typed, schema.version)
        buffer = io.BytesIO()
        pq.write_table(merged, buffer, compression="zstd")
        data = buffer.getvalue()
        sha256 = hashlib.sha256(data).hexdigest()
        first, last = files[0].first_seq, files[-1].last_seq
        name = f"part-compacted-{first:020d}-{last:020d}-{ds}-{sha256[:12]}.parquet"
        table_dir = self._root / table_scope(table.region, table.project, table.name)
        staged = table_dir / STAGING / (name + STAGED_SUFFIX)
        staged.parent.mkdir(parents=True, exist_ok=True)
        final = table_dir / f"ds={ds}" / name
        place_file(data, staged, final, staged="compaction.staged", placed="compaction.renamed")
        return DataFile(
            path=str(final.relative_to(self._root)),
            ds=ds,
            rows=merged.num_rows,
            bytes=len(data),
            sha256=sha256,
            first_seq=min(f.first_seq for f in files),
            last_seq=max(f.last_seq for f in files),
            min_event_time=min(f.min_event_time for f in files),
            max_event_time=max(f.max_event_time for f in files),
            column_bytes=column_bytes(data),
            committed_at=0,
            replaces=tuple((f.path, f.sha256, f.rows) for f in files),
            schema_version=oldest,
            json_layout=layout,
        )

    def _swap(self, table: Table, ds: str, old: list[DataFile], merged: DataFile) -> None:
        """Commit the merged file in place of `old`. A delivery that only added a file to the
        partition meanwhile is no reason to give up: the totals are read again and the swap
        retried (under steady delivery, every swap of today's partition met one). VersionConflict
        when an old file went, or the partition kept changing."""
        retry_on_conflict(
            lambda: self._swap_once(table, ds, old, merged),
            what=f"partition {ds} of {table.name}",
            retry_if=lambda _: not self._old_file_gone(table, ds, old),
        )

    def _old_file_gone(self, table: Table, ds: str, old: list[DataFile]) -> bool:
        scope = partition_scope(table.region, table.project, table.name, ds)
        return any(
            self._metadata.get_document(FILE_KIND, scope, Path(f.path).name) is None for f in old
        )

    def _swap_once(self, table: Table, ds: str, old: list[DataFile], merged: DataFile) -> None:
        scope = partition_scope(table.region, table.project, table.name, ds)
        stats, version = self._catalog.partition(table, ds)
        if stats is None or merged.rows != sum(f.rows for f in old):
            raise VersionConflict(f"partition {ds} is not what was read")
        writes = []
        for data_file in old:
            document = self._metadata.get_document(FILE_KIND, scope, Path(data_file.path).name)
            if document is None:
                raise VersionConflict(f"{data_file.path} is gone")
            writes.append(
                DocumentWrite(FILE_KIND, scope, Path(data_file.path).name, None, document.version)
            )
        stamped = replace(merged, committed_at=int(self._clock()))
        writes.append(DocumentWrite(FILE_KIND, scope, Path(merged.path).name, encode(stamped), 0))
        shrunk = replace(
            stats,
            files=stats.files - len(old) + 1,
            bytes=stats.bytes - sum(f.bytes for f in old) + merged.bytes,
            last_modified=stamped.committed_at,
        )
        table_documents = table_scope(table.region, table.project, table.name)
        writes.append(DocumentWrite(PARTITION_KIND, table_documents, ds, encode(shrunk), version))
        self._metadata.commit(writes)
        faults.point("compaction.swapped")
