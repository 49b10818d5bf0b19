"""MaxCompute SQL as Spark SQL: the plan's tree rewritten where Spark's meaning differs.

The planner's tree holds sqlglot's canonical expressions of MaxCompute SQL. sqlglot's Spark
generator writes most of them as Spark means them; where it does not (datetime format letters,
DATEADD/DATEDIFF units, JSON paths, WEEKDAY, `/` and division by zero, LATERAL VIEW), the node is
rewritten first, so that Spark gives the results DuckDB gives. Pure functions of the tree: the
Spark engine (`spark.py`) runs what this module writes, and tests can check the text alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from trailhouse.warehouse.sql import json_type
from trailhouse.warehouse.sql.dialect import UnsupportedSql
from trailhouse.warehouse.sql.json_paths import JsonWildcard
from trailhouse.warehouse.sql.timezones import spark_convert

# strftime codes (as the MaxCompute dialect writes them) and the Java pattern letters that format
# them; parsing takes the one-letter forms, which accept one or two digits as DuckDB's strptime.
_JAVA_FORMAT = {
    "Y": "yyyy",
    "y": "yy",
    "m": "MM",
    "d": "dd",
    "H": "HH",
    "I": "hh",
    "M": "mm",
    "S": "ss",
    "f_three": "SSS",
    "f": "SSSSSS",
    "B": "MMMM",
    "b": "MMM",
    "A": "EEEE",
    "a": "EEE",
    "p": "a",
    "j": "DDD",
}
_JAVA_PARSE = {**_JAVA_FORMAT, "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s"}
_STRFTIME_CODE = re.compile(r"%(f_three|.)", re.DOTALL)

_UNIT_NAMES = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}


def _strftime_pieces(fmt: str) -> list[tuple[bool, str]]:
    """The format as (is_field, text) pieces: strftime codes and the literal text between."""
    pieces: list[tuple[bool, str]] = []
    position = 0
    for match in _STRFTIME_CODE.finditer(fmt):
        code = match.group(1)
        pieces.append((False, fmt[position : match.start()]))
        position = match.end()
        if code == "%":
            pieces.append((False, "%"))
        elif code in _JAVA_FORMAT:
            pieces.append((True, code))
        else:
            raise UnsupportedSql(f"datetime format {fmt!r}: %{code} has no Spark equivalent")
    pieces.append((False, fmt[position:]))
    merged: list[tuple[bool, str]] = []
    for is_field, text in pieces:
        if not is_field and merged and not merged[-1][0]:
            merged[-1] = (False, merged[-1][1] + text)
        elif is_field or text:
            merged.append((is_field, text))
    return merged


def strftime_to_java(fmt: str, *, parsing: bool = False) -> str:
    """The Java (Spark) datetime pattern of a strftime format; text is quoted literally.

    For parsing, a field between two literals takes its one-letter form, which accepts one or two
    digits as DuckDB's strptime does; next to another field it keeps its fixed width, or
    `yyyymmdd` could not be split.
    """
    pieces = _strftime_pieces(fmt)
    out: list[str] = []
    for index, (is_field, text) in enumerate(pieces):
        if not is_field:
            out.append("'" + text.replace("'", "''") + "'")
            continue
        before = pieces[index - 1][0] if index > 0 else False
        after = pieces[index + 1][0] if index + 1 < len(pieces) else False
        lenient = parsing and not before and not after
        out.append((_JAVA_PARSE if lenient else _JAVA_FORMAT)[text])
    return "".join(out)


def spark_json_path(path: str) -> str:
    """A JSONPath as the MaxCompute dialect writes it (`$."k"`), in Spark's syntax (`$['k']`)."""

    def bracket(match: re.Match[str]) -> str:
        key = match.group(1)
        if "'" in key or "]" in key:
            raise UnsupportedSql(f"GET_JSON_OBJECT: Spark cannot read the key {key!r}")
        return f"['{key}']"

    return re.sub(r'\."([^"]*)"', bracket, path)


def _function(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _unit_of(node: exp.Func) -> str:
    unit = node.args.get("unit")
    name = (unit.name if isinstance(unit, exp.Expression) else str(unit or "DAY")).upper()
    if name not in _UNIT_NAMES:
        raise UnsupportedSql(f"{node.sql_name()}: unsupported unit {name!r} on Spark")
    return name


def _string_literal(node: exp.Expression | None, what: str) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(f"{what} must be a string literal on Spark")
    return str(node.this)


def _time_to_str(node: exp.TimeToStr) -> exp.Expression:
    fmt = _string_literal(node.args.get("format"), "a datetime format")
    return _function("DATE_FORMAT", node.this, exp.Literal.string(strftime_to_java(fmt)))


def _str_to_time(node: exp.StrToTime) -> exp.Expression:
    fmt = _string_literal(node.args.get("format"), "a datetime format")
    pattern = exp.Literal.string(strftime_to_java(fmt, parsing=True))
    # TRY_: a string that does not match gives NULL (MaxCompute's TO_DATE), not an error.
    return _function(
        "TRY_TO_TIMESTAMP" if node.args.get("safe") else "TO_TIMESTAMP", node.this, pattern
    )


def _date_add(node: exp.DateAdd) -> exp.Expression:
    # Spark's DATE_ADD returns a DATE and counts days only; TIMESTAMPADD keeps the time and
    # clamps month ends (Jan 31 + 1 month = Feb 28/29) as DuckDB's interval arithmetic does.
    return _function("TIMESTAMPADD", exp.var(_unit_of(node)), node.expression, node.this)


def _date_diff(node: exp.DateDiff) -> exp.Expression:
    # MaxCompute drops the parts below the unit before subtracting (unit boundaries crossed);
    # Spark's TIMESTAMPDIFF counts whole units elapsed, so both ends are truncated first.
    unit = _unit_of(node)

    def truncated(side: exp.Expression) -> exp.Expression:
        return exp.TimestampTrunc(this=side, unit=exp.var(unit))

    return _function(
        "TIMESTAMPDIFF", exp.var(unit), truncated(node.expression), truncated(node.this)
    )


def _at_time_zone(node: exp.AtTimeZone) -> exp.Expression:
    # The dialect writes `<instant> AT TIME ZONE 'UTC'` for a naive UTC datetime; with the
    # session's time zone UTC, Spark's TIMESTAMP of that instant reads the same.
    zone = node.args.get("zone")
    inner = node.this
    is_utc = isinstance(zone, exp.Literal) and str(zone.this).upper() == "UTC"
    if not is_utc or not isinstance(inner, (exp.CurrentTimestamp, exp.UnixToTime)):
        raise UnsupportedSql(f"AT TIME ZONE is not supported on Spark: {node.sql()}")
    if isinstance(inner, exp.UnixToTime):
        if inner.args.get("scale") is not None or inner.args.get("format") is not None:
            raise UnsupportedSql("FROM_UNIXTIME with a scale or format is not supported on Spark")
        seconds = exp.cast(inner.this, exp.DataType.Type.DOUBLE)
        return _function("TIMESTAMP_SECONDS", seconds)
    return inner


def _time_to_unix(node: exp.TimeToUnix) -> exp.Expression:
    # Seconds with their fraction, as DuckDB's EPOCH: UNIX_TIMESTAMP would drop it, which rounds
    # times before 1970 the wrong way under the FLOOR the dialect puts around it.
    micros = _function("UNIX_MICROS", node.this)
    return exp.paren(exp.Div(this=micros, expression=exp.Literal.number(1_000_000)), copy=False)


def _json_extract(node: exp.JSONExtractScalar) -> exp.Expression:
    # Spark's GET_JSON_OBJECT gives NULL for invalid JSON already, as MaxCompute does.
    path = spark_json_path(_string_literal(node.expression, "a JSON path"))
    return _function("GET_JSON_OBJECT", _json_text(node.this), exp.Literal.string(path))


def _json_wildcard(node: JsonWildcard) -> exp.Expression:
    # Spark's GET_JSON_OBJECT reads `[*]` by Hive's rules, as MaxCompute's does.
    path = _string_literal(node.expression, "a JSON path")
    return _function("GET_JSON_OBJECT", _json_text(node.this), exp.Literal.string(path))


def _json_text(node: exp.Expression) -> exp.Expression:
    # GET_JSON_OBJECT of a JSON value (a VARIANT here) reads its text.
    return _function("TO_JSON", node) if json_type.spark_json_valued(node) else node


def _day_of_week_iso(node: exp.DayOfWeekIso) -> exp.Expression:
    # Spark's WEEKDAY counts from Monday = 0; ISO counts from Monday = 1.
    return exp.paren(_function("WEEKDAY", node.this) + 1, copy=False)


def _ts_or_ds_to_date(node: exp.TsOrDsToDate) -> exp.Expression:
    if node.args.get("format") is not None:
        raise UnsupportedSql("TO_DATE with a format is not supported here on Spark")
    target = exp.DataType.build("DATE")
    return (
        exp.TryCast(this=node.this, to=target, safe=True)
        if node.args.get("safe")
        else exp.cast(node.this, target)
    )


def _without_try(node: exp.Try) -> exp.Expression:
    # DuckDB needs TRY around a JSON extraction for invalid JSON; Spark does not.
    inner: exp.Expression = node.this
    return inner if isinstance(inner, exp.Anonymous) and inner.name == "GET_JSON_OBJECT" else node


def _divide(node: exp.Div) -> exp.Expression:
    # DuckDB's `/` gives a DOUBLE whatever the operands (Spark's: a DECIMAL for decimals, which
    # would reach JSON as text), and MaxCompute's division by zero gives NULL (Spark's: an error).
    if node.args.get("typed"):
        return node
    divisor = node.expression
    if node.args.get("safe"):
        divisor = exp.Nullif(this=divisor, expression=exp.Literal.number(0))
    dividend = exp.cast(node.this, exp.DataType.Type.DOUBLE)
    return exp.Div(this=dividend, expression=divisor)


# POSIX classes ([[:digit:]]) that MaxCompute's and DuckDB's regular expressions take, and Java's.
_POSIX_CLASS = re.compile(
    r"\[:(alnum|alpha|blank|cntrl|digit|graph|lower|print|punct|space|upper|xdigit):\]"
)
_JAVA_CLASS = {"xdigit": "XDigit"}


def java_pattern(pattern: str) -> str:
    """A regular expression as Java reads it: POSIX classes as \\p{Digit} and the like."""
    return _POSIX_CLASS.sub(
        lambda m: "\\p{" + _JAVA_CLASS.get(m.group(1), m.group(1).capitalize()) + "}", pattern
    )


def java_replacement(replacement: str) -> str:
    """A replacement as Java reads it: MaxCompute's \\1 as $1, a literal $ escaped."""
    out: list[str] = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        following = replacement[index + 1 : index + 2]
        if char == "\\" and following.isdigit():
            out.append("$" + following)
            index += 2
        elif char == "\\" and following:
            out.append("\\" + following)
            index += 2
        elif char == "$":
            out.append("\\$")
            index += 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _java_regex(node: exp.Expression) -> exp.Expression:
    pattern = node.args.get("expression")
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        node.set("expression", exp.Literal.string(java_pattern(str(pattern.this))))
    if isinstance(node, exp.RegexpReplace):
        replacement = node.args.get("replacement")
        if not (isinstance(replacement, exp.Literal) and replacement.is_string):
            raise UnsupportedSql(
                "REGEXP_REPLACE: the replacement must be a string constant on Spark",
                "REGEXP_REPLACE",
            )
        node.set("replacement", exp.Literal.string(java_replacement(str(replacement.this))))
    return node


def _initcap(node: exp.Initcap) -> exp.Expression:
    # MaxCompute's words are separated by spaces, as Spark's INITCAP separates them.
    delimiters = node.args.get("expression")
    if delimiters is not None and _string_literal(delimiters, "INITCAP delimiters") != " ":
        raise UnsupportedSql("INITCAP: only words separated by spaces are supported", "INITCAP")
    return _function("INITCAP", node.this)


def _map_size(node: exp.MapSize) -> exp.Expression:
    return _function("SIZE", node.this)


def _lateral(node: exp.Lateral) -> exp.Expression:
    # LATERAL VIEW JSON_TUPLE(t.event, 'k', 't') j AS k, t became a lateral subquery whose
    # columns are named like the view's. Spark resolves `t.event` in a later column against an
    # earlier column named `t` (a lateral column alias) before the outer table `t`: inside, the
    # columns get names nobody refers to, and the alias list outside names them as written.
    alias = node.args.get("alias")
    select = node.this.this if isinstance(node.this, exp.Subquery) else None
    if not isinstance(select, exp.Select) or not isinstance(alias, exp.TableAlias):
        return node
    if len(alias.columns) != len(select.expressions):
        return node
    for index, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias):
            projection.set("alias", exp.to_identifier(f"__c{index}"))
    return node


_REWRITES: dict[type[exp.Expr], Callable[[Any], exp.Expression]] = {
    exp.TimeToStr: _time_to_str,
    exp.StrToTime: _str_to_time,
    exp.DateAdd: _date_add,
    exp.DateDiff: _date_diff,
    exp.AtTimeZone: _at_time_zone,
    exp.ConvertTimezone: spark_convert,
    exp.TimeToUnix: _time_to_unix,
    exp.JSONExtractScalar: _json_extract,
    JsonWildcard: _json_wildcard,
    **dict.fromkeys(json_type.NODES, json_type.spark_sql),
    exp.DayOfWeekIso: _day_of_week_iso,
    exp.TsOrDsToDate: _ts_or_ds_to_date,
    exp.Try: _without_try,
    exp.Lateral: _lateral,
    exp.Initcap: _initcap,
    exp.MapSize: _map_size,
    exp.Div: _divide,
    exp.RegexpReplace: _java_regex,
    exp.RegexpExtract: _java_regex,
    exp.RegexpLike: _java_regex,
    exp.RegexpCount: _java_regex,
    exp.RegexpILike: _java_regex,
}


def to_spark_sql(tree: exp.Expr) -> str:
    """The plan's tree (MaxCompute canonical expressions) as Spark SQL with the same results."""
    translated = tree.copy()
    # Children before parents: a rewrite builds on the already rewritten arguments.
    for node in reversed(list(translated.walk(bfs=False))):
        rewrite = _REWRITES.get(type(node))
        if rewrite is None:
            continue
        replacement = rewrite(node)
        if replacement is not node:
            if node is translated:
                translated = replacement
            else:
                node.replace(replacement)
    try:
        return translated.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UnsupportedSql(f"cannot translate to Spark: {exc}") from exc
