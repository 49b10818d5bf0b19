"""Rewrites of a planned query's tree that keep its meaning and match MaxCompute.

- GET_JSON_OBJECT(event, path) on a path with a typed column reads that column, and on another
  path its JSON path column where every file read has one that answers it;
- unnamed result columns are named `_c<position>`;
- an audit column (STRING) compared with a number is compared as a number;
- REPEAT, LPAD, RPAD and SPACE build at most 2 MB (MaxCompute's limit for REPEAT);
- an aggregate over an ordered window without a frame sums up to the current row, ties apart;
- NVL and COALESCE of a DATETIME and a STRING are a STRING, the DATETIME as its text.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from trailhouse.warehouse.json_columns import JsonLayout, answers
from trailhouse.warehouse.schema import EVENT_COLUMN, all_names
from trailhouse.warehouse.sql.dialect import UnsupportedSql
from trailhouse.warehouse.sql.scopes import source_of

_T = exp.DataType.Type


def rewrite_typed_paths(scopes: list[Scope], typed_paths: dict[int, dict[str, str]]) -> None:
    """GET_JSON_OBJECT(event, path) → the typed column, where `event` is an audit table's.

    `typed_paths` gives, by the id of each audit table's node, the paths → typed columns that
    every file the query reads of that table holds (a file of an older schema version reads
    NULL in a column added since, where the path still has the event's value).
    """
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
            written = str(call.expression.this)
            if re.search(r'"[^"]*\.[^"]*"', written):
                continue  # $['a.b'] is the key "a.b", not the path $.a.b
            path = written.replace('"', "")
            source = source_of(scope, column)
            if not isinstance(source, exp.Table) or id(source) not in typed_paths:
                continue
            typed = typed_paths[id(source)].get(path)
            if typed is None:
                continue
            call.replace(exp.column(typed, table=column.table or None))


def rewrite_path_columns(
    scopes: list[Scope], layouts: dict[int, list[JsonLayout]]
) -> dict[int, list[str]]:
    """GET_JSON_OBJECT(event, path) → the path's JSON path column, where every file the query
    reads of the audit table (`layouts`, by the id of its node) answers the path from it
    (warehouse/json_columns.py). Returns, by node id, the path columns the query now reads.

    A table some `*` selects is left alone: its path columns are not columns of the table, so
    the view that would carry them must not show them to a `*`.
    """
    used: dict[int, list[str]] = {}
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
            source = source_of(scope, column)
            if not isinstance(source, exp.Table) or id(source) not in layouts:
                continue
            written = str(call.expression.this)
            if re.search(r'"[^"]*\.[^"]*"', written):
                continue  # $['a.b'] is the key "a.b", not the path $.a.b
            # $['a'] (."a" once translated, as JSON_TUPLE's keys) is $.a; other steps never
            # match a column, and are read from the JSON.
            name = answers(written.replace('"', ""), layouts[id(source)])
            if name is None:
                continue
            call.replace(exp.column(name, table=column.table or None, quoted=True))
            names = used.setdefault(id(source), [])
            if name not in names:
                names.append(name)
    return used


def name_unnamed_columns(tree: exp.Query) -> None:
    """Name result columns as MaxCompute does: a column keeps its name, other expressions
    without an alias become `_c<position>` (so both engines answer with the same names)."""
    if not isinstance(tree, exp.Select):
        return
    for position, projection in enumerate(list(tree.expressions)):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            continue
        projection.replace(exp.alias_(projection.copy(), f"_c{position}"))


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def compare_strings_with_numbers_as_numbers(tree: exp.Query) -> None:
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
            if isinstance(column, exp.Column) and column.name.lower() in all_names():
                column.replace(exp.TryCast(this=column.copy(), to=exp.DataType.build("DOUBLE")))


# MaxCompute's limit on the string REPEAT returns; LPAD, RPAD and SPACE are held to it too.
MAX_STRING_BYTES = 2 * 1024 * 1024


def cap_string_growth(tree: exp.Query) -> None:
    """REPEAT, LPAD, RPAD and SPACE return at most MAX_STRING_BYTES characters.

    DuckDB's memory_limit does not count the strings such functions build, so
    `REPEAT('x', 1500000000)` would take gigabytes of the process's memory, while constant
    folding too. A literal length over the limit is refused (UnsupportedSql); any other length
    is capped where it is computed, so the result is cut at the limit.
    """
    for node in list(tree.find_all(exp.Repeat, exp.Pad, exp.Space)):
        key = (
            "times"
            if isinstance(node, exp.Repeat)
            else ("this" if isinstance(node, exp.Space) else "expression")
        )
        length = node.args.get(key)
        if length is None:
            continue
        name = node.sql_name().upper()
        if isinstance(length, exp.Literal) and length.is_number:
            count = float(length.this)
            text = node.this if isinstance(node, exp.Repeat) else None
            size = count * (len(text.this) if isinstance(text, exp.Literal) else 1)
            if size > MAX_STRING_BYTES:
                raise UnsupportedSql(
                    f"{name} would return {size:.0f} characters; a string function returns "
                    f"at most {MAX_STRING_BYTES} (2 MB)"
                )
            continue
        cap: exp.Expr = exp.Literal.number(MAX_STRING_BYTES)
        if isinstance(node, exp.Repeat):
            width = exp.Greatest(
                this=exp.Length(this=node.this.copy()), expressions=[exp.Literal.number(1)]
            )
            cap = exp.IntDiv(this=cap, expression=width)
        length.replace(exp.Least(this=length.copy(), expressions=[cap]))


# Window functions whose answer does not depend on a frame (and which some engines refuse one).
_FRAMELESS = (
    exp.RowNumber,
    exp.Rank,
    exp.DenseRank,
    exp.PercentRank,
    exp.CumeDist,
    exp.Ntile,
    exp.Lag,
    exp.Lead,
)


def rows_frame_for_ordered_windows(tree: exp.Query) -> None:
    """`SUM(x) OVER (ORDER BY y)` with no frame: MaxCompute (not Hive-compatible, its default)
    gives each row the sum up to that row, rows with the same `y` apart (ROWS BETWEEN UNBOUNDED
    PRECEDING AND CURRENT ROW); DuckDB and Spark default to RANGE, which gives tied rows the sum
    up to the last of them. The frame is written out, so both engines answer as MaxCompute."""
    for window in list(tree.find_all(exp.Window)):
        if window.args.get("order") is None or window.args.get("spec") is not None:
            continue
        if isinstance(window.this, _FRAMELESS):
            continue
        window.set(
            "spec",
            exp.WindowSpec(
                kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
            ),
        )


_DATETIMES = {_T.DATETIME, _T.TIMESTAMP, _T.TIMESTAMPNTZ, _T.TIMESTAMPTZ, _T.TIMESTAMPLTZ}
_STRINGS = {_T.VARCHAR, _T.TEXT, _T.CHAR, _T.NVARCHAR}
# MaxCompute's text of a DATETIME (CAST(dt AS STRING)): 'yyyy-mm-dd hh:mi:ss'.
_DATETIME_TEXT = "%Y-%m-%d %H:%M:%S"


def datetime_and_string_as_string(scopes: list[Scope], types: dict[int, dict[str, str]]) -> None:
    """NVL(dt, '-') and COALESCE(dt, s, …) of a DATETIME and a STRING: MaxCompute converts the
    DATETIME to STRING (its 'yyyy-mm-dd hh:mi:ss' text), as NVL's page prints `nvl(c3, '-')`;
    DuckDB and Spark convert the STRING to a timestamp instead, and fail on `-`.

    `types` gives, by the id of each table's node, its columns' MaxCompute types. An argument
    whose type the query does not show (an expression of another kind) is left as written.
    """
    for scope in scopes:
        for call in list(scope.find_all(exp.Coalesce)):
            arguments = [call.this, *call.expressions]
            kinds = [_kind(scope, argument, types) for argument in arguments]
            if "DATETIME" not in kinds or "STRING" not in kinds:
                continue
            for argument, kind in zip(arguments, kinds, strict=True):
                if kind == "DATETIME":
                    argument.replace(
                        exp.TimeToStr(
                            this=argument.copy(), format=exp.Literal.string(_DATETIME_TEXT)
                        )
                    )


def _kind(
    scope: Scope, node: exp.Expression, types: dict[int, dict[str, str]], depth: int = 0
) -> str | None:
    """'DATETIME', 'STRING', or None (another type, or not known) for an expression of `scope`."""
    if depth > 32:
        return None
    while isinstance(node, (exp.Paren, exp.Alias)):
        node = node.this
    if isinstance(node, exp.Literal):
        return "STRING" if node.is_string else None
    if isinstance(node, (exp.Cast, exp.TryCast)):
        kind = node.to.this
        return "DATETIME" if kind in _DATETIMES else "STRING" if kind in _STRINGS else None
    if isinstance(node, (exp.TimeToStr, exp.Concat, exp.ConcatWs)):
        return "STRING"
    if not isinstance(node, exp.Column):
        return None
    source = source_of(scope, node)
    if isinstance(source, exp.Table):
        written = types.get(id(source), {}).get(node.name.lower(), "")
        return (
            "DATETIME"
            if written in ("DATETIME", "TIMESTAMP")
            else ("STRING" if written == "STRING" else None)
        )
    if isinstance(source, Scope):
        query = source.expression
        while isinstance(query, exp.SetOperation):  # a UNION's columns are its first query's
            query = query.this
        if isinstance(query, exp.Select):
            for projection in query.expressions:
                if projection.alias_or_name == node.name:
                    inner = (
                        source if query is source.expression else _scope_of_select(source, query)
                    )
                    return _kind(inner, projection, types, depth + 1) if inner else None
    return None


def _scope_of_select(scope: Scope, select: exp.Select) -> Scope | None:
    for child in scope.set_operation_scopes:
        if child.expression is select:
            return child
        found = _scope_of_select(child, select)
        if found is not None:
            return found
    return None
