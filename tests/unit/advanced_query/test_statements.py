"""Advanced query statements: the examples of ActionTrail's "SQL statements in advanced event
queries" guide, run over events, and every malformed statement refused with where and why."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trailhouse.advanced_query.statements import MAX_NESTING, InvalidStatement, parse

EVENT: dict[str, Any] = {
    "eventName": "DescribeInstances",
    "eventSource": "actiontrail.cn-hangzhou.aliyuncs.com",
    "serviceName": "AliKafka",
    "eventRW": "Read",
    "eventCategory": "Management",
    "userIdentity": {"accessKeyId": "LTAI5tProbe", "userName": "ops user", "type": "ram-user"},
    "isGlobal": False,
}
FAILED = {**EVENT, "eventName": "CreateInstance", "errorCode": "Forbidden.RAM"}


def _matches(statement: str, event: dict[str, Any]) -> bool:
    return parse(statement).matches(event, orjson.dumps(event).decode())


@pytest.mark.parametrize(
    ("statement", "plain", "failed"),
    [
        ("DescribeInstances", True, False),
        ("describeinstances", True, False),
        ("event.eventSource: actiontrail.cn-hangzhou.aliyuncs.com", True, True),
        ("event.userIdentity.accessKeyId: *", True, True),
        ("event.eventSource: actiontrail*", True, True),
        ("event.eventSource: actiontrail.cn-?angzhou.aliyuncs.com", True, True),
        ("event.errorCode: * AND event.userIdentity.accessKeyId: *", False, True),
        (
            "event.eventName: Create OR event.eventName: CreateInstance "
            "OR event.eventName: RunInstances",
            False,
            True,
        ),
        (
            "(event.serviceName: AliKafka AND ( event.eventName: Create OR "
            "event.eventName: CreateInstance OR event.eventName: RunInstances ))",
            False,
            True,
        ),
        ('* AND "event.eventCategory": Management AND "event.eventRW": Read', True, True),
        ('"event.userIdentity.userName": "ops user"', True, True),
        ('"event.eventCategory": Management "event.userIdentity.accessKeyId": "x"', False, False),
        ("NOT event.errorCode: *", True, False),
        ("event.isGlobal: false", True, True),
        ("event.userIdentity: *", True, True),
        ("event.nothing: *", False, False),
        ("*", True, True),
        ("", True, True),
        ('* | SELECT "event.serviceName" AS s, count(*) AS n GROUP BY s', True, True),
    ],
)  # fmt: skip
def test_the_guides_statements_select_what_they_say(
    statement: str, plain: bool, failed: bool
) -> None:
    assert (_matches(statement, EVENT), _matches(statement, FAILED)) == (plain, failed)


def test_an_analytic_statement_is_kept_as_written() -> None:
    parsed = parse("event.errorCode: * | SELECT count(*) AS n ")
    assert parsed.analytic == "SELECT count(*) AS n"
    assert parse("a").analytic is None
    assert parse('event.eventName: "a|b"').analytic is None  # a quoted bar is text


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ("(event.eventName: x", "parenthesis at position 0 is not closed"),
        ("event.eventName: x)", "unexpected ')' at position 18"),
        ("a AND", "ends where a term was expected"),
        ("OR a", "OR at position 0 needs a term"),
        ("event.eventName:", "needs a value after ':'"),
        ('event.eventName: "open', "double quote is not closed"),
        (": x", "unexpected ':'"),
        ("* |", "empty; write a SELECT"),
        ("* | DELETE FROM t", "must be one SELECT"),
        ("* | SELECT 1; SELECT 2", "must be one SELECT"),
        ("* | SELECT FROM WHERE (", "not valid SQL"),
        ("(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1), "nests more than"),
        ("NOT " * (MAX_NESTING + 1) + "a", "nests more than"),
        ("a" * 4097, "at most 4096"),
    ],
)
def test_a_malformed_statement_says_where_and_what(statement: str, words: str) -> None:
    with pytest.raises(InvalidStatement) as raised:
        parse(statement)
    assert words in str(raised.value)
    assert "sqlglot" not in str(raised.value).lower()


def test_a_deeply_nested_select_is_refused_not_crashed() -> None:
    deep = "* | SELECT " + "(" * 2000 + "1" + ")" * 2000
    assert len(deep) <= 4096
    with pytest.raises(InvalidStatement) as raised:
        parse(deep)
    assert "nests too deeply" in str(raised.value) or "not valid SQL" in str(raised.value)
