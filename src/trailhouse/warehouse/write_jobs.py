"""Running a SQL job that writes: CREATE TABLE and DROP TABLE change the catalog; CREATE TABLE …
AS SELECT and INSERT run their query on the engine into one staged Parquet file named after the
job, which `job_writes.JobWriter` commits exactly once (with the new table, for CTAS; replacing
the partition's files, for OVERWRITE). A job cancelled or timed out before its commit leaves
nothing visible.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import replace
from pathlib import Path

from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.job_writes import JobWrite, JobWriter, staged_path
from trailhouse.warehouse.model import UserColumn, table_scope
from trailhouse.warehouse.sql.engine import (
    EngineError,
    JobControl,
    Limits,
    ParquetOutput,
    ParquetWriter,
    QueryPlan,
    ResultSet,
)
from trailhouse.warehouse.sql.planner import WritePlan
from trailhouse.warehouse.sql.user_writes import WriteKind
from trailhouse.warehouse.user_tables import duckdb_type, shape_of

# What a write job answers as its result: no rows (PyODPS reads an empty result).
NO_ROWS = ResultSet((), (), [], False)


def run_write(
    job_id: str,
    write: WritePlan,
    plan: QueryPlan | None,
    engine: ParquetWriter | None,
    limits: Limits,
    control: JobControl,
    catalog: Catalog,
    writer: JobWriter,
    root: Path,
) -> ResultSet:
    """Do what the write statement says; raise as a query would (EngineError, API errors)."""
    statement = write.statement
    table = write.table
    if write.noop or table is None:  # CREATE … IF NOT EXISTS of a table that exists; DROP IF EXISTS
        return NO_ROWS
    if statement.kind == WriteKind.DROP:
        dropped = catalog.drop_table(write.project, table.name, statement.tolerant)
        if dropped is not None:
            _remove_folder(root, dropped.region, dropped.project, dropped.name, dropped.created_at)
        return NO_ROWS
    if statement.kind == WriteKind.CREATE:
        catalog.create_user_table(write.project, table, statement.tolerant)
        return NO_ROWS
    if statement.kind == WriteKind.ADD_PARTITION:
        catalog.add_partition(table, write.partition, statement.tolerant)
        return NO_ROWS
    if statement.kind == WriteKind.DROP_PARTITION:
        catalog.drop_partition(table, write.partition, statement.tolerant)
        return NO_ROWS
    if plan is None or engine is None:
        raise EngineError("other", f"{statement.kind} needs an engine that writes Parquet")
    staged = staged_path(root, table, job_id, 0)
    if statement.kind == WriteKind.CTAS:
        output = ParquetOutput(staged)
    else:
        shape = shape_of(table)
        types = tuple(duckdb_type(column.odps_type) for column in shape.columns)
        output = ParquetOutput(staged, shape.names, types)
    try:
        written = engine.write(plan, limits, control, output)
        if control.cancelled.is_set():  # stopped (or timed out) once written: commit nothing
            raise EngineError("cancelled", "the job was cancelled; nothing was written")
        if statement.kind == WriteKind.CTAS:
            columns = tuple(
                UserColumn(name, kind)
                for name, kind in zip(written.columns, written.types, strict=True)
            )
            table = replace(table, columns=columns)
        writer.commit(
            JobWrite(
                job_id,
                table,
                write.partition,
                (staged,),
                overwrite=statement.overwrite,
                create_table=statement.kind == WriteKind.CTAS,
            )
        )
    finally:
        staged.unlink(missing_ok=True)  # placed files were renamed away; a failed job's goes
    return NO_ROWS


def _remove_folder(root: Path, region: str, project: str, name: str, created_at: int) -> None:
    """Remove a dropped table's files: moved aside first, so a table made again under the same
    name starts in an empty folder."""
    folder = root / table_scope(region, project, name)
    if not folder.is_dir():
        return
    aside = root / region / project / "_dropped" / f"{name}-{created_at}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)
