"""Append a batch of events to a table exactly once (ARCHITECTURE decision 2).

A batch covers a range of the event log. Its Parquet files, one per `ds` day, have names
derived from (source, first seq, last seq, ds) alone, are written into the table's `_staging`
folder, fsynced, and renamed into their partition folder; then the file documents, the
partition totals and the caller's own writes (a trail's checkpoint) commit in ONE metadata
transaction. A crash before that commit leaves only files no reader sees, which the replay of
the same range overwrites; a replay after it finds its file documents and changes nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from trailhouse import faults
from trailhouse.durable import place_file
from trailhouse.errors import InvalidParameter, VersionConflict
from trailhouse.events.model import LoggedEvent
from trailhouse.events.recorder import shown
from trailhouse.iam.roles import RoleService
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import encode
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse import access
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.encoder import FileEncoder
from trailhouse.warehouse.model import (
    FILE_KIND,
    PARTITION_KIND,
    DataFile,
    PartitionStats,
    Project,
    Table,
    partition_scope,
    table_scope,
)

STAGING = "_staging"
# A staged file's name: its final name and this suffix, so that no reader's `**/*.parquet` glob
# (DuckDB's reads every folder, `_staging` too) picks up a batch before it is committed.
STAGED_SUFFIX = ".staged"
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: the files it committed, or that the range was committed before."""

    files: tuple[DataFile, ...]
    rows: int
    already_committed: bool


def ds_of(event_time: int) -> str:
    """The UTC day (YYYYMMDD) of an epoch-seconds time: the event's partition."""
    return time.strftime("%Y%m%d", time.gmtime(event_time - event_time % _SECONDS_PER_DAY))


def file_name(source: str, first_seq: int, last_seq: int, ds: str) -> str:
    """The deterministic name of a batch's file for one day."""
    return f"part-{source}-{first_seq:020d}-{last_seq:020d}-{ds}.parquet"


class TableWriter:
    """Writes batches of events into tables as Parquet, each batch exactly once."""

    def __init__(
        self,
        root: Path,
        metadata: MetadataStore,
        catalog: Catalog,
        roles: RoleService,
        clock: Callable[[], float] = time.time,
        encoder: FileEncoder | None = None,
    ) -> None:
        self._encoder = encoder or FileEncoder()
        self._root = root
        self._metadata = metadata
        self._catalog = catalog
        self._roles = roles
        self._clock = clock

    def append(
        self,
        project: Project,
        table: Table,
        events: Sequence[LoggedEvent],
        *,
        writer_role_arn: str,
        source_account: str,
        source: str,
        extra_writes: Sequence[DocumentWrite] = (),
    ) -> AppendResult:
        """Append the events (one log range, in seq order) and commit them with extra_writes.

        `source_account` is the account whose events these are (a trail's): into an
        `actiontrail_*` project the role must be authorised to deliver them, as at the trail's
        creation and at each delivery session. `source` names the writer (e.g.
        `<account>-<trail>`) so that two trails delivering into one table never produce the same
        file name. Raises NoPermission when the role may not write the project; VersionConflict
        when an extra write is stale (nothing committed).
        """
        access.require_write(writer_role_arn, project, self._roles, source_account)
        if not events:
            raise InvalidParameter("an append needs at least one event")
        if not source.replace("-", "").replace("_", "").isalnum():
            raise InvalidParameter(f"source {source!r}: use letters, digits, '-' and '_'")
        first_seq, last_seq = events[0].seq, events[-1].seq
        by_day: dict[str, list[LoggedEvent]] = defaultdict(list)
        for event in events:
            by_day[ds_of(event.event_time)].append(event)
        names = {ds: file_name(source, first_seq, last_seq, ds) for ds in by_day}
        if self._committed(table, names):
            return AppendResult((), 0, already_committed=True)
        table_dir = self._root / table_scope(table.region, table.project, table.name)
        staging = table_dir / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        files = [
            self._write_file(table_dir, staging, ds, names[ds], rows)
            for ds, rows in sorted(by_day.items())
        ]
        return self._commit(table, files, names, extra_writes)

    def close(self) -> None:
        """Stop the encoder's helper process, if one runs."""
        self._encoder.close()

    def _committed(self, table: Table, names: dict[str, str]) -> bool:
        ds, name = next(iter(names.items()))
        scope = partition_scope(table.region, table.project, table.name, ds)
        return self._metadata.get_document(FILE_KIND, scope, name) is not None

    def _write_file(
        self, table_dir: Path, staging: Path, ds: str, name: str, rows: list[LoggedEvent]
    ) -> DataFile:
        recorded_by = [shown(row.recorder) for row in rows]  # what LookupEvents shows
        encoded = self._encoder.encode([row.body for row in rows], recorded_by)
        partition_dir = table_dir / f"ds={ds}"
        partition_dir.mkdir(exist_ok=True)
        # A full disk keeps no half-written file; the retry of the batch writes it anew.
        place_file(
            encoded.data,
            staging / (name + STAGED_SUFFIX),
            partition_dir / name,
            staged="warehouse.file.staged",
            placed="warehouse.file.renamed",
        )
        return DataFile(
            path=str((partition_dir / name).relative_to(self._root)),
            ds=ds,
            rows=len(rows),
            bytes=len(encoded.data),
            sha256=encoded.sha256,
            first_seq=rows[0].seq,
            last_seq=rows[-1].seq,
            min_event_time=encoded.min_event_time,
            max_event_time=encoded.max_event_time,
            column_bytes=encoded.column_bytes,
            committed_at=int(self._clock()),
            schema_version=encoded.schema_version,
            json_layout=encoded.layout,
        )

    def _commit(
        self,
        table: Table,
        files: list[DataFile],
        names: dict[str, str],
        extra_writes: Sequence[DocumentWrite],
    ) -> AppendResult:
        scope = table_scope(table.region, table.project, table.name)

        def attempt() -> AppendResult:
            writes = list(extra_writes)
            # The table shows the columns of the newest version written into it.
            upgrade = self._catalog.schema_write(table, max(f.schema_version for f in files))
            # The table must still exist when the files commit (DeleteProject may have removed
            # it), else its files would be listed in a table nobody has.
            writes.append(upgrade or DocumentWrite.check(self._catalog.table_document(table)))
            # Stamped at each attempt, just before the commit: digests group files by this time.
            now = int(self._clock())
            stamped = [replace(data_file, committed_at=now) for data_file in files]
            for data_file in stamped:
                stats, version = self._catalog.partition(table, data_file.ds)
                writes.append(
                    DocumentWrite(
                        FILE_KIND,
                        partition_scope(table.region, table.project, table.name, data_file.ds),
                        names[data_file.ds],
                        encode(data_file),
                        0,
                    )
                )
                grown = PartitionStats(
                    ds=data_file.ds,
                    files=(stats.files if stats else 0) + 1,
                    rows=(stats.rows if stats else 0) + data_file.rows,
                    bytes=(stats.bytes if stats else 0) + data_file.bytes,
                    last_modified=data_file.committed_at,
                )
                writes.append(
                    DocumentWrite(PARTITION_KIND, scope, data_file.ds, encode(grown), version)
                )
            try:
                self._metadata.commit(writes)
            except VersionConflict:
                if self._committed(table, names):
                    return AppendResult((), 0, already_committed=True)
                raise  # another batch grew a partition: counted again, unless a write is stale
            faults.point("warehouse.manifest.committed")
            return AppendResult(
                tuple(stamped), sum(f.rows for f in stamped), already_committed=False
            )

        # A stale extra write (the caller's checkpoint moved on) is the caller's to resolve.
        return retry_on_conflict(
            attempt,
            what=f"table {table.name}",
            retry_if=lambda _: not any(_stale(self._metadata, w) for w in extra_writes),
        )

    def sweep(
        self,
        table: Table,
        older_than_seconds: float = 3600.0,
        *,
        replaced_older_than: float | None = None,
    ) -> list[Path]:
        """Delete the table's files that no commit lists; return what it deleted.

        A file a compacted file replaced goes once `replaced_older_than` seconds old (queries
        planned before the swap have ended). Any other unlisted file, a batch a crash
        interrupted (in its folder, or still staged) or one being committed at this moment,
        goes only once `older_than_seconds` old: the sweep runs beside delivery, and a batch's
        file is in its folder a moment before its commit lists it.
        """
        table_dir = self._root / table_scope(table.region, table.project, table.name)
        if not table_dir.is_dir():
            return []
        files = self._catalog.files(table)
        listed = {self._root / f.path for f in files}
        replaced = {self._root / path for f in files for path, _, _ in f.replaces}
        now = self._clock()
        replaced_cutoff = now - (
            older_than_seconds if replaced_older_than is None else replaced_older_than
        )
        orphan_cutoff = now - older_than_seconds
        removed = []
        staged = (table_dir / STAGING).glob("*" + STAGED_SUFFIX)  # batches a crash left staged
        for path in sorted([*table_dir.rglob("*.parquet"), *staged]):
            if path in listed:
                continue
            cutoff = replaced_cutoff if path in replaced else orphan_cutoff
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:  # renamed or deleted meanwhile
                continue
            removed.append(path)
            faults.point("compaction.swept")
        return removed


def _stale(metadata: MetadataStore, write: DocumentWrite) -> bool:
    found = metadata.get_document(write.kind, write.scope, write.name)
    return (found.version if found else 0) != write.expected_version
