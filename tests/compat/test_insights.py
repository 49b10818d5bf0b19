"""ActionTrail Insights through the official SDK against a real server: realistic traffic (the
demo's generator) replayed with planted anomalies fires each insight type on its own case, with
its start and end events, and nothing on the normal traffic around it; each action and its
documented refusals; paging; tenant isolation; and delivery of insight events only by a trail
whose insight selector names their type.

The server runs with a short baseline (`TRAILHOUSE_INSIGHTS_MIN_BASELINE_BUCKETS=30`, half an
hour of minutes, docs/insights.md) so that three hours of replayed traffic suffice.
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
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import (
    Keys,
    Server,
    put_events,
    sdk,
    sql_rows,
    trailhouse,
    wait_delivered,
    wait_observed,
)

from server_process import free_port
from trailhouse.demo.events import DemoEvents
from trailhouse.events.validation import format_event_time
from trailhouse.warehouse.model import project_name

TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight", "IpInsight", "AkInsight")
MINUTES = 150
STEADY_KEY = "LTAI5tInsightSteady0001"
USUAL_IP = "192.0.2.10"
NEW_IP = "198.51.100.77"
BURST_API = "InsightProbeBurstCalls"
ERROR_API = "InsightProbeFailingCalls"
KEY_API = "InsightProbeKeyCalls"
# Calls made without an AccessKey (a console session): no AccessKey series.
CONSOLE_USER = {"type": "ram-user", "principalId": "209876543210987655", "userName": "console"}


@dataclass(frozen=True)
class Replayed:
    server: Server
    keys: Keys
    other: Keys
    client: Client
    selecting: str  # a trail whose selector names ApiCallRateInsight and IpInsight
    plain: str  # a trail without an insight selector
    start: int


def _new_account(server: Server) -> Keys:
    made = trailhouse("account", "create", "--data-dir", str(server.data_dir))
    return Keys(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])


def _event(account: str, moment: int, name: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventVersion": "1",
        "eventTime": format_event_time(moment),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": str(uuid.uuid4()).upper(),
        "sourceIpAddress": USUAL_IP,
        "userIdentity": {
            "type": "ram-user",
            "principalId": "209876543210987654",
            "accountId": account,
            "accessKeyId": STEADY_KEY,
            "userName": "steady",
        },
    }
    event.update(fields)
    return event


def _traffic(account: str, start: int) -> list[dict[str, Any]]:
    """Demo traffic (40 events a minute) plus steady planted series, with four anomalies:
    minute 100 a burst of BURST_API, 110 a burst of ERROR_API's errors, 120 a burst of the
    steady key's calls, 130 the steady key used from a new IP address."""
    events = list(DemoEvents(account, seed=21).between(start, start + MINUTES * 60, 40 * MINUTES))
    for minute in range(MINUTES):
        base = start + minute * 60
        for second in (5, 25, 45):
            events.append(_event(account, base + second, KEY_API))
        for second in (10, 40):
            events.append(_event(account, base + second, BURST_API, userIdentity=CONSOLE_USER))
            failing = minute == 110
            events.append(_event(account, base + second, ERROR_API, userIdentity=CONSOLE_USER))
            if failing:
                events += [
                    _event(
                        account,
                        base + 50,
                        ERROR_API,
                        userIdentity=CONSOLE_USER,
                        errorCode="Forbidden",
                    )
                    for _ in range(20)
                ]
        if minute == 100:
            events += [
                _event(account, base + 30, BURST_API, userIdentity=CONSOLE_USER) for _ in range(80)
            ]
        if minute == 120:
            events += [_event(account, base + 20, KEY_API) for _ in range(90)]
        if minute == 130:
            events += [
                _event(account, base + 50, KEY_API, sourceIpAddress=NEW_IP) for _ in range(3)
            ]
    events.sort(key=lambda e: e["eventTime"])
    return events


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    data_dir = tmp_path_factory.mktemp("insights") / "data"
    trailhouse("account", "create", "--data-dir", str(data_dir))  # creates the store
    server = Server(data_dir, free_port())
    server.start(env={"TRAILHOUSE_INSIGHTS_MIN_BASELINE_BUCKETS": "30"})
    try:
        keys, other = _new_account(server), _new_account(server)
        client = sdk(server, keys)
        for kind in TYPES:
            client.enable_insight(models.EnableInsightRequest(insight_type=kind))
        project = f"acs:odps:cn-hangzhou:{keys.account_id}:project/{project_name(keys.account_id)}"
        selecting, plain = f"ins-{uuid.uuid4().hex[:8]}", f"plain-{uuid.uuid4().hex[:8]}"
        for name in (selecting, plain):
            client.create_trail(
                models.CreateTrailRequest(name=name, max_compute_project_arn=project)
            )
            client.start_logging(models.StartLoggingRequest(name=name))
        client.put_insight_selectors(
            models.PutInsightSelectorsRequest(
                trail_name=selecting,
                insight_selectors='[{"InsightType":"ApiCallRateInsight"},'
                '{"InsightType":"IpInsight"}]',
            )
        )
        # Midnight UTC 3 to 27 hours ago: the demo's daily rhythm, and so the replay, is the
        # same in every run.
        start = (int(time.time()) - 3 * 3600) // 86400 * 86400
        events = _traffic(keys.account_id, start)
        for first in range(0, len(events), 1000):
            answer = put_events(client, events[first : first + 1000])
            assert not answer["Failed"], answer["Failed"][:3]
        wait_observed(server)
        yield Replayed(server, keys, other, client, selecting, plain, start)
    finally:
        assert server.stop() == 0


def _lookup(client: Client, *attributes: tuple[str, str], **fields: Any) -> Any:
    request = models.LookupInsightEventsRequest(
        lookup_attribute=[
            models.LookupInsightEventsRequestLookupAttribute(key=k, value=v) for k, v in attributes
        ],
        **fields,
    )
    return client.lookup_insight_events(request).body


def _insights(client: Client, insight_type: str) -> list[dict[str, Any]]:
    return list(_lookup(client, ("InsightType", insight_type), max_results="50").events)


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _minute(replay: Replayed, event: dict[str, Any]) -> int:
    moment = time.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
    return (int(time.mktime(moment) - time.timezone) - replay.start) // 60


EXPECTED = {
    # type → (insight object, minute it starts, minute it ends)
    "ApiCallRateInsight": (BURST_API, 100, 101),
    "ApiErrorRateInsight": (ERROR_API, 110, 111),
    "AkInsight": (STEADY_KEY, 120, 121),
    "IpInsight": (NEW_IP, 130, 131),
}


@pytest.mark.parametrize("insight_type", TYPES)
def test_each_type_fires_on_its_anomaly_with_a_start_and_an_end(
    replayed: Replayed, insight_type: str
) -> None:
    found = _insights(replayed.client, insight_type)
    mine = [e for e in found if e["insightDetails"]["insightObject"] == EXPECTED[insight_type][0]]
    states = {e["insightDetails"]["state"]: e for e in mine}
    assert len(mine) == 2 and set(states) == {"Start", "End"}, found
    assert states["Start"]["sharedEventId"] == states["End"]["sharedEventId"]
    _, begins, ends = EXPECTED[insight_type]
    assert _minute(replayed, states["Start"]) == begins
    assert _minute(replayed, states["End"]) == ends
    start = states["Start"]
    assert start["eventCategory"] == "Insight" and start["eventType"] == "ActionTrailInsight"
    assert start["recipientAccountId"] == replayed.keys.account_id
    if insight_type != "IpInsight":
        statistics = start["insightDetails"]["insightContext"]["statistics"]
        assert statistics["insight"]["average"] > 3 * statistics["baseline"]["average"]


def test_normal_traffic_stays_quiet(replayed: Replayed) -> None:
    everything = _lookup(replayed.client, max_results="50").events
    planted = {(kind, subject) for kind, (subject, _, _) in EXPECTED.items()}
    # The bursts also raise their API's (or key's) other rates: those are planted too.
    planted |= {("ApiCallRateInsight", ERROR_API), ("ApiCallRateInsight", KEY_API)}
    unexpected = [
        e
        for e in everything
        if (e["insightDetails"]["insightType"], e["insightDetails"]["insightObject"]) not in planted
    ]
    assert not unexpected, [
        (e["insightDetails"]["insightType"], e["insightDetails"]["insightObject"], e["eventTime"])
        for e in unexpected
    ]
    assert len(everything) >= 8


def test_pages_follow_next_token_and_filters_combine(replayed: Replayed) -> None:
    client = replayed.client
    whole = [e["eventId"] for e in _lookup(client, max_results="50").events]
    paged: list[str] = []
    token = None
    while True:
        page = _lookup(client, max_results="3", next_token=token)
        paged += [e["eventId"] for e in page.events]
        token = page.next_token
        if not token:
            break
    assert paged == whole
    both = _lookup(client, ("InsightType", "IpInsight"), ("AccessKeyId", STEADY_KEY)).events
    assert {e["insightDetails"]["insightObject"] for e in both} == {NEW_IP}
    assert _lookup(client, ("EventId", whole[0])).events[0]["eventId"] == whole[0]
    early = _lookup(client, end_time=format_event_time(replayed.start + 60 * 60)).events
    assert early == []


def test_counts_and_types(replayed: Replayed) -> None:
    body = replayed.client.get_insights_events_count(models.GetInsightsEventsCountRequest()).body
    counts = {(d.insight_type, d.region_id): d.count for d in body.data}
    assert counts[("ApiCallRateInsight", "cn-hangzhou")] >= 1
    assert all(counts.get((kind, "cn-hangzhou"), 0) >= 1 for kind in TYPES)
    types = replayed.client.get_insight_types().body.insight_types
    assert types == dict.fromkeys(TYPES, "Enable")


def test_another_account_sees_none_of_them(replayed: Replayed) -> None:
    other = sdk(replayed.server, replayed.other)
    assert _lookup(other).events == []
    assert other.get_insight_types().body.insight_types == dict.fromkeys(TYPES, "Disable")
    counts = other.get_insights_events_count(models.GetInsightsEventsCountRequest()).body
    assert {d.count for d in counts.data} == {0}


def test_a_trail_delivers_the_insight_types_it_selects(replayed: Replayed) -> None:
    client, keys = replayed.client, replayed.keys
    got = client.get_insight_selectors(
        models.GetInsightSelectorsRequest(trail_name=replayed.selecting)
    ).body
    assert got.insight_selectors == (
        '[{"InsightType":"ApiCallRateInsight"},{"InsightType":"IpInsight"}]'
    )
    plain = client.get_insight_selectors(
        models.GetInsightSelectorsRequest(trail_name=replayed.plain)
    ).body
    assert plain.insight_selectors == "[]"
    selected = [
        e["eventId"]
        for kind in ("ApiCallRateInsight", "IpInsight")
        for e in _insights(client, kind)
    ]
    left_out = [
        e["eventId"]
        for kind in ("AkInsight", "ApiErrorRateInsight")
        for e in _insights(client, kind)
    ]
    ids = ", ".join(f"'{i}'" for i in selected + left_out)
    for name, expected in ((replayed.selecting, selected), (replayed.plain, [])):
        wait_delivered(replayed.server, keys, name, timeout=120)
        table = "actiontrail_" + name.replace("-", "_")
        rows = sql_rows(
            replayed.server, keys, f"SELECT event_id FROM {table} WHERE event_id IN ({ids})"
        )
        assert sorted(r[0] for r in rows) == sorted(expected)


def test_lookup_events_never_shows_insight_events(replayed: Replayed) -> None:
    first = _lookup(replayed.client, max_results="1").events[0]
    request = models.LookupEventsRequest(
        lookup_attribute=[
            models.LookupEventsRequestLookupAttribute(key="EventId", value=first["eventId"])
        ]
    )
    assert replayed.client.lookup_events(request).body.events == []


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda c: c.enable_insight(models.EnableInsightRequest(insight_type="Nope")),
            "InvalidParameter",
        ),
        (lambda c: c.enable_insight(models.EnableInsightRequest()), "MissingParameter"),
        (
            lambda c: c.disable_insight(models.DisableInsightRequest(insight_type="x")),
            "InvalidParameter",
        ),
        (
            lambda c: c.put_insight_selectors(
                models.PutInsightSelectorsRequest(
                    trail_name="no-such-trail", insight_selectors="[]"
                )
            ),
            "TrailNotFoundException",
        ),
        (
            lambda c: c.get_insight_selectors(models.GetInsightSelectorsRequest()),
            "MissingParameter",
        ),
        (
            lambda c: _lookup(c, ("Colour", "red")),
            "InvalidParameter",
        ),
        (
            lambda c: _lookup(
                c, ("InsightType", "IpInsight"), ("EventName", "a"), ("EventId", "b")
            ),
            "InvalidParameter",
        ),
        (lambda c: _lookup(c, next_token="forged"), "InvalidParameter"),
        (lambda c: _lookup(c, max_results="0"), "InvalidParameter"),
        (
            lambda c: _lookup(
                c, start_time="2026-02-02T00:00:00Z", end_time="2026-02-01T00:00:00Z"
            ),
            "InvalidParameter",
        ),
        (
            lambda c: c.get_insights_events_count(models.GetInsightsEventsCountRequest(date="May")),
            "InvalidParameter",
        ),
    ],
)
def test_bad_input_is_refused_with_its_code(replayed: Replayed, call: Any, code: str) -> None:
    refused = _error(lambda: call(replayed.client))
    assert refused.code == code
    assert refused.message and "Traceback" not in refused.message


@pytest.mark.parametrize(
    "document",
    ["{", '{"InsightType":"IpInsight"}', '[{"InsightType":"Sometimes"}]', '[{"Type":"IpInsight"}]'],
)
def test_a_bad_selector_changes_nothing(replayed: Replayed, document: str) -> None:
    client = replayed.client
    refused = _error(
        lambda: client.put_insight_selectors(
            models.PutInsightSelectorsRequest(
                trail_name=replayed.selecting, insight_selectors=document
            )
        )
    )
    assert refused.code == "InvalidParameter" and "InsightSelectors" in refused.message
    got = client.get_insight_selectors(
        models.GetInsightSelectorsRequest(trail_name=replayed.selecting)
    ).body
    assert "IpInsight" in got.insight_selectors


def test_disable_stops_new_insights_and_keeps_old_ones(replayed: Replayed) -> None:
    other = sdk(replayed.server, replayed.other)
    other.enable_insight(models.EnableInsightRequest(insight_type="AkInsight"))
    types = other.get_insight_types().body.insight_types
    assert types["AkInsight"] == "Enable" and types["IpInsight"] == "Disable"
    other.disable_insight(models.DisableInsightRequest(insight_type="AkInsight"))
    assert other.get_insight_types().body.insight_types["AkInsight"] == "Disable"


def test_a_ram_user_needs_the_actions_permission(replayed: Replayed) -> None:
    made = trailhouse(
        "user",
        "create",
        "--data-dir",
        str(replayed.server.data_dir),
        "--account-id",
        replayed.keys.account_id,
        "--user-name",
        "insight-bob",
    )
    user = Keys(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])
    as_user = sdk(replayed.server, user)
    refused = _error(
        lambda: as_user.disable_insight(models.DisableInsightRequest(insight_type="IpInsight"))
    )
    assert (refused.code, refused.status_code) == ("NoPermission", 403)
    assert "actiontrail:DisableInsight" in refused.message
    refused = _error(lambda: _lookup(as_user))
    assert "actiontrail:LookupInsightEvents" in refused.message
    assert replayed.client.get_insight_types().body.insight_types["IpInsight"] == "Enable"
