"""The functions trailhouse runs: those checked against MaxCompute's documentation (or against
Python on both engines), listed in docs/sql-functions.md. Every other function name the SQL
parser knows is refused by name, so no function answers differently from MaxCompute in silence.

sqlglot reads hundreds of functions of other dialects (LEVENSHTEIN, ARRAY_AGG, STDDEV as a
sample's deviation where MaxCompute's is the population's, …); DuckDB or Spark would answer
them with their own meaning. A MaxCompute built-in function not checked yet is refused as one
("… does not support yet"), any other as MaxCompute refuses an unknown name ("cannot be
resolved"); both `ODPS-0130071`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from trailhouse.warehouse.sql.diagnostics import UnsupportedSql
from trailhouse.warehouse.sql.functions import NOT_SUPPORTED, arity

# The functions docs/sql-functions.md lists as conformant or checked against Python.
CHECKED = frozenset(
    {
        # strings
        "ASCII", "CHR", "CONCAT", "CONCAT_WS", "GET_JSON_OBJECT", "INITCAP", "INSTR", "LENGTH",
        "LOCATE", "LOWER", "LPAD", "LTRIM", "MD5", "REGEXP_COUNT", "REGEXP_EXTRACT",
        "REGEXP_INSTR", "REGEXP_REPLACE", "REPEAT", "REPLACE", "REVERSE", "RPAD", "RTRIM",
        "SPACE", "SPLIT", "SPLIT_PART", "SUBSTR", "SUBSTRING", "TOLOWER", "TOUPPER",
        "TRANSLATE", "TRIM", "UPPER", "WM_CONCAT",
        # mathematics
        "ABS", "ACOS", "ASIN", "ATAN", "ATAN2", "CEIL", "COS", "COSH", "COT", "DEGREES", "E",
        "EXP", "FACTORIAL", "FLOOR", "GREATEST", "HEX", "ISNAN", "LEAST", "LN", "LOG", "LOG10",
        "LOG2", "PI", "POW", "RADIANS", "RAND", "ROUND", "SIGN", "SIN", "SINH", "SQRT", "TAN",
        "TANH", "UNHEX",
        # conditions
        "COALESCE", "DECODE", "IF", "NVL",
        # collections
        "ARRAY", "ARRAY_CONTAINS", "EXPLODE", "MAP", "NAMED_STRUCT", "POSEXPLODE", "SIZE",
        "SORT_ARRAY",
        # aggregates
        "AVG", "COLLECT_LIST", "COLLECT_SET", "COUNT", "MAX", "MEDIAN", "MIN", "STDDEV_SAMP",
        "SUM", "VAR_SAMP",
        # dates
        "ADD_MONTHS", "CURRENT_DATE", "CURRENT_TIMESTAMP", "CURRENT_TIMEZONE", "DATEADD",
        "DATEDIFF", "DATETRUNC", "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DAY", "DAYOFMONTH",
        "DAYOFWEEK", "DAYOFYEAR", "FROM_UNIXTIME", "GETDATE", "HOUR", "LASTDAY", "LAST_DAY",
        "MINUTE", "MONTH", "MONTHS_BETWEEN", "QUARTER", "SECOND", "TO_CHAR", "TO_DATE",
        "UNIX_TIMESTAMP", "WEEKDAY", "WEEKOFYEAR", "YEAR",
        # windows
        "CUME_DIST", "DENSE_RANK", "FIRST_VALUE", "LAG", "LAST_VALUE", "LEAD", "NTH_VALUE",
        "NTILE", "PERCENT_RANK", "RANK", "ROW_NUMBER",
    }
)  # fmt: skip

# MaxCompute built-in functions sqlglot also reads, not checked yet: refused as such.
MAXCOMPUTE_UNCHECKED = frozenset(
    {
        "ANY_VALUE", "APPROX_DISTINCT", "ARG_MAX", "ARG_MIN", "ARRAYS_ZIP", "ARRAY_DISTINCT",
        "ARRAY_EXCEPT", "ARRAY_INTERSECT", "ARRAY_JOIN", "ARRAY_MAX", "ARRAY_MIN",
        "ARRAY_POSITION", "ARRAY_REMOVE", "ARRAY_SORT", "BASE64", "CEILING", "CORR",
        "COUNT_IF", "COVAR_POP", "COVAR_SAMP", "FILTER", "INLINE", "MAP_FROM_ENTRIES",
        "MAP_KEYS", "MAX_BY", "MIN_BY", "NEXT_DAY", "NULLIF", "NVL2", "PARSE_URL",
        "PERCENTILE", "PERCENTILE_APPROX", "POWER", "SEQUENCE", "SHA", "SHA1",
        "SHA2", "SHUFFLE", "SOUNDEX", "STDDEV", "STDDEV_POP", "STRUCT", "TRANSFORM", "UNBASE64",
        "UUID", "VARIANCE", "VAR_POP", "REGEXP_EXTRACT_ALL", "CHAR_LENGTH", "BIT_LENGTH",
        "TIMESTAMP", "DATE", "MOD", "TRUNC",
    }
)  # fmt: skip

# Syntax sqlglot reads as a function of its own (FUNCTION_PARSERS) that MaxCompute has not:
# left to read as an ordinary call, which is then refused by name.
FOREIGN_SYNTAX = (
    "ARGMAX", "ARGMIN", "ARG_MAX", "ARG_MIN", "CONVERT", "GAP_FILL", "JSON_OBJECT",
    "JSON_OBJECTAGG",
    "JSON_TABLE", "MATCH", "MAX_BY", "MIN_BY", "NORMALIZE", "OPENJSON", "OVERLAY", "PERCENTILE",
    "PERCENTILE_APPROX", "POSITION", "SAFE_CAST", "STRING_AGG", "TRY_CONVERT", "WEIGHT_STRING",
    "XMLELEMENT", "XMLTABLE",
)  # fmt: skip

Builder = Callable[..., exp.Expr]
# Refused after parsing, saying they read files (dialect.query_of).
_READS_FILES = frozenset({"READ_CSV", "READ_PARQUET"})


def maxcompute_built_in(name: str) -> bool:
    """Whether `name` is a MaxCompute built-in function trailhouse does not run yet (refused
    as one, not as an unknown name)."""
    return name in MAXCOMPUTE_UNCHECKED or name in NOT_SUPPORTED


def _refusal(name: str) -> Builder:
    def parse(args: list[exp.Expression], dialect: object = None) -> exp.Expr:
        if maxcompute_built_in(name):
            raise UnsupportedSql(
                f"function {name} is a MaxCompute built-in function that trailhouse does not "
                "support yet (docs/sql-functions.md)",
                name,
            )
        raise UnsupportedSql(f"function or view {name} cannot be resolved", name)

    return parse


def only_checked(functions: dict[str, Builder], kept: frozenset[str]) -> dict[str, Builder]:
    """The parser's function builders with every name neither checked nor in `kept` (builders
    that already refuse by name) replaced by one refusing it."""
    checked = {
        name: build if name in CHECKED or name in kept or name in _READS_FILES else _refusal(name)
        for name, build in functions.items()
    }
    return {**checked, **FORMS}


def _rand(args: list[exp.Expression]) -> exp.Expr:
    if args:
        # MaxCompute's sequence for a seed cannot be reproduced by DuckDB or Spark.
        raise UnsupportedSql(
            "RAND with a seed is not supported: trailhouse cannot give MaxCompute's sequence "
            "of numbers for a seed; call RAND() without one",
            "RAND",
        )
    return exp.Rand()


def _nth_value(args: list[exp.Expression]) -> exp.Expr:
    arity("NTH_VALUE", args, 2, 3)
    if len(args) == 3:
        # sqlglot reads a third argument as FROM FIRST; MaxCompute's is skipNull, whose one
        # example on the window functions' page depends on a row order no query states.
        raise UnsupportedSql(
            "NTH_VALUE: skipNull (the third argument) is not supported; "
            "call NTH_VALUE(expr, number)",
            "NTH_VALUE",
        )
    return exp.NthValue(this=args[0], offset=args[1])


# Builders of checked functions whose other forms are refused.
FORMS: dict[str, Builder] = {"NTH_VALUE": _nth_value, "RAND": _rand}
