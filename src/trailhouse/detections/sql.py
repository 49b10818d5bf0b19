"""A rule's detection written as MaxCompute SQL over a delivered ActionTrail table, to find past
matches in the warehouse's history (`history.py`).

Each field is read with `GET_JSON_OBJECT(event, '$.<path>')` (the planner reads the typed column
instead where the table has one). The SQL is a prefilter that never drops a match: a value SQL
cannot say exactly (a CIDR, a number compared, an unusual field name or quote) becomes TRUE where
it stands positively and FALSE under a NOT, and every row returned is confirmed by the rule's
own compiled matcher before it counts.
"""

from __future__ import annotations

import re
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from trailhouse.detections.rules import CompiledRule

_PLAIN_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")
_SAFE_TEXT = re.compile(r"[^'\\\n\r\x00]*")
MAX_ROWS = 10_000


def history_sql(rule: CompiledRule, table: str, start_day: str, end_day: str) -> str:
    """The statement that returns the events any of the rule's base rules may match, oldest
    first, within the days [start_day, end_day] (yyyymmdd)."""
    conditions = " OR ".join(f"({condition_sql(base.condition)})" for base in rule.bases)
    return (
        f"SELECT event FROM {table} WHERE ds >= '{start_day}' AND ds <= '{end_day}' "
        f"AND ({conditions}) ORDER BY event_time, event_id LIMIT {MAX_ROWS}"
    )


def condition_sql(node: Any, positive: bool = True) -> str:
    """A parsed Sigma condition as a SQL boolean (a superset of its matches)."""
    if isinstance(node, ConditionAND):
        return " AND ".join(f"({condition_sql(arg, positive)})" for arg in node.args)
    if isinstance(node, ConditionOR):
        return " OR ".join(f"({condition_sql(arg, positive)})" for arg in node.args)
    if isinstance(node, ConditionNOT):
        return f"NOT ({condition_sql(node.args[0], not positive)})"
    unknown = "TRUE" if positive else "FALSE"
    if isinstance(node, ConditionValueExpression):
        return unknown  # a keyword anywhere in the event: the matcher decides
    if not isinstance(node, ConditionFieldEqualsValueExpression):
        return unknown
    if not _PLAIN_FIELD.fullmatch(node.field):
        return unknown
    column = f"GET_JSON_OBJECT(event, '$.{node.field}')"
    return _value_sql(column, node.value) or unknown


def _value_sql(column: str, value: Any) -> str | None:
    if isinstance(value, SigmaNull):
        return f"{column} IS NULL"
    if isinstance(value, SigmaExists):
        return f"{column} IS {'NOT ' if value.exists else ''}NULL"
    if isinstance(value, SigmaBool):
        return f"LOWER({column}) = '{str(value.boolean).lower()}'"
    if isinstance(value, SigmaNumber):
        return f"{column} = '{value.number}'"
    if isinstance(value, SigmaRegularExpression):
        pattern = value.regexp.to_plain()
        if not _SAFE_TEXT.fullmatch(pattern):
            return None
        ignore = SigmaRegularExpressionFlag.IGNORECASE in value.flags
        return f"{column} RLIKE '{'(?i)' if ignore else ''}{pattern}'"
    if isinstance(value, SigmaString):
        return _string_sql(column, value)
    return None


def _string_sql(column: str, value: SigmaString) -> str | None:
    cased = isinstance(value, SigmaCasedString)
    pattern = ""
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            pattern += "%"
        elif part == SpecialChars.WILDCARD_SINGLE:
            pattern += "_"
        elif isinstance(part, str):
            if not _SAFE_TEXT.fullmatch(part) or "%" in part or "_" in part:
                return None  # LIKE's own wildcards in the value: the matcher decides
            pattern += part if cased else part.lower()
        else:
            return None
    target = column if cased else f"LOWER({column})"
    if not value.contains_special():
        return f"{target} = '{pattern}'"
    return f"{target} LIKE '{pattern}'"
