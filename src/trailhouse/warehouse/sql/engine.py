"""What an SQL engine is given and what it returns, whichever engine it is (DuckDB or Spark).

The planner hands an engine a `QueryPlan`: the parsed MaxCompute query, already resolved,
rewritten and pruned, whose audit tables are replaced by views named `__t0`, `__t1`, … and the
committed files each view reads. The engine translates the tree to its own SQL, reads exactly
those files (hive-style `ds=YYYYMMDD` folders, `ds` as a string), and returns rows.
"""

from __future__ import annotations

import datetime
import decimal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlglot import exp


@dataclass(frozen=True, slots=True)
class TableInput:
    """One audit table as a query reads it: its view name, the files left after pruning, and
    the view's columns in order (the table's schema version's data columns, then `ds`).

    Files may be of older schema versions: the view reads their columns by name, a column a
    file lacks as NULL (warehouse/schema.py).
    """

    view: str
    table: str
    files: tuple[Path, ...]
    root: Path
    columns: tuple[str, ...]
    # Every file holds every one of `columns` (none is of an older schema version, and no JSON
    # path column is read): an engine may skip unifying the files' schemas by name.
    uniform: bool = False
    # The DuckDB type of each of `columns` (none given: every one VARCHAR, as an audit table's),
    # and the partition keys read from the files' `key=value` folders (none: unpartitioned).
    types: tuple[str, ...] = ()
    partition_keys: tuple[str, ...] = ("ds",)


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A query ready to run: the tree (views in place of tables), what each view reads, and the
    SQL text as the user wrote it (errors point into it)."""

    tree: exp.Query
    inputs: tuple[TableInput, ...]
    sql: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """The resources a job may use, from its project's quota."""

    threads: int
    memory_gb: float
    max_rows: int


@dataclass(frozen=True, slots=True)
class ResultSet:
    """Rows of a finished query, as JSON-ready values; `truncated` when max_rows cut it."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[list[Any]]
    truncated: bool


@dataclass(slots=True)
class JobControl:
    """Between a running job and the rest of the process: cancel it, or read its progress."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    progress: float = 0.0
    on_cancel: list[Callable[[], None]] = field(default_factory=list)

    def cancel(self) -> None:
        """Ask the job to stop; the engine interrupts what it is running."""
        self.cancelled.set()
        for interrupt in list(self.on_cancel):
            interrupt()


class EngineError(Exception):
    """The engine failed to run a query; `kind` says how (binder, memory, cancelled, other)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class ParquetOutput:
    """Where a write job's result goes: one Parquet file at `path`, its columns cast to
    `types` (DuckDB types, one per column of the query, in order) and named `names`; `types`
    empty for CREATE TABLE … AS, whose columns are the query's own."""

    path: Path
    names: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WrittenParquet:
    """What a write job wrote: its rows, and its columns' names and MaxCompute types."""

    rows: int
    columns: tuple[str, ...]
    types: tuple[str, ...]


@runtime_checkable
class ParquetWriter(Protocol):
    """An engine that can write a query's whole result as Parquet (CTAS, INSERT)."""

    def write(
        self, plan: QueryPlan, limits: Limits, control: JobControl, output: ParquetOutput
    ) -> WrittenParquet:
        """Run the plan and write every row of its result to `output.path`."""
        ...


class Engine(Protocol):
    """Runs a planned query and returns its rows; raises EngineError on failure."""

    name: str

    def start(self) -> None:
        """Make the engine ready for jobs now, rather than with the first job (Spark starts
        its session: a JVM, or a Spark Connect channel); returns once it is."""
        ...

    def run(self, plan: QueryPlan, limits: Limits, control: JobControl) -> ResultSet:
        """Run the plan within the limits; stop with EngineError('cancelled') when asked."""
        ...

    def evaluate_constant(self, expression: exp.Expr) -> Any:
        """The value of an expression without columns (for pruning `ds >= TO_CHAR(...)`)."""
        ...

    def close(self) -> None:
        """Release what the engine holds (a Spark session)."""
        ...


def json_value(value: Any) -> Any:
    """A result value as JSON carries it: datetimes as MaxCompute prints them, decimals as text."""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value
