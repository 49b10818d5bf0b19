"""Where a column comes from in a query: sqlglot scopes, and which audit table a column reads.

The planner uses these to rewrite only columns that really belong to an audit table, to prune
only that table's partitions, and to bill only the columns a query reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope


def scopes_of(tree: exp.Query) -> list[Scope]:
    """Every scope of the query; none when sqlglot cannot scope it (no rewrite, no pruning)."""
    try:
        return list(traverse_scope(tree))
    except Exception:  # sqlglot cannot scope it: no rewrite, no pruning, every column billed
        return []


def scope_of(scopes: Iterable[Scope], node: exp.Table) -> Scope | None:
    """The SELECT scope that reads the table `node` in its FROM or JOIN."""
    for scope in scopes:
        if isinstance(scope.expression, exp.Select) and any(
            source is node for source in scope.sources.values()
        ):
            return scope
    return None


def source_of(scope: Scope, column: exp.Column) -> exp.Expression | Scope | None:
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


def selects_all(scopes: list[Scope], node: exp.Table) -> bool:
    """Whether a `*` (or `t.*`) of the query selects every column of the table `node`."""
    for scope in scopes:
        select = scope.expression
        if isinstance(select, exp.Select):
            for projection in select.expressions:
                star = isinstance(projection, exp.Star) or (
                    isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
                )
                if star and _star_covers(scope, projection, node):
                    return True
    return False


def columns_read(scopes: list[Scope], node: exp.Table, columns: tuple[str, ...]) -> list[str]:
    """Which of the table's data `columns` the query reads anywhere (all of them under a `*`)."""
    if selects_all(scopes, node):
        return list(columns)
    read = set()
    for scope in scopes:
        for column in scope.columns:
            if column.name.lower() in columns and source_of(scope, column) is node:
                read.add(column.name.lower())
    return [c for c in columns if c in read]


def _star_covers(scope: Scope, projection: exp.Expression, node: exp.Table) -> bool:
    qualifier = projection.table if isinstance(projection, exp.Column) else ""
    if qualifier:
        return scope.sources.get(qualifier) is node
    return any(source is node for source in scope.sources.values())


def names_a_cte(node: exp.Table) -> bool:
    """Whether the unqualified table name `node` means a CTE where it stands, as SQL scopes
    names: a WITH clause's CTEs are seen by its query's body and by the CTEs listed after them
    (a CTE of WITH RECURSIVE also by itself), never outside that query. Any other name is a
    table, even when a CTE elsewhere in the statement has the same name."""
    if node.args.get("db"):
        return False
    name = node.name.lower()
    child: exp.Expr = node
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") if isinstance(parent, exp.Query) else None
        if isinstance(with_, exp.With):
            ctes = list(with_.expressions)
            if child is with_:  # inside one of these CTEs: it sees those listed before it
                inner = next(c for c in ctes if _contains(c, node))
                position = ctes.index(inner) + (1 if with_.args.get("recursive") else 0)
                visible = ctes[:position]
            else:
                visible = ctes
            if any(cte.alias_or_name.lower() == name for cte in visible):
                return True
        child, parent = parent, parent.parent
    return False


def _contains(ancestor: exp.Expr, node: exp.Expr) -> bool:
    current: exp.Expr | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False
