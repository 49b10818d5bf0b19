"""The embedded engine: each job gets its own in-memory DuckDB with its quota's threads and memory.

A view per audit table reads exactly the committed files left after pruning (`read_parquet`
over a file list, by column name, `ds` taken from the folder as a string); a query has each
view's SELECT written in place of the table, a write creates the views first. A table with no
files left is an empty view of the same columns, so the query still type-checks and returns no
rows. The connection is confined to exactly those files (and the spill folder): SQL cannot read
another file, another tenant's table included, install or load an extension, or change a
setting. Planning's own connections (constant folding, binding) read no file, run on one thread
within `PLAN_MEMORY`, are interrupted when planning runs out of time, and are lent again.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from trailhouse.errors import InvalidParameter, SqlParseError, SqlSemanticError, SqlTooComplex
from trailhouse.settings import Settings
from trailhouse.warehouse.sql import json_type, udtf
from trailhouse.warehouse.sql.bounded import PlanningStopped, interrupting
from trailhouse.warehouse.sql.diagnostics import refusal, scrub, semantic_failure
from trailhouse.warehouse.sql.dialect import UnsupportedSql, null_on_invalid_json
from trailhouse.warehouse.sql.engine import (
    EngineError,
    JobControl,
    Limits,
    ParquetOutput,
    QueryPlan,
    ResultSet,
    TableInput,
    WrittenParquet,
    json_value,
)
from trailhouse.warehouse.sql.runtime_errors import runtime_failure
from trailhouse.warehouse.sql.scopes import names_a_cte
from trailhouse.warehouse.sql.timezones import lower_for_duckdb
from trailhouse.warehouse.sql.types import maxcompute_type
from trailhouse.warehouse.user_tables import duckdb_type, is_column_name, normal_type

_T = TypeVar("_T")
log = logging.getLogger(__name__)

_PROGRESS_EVERY = 0.2
# Memory of the connections planning uses to fold constants and bind: a literal or a folded
# constant bigger than this is refused before any job exists.
PLAN_MEMORY = "256MB"
# Every connection: no extension is fetched or loaded behind the query's back, and no table name
# is looked up among the Python variables of the calling frames.
_LOCKED_DOWN = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
}


# Names of the views while a query becomes text: random per process, numbered per query.
_PLACEHOLDER = f"__view_{secrets.token_hex(8)}_"
_PLACEHOLDERS = itertools.count()


def to_duckdb_sql(tree: exp.Query, inline: Sequence[TableInput] = ()) -> str:
    """The plan's tree as DuckDB SQL (invalid JSON gives NULL, as in MaxCompute); each table of
    `inline` read as its view's SELECT in place, rather than through a view created first."""
    lowered = udtf.lower_for_duckdb(json_type.lower_for_duckdb(tree.copy()))
    translated = lower_for_duckdb(lowered.transform(null_on_invalid_json, copy=False))
    # A name no SQL text can hold stands for each view while the tree becomes text, then its
    # SELECT takes its place (as a string: sqlglot need not read a list of thousands of files).
    token = f"{_PLACEHOLDER}{next(_PLACEHOLDERS)}"
    inlined = {table.view: (f"{token}_{table.view}", table) for table in inline}
    if inlined:
        for node in list(translated.find_all(exp.Table)):
            found = inlined.get(node.name)
            if found is not None and not node.args.get("db") and not names_a_cte(node):
                node.set("this", exp.to_identifier(found[0], quoted=True))
    try:
        sql = translated.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UnsupportedSql(f"cannot translate to DuckDB: {exc}") from exc
    for placeholder, table in inlined.values():
        sql = sql.replace(f'"{placeholder}"', f"({view_sql(table)})")
    return sql


def view_sql(table: TableInput) -> str:
    """The SELECT a view of one audit table stands for.

    Files are read by column name (`union_by_name`), and unioned by name with an empty row set
    of every view column: a column no file of the list has (all of them older than it) is NULL
    rather than unknown. DuckDB still reads only the columns and rows the query needs. When every
    file holds every view column (`uniform`), the files are read as they are, by name.
    """
    types = table.types or ("VARCHAR",) * len(table.columns)
    nulls = ", ".join(
        f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in zip(table.columns, types, strict=True)
    )
    empty = f"SELECT {nulls} WHERE false"
    if not table.files:
        return empty
    files = ", ".join(_quote(str(path)) for path in table.files)
    columns = ", ".join(f'"{name}"' for name in table.columns)
    keys = ", ".join(f"'{key}': VARCHAR" for key in table.partition_keys)
    hive = (
        f"hive_partitioning = true, hive_types = {{{keys}}}"
        if keys
        else "hive_partitioning = false"
    )
    scan = f"read_parquet([{files}], {hive}"
    if table.uniform:
        # Without union_by_name DuckDB still matches the columns read by name, but does not read
        # and unify every file's schema first (each file has its own JSON path columns), and no
        # empty row set is needed to type a column no file has: 3-8% less CPU per query.
        return f"SELECT {columns} FROM {scan}, union_by_name = false)"
    files_by_name = f"SELECT * FROM {scan}, union_by_name = true)"
    return f"SELECT {columns} FROM ({empty} UNION ALL BY NAME {files_by_name})"


def open_engine(settings: Settings) -> DuckDbEngine:
    """The embedded engine, spilling to `<data dir>/sql-spill`."""
    return DuckDbEngine(settings.data_dir / "sql-spill")


class DuckDbEngine:
    """Runs plans on DuckDB, embedded in this process."""

    name = "duckdb"

    def __init__(self, spill_dir: Path) -> None:
        self._spill_dir = spill_dir
        self._planning = _PlanningConnections()

    def start(self) -> None:
        """Nothing to start: each job opens its own connection."""

    def run(self, plan: QueryPlan, limits: Limits, control: JobControl) -> ResultSet:
        """Run the plan in a fresh connection limited to the quota's threads and memory."""
        # The views' SELECTs in the query itself: DuckDB binds each file list once, where a view
        # created first was bound twice (once when created, reading a footer, once in the query).
        sql = to_duckdb_sql(plan.tree, plan.inputs)

        def fetch(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
            cursor = con.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            types = tuple(maxcompute_type(str(d[1])) for d in cursor.description or ())
            return columns, types, cursor.fetchmany(limits.max_rows + 1)

        columns, types, rows = self._in_job(plan, limits, control, [], fetch, views=False)
        truncated = len(rows) > limits.max_rows
        return ResultSet(
            columns,
            types,
            [[json_value(v) for v in row] for row in rows[: limits.max_rows]],
            truncated,
        )

    def write(
        self, plan: QueryPlan, limits: Limits, control: JobControl, output: ParquetOutput
    ) -> WrittenParquet:
        """Run the plan and write its whole result as one Parquet file (zstd), each column cast
        to the table's type (INSERT) or to the MaxCompute type of the query's (CTAS)."""
        sql = to_duckdb_sql(plan.tree)

        def copy(con: duckdb.DuckDBPyConnection) -> WrittenParquet:
            described = con.execute(f"DESCRIBE {sql}").fetchall()
            found = tuple(maxcompute_type(str(row[1])) for row in described)
            names, types = _output_columns(output, tuple(str(r[0]) for r in described), found)
            positions = ", ".join(f'"c{i}"' for i in range(len(described)))
            select = ", ".join(
                f'CAST("c{i}" AS {kind}) AS "{name}"'
                for i, (name, kind) in enumerate(zip(names, types, strict=True))
            )
            row = con.execute(
                f"COPY (SELECT {select} FROM ({sql}) AS __q({positions})) TO "
                f"{_quote(str(output.path))} (FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()
            odps_types = tuple(maxcompute_type(kind) for kind in types)
            return WrittenParquet(int(row[0]) if row else 0, names, odps_types)

        output.path.parent.mkdir(parents=True, exist_ok=True)
        return self._in_job(plan, limits, control, [output.path.parent], copy)

    def _in_job(
        self,
        plan: QueryPlan,
        limits: Limits,
        control: JobControl,
        writable: list[Path],
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        views: bool = True,
    ) -> _T:
        """Do `work` in a job's connection: the plan's views (unless the work's SQL holds them),
        confined to their files (and the `writable` folders), within the quota's threads and
        memory, interruptible."""
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(
            config={
                "threads": max(1, limits.threads),
                "memory_limit": f"{max(limits.memory_gb, 0.1):g}GB",
                "temp_directory": str(self._spill_dir),
                **_LOCKED_DOWN,
            }
        )
        con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        interrupt = con.interrupt
        control.on_cancel.append(interrupt)
        watched = _Watched(con, control)
        try:
            if control.cancelled.is_set():
                raise EngineError("cancelled", "the job was cancelled before it started")
            for table in plan.inputs if views else ():
                con.execute(f'CREATE TEMP VIEW "{table.view}" AS {view_sql(table)}')
            files = [f for t in plan.inputs for f in t.files]
            _confine(con, [self._spill_dir, *writable], files)
            _PROGRESS.watch(watched)
            done = work(con)
        except duckdb.InterruptException as exc:
            raise EngineError("cancelled", "the job was cancelled") from exc
        except duckdb.OutOfMemoryException as exc:
            raise EngineError(
                "memory",
                f"the job needed more than its quota's {limits.memory_gb:g} GB of memory "
                f"({scrub(str(exc))}); run it under a bigger quota or read fewer columns",
            ) from exc
        except duckdb.BinderException as exc:
            raise EngineError("binder", _first_line(exc)) from exc
        except duckdb.Error as exc:
            if control.cancelled.is_set():
                raise EngineError("cancelled", "the job was cancelled") from exc
            raise EngineError("other", _first_line(exc)) from exc
        finally:
            _PROGRESS.unwatch(watched)
            control.on_cancel.remove(interrupt)
            con.close()
        control.progress = 1.0
        return done

    def validate(self, plan: QueryPlan) -> None:
        """Bind the query against empty views of its tables, reading no file: an unknown column
        or a type error is refused before the job exists. Raises SqlSemanticError."""
        empty = [replace(t, files=()) for t in plan.inputs]
        with self._planning.borrowed() as con, interrupting(con.interrupt):
            try:
                # The empty views in the query itself: the connection keeps nothing of it.
                con.execute(f"DESCRIBE {to_duckdb_sql(plan.tree, empty)}")
            except UnsupportedSql as exc:
                raise refusal(exc.diagnosis(), plan.sql) from exc
            except (duckdb.BinderException, duckdb.CatalogException) as exc:
                raise refusal(semantic_failure(str(exc), plan.tree, plan.sql), plan.sql) from exc
            except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
                # A constant that does not convert, found while binding (CAST('x' AS DATE)).
                raise SqlSemanticError(
                    f"Semantic analysis exception - {runtime_failure(str(exc))}"
                ) from exc
            except duckdb.OutOfMemoryException as exc:
                raise SqlTooComplex(
                    "Parse exception - the SQL's constant expressions need more than "
                    f"{PLAN_MEMORY} of memory to evaluate; use smaller literals"
                ) from exc
            except duckdb.InterruptException as exc:
                raise PlanningStopped from exc
            except duckdb.ParserException as exc:
                # The translation of a query sqlglot read but DuckDB cannot: never a 500.
                raise SqlParseError(f"Parse exception - {scrub(str(exc))}") from exc
            except duckdb.Error as exc:
                raise refusal(semantic_failure(str(exc), plan.tree, plan.sql), plan.sql) from exc

    def evaluate_constant(self, expression: exp.Expr) -> Any:
        """Evaluate a column-free expression (MaxCompute SQL) with DuckDB."""
        sql = to_duckdb_sql(exp.select(expression.copy()))
        with self._planning.borrowed() as con, interrupting(con.interrupt):
            try:
                row = con.execute(sql).fetchone()
            except duckdb.InterruptException as exc:
                raise PlanningStopped from exc
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the idle planning connections (each job's connection is closed when it
        ends)."""
        self._planning.close()


@dataclass(eq=False)
class _Watched:
    """A running job's connection whose progress is copied into its job control, and which is
    interrupted again while its job is cancelled."""

    con: duckdb.DuckDBPyConnection
    control: JobControl
    lock: threading.Lock = field(default_factory=threading.Lock)
    open: bool = True

    def step(self) -> None:
        with self.lock:
            if not self.open:
                return
            if self.control.cancelled.is_set():
                # A cancel that came while the connection was between statements (its views,
                # its confinement) interrupted nothing: interrupt the query it then started.
                self.con.interrupt()
                return
            progress = self.con.query_progress()
        if progress >= 0:
            self.control.progress = min(progress / 100.0, 0.99)


class _ProgressWatch:
    """One thread copies every running job's DuckDB progress into its job control, every
    `_PROGRESS_EVERY` seconds. A thread of its own per job cost each query a thread start and a
    join, ~12 ms of wall clock on a loaded machine (the new thread must be scheduled before
    `start` returns)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watched: set[_Watched] = set()
        self._thread: threading.Thread | None = None

    def watch(self, watched: _Watched) -> None:
        with self._changed:
            self._watched.add(watched)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sql-progress", daemon=True)
                self._thread.start()
            self._changed.notify()

    def unwatch(self, watched: _Watched) -> None:
        """Stop watching; a step in progress on this connection ends first."""
        with watched.lock:
            watched.open = False
        with self._changed:
            self._watched.discard(watched)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._watched:
                    self._changed.wait()
            time.sleep(_PROGRESS_EVERY)  # the first reading after one interval, as before
            with self._changed:
                watched = list(self._watched)
            for job in watched:
                try:
                    job.step()
                except Exception:  # the next interval tries again
                    log.exception("reading a SQL job's progress failed")


_PROGRESS = _ProgressWatch()


class _PlanningConnections:
    """Planning's connections (constant folding, binding): one thread, PLAN_MEMORY, no
    extension loading, no file, configuration locked. An idle one is lent again: opening a
    DuckDB connection cost about 16 ms of CPU, more than planning the query itself, and
    planning leaves nothing in it (the query's views are written into its SQL). One that was
    interrupted or ran out of memory is closed, not lent again."""

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._idle: list[duckdb.DuckDBPyConnection] = []

    @contextmanager
    def borrowed(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            con = self._idle.pop() if self._idle else None
        if con is None:
            con = duckdb.connect(config={"threads": 1, "memory_limit": PLAN_MEMORY, **_LOCKED_DOWN})
            _confine(con, [], [])
        healthy = False
        try:
            yield con
            healthy = True
        except Exception as exc:
            healthy = not any(isinstance(e, _UNHEALTHY) for e in (exc, exc.__cause__))
            raise
        finally:
            if not healthy or not self._keep_idle(con):
                con.close()

    def _keep_idle(self, con: duckdb.DuckDBPyConnection) -> bool:
        with self._lock:
            if len(self._idle) >= self._keep:
                return False
            self._idle.append(con)
            return True

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


# Failures after which a planning connection is not lent again.
_UNHEALTHY = (duckdb.InterruptException, duckdb.OutOfMemoryException, duckdb.FatalException)


def _confine(con: duckdb.DuckDBPyConnection, directories: list[Path], files: list[Path]) -> None:
    """Let the query read these files (and folders) only: no other file, no network, no
    extension, no setting changes."""
    # As parameters, not as list literals: a query over thousands of files spent about half
    # of this setting's time parsing the literal.
    con.execute("SET allowed_directories = ?", [[f"{d}/" for d in dict.fromkeys(directories)]])
    con.execute("SET allowed_paths = ?", [[str(f) for f in dict.fromkeys(files)]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _output_columns(
    output: ParquetOutput, names: tuple[str, ...], found: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names and DuckDB types a write job's columns are written as: the table's (INSERT,
    which must give as many columns), or the query's own names and types (CTAS), each a type a
    table of one's own holds. SqlSemanticError says what to change."""
    if output.types:
        if len(found) != len(output.types):
            raise SqlSemanticError(
                f"Semantic analysis exception - the query gives {len(found)} columns and the "
                f"table has {len(output.types)} ({', '.join(output.names)}); SELECT one value "
                "per column, in the table's order"
            )
        return output.names, output.types
    chosen = tuple(name.lower() for name in names)
    for name, kind in zip(chosen, found, strict=True):
        if not is_column_name(name):
            raise SqlSemanticError(
                f"Semantic analysis exception - result column {name!r} is no column name; "
                "name it with AS (letters, digits and underscores)"
            )
        try:
            normal_type(kind)
        except InvalidParameter as exc:
            raise SqlSemanticError(
                f"Semantic analysis exception - column {name}: {exc.message}; CAST it"
            ) from exc
    repeated = sorted({n for n in chosen if chosen.count(n) > 1})
    if repeated:
        raise SqlSemanticError(
            f"Semantic analysis exception - the result names {', '.join(repeated)} more than "
            "once; give each column its own name with AS"
        )
    return chosen, tuple(duckdb_type(normal_type(kind)) for kind in found)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
