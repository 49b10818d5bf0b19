"""What a user reads when SQL is refused or fails: MaxCompute's wording and error codes, the
`[line,column]` of the token at fault as MaxCompute prints it, and never an engine's own text.

The engines (DuckDB, Spark) and the parser (sqlglot) describe failures in their own terms: "Binder
Error: Referenced column ... not found in FROM clause!", Python class names, terminal colours.
Every failure a caller sees passes through here first: known engine messages are rewritten in
MaxCompute's words (`column x cannot be resolved`), anything else is scrubbed of engine words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from sqlglot import exp
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
    # The (line, column) of the token at fault when the query's tree located it; else the
    # first occurrence of `token` is pointed at.
    where: tuple[int, int] | None = None

    def located(self, sql: str) -> str:
        """The message as MaxCompute prints it, `[line,column] ` first when the token is found."""
        where = self.where
        if where is None and self.token:
            where = position_of(sql, self.token)
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


_NESTED_AGGREGATE = "an aggregate function cannot take another aggregate as its argument"


def _plain(message: str) -> Diagnosis:
    return Diagnosis(SEMANTIC, f"Semantic analysis exception - {message}")


# Finding the token at fault in the query's tree: sqlglot keeps the offset in the SQL text of
# each name, literal and function it read (`meta["start"]`), so a node found by the kind of
# error is pointed at even where its words occur earlier in the text.
_Node = TypeVar("_Node", bound=exp.Expr)
Locator = Callable[[re.Match[str], exp.Expr, str], "int | None"]


def _start(node: exp.Expr) -> int | None:
    """The offset in the SQL of the first token read into `node`, None when none is known."""
    starts = [n.meta["start"] for n in node.walk() if isinstance(n.meta.get("start"), int)]
    return min(starts) if starts else None


def _end(node: exp.Expr) -> int | None:
    ends = [n.meta["end"] for n in node.walk() if isinstance(n.meta.get("end"), int)]
    return max(ends) if ends else None


def _in_text_order(nodes: Iterator[_Node]) -> list[_Node]:
    found = [(_start(node), node) for node in nodes]
    return [node for start, node in sorted(found, key=lambda f: f[0] or 0) if start is not None]


def _word_after(sql: str, offset: int | None, words: str) -> int | None:
    """The offset of the first of `words` (a regular expression) at or after `offset`."""
    if offset is None:
        return None
    found = re.compile(words, re.IGNORECASE).search(_blanked(sql), offset)
    return found.start() if found else None


def _word_before(sql: str, offset: int | None, words: str) -> int | None:
    """The offset of the last of `words` (a regular expression) before `offset`."""
    if offset is None:
        return None
    found = list(re.finditer(words, _blanked(sql)[:offset], re.IGNORECASE))
    return found[-1].start() if found else None


def _operator_of(node: exp.Expr, sql: str, operator: str) -> int | None:
    """Where the operator of a binary expression stands: after its left operand."""
    left = node.this if isinstance(node.this, exp.Expr) else None
    after = _end(left) if left is not None else None
    if after is None:
        return _start(node)
    return _word_after(sql, after + 1, operator) or _start(node)


# Functions that only run over a window (`OVER (...)`).
_WINDOW_ONLY: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "RowNumber", "Rank", "DenseRank", "Ntile", "Lag", "Lead", "FirstValue", "LastValue",
        "NthValue", "PercentRank", "CumeDist",
    )
    if hasattr(exp, name)
)  # fmt: skip


def _aggregates(node: exp.Expr) -> list[exp.Expr]:
    """The aggregate calls in `node`, not those of its subqueries nor windowed ones."""
    found = node.walk(prune=lambda n: n is not node and isinstance(n, (exp.Query, exp.Window)))
    return [
        n
        for n in found
        if isinstance(n, exp.AggFunc)
        and not isinstance(n, _WINDOW_ONLY)
        and not isinstance(n.parent, exp.Window)
    ]


def _subquery_columns(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """A subquery used as a value that selects `n` columns: its SELECT."""
    count = int(match.group(1))
    for sub in _in_text_order(tree.find_all(exp.Subquery)):
        query = sub.this
        if isinstance(sub.parent, (exp.From, exp.Join, exp.Lateral)) or not isinstance(
            query, exp.Query
        ):
            continue
        if len(query.selects) == count:
            return _word_before(sql, _start(query.selects[0]), r"\bSELECT\b")
    return None


def _misplaced_window(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """A window function with no OVER, or with one where no window is allowed."""
    bare = [n for n in tree.find_all(*_WINDOW_ONLY) if not isinstance(n.parent, exp.Window)]
    placed = [
        n.this
        for n in tree.find_all(exp.Window)
        if isinstance(n.this, exp.Expr)
        and n.find_ancestor(exp.Where, exp.Group, exp.Having, exp.Join, exp.AggFunc, exp.Window)
        is not None
    ]
    first = _in_text_order(iter(bare + placed))
    return _start(first[0]) if first else None


def _literal_type(node: exp.Expr) -> str | None:
    """The type of a literal as DuckDB names it in a message, None when not a literal."""
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return node.to.sql(dialect="duckdb").upper()
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "VARCHAR"
        return "INTEGER_LITERAL" if node.is_int else "DECIMAL"
    return None


def _fits(sides: list[exp.Expr], types: list[str]) -> bool | None:
    """Whether the literal sides are of the types named: True when one is, False when one is
    not any of them, None when no side is a literal."""
    said = {t.strip().upper() for t in types}
    if "STRING_LITERAL" in said:
        said.add("VARCHAR")
    if said & {"INTEGER_LITERAL", "INTEGER", "BIGINT"}:
        said |= {"INTEGER_LITERAL", "DECIMAL"}
    kinds = [kind for kind in map(_literal_type, sides) if kind is not None]
    if not kinds:
        return None
    return all(re.sub(r"\(.*", "", kind) in said for kind in kinds)


def _sides(node: exp.Expr) -> list[exp.Expr]:
    keys = ("this", "expression", "low", "high")
    sides = [node.args[k] for k in keys if isinstance(node.args.get(k), exp.Expr)]
    return sides + [e for e in node.expressions if isinstance(e, exp.Expr)]


def _best(candidates: list[exp.Expr], types: list[str]) -> exp.Expr | None:
    """The first candidate whose literals are of the types named; else the only candidate."""
    fitting = [c for c in candidates if _fits(_sides(c), types)]
    if fitting:
        return fitting[0]
    unknown = [c for c in candidates if _fits(_sides(c), types) is None]
    return unknown[0] if len(unknown) == 1 else None


_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: r"==?|<=>",
    exp.NEQ: r"<>|!=",
    exp.NullSafeEQ: r"<=>",
    exp.GT: r">",
    exp.GTE: r">=",
    exp.LT: r"<",
    exp.LTE: r"<=",
    exp.In: r"\bIN\b",
    exp.Between: r"\bBETWEEN\b",
}


def _comparison(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """A comparison of the two types named: its operator."""
    candidates = _in_text_order(tree.find_all(*_COMPARISONS))
    found = _best(candidates, [match.group(1), match.group(2)])
    return None if found is None else _operator_of(found, sql, _COMPARISONS[type(found)])


_OPERATORS: dict[str, tuple[type[exp.Expr], str]] = {
    "+": (exp.Add, r"\+"),
    "-": (exp.Sub, r"-"),
    "*": (exp.Mul, r"\*"),
    "/": (exp.Div, r"/"),
    "//": (exp.IntDiv, r"\bDIV\b|//"),
    "%": (exp.Mod, r"%|\bMOD\b"),
    "||": (exp.DPipe, r"\|\|"),
    "&": (exp.BitwiseAnd, r"&"),
    "|": (exp.BitwiseOr, r"\|"),
    "^": (exp.BitwiseXor, r"\^"),
}


def _operator(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """An operator given operands of types it does not take: the operator."""
    kind = _OPERATORS.get(match.group(1))
    if kind is None:
        return None
    candidates = _in_text_order(tree.find_all(kind[0]))
    found = _best(candidates, match.group(2).split(","))
    return None if found is None else _operator_of(found, sql, kind[1])


def _position_out_of_range(clause: type[exp.Expr]) -> Locator:
    def locate(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
        """An ORDER BY or GROUP BY position past the select list: the number."""
        top = int(match.group("top"))
        for node in tree.find_all(clause):
            for term in node.expressions:
                literal = term.this if isinstance(term, exp.Ordered) else term
                out = isinstance(literal, exp.Literal) and literal.is_int
                if out and not 1 <= int(literal.this) <= top:
                    return _start(literal)
        return None

    return locate


_CLAUSES: dict[str, type[exp.Expr]] = {
    "WHERE": exp.Where,
    "GROUP BY": exp.Group,
    "HAVING": exp.Having,
    "JOIN": exp.Join,
    "QUALIFY": exp.Qualify,
}


def _aggregate_in_clause(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """An aggregate function where no aggregate is allowed (WHERE, GROUP BY, ON)."""
    clause = _CLAUSES.get(match.group(1).upper())
    if clause is None:
        return None
    found = [a for node in tree.find_all(clause) for a in _aggregates(node)]
    first = _in_text_order(iter(found))
    return _start(first[0]) if first else None


def _nested_aggregate(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """An aggregate function inside another: the inner one."""
    inner = [a for outer in _aggregates(tree) for a in _aggregates(outer) if a is not outer]
    first = _in_text_order(iter(inner))
    return _start(first[0]) if first else None


def _set_operation(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """A UNION (INTERSECT, EXCEPT) of queries selecting different numbers of columns."""
    for node in _in_text_order(tree.find_all(exp.SetOperation)):
        left, right = node.this, node.expression
        queries = isinstance(left, exp.Query) and isinstance(right, exp.Query)
        if queries and len(left.selects) != len(right.selects):
            return _word_after(sql, _end(left), r"\b(?:UNION|INTERSECT|EXCEPT|MINUS)\b")
    return None


def _duplicate_alias(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """A table alias given twice in one FROM: the second, after JOIN or a comma (aliases keep
    no position in the tree)."""
    name = re.escape(match.group(1))
    found = re.search(
        rf"(?:\bJOIN\b|,)\s*[\w.`]+\s+(?:AS\s+)?(`?{name}`?)(?![\w.])",
        _blanked(sql),
        re.IGNORECASE,
    )
    return found.start(1) if found else None


def _named_column(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    """The first column of that name written without its table (after a table name: that
    column), outside aggregates for a GROUP BY refusal."""
    named = match.groupdict()
    if "name" in named:
        table, name = (named["table"] or "").lower(), named["name"].lower()
    else:
        table = match.group(1).lower() if (match.lastindex or 0) > 1 else ""
        name = match.group(match.lastindex or 1).lower()
    grouping = "GROUP BY" in match.re.pattern
    for column in _in_text_order(tree.find_all(exp.Column)):
        if column.name.lower() != name or (column.table.lower() != table and not grouping):
            continue
        if grouping and column.find_ancestor(exp.AggFunc, exp.Group, exp.Window) is not None:
            continue
        return _start(column.this) if isinstance(column.this, exp.Expr) else None
    return None


def _nowhere(match: re.Match[str], tree: exp.Expr, sql: str) -> int | None:
    return None


_SEMANTIC_PATTERNS: tuple[
    tuple[re.Pattern[str], Callable[[re.Match[str]], Diagnosis], Locator], ...
] = (
    (re.compile(r'Referenced column "([^"]+)" not found'), _column, _named_column),
    (
        re.compile(r'"([^"]+)" does not have a column named "([^"]+)"'),
        _qualified_column,
        _named_column,
    ),
    (
        re.compile(r'Column "([^"]+)" does not exist on (?:left|right) side of join'),
        _column,
        _named_column,
    ),
    (re.compile(r'column "([^"]+)" must appear in the GROUP BY'), _group_by, _named_column),
    (re.compile(r'Referenced table "([^"]+)" not found'), _alias, _nowhere),
    (
        re.compile(r'Ambiguous reference to column name "([^"]+)"'),
        _ambiguous,
        _named_column,
    ),
    (re.compile(r"argument types '(.+?)\((.*)\)'"), _no_match, _operator),
    (re.compile(r'function call "(.+?)\((.*)\)"'), _no_match, _operator),
    (re.compile(r"Function with name (\w+) does not exist"), _function, _nowhere),
    (
        re.compile(r"Subquery returns (\d+) columns - expected 1"),
        lambda m: _plain(
            f"a subquery used as a value or after IN must select one column, not {m.group(1)}"
        ),
        _subquery_columns,
    ),
    (
        re.compile(r"Window functions are not supported here"),
        lambda m: _plain(
            "a window function (ROW_NUMBER, RANK, LAG, …) needs an OVER clause, and is allowed "
            "only in the select list and ORDER BY"
        ),
        _misplaced_window,
    ),
    (
        re.compile(r"ORDER term out of range - should be between (\d+) and (?P<top>\d+)"),
        lambda m: _plain(f"ORDER BY position out of range: the query selects {m['top']} columns"),
        _position_out_of_range(exp.Order),
    ),
    (
        re.compile(r"GROUP BY term out of range - should be between (\d+) and (?P<top>\d+)"),
        lambda m: _plain(f"GROUP BY position out of range: the query selects {m['top']} columns"),
        _position_out_of_range(exp.Group),
    ),
    (
        re.compile(r"Cannot compare values of type (\S+) and type (\S+)"),
        lambda m: _plain(
            f"cannot compare a {_types(m.group(1))} with a {_types(m.group(2))}; CAST one of them"
        ),
        _comparison,
    ),
    (
        re.compile(r"(WHERE|GROUP BY|HAVING|JOIN|QUALIFY) clause cannot contain aggregates"),
        lambda m: _plain(
            f"an aggregate function (COUNT, SUM, …) is not allowed in {m.group(1).upper()}"
            + ("; filter on it in HAVING" if m.group(1).upper() == "WHERE" else "")
        ),
        _aggregate_in_clause,
    ),
    (
        re.compile(r"(WHERE|GROUP BY|HAVING|JOIN|QUALIFY) clause cannot contain window functions"),
        lambda m: _plain(
            f"a window function (ROW_NUMBER, RANK, LAG, …) is not allowed in {m.group(1).upper()}"
            "; compute it in a subquery and filter on its column"
        ),
        _misplaced_window,
    ),
    (
        re.compile(r"aggregate function calls cannot be nested"),
        lambda m: _plain(_NESTED_AGGREGATE),
        _nested_aggregate,
    ),
    (
        re.compile(r"Set operations can only apply to expressions with the same number"),
        lambda m: _plain(
            "the queries of a UNION, INTERSECT or EXCEPT must select the same number of columns"
        ),
        _set_operation,
    ),
    (
        re.compile(r'Ambiguous reference to table "([^"]+)" \(duplicate alias'),
        lambda m: _plain(
            f"table alias {m.group(1)} is given twice in one FROM; give each table its own alias"
        ),
        _duplicate_alias,
    ),
    # Spark's words for the same errors (reached where DuckDB's binding let a query through
    # that Spark refuses).
    (
        re.compile(
            r"UNRESOLVED_COLUMN[.\w]*\] A column, variable, or function parameter with name "
            r"(?:`(?P<table>[^`]+)`\.)?`(?P<name>[^`]+)` cannot be resolved"
        ),
        lambda m: _qualified_column(m) if m["table"] else _column(m),
        _named_column,
    ),
    (
        re.compile(r'MISSING_AGGREGATION\] The non-aggregating expression "(\w+)" .*GROUP BY'),
        _group_by,
        _named_column,
    ),
    (
        re.compile(r"AMBIGUOUS_REFERENCE\] Reference `([^`]+)` is ambiguous"),
        _ambiguous,
        _named_column,
    ),
    (
        re.compile(r"NESTED_AGGREGATE_FUNCTION\]"),
        lambda m: _plain(_NESTED_AGGREGATE),
        _nested_aggregate,
    ),
    (
        re.compile(r"INVALID_WHERE_CONDITION\] The (WHERE) condition"),
        lambda m: _plain(
            "an aggregate or window function is not allowed in WHERE; filter on an aggregate "
            "in HAVING, on a window function in a subquery"
        ),
        _aggregate_in_clause,
    ),
    (
        re.compile(r"(ORDER|GROUP)_BY_POS_OUT_OF_RANGE\].*valid range is \[(\d+), (?P<top>\d+)\]"),
        lambda m: _plain(
            f"{m.group(1)} BY position out of range: the query selects {m['top']} columns"
        ),
        lambda m, tree, sql: _position_out_of_range(
            exp.Order if m.group(1) == "ORDER" else exp.Group
        )(m, tree, sql),
    ),
    (
        re.compile(r"NUM_COLUMNS_MISMATCH\]"),
        lambda m: _plain(
            "the queries of a UNION, INTERSECT or EXCEPT must select the same number of columns"
        ),
        _set_operation,
    ),
    (
        re.compile(r"UNRESOLVED_ROUTINE\] Cannot resolve routine `([^`]+)`"),
        _function,
        _nowhere,
    ),
)


def _line_column(sql: str, offset: int) -> tuple[int, int]:
    before = sql[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def semantic_failure(engine_message: str, tree: exp.Expr | None = None, sql: str = "") -> Diagnosis:
    """An engine's refusal of a query that parsed (unknown column, wrong types, GROUP BY), in
    MaxCompute's words; given the query's tree and text, pointing at the token at fault."""
    text = _ANSI.sub("", engine_message)
    for pattern, diagnose, locate in _SEMANTIC_PATTERNS:
        match = pattern.search(text)
        if match is not None:
            diagnosis = diagnose(match)
            offset = locate(match, tree, sql) if tree is not None and sql else None
            if offset is not None and 0 <= offset < len(sql):
                diagnosis = replace(diagnosis, where=_line_column(sql, offset))
            return diagnosis
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


def without_colours(engine_message: str) -> str:
    """An engine's message without terminal colour codes."""
    return _ANSI.sub("", engine_message).strip()


def engine_first_line(engine_message: str) -> str:
    """The first line of an engine's message, without colour codes or its error-kind prefix."""
    text = without_colours(engine_message)
    first = text.splitlines()[0] if text else ""
    return _ENGINE_PREFIX.sub("", first)


def maxcompute_type(engine_type: str) -> str:
    """An engine's name of a type (DuckDB's `INTEGER`) as MaxCompute names it (`INT`)."""
    return _TYPES.get(engine_type.upper(), engine_type.upper())


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


_ERRORS: dict[str, type[SqlSemanticError]] = {
    SEMANTIC: SqlSemanticError,
    ARGUMENT_TYPE: SqlArgumentTypeError,
    ARGUMENT_COUNT: SqlArgumentCountError,
}


def refusal(diagnosis: Diagnosis, sql: str) -> SqlSemanticError:
    """The API error of a diagnosis, its message pointing into `sql`."""
    return _ERRORS.get(diagnosis.code, SqlSemanticError)(diagnosis.located(sql))
