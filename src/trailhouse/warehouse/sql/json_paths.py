"""GET_JSON_OBJECT paths with the `[*]` wildcard, answered on DuckDB as on Spark (Hive's rules,
which MaxCompute's GET_JSON_OBJECT of a STRING follows).

Every match of the path is collected, missing members skipped: no match is NULL, one match is
that value as GET_JSON_OBJECT prints one (a string without its quotes), more are a JSON array
(`$.c.h[*]` of `{"c":{"h":["h00","h11"]}}` is `["h00","h11"]`).
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from trailhouse.warehouse.sql.diagnostics import UnsupportedSql

# A path MaxCompute's GET_JSON_OBJECT reads: $ then .key, ['key'], [n] or [*] steps.
_STEP = r"(?:\.[^.\[\]'\"*]+|\['[^'\"]*'\]|\[[0-9]+\]|\[\*\])"
_PATH = re.compile(rf"^\${_STEP}*$")


# GET_JSON_OBJECT(json, path) where the path has a `[*]` step. sqlglot's expression classes
# cannot be subclassed here, so it is carried as a JSONExtract, which nothing else produces
# (MaxCompute's JSON_EXTRACT is refused by name: functions.NOT_SUPPORTED).
JsonWildcard = exp.JSONExtract


def json_path_syntax(path: str) -> bool:
    """Whether `path` is `$` then `.key`, `['key']`, `[n]` or `[*]` steps."""
    return _PATH.match(path) is not None


def wildcard(json: exp.Expression, path: str) -> exp.Expression:
    """The GET_JSON_OBJECT call of a path with `[*]`; refused when the path is not one."""
    if not _PATH.match(path):
        raise UnsupportedSql(f"GET_JSON_OBJECT: unsupported JSON path {path!r}", "GET_JSON_OBJECT")
    return JsonWildcard(this=json, expression=exp.Literal.string(path))


def duckdb_path(path: str) -> str:
    """['key'] (MaxCompute's new GET_JSON_OBJECT) is ."key" in DuckDB's JSONPath."""
    return re.sub(r"\['([^'\"]*)'\]", r'."\1"', path)


_DUCKDB = (
    "CASE WHEN LEN(__m) = 0 THEN NULL "
    "WHEN LEN(__m) = 1 THEN JSON_EXTRACT_STRING(__m[1], '$') "
    "ELSE CAST(TO_JSON(__m) AS VARCHAR) END"
)


def duckdb_wildcard(node: JsonWildcard) -> exp.Expression:
    """The DuckDB expression of a wildcard GET_JSON_OBJECT (invalid JSON gives NULL)."""
    path = duckdb_path(str(node.expression.this))
    matches = exp.Try(
        this=exp.Anonymous(
            this="JSON_EXTRACT",
            expressions=[node.this.copy(), exp.Literal.string(path)],
        )
    )
    kept = sqlglot.parse_one("LIST_FILTER(__l, __x -> __x IS NOT NULL)", read="duckdb")
    listed = kept.find(exp.Column)  # __l, the list filtered
    if listed is None:
        raise AssertionError("the LIST_FILTER template has a column")
    listed.replace(matches)
    template = exp.paren(sqlglot.parse_one(_DUCKDB, read="duckdb"), copy=False)
    for column in list(template.find_all(exp.Column)):
        if column.name == "__m":
            column.replace(kept.copy())
    return template
