"""From MaxCompute SQL text to a plan an engine runs: resolve, authorise, rewrite, prune, price.

1. `COST SQL <query>` is recognised; write statements into an `actiontrail_*` table are
   refused (it takes writes from delivery only); CREATE TABLE, CTAS, INSERT and DROP TABLE in a
   project of one's own are planned as a `WritePlan` (its SELECT planned as any query) for a
   caller of the owner account with Write; anything else is named as unsupported.
2. Every table name resolves to a table of a project (`table` in the current project, or
   `project.table`) that the caller may read; a name that a CTE in scope gives (SQL's scoping
   rules, `scopes.names_a_cte`) is that CTE.
3. Conjuncts of a WHERE clause that compare `ds` with a constant (`=`, `<`, `>=`, BETWEEN, IN;
   constants may be expressions like `TO_CHAR(DATEADD(GETDATE(), -7, 'dd'), 'yyyymmdd')`) prune
   partitions before any file is opened. The WHERE clause itself stays, so pruning only skips
   files that could not match.
4. `GET_JSON_OBJECT(event, '$.eventName')` and every other path with a typed column becomes
   that column (same values: the writer fills the column with what the path returns), when
   every file left holds that column (its schema version has it). Each table shows the columns
   of its schema version (warehouse/schema.py). Any other path of `.key` steps reads its JSON
   path column when every file left answers it from one (warehouse/json_columns.py).
5. Input bytes are the compressed bytes of the columns the query reads in the files left; the
   complexity comes from the keyword count, as MaxCompute computes it (reference §4).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from trailhouse.errors import (
    InvalidParameter,
    SqlParseError,
    SqlSemanticError,
    SqlTooDeep,
    SqlTooLong,
    TableNotFound,
)
from trailhouse.iam.principals import Caller
from trailhouse.warehouse import access
from trailhouse.warehouse.catalog import Catalog, table_exists
from trailhouse.warehouse.model import (
    DataFile,
    Privilege,
    Project,
    Table,
    is_table_name,
)
from trailhouse.warehouse.schema import schema_of
from trailhouse.warehouse.sql.diagnostics import SEMANTIC, Diagnosis, position_of, refusal
from trailhouse.warehouse.sql.dialect import (
    InvalidSql,
    UnsupportedSql,
    parentheses_deeper_than,
    parse_statements,
    query_of,
    runs_a_script,
)
from trailhouse.warehouse.sql.engine import QueryPlan, TableInput
from trailhouse.warehouse.sql.flags import SqlFlags, split_script
from trailhouse.warehouse.sql.pruning import ConstantEvaluator, PartitionPruner
from trailhouse.warehouse.sql.rewrites import (
    cap_string_growth,
    compare_strings_with_numbers_as_numbers,
    datetime_and_string_as_string,
    name_unnamed_columns,
    rewrite_path_columns,
    rewrite_typed_paths,
    rows_frame_for_ordered_windows,
)
from trailhouse.warehouse.sql.scopes import (
    columns_read,
    names_a_cte,
    scope_of,
    scopes_of,
    selects_all,
)
from trailhouse.warehouse.sql.timezones import apply_time_zone
from trailhouse.warehouse.sql.user_writes import (
    WriteKind,
    WriteStatement,
    read_write,
    without_lifecycle,
)
from trailhouse.warehouse.sql.writes import refuse_writes, write_kind
from trailhouse.warehouse.user_tables import (
    check_columns,
    duckdb_type,
    partition_folder,
    shape_of,
)

_COST_SQL = re.compile(r"^\s*cost\s+sql\s+", re.IGNORECASE)
# MaxCompute's documented limit on the length of one statement.
MAX_SQL_BYTES = 2 * 1024 * 1024
# sqlglot's parser recurses about twenty frames per parenthesis: 32 levels stay well inside
# Python's stack on every thread, and no hand-written audit query comes near them.
MAX_SQL_NESTING = 32
# How many of a project's tables a "table not found" error lists.
_TABLES_LISTED = 20


@dataclass(frozen=True, slots=True)
class TableScan:
    """What a query reads of one table: its partitions and files after pruning, and columns."""

    project: str
    table: str
    partitions_total: int
    partitions_read: tuple[str, ...]
    files: tuple[DataFile, ...]
    columns: tuple[str, ...]
    bytes: int


@dataclass(frozen=True, slots=True)
class WritePlan:
    """Where a write statement writes: the target project, the table (for CREATE and CTAS the
    table to create; None for a DROP IF EXISTS of a table nobody has), the partition folder an
    INSERT writes, and `noop` for a CREATE … IF NOT EXISTS of a table that exists."""

    statement: WriteStatement
    project: Project
    table: Table | None
    partition: str = ""
    noop: bool = False


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    """A query ready to run or to price; for a write statement, `write` says where it writes
    and `plan` is its SELECT's (None for CREATE TABLE and DROP TABLE, which read nothing)."""

    sql: str
    is_cost: bool
    plan: QueryPlan | None
    scans: tuple[TableScan, ...]
    keywords: int
    write: WritePlan | None = None
    reads_user_tables: bool = False

    @property
    def input_bytes(self) -> int:
        """Compressed bytes of the columns read, after pruning: what the job is billed for."""
        return sum(scan.bytes for scan in self.scans)

    @property
    def complexity(self) -> float:
        """MaxCompute's complexity factor: 1 (≤3 keywords), 1.5 (4–6), 2 (7–19), 4 (≥20)."""
        return complexity_of(self.keywords)


def complexity_of(keywords: int) -> float:
    """The complexity factor for a keyword count."""
    if keywords <= 3:
        return 1.0
    if keywords <= 6:
        return 1.5
    if keywords <= 19:
        return 2.0
    return 4.0


def count_keywords(tree: exp.Expr) -> int:
    """#JOIN + #GROUP BY + #ORDER BY + #DISTINCT + #window functions + max(#INSERT, 1).

    LATERAL VIEW is not a JOIN in MaxCompute, so the joins it was rewritten into are not counted.
    """
    joins = groups = orders = distincts = windows = inserts = 0
    for node in tree.walk():  # one walk, not one per kind
        if isinstance(node, exp.Join):
            joins += not isinstance(node.this, exp.Lateral)
        elif isinstance(node, exp.Group):
            groups += 1
        elif isinstance(node, exp.Order):
            orders += not isinstance(node.parent, exp.Window)
        elif isinstance(node, exp.Distinct):
            distincts += 1
        elif isinstance(node, exp.Window):
            windows += 1
        elif isinstance(node, exp.Insert):
            inserts += 1
    return joins + groups + orders + distincts + windows + max(inserts, 1)


class Planner:
    """Plans MaxCompute SQL against the catalog for one caller and current project."""

    def __init__(self, catalog: Catalog, root: Path, evaluate: ConstantEvaluator) -> None:
        self._catalog = catalog
        self._root = root
        self._pruner = PartitionPruner(evaluate)

    def plan(
        self,
        caller: Caller,
        project: Project,
        sql: str,
        settings: Mapping[str, str] | None = None,
    ) -> PlannedQuery:
        """Plan `sql` (a query, after any `SET key=value;` lines) run in `project` by `caller`
        under the job's `settings`; API errors say what is wrong."""
        check_text(sql)
        try:
            return self._plan(caller, project, sql, settings or {})
        except RecursionError:  # nesting the parenthesis count misses, such as CASE in CASE
            raise too_deep() from None
        except UnsupportedSql as exc:  # from a rewrite or a constant folded while pruning
            raise refusal(exc.diagnosis(), sql) from exc

    def _plan(
        self, caller: Caller, project: Project, sql: str, settings: Mapping[str, str]
    ) -> PlannedQuery:
        script_settings, text = split_script(sql)
        text = without_lifecycle(text.rstrip().rstrip(";").rstrip())
        cost = _COST_SQL.match(text)
        if cost is not None:  # blanked, not cut, so positions stay those of `sql`
            text = " " * cost.end() + text[cost.end() :]
        if not text.strip():
            raise SqlParseError(
                "Parse exception - the script sets flags but has no query; end it with a SELECT"
                if script_settings
                else "Parse exception - the statement is empty"
            )
        try:
            statements = parse_statements(text)
            refuse_writes(project.name, statements)  # before flags: a write is refused whatever
            flags = SqlFlags.of({**settings, **script_settings})
            write = None
            if len(statements) == 1 and write_kind(statements[0]) is not None:
                write = self._write_plan(caller, project, read_write(statements[0], project.name))
                query = write.statement.query
                if query is None or write.noop:
                    return PlannedQuery(sql, cost is not None, None, (), 1, write)
                statements = [query]
            tree = query_of(statements)
            apply_time_zone(tree, flags.timezone or project.time_zone)
            cap_string_growth(tree)
        except InvalidSql as exc:
            raise SqlParseError(str(exc)) from exc
        except UnsupportedSql as exc:
            raise refusal(exc.diagnosis(), sql) from exc
        keywords = count_keywords(tree)
        name_unnamed_columns(tree)
        rows_frame_for_ordered_windows(tree)
        references = self._resolve(caller, project, tree, sql)
        scopes = scopes_of(tree)
        reads = [self._read(scopes, node, table) for node, table in references]
        if not flags.allow_fullscan:
            self._refuse_full_scans(scopes, references, reads, sql)
        rewrite_typed_paths(
            scopes,
            {
                id(node): exact_paths(table, files)
                for (node, table), (_, _, files) in zip(references, reads, strict=True)
            },
        )
        scopes = scopes_of(tree)  # again: scopes cache the columns the rewrite replaced
        path_columns = rewrite_path_columns(
            scopes,
            {
                id(node): [f.json_layout for f in files]
                for (node, table), (_, _, files) in zip(references, reads, strict=True)
                if not selects_all(scopes, node) and not table.is_user_table
            },
        )
        if path_columns:
            scopes = scopes_of(tree)
        scans: list[TableScan] = []
        inputs: list[TableInput] = []
        for index, ((node, table), (total, kept, files)) in enumerate(
            zip(references, reads, strict=True)
        ):
            shown = shape_of(table)
            hidden = tuple(path_columns.get(id(node), ()))
            if scope_of(scopes, node) is not None:
                columns = columns_read(scopes, node, (*shown.names, *hidden))
            else:
                columns = list(shown.names)
            scans.append(
                TableScan(
                    project=table.project,
                    table=table.name,
                    partitions_total=total,
                    partitions_read=tuple(kept),
                    files=tuple(files),
                    columns=tuple(columns),
                    bytes=sum(f.column_bytes.get(c, 0) for f in files for c in columns),
                )
            )
            paths = tuple(self._root / f.path for f in files)
            inputs.append(
                TableInput(
                    f"__t{index}",
                    table.name,
                    paths,
                    self._root,
                    (*shown.view_names, *hidden),
                    uniform=not hidden and all(f.schema_version >= shown.version for f in files),
                    types=(
                        tuple(duckdb_type(c.odps_type) for c in shown.columns)
                        + ("VARCHAR",) * (len(shown.partition_keys) + len(hidden))
                    ),
                    partition_keys=shown.key_names,
                )
            )
        datetime_and_string_as_string(
            scopes, {id(node): types_of(table) for node, table in references}
        )
        compare_strings_with_numbers_as_numbers(tree)
        for index, (node, _) in enumerate(references):
            alias = node.alias or node.name
            node.replace(
                exp.Table(
                    this=exp.to_identifier(f"__t{index}"),
                    alias=exp.TableAlias(this=exp.to_identifier(alias)),
                )
            )
        return PlannedQuery(
            sql,
            cost is not None,
            QueryPlan(tree, tuple(inputs), sql),
            tuple(scans),
            keywords,
            write,
            any(table.is_user_table for _, table in references),
        )

    def _write_plan(self, caller: Caller, project: Project, statement: WriteStatement) -> WritePlan:
        """Where the statement writes, refused unless the caller may write there and the table
        is as the statement needs it (absent for CREATE, a user's table for INSERT)."""
        target = (
            project
            if statement.project == project.name
            else self._catalog.get_project(project.region, statement.project)
        )
        what = f"{statement.kind} {target.name}.{statement.table}"
        access.require_user_write(caller, target, what, number=access.SQL_DENIED)
        if not is_table_name(statement.table):
            raise SqlSemanticError(
                f"Semantic analysis exception - table name {statement.table!r}: use letters, "
                "digits and underscores, starting with a letter"
            )
        try:
            existing: Table | None = self._catalog.get_table(target, statement.table)
        except TableNotFound:
            existing = None
        if statement.kind == WriteKind.DROP:
            if existing is None and not statement.tolerant:
                raise TableNotFound(
                    f"ODPS-0130131:Table not found - table {target.name}.{statement.table} "
                    "cannot be dropped: it does not exist (DROP TABLE IF EXISTS drops it only "
                    "if it does)"
                )
            return WritePlan(statement, target, existing)
        if statement.kind in (WriteKind.CREATE, WriteKind.CTAS):
            if existing is not None and not statement.tolerant:
                raise table_exists(target, statement.table)
            new = Table(
                target.region,
                target.name,
                statement.table,
                int(time.time()),
                comment=statement.comment,
                columns=statement.columns,
                partition_keys=statement.partition_keys,
            )
            if statement.kind == WriteKind.CREATE and existing is None:
                try:
                    check_columns(new.columns, new.partition_keys)
                except InvalidParameter as exc:
                    raise SqlSemanticError(f"Semantic analysis exception - {exc.message}") from exc
            return WritePlan(statement, target, existing or new, noop=existing is not None)
        if existing is None or not existing.is_user_table:
            raise TableNotFound(
                f"ODPS-0130131:Table not found - table {target.name}.{statement.table} cannot "
                "be resolved; CREATE TABLE it first (or CREATE TABLE … AS SELECT)"
            )
        try:
            folder = partition_folder(existing, dict(statement.partition))
        except InvalidParameter as exc:
            raise SqlSemanticError(f"Semantic analysis exception - {exc.message}") from exc
        return WritePlan(statement, target, existing, folder)

    def _refuse_full_scans(
        self,
        scopes: list[Scope],
        references: list[tuple[exp.Table, Table]],
        reads: list[tuple[int, list[str], list[DataFile]]],
        sql: str,
    ) -> None:
        """odps.sql.allow.fullscan=false: every table read needs a `ds` condition."""
        for (node, table), (total, _, _) in zip(references, reads, strict=True):
            scope = scope_of(scopes, node)
            if (
                total
                and not table.is_user_table
                and (scope is None or not self._pruner.limits_partitions(scope, node))
            ):
                diagnosis = Diagnosis(
                    SEMANTIC,
                    f"Semantic analysis exception - full scan with all partitions of "
                    f"{table.project}.{table.name}, please specify partition predicates "
                    "(a condition on ds), or SET odps.sql.allow.fullscan=true",
                    node.name,
                )
                raise refusal(diagnosis, sql)

    def _read(
        self, scopes: list[Scope], node: exp.Table, table: Table
    ) -> tuple[int, list[str], list[DataFile]]:
        """The table's partition count, the partitions left after pruning, and their files
        (a user's table is not pruned: its keys are its own, not `ds`)."""
        partitions = self._catalog.list_partitions(table)
        kept = [p.ds for p in partitions]
        scope = scope_of(scopes, node)
        if scope is not None and not table.is_user_table:
            kept = self._pruner.prune(scope, node, kept)
        wanted = set(kept)
        files = self._catalog.files(table, [p for p in partitions if p.ds in wanted])
        return len(partitions), kept, files

    def _resolve(
        self, caller: Caller, project: Project, tree: exp.Query, sql: str
    ) -> list[tuple[exp.Table, Table]]:
        found: list[tuple[exp.Table, Table]] = []  # by node: equal-looking references differ
        readable: dict[str, Project] = {}
        for node in list(tree.find_all(exp.Table)):
            if not isinstance(node.this, exp.Identifier):
                raise SqlSemanticError("Semantic analysis exception - only tables may follow FROM")
            name = node.name.lower()
            if names_a_cte(node):
                continue
            owner_name = (node.db or project.name).lower()
            owner = readable.get(owner_name)
            if owner is None:
                owner = (
                    project
                    if owner_name == project.name
                    else self._catalog.get_project(project.region, owner_name)
                )
                access.require(caller, owner, Privilege.SELECT)
                readable[owner_name] = owner
            try:
                found.append((node, self._catalog.get_table(owner, name)))
            except TableNotFound:
                raise self._table_not_found(owner, node, sql) from None
        return found

    def _table_not_found(self, owner: Project, node: exp.Table, sql: str) -> TableNotFound:
        """TableNotFound pointing at the name, listing the project's tables, and saying how a
        trail's name becomes its table's."""
        name = node.name.lower()
        tables = sorted(t.name for t in self._catalog.list_tables(owner))
        shown = ", ".join(tables[:_TABLES_LISTED]) or "none"
        if len(tables) > _TABLES_LISTED:
            shown += f" and {len(tables) - _TABLES_LISTED} more"
        where = position_of(sql, node.name)
        located = f"[{where[0]},{where[1]}] " if where else ""
        hint = (
            " A trail's table is actiontrail_ and the trail's name, with each hyphen as an "
            "underscore (trail audit-mc → table actiontrail_audit_mc)."
        )
        if "-" in name:
            hint = f" Table names have no hyphens: did you mean {name.replace('-', '_')}?" + hint
        return TableNotFound(
            f"ODPS-0130131:{located}Table not found - table {owner.name}.{name} cannot be "
            f"resolved. Tables of project {owner.name}: {shown}.{hint}"
        )


def types_of(table: Table) -> dict[str, str]:
    """The MaxCompute type of each column a table shows, by its name in lower case."""
    shape = shape_of(table)
    return {c.name.lower(): c.odps_type.upper() for c in (*shape.columns, *shape.partition_keys)}


def exact_paths(table: Table, files: list[DataFile]) -> dict[str, str]:
    """The JSON paths whose typed column holds the path's value in every one of these files:
    those of the oldest schema version among them (a column added since reads NULL in older
    files, so a path read through it would lose their values)."""
    if table.is_user_table:  # its columns are its own: no event, no JSON path columns
        return {}
    oldest = min((f.schema_version for f in files), default=table.schema_version)
    return schema_of(min(oldest, table.schema_version)).column_for_path


def check_text(sql: str) -> None:
    """Refuse, before any parsing, SQL over the size and nesting limits or running a script."""
    size = len(sql.encode())
    if size > MAX_SQL_BYTES:
        raise SqlTooLong(
            f"Parse exception - the SQL statement is {size} bytes; at most {MAX_SQL_BYTES} "
            "(2 MB) are accepted"
        )
    if parentheses_deeper_than(sql, MAX_SQL_NESTING):
        raise too_deep()
    if runs_a_script(sql):
        raise SqlSemanticError(
            "Semantic analysis exception - TRANSFORM/MAP/REDUCE ... USING 'script' runs an "
            "external program, which trailhouse does not support; use built-in functions"
        )


def too_deep() -> SqlTooDeep:
    """The error for SQL nested deeper than the planner reads."""
    return SqlTooDeep(
        f"Parse exception - the SQL nests parentheses, subqueries or expressions more than "
        f"{MAX_SQL_NESTING} levels deep; flatten it, for example with WITH clauses"
    )
