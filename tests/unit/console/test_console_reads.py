"""The console's own reads: marked as ActionTrail marks its console's calls, and left out of
LookupEvents with trailhouse's `HideConsoleReads` extension, page after full page."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from console_support import Console

from trailhouse.events.console_calls import is_console_read
from trailhouse.events.recorder import TRAILHOUSE
from trailhouse.events.validation import format_event_time

PROJECT_ARN = "acs:odps:cn-hangzhou:1234567890123456:project/actiontrail_1234567890123456"


def _pages(console: Console, csrf: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a console LookupEvents search, following NextToken to the end."""
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        answer = console.api("LookupEvents", {**params, "NextToken": token}, csrf)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        token = pages[-1].get("NextToken", "")
        if not token:
            return pages
        assert len(pages) < 100


def _marked(event: dict[str, Any]) -> bool:
    data = event.get("additionalEventData")
    return isinstance(data, dict) and data.get("callVia") == "console"


def test_hidden_console_reads_leave_full_pages_and_everything_else(console: Console) -> None:
    start = format_event_time(int(time.time()) - 5)
    csrf = console.sign_in(console.root)
    for _ in range(23):
        assert console.api("DescribeTrails", {}, csrf).status_code == 200
    created = console.api(
        "CreateTrail", {"Name": "seen-write", "MaxComputeProjectArn": PROJECT_ARN}, csrf
    )
    assert created.status_code == 200, created.text
    for _ in range(7):
        assert console.api("GetTrailStatus", {"Name": "seen-write"}, csrf).status_code == 200
    for _ in range(3):  # signed reads, even one naming the console as its user agent, are shown
        assert console.signed(console.root, "DescribeTrails", {}).status_code == 200
    console.events("DescribeTrails", 26)
    console.events("GetTrailStatus", 7)
    time.sleep(1.1)  # the searches' own audit events fall after EndTime
    window = {"StartTime": start, "EndTime": format_event_time(int(time.time()) - 1)}

    everything = [
        e for page in _pages(console, csrf, {**window, "MaxResults": 50}) for e in page["Events"]
    ]
    shown = _pages(console, csrf, {**window, "MaxResults": 4, "HideConsoleReads": True})

    console_reads = [e for e in everything if _marked(e) and e["eventRW"] == "Read"]
    assert len(console_reads) == 30
    expected = [e["eventId"] for e in everything if e not in console_reads]
    assert [e["eventId"] for page in shown for e in page["Events"]] == expected
    assert {"CreateTrail", "ConsoleSignin"} <= {e["eventName"] for p in shown for e in p["Events"]}
    assert [len(page["Events"]) for page in shown[:-1]] == [4] * (len(shown) - 1)
    assert 1 <= len(shown[-1]["Events"]) <= 4  # 5 events shown: the last page holds one
    assert sum(page["HiddenConsoleReads"] for page in shown) == 30


def test_the_extension_is_refused_with_a_bad_value_and_absent_by_default(console: Console) -> None:
    csrf = console.sign_in(console.root)
    plain = console.api("LookupEvents", {"MaxResults": 1}, csrf)
    assert plain.status_code == 200
    assert "HiddenConsoleReads" not in plain.json()
    refused = console.signed(console.root, "LookupEvents", {"HideConsoleReads": "maybe"})
    assert refused.status_code == 400
    assert refused.json()["Code"] == "InvalidParameter"
    assert "HideConsoleReads must be true or false" in refused.json()["Message"]


def test_a_token_of_one_kind_of_search_is_refused_by_the_other(console: Console) -> None:
    csrf = console.sign_in(console.root)
    for _ in range(3):
        console.api("DescribeTrails", {}, csrf)
    console.signed(console.root, "DescribeTrails", {})
    console.signed(console.root, "DescribeTrails", {})
    console.events("DescribeTrails", 5)
    first = console.api("LookupEvents", {"MaxResults": 1}, csrf).json()
    again = console.api(
        "LookupEvents",
        {"MaxResults": 1, "HideConsoleReads": True, "NextToken": first["NextToken"]},
        csrf,
    )
    assert again.status_code == 400
    assert again.json()["Code"] == "InvalidParameter"


READ = {"eventRW": "Read", "additionalEventData": {"callVia": "console"}}


@pytest.mark.parametrize(
    ("event", "recorder", "hidden"),
    [
        pytest.param(READ, TRAILHOUSE, True, id="console-read"),
        pytest.param({**READ, "eventRW": "Write"}, TRAILHOUSE, False, id="console-write"),
        pytest.param(READ, '{"type":"service","accessKeyId":"x"}', False, id="put-by-a-producer"),
        pytest.param({"eventRW": "Read", "callVia": "console"}, TRAILHOUSE, False, id="no-data"),
        pytest.param(
            {"eventRW": "Read", "userAgent": "actiontrail.console.aliyun.com"},
            TRAILHOUSE,
            False,
            id="user-agent-only",
        ),
    ],
)
def test_only_reads_trailhouse_recorded_for_the_console_are_console_reads(
    event: dict[str, Any], recorder: str, hidden: bool
) -> None:
    assert is_console_read(orjson.dumps(event), recorder) is hidden
