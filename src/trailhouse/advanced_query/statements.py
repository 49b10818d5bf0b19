"""Advanced query statements: `<search statement> [| <analytic statement>]`, as ActionTrail's
console writes them (the Simple Log Service query syntax over `event.*` properties).

The search statement is parsed here and run over events (`Search.matches`):
`DescribeInstances` (a keyword anywhere in the event), `event.eventName: CreateTrail` (a
property, exactly, case-insensitively), `event.eventSource: actiontrail*` (`*` any characters,
`?` one), `event.errorCode: *` (the property is present), `"event.userIdentity.userName": "a b"`
(quoted names and values), `*` (every event), combined with AND, OR, NOT and parentheses; two
terms side by side are ANDed. The analytic statement after `|` must be one SELECT; it is checked
and kept, not run (docs/api.md).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

MAX_STATEMENT_CHARS = 4096
MAX_NESTING = 32
_TOKEN = re.compile(
    r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<colon>:)|"(?P<quoted>(?:[^"\\]|\\.)*)"'
    r'|(?P<word>[^\s():"]+))'
)
_KEYWORDS = {"and", "or", "not"}
_WORDS = re.compile(r"[^\W_]+(?:[._\-/@:][^\W_]+)*", re.UNICODE)


class InvalidStatement(ValueError):
    """The statement cannot be parsed; the message says where and what to write instead."""


@dataclass(frozen=True, slots=True)
class Term:
    """`field: pattern`, or with `field` None a keyword anywhere in the event."""

    field: str | None
    pattern: str

    def matches(self, event: Mapping[str, Any], text: str) -> bool:
        """True when the event satisfies this term."""
        if self.field is None:
            if self.pattern == "*":
                return True
            return any(_like(word, self.pattern) for word in _WORDS.findall(text)) or (
                not _wild(self.pattern) and self.pattern.lower() in text.lower()
            )
        value = _property(event, self.field)
        if value is None or value == "":
            return False
        if self.pattern == "*":
            return True
        return _like(value, self.pattern)


@dataclass(frozen=True, slots=True)
class Not:
    """NOT: the operand does not match."""

    operand: Node

    def matches(self, event: Mapping[str, Any], text: str) -> bool:
        return not self.operand.matches(event, text)


@dataclass(frozen=True, slots=True)
class AllOf:
    """AND (or terms side by side): every operand matches."""

    operands: tuple[Node, ...]

    def matches(self, event: Mapping[str, Any], text: str) -> bool:
        return all(operand.matches(event, text) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """OR: some operand matches."""

    operands: tuple[Node, ...]

    def matches(self, event: Mapping[str, Any], text: str) -> bool:
        return any(operand.matches(event, text) for operand in self.operands)


Node = Term | Not | AllOf | AnyOf


@dataclass(frozen=True, slots=True)
class Statement:
    """A parsed statement: its search part and, when given, its analytic SELECT (as written)."""

    search: Node
    analytic: str | None

    def matches(self, event: Mapping[str, Any], text: str) -> bool:
        """True when the event (decoded, and as JSON text) satisfies the search statement."""
        return self.search.matches(event, text)


def parse(statement: str) -> Statement:
    """Parse a statement; InvalidStatement says what is wrong."""
    if len(statement) > MAX_STATEMENT_CHARS:
        raise InvalidStatement(
            f"the statement has {len(statement)} characters; at most {MAX_STATEMENT_CHARS}"
        )
    search_text, bar, analytic = _split(statement)
    search = _Parser(_tokens(search_text)).statement() if search_text.strip() else Term(None, "*")
    if bar:
        _check_select(analytic)
    return Statement(search, analytic.strip() if bar else None)


def _split(statement: str) -> tuple[str, bool, str]:
    """The search and analytic parts: the first `|` outside double quotes splits them."""
    quoted = False
    escaped = False
    for index, char in enumerate(statement):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "|" and not quoted:
            return statement[:index], True, statement[index + 1 :]
    if quoted:
        raise InvalidStatement("a double quote is not closed; close it or remove it")
    return statement, False, ""


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise InvalidStatement(
                f"unexpected character {text[position:].lstrip()[:1]!r} at position {position}"
            )
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "quoted":
            value = re.sub(r"\\(.)", r"\1", value)
        tokens.append((kind, value, match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self._tokens = tokens
        self._at = 0
        self._depth = 0

    def statement(self) -> Node:
        node = self._or()
        if self._at < len(self._tokens):
            _, value, position = self._tokens[self._at]
            raise InvalidStatement(f"unexpected {value!r} at position {position}")
        return node

    def _peek(self) -> tuple[str, str, int] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self._at += 1
            return True
        return False

    def _or(self) -> Node:
        operands = [self._and()]
        while self._keyword("or"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else AnyOf(tuple(operands))

    def _and(self) -> Node:
        operands = [self._not()]
        while True:
            if self._keyword("and"):
                operands.append(self._not())
                continue
            token = self._peek()
            if (
                token is None
                or token[0] == "close"
                or (token[0] == "word" and token[1].lower() == "or")
            ):
                break
            operands.append(self._not())  # side by side: AND
        return operands[0] if len(operands) == 1 else AllOf(tuple(operands))

    def _not(self) -> Node:
        if self._keyword("not"):
            return Not(self._not_operand())
        return self._atom()

    def _not_operand(self) -> Node:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise InvalidStatement(f"the statement nests more than {MAX_NESTING} levels deep")
        try:
            return self._not()
        finally:
            self._depth -= 1

    def _atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise InvalidStatement("the statement ends where a term was expected")
        kind, value, position = token
        if kind == "open":
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise InvalidStatement(f"the statement nests more than {MAX_NESTING} levels deep")
            self._at += 1
            node = self._or()
            closing = self._peek()
            if closing is None or closing[0] != "close":
                raise InvalidStatement(f"the parenthesis at position {position} is not closed")
            self._at += 1
            self._depth -= 1
            return node
        if kind in {"close", "colon"}:
            raise InvalidStatement(f"unexpected {value!r} at position {position}")
        if kind == "word" and value.lower() in _KEYWORDS:
            raise InvalidStatement(
                f"{value.upper()} at position {position} needs a term before and after it"
            )
        self._at += 1
        following = self._peek()
        if following is None or following[0] != "colon":
            return Term(None, value)
        self._at += 1
        pattern = self._peek()
        if pattern is None or pattern[0] not in {"word", "quoted"}:
            raise InvalidStatement(
                f"the property {value} at position {position} needs a value after ':' "
                "(use * for any value)"
            )
        self._at += 1
        return Term(value, pattern[1])


def _check_select(analytic: str) -> None:
    """The analytic statement must be exactly one SELECT."""
    if not analytic.strip():
        raise InvalidStatement("the analytic statement after '|' is empty; write a SELECT")
    try:
        parsed = sqlglot.parse(analytic, read="trino")
    except ParseError:
        raise InvalidStatement(
            "the analytic statement after '|' is not valid SQL; write one SELECT, with "
            "property names in double quotes and strings in single quotes"
        ) from None
    except RecursionError:
        raise InvalidStatement("the analytic statement nests too deeply") from None
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Query):
        raise InvalidStatement("the analytic statement after '|' must be one SELECT")


def _property(event: Mapping[str, Any], name: str) -> str | None:
    """The value at `event.a.b` (the `event.` prefix optional) as text, or None."""
    path = name.split(".")
    if path and path[0] == "event":
        path = path[1:]
    node: Any = event
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if node is None or isinstance(node, (Mapping, list)):
        return None if node is None else str(node)
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _wild(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _like(value: str, pattern: str) -> bool:
    if not _wild(pattern):
        return value.lower() == pattern.lower()
    translated = fnmatch.translate(pattern.lower().replace("[", "[[]"))
    return re.fullmatch(translated, value.lower()) is not None
