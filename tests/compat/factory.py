"""Valid ActionTrail events for the compatibility tests, varied on every lookup attribute."""

from __future__ import annotations

import time
import uuid
from typing import Any

from trailhouse.events.validation import format_event_time


def make_event(account_id: str, seconds_ago: int, **fields: Any) -> dict[str, Any]:
    """An event `seconds_ago` seconds old; `fields` override any top-level field."""
    event: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventVersion": "1",
        "eventTime": format_event_time(int(time.time()) - seconds_ago),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "DescribeInstances",
        "eventType": "ApiCall",
        "eventRW": "Read",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "apiVersion": "2014-05-26",
        "requestId": str(uuid.uuid4()).upper(),
        "sourceIpAddress": "203.0.113.24",
        "userAgent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "userIdentity": {
            "type": "ram-user",
            "principalId": "209876543210987654",
            "accountId": account_id,
            "accessKeyId": "LTAI5tCompatKey000001",
            "userName": "bob",
        },
        "requestParameters": {"RegionId": "cn-hangzhou"},
    }
    event.update(fields)
    return event
