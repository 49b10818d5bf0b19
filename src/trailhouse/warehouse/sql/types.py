"""Result column types named as MaxCompute names them (BIGINT, DOUBLE, DECIMAL(p,s), STRING,
DATE, DATETIME, BOOLEAN, ARRAY<…>, MAP<…,…>, STRUCT<…>), whichever engine ran the query.

DuckDB reports its own names (INTEGER, HUGEINT, VARCHAR, TIMESTAMP, INTEGER[]); the Spark engine
names Spark's types as DuckDB does first. Both pass through `maxcompute_type` before a caller
sees them, so a job's result schema reads as MaxCompute's would (docs/sql-functions.md, Types).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError

_T = exp.DataType.Type

# MaxCompute 2.0's integer types keep their width: an integer literal is an INT (a BIGINT past
# INT's range), arithmetic gives the wider operand's type, CAST gives the type named. DuckDB
# and Spark type integers the same way; what neither has in MaxCompute (DuckDB's HUGEINT sums,
# unsigned types) is a BIGINT, MaxCompute's widest integer.
_INTEGERS = {
    _T.TINYINT: "TINYINT",
    _T.SMALLINT: "SMALLINT",
    _T.INT: "INT",
    _T.BIGINT: "BIGINT",
}
_WIDER_INTEGERS = {
    _T.UTINYINT,
    _T.USMALLINT,
    _T.UINT,
    _T.UBIGINT,
    _T.UINT128,
    _T.INT128,
    _T.INT256,
    _T.UINT256,
    _T.MEDIUMINT,
    _T.UMEDIUMINT,
}

_NAMES = {
    _T.DOUBLE: "DOUBLE",
    _T.FLOAT: "FLOAT",
    _T.BOOLEAN: "BOOLEAN",
    _T.DATE: "DATE",
    # MaxCompute's DATETIME is a naive date and time to the second; the warehouse's datetimes
    # are naive UTC, which DuckDB and Spark call TIMESTAMP.
    _T.TIMESTAMP: "DATETIME",
    _T.TIMESTAMPNTZ: "DATETIME",
    _T.TIMESTAMPTZ: "DATETIME",
    _T.TIMESTAMPLTZ: "DATETIME",
    _T.TIMESTAMP_S: "DATETIME",
    _T.TIMESTAMP_MS: "DATETIME",
    _T.TIMESTAMP_NS: "DATETIME",
    _T.BPCHAR: "STRING",
    _T.DATETIME: "DATETIME",
    _T.VARCHAR: "STRING",
    _T.CHAR: "STRING",
    _T.TEXT: "STRING",
    _T.NVARCHAR: "STRING",
    _T.JSON: "JSON",  # MaxCompute's JSON type (a STRING of JSON text is a STRING)
    _T.UUID: "STRING",
    _T.NULL: "STRING",
    _T.UNKNOWN: "STRING",
    _T.BLOB: "BINARY",
    _T.VARBINARY: "BINARY",
    _T.BINARY: "BINARY",
}


def maxcompute_type(engine_name: str) -> str:
    """The MaxCompute name of a result column's type, given the name DuckDB gives it."""
    text = engine_name.strip()
    if text.upper() in ('"NULL"', "NULL"):
        return "STRING"
    try:
        built = exp.DataType.build(text, dialect="duckdb")
    except (ParseError, ValueError):
        return text.upper()
    return _name(built)


def _name(node: exp.DataType) -> str:
    kind = node.this
    if kind in _INTEGERS:
        return _INTEGERS[kind]
    if kind in _WIDER_INTEGERS:
        return "BIGINT"
    if kind in (_T.DECIMAL, _T.BIGDECIMAL):
        params = [
            str(p.this.this if isinstance(p.this, exp.Literal) else p.this)
            for p in node.expressions
        ]
        return f"DECIMAL({','.join(params)})" if params else "DECIMAL(38,18)"
    if kind == _T.ARRAY or kind == _T.LIST:
        inner = [e for e in node.expressions if isinstance(e, exp.DataType)]
        return f"ARRAY<{_name(inner[0]) if inner else 'STRING'}>"
    if kind == _T.MAP:
        key, value = (e for e in node.expressions if isinstance(e, exp.DataType))
        return f"MAP<{_name(key)},{_name(value)}>"
    if kind == _T.STRUCT:
        fields = []
        for field in node.expressions:
            if isinstance(field, exp.ColumnDef) and isinstance(
                field.args.get("kind"), exp.DataType
            ):
                name = field.name if field.name.isidentifier() else f"`{field.name}`"
                fields.append(f"{name}:{_name(field.args['kind'])}")
        return f"STRUCT<{','.join(fields)}>"
    return _NAMES.get(kind, str(kind.value).upper())


def maxcompute_type_of(node: exp.DataType) -> str:
    """The MaxCompute name of a type as sqlglot parsed it (a column of CREATE TABLE)."""
    return _name(node)
