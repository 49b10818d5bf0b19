"""A sqlglot dialect for MaxCompute SQL and its translation to DuckDB SQL with the same results.

Reading MaxCompute as Hive gives silently wrong answers (format tokens, 3-argument DATEDIFF), so
the MaxCompute functions are parsed here into sqlglot's canonical expressions. Datetimes are naive
and in UTC, the warehouse's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.hive import Hive
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
from sqlglot.helper import seq_get
from sqlglot.parsers.hive import HiveParser
from sqlglot.tokenizer_core import TokenType

from trailhouse.warehouse.sql import json_complex, json_type, timezones, udtf
from trailhouse.warehouse.sql.checked import FOREIGN_SYNTAX, maxcompute_built_in, only_checked
from trailhouse.warehouse.sql.conversions import apply_conversions
from trailhouse.warehouse.sql.diagnostics import ARGUMENT_TYPE, parse_failure, token_failure
from trailhouse.warehouse.sql.diagnostics import InvalidSql as InvalidSql
from trailhouse.warehouse.sql.diagnostics import UnsupportedSql as UnsupportedSql
from trailhouse.warehouse.sql.functions import (
    FUNCTIONS,
    arity,
    counted,
    datetime_of,
    is_date,
)
from trailhouse.warehouse.sql.json_paths import (
    JsonWildcard,
    duckdb_path,
    duckdb_wildcard,
    json_path_syntax,
    wildcard,
)

# What the lexer skips: string literals, quoted identifiers and comments.
_SKIPPED = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/", re.DOTALL
)
_PARENTHESES = re.compile(r"[()]")
# Hive's script operators: SELECT TRANSFORM / MAP / REDUCE ... USING 'command'.
_SCRIPT = re.compile(r"\bUSING\s*''", re.IGNORECASE)


def parentheses_deeper_than(sql: str, limit: int) -> bool:
    """True when the parentheses of `sql` (outside literals and comments) nest past `limit`."""
    if sql.count("(") <= limit:  # the common case: counted in C
        return False
    depth = 0
    for char in _PARENTHESES.findall(_SKIPPED.sub(" ", sql)):
        depth += 1 if char == "(" else -1
        if depth > limit:
            return True
    return False


def runs_a_script(sql: str) -> bool:
    """True for Hive's TRANSFORM / MAP / REDUCE ... USING 'command', which runs a program."""
    blanked = _SKIPPED.sub(lambda m: "''" if m.group().startswith(("'", '"')) else " ", sql)
    return _SCRIPT.search(blanked) is not None


# MaxCompute format tokens (matched case-insensitively, longest first) and their strftime twins.
_FORMAT_TOKENS = (
    ("yyyy", "%Y"),
    ("ff3", "%f_three"),  # sqlglot's name for milliseconds; DuckDB writes it as %g
    ("mm", "%m"),
    ("dd", "%d"),
    ("hh", "%H"),
    ("mi", "%M"),
    ("ss", "%S"),
)

# MaxCompute datepart names and the unit sqlglot generates.
_UNITS = {
    "yyyy": "YEAR",
    "year": "YEAR",
    "mm": "MONTH",
    "mon": "MONTH",
    "month": "MONTH",
    "dd": "DAY",
    "day": "DAY",
    "hh": "HOUR",
    "hour": "HOUR",
    "mi": "MINUTE",
    "ss": "SECOND",
}

# Java (SimpleDateFormat) letters that DATE_FORMAT takes, matched case-sensitively, longest first.
_JAVA_TOKENS = (
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("hh", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "%f_three"),
    ("EEEE", "%A"),
    ("EEE", "%a"),
    ("a", "%p"),
)


def _convert_format(pattern: str, tokens: tuple[tuple[str, str], ...], java: bool) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise UnsupportedSql(f"unterminated quoted literal in datetime format {pattern!r}")
            out.append(pattern[i + 1 : end].replace("%", "%%") if end > i + 1 else "'")
            i = end + 1
            continue
        for token, strftime in tokens:
            piece = pattern[i : i + len(token)]
            if (piece if java else piece.lower()) == token:
                out.append(strftime)
                i += len(token)
                break
        else:
            char = pattern[i]
            if java and char.isascii() and char.isalpha():
                # Java reads every unquoted letter as a field: a literal one would be a mistake.
                raise UnsupportedSql(f"unsupported letter {char!r} in datetime format {pattern!r}")
            out.append("%%" if char == "%" else char)
            i += 1
    return "".join(out)


def maxcompute_format_to_strftime(pattern: str) -> str:
    """Return the strftime format of a MaxCompute datetime pattern such as 'yyyy-mm-dd hh:mi:ss'.

    Tokens match case-insensitively; text between single quotes, and any character that starts
    no token, is kept literally.
    """
    return _convert_format(pattern, _FORMAT_TOKENS, java=False)


def java_format_to_strftime(pattern: str) -> str:
    """Return the strftime format of a Java DATE_FORMAT pattern such as "yyyy-MM-dd HH:mm:ss"."""
    return _convert_format(pattern, _JAVA_TOKENS, java=True)


def _name(node: exp.Expr) -> str:
    return node.sql_name() if isinstance(node, exp.Func) else type(node).__name__


_arity = arity


def _literal_text(name: str, what: str, node: exp.Expression | None) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(f"{name}: the {what} must be a string literal", name)
    return str(node.this)


def _unit(name: str, node: exp.Expression | None) -> exp.Var:
    text = _literal_text(name, "datepart", node).lower()
    if text not in _UNITS:
        raise UnsupportedSql(f"{name}: unsupported datepart {text!r}", name)
    return exp.var(_UNITS[text])


_datetime = datetime_of


def _utc(node: exp.Expression) -> exp.Expression:
    return exp.AtTimeZone(this=node, zone=exp.Literal.string("UTC"))


def _to_char(args: list[exp.Expression]) -> exp.Expression:
    _arity("TO_CHAR", args, 1, 2)
    if len(args) == 1:
        return exp.cast(args[0], exp.DataType.Type.VARCHAR)
    first = args[0].unnest()
    while isinstance(first, exp.Neg):
        first = first.this
    if (isinstance(first, exp.Literal) and not first.is_string) or isinstance(first, exp.Boolean):
        raise UnsupportedSql(
            "Invalid argument type - function TO_CHAR with a format takes a DATETIME (or a date "
            f"as STRING), not the number or boolean {first.sql()}; TO_CHAR({first.sql()}) gives "
            "its text",
            "TO_CHAR",
            ARGUMENT_TYPE,
        )
    fmt = maxcompute_format_to_strftime(_literal_text("TO_CHAR", "format", args[1]))
    return exp.TimeToStr(this=_datetime(args[0]), format=exp.Literal.string(fmt))


def _to_date(args: list[exp.Expression]) -> exp.Expression:
    _arity("TO_DATE", args, 1, 2)
    if len(args) == 1:
        return exp.TsOrDsToDate(this=args[0], safe=True)
    fmt = maxcompute_format_to_strftime(_literal_text("TO_DATE", "format", args[1]))
    # MaxCompute returns NULL, not an error, for a string that does not match the format.
    return exp.StrToTime(this=args[0], format=exp.Literal.string(fmt), safe=True)


def _date_format(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATE_FORMAT", args, 2, 2)
    fmt = java_format_to_strftime(_literal_text("DATE_FORMAT", "format", args[1]))
    return exp.TimeToStr(this=_datetime(args[0]), format=exp.Literal.string(fmt))


def _datetrunc(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATETRUNC", args, 2, 2)
    truncated = exp.TimestampTrunc(this=_datetime(args[0]), unit=_unit("DATETRUNC", args[1]))
    # Of a DATE, a DATE (MaxCompute returns the type it is given).
    return exp.cast(truncated, exp.DataType.Type.DATE) if is_date(args[0]) else truncated


def _dateadd(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATEADD", args, 3, 3)
    unit = _unit("DATEADD", args[2])
    # Of a DATE, a DATE (MaxCompute returns the type it is given); else a DATETIME.
    kind = exp.DataType.Type.DATE if is_date(args[0]) else exp.DataType.Type.TIMESTAMP
    return exp.cast(exp.DateAdd(this=_datetime(args[0]), expression=args[1], unit=unit), kind)


def _datediff(args: list[exp.Expression]) -> exp.Expression:
    _arity("DATEDIFF", args, 2, 3)
    # MaxCompute drops the parts below the unit before subtracting: DuckDB's DATE_DIFF counts
    # unit boundaries crossed, which is the same.
    unit = _unit("DATEDIFF", args[2]) if len(args) == 3 else exp.var("DAY")
    return exp.DateDiff(
        this=_datetime(args[0]), expression=_datetime(args[1]), unit=unit, big_int=True
    )


def _getdate(args: list[exp.Expression]) -> exp.Expression:
    _arity("GETDATE", args, 0, 0)
    return timezones.now()  # in the job's time zone


def _current_timezone(args: list[exp.Expression]) -> exp.Expression:
    _arity("CURRENT_TIMEZONE", args, 0, 0)
    return timezones.job_zone()


def _weekday(args: list[exp.Expression]) -> exp.Expression:
    _arity("WEEKDAY", args, 1, 1)
    monday_first = exp.paren(exp.DayOfWeekIso(this=_datetime(args[0])) - 1, copy=False)
    return exp.cast(monday_first, exp.DataType.Type.BIGINT)  # a BIGINT, as its page says


def _from_unixtime(args: list[exp.Expression]) -> exp.Expression:
    _arity("FROM_UNIXTIME", args, 1, 1)
    return timezones.local_time(_utc(exp.UnixToTime(this=args[0])))


def _unix_timestamp(args: list[exp.Expression]) -> exp.Expression:
    _arity("UNIX_TIMESTAMP", args, 0, 1)
    # A datetime is read in the job's time zone.
    this = timezones.utc_time(_datetime(args[0])) if args else _utc(exp.CurrentTimestamp())
    # FLOOR: the fraction of a second is dropped, where a plain cast would round it.
    return exp.cast(exp.Floor(this=exp.TimeToUnix(this=this)), exp.DataType.Type.BIGINT)


def _get_json_object(args: list[exp.Expression]) -> exp.Expression:
    _arity("GET_JSON_OBJECT", args, 2, 2)
    path = _literal_text("GET_JSON_OBJECT", "path", args[1])
    if not path.startswith("$"):
        raise UnsupportedSql(f"GET_JSON_OBJECT: the path must start with '$', got {path!r}")
    if path[1:2] not in ("", ".", "["):
        # `$invalid_json_path`: MaxCompute's page says an invalid path gives NULL (DuckDB would
        # raise its own error, Spark gives NULL).
        return exp.cast(exp.null(), exp.DataType.Type.VARCHAR)
    if not json_path_syntax(path):
        raise UnsupportedSql(
            f"GET_JSON_OBJECT: unsupported JSON path {path!r}; trailhouse reads $ then .key, "
            "['key'], [n] and [*] steps",
            "GET_JSON_OBJECT",
        )
    if "*" in path:
        return wildcard(args[0], path)
    path = duckdb_path(path)
    return exp.JSONExtractScalar(this=args[0], expression=exp.Literal.string(path))


def _concat_ws(args: list[exp.Expression]) -> exp.Expression:
    if len(args) < 3:
        raise UnsupportedSql("CONCAT_WS takes a separator and at least two strings")
    # coalesce=False: MaxCompute returns NULL when any input is NULL, and sqlglot writes the
    # NULL check for targets whose CONCAT_WS skips NULLs (DuckDB).
    return exp.ConcatWs(expressions=list(args), coalesce=False)


def _regexp_extract(args: list[exp.Expression]) -> exp.Expression:
    _arity("REGEXP_EXTRACT", args, 2, 3)
    group = seq_get(args, 2) or exp.Literal.number(1)
    return exp.RegexpExtract(this=args[0], expression=args[1], group=group)


def _wm_concat(args: list[exp.Expression]) -> exp.Expression:
    _arity("WM_CONCAT", args, 2, 2)
    return exp.GroupConcat(this=args[1], separator=args[0])


def _not_run_yet(name: str) -> Callable[..., exp.Expr | None]:
    """A parser of a MaxCompute built-in's own syntax that refuses it by name."""

    def refuse(parser: object) -> exp.Expr | None:
        raise UnsupportedSql(
            f"function {name} is a MaxCompute built-in function that trailhouse does not "
            "support yet (docs/sql-functions.md)",
            name,
        )

    return refuse


def _in_parentheses(
    build: Callable[[list[exp.Expression]], exp.Expression],
) -> Callable[..., exp.Expr]:
    """The builder, its result in parentheses: sqlglot checks a function's argument count
    against the expression a builder returns, which here is not the function called."""

    def parse(args: list[exp.Expression]) -> exp.Expr:
        return exp.paren(build(args), copy=False)

    return parse


class MaxCompute(Hive):
    """MaxCompute SQL: Hive syntax with MaxCompute's own date functions and format tokens."""

    class Parser(HiveParser):
        """Parses MaxCompute's functions into sqlglot's canonical expressions."""

        FUNCTIONS: ClassVar[dict[str, Callable[..., exp.Expr]]] = only_checked(
            {
                **HiveParser.FUNCTIONS,
                **counted(HiveParser.FUNCTIONS),
                **FUNCTIONS,
                "CONCAT_WS": _concat_ws,
                "DATEADD": _dateadd,
                "DATE_FORMAT": _date_format,
                "DATEDIFF": _datediff,
                "CURRENT_TIMEZONE": _current_timezone,
                "DATETRUNC": _datetrunc,
                "FROM_UNIXTIME": _from_unixtime,
                "GETDATE": _getdate,
                "GET_JSON_OBJECT": _get_json_object,
                "REGEXP_EXTRACT": _regexp_extract,
                "TO_CHAR": _to_char,
                "TO_DATE": _to_date,
                "UNIX_TIMESTAMP": _unix_timestamp,
                "WEEKDAY": _weekday,
                "WM_CONCAT": _wm_concat,
                **{name: _in_parentheses(build) for name, build in json_type.BUILDERS.items()},
                **{name: _in_parentheses(build) for name, build in json_complex.BUILDERS.items()},
            },
            frozenset(FUNCTIONS) | frozenset(json_type.BUILDERS) | frozenset(json_complex.BUILDERS),
        )
        # Only MaxCompute's own syntax: other dialects' (POSITION(a IN b), STRING_AGG, …) is
        # read as a plain call, and refused by name.
        FUNCTION_PARSERS: ClassVar[dict[str, Callable[..., exp.Expr | None]]] = {
            **{
                name: parse
                for name, parse in HiveParser.FUNCTION_PARSERS.items()
                if name not in FOREIGN_SYNTAX and name not in json_type.BUILDERS
            },
            # MaxCompute's EXTRACT(part FROM datetime), not checked yet: refused by name.
            "EXTRACT": _not_run_yet("EXTRACT"),
        }
        # CURRENT_DATE and CURRENT_TIMESTAMP without parentheses; CURRENT_USER and the like are
        # no MaxCompute functions (DuckDB would answer its own user).
        NO_PAREN_FUNCTIONS: ClassVar[dict[TokenType, type[exp.Func]]] = {
            token: kind
            for token, kind in HiveParser.NO_PAREN_FUNCTIONS.items()
            if token in (TokenType.CURRENT_DATE, TokenType.CURRENT_TIMESTAMP)
        }


def _json_tuple_join(lateral: exp.Lateral) -> exp.Join:
    """LATERAL VIEW JSON_TUPLE(json, 'k1', ...) t AS c1, ... as a join of one computed row."""
    func = lateral.this
    args = list(func.expressions)
    alias = lateral.args.get("alias")
    columns = list(alias.columns) if isinstance(alias, exp.TableAlias) else []
    if len(args) < 2:
        raise UnsupportedSql("JSON_TUPLE takes a JSON string and at least one key")
    if len(columns) != len(args) - 1:
        raise UnsupportedSql(
            f"LATERAL VIEW JSON_TUPLE needs one column name per key: {len(args) - 1} keys, "
            f"{len(columns)} names"
        )
    values = _json_tuple_values(args, columns)
    row = exp.Lateral(this=exp.Subquery(this=exp.select(*values)), alias=alias)
    return exp.Join(this=row, kind="CROSS")


def _json_tuple_values(
    args: list[exp.Expression], names: list[exp.Identifier]
) -> list[exp.Expression]:
    """One GET_JSON_OBJECT(json, '$.key') per key of JSON_TUPLE(json, key, ...), named.

    A key is a path without its `$` (`Class1.Student`, `['a.b'].c`, `a[0]`), read as
    GET_JSON_OBJECT reads `$.` + key, as MaxCompute's page says; a key that starts with `$`, or
    an empty one, gives NULL, as the page says of an invalid key."""
    values: list[exp.Expression] = []
    for key, name in zip(args[1:], names, strict=True):
        text = _literal_text("JSON_TUPLE", "key", key)
        call: exp.Expression
        if not text or text.startswith("$"):
            call = exp.cast(exp.null(), exp.DataType.Type.VARCHAR)
        elif "." not in text and "[" not in text:
            # One key: quoted, so that any character but `"` reads as part of it.
            if '"' in text:
                raise UnsupportedSql(f"JSON_TUPLE: unsupported key {text!r}", "JSON_TUPLE")
            path = exp.Literal.string(f'$."{text}"')
            call = exp.JSONExtractScalar(this=args[0].copy(), expression=path)
        else:
            path_text = "$" + text if text.startswith("[") else "$." + text
            if not json_path_syntax(path_text):
                raise UnsupportedSql(f"JSON_TUPLE: unsupported key {text!r}", "JSON_TUPLE")
            call = _get_json_object([args[0].copy(), exp.Literal.string(path_text)])
        values.append(exp.Alias(this=call, alias=name.copy()))
    return values


def _is_json_tuple(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() == "JSON_TUPLE"


def _rewrite_select_json_tuples(tree: exp.Expr) -> None:
    """SELECT JSON_TUPLE(json, 'k1', 'k2') [AS (c1, c2)]: one column per key (c0, c1, … when
    not named), as the LATERAL VIEW form gives them."""
    for select in list(tree.find_all(exp.Select)):
        projections = list(select.expressions)
        calls = [
            p for p in projections if _is_json_tuple(p.this if isinstance(p, exp.Aliases) else p)
        ]
        if not calls:
            continue
        if len(projections) != 1:
            raise UnsupportedSql(
                "JSON_TUPLE in the select list must be the only expression there; "
                "use LATERAL VIEW JSON_TUPLE to select other columns with it",
                "JSON_TUPLE",
            )
        call = calls[0]
        func = call.this if isinstance(call, exp.Aliases) else call
        args = list(func.expressions)
        if len(args) < 2:
            raise UnsupportedSql(
                "JSON_TUPLE takes a JSON string and at least one key", "JSON_TUPLE"
            )
        if isinstance(call, exp.Aliases):
            names = list(call.expressions)
            if len(names) != len(args) - 1:
                raise UnsupportedSql(
                    f"JSON_TUPLE needs one column name per key: {len(args) - 1} keys, "
                    f"{len(names)} names",
                    "JSON_TUPLE",
                )
        else:
            names = [exp.to_identifier(f"c{i}") for i in range(len(args) - 1)]
        select.set("expressions", _json_tuple_values(args, names))


def _rewrite_lateral_views(tree: exp.Expr) -> None:
    for select in list(tree.find_all(exp.Select)):
        laterals = select.args.get("laterals") or []
        kept = []  # EXPLODE and POSEXPLODE stay views (udtf.py)
        for lateral in laterals:
            func = lateral.this
            if isinstance(func, (exp.Explode, exp.Posexplode)):
                kept.append(lateral)
                continue
            if not (isinstance(func, exp.Anonymous) and str(func.this).upper() == "JSON_TUPLE"):
                name = str(func.this).upper() if isinstance(func, exp.Anonymous) else _name(func)
                raise UnsupportedSql(f"unsupported LATERAL VIEW {name.upper()}")
            select.append("joins", _json_tuple_join(lateral))
        select.set("laterals", kept or None)


def parse(sql: str) -> exp.Query:
    """Parse one MaxCompute SELECT statement; raise UnsupportedSql for anything else."""
    return query_of(parse_statements(sql))


def parse_statements(sql: str) -> list[exp.Expr]:
    """Every statement of the text, as sqlglot reads MaxCompute; InvalidSql when it cannot."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=MaxCompute) if s is not None]
    except UnsupportedSql:
        raise
    except ParseError as exc:
        raise InvalidSql(parse_failure(exc, sql)) from exc
    except TokenError as exc:
        raise InvalidSql(token_failure(exc, sql)) from exc
    for statement in statements:
        if any(not select.expressions for select in statement.find_all(exp.Select)):
            raise InvalidSql(empty_select_failure(sql))
    return statements


def empty_select_failure(sql: str) -> str:
    """`SELECT FROM t` (sqlglot reads a SELECT with nothing to select) as MaxCompute's parse
    exception, pointing at the token after the first such SELECT."""
    tokens = MaxCompute().tokenize(sql)
    for token, after in zip(tokens, [*tokens[1:], None], strict=True):
        if token.token_type != TokenType.SELECT:
            continue
        if after is not None and after.token_type not in _ENDS_SELECT:
            continue
        where = after.start if after is not None else len(sql)
        before = sql[:where]
        line, column = before.count("\n") + 1, where - (before.rfind("\n") + 1) + 1
        found = f"'{after.text}'" if after is not None else "the end of the statement"
        return (
            f"[{line},{column}] Parse exception - SELECT needs at least one expression to "
            f"select, found {found}"
        )
    return "Parse exception - SELECT needs at least one expression to select"


# What may follow a SELECT that selects nothing.
_ENDS_SELECT = frozenset(
    {
        TokenType.FROM,
        TokenType.WHERE,
        TokenType.GROUP_BY,
        TokenType.ORDER_BY,
        TokenType.LIMIT,
        TokenType.R_PAREN,
        TokenType.SEMICOLON,
        TokenType.UNION,
    }
)


# Functions sqlglot knows that read files: refused by name (DuckDB's sandbox refuses them too).
_READS_FILES = (exp.ReadCSV, exp.ReadParquet)


def query_of(statements: list[exp.Expr]) -> exp.Query:
    """The one SELECT statement, ready to translate; UnsupportedSql for anything else."""
    if len(statements) != 1:
        raise UnsupportedSql(f"expected one statement, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        kind = tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper()
        raise UnsupportedSql(f"only SELECT statements are supported, not {kind}")
    udtf.prepare(tree)
    _rewrite_lateral_views(tree)
    _rewrite_select_json_tuples(tree)
    json_type.prepare(tree)
    apply_conversions(tree)
    for select in tree.find_all(exp.Select):
        # Optimizer hints (/*+ MAPJOIN(a) */) change how MaxCompute runs a query, never its
        # answer: they are dropped, not read as function calls.
        select.set("hint", None)
    for node in tree.walk():
        if isinstance(node, exp.QueryTransform):
            raise UnsupportedSql(
                "TRANSFORM ... USING runs an external script, which trailhouse does not support"
            )
        if isinstance(node, exp.Transform):
            # TRANSFORM(array, lambda): read by sqlglot's own parser, not the function table.
            raise UnsupportedSql(
                "function TRANSFORM is a MaxCompute built-in function that trailhouse does not "
                "support yet (docs/sql-functions.md)",
                "TRANSFORM",
            )
        if isinstance(node, _READS_FILES):
            raise UnsupportedSql(
                f"{_name(node).upper()} reads files, which trailhouse SQL does not allow; "
                "query the project's tables by name"
            )
        if isinstance(node, exp.Anonymous):
            name = str(node.this)
            if maxcompute_built_in(name.upper()):
                raise UnsupportedSql(
                    f"function {name.upper()} is a MaxCompute built-in function that trailhouse "
                    "does not support yet (docs/sql-functions.md)",
                    name,
                )
            raise UnsupportedSql(f"function or view {name.upper()} cannot be resolved", name)
        if isinstance(node, (exp.DML, exp.DDL, exp.Command)):
            raise UnsupportedSql(f"unsupported statement {_name(node).upper()} inside the query")
    return tree


def null_on_invalid_json(node: exp.Expr) -> exp.Expr:
    # MaxCompute gives NULL for invalid JSON where DuckDB raises; TRY costs nothing measurable.
    if isinstance(node, exp.JSONExtractScalar) and not isinstance(node.parent, exp.Try):
        return exp.Try(this=node)
    if isinstance(node, JsonWildcard):
        return duckdb_wildcard(node)
    return node


def to_duckdb(sql: str) -> str:
    """Translate one MaxCompute SELECT statement into DuckDB SQL that gives the same results."""
    lowered = json_type.lower_for_duckdb(parse(sql))
    tree = timezones.lower_for_duckdb(lowered.transform(null_on_invalid_json, copy=False))
    try:
        return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UnsupportedSql(f"cannot translate to DuckDB: {exc}") from exc
