"""Attack: hiding one's own activity among the console's reads, which Event history leaves out
by default. Neither a producer's event carrying the console's mark nor a signed call sending
the console's user agent may be hidden; only reads trailhouse recorded for the console are."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from console_support import ACCOUNT, Console

from trailhouse.events.validation import format_event_time
from trailhouse.iam.signing import sign_request_v3


def _search(console: Console, csrf: str, name: str) -> dict[str, Any]:
    answer = console.api(
        "LookupEvents",
        {
            "HideConsoleReads": True,
            "LookupAttribute.1.Key": "EventName",
            "LookupAttribute.1.Value": name,
        },
        csrf,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_recorded_event_with_the_consoles_mark_is_not_hidden(console: Console) -> None:
    name = f"ForgedConsoleRead{uuid.uuid4().hex[:8]}"
    forged = {
        "eventId": str(uuid.uuid4()),
        "eventTime": format_event_time(int(time.time())),
        "eventSource": "actiontrail.cn-hangzhou.aliyuncs.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Read",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Actiontrail",
        "requestId": str(uuid.uuid4()),
        "sourceIpAddress": "192.0.2.7",
        "userAgent": "actiontrail.console.aliyun.com",
        "userIdentity": {"type": "root-account", "accountId": ACCOUNT},
        "additionalEventData": {"callVia": "console", "browserUserAgent": "x"},
    }
    put = console.signed(console.root, "PutEvents", {"Events": orjson.dumps([forged]).decode()})
    assert put.status_code == 200, put.text
    assert put.json()["Accepted"] == 1, put.text
    console.events(name, 1)
    csrf = console.sign_in(console.root)
    found = _search(console, csrf, name)
    assert [event["eventId"] for event in found["Events"]] == [forged["eventId"]]
    assert found["HiddenConsoleReads"] == 0


def test_a_signed_call_with_the_consoles_user_agent_is_not_hidden(console: Console) -> None:
    query, headers = sign_request_v3(
        "POST",
        "testserver",
        "DescribeRegions",
        "2020-07-06",
        {},
        b"",
        console.root.access_key_id,
        console.root.access_key_secret,
        extra_headers={"user-agent": "actiontrail.console.aliyun.com"},
    )
    assert console.client.post(f"/?{query}", headers=headers, content=b"").status_code == 200
    csrf = console.sign_in(console.root)
    assert console.api("DescribeRegions", {}, csrf).status_code == 200
    events = console.events("DescribeRegions", 2)
    assert len(events) == 2
    found = _search(console, csrf, "DescribeRegions")
    assert len(found["Events"]) == 1
    assert found["Events"][0]["userAgent"] == "actiontrail.console.aliyun.com"
    assert "additionalEventData" not in found["Events"][0]
    assert found["HiddenConsoleReads"] == 1
