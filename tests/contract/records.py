"""Realistic `EventRecord`s for the contract suite: the body is the event's ActionTrail JSON."""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid

import orjson

from trailhouse.events.attributes import attributes_of
from trailhouse.events.model import EventRecord

ACCOUNT = "1234567890123456"
OTHER_ACCOUNT = "6543210987654321"
BASE_TIME = 1740787200  # 2025-03-01T00:00:00Z

_SPLIT = re.compile(r"[;,]")

# (serviceName, eventName, eventRW, resourceType, resourceName) of a few typical calls.
CALLS = (
    ("Ecs", "DescribeInstances", "Read", "ACS::ECS::Instance", "i-bp1a2b3c4d5e6f7g8h9i"),
    ("Ecs", "StopInstance", "Write", "ACS::ECS::Instance", "i-bp1a2b3c4d5e6f7g8h9i,i-bp1zz9yy8xx7"),
    ("Oss", "PutObject", "Write", "ACS::OSS::Bucket", "bkt-audit-logs;bkt-finance"),
    ("Oss", "GetObject", "Read", "ACS::OSS::Bucket", "bkt-audit-logs"),
    ("Ram", "CreateUser", "Write", "ACS::RAM::User", "user-carol"),
    ("Vpc", "DescribeVpcs", "Read", "ACS::VPC::VPC;ACS::VPC::VSwitch", "vpc-bp1qwerty"),
)
USERS = (("alice", "LTAI5tAliceKey0000001"), ("bob", "LTAI5tBobKey000000002"), (None, None))
# What the derived keys (`events/attributes.py`) see, cycled through by `history`:
# (eventType, sourceIpAddress or None, SensitiveAction or None, role or None).
EXTRAS = (
    ("ApiCall", "203.0.113.17", None, None),
    ("ConsoleOperation", "42.120.*.*", "true", "ops-role"),
    ("ApiCall", None, "false", None),
    ("AliyunServiceEvent", "ecs.aliyuncs.com", None, "AliyunServiceRoleForEcs"),
    ("ApiCall", "203.0.113.17", "true", "ops-role"),
)


def make_record(
    *,
    account_id: str = ACCOUNT,
    event_time: int = BASE_TIME,
    event_id: str | None = None,
    call: tuple[str, str, str, str, str] = CALLS[0],
    user: tuple[str | None, str | None] = USERS[0],
    extras: tuple[str, str | None, str | None, str | None] = EXTRAS[0],
) -> EventRecord:
    """One event of `call` by `user` at `event_time`, as the recorder would hand it over."""
    service_name, event_name, event_rw, resource_type, resource_name = call
    user_name, access_key_id = user
    event_id = event_id or str(uuid.uuid4()).upper()
    identity: dict[str, object] = {
        "type": "ram-user" if user_name else "root-account",
        "principalId": "203785812345678901" if user_name else account_id,
        "accountId": account_id,
    }
    if user_name:
        identity["userName"] = user_name
    if access_key_id:
        identity["accessKeyId"] = access_key_id
    event_type, source_ip, sensitive, role = extras
    if role:
        identity["type"] = "assumed-role"
        identity["sessionContext"] = {"sessionIssuer": {"type": "role", "userName": role}}
    event: dict[str, object] = {
        "eventId": event_id,
        "eventVersion": "1",
        "eventSource": f"{service_name.lower()}.aliyuncs.com",
        "eventName": event_name,
        "eventType": event_type,
        "eventCategory": "Management",
        "eventRW": event_rw,
        "eventTime": _format_time(event_time),
        "serviceName": service_name,
        "acsRegion": "cn-hangzhou",
        "sourceIpAddress": "203.0.113.17",
        "userAgent": "AlibabaCloud (Linux; x86_64) Python/3.11 Core/2.13",
        "userIdentity": identity,
        "requestParameters": {"RegionId": "cn-hangzhou", "PageSize": 50},
        "requestId": str(uuid.uuid4()).upper(),
        "recipientAccountId": account_id,
        "resourceType": resource_type,
        "resourceName": resource_name,
    }
    if source_ip is None:
        del event["sourceIpAddress"]
    else:
        event["sourceIpAddress"] = source_ip
    if sensitive is not None:
        event["eventAttributes"] = {"SensitiveAction": sensitive}
    derived = attributes_of(event)
    return EventRecord(
        account_id=account_id,
        event_id=event_id,
        event_time=event_time,
        event_name=event_name,
        service_name=service_name,
        event_rw=event_rw,
        user_name=user_name,
        access_key_id=access_key_id,
        resource_types=_split(resource_type),
        resource_names=_split(resource_name),
        body=orjson.dumps(event),
        event_type=derived.event_type,
        source_ip=derived.source_ip,
        sensitive=derived.sensitive,
        role_name=derived.role_name,
    )


def history(count: int, *, account_id: str = ACCOUNT, seed: int = 7) -> list[EventRecord]:
    """`count` varied events, two per timestamp, 61.7 minutes apart (so spanning days)."""
    rng = random.Random(seed)
    return [
        make_record(
            account_id=account_id,
            event_time=BASE_TIME + (index // 2) * 3700,
            event_id=f"{account_id[-4:]}-{index:05d}-{rng.getrandbits(32):08X}",
            call=CALLS[index % len(CALLS)],
            user=rng.choice(USERS),
            extras=EXTRAS[index % len(EXTRAS)],
        )
        for index in range(count)
    ]


def _split(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in _SPLIT.split(value) if part.strip()))


def _format_time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
