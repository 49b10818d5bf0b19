"""What a user reads when SQL is refused or fails: MaxCompute's wording and error codes, the
`[line,column]` of the token at fault as MaxCompute prints it, and never an engine's own text.

The engines (DuckDB, Spark) and the parser (sqlglot) describe failures in their own terms: "Binder
Error: Referenced column ... not found in FROM clause!", Python class names, terminal colours.
Every failure a caller sees passes through here first: known engine messages are rewritten in
MaxCompute's words (`column x cannot be resolved`), anything else is scrubbed of engine words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot.errors import ParseError

from trailhouse.errors import SqlArgumentCountError, SqlArgumentTypeError, SqlSemanticError

# MaxCompute's codes (SQL error codes, ODPS-01CCCCX; built-in function error codes).
PARSE = "ODPS-0130161"  # Parse exception
SEMANTIC = "ODPS-0130071"  # Semantic analysis exception
ARGUMENT_TYPE = "ODPS-0130121"  # Invalid argument type
ARGUMENT_COUNT = "ODPS-0130221"  # Invalid number of arguments


class UnsupportedSql(ValueError):
    """A statement or function that trailhouse's MaxCompute SQL does not support; `token` is
    the word of the SQL it is about (a function's name), to point at, or empty."""

    def __init__(self, message: str, token: str = "", code: str = "") -> None:
        super().__init__(message)
        self.token = token
        self.code = code or SEMANTIC

    def diagnosis(self) -> Diagnosis:
        """The refusal in MaxCompute's words, with its code."""
        if self.code == SEMANTIC:
            return Diagnosis(SEMANTIC, f"Semantic analysis exception - {self}", self.token)
        return Diagnosis(self.code, str(self), self.token)


class InvalidSql(ValueError):
    """SQL text that does not parse as MaxCompute SQL."""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A refusal in MaxCompute's terms: its code, its message and the token it points at."""

    code: str
    message: str
    token: str = ""
    # Said instead when the token is not in the SQL (a function the translation introduced).
    otherwise: str = ""

    def located(self, sql: str) -> str:
        """The message as MaxCompute prints it, `[line,column] ` first when the token is found."""
        where = position_of(sql, self.token) if self.token else None
        if where is None and self.token and self.otherwise and sql:
            return self.otherwise
        return f"[{where[0]},{where[1]}] {self.message}" if where else self.message


# What the lexer skips when looking for a token: string literals and comments.
_SKIPPED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)


def _blanked(sql: str) -> str:
    """`sql` with its string literals and comments made spaces, lines and columns kept."""
    return _SKIPPED.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), sql)


def position_of(sql: str, token: str) -> tuple[int, int] | None:
    """The 1-based (line, column) of the first occurrence of `token` as a word of `sql`,
    outside string literals and comments; None when it does not occur."""
    blanked = _blanked(sql)
    pattern = re.escape(token)
    if token[:1].isalnum() or token[:1] == "_":
        pattern = r"(?<![\w`])`?" + pattern + r"`?(?!\w)"
    match = re.search(pattern, blanked, re.IGNORECASE)
    if match is None:
        return None
    before = blanked[: match.start()]
    line = before.count("\n") + 1
    return line, match.start() - (before.rfind("\n") + 1) + 1


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TOKEN_REPR = re.compile(r"<Token token_type: [\w.]+, text: (.*?), line: \d+, col: \d+.*?>")
_CLASS_REPR = re.compile(r"<class '[\w.]+'>|\b[a-z_]+(?:\.[a-z_]+)+\.[A-Z]\w+\b")


def parse_failure(error: ParseError, sql: str) -> str:
    """sqlglot's first parse error as MaxCompute prints one: `[1,10] Parse exception - ...`."""
    if not error.errors:
        return f"Parse exception - {scrub(str(error).splitlines()[0])}"
    first = error.errors[0]
    description = _ANSI.sub("", str(first.get("description") or ""))
    highlight = _ANSI.sub("", str(first.get("highlight") or "")).strip()
    line, end = first.get("line"), first.get("col")
    description = _TOKEN_REPR.sub(lambda m: f"'{m.group(1)}'", description)
    if "<class " in description or not description:
        description = f"invalid token '{highlight}'" if highlight else "invalid syntax"
    elif description.startswith("Invalid expression / Unexpected token"):
        description = f"invalid token '{highlight}'" if highlight else "unexpected token"
    description = _CLASS_REPR.sub("an expression", description)
    where = ""
    if isinstance(line, int) and isinstance(end, int):
        # sqlglot's column is the token's last character; MaxCompute points at its first.
        start = max(1, end - len(highlight) + 1) if highlight else end
        where = f"[{line},{start}] "
    return f"{where}Parse exception - {description}{_hyphen_hint(sql)}"


# A trail's table named as the trail is (`actiontrail_audit-mc`): hyphens become underscores.
_HYPHENATED_TABLE = re.compile(r"\b(actiontrail_\w*(?:-\w+)+)")


def _hyphen_hint(sql: str) -> str:
    """A hint when the SQL names a trail's table with the trail name's hyphens."""
    blanked = _blanked(sql)
    found = _HYPHENATED_TABLE.search(blanked)
    if found is None:
        return ""
    named = found.group(1)
    return (
        f"; a trail's table has '_' where the trail's name has '-': write "
        f"{named.replace('-', '_')}, not {named}"
    )


_TOKEN_AT = re.compile(r"Missing (\S+) from (\d+):(\d+)")


def token_failure(error: Exception, sql: str) -> str:
    """sqlglot's tokenizer error (a quote never closed) as a MaxCompute parse exception."""
    match = None
    cause: BaseException | None = error
    while cause is not None and match is None:
        match = _TOKEN_AT.search(str(cause))
        cause = cause.__cause__ or cause.__context__
    if match is None:
        return "Parse exception - a quoted string, name or comment is not closed"
    quote, index = match.group(1), int(match.group(3))  # the quote's offset in the text
    before = sql[:index]
    line, column = before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1
    return (
        f"[{line},{column}] Parse exception - the quoted text that starts here has no closing "
        f"{quote}"
    )


# DuckDB's types named as MaxCompute names them.
_TYPES = {
    "STRING_LITERAL": "STRING",
    "VARCHAR": "STRING",
    "INTEGER_LITERAL": "BIGINT",
    "INTEGER": "INT",
    "INT32": "INT",
    "INT64": "BIGINT",
    "HUGEINT": "DECIMAL",
    "TIMESTAMP": "DATETIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "BLOB": "BINARY",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "BOOLEAN": "BOOLEAN",
    "BIGINT": "BIGINT",
    "INTERVAL": "INTERVAL",
}


def _types(listed: str) -> str:
    names = [part.strip() for part in listed.split(",") if part.strip()]
    shown = [_TYPES.get(name.upper(), re.sub(r"\(.*", "", name).upper()) for name in names]
    return ", ".join(shown)


def _operator_or_function(name: str) -> str:
    return f"operator {name}" if not re.match(r"\w", name) else f"function {name.upper()}"


def _no_match(match: re.Match[str]) -> Diagnosis:
    name, listed = match.group(1), match.group(2)
    token = name if re.match(r"\w", name) else ""
    return Diagnosis(
        ARGUMENT_TYPE,
        f"Invalid argument type - {_operator_or_function(name)} cannot take arguments of type "
        f"({_types(listed)}); CAST them to the types it takes",
        token,
        "Invalid argument type - a function is given an argument of a type it does not take "
        f"({_types(listed)}); CAST it to the type the function takes",
    )


def _column(match: re.Match[str]) -> Diagnosis:
    name = match.group(match.lastindex or 1)
    return Diagnosis(
        SEMANTIC, f"Semantic analysis exception - column {name} cannot be resolved", name
    )


def _qualified_column(match: re.Match[str]) -> Diagnosis:
    table, name = match.group(1), match.group(2)
    return Diagnosis(
        SEMANTIC,
        f"Semantic analysis exception - column {table}.{name} cannot be resolved",
        name,
    )


def _group_by(match: re.Match[str]) -> Diagnosis:
    name = match.group(1)
    return Diagnosis(
        SEMANTIC,
        f"Semantic analysis exception - column reference {name} should appear in GROUP BY key",
        name,
    )


def _alias(match: re.Match[str]) -> Diagnosis:
    name = match.group(1)
    return Diagnosis(
        SEMANTIC, f"Semantic analysis exception - table alias {name} cannot be resolved", name
    )


def _ambiguous(match: re.Match[str]) -> Diagnosis:
    name = match.group(1)
    return Diagnosis(
        SEMANTIC,
        f"Semantic analysis exception - column reference {name} is ambiguous; "
        "name its table (t.column)",
        name,
    )


def _function(match: re.Match[str]) -> Diagnosis:
    name = match.group(1)
    return Diagnosis(
        SEMANTIC,
        f"Semantic analysis exception - function or view {name.upper()} cannot be resolved",
        name,
    )


_SEMANTIC_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Diagnosis]], ...] = (
    (re.compile(r'Referenced column "([^"]+)" not found'), _column),
    (re.compile(r'"([^"]+)" does not have a column named "([^"]+)"'), _qualified_column),
    (re.compile(r'Column "([^"]+)" does not exist on (?:left|right) side of join'), _column),
    (re.compile(r'column "([^"]+)" must appear in the GROUP BY'), _group_by),
    (re.compile(r'Referenced table "([^"]+)" not found'), _alias),
    (re.compile(r'Ambiguous reference to column name "([^"]+)"'), _ambiguous),
    (re.compile(r"argument types '(.+?)\((.*)\)'"), _no_match),
    (re.compile(r'function call "(.+?)\((.*)\)"'), _no_match),
    (re.compile(r"Function with name (\w+) does not exist"), _function),
    (
        re.compile(r"Subquery returns (\d+) columns - expected 1"),
        lambda m: _plain(
            f"a subquery used as a value or after IN must select one column, not {m.group(1)}"
        ),
    ),
    (
        re.compile(r"Window functions are not supported here"),
        lambda m: _plain(
            "a window function (ROW_NUMBER, RANK, LAG, …) needs an OVER clause, and is allowed "
            "only in the select list and ORDER BY"
        ),
    ),
    (
        re.compile(r"ORDER term out of range - should be between (\d+) and (\d+)"),
        lambda m: _plain(f"ORDER BY position out of range: the query selects {m.group(2)} columns"),
    ),
    (
        re.compile(r"Cannot compare values of type (\S+) and type (\S+)"),
        lambda m: _plain(
            f"cannot compare a {_types(m.group(1))} with a {_types(m.group(2))}; CAST one of them"
        ),
    ),
)


def _plain(message: str) -> Diagnosis:
    return Diagnosis(SEMANTIC, f"Semantic analysis exception - {message}")


def semantic_failure(engine_message: str) -> Diagnosis:
    """An engine's refusal of a query that parsed (unknown column, wrong types, GROUP BY), in
    MaxCompute's words."""
    text = _ANSI.sub("", engine_message)
    for pattern, diagnose in _SEMANTIC_PATTERNS:
        match = pattern.search(text)
        if match is not None:
            return diagnose(match)
    return Diagnosis(SEMANTIC, f"Semantic analysis exception - {scrub(text)}")


# "Binder Error: ", "Conversion Error: ", Spark's "[CAST_INVALID_INPUT] " and "SQLSTATE: 22018".
_ENGINE_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z ]*? Error|[A-Z][a-zA-Z]*Exception): ")
_SPARK_CLASS = re.compile(r"\[[A-Z][A-Z_.]+\] ?")
_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+\.?")
# Spark's advice runs to the end of its line and names its settings ("spark.sql.ansi.enabled":
# the first dot is not the end of the sentence).
_SPARK_HINT = re.compile(r"\s*(?:If necessary set|Use `try_\w+`|Use `\w+` to tolerate).*")
# DuckDB's advice names its own functions and settings: "Use TRY(...) to return NULL ..., or
# SET error_on_division_by_zero=false ...".
_DUCKDB_HINT = re.compile(r"\.?\s*Use (?:TRY\(\.\.\.\)|\"SET ).*")
_DEPTH = re.compile(r"Max expression depth limit of (\d+) exceeded")
_DIVISION = re.compile(r"Division by zero in expression \((.*)\)\.?$")
_ENGINE_WORDS = re.compile(r"\b(?:duckdb|DuckDB|sqlglot|Spark|spark|pyspark|PySpark)\b")
_LINE_MARK = re.compile(r"\s*LINE \d+:.*", re.DOTALL)
_REFER_TO = re.compile(r"\s*Please,? refer to '[^']*' for a fix\.?|;? line \d+ pos \d+")
_DUCKDB_TYPES = re.compile(r"\b(" + "|".join(sorted(_TYPES, key=len, reverse=True)) + r")\b")


def scrub(text: str) -> str:
    """An engine's message without its engine: no error-kind prefix, colour codes, class names,
    engine names or query excerpts; DuckDB's type names as MaxCompute names them."""
    text = _ANSI.sub("", text).strip()
    text = text.splitlines()[0] if text else "the query failed"
    text = _ENGINE_PREFIX.sub("", text)
    text = _SPARK_CLASS.sub("", text)
    text = _SQLSTATE.sub("", text)
    text = _SPARK_HINT.sub("", text)
    text = _DUCKDB_HINT.sub("", text)
    text = _DIVISION.sub("division by zero", text)
    text = _DEPTH.sub(
        r"an expression nests more than \1 levels deep (a long chain of operators); split it",
        text,
    )
    text = _REFER_TO.sub("", text)
    text = _LINE_MARK.sub("", text)
    text = _CLASS_REPR.sub("an expression", text)
    text = _ENGINE_WORDS.sub("the engine", text)
    text = _DUCKDB_TYPES.sub(lambda m: _TYPES[m.group(1)], text)
    text = text.replace("try_cast", "a CAST of each value")
    return text.strip() or "the query failed"


# MaxCompute's codes of a query that fails while running (its PROCESSOR module, ODPS-012xxxx):
# a value that does not convert, a division by zero or an overflow, and any other bad argument.
ILLEGAL_CAST = "ODPS-0123091"
DATA_OVERFLOW = "ODPS-0121145"
INVALID_ARGUMENT = "ODPS-0121095"
_OVERFLOW = re.compile(r"division by zero|overflow|out of range", re.IGNORECASE)
# In the engine's own words (DuckDB's "Conversion Error: Could not convert …", Spark's
# "[CAST_INVALID_INPUT] … cannot be cast to …").
_CAST_FAILED = re.compile(
    r"Conversion Error|Could not (?:convert|cast)|cannot be cast|CAST_INVALID_INPUT",
    re.IGNORECASE,
)


def runtime_failure(engine_message: str) -> str:
    """A query that failed while running (a value that does not convert, an overflow), in
    plain words."""
    text = scrub(engine_message)
    conversion = re.match(r"Could not convert string '(.*)' to (\w+)", text)
    if conversion is not None:
        wanted = _TYPES.get(conversion.group(2).upper(), conversion.group(2).upper())
        return f"the value '{conversion.group(1)}' cannot be converted to {wanted}"
    return text


# A regular expression that does not compile, in each engine's words: DuckDB's RE2 names the
# fault and the part of the pattern at fault ("missing ): a("), Spark names the function and the
# pattern ("`regexp` in `regexp_replace` is invalid: 'a('").
_RE2_FAULT = re.compile(
    r"^(missing \)|missing \]|unexpected \)|invalid escape sequence|invalid character class range"
    r"|invalid character class|no argument for repetition operator|bad repetition operator"
    r"|invalid nested repetition operator|invalid repetition size|invalid perl operator"
    r"|invalid named capture group|trailing \\|invalid UTF-8): (.*)$",
    re.DOTALL,
)
_SPARK_PATTERN = re.compile(
    r"INVALID_PARAMETER_VALUE\.PATTERN\].*?in `(\w+)` is invalid: '(.*)'\.", re.DOTALL
)
# The fault in plain words, by RE2's name of it or Python's (for Spark, which names none).
_REGEX_FAULTS = (
    (("missing )", "unterminated subpattern"), "a group opened with ( is not closed"),
    (("missing ]", "unterminated character set"), "a [ character class is not closed"),
    (("unexpected )", "unbalanced parenthesis"), "a ) closes no group"),
    (("invalid escape sequence", "bad escape"), "a backslash escape is not valid"),
    (("invalid character class range", "bad character range"), "a character range runs backwards"),
    (
        ("no argument for repetition operator", "bad repetition operator", "nothing to repeat"),
        "a repetition operator (*, +, ?, {n}) has nothing before it to repeat",
    ),
    (
        ("invalid nested repetition operator", "multiple repeat"),
        "two repetition operators follow each other",
    ),
    (("invalid repetition size",), "a {n,m} repetition count is not valid"),
    (("trailing \\", "bad escape (end of pattern)"), "the pattern ends with a lone backslash"),
    (("invalid perl operator", "unknown extension"), "a (? group is not valid"),
    (("invalid named capture group", "bad character in group name"), "a named group is not valid"),
)


def _regex_fault(name: str) -> str:
    for names, words in _REGEX_FAULTS:
        if any(name.startswith(n) for n in names):
            return words
    return "it does not compile"


def _python_fault(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        return _regex_fault(str(exc.msg))
    return "it does not compile"


def regex_failure(engine_message: str) -> Diagnosis | None:
    """A regular expression that does not compile, as MaxCompute's Invalid argument naming the
    pattern and the fault in plain words; None for any other failure."""
    text = _ANSI.sub("", engine_message).strip()
    first = text.splitlines()[0] if text else ""
    first = _ENGINE_PREFIX.sub("", first)
    found = _RE2_FAULT.match(first)
    if found is not None:
        fault, part = found.group(1), found.group(2)
        return Diagnosis(
            INVALID_ARGUMENT,
            f"Invalid argument - the regular expression is not valid: {_regex_fault(fault)} "
            f"(at '{part}')",
        )
    spark = _SPARK_PATTERN.search(text)
    if spark is not None:
        function, pattern = spark.group(1).upper(), spark.group(2)
        return Diagnosis(
            INVALID_ARGUMENT,
            f"Invalid argument - the regular expression '{pattern}' of {function} is not "
            f"valid: {_python_fault(pattern)}",
        )
    return None


def runtime_error(engine_message: str) -> Diagnosis:
    """A query that failed while running, as MaxCompute reports it: `Illegal type cast` for a
    value that does not convert, `Data overflow` for a division by zero or a value out of its
    type's range, `Invalid argument` for anything else (a regular expression that does not
    compile: its fault in plain words)."""
    regex = regex_failure(engine_message)
    if regex is not None:
        return regex
    detail = runtime_failure(engine_message)
    if _CAST_FAILED.search(engine_message):
        return Diagnosis(ILLEGAL_CAST, f"Illegal type cast - {detail}")
    if _OVERFLOW.search(detail):
        return Diagnosis(DATA_OVERFLOW, f"Data overflow - {detail}")
    return Diagnosis(INVALID_ARGUMENT, f"Invalid argument - {detail}")


_ERRORS: dict[str, type[SqlSemanticError]] = {
    SEMANTIC: SqlSemanticError,
    ARGUMENT_TYPE: SqlArgumentTypeError,
    ARGUMENT_COUNT: SqlArgumentCountError,
}


def refusal(diagnosis: Diagnosis, sql: str) -> SqlSemanticError:
    """The API error of a diagnosis, its message pointing into `sql`."""
    return _ERRORS.get(diagnosis.code, SqlSemanticError)(diagnosis.located(sql))
