"""Attacks through detection rules: a rule is code an account's user hands the server, run on
every event it records. A catastrophic regex, a YAML alias bomb, SQL smuggled into a value or
a field name, and a rule of one account reading another's events all fail."""

from __future__ import annotations

import time

import pytest

from trailhouse.detections.rules import RuleRefused, parse_rule
from trailhouse.detections.sql import history_sql

HEAD = "title: t\nname: t\nlogsource: {product: alibabacloud, service: actiontrail}\n"


def _rule(detection: str) -> str:
    return HEAD + "detection:\n" + detection


@pytest.mark.parametrize(
    "item",
    [
        "userAgent|re: '(a+)+$'",
        "userAgent|re: '(a|aa)*c'",
        "userAgent: '*a*a*a*a*a*a*a*a*a*a*b'",
    ],
)
def test_a_catastrophic_pattern_runs_in_linear_time(item: str) -> None:
    rule = parse_rule(_rule(f"  s:\n    {item}\n  condition: s\n"))
    hostile = {"userAgent": "a" * 100_000 + "!"}
    started = time.perf_counter()
    assert rule.bases[0].predicate(hostile) is False
    assert time.perf_counter() - started < 1.0


def test_a_yaml_alias_bomb_is_refused_before_it_expands() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)
    )
    started = time.perf_counter()
    with pytest.raises(RuleRefused) as refused:
        parse_rule(bomb)
    assert "anchors and aliases" in refused.value.reason and refused.value.line == 1
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "item",
    [
        "eventName: \"x' OR '1'='1\"",
        "eventName: 'x\\'' ",
        'userAgent|re: "\') OR TRUE --"',
        "requestParameters.a'b: x",
    ],
)
def test_sql_smuggled_into_a_rule_never_reaches_the_statement(item: str) -> None:
    try:
        rule = parse_rule(_rule(f"  s:\n    {item}\n  condition: s\n"))
    except RuleRefused:
        return  # refused outright is as good
    statement = history_sql(rule, "actiontrail_t", "20260101", "20260102")
    where = statement.split(" AND (", 1)[1]
    quoted = where.count("'")
    assert quoted % 2 == 0 and "OR TRUE" not in where and "1'='1" not in where, statement


def test_a_table_name_cannot_carry_sql() -> None:
    from trailhouse.api.handlers.detections import _TABLE

    assert _TABLE.fullmatch("actiontrail_main")
    for hostile in ("t; DROP TABLE x", "t WHERE 1=1 --", "a.b", "t'"):
        assert not _TABLE.fullmatch(hostile)
