"""The eventName index of live evaluation (`detections/dispatch.py`): an event is tested only
against the rules its name lets match, and read only for the top-level fields those rules name;
what it finds must be exactly what every rule finds over the whole parsed event."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from trailhouse.demo.events import DemoEvents
from trailhouse.detections.dispatch import Dispatch, reader, roots_of
from trailhouse.detections.engine import Evaluator, Match, MemoryFirstSeen
from trailhouse.detections.rules import CompiledRule, parse_rule
from trailhouse.detections.service import DetectionService, _events, starter_rules
from trailhouse.events.fast_path import validate_raw_event
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import ValidationLimits, format_event_time
from trailhouse.store.sqlite.metadata import SqliteMetadataStore

ACCOUNT = "1234567890123456"
NOW = int(time.time())
LIMITS = ValidationLimits(
    now=NOW, retention_seconds=90 * 86400, max_future_seconds=900, max_event_bytes=256 * 1024
)


def _rule(name: str, detection: str, extra: str = "") -> CompiledRule:
    text = (
        f"title: {name}\nname: {name}\nlogsource: {{product: alibabacloud, service: actiontrail}}\n"
        f"detection:\n{detection}\nlevel: high\n{extra}"
    )
    return parse_rule(text)


# A rule on a field other than eventName, an OR of eventNames, a keyword, negations.
BY_ADDRESS = _rule(
    "by_address",
    "  selection:\n    sourceIpAddress|cidr: 198.51.100.0/24\n  condition: selection",
)
EITHER_NAME = _rule(
    "either_name",
    "  a:\n    eventName: CreateBucket\n  b:\n    eventName: DeleteBucket\n  condition: a or b",
)
KEYWORD = _rule("keyword", "  keywords:\n    - '*exfil-marker*'\n  condition: keywords")
NOT_SIGNIN = _rule(
    "not_signin",
    "  selection:\n    userIdentity.type: root-account\n  signin:\n    eventName: ConsoleSignin\n"
    "  condition: selection and not signin",
)
NOT_FAILED = _rule(
    "not_failed",
    "  selection:\n    eventName|startswith: Put\n  failed:\n    errorCode|exists: true\n"
    "  condition: selection and not failed",
)
NESTED_NAME = _rule(
    "nested_name",
    "  selection:\n    requestParameters.eventName: DeleteTrail\n  condition: selection",
)
OWN = (BY_ADDRESS, EITHER_NAME, KEYWORD, NOT_SIGNIN, NOT_FAILED, NESTED_NAME)
STARTER = tuple(parse_rule(text) for text in starter_rules().values())


def _event(name: str, seconds: int = 0, **top: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": f"e-{name}-{seconds}-{'-'.join(sorted(top))}",
        "eventVersion": "1",
        "eventTime": format_event_time(NOW - 600 + seconds),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": "R",
        "sourceIpAddress": "203.0.113.7",
        "userAgent": "test",
        "userIdentity": {"type": "ram-user", "principalId": "27700001", "userName": "mallory"},
    }
    event.update(top)
    return event


def _record(event: dict[str, Any]) -> EventRecord:
    return validate_raw_event(orjson.dumps(event), account_id=ACCOUNT, limits=LIMITS)


PLANTED = [
    _event("DescribeRegions", 1, sourceIpAddress="198.51.100.23"),
    _event("CreateBucket", 2),
    _event("DeleteBucket", 3),
    _event("GetBucketInfo", 4),
    _event("DescribeImages", 5, responseElements={"Images": [{"Tag": "an-EXFIL-MARKER-here"}]}),
    _event("ListUsers", 6, userIdentity={"type": "root-account", "principalId": ACCOUNT}),
    _event("ConsoleSignin", 7, userIdentity={"type": "root-account", "principalId": ACCOUNT}),
    _event("PutBucketAcl", 8),
    _event("PutBucketAcl", 9, errorCode="AccessDenied", errorMessage="no"),
    _event("UpdateTrail", 10, requestParameters={"eventName": "DeleteTrail"}),
    _event("StopLogging", 11),
    _event("AuthorizeSecurityGroup", 12, requestParameters={"SourceCidrIp": "0.0.0.0/0"}),
    *[_event("DeleteInstance", 20 + i) for i in range(22)],
    _event("CreateUser", 50, requestParameters={"UserName": "x"}),
    _event("CreateAccessKey", 51, requestParameters={"UserName": "x"}),
]


def test_an_event_is_tried_only_on_the_rules_its_name_lets_match() -> None:
    dispatch = Dispatch(OWN)

    def names(event_name: str) -> set[str]:
        plan = dispatch.plan(event_name)
        return set() if plan is None else {rule.rule_id for rule in plan.rules}

    # Rules that do not restrict eventName (another field, a keyword, a negated name) stay.
    anywhere = {"by_address", "keyword", "not_signin", "nested_name"}
    assert names("CreateBucket") == anywhere | {"either_name"}
    assert names("DeleteBucket") == anywhere | {"either_name"}
    assert names("PutBucketAcl") == anywhere | {"not_failed"}
    assert names("ConsoleSignin") == anywhere
    assert names("GetCallerIdentity") == anywhere
    # The starter pack names its APIs but for the first-seen key rule.
    starter = Dispatch([rule for rule in STARTER if rule.rule_id != "actiontrail_key_new_ip"])
    assert starter.plan("GetCallerIdentity") is None
    assert starter.plan("DescribeInstances") is None
    stopped = starter.plan("StopLogging")
    assert stopped is not None
    assert [rule.rule_id for rule in stopped.rules] == ["actiontrail_trail_stopped"]


def test_an_event_no_rule_can_match_is_never_parsed() -> None:
    dispatch = Dispatch([EITHER_NAME])
    unreadable = EventRecord(
        account_id=ACCOUNT,
        event_id="x",
        event_time=NOW,
        event_name="GetBucketInfo",
        service_name="Oss",
        event_rw="Read",
        user_name=None,
        access_key_id=None,
        resource_types=(),
        resource_names=(),
        body=b"not json at all",
    )
    assert list(_events(dispatch, [unreadable])) == []
    with pytest.raises(msgspec.DecodeError):  # named by a rule: it is read
        list(
            _events(
                dispatch, [EventRecord(**{**_fields(unreadable), "event_name": "CreateBucket"})]
            )
        )


def _fields(record: EventRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}


def test_an_event_is_read_for_the_top_level_fields_its_rules_name() -> None:
    assert roots_of(BY_ADDRESS) == {"sourceIpAddress"}
    assert roots_of(NOT_SIGNIN) == {"userIdentity", "eventName"}
    assert roots_of(NESTED_NAME) == {"requestParameters"}
    assert roots_of(KEYWORD) is None  # a string anywhere: the whole event
    key_rule = next(r for r in STARTER if r.rule_id == "actiontrail_key_new_ip")
    assert roots_of(key_rule) == {"userIdentity", "sourceIpAddress"}
    burst = next(r for r in STARTER if r.rule_id == "actiontrail_deletion_burst")
    assert roots_of(burst) == {"eventName", "errorCode", "userIdentity"}  # its group-by too

    body = orjson.dumps(PLANTED[4])
    read = reader(frozenset({"sourceIpAddress", "userIdentity", "errorCode"}))(body)
    whole = orjson.loads(body)
    # What is read is the whole event's own values, absent fields absent.
    assert read == {
        key: whole[key]
        for key in ("eventId", "eventName", "eventType", "sourceIpAddress", "userIdentity")
    }
    assert reader(None)(body) == whole


def test_an_integer_wider_than_64_bits_is_compared_as_before() -> None:
    # Events are read by msgspec, which keeps such integers exact; orjson, which read them
    # before, makes them floats, as pySigma does with the rule's number: they still match.
    wide = _rule(
        "wide",
        "  selection:\n    requestParameters.Size: 123456789012345678901234567890\n"
        "  condition: selection",
    )
    event = _event("ResizeDisk", requestParameters={"Size": "WIDE"})
    written = orjson.dumps(event).replace(b'"WIDE"', b"123456789012345678901234567890")
    record = validate_raw_event(written, account_id=ACCOUNT, limits=LIMITS)
    assert [m.event_ids for m in _live([wide], [record])] == [(event["eventId"],)]


def _live(rules: list[CompiledRule], records: list[EventRecord]) -> list[Match]:
    return Evaluator(MemoryFirstSeen()).evaluate_each(ACCOUNT, _events(Dispatch(rules), records))


def _key(match: Match) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return (match.rule.rule_id, match.event_ids, match.group)


def test_live_evaluation_finds_exactly_what_each_rule_finds_on_the_whole_event() -> None:
    normal = list(DemoEvents(ACCOUNT, seed=5).between(NOW - 3 * 3600, NOW - 1200, 3000))
    events = sorted([*normal, *PLANTED], key=lambda e: str(e["eventTime"]))
    records = [_record(event) for event in events]
    rules = [*STARTER, *OWN]
    dispatched = _live(rules, records)
    # The reference: every rule on every whole event, no index, no projection.
    whole = [(r.event_time, orjson.loads(r.body)) for r in records]
    reference: list[Match] = []
    evaluator = Evaluator(MemoryFirstSeen())
    for moment, event in whole:
        for rule in rules:
            reference += evaluator.evaluate_each(ACCOUNT, [(moment, event, [rule])])
    assert sorted(map(_key, dispatched)) == sorted(map(_key, reference))
    found = {m.rule.rule_id for m in dispatched}
    # Every kind of rule above found something, so the comparison is not vacuous.
    assert {rule.rule_id for rule in OWN} <= found
    assert {"actiontrail_trail_stopped", "actiontrail_deletion_burst"} <= found
    assert "actiontrail_user_and_key" in found


def test_every_record_names_its_events_own_event_name() -> None:
    # The index trusts EventRecord.event_name to be the body's eventName, as both validation
    # paths build it, a repeated key included (the last one wins in every reader).
    repeated = orjson.dumps(_event("GetBucketInfo"))[:-1] + b',"eventName":"StopLogging"}'
    fast = validate_raw_event(repeated, account_id=ACCOUNT, limits=LIMITS)
    precise_event = {**_event("StopLogging"), "eventId": None}  # a derived id: precise path
    precise = validate_raw_event(orjson.dumps(precise_event), account_id=ACCOUNT, limits=LIMITS)
    for record in (fast, precise):
        assert record.event_name == orjson.loads(record.body)["eventName"] == "StopLogging"


def test_the_service_uses_the_index_and_finds_what_it_found_before(tmp_path: Path) -> None:
    metadata = SqliteMetadataStore(tmp_path / "meta")
    recorded: list[EventRecord] = []
    service = DetectionService(metadata, lambda records: recorded.extend(records) or len(records))
    try:
        for rule in service.list_rules(ACCOUNT):
            service.set_enabled(ACCOUNT, rule.rule_id, True, 1)
        service.on_accepted([_record(event) for event in PLANTED])
        found = {f.rule_id for f in service.findings.list(ACCOUNT, limit=200)[0]}
        assert found == {
            "actiontrail_trail_stopped",
            "actiontrail_logging_changed",
            "actiontrail_security_group_open",
            "actiontrail_deletion_burst",
            "actiontrail_user_and_key",
            "actiontrail_root_signin",
        }
    finally:
        metadata.close()
