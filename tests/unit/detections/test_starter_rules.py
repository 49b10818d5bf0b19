"""Each starter rule fires on its planted case and stays quiet on the demo's normal traffic
(`trailhouse.demo`), evaluated as trailhouse evaluates arriving events."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from trailhouse.demo.events import DemoEvents
from trailhouse.detections.engine import Evaluator, MemoryFirstSeen
from trailhouse.detections.rules import CompiledRule, parse_rule
from trailhouse.detections.service import starter_rules
from trailhouse.events.validation import format_event_time

ACCOUNT = "1234567890123456"
NOW = int(time.time())
DAY = 86400
RULES = {rule_id: parse_rule(text) for rule_id, text in starter_rules().items()}


def _normal() -> list[dict[str, Any]]:
    return list(DemoEvents(ACCOUNT, seed=11).between(NOW - 3 * 86400, NOW, 3000))


NORMAL = _normal()


def _event(name: str, seconds: int = 0, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": f"planted-{name}-{seconds}-{len(fields)}",
        "eventTime": format_event_time(NOW + seconds),
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Write",
        "sourceIpAddress": "203.0.113.7",
        "userIdentity": {"type": "ram-user", "principalId": "27700001", "userName": "mallory"},
    }
    for path, value in fields.items():
        target = event
        parts = path.split("__")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return event


def _run(rule: CompiledRule, events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    evaluator = Evaluator(MemoryFirstSeen())
    timed = [(_time(e), e) for e in events]
    return [m.event_ids for m in evaluator.evaluate(ACCOUNT, [rule], timed)]


def _time(event: dict[str, Any]) -> int:
    return int(time.mktime(time.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ")))


ROOT = {"userIdentity__type": "root-account", "userIdentity__principalId": ACCOUNT}
PLANTED: dict[str, list[dict[str, Any]]] = {
    "actiontrail_root_signin": [_event("ConsoleSignin", eventType="ConsoleSignin", **ROOT)],
    "actiontrail_signin_without_mfa": [
        _event("ConsoleSignin", additionalEventData__isMFAChecked="false")
    ],
    "actiontrail_root_access_key": [_event("CreateAccessKey", **ROOT)],
    "actiontrail_trail_stopped": [_event("StopLogging", requestParameters__Name="main")],
    "actiontrail_logging_changed": [_event("UpdateTrail", requestParameters__Name="main")],
    "actiontrail_admin_policy_attached": [
        _event("AttachPolicyToRole", requestParameters__PolicyName="AdministratorAccess")
    ],
    "actiontrail_security_group_open": [
        _event("AuthorizeSecurityGroup", requestParameters__SourceCidrIp="0.0.0.0/0")
    ],
    "actiontrail_user_and_key": [
        _event("CreateUser", 0, requestParameters__UserName="backdoor"),
        _event("CreateAccessKey", 120, requestParameters__UserName="backdoor"),
    ],
    "actiontrail_deletion_burst": [
        _event("DeleteInstance", i, requestParameters__InstanceId=f"i-{i}") for i in range(20)
    ],
    "actiontrail_key_new_ip": [  # the key's baseline learns for a day
        _event("DescribeInstances", -DAY - 60, userIdentity__accessKeyId="LTAI5tplanted"),
        _event(
            "DescribeInstances",
            0,
            userIdentity__accessKeyId="LTAI5tplanted",
            sourceIpAddress="198.51.100.66",
        ),
    ],
}
# Near misses: each is what a rule must NOT fire on, beside its planted case.
NEAR_MISSES: dict[str, list[dict[str, Any]]] = {
    "actiontrail_signin_without_mfa": [
        _event("ConsoleSignin", additionalEventData__isMFAChecked="true"),
        _event("ConsoleSignin", additionalEventData__isMFAChecked="false", errorCode="Denied"),
    ],
    "actiontrail_root_access_key": [
        _event("CreateAccessKey", requestParameters__UserName="bob", **ROOT)
    ],
    "actiontrail_admin_policy_attached": [
        _event("AttachPolicyToUser", requestParameters__PolicyName="ReadOnlyAccess")
    ],
    "actiontrail_security_group_open": [
        _event("AuthorizeSecurityGroup", requestParameters__SourceCidrIp="10.0.0.0/8")
    ],
    "actiontrail_user_and_key": [
        _event("CreateUser", 0, requestParameters__UserName="slow"),
        _event("CreateAccessKey", 3600, requestParameters__UserName="slow"),
        _event("CreateAccessKey", 30, requestParameters__UserName="other"),
    ],
    "actiontrail_deletion_burst": [
        _event("DeleteInstance", i * 60, requestParameters__InstanceId=f"i-{i}") for i in range(20)
    ],
}


def test_the_pack_covers_what_the_issue_lists() -> None:
    assert sorted(PLANTED) == sorted(RULES)
    assert len(RULES) == 10


@pytest.mark.parametrize("rule_id", sorted(PLANTED))
def test_a_starter_rule_fires_on_its_planted_case(rule_id: str) -> None:
    planted = PLANTED[rule_id]
    found = _run(RULES[rule_id], copy.deepcopy(planted))
    assert len(found) == 1, found
    assert found[0][-1] == planted[-1]["eventId"]  # the finding names the event that completed it


@pytest.mark.parametrize("rule_id", sorted(NEAR_MISSES))
def test_a_starter_rule_ignores_its_near_misses(rule_id: str) -> None:
    assert _run(RULES[rule_id], copy.deepcopy(NEAR_MISSES[rule_id])) == []


def _demo_truth(rule_id: str, event: dict[str, Any]) -> bool:
    """What the demo's own fields say each single-event rule should find, written without
    Sigma: only root sign-ins and root keys occur in the demo's normal traffic."""
    identity = event["userIdentity"]
    root = identity["type"] == "root-account"
    if rule_id == "actiontrail_root_signin":
        return root and event["eventName"] == "ConsoleSignin"
    if rule_id == "actiontrail_root_access_key":
        return root and event["eventName"] == "CreateAccessKey"
    return False


@pytest.mark.parametrize("rule_id", sorted(r for r in PLANTED if r != "actiontrail_key_new_ip"))
def test_a_starter_rule_stays_quiet_on_normal_traffic(rule_id: str) -> None:
    expected = [(e["eventId"],) for e in NORMAL if _demo_truth(rule_id, e)]
    assert _run(RULES[rule_id], copy.deepcopy(NORMAL)) == expected


def test_a_key_seen_again_from_its_own_addresses_is_quiet() -> None:
    """The first pass sets each key's baseline (and finds second addresses); the same traffic
    again, from the same addresses, finds nothing."""
    rule = RULES["actiontrail_key_new_ip"]
    first_pass = _run(rule, copy.deepcopy(NORMAL + NORMAL))
    once = _run(rule, copy.deepcopy(NORMAL))
    assert first_pass == once
    assert len(once) < len({e["userIdentity"].get("accessKeyId") for e in NORMAL}) * 3


def test_open_correlation_windows_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many principals each deleting once leave windows behind; past the bound, the expired
    ones are swept and a burst still fires."""
    from trailhouse.detections import engine

    monkeypatch.setattr(engine, "MAX_WINDOWS", 50)
    rule = RULES["actiontrail_deletion_burst"]
    evaluator = Evaluator(lambda *_: None)
    scattered = []
    for i in range(200):
        event = _event("DeleteInstance", i * 10)
        event["userIdentity"]["principalId"] = f"p-{i}"
        scattered.append((_time(event), event))
    assert evaluator.evaluate(ACCOUNT, [rule], scattered) == []
    assert len(evaluator._windows) <= 50
    burst = [_event("DeleteVpc", 3000 + i) for i in range(20)]
    found = evaluator.evaluate(ACCOUNT, [rule], [(_time(e), e) for e in burst])
    assert [m.event_ids for m in found] == [tuple(e["eventId"] for e in burst)]
