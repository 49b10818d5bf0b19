"""DescribeUserLogCount, DescribeUserAlertCount and DescribeResourceLifeCycleEvents through the
official SDK against a real server, counted from a fresh account's recorded events."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson
import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Regional, put_events, sdk_at
from factory import make_event

DAY = 86400


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _day_of(event: dict[str, Any]) -> str:
    return event["eventTime"][:10]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Recorded:
    def __init__(self, regional: Regional) -> None:
        keys = regional.new_account()
        self.client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
        account = keys.account_id
        instance = {"resourceType": "ACS::ECS::Instance", "resourceName": "i-life"}
        self.events = [
            make_event(account, 2 * DAY, eventName="CreateInstance", **instance),
            make_event(account, 2 * DAY + 60, eventName="StartInstance", **instance),
            make_event(account, 2 * DAY + 120, eventName="DescribeInstances", **instance),
            make_event(account, 3 * DAY, eventName="DeleteInstance", **instance),
            make_event(
                account,
                3 * DAY + 60,
                serviceName="Oss",
                eventName="PutBucket",
                resourceType="ACS::OSS::Bucket",
                resourceName="b-life",
            ),
        ]
        assert put_events(self.client, self.events)["Accepted"] == len(self.events)
        deadline = time.monotonic() + 15
        while sum(self.log_counts().counts) < len(self.events):
            assert time.monotonic() < deadline, "the events were never counted"
            time.sleep(0.05)

    def log_counts(self, **fields: Any) -> Any:
        request = models.DescribeUserLogCountRequest(**fields)
        return self.client.describe_user_log_count(request).body.data


@pytest.fixture(scope="module")
def recorded(regional: Regional) -> Recorded:
    return Recorded(regional)


def test_log_counts_are_the_events_of_each_day_of_the_last_30(recorded: Recorded) -> None:
    data = recorded.log_counts()
    yesterday = _today() - dt.timedelta(days=1)
    assert data.dates == [(yesterday - dt.timedelta(days=29 - n)).isoformat() for n in range(30)]
    expected: dict[str, int] = {}
    for event in recorded.events:
        expected[_day_of(event)] = expected.get(_day_of(event), 0) + 1
    assert {d: c for d, c in zip(data.dates, data.counts, strict=True) if c} == expected


def test_log_counts_over_a_chosen_range(recorded: Recorded) -> None:
    day = _day_of(recorded.events[0])
    data = recorded.log_counts(start_date=day, end_date=day)
    assert (data.dates, data.counts) == (
        [day],
        [sum(1 for e in recorded.events if _day_of(e) == day)],
    )
    # Today holds the account's own audited calls, counted as they happen.
    today = _today().isoformat()
    deadline = time.monotonic() + 15
    while recorded.log_counts(start_date=today, end_date=today).counts[0] < 1:
        assert time.monotonic() < deadline, "today's audited calls were never counted"
        time.sleep(0.05)


def test_alert_counts_are_zero_every_day(recorded: Recorded) -> None:
    data = recorded.client.describe_user_alert_count(
        models.DescribeUserAlertCountRequest()
    ).body.data
    assert len(data.dates) == 30 and data.counts == [0] * 30


@pytest.mark.parametrize("action", ["log", "alert"])
@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"start_date": "2026/01/01"}, "InvalidQueryParameter", "yyyy-MM-dd"),
        ({"end_date": "tomorrow"}, "InvalidQueryParameter", "EndDate"),
        ({"start_date": "{-200}"}, "InvalidQueryParameter", "90 days"),
        ({"end_date": "{+2}"}, "InvalidQueryParameter", "future"),
        ({"start_date": "{-2}", "end_date": "{-3}"}, "InvalidParameterCombination", "earlier"),
    ],
)
def test_a_bad_range_names_what_to_fix(
    recorded: Recorded, action: str, fields: dict[str, str], code: str, words: str
) -> None:
    def day(value: str) -> str:
        if value.startswith("{"):
            return (_today() + dt.timedelta(days=int(value[1:-1]))).isoformat()
        return value

    filled = {k: day(v) for k, v in fields.items()}
    if action == "log":
        request: Any = models.DescribeUserLogCountRequest(**filled)
        error = _error(lambda: recorded.client.describe_user_log_count(request))
    else:
        request = models.DescribeUserAlertCountRequest(**filled)
        error = _error(lambda: recorded.client.describe_user_alert_count(request))
    assert (error.code, error.status_code) == (code, 400) and words in error.message


def _lifecycle(client: Client, **fields: Any) -> list[dict[str, Any]]:
    request = models.DescribeResourceLifeCycleEventsRequest(**fields)
    data: list[dict[str, Any]] = orjson.loads(
        client.describe_resource_life_cycle_events(request).body.data
    )
    return data


def _group(label: str, value: str) -> dict[str, str]:
    return {"label": label, "labelEn": label, "value": value}


def test_lifecycle_events_group_each_resource_types_events_by_verb(recorded: Recorded) -> None:
    ecs = _lifecycle(recorded.client, service_name="Ecs")
    assert ecs == [
        {
            "label": "Ecs",
            "labelEn": "Ecs",
            "value": "Ecs",
            "children": [
                {
                    "label": "ACS::ECS::Instance",
                    "labelEn": "ACS::ECS::Instance",
                    "value": "ACS::ECS::Instance",
                    "children": [
                        _group("Create Events", "CreateInstance"),
                        _group("Delete Events", "DeleteInstance"),
                        _group("Start Events", "StartInstance"),
                    ],
                }
            ],
        }
    ]
    everything = _lifecycle(recorded.client)
    assert [s["value"] for s in everything] == ["Ecs", "Oss"]
    buckets = _lifecycle(recorded.client, resource_type="ACS::OSS::Bucket")
    assert [(s["value"], [r["value"] for r in s["children"]]) for s in buckets] == [
        ("Oss", ["ACS::OSS::Bucket"])
    ]
    assert _lifecycle(recorded.client, service_name="Rds") == []


def _metrics(client: Client) -> dict[str, tuple[str, dict[str, Any]]]:
    data = client.get_governance_metrics().body.data
    return {
        m.governance_item: (m.governance_score, orjson.loads(m.columns_schema))
        for m in data.governance_metrics
    }


def test_governance_metrics_follow_the_accounts_trails_and_keys(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    assert client.get_governance_metrics().body.data.account_id == keys.account_id
    before = _metrics(client)
    assert list(before) == [
        "ActionTrailEnabled",
        "RootAccessKeyNotExist",
        "AccessKeyRotated",
        "AccessKeyUsedRecently",
    ]
    assert before["ActionTrailEnabled"] == (
        "0",
        {
            "Columns": [
                {"Name": "TrailName", "Type": "string"},
                {"Name": "TrailRegion", "Type": "string"},
                {"Name": "Status", "Type": "string"},
            ],
            "Rows": [],
        },
    )
    score, table = before["RootAccessKeyNotExist"]
    assert (score, table["Rows"]) == ("0", [[keys.access_key_id, "Active"]])
    assert before["AccessKeyRotated"][0] == before["AccessKeyUsedRecently"][0] == "100"
    name = f"gov-{keys.account_id[-6:]}"
    client.create_trail(
        models.CreateTrailRequest(
            name=name,
            max_compute_project_arn=f"acs:odps:cn-hangzhou:{keys.account_id}:project/"
            f"actiontrail_{keys.account_id}",
        )
    )
    assert _metrics(client)["ActionTrailEnabled"][0] == "0"  # created, not logging
    client.start_logging(models.StartLoggingRequest(name=name))
    score, table = _metrics(client)["ActionTrailEnabled"]
    assert (score, table["Rows"]) == ("100", [[name, "All", "Enable"]])
    other = sdk_at(regional.endpoint("cn-hangzhou"), regional.new_account())
    assert _metrics(other)["ActionTrailEnabled"] == ("0", table | {"Rows": []})
