"""Realistic traffic with planted attacks, replayed through a real server with the official
SDK's PutEvents: every starter rule and every insight type fires on its own plant, visible
through the API (ListFindings, LookupInsightEvents), and nothing fires on the normal traffic.

Normal traffic is `gen_events.py` (tests/data, a verbatim copy of the shared generator) made the
traffic of a well-run account (`normal_traffic.py` says what is changed and why): 9,000 events
spread by the generator's daily rhythm over five and a half hours of eventTime, rising from
about 10 to 50 events a minute. Two accounts receive it, each with all ten starter rules and all
four insight types enabled: `attacked` with the plants mixed in, `quiet` with nothing else. The
server runs with `TRAILHOUSE_INSIGHTS_MIN_BASELINE_BUCKETS=30`, so half an hour of history
suffices before an insight may start.

The seed is fixed (7). Replaying ten seeds through the detector, one (5) raised an AkInsight on
normal traffic: a key climbing with the morning from 4 to 10 calls a minute made 17 in one
minute, above four times its day's mean (docs/insights.md, "Differences from ActionTrail").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from compat_support import Keys, Server, put_events, rpc_client, sdk, trailhouse, wait_observed
from normal_traffic import normal_events

from server_process import free_port
from trailhouse.events.validation import format_event_time

SEED = 7
MINUTES, PER_MINUTE = 150, 60  # the generator's span and rate before its daily rhythm
INSIGHT_TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight", "IpInsight", "AkInsight")
STEADY_KEY = "LTAI5tReplaySteadyBot001"  # a deployment bot: 3 calls a minute, one address
STEADY_IP = "192.0.2.10"
NEW_IP = "198.51.100.77"
MALLORY_KEY = "LTAI5tReplayMallory0001"  # a stolen RAM user's key
MALLORY_IP = "203.0.113.66"


@dataclass(frozen=True)
class Replayed:
    server: Server
    attacked: Keys
    quiet: Keys
    planted: dict[str, list[str]]  # rule id → the event ids its finding must name


def _event(account: str, moment: int, name: str, **fields: Any) -> dict[str, Any]:
    """An event of the attacker (mallory's key), or of whoever `fields` says."""
    event: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventVersion": "1",
        "eventTime": format_event_time(moment),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventCategory": "Management",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": str(uuid.uuid4()).upper(),
        "sourceIpAddress": MALLORY_IP,
        "userAgent": "aliyun-cli/3.0.190 (linux; amd64) Go/1.20.12",
        "userIdentity": {
            "type": "ram-user",
            "principalId": "277000000000001",
            "accountId": account,
            "accessKeyId": MALLORY_KEY,
            "userName": "mallory",
        },
        "recipientAccountId": account,
    }
    event.update(fields)
    return event


def _steady(account: str, moment: int, ip: str = STEADY_IP) -> dict[str, Any]:
    return _event(
        account,
        moment,
        "DescribeInstanceStatus",
        eventRW="Read",
        sourceIpAddress=ip,
        userIdentity={
            "type": "ram-user",
            "principalId": "277000000000002",
            "accountId": account,
            "accessKeyId": STEADY_KEY,
            "userName": "deploy-bot",
        },
    )


def _plants(account: str, start: int) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The attacks, at minutes of the replay, and the events each rule's finding must name."""

    def at(minute: int, second: int = 30) -> int:
        return start + minute * 60 + second

    root = {"type": "root-account", "principalId": account, "accountId": account}
    plants: dict[str, list[dict[str, Any]]] = {
        "actiontrail_root_signin": [
            _event(
                account,
                at(60),
                "ConsoleSignin",
                eventType="ConsoleSignin",
                userIdentity=root,
                additionalEventData={"isMFAChecked": "true", "loginAccount": "root"},
            )
        ],
        "actiontrail_signin_without_mfa": [
            _event(
                account,
                at(70),
                "ConsoleSignin",
                eventType="ConsoleSignin",
                additionalEventData={"isMFAChecked": "false", "loginAccount": "mallory"},
            )
        ],
        "actiontrail_root_access_key": [
            _event(account, at(80), "CreateAccessKey", userIdentity={**root, "userName": "root"})
        ],
        "actiontrail_trail_stopped": [
            _event(account, at(90), "StopLogging", requestParameters={"Name": "audit"})
        ],
        "actiontrail_logging_changed": [
            _event(account, at(100), "UpdateTrail", requestParameters={"Name": "audit"})
        ],
        "actiontrail_admin_policy_attached": [
            _event(
                account,
                at(110),
                "AttachPolicyToUser",
                requestParameters={"PolicyName": "AdministratorAccess", "UserName": "mallory"},
            )
        ],
        "actiontrail_security_group_open": [
            _event(
                account,
                at(120),
                "AuthorizeSecurityGroup",
                requestParameters={"SecurityGroupId": "sg-bp1", "SourceCidrIp": "0.0.0.0/0"},
            )
        ],
        "actiontrail_user_and_key": [
            _event(account, at(130), "CreateUser", requestParameters={"UserName": "backdoor"}),
            _event(account, at(133), "CreateAccessKey", requestParameters={"UserName": "backdoor"}),
        ],
        # Five deletions a minute for four minutes: a burst for the rule, but no API's rate
        # rises enough to be an insight.
        "actiontrail_deletion_burst": [
            _event(
                account,
                at(140 + i // 5, i * 2),
                "DeleteInstance",
                requestParameters={"InstanceId": f"i-bp1victim{i:02d}"},
            )
            for i in range(20)
        ],
        "actiontrail_key_new_ip": [_steady(account, at(260), NEW_IP)],
    }
    events = [e for planted in plants.values() for e in planted]
    # The insight types' own plants: secrets read in bulk (minute 200), a stolen key probing
    # without permission (220), the bot's key hammering (240) and, above, used from a new
    # address (260, IpInsight too).
    events.append(_event(account, at(0), "GetSecretValue", eventRW="Read"))  # its series starts
    events += [_event(account, at(200), "GetSecretValue", eventRW="Read") for _ in range(80)]
    events += [
        _event(
            account,
            at(220),
            "DescribeInstances",
            eventRW="Read",
            errorCode="Forbidden.RAM",
            errorMessage="User not authorized to operate on the specified resource.",
        )
        for _ in range(25)
    ]
    events += [_steady(account, at(240, 20)) for _ in range(90)]
    events += [e for e in plants["actiontrail_key_new_ip"] for _ in range(2)]
    # The bot's key, steady all along; its first address a day and more before: learned.
    events.append(_steady(account, start - 86400 - 120))
    events += [_steady(account, at(minute, s)) for minute in range(330) for s in (5, 25, 45)]
    return events, {rule: [e["eventId"] for e in planted] for rule, planted in plants.items()}


EXPECTED_INSIGHTS = {
    ("ApiCallRateInsight", "GetSecretValue"),
    ("ApiErrorRateInsight", "DescribeInstances"),
    ("AkInsight", STEADY_KEY),
    ("IpInsight", NEW_IP),
}
# A burst also raises its API's call rate (the probing's and the hammering's), and the stolen
# key made the bulk reads and the probing: its own rate too.
ALSO_RAISED = {
    ("ApiCallRateInsight", "DescribeInstances"),
    ("ApiCallRateInsight", "DescribeInstanceStatus"),
    ("AkInsight", MALLORY_KEY),
}


def _account(server: Server) -> Keys:
    made = trailhouse("account", "create", "--data-dir", str(server.data_dir))
    return Keys(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])


def _arm(server: Server, keys: Keys) -> Client:
    client = sdk(server, keys)
    for kind in INSIGHT_TYPES:
        client.enable_insight(models.EnableInsightRequest(insight_type=kind))
    with rpc_client(server, keys) as rpc:
        for rule in rpc.call("ListDetectionRules", {})["Rules"]:
            rpc.call("EnableDetectionRule", {"RuleId": rule["RuleId"]})
    return client


def _replay(client: Client, events: list[dict[str, Any]]) -> None:
    events.sort(key=lambda e: str(e["eventTime"]))
    for first in range(0, len(events), 1000):
        answer = put_events(client, events[first : first + 1000])
        assert not answer["Failed"], answer["Failed"][:3]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    data_dir = tmp_path_factory.mktemp("replay") / "data"
    trailhouse("account", "create", "--data-dir", str(data_dir))  # creates the store
    server = Server(data_dir, free_port())
    server.start(env={"TRAILHOUSE_INSIGHTS_MIN_BASELINE_BUCKETS": "30"})
    try:
        attacked, quiet = _account(server), _account(server)
        start = int(time.time()) // 60 * 60 - 7 * 3600
        plants, planted = _plants(attacked.account_id, start)
        for keys, extra in ((attacked, plants), (quiet, [])):
            client = _arm(server, keys)
            normal = normal_events(keys.account_id, SEED, start, MINUTES, PER_MINUTE)
            _replay(client, normal + extra)
        wait_observed(server)
        yield Replayed(server, attacked, quiet, planted)
    finally:
        assert server.stop() == 0


def _findings(replay: Replayed, keys: Keys) -> list[dict[str, Any]]:
    with rpc_client(replay.server, keys) as rpc:
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            params = {"MaxResults": "200", **({"NextToken": token} if token else {})}
            page = rpc.call("ListFindings", params)
            found += page["Findings"]
            token = page.get("NextToken", "")
            if not token:
                return found


def _insights(replay: Replayed, keys: Keys) -> list[dict[str, Any]]:
    client = sdk(replay.server, keys)
    found: list[dict[str, Any]] = []
    token = None
    while True:
        body = client.lookup_insight_events(
            models.LookupInsightEventsRequest(max_results="50", next_token=token)
        ).body
        found += list(body.events)
        token = body.next_token
        if not token:
            return found


def _starts(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (e["insightDetails"]["insightType"], e["insightDetails"]["insightObject"])
        for e in events
        if e["insightDetails"]["state"] == "Start"
    }


@pytest.mark.parametrize(
    "rule_id",
    [
        "actiontrail_admin_policy_attached",
        "actiontrail_deletion_burst",
        "actiontrail_key_new_ip",
        "actiontrail_logging_changed",
        "actiontrail_root_access_key",
        "actiontrail_root_signin",
        "actiontrail_security_group_open",
        "actiontrail_signin_without_mfa",
        "actiontrail_trail_stopped",
        "actiontrail_user_and_key",
    ],
)
def test_each_starter_rule_fires_once_on_its_plant(replayed: Replayed, rule_id: str) -> None:
    mine = [f for f in _findings(replayed, replayed.attacked) if f["RuleId"] == rule_id]
    assert [f["EventIds"] for f in mine] == [replayed.planted[rule_id]]


def test_the_attacked_account_finds_only_the_plants(replayed: Replayed) -> None:
    found = sorted(f["RuleId"] for f in _findings(replayed, replayed.attacked))
    assert found == sorted(replayed.planted)  # one finding per rule, none on normal traffic


@pytest.mark.parametrize("insight", sorted(EXPECTED_INSIGHTS))
def test_each_insight_type_fires_on_its_plant(replayed: Replayed, insight: tuple[str, str]) -> None:
    assert insight in _starts(_insights(replayed, replayed.attacked))


def test_the_attacked_account_has_no_insight_on_normal_traffic(replayed: Replayed) -> None:
    starts = _starts(_insights(replayed, replayed.attacked))
    assert starts - EXPECTED_INSIGHTS - ALSO_RAISED == set()


def test_normal_traffic_alone_raises_nothing(replayed: Replayed) -> None:
    client = sdk(replayed.server, replayed.quiet)
    enabled = client.get_insight_types().body.insight_types
    assert enabled == dict.fromkeys(INSIGHT_TYPES, "Enable")
    assert _findings(replayed, replayed.quiet) == []
    assert _insights(replayed, replayed.quiet) == []
