"""Demo events: a few days of realistic audit events for one account.

The events imitate what ActionTrail records for a busy account (the shape of
`shared/bench/gen_events.py`): mostly reads, skewed towards a few APIs and users, a few percent
failed calls, console sign-ins, assumed roles, several regions and a daily rhythm.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from trailhouse.events.validation import format_event_time

# service -> (eventSource, apiVersion, resourceType, resource id prefix, [(api, rw, kind)])
CATALOGUE: dict[str, tuple[str, str, str, str, list[tuple[str, str, str]]]] = {
    "Ecs": (
        "ecs.aliyuncs.com",
        "2014-05-26",
        "ACS::ECS::Instance",
        "i-bp1",
        [
            ("DescribeInstances", "Read", "list"),
            ("DescribeInstanceStatus", "Read", "list"),
            ("DescribeDisks", "Read", "list"),
            ("DescribeSecurityGroups", "Read", "list"),
            ("DescribeInstanceAttribute", "Read", "get"),
            ("StartInstance", "Write", "act"),
            ("StopInstance", "Write", "act"),
            ("RebootInstance", "Write", "act"),
            ("RunInstances", "Write", "create"),
            ("DeleteInstance", "Write", "act"),
            ("AuthorizeSecurityGroup", "Write", "modify"),
        ],
    ),
    "Oss": (
        "oss.aliyuncs.com",
        "2019-05-17",
        "ACS::OSS::Bucket",
        "bkt-",
        [
            ("GetObject", "Read", "get"),
            ("PutObject", "Write", "act"),
            ("ListObjects", "Read", "list"),
            ("GetBucketInfo", "Read", "get"),
            ("DeleteObject", "Write", "act"),
            ("PutBucketAcl", "Write", "modify"),
        ],
    ),
    "Ram": (
        "ram.aliyuncs.com",
        "2015-05-01",
        "ACS::RAM::User",
        "user-",
        [
            ("GetUser", "Read", "get"),
            ("ListUsers", "Read", "list"),
            ("ListPolicies", "Read", "list"),
            ("CreateUser", "Write", "create"),
            ("AttachPolicyToUser", "Write", "modify"),
            ("CreateAccessKey", "Write", "create"),
            ("DeleteAccessKey", "Write", "act"),
        ],
    ),
    "Sts": (
        "sts.aliyuncs.com",
        "2015-04-01",
        "ACS::RAM::Role",
        "role-",
        [
            ("AssumeRole", "Write", "assume"),
            ("GetCallerIdentity", "Read", "get"),
        ],
    ),
    "Vpc": (
        "vpc.aliyuncs.com",
        "2016-04-28",
        "ACS::VPC::VPC",
        "vpc-bp1",
        [
            ("DescribeVpcs", "Read", "list"),
            ("DescribeVSwitches", "Read", "list"),
            ("CreateVpc", "Write", "create"),
            ("DeleteVpc", "Write", "act"),
        ],
    ),
    "Rds": (
        "rds.aliyuncs.com",
        "2014-08-15",
        "ACS::RDS::DBInstance",
        "rm-bp1",
        [
            ("DescribeDBInstances", "Read", "list"),
            ("DescribeDBInstanceAttribute", "Read", "get"),
            ("ModifySecurityIps", "Write", "modify"),
            ("RestartDBInstance", "Write", "act"),
        ],
    ),
    "Kms": (
        "kms.aliyuncs.com",
        "2016-01-20",
        "ACS::KMS::Key",
        "key-",
        [
            ("Decrypt", "Read", "get"),
            ("Encrypt", "Read", "get"),
            ("ListKeys", "Read", "list"),
            ("ScheduleKeyDeletion", "Write", "act"),
        ],
    ),
}
REGIONS = [
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "ap-southeast-1",
    "us-west-1",
    "eu-central-1",
]
USER_AGENTS = [
    "AlibabaCloud (Linux 5.15.0; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
    "aliyun-cli/v3.0.204",
    "Terraform/1.9.5 terraform-provider-alicloud/1.230.0",
    "actiontrail.console.aliyun.com",
    "AlibabaCloud (darwin; arm64) Go/1.22.1 Core/0.0.1 TeaDSL/1",
]
ERRORS = [
    ("NoPermission", "You are not authorized to do this action."),
    ("InvalidParameter", "The specified parameter is not valid."),
    ("Throttling.User", "Request was denied due to user flow control."),
    (
        "IncorrectInstanceStatus",
        "The current status of the resource does not support this operation.",
    ),
]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
ROLES = ["ops-admin", "ci-deployer", "readonly-auditor", "data-pipeline"]


@dataclass(frozen=True, slots=True)
class _Identity:
    kind: str
    name: str
    principal_id: str
    access_key_id: str | None
    addresses: tuple[str, ...]
    user_agents: tuple[str, ...]


class DemoEvents:
    """Deterministic (per seed) realistic events for one account, spread over recent days."""

    def __init__(self, account_id: str, seed: int = 7) -> None:
        self._account_id = account_id
        self._rng = random.Random(seed)
        rng = self._rng
        self._apis = [
            (service, *spec[:4], api, rw, kind)
            for service, spec in CATALOGUE.items()
            for api, rw, kind in spec[4]
        ]
        rng.shuffle(self._apis)
        self._apis.sort(key=lambda api: api[6] != "Read")  # reads are the most common calls
        self._api_weights = _zipf(len(self._apis))
        self._identities = [self._identity(index) for index in range(24)]
        self._identity_weights = _zipf(len(self._identities))
        self._resources = {
            service: [spec[3] + _token(rng, 16) for _ in range(30)]
            for service, spec in CATALOGUE.items()
        }

    def between(self, start: int, end: int, count: int) -> Iterator[dict[str, Any]]:
        """`count` events with times spread over [start, end), ascending, with a daily rhythm."""
        rng = self._rng
        times = sorted(self._moment(start, end) for _ in range(count))
        for moment in times:
            api = rng.choices(self._apis, cum_weights=self._api_weights)[0]
            identity = rng.choices(self._identities, cum_weights=self._identity_weights)[0]
            yield self._event(moment, api, identity)

    def _moment(self, start: int, end: int) -> int:
        # Rejection-sample a diurnal curve: busier in the (UTC+8) working day.
        while True:
            moment = self._rng.uniform(start, end)
            hour = (moment / 3600 + 8) % 24
            if self._rng.random() < 0.55 + 0.45 * math.sin((hour - 7) / 24 * 2 * math.pi):
                return int(moment)

    def _identity(self, index: int) -> _Identity:
        rng = self._rng
        draw = rng.random()
        addresses = tuple(_address(rng) for _ in range(rng.randint(1, 3)))
        agents = tuple(rng.sample(USER_AGENTS, rng.randint(1, 2)))
        if draw < 0.65:
            name = NAMES[index % len(NAMES)] + ("" if index < len(NAMES) else str(index))
            key = "LTAI5t" + _token(rng, 18)
            return _Identity(
                "ram-user", name, str(rng.randrange(10**15, 10**16)), key, addresses, agents
            )
        if draw < 0.9:
            role = rng.choice(ROLES)
            session = f"{rng.choice(NAMES)}-session{index}"
            principal = f"{rng.randrange(10**17, 10**18)}:{session}"
            return _Identity(
                "assumed-role",
                f"{role}:{session}",
                principal,
                "STS.NU" + _token(rng, 22),
                addresses,
                agents,
            )
        return _Identity(
            "root-account", "root", self._account_id, "LTAI5t" + _token(rng, 18), addresses, agents
        )

    def _event(self, moment: int, api: tuple[str, ...], who: _Identity) -> dict[str, Any]:
        rng = self._rng
        service, source, version, resource_type, _prefix, name, rw, kind = api
        when = format_event_time(moment)
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
        region = rng.choices(REGIONS, weights=[40, 20, 15, 12, 8, 5])[0]
        resource = rng.choice(self._resources[service])
        identity: dict[str, Any] = {
            "type": who.kind,
            "principalId": who.principal_id,
            "accountId": self._account_id,
        }
        if who.kind != "root-account":
            identity["userName"] = who.name
        signin = service == "Ram" and rng.random() < 0.03
        if who.access_key_id and not signin:
            identity["accessKeyId"] = who.access_key_id
        event: dict[str, Any] = {
            "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "eventVersion": "1",
            "eventTime": when,
            "eventSource": source,
            "eventName": "ConsoleSignin" if signin else name,
            "eventType": "ConsoleSignin" if signin else "ApiCall",
            "eventRW": "Write" if signin else rw,
            "eventCategory": "Management",
            "acsRegion": region,
            "serviceName": service,
            "apiVersion": version,
            "requestId": request_id,
            "sourceIpAddress": rng.choice(who.addresses),
            "userAgent": "signin.aliyun.com" if signin else rng.choice(who.user_agents),
            "userIdentity": identity,
            "requestParameters": _parameters(rng, kind, resource_type, resource, region),
            "isGlobal": service in {"Ram", "Sts"},
            "recipientAccountId": self._account_id,
        }
        if signin:
            event["additionalEventData"] = {"loginAccount": who.name, "isMFAChecked": "true"}
        elif kind != "list":
            event["resourceType"] = resource_type
            event["resourceName"] = resource
        if rng.random() < 0.03:
            event["errorCode"], event["errorMessage"] = rng.choice(ERRORS)
        else:
            event["responseElements"] = {"RequestId": request_id}
        return event


def _parameters(
    rng: random.Random, kind: str, resource_type: str, resource: str, region: str
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"RegionId": region}
    if kind == "list":
        parameters["PageSize"] = 50
        parameters["PageNumber"] = 1 + int(rng.random() * rng.random() * 4)
    else:
        parameters[resource_type.rsplit("::", 1)[1] + "Id"] = resource
    if kind in {"create", "modify"}:
        parameters["ClientToken"] = f"{rng.getrandbits(128):032x}"
    if kind == "assume":
        parameters["RoleSessionName"] = f"session-{rng.getrandbits(24)}"
    return parameters


def _zipf(size: int, exponent: float = 1.1) -> list[float]:
    total, cumulative = 0.0, []
    for rank in range(1, size + 1):
        total += 1.0 / rank**exponent
        cumulative.append(total)
    return cumulative


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=length))


def _address(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    first = rng.choice([47, 39, 101, 120, 106, 203, 58])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def recent_window(days: int, now: float | None = None) -> tuple[int, int]:
    """[start, end) of the last `days` days, ending now."""
    end = int(now if now is not None else time.time())
    return end - days * 86400, end
