"""A rule that does not parse, names an unknown field, would match everything or uses what
trailhouse does not run is refused with its line and the reason; each modifier matches as
Sigma specifies."""

from __future__ import annotations

from typing import Any

import pytest

from trailhouse.detections.rules import RuleRefused, parse_rule

HEAD = "title: t\nname: t\nlogsource: {product: alibabacloud, service: actiontrail}\n"


def _rule(detection: str) -> str:
    return HEAD + "detection:\n" + detection


REFUSED = [
    ("title: [unclosed\n", 2, "not valid YAML"),
    ("- just\n- a list\n", 1, "a rule is a YAML mapping"),
    (_rule("  s:\n    eventNmae: X\n  condition: s\n"), 6, "'eventNmae' is not a field"),
    (_rule("  s:\n    eventName: '*'\n  condition: s\n"), 4, "only wildcards"),
    (_rule("  s:\n    eventName|contains: ''\n  condition: s\n"), 4, "only wildcards"),
    (_rule("  s:\n    eventName: X\n  condition: not s\n"), 7, "would match every event"),
    (_rule("  s:\n    eventId|exists: true\n  condition: s\n"), 7, "whatever their values"),
    (_rule("  s:\n    eventName|re: '.*'\n  condition: s\n"), 7, "whatever their values"),
    (
        _rule("  s:\n    sourceIpAddress|cidr: [0.0.0.0/0, '::/0']\n  condition: s\n"),
        7,
        "whatever their values",
    ),
    (_rule("  s:\n    eventName: X\n  condition: s and\n"), 7, "expected a selection name"),
    (_rule("  s:\n    eventName: X\n  condition: s and t\n"), 7, "selection 't' not defined"),
    (
        HEAD.replace("alibabacloud", "aws")
        + "detection:\n  s:\n    eventName: X\n  condition: s\n",
        3,
        "logsource must be product: alibabacloud, service: actiontrail",
    ),
    (
        _rule("  s:\n    eventName: X\n  condition: s\n")
        + "---\ntitle: c\ncorrelation:\n  type: value_count\n  rules: [t]\n"
        "  group-by: [eventName]\n"
        "  timespan: 5m\n  condition: {gte: 3, field: sourceIpAddress}\n",
        11,
        "correlation type value_count is not supported",
    ),
    (
        _rule("  s:\n    eventName: X\n  condition: s\n")
        + "---\ntitle: c\ncorrelation:\n  type: event_count\n  rules: [t]\n  group-by: [nope]\n"
        "  timespan: 5m\n  condition: {gte: 3}\n",
        13,
        "group-by field 'nope'",
    ),
    (
        _rule("  s:\n    eventName: X\n  condition: s\n")
        + "---\ntitle: c\ncorrelation:\n  type: event_count\n  rules: [t]\n"
        "  timespan: 5m\n  condition: {lt: 3}\n",
        14,
        "needs a condition gte or gt",
    ),
    (
        _rule("  s:\n    eventName: X\n  condition: s\n")
        + "trailhouse:\n  first_seen:\n    value: sourceIpAddress\n"
        "    per: userIdentity.accessKeyId\n    learn: a week\n",
        12,
        "first_seen learn must be a timespan",
    ),
    (
        _rule("  s:\n    eventName: X\n  condition: s\n")
        + "trailhouse:\n  first_seen:\n    value: sourceIpAddress\n"
        "    per: userIdentity.accessKeyId\n    learn: 31d\n",
        12,
        "at most 30d",
    ),
]


@pytest.mark.parametrize(("text", "line", "reason"), REFUSED)
def test_a_bad_rule_is_refused_with_its_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(RuleRefused) as refused:
        parse_rule(text)
    assert refused.value.line == line, refused.value
    assert reason in refused.value.reason
    assert "sigma." not in str(refused.value) and "Sigma" not in type(refused.value).__name__


EVENT: dict[str, Any] = {
    "eventName": "AuthorizeSecurityGroup",
    "sourceIpAddress": "10.20.30.40",
    "userAgent": "Terraform/1.9.5 terraform-provider-alicloud/1.230.0",
    "userIdentity": {"type": "ram-user", "userName": "Ops-Admin"},
    "requestParameters": {"Port": 22, "Tags": ["a", "prod-db"]},
    "additionalEventData": {"isMFAChecked": "false"},
}
MATCHES = [
    ("eventName: authorizesecuritygroup", True),  # case-insensitive, as Sigma says
    ("eventName|cased: authorizesecuritygroup", False),
    ("userAgent|contains: terraform-provider", True),
    ("userAgent|startswith: Terraform/", True),
    ("userAgent|endswith: '1.230.0'", True),
    ("userAgent|re: 'provider-ali\\w+/1\\.'", True),
    ("sourceIpAddress|cidr: 10.0.0.0/8", True),
    ("sourceIpAddress|cidr: 192.168.0.0/16", False),
    ("userAgent|contains|all: [Terraform, nope]", False),
    ("userAgent|contains|all: [Terraform, alicloud]", True),
    ("userIdentity.userName: 'ops-*'", True),
    ("requestParameters.Port: 22", True),
    ("requestParameters.Port|gte: 1024", False),
    ("requestParameters.Tags|endswith: -db", True),
    ("additionalEventData.isMFAChecked: 'false'", True),
    ("errorCode|exists: false\n    eventName: AuthorizeSecurityGroup", True),
]


@pytest.mark.parametrize(("item", "expected"), MATCHES)
def test_a_modifier_matches_as_sigma_says(item: str, expected: bool) -> None:
    rule = parse_rule(_rule(f"  s:\n    {item}\n  condition: s\n"))
    assert rule.bases[0].predicate(EVENT) is expected


def test_conditions_combine_selections() -> None:
    text = _rule(
        "  sel_a:\n    eventName: AuthorizeSecurityGroup\n  sel_b:\n    eventName: Nope\n"
        "  filter:\n    userIdentity.type: root-account\n"
        "  condition: 1 of sel_* and not filter\n"
    )
    assert parse_rule(text).bases[0].predicate(EVENT) is True
    all_of = parse_rule(text.replace("1 of sel_*", "all of sel_*"))
    assert all_of.bases[0].predicate(EVENT) is False
