"""From MaxCompute SQL text to a plan an engine runs: resolve, authorise, rewrite, prune, price.

1. `COST SQL <query>` is recognised; write statements are refused (an `actiontrail_*` table
   takes writes from delivery only) and anything but one SELECT is named as unsupported.
2. Every table name resolves to a table of a project (`table` in the current project, or
   `project.table`) that the caller may read; CTE names are left alone.
3. `GET_JSON_OBJECT(event, '$.eventName')` and every other path with a typed column becomes
   that column (same values: the writer fills the column with what the path returns).
4. Conjuncts of a WHERE clause that compare `ds` with a constant (`=`, `<`, `>=`, BETWEEN, IN;
   constants may be expressions like `TO_CHAR(DATEADD(GETDATE(), -7, 'dd'), 'yyyymmdd')`) prune
   partitions before any file is opened. The WHERE clause itself stays, so pruning only skips
   files that could not match.
5. Input bytes are the compressed bytes of the columns the query reads in the files left; the
   complexity comes from the keyword count, as MaxCompute computes it (reference §4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import Scope, traverse_scope

from trailhouse.errors import NoPermission, SqlParseError, SqlSemanticError
from trailhouse.iam.principals import Caller
from trailhouse.warehouse import access
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.model import (
    COLUMN_FOR_PATH,
    DATA_COLUMNS,
    EVENT_COLUMN,
    PARTITION_COLUMN,
    PROJECT_PREFIX,
    DataFile,
    Privilege,
    Project,
    Table,
)
from trailhouse.warehouse.sql.dialect import InvalidSql, MaxCompute, UnsupportedSql, parse
from trailhouse.warehouse.sql.engine import VIEW_COLUMNS, QueryPlan, TableInput

_COST_SQL = re.compile(r"^\s*cost\s+sql\s+", re.IGNORECASE)
_WRITES = (exp.Insert, exp.Delete, exp.Update, exp.Merge, exp.Drop, exp.Create, exp.Alter)

ConstantEvaluator = Callable[[exp.Expr], Any]


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
class PlannedQuery:
    """A query ready to run or to price."""

    sql: str
    is_cost: bool
    plan: QueryPlan
    scans: tuple[TableScan, ...]
    keywords: int

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
    joins = sum(1 for j in tree.find_all(exp.Join) if not isinstance(j.this, exp.Lateral))
    groups = sum(1 for _ in tree.find_all(exp.Group))
    orders = sum(1 for o in tree.find_all(exp.Order) if not isinstance(o.parent, exp.Window))
    distincts = sum(1 for _ in tree.find_all(exp.Distinct))
    windows = sum(1 for _ in tree.find_all(exp.Window))
    inserts = sum(1 for _ in tree.find_all(exp.Insert))
    return joins + groups + orders + distincts + windows + max(inserts, 1)


class Planner:
    """Plans MaxCompute SQL against the catalog for one caller and current project."""

    def __init__(self, catalog: Catalog, root: Path, evaluate: ConstantEvaluator) -> None:
        self._catalog = catalog
        self._root = root
        self._evaluate = evaluate

    def plan(self, caller: Caller, project: Project, sql: str) -> PlannedQuery:
        """Plan `sql` run in `project` by `caller`; API errors say what is wrong."""
        text = sql.strip().rstrip(";").strip()
        is_cost = bool(_COST_SQL.match(text))
        if is_cost:
            text = _COST_SQL.sub("", text, count=1)
        if not text:
            raise SqlParseError("Parse exception - the statement is empty")
        self._refuse_writes(caller, project, text)
        try:
            tree = parse(text)
        except InvalidSql as exc:
            raise SqlParseError(f"Parse exception - {exc}") from exc
        except UnsupportedSql as exc:
            raise SqlSemanticError(f"Semantic analysis exception - {exc}") from exc
        keywords = count_keywords(tree)
        _name_unnamed_columns(tree)
        references = self._resolve(caller, project, tree)
        _rewrite_typed_paths(_scopes(tree), references)
        scopes = _scopes(tree)  # again: scopes cache the columns the rewrite replaced
        scans: list[TableScan] = []
        inputs: list[TableInput] = []
        for index, (node, table) in enumerate(references):
            view = f"__t{index}"
            partitions = self._catalog.list_partitions(table)
            kept = [p.ds for p in partitions]
            scope = _scope_of(scopes, node)
            if scope is not None:
                kept = self._prune(scope, node, kept)
            wanted = set(kept)
            files = self._catalog.files(table, [p for p in partitions if p.ds in wanted])
            columns = _columns_read(scopes, node) if scope is not None else DATA_COLUMNS
            scans.append(
                TableScan(
                    project=table.project,
                    table=table.name,
                    partitions_total=len(partitions),
                    partitions_read=tuple(kept),
                    files=tuple(files),
                    columns=tuple(columns),
                    bytes=sum(f.column_bytes.get(c, 0) for f in files for c in columns),
                )
            )
            paths = tuple(self._root / f.path for f in files)
            inputs.append(TableInput(view, table.name, paths, self._root))
        _compare_strings_with_numbers_as_numbers(tree)
        for index, (node, _) in enumerate(references):
            alias = node.alias or node.name
            node.replace(
                exp.Table(
                    this=exp.to_identifier(f"__t{index}"),
                    alias=exp.TableAlias(this=exp.to_identifier(alias)),
                )
            )
        return PlannedQuery(sql, is_cost, QueryPlan(tree, tuple(inputs)), tuple(scans), keywords)

    def _refuse_writes(self, caller: Caller, project: Project, text: str) -> None:
        try:
            statements = sqlglot.parse(text, read=MaxCompute)
        except (ParseError, UnsupportedSql, InvalidSql):
            return  # parse() below reports it
        for statement in statements:
            if not isinstance(statement, _WRITES):
                continue
            target = statement.find(exp.Table)
            name = target.name.lower() if target is not None else ""
            owner = (target.db if target is not None and target.db else project.name).lower()
            kind = statement.key.upper()
            if name.startswith(PROJECT_PREFIX) or owner.startswith(PROJECT_PREFIX):
                raise NoPermission(
                    f"ODPS-0130013:Authorization exception - {kind} into {owner}.{name} refused: "
                    f"a project named {PROJECT_PREFIX}* accepts table writes only from "
                    "ActionTrail delivery, so that its audit events stay exactly as recorded"
                )
            raise SqlSemanticError(
                f"Semantic analysis exception - {kind} is not supported; "
                "trailhouse SQL runs SELECT statements only"
            )

    def _resolve(
        self, caller: Caller, project: Project, tree: exp.Query
    ) -> list[tuple[exp.Table, Table]]:
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        found: list[tuple[exp.Table, Table]] = []  # by node: equal-looking references differ
        readable: dict[str, Project] = {}
        for node in list(tree.find_all(exp.Table)):
            if not isinstance(node.this, exp.Identifier):
                raise SqlSemanticError("Semantic analysis exception - only tables may follow FROM")
            name = node.name.lower()
            if not node.args.get("db") and name in ctes:
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
            found.append((node, self._catalog.get_table(owner, name)))
        return found

    def _prune(self, scope: Scope, node: exp.Table, partitions: list[str]) -> list[str]:
        select = scope.expression
        where = select.args.get("where") if isinstance(select, exp.Select) else None
        if where is None:
            return partitions
        kept = partitions
        for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            test = self._partition_test(scope, node, conjunct)
            if test is not None:
                kept = [ds for ds in kept if test(ds)]
        return kept

    def _partition_test(
        self, scope: Scope, node: exp.Table, conjunct: exp.Expr
    ) -> Callable[[str], bool] | None:
        """A test of `ds` values equivalent to the conjunct, or None when it is not one."""
        if isinstance(conjunct, exp.Paren):
            return self._partition_test(scope, node, conjunct.this)
        if isinstance(conjunct, exp.Between) and self._is_ds(scope, node, conjunct.this):
            low, high = self._constant(conjunct.args["low"]), self._constant(conjunct.args["high"])
            if low is None or high is None:
                return None
            return lambda ds: _compare(ds, low) >= 0 and _compare(ds, high) <= 0
        if isinstance(conjunct, exp.In) and self._is_ds(scope, node, conjunct.this):
            if conjunct.args.get("query") or not conjunct.expressions:
                return None
            values = [self._constant(e) for e in conjunct.expressions]
            if any(v is None for v in values):
                return None
            return lambda ds: any(_compare(ds, v) == 0 for v in values)
        operators: dict[type[exp.Expression], Callable[[int], bool]] = {
            exp.EQ: lambda c: c == 0,
            exp.GT: lambda c: c > 0,
            exp.GTE: lambda c: c >= 0,
            exp.LT: lambda c: c < 0,
            exp.LTE: lambda c: c <= 0,
        }
        flipped: dict[type[exp.Expression], type[exp.Expression]] = {
            exp.EQ: exp.EQ,
            exp.GT: exp.LT,
            exp.GTE: exp.LTE,
            exp.LT: exp.GT,
            exp.LTE: exp.GTE,
        }
        kind = type(conjunct)
        if kind not in operators:
            return None
        left, right = conjunct.this, conjunct.expression
        if not self._is_ds(scope, node, left):
            if not self._is_ds(scope, node, right):
                return None
            left, right, kind = right, left, flipped[kind]
        value = self._constant(right)
        if value is None:
            return None
        accept = operators[kind]
        return lambda ds: accept(_compare(ds, value))

    def _is_ds(self, scope: Scope, node: exp.Table, expression: exp.Expr) -> bool:
        return (
            isinstance(expression, exp.Column)
            and expression.name.lower() == PARTITION_COLUMN
            and _source_of(scope, expression) is node
        )

    def _constant(self, expression: exp.Expr) -> Any:
        if any(isinstance(n, (exp.Column, exp.Subquery, exp.Query)) for n in expression.walk()):
            return None
        if isinstance(expression, exp.Literal):
            return expression.this if expression.is_string else _number(expression.this)
        try:
            return self._evaluate(expression)
        except Exception:  # not foldable here: no pruning on this conjunct, the query decides
            return None


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _compare(ds: str, value: Any) -> int:
    """Compare a partition value with a constant as MaxCompute does (numbers as numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(ds)
        return (number > value) - (number < value)
    text = str(value)
    return (ds > text) - (ds < text)


def _scopes(tree: exp.Query) -> list[Scope]:
    try:
        return list(traverse_scope(tree))
    except Exception:  # sqlglot cannot scope it: no rewrite, no pruning, every column billed
        return []


def _scope_of(scopes: Iterable[Scope], node: exp.Table) -> Scope | None:
    for scope in scopes:
        if isinstance(scope.expression, exp.Select) and any(
            source is node for source in scope.sources.values()
        ):
            return scope
    return None


def _source_of(scope: Scope, column: exp.Column) -> exp.Expression | Scope | None:
    """The source (a table node or a subquery's scope) a column belongs to, or None."""
    current: Scope | None = scope
    while current is not None:
        sources = current.sources
        if column.table:
            if column.table in sources:
                return sources[column.table]
        else:
            candidates = [
                source
                for source in sources.values()
                if isinstance(source, exp.Table)
                or (isinstance(source, Scope) and column.name in _outputs(source))
            ]
            if len(candidates) == 1:
                return candidates[0]
            if candidates:
                return None  # ambiguous: left to the engine
        if sources and not column.table:
            return None
        current = current.parent
    return None


def _outputs(scope: Scope) -> set[str]:
    expression = scope.expression
    if isinstance(expression, exp.Query):
        return set(expression.named_selects)
    return set()


def _rewrite_typed_paths(scopes: list[Scope], references: list[tuple[exp.Table, Table]]) -> None:
    audit_tables = {id(node) for node, _ in references}
    for scope in scopes:
        for column in list(scope.columns):
            call = column.parent
            if (
                column.name.lower() != EVENT_COLUMN
                or not isinstance(call, exp.JSONExtractScalar)
                or call.this is not column
                or not isinstance(call.expression, exp.Literal)
            ):
                continue
            path = call.expression.this.replace('"', "")
            typed = COLUMN_FOR_PATH.get(path)
            source = _source_of(scope, column)
            if typed is None or not isinstance(source, exp.Table) or id(source) not in audit_tables:
                continue
            call.replace(exp.column(typed, table=column.table or None))


def _columns_read(scopes: list[Scope], node: exp.Table) -> list[str]:
    """The table's columns the query reads anywhere (all of them under a `*`)."""
    read = set()
    for scope in scopes:
        select = scope.expression
        if isinstance(select, exp.Select):
            for projection in select.expressions:
                star = isinstance(projection, exp.Star) or (
                    isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
                )
                if star and _star_covers(scope, projection, node):
                    return list(DATA_COLUMNS)
        for column in scope.columns:
            if column.name.lower() in DATA_COLUMNS and _source_of(scope, column) is node:
                read.add(column.name.lower())
    return [c for c in DATA_COLUMNS if c in read]


def _star_covers(scope: Scope, projection: exp.Expression, node: exp.Table) -> bool:
    qualifier = projection.table if isinstance(projection, exp.Column) else ""
    if qualifier:
        return scope.sources.get(qualifier) is node
    return any(source is node for source in scope.sources.values())


def _name_unnamed_columns(tree: exp.Query) -> None:
    """Name result columns as MaxCompute does: a column keeps its name, other expressions
    without an alias become `_c<position>` (so both engines answer with the same names)."""
    if not isinstance(tree, exp.Select):
        return
    for position, projection in enumerate(list(tree.expressions)):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            continue
        projection.replace(exp.alias_(projection.copy(), f"_c{position}"))


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _compare_strings_with_numbers_as_numbers(tree: exp.Query) -> None:
    """`ds >= 20250101`: MaxCompute compares a STRING with a number as DOUBLEs; so do we.

    Every audit column is a STRING, so one compared with a numeric literal is cast (TRY_CAST:
    text that is not a number compares as NULL, as in MaxCompute).
    """
    for node in list(tree.find_all(*_COMPARISONS, exp.Between, exp.In)):
        if isinstance(node, exp.Between):
            numbers = [node.args["low"], node.args["high"]]
            columns = [node.this]
        elif isinstance(node, exp.In):
            numbers = list(node.expressions)
            columns = [node.this]
        else:
            numbers = [node.expression]
            columns = [node.this]
            if isinstance(node.this, exp.Literal):
                numbers, columns = [node.this], [node.expression]
        if not numbers or not all(isinstance(n, exp.Literal) and n.is_number for n in numbers):
            continue
        for column in columns:
            if isinstance(column, exp.Column) and column.name.lower() in VIEW_COLUMNS:
                column.replace(exp.TryCast(this=column.copy(), to=exp.DataType.build("DOUBLE")))
