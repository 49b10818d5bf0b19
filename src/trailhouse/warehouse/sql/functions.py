"""MaxCompute string and date functions whose meaning sqlglot's Hive reading gets wrong, parsed
into expressions that DuckDB and Spark both answer as MaxCompute documents them.

SPLIT_PART with an end part, REGEXP_REPLACE with an occurrence, INSTR with a start and an
occurrence, DATE_ADD/DATE_SUB/ADD_MONTHS and DATEADD/DATETRUNC of a DATE. A form that cannot be
answered exactly is refused naming the function and the argument (docs/sql-functions.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.helper import seq_get

from trailhouse.warehouse.sql.diagnostics import ARGUMENT_COUNT, ARGUMENT_TYPE, UnsupportedSql

# How many parts SPLIT_PART joins, and which occurrence INSTR finds, at most (each is spelled out).
MAX_PARTS = 100

_TIMESTAMP_PRODUCERS = (exp.StrToTime, exp.TimestampTrunc, exp.AtTimeZone, exp.ConvertTimezone)


def arity(name: str, args: list[exp.Expression], lo: int, hi: int) -> None:
    """Refuse a call with a wrong number of arguments, as MaxCompute's ODPS-0130221 says it."""
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise UnsupportedSql(
            f"Invalid number of arguments - function {name} needs {want} parameters, "
            f"actually have {len(args)}",
            name,
            ARGUMENT_COUNT,
        )


def is_date(node: exp.Expression) -> bool:
    """Whether the expression is of MaxCompute's DATE type (as written: TO_DATE(s), a cast to
    DATE, DATE_ADD, DATE_SUB, CURRENT_DATE)."""
    if isinstance(node, (exp.TsOrDsToDate, exp.CurrentDate)):
        return True
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return bool(node.to.this == exp.DataType.Type.DATE)
    return False


def datetime_of(node: exp.Expression) -> exp.Expression:
    """MaxCompute converts 'yyyy-mm-dd hh:mi:ss' strings to DATETIME implicitly; DuckDB does not."""
    if isinstance(node, _TIMESTAMP_PRODUCERS):
        return node
    return exp.cast(node, exp.DataType.Type.TIMESTAMP)


def _as_date(node: exp.Expression) -> exp.Expression:
    return exp.cast(node, exp.DataType.Type.DATE)


def _constant_int(name: str, what: str, node: exp.Expression) -> int | None:
    """The value of an integer literal argument (None for NULL); refused when not a constant."""
    if isinstance(node, exp.Null):
        return None
    negative = isinstance(node, exp.Neg)
    literal = node.this if negative else node
    if not isinstance(literal, exp.Literal) or literal.is_string:
        raise UnsupportedSql(f"{name}: the {what} must be an integer constant", name)
    try:
        value = int(str(literal.this))
    except ValueError:
        raise UnsupportedSql(f"{name}: the {what} must be an integer constant", name) from None
    return -value if negative else value


def _null(kind: str) -> exp.Expression:
    return exp.cast(exp.null(), exp.DataType.build(kind))


def _split(args: list[exp.Expression]) -> exp.Expression:
    """SPLIT(source, delimiter[, trimTailEmpty]): trailing empty strings are dropped unless
    trimTailEmpty is FALSE, as Java's String.split (MaxCompute's page: SPLIT('a,b,c,,', ',') is
    ["a","b","c"]); DuckDB and Spark keep them."""
    arity("SPLIT", args, 2, 3)
    source, delimiter = args[0], args[1]
    if len(args) == 3:
        if not isinstance(args[2], exp.Boolean):
            raise UnsupportedSql("SPLIT: trimTailEmpty must be TRUE or FALSE", "SPLIT")
        if not args[2].this:
            return exp.RegexpSplit(this=source, expression=delimiter)
    # The trailing run of delimiters is cut before splitting; a source that is nothing but
    # delimiters splits into no strings at all, as in Java.
    tail = exp.Concat(
        expressions=[exp.Literal.string("(?:"), delimiter.copy(), exp.Literal.string(")+$")],
        safe=True,
        coalesce=False,
    )
    trimmed = exp.RegexpReplace(
        this=source.copy(), expression=tail, replacement=exp.Literal.string("")
    )
    parts = exp.RegexpSplit(this=trimmed, expression=delimiter.copy())
    none = exp.ArrayFilter(
        this=parts.copy(),
        expression=exp.Lambda(this=exp.false(), expressions=[exp.to_identifier("__p")]),
    )
    only_delimiters = exp.and_(
        exp.EQ(this=trimmed.copy(), expression=exp.Literal.string("")),
        exp.NEQ(this=source.copy(), expression=exp.Literal.string("")),
    )
    return exp.Case(ifs=[exp.If(this=only_delimiters, true=none)], default=parts)


def _split_part(args: list[exp.Expression]) -> exp.Expression:
    arity("SPLIT_PART", args, 3, 4)
    text, separator = args[0], args[1]
    if not isinstance(separator, exp.Literal) or not separator.is_string:
        raise UnsupportedSql("SPLIT_PART: the separator must be a string constant", "SPLIT_PART")
    start = _constant_int("SPLIT_PART", "start", args[2])
    end = _constant_int("SPLIT_PART", "end", args[3]) if len(args) == 4 else start
    if start is None or end is None:
        return _null("VARCHAR")
    if start < 1:
        raise UnsupportedSql(f"SPLIT_PART: start must be 1 or more, got {start}", "SPLIT_PART")
    if end < start:
        raise UnsupportedSql(
            f"SPLIT_PART: end ({end}) must not be less than start ({start})", "SPLIT_PART"
        )
    if not str(separator.this):  # MaxCompute: an empty separator returns the string itself
        return exp.cast(text, exp.DataType.Type.VARCHAR)
    if end - start + 1 > MAX_PARTS:
        raise UnsupportedSql(
            f"SPLIT_PART: at most {MAX_PARTS} parts at once (start {start}, end {end})",
            "SPLIT_PART",
        )
    if start == end:
        return exp.SplitPart(this=text, delimiter=separator, part_index=exp.Literal.number(start))
    # The parts start..end joined by the separator; parts past the last one are left out.
    count = _occurrences(text, separator)
    joined: exp.Expression = exp.SplitPart(
        this=text.copy(), delimiter=separator.copy(), part_index=exp.Literal.number(start)
    )
    for index in range(start + 1, end + 1):
        part = exp.SplitPart(
            this=text.copy(), delimiter=separator.copy(), part_index=exp.Literal.number(index)
        )
        exists = exp.GTE(this=count.copy(), expression=exp.Literal.number(index - 1))
        piece = exp.If(
            this=exists,
            true=exp.DPipe(this=separator.copy(), expression=part),
            false=exp.Literal.string(""),
        )
        joined = exp.DPipe(this=joined, expression=piece)
    return joined


def _occurrences(text: exp.Expression, needle: exp.Expression) -> exp.Expression:
    """How many times `needle` (not empty) occurs in `text`, without overlaps."""
    removed = exp.Replace(
        this=text.copy(), expression=needle.copy(), replacement=exp.Literal.string("")
    )
    shorter = exp.Sub(this=exp.Length(this=text.copy()), expression=exp.Length(this=removed))
    return exp.IntDiv(
        this=exp.paren(shorter, copy=False), expression=exp.Length(this=needle.copy())
    )


def _instr(args: list[exp.Expression]) -> exp.Expression:
    arity("INSTR", args, 2, 4)
    text, needle = args[0], args[1]
    if len(args) == 2:
        return exp.StrPosition(this=text, substr=needle)
    start = _constant_int("INSTR", "start_position", args[2])
    nth = _constant_int("INSTR", "nth_appearance", args[3]) if len(args) == 4 else 1
    if start is None or nth is None:
        return _null("BIGINT")
    if start < 1:
        raise UnsupportedSql(
            f"INSTR: a start_position of {start} (searching from the end) is not supported; "
            "use 1 or more",
            "INSTR",
        )
    if nth < 1:
        raise UnsupportedSql(f"INSTR: nth_appearance must be 1 or more, got {nth}", "INSTR")
    if nth > MAX_PARTS:
        raise UnsupportedSql(f"INSTR: nth_appearance is at most {MAX_PARTS}", "INSTR")
    if isinstance(needle, exp.Literal) and needle.is_string and not str(needle.this):
        # An empty string is found at once, where the search starts.
        return exp.If(
            this=exp.Is(this=text, expression=exp.null()),
            true=exp.null(),
            false=exp.Literal.number(start),
        )
    rest = exp.Substring(this=text, start=exp.Literal.number(start))
    # Where the nth occurrence starts: the length of the first nth parts and the nth - 1
    # separators between them, plus one.
    before: exp.Expression = exp.Literal.number(start)
    for index in range(1, nth + 1):
        part = exp.SplitPart(
            this=rest.copy(), delimiter=needle.copy(), part_index=exp.Literal.number(index)
        )
        before = exp.Add(this=before, expression=exp.Length(this=part))
    gaps = exp.Mul(this=exp.Literal.number(nth - 1), expression=exp.Length(this=needle.copy()))
    found = exp.GTE(this=_occurrences(rest, needle), expression=exp.Literal.number(nth))
    position = exp.cast(exp.Add(this=before, expression=gaps), exp.DataType.Type.BIGINT)
    return exp.If(this=found, true=position, false=exp.Literal.number(0))


# A group of a regular expression: an unescaped `(` not followed by `?`, outside [...].
_GROUP = re.compile(r"\\.|\[(?:\\.|[^\]])*\]|\((?!\?)")
_BACKREF = re.compile(r"\\(\\|\d)")


def _groups(pattern: str) -> int:
    return sum(1 for match in _GROUP.finditer(pattern) if match.group() == "(")


def _regexp_replace(args: list[exp.Expression]) -> exp.Expression:
    arity("REGEXP_REPLACE", args, 3, 4)
    text, pattern, replacement = args[0], args[1], args[2]
    occurrence = _constant_int("REGEXP_REPLACE", "occurrence", args[3]) if len(args) == 4 else 0
    if occurrence is None:
        return _null("VARCHAR")
    if occurrence < 0:
        raise UnsupportedSql(
            f"REGEXP_REPLACE: occurrence must be 0 (every match) or more, got {occurrence}",
            "REGEXP_REPLACE",
        )
    if occurrence == 0:
        return exp.RegexpReplace(this=text, expression=pattern, replacement=replacement)
    if not (isinstance(pattern, exp.Literal) and pattern.is_string) or not (
        isinstance(replacement, exp.Literal) and replacement.is_string
    ):
        raise UnsupportedSql(
            "REGEXP_REPLACE with an occurrence needs a constant pattern and replacement",
            "REGEXP_REPLACE",
        )
    # Only the nth match: a pattern anchored at the start that skips n - 1 matches lazily into
    # group 1, whose text the replacement puts back, then the match itself as a group; the
    # replacement's references move to that group and to its own groups after it.
    source = str(pattern.this)
    skipped = f"(?:.*?(?:{source})){{{occurrence - 1}}}" if occurrence > 1 else ""
    anchored = f"(?s)^({skipped}.*?)({source})"
    whole = 2 + (_groups(source) if occurrence > 1 else 0)

    def moved(match: re.Match[str]) -> str:
        ref = match.group(1)
        return "\\\\" if ref == "\\" else f"\\{whole + int(ref)}"

    rewritten = "\\1" + _BACKREF.sub(moved, str(replacement.this))
    return exp.RegexpReplace(
        this=text,
        expression=exp.Literal.string(anchored),
        replacement=exp.Literal.string(rewritten),
    )


def _days(name: str, sign: int) -> Callable[[list[exp.Expression]], exp.Expression]:
    def parse(args: list[exp.Expression]) -> exp.Expression:
        arity(name, args, 2, 2)
        delta = args[1] if sign > 0 else exp.Neg(this=exp.paren(args[1], copy=False))
        added = exp.DateAdd(this=datetime_of(args[0]), expression=delta, unit=exp.var("DAY"))
        return _as_date(added)

    return parse


def _add_months(args: list[exp.Expression]) -> exp.Expression:
    arity("ADD_MONTHS", args, 2, 2)
    # A string that is not a date gives NULL (TRY_CAST), as documented.
    start = (
        args[0]
        if is_date(args[0])
        else exp.TryCast(this=args[0], to=exp.DataType.build("TIMESTAMP"), safe=True)
    )
    added = exp.DateAdd(this=start, expression=args[1], unit=exp.var("MONTH"))
    return exp.TimeToStr(this=added, format=exp.Literal.string("%Y-%m-%d"))


def _lastday(args: list[exp.Expression]) -> exp.Expression:
    arity("LASTDAY", args, 1, 1)
    # The month's last day at 00:00:00, a DATETIME.
    return exp.cast(exp.LastDay(this=datetime_of(args[0])), exp.DataType.Type.TIMESTAMP)


def _case(name: str, kind: type[exp.Lower] | type[exp.Upper]) -> Callable[..., exp.Expression]:
    def parse(args: list[exp.Expression]) -> exp.Expression:
        arity(name, args, 1, 1)
        return kind(this=args[0])

    return parse


def _instant(node: exp.Expression) -> exp.Expression:
    """A date or datetime argument; a string is read as one, NULL when it is not a date."""
    if is_date(node) or isinstance(node, (*_TIMESTAMP_PRODUCERS, exp.CurrentTimestamp)):
        return node
    if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.this == exp.DataType.Type.TIMESTAMP:
        return node
    return exp.TryCast(this=node, to=exp.DataType.build("TIMESTAMP"), safe=True)


def _dayofweek(args: list[exp.Expression]) -> exp.Expression:
    arity("DAYOFWEEK", args, 1, 1)
    # 1 = Sunday … 7 = Saturday, from ISO's 1 = Monday … 7 = Sunday.
    iso = exp.DayOfWeekIso(this=_instant(args[0]))
    sunday_first = exp.Mod(this=iso, expression=exp.Literal.number(7))
    day = exp.Add(this=exp.paren(sunday_first, copy=False), expression=exp.Literal.number(1))
    return exp.cast(day, exp.DataType.Type.INT)  # an INT, as its page's signature says


def _last_day(args: list[exp.Expression]) -> exp.Expression:
    arity("LAST_DAY", args, 1, 1)
    # A 'yyyy-mm-dd' STRING, of a date, a datetime or a string that is one (else NULL).
    day = exp.LastDay(this=_instant(args[0]))
    return exp.TimeToStr(this=day, format=exp.Literal.string("%Y-%m-%d"))


def _part(unit: str, node: exp.Expression) -> exp.Expression:
    return exp.Extract(this=exp.var(unit), expression=node.copy())


def _months_between(args: list[exp.Expression]) -> exp.Expression:
    arity("MONTHS_BETWEEN", args, 2, 2)
    # Whole months when both days are the same day of the month or both months' last days;
    # else the months apart plus the day and time difference over 31 days, as MaxCompute
    # computes it (DuckDB and Spark each count the fraction differently).
    end, start = _instant(args[0]), _instant(args[1])
    months = exp.Add(
        this=exp.Mul(
            this=exp.paren(
                exp.Sub(this=_part("YEAR", end), expression=_part("YEAR", start)), copy=False
            ),
            expression=exp.Literal.number(12),
        ),
        expression=exp.paren(
            exp.Sub(this=_part("MONTH", end), expression=_part("MONTH", start)), copy=False
        ),
    )

    def seconds(node: exp.Expression) -> exp.Expression:
        return exp.paren(
            exp.Add(
                this=exp.Add(
                    this=exp.Mul(this=_part("HOUR", node), expression=exp.Literal.number(3600)),
                    expression=exp.Mul(
                        this=_part("MINUTE", node), expression=exp.Literal.number(60)
                    ),
                ),
                expression=exp.cast(_part("SECOND", node), exp.DataType.Type.BIGINT),
            ),
            copy=False,
        )

    def last_day(node: exp.Expression) -> exp.Expression:
        return exp.EQ(
            this=exp.cast(exp.LastDay(this=node.copy()), exp.DataType.Type.DATE),
            expression=exp.cast(node.copy(), exp.DataType.Type.DATE),
        )

    days = exp.paren(exp.Sub(this=_part("DAY", end), expression=_part("DAY", start)), copy=False)
    fraction = exp.Div(
        this=exp.paren(
            exp.Add(
                this=exp.Mul(this=days, expression=exp.Literal.number(86400)),
                expression=exp.paren(
                    exp.Sub(this=seconds(end), expression=seconds(start)), copy=False
                ),
            ),
            copy=False,
        ),
        expression=exp.Literal.number(31 * 86400),
    )
    whole = exp.or_(
        exp.EQ(this=_part("DAY", end), expression=_part("DAY", start)),
        exp.and_(last_day(end), last_day(start)),
    )
    double = exp.DataType.Type.DOUBLE
    return exp.If(
        this=whole,
        true=exp.cast(months, double),
        false=exp.Add(this=exp.cast(months.copy(), double), expression=fraction),
    )


def _regexp_count(args: list[exp.Expression]) -> exp.Expression:
    arity("REGEXP_COUNT", args, 2, 3)
    source = args[0]
    if len(args) == 3:  # from start_position on (Spark's REGEXP_COUNT has no third argument)
        source = exp.Substring(this=source, start=args[2])
    return exp.RegexpCount(this=source, expression=args[1])


def _locate(args: list[exp.Expression]) -> exp.Expression:
    arity("LOCATE", args, 2, 3)
    found = exp.StrPosition(this=args[1], substr=args[0], position=seq_get(args, 2))
    if len(args) == 2:
        return found
    # A NULL start_pos gives 0 (NULL only when the strings are NULL), as documented.
    strings_null = exp.or_(
        exp.Is(this=args[0].copy(), expression=exp.null()),
        exp.Is(this=args[1].copy(), expression=exp.null()),
    )
    when_no_start = exp.If(this=strings_null, true=exp.null(), false=exp.Literal.number(0))
    start_null = exp.Is(this=args[2].copy(), expression=exp.null())
    return exp.If(this=start_null, true=when_no_start, false=found)


def _sign(args: list[exp.Expression]) -> exp.Expression:
    arity("SIGN", args, 1, 1)
    # -1.0, 0.0 or 1.0: a DOUBLE, as MaxCompute documents (DuckDB's SIGN is an integer).
    return exp.cast(exp.Sign(this=args[0]), exp.DataType.Type.DOUBLE)


# Rounding goes through DECIMAL below this magnitude (DECIMAL(38,18) holds 20 integer digits).
_ROUND_EXACT_BELOW = "1e15"


def _round(args: list[exp.Expression]) -> exp.Expression:
    arity("ROUND", args, 1, 2)
    places = _constant_int("ROUND", "decimal_places", args[1]) if len(args) == 2 else 0
    number = args[0]
    if places is None:
        return _null("DOUBLE")
    decimal = isinstance(number, (exp.Cast, exp.TryCast)) and number.to.this == (
        exp.DataType.Type.DECIMAL
    )
    if decimal or places > 18:
        return exp.Round(this=number, decimals=exp.Literal.number(places))
    # Half away from zero on the number as written (125.315 to 2 places is 125.32), as
    # MaxCompute does: DuckDB rounds the binary double (125.31). A STRING or BIGINT is a DOUBLE.
    double = exp.cast(number, exp.DataType.Type.DOUBLE)
    exact = exp.cast(exp.cast(double.copy(), exp.DataType.Type.VARCHAR), "DECIMAL(38, 18)")
    rounded = exp.cast(
        exp.Round(this=exact, decimals=exp.Literal.number(places)), exp.DataType.Type.DOUBLE
    )
    small = exp.LT(
        this=exp.Abs(this=double.copy()), expression=exp.Literal.number(_ROUND_EXACT_BELOW)
    )
    large = exp.Round(this=double.copy(), decimals=exp.Literal.number(places))
    return exp.If(this=small, true=rounded, false=large)


def _e(args: list[exp.Expression]) -> exp.Expression:
    arity("E", args, 0, 0)
    # The double nearest to e, as MaxCompute prints it (Spark's EXP(1) is one ulp above).
    return exp.cast(exp.Literal.number("2.718281828459045"), exp.DataType.Type.DOUBLE)


def _least(args: list[exp.Expression]) -> exp.Expression:
    if len(args) < 2:
        arity("LEAST", args, 2, 2)
    # NULL is the least value in MaxCompute: any NULL argument makes the answer NULL, where
    # DuckDB and Spark skip NULLs (GREATEST skips them in MaxCompute too).
    any_null = exp.or_(*(exp.Is(this=a.copy(), expression=exp.null()) for a in args))
    least = exp.Least(this=args[0], expressions=list(args[1:]))
    return exp.If(this=any_null, true=exp.null(), false=least)


def _regexp_instr(args: list[exp.Expression]) -> exp.Expression:
    arity("REGEXP_INSTR", args, 2, 5)
    if len(args) > 2:
        # Spark's third argument is a group, MaxCompute's a start position: not the same call.
        raise UnsupportedSql(
            "REGEXP_INSTR: start_position, occurrence and return_option are not supported; "
            "call it with the source and the pattern only",
            "REGEXP_INSTR",
        )
    return exp.RegexpInstr(this=args[0], expression=args[1])


def _size(args: list[exp.Expression]) -> exp.Expression:
    arity("SIZE", args, 1, 1)
    # An INT, as the page's signature says (DuckDB's and Spark's own answers are BIGINT there).
    if isinstance(args[0], (exp.Map, exp.VarMap, exp.StrToMap)):
        # A MAP's entries (DuckDB's ARRAY_LENGTH takes no MAP).
        return exp.cast(exp.MapSize(this=args[0]), exp.DataType.Type.INT)
    return exp.cast(exp.ArraySize(this=args[0]), exp.DataType.Type.INT)


def _cot(args: list[exp.Expression]) -> exp.Expression:
    arity("COT", args, 1, 1)
    # COS(x) / SIN(x), as MaxCompute computes it: its pages print cot(-1) as
    # -0.6420926159343308 and cot(3.1415926/2) as 2.6794896585028643E-8, where 1 / TAN(x)
    # (DuckDB's and Spark's COT) is an ulp or two away (-0.6420926159343306). SIN(x) = 0 (x = 0)
    # gives NULL on both engines, as a division by zero does.
    number = exp.cast(args[0], exp.DataType.Type.DOUBLE)
    sine = exp.Sin(this=number)
    zero = exp.EQ(this=sine.copy(), expression=exp.Literal.number(0))
    quotient = exp.Div(this=exp.Cos(this=number.copy()), expression=sine)
    return exp.If(this=zero, true=_null("DOUBLE"), false=quotient)


def _log_base(name: str, base: int) -> Callable[[list[exp.Expression]], exp.Expression]:
    def parse(args: list[exp.Expression]) -> exp.Expression:
        arity(name, args, 1, 1)
        # LN(x) / LN(base), as MaxCompute computes it: the page's table prints log10(4) as
        # 0.6020599913279623 and log2(9) as 3.1699250014423126, where DuckDB's and Spark's own
        # LOG10 and LOG2 give 0.6020599913279624 and 3.169925001442312. 0 or less is NULL.
        number = exp.cast(args[0], exp.DataType.Type.DOUBLE)
        positive = exp.GT(this=number, expression=exp.Literal.number(0))
        ratio = exp.Div(
            this=exp.Ln(this=number.copy()),
            expression=exp.Ln(this=exp.cast(exp.Literal.number(base), exp.DataType.Type.DOUBLE)),
        )
        return exp.If(this=positive, true=ratio, false=_null("DOUBLE"))

    return parse


def _log(args: list[exp.Expression]) -> exp.Expression:
    arity("LOG", args, 2, 2)
    # LN(x) / LN(base), as LOG10 and LOG2 (the page's table: log(2, 10) is 3.3219280948873626,
    # DuckDB's LOG(2, 10) 3.321928094887362). A base or x of 0 or less, or a base of 1, is NULL.
    base, number = (exp.cast(a, exp.DataType.Type.DOUBLE) for a in args)
    defined = exp.and_(
        exp.GT(this=base, expression=exp.Literal.number(0)),
        exp.NEQ(this=base.copy(), expression=exp.Literal.number(1)),
        exp.GT(this=number, expression=exp.Literal.number(0)),
    )
    ratio = exp.Div(this=exp.Ln(this=number.copy()), expression=exp.Ln(this=base.copy()))
    return exp.If(this=defined, true=ratio, false=_null("DOUBLE"))


def _hex(args: list[exp.Expression]) -> exp.Expression:
    arity("HEX", args, 1, 1)
    if isinstance(args[0], exp.Null):
        # The page: `select hex(null);` returns an error (a NULL column value gives NULL).
        raise UnsupportedSql(
            "Invalid argument type - function HEX cannot take a NULL constant; "
            "CAST it to the type it takes (STRING or BIGINT)",
            "HEX",
            ARGUMENT_TYPE,
        )
    return exp.Hex(this=args[0])


def _unhex(args: list[exp.Expression]) -> exp.Expression:
    arity("UNHEX", args, 1, 1)
    # A number is read as its digits (the page: `unhex(616263)` is abc, as `unhex('616263')`).
    return exp.Unhex(this=exp.cast(args[0], exp.DataType.Type.VARCHAR))


def not_supported(name: str) -> Callable[[list[exp.Expression]], exp.Expression]:
    """A builder refusing a MaxCompute built-in function trailhouse does not run yet."""

    def parse(args: list[exp.Expression]) -> exp.Expression:
        raise UnsupportedSql(
            f"function {name} is a MaxCompute built-in function that trailhouse does not "
            "support yet (docs/sql-functions.md)",
            name,
        )

    return parse


Builder = Callable[..., exp.Expr]


def _wrapped(build: Callable[[list[exp.Expression]], exp.Expression]) -> Builder:
    """The builder, its result in parentheses: sqlglot checks a function's argument count
    against the expression a builder returns, which here is not the function called."""

    def parse(args: list[exp.Expression]) -> exp.Expr:
        return exp.paren(build(args), copy=False)

    return parse


FUNCTIONS: dict[str, Builder] = {
    name: _wrapped(build)
    for name, build in {
        "ADD_MONTHS": _add_months,
        "COT": _cot,
        "E": _e,
        "HEX": _hex,
        "LOG": _log,
        "LOG10": _log_base("LOG10", 10),
        "LOG2": _log_base("LOG2", 2),
        "UNHEX": _unhex,
        "LEAST": _least,
        "REGEXP_INSTR": _regexp_instr,
        "ROUND": _round,
        "SIGN": _sign,
        "SIZE": _size,
        "CBRT": not_supported("CBRT"),
        "TRUNC": not_supported("TRUNC"),
        "DATE_ADD": _days("DATE_ADD", 1),
        "DATE_SUB": _days("DATE_SUB", -1),
        "DAYOFWEEK": _dayofweek,
        "INSTR": _instr,
        "LASTDAY": _lastday,
        "LOCATE": _locate,
        "LAST_DAY": _last_day,
        "MONTHS_BETWEEN": _months_between,
        "REGEXP_COUNT": _regexp_count,
        "REGEXP_REPLACE": _regexp_replace,
        "SPLIT": _split,
        "SPLIT_PART": _split_part,
        "TOLOWER": _case("TOLOWER", exp.Lower),
        "TOUPPER": _case("TOUPPER", exp.Upper),
    }.items()
}

# MaxCompute's argument counts (least, most) of functions sqlglot reads as Hive's, which would
# take extra arguments in silence (LENGTH(s, 2) is LENGTH(s) to it).
ARITIES: dict[str, tuple[int, int]] = {
    "ABS": (1, 1),
    "ASCII": (1, 1),
    "CEIL": (1, 1),
    "CHR": (1, 1),
    "DAY": (1, 1),
    "DAYOFMONTH": (1, 1),
    "DAYOFWEEK": (1, 1),
    "DAYOFYEAR": (1, 1),
    "HOUR": (1, 1),
    "INITCAP": (1, 1),
    "LAST_DAY": (1, 1),
    "LENGTH": (1, 1),
    "LOWER": (1, 1),
    "LPAD": (3, 3),
    "LTRIM": (1, 2),
    "MD5": (1, 1),
    "MINUTE": (1, 1),
    "MONTH": (1, 1),
    "MONTHS_BETWEEN": (2, 2),
    "NEXT_DAY": (2, 2),
    "QUARTER": (1, 1),
    "REPEAT": (2, 2),
    "REPLACE": (3, 3),
    "REVERSE": (1, 1),
    "ROUND": (1, 2),
    "RPAD": (3, 3),
    "RTRIM": (1, 2),
    "SECOND": (1, 1),
    "SPACE": (1, 1),
    "SQRT": (1, 1),
    "SUBSTR": (2, 3),
    "SUBSTRING": (2, 3),
    "TRIM": (1, 2),
    "UPPER": (1, 1),
    "WEEKOFYEAR": (1, 1),
    "YEAR": (1, 1),
}


# Functions of one date argument that MaxCompute also takes as a 'yyyy-mm-dd[ hh:mi:ss]' string.
DATE_PARTS = frozenset(
    {"DAY", "DAYOFMONTH", "DAYOFYEAR", "HOUR", "MINUTE", "MONTH", "QUARTER", "SECOND"}
    | {"WEEKOFYEAR", "YEAR"}
)


# A date part function's string constant: 'yyyy-mm-dd' with an optional ' hh:mi:ss' (the pages:
# YEAR('70-01-01') is 70, YEAR('1970/03/09') and MONTH('20140901') are NULL), and for HOUR,
# MINUTE and SECOND a time alone (HOUR('12:00:00') is 12).
_DATE_TEXT = re.compile(r"(\d{1,4}-\d{1,2}-\d{1,2})( \d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?)?")
_TIME_TEXT = re.compile(r"\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?")
_TIME_PARTS = frozenset({"HOUR", "MINUTE", "SECOND"})


def _padded_time(text: str) -> str:
    hour, minute, second = text.strip().split(":")
    whole, _, fraction = second.partition(".")
    return f"{int(hour):02d}:{int(minute):02d}:{int(whole):02d}" + (
        f".{fraction}" if fraction else ""
    )


def _date_text(name: str, node: exp.Expression) -> exp.Expression:
    """A date part function's argument, a string constant checked as MaxCompute reads it (DuckDB
    read '1970/03/09' as a date). A NULL constant is refused for YEAR, as its page says
    (`YEAR(null)` returns an error)."""
    if isinstance(node, exp.Null) and name == "YEAR":
        raise UnsupportedSql(
            "Invalid argument type - function YEAR cannot take a NULL constant; "
            "CAST it to the type it takes (DATETIME or STRING)",
            name,
            ARGUMENT_TYPE,
        )
    if not (isinstance(node, exp.Literal) and node.is_string):
        return node
    text = node.this.strip()
    if written := _DATE_TEXT.fullmatch(text):
        # Padded: '70-01-01' is the year 70, which Spark reads only written as '0070-01-01'.
        year, month, day = written.group(1).split("-")
        time = f" {_padded_time(written.group(2))}" if written.group(2) else ""
        return exp.Literal.string(f"{int(year):04d}-{int(month):02d}-{int(day):02d}{time}")
    if name in _TIME_PARTS and _TIME_TEXT.fullmatch(text):
        return exp.Literal.string(f"1970-01-01 {_padded_time(text)}")
    return _null("STRING")


def counted(functions: dict[str, Builder]) -> dict[str, Builder]:
    """The builders of ARITIES' functions, each refusing a wrong argument count first (and
    reading a date part function's string argument as a datetime)."""

    def checked(name: str, build: Builder) -> Builder:
        low, high = ARITIES[name]

        def parse(args: list[exp.Expression], dialect: object = None) -> exp.Expr:
            arity(name, args, low, high)
            if name in DATE_PARTS:
                args = [_instant(_date_text(name, args[0]))]
            # sqlglot calls a builder without the dialect first, then with it on TypeError.
            built = build(args) if dialect is None else build(args, dialect=dialect)
            if name in DATE_PARTS:  # an INT, as each page's signature says (DuckDB's: BIGINT)
                return exp.cast(built, exp.DataType.Type.INT)
            return built

        return parse

    return {name: checked(name, functions[name]) for name in ARITIES if name in functions}


# MaxCompute built-in functions trailhouse does not run yet: refused as such, not as unknown.
NOT_SUPPORTED = frozenset(
    {
        "BIN",
        "BIT_COUNT",
        "CHAR_MATCHCOUNT",
        # Random sampling: MaxCompute's choice of rows cannot be reproduced.
        "CLUSTER_SAMPLE",
        "CONV",
        "DATEPART",
        "FIND_IN_SET",
        "FORMAT_NUMBER",
        "FROM_UTC_TIMESTAMP",
        "ISDATE",
        "KEYVALUE",
        "KEYVALUE_TUPLE",
        "LENGTHB",
        "MAP_VALUES",
        "NEGATIVE",
        "POSITIVE",
        "REGEXP_SUBSTR",
        "SHIFTLEFT",
        "SHIFTRIGHT",
        "SHIFTRIGHTUNSIGNED",
        "STR_TO_MAP",
        "SUBSTRING_INDEX",
        "TO_MILLIS",
        "TRUNC_TIME",
        "URL_DECODE",
        "URL_ENCODE",
        "WIDTH_BUCKET",
    }
)
