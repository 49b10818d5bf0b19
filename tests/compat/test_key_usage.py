"""Access key usage (GetAccessKeyLastUsed*) through the official SDK against a real server:
computed from the events recorded with the key, paged, and refused with the documented codes."""

from __future__ import annotations

import calendar
import time
import uuid
from typing import Any

import orjson
import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, put_events, sdk_at
from factory import make_event

HOUR = 3600


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _identity(account_id: str, key: Keys, user: str) -> dict[str, str]:
    return {
        "type": "ram-user",
        "principalId": "209876543210987654",
        "accountId": account_id,
        "accessKeyId": key.access_key_id,
        "userName": user,
    }


class Recorded:
    """A fresh account, a RAM user's key, and four events recorded with that key."""

    def __init__(self, regional: Regional) -> None:
        self.root = regional.new_account()
        self.user = f"usage-{uuid.uuid4().hex[:8]}"
        self.key = regional.new_user(self.root.account_id, self.user)
        self.client = sdk_at(regional.endpoint("cn-hangzhou"), self.root)
        who = _identity(self.root.account_id, self.key, self.user)
        account = self.root.account_id
        self.events = [
            make_event(
                account,
                HOUR // 2,
                serviceName="Oss",
                eventName="PutObject",
                eventSource="oss.aliyuncs.com",
                sourceIpAddress="198.51.100.7",
                userIdentity=who,
            ),
            make_event(
                account,
                HOUR,
                eventName="DescribeInstances",
                sourceIpAddress="203.0.113.5",
                resourceType="ACS::ECS::Instance",
                resourceName="i-one",
                userIdentity=who,
            ),
            make_event(
                account,
                2 * HOUR,
                eventName="StartInstance",
                eventRW="Write",
                sourceIpAddress="203.0.113.6",
                resourceType="ACS::ECS::Instance;ACS::ECS::Disk",
                resourceName="i-two,i-three;d-one",
                userIdentity=who,
            ),
            make_event(
                account,
                3 * HOUR,
                eventName="DescribeInstances",
                sourceIpAddress="203.0.113.5",
                resourceType="ACS::ECS::Instance",
                resourceName="i-one",
                userIdentity=who,
            ),
        ]
        answer = put_events(self.client, self.events)
        assert answer["Accepted"] == len(self.events), answer
        self.info = self._wait_indexed()

    def _wait_indexed(self) -> Any:
        deadline = time.monotonic() + 15
        wanted = _ms(self.events[0])
        while True:
            info = self.client.get_access_key_last_used_info(
                models.GetAccessKeyLastUsedInfoRequest(access_key=self.key.access_key_id)
            ).body
            if info.used_timestamp == wanted:
                return info
            assert time.monotonic() < deadline, "the events never became searchable"
            time.sleep(0.05)


def _ms(event: dict[str, Any]) -> int:
    return calendar.timegm(time.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ")) * 1000


@pytest.fixture(scope="module")
def recorded(regional: Regional) -> Recorded:
    return Recorded(regional)


def test_last_used_info_names_the_owner_and_the_newest_use(recorded: Recorded) -> None:
    info = recorded.info
    newest = recorded.events[0]
    assert (info.access_key_id, info.account_id, info.owner_id) == (
        recorded.key.access_key_id,
        recorded.root.account_id,
        recorded.root.account_id,
    )
    assert (info.account_type, info.user_name) == ("ram-user", recorded.user)
    assert (info.service_name, info.service_name_en, info.source) == (
        "Oss",
        "Oss",
        "ManagementEvent",
    )
    assert info.used_timestamp == _ms(newest)
    assert orjson.loads(info.detail)["eventId"] == newest["eventId"]


def test_the_root_key_is_shown_as_root(recorded: Recorded) -> None:
    # The root key signed the PutEvents call; trailhouse audits its own API in the account.
    client = recorded.client
    deadline = time.monotonic() + 15
    while True:
        info = client.get_access_key_last_used_info(
            models.GetAccessKeyLastUsedInfoRequest(access_key=recorded.root.access_key_id)
        ).body
        if info.used_timestamp:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (info.account_type, info.user_name, info.service_name) == (
        "root-account",
        "root",
        "Actiontrail",
    )


def test_products_are_each_service_with_its_newest_use(recorded: Recorded) -> None:
    products = recorded.client.get_access_key_last_used_products(
        models.GetAccessKeyLastUsedProductsRequest(access_key=recorded.key.access_key_id)
    ).body.products
    assert [(p.service_name, p.used_timestamp) for p in products] == [
        ("Oss", _ms(recorded.events[0])),
        ("Ecs", _ms(recorded.events[1])),
    ]


def test_events_ips_and_resources_within_one_service(recorded: Recorded) -> None:
    client, key = recorded.client, recorded.key.access_key_id
    first, second = (_ms(recorded.events[1]), _ms(recorded.events[2]))
    events = client.get_access_key_last_used_events(
        models.GetAccessKeyLastUsedEventsRequest(access_key=key, service_name="Ecs")
    ).body
    assert [(e.event_name, e.used_timestamp) for e in events.events] == [
        ("DescribeInstances", first),
        ("StartInstance", second),
    ]
    assert events.next_token is None
    ips = client.get_access_key_last_used_ips(
        models.GetAccessKeyLastUsedIpsRequest(access_key=key, service_name="Ecs")
    ).body.ips
    assert [(i.ip, i.used_timestamp, i.source) for i in ips] == [
        ("203.0.113.5", first, "ManagementEvent"),
        ("203.0.113.6", second, "ManagementEvent"),
    ]
    resources = client.get_access_key_last_used_resources(
        models.GetAccessKeyLastUsedResourcesRequest(access_key=key, service_name="Ecs")
    ).body.resources
    assert [(r.resource_type, r.resource_name, r.used_timestamp) for r in resources] == [
        ("ACS::ECS::Instance", "i-one", first),
        ("ACS::ECS::Instance", "i-two", second),
        ("ACS::ECS::Instance", "i-three", second),
        ("ACS::ECS::Disk", "d-one", second),
    ]
    nothing = client.get_access_key_last_used_ips(
        models.GetAccessKeyLastUsedIpsRequest(access_key=key, service_name="Rds")
    ).body
    assert (nothing.ips, nothing.next_token) == ([], None)


def test_pages_follow_the_next_token(recorded: Recorded) -> None:
    client, key = recorded.client, recorded.key.access_key_id
    seen: list[str] = []
    token = None
    for _ in range(5):
        page = client.get_access_key_last_used_resources(
            models.GetAccessKeyLastUsedResourcesRequest(
                access_key=key, service_name="Ecs", page_size=3, next_token=token
            )
        ).body
        seen += [r.resource_name for r in page.resources]
        token = page.next_token
        if token is None:
            break
    assert seen == ["i-one", "i-two", "i-three", "d-one"]
    first = client.get_access_key_last_used_resources(
        models.GetAccessKeyLastUsedResourcesRequest(access_key=key, service_name="Ecs", page_size=3)
    ).body
    error = _error(
        lambda: client.get_access_key_last_used_resources(
            models.GetAccessKeyLastUsedResourcesRequest(
                access_key=key, service_name="Ecs", page_size=2, next_token=first.next_token
            )
        )
    )
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "PageSize" in error.message


NEVER = "LTAI5tNeverSeenKey0001"
MISSING, INVALID, UNKNOWN = "MissingParameter", "InvalidParameter", "EntityNotExist.User.AccessKey"
ECS = {"access_key": "{key}", "service_name": "Ecs"}


@pytest.mark.parametrize(
    ("call", "fields", "code", "words"),
    [
        ("info", {}, MISSING, "AccessKey"),
        ("products", {}, MISSING, "AccessKey"),
        ("events", {"access_key": "{key}"}, MISSING, "ServiceName"),
        ("ips", {"access_key": "{key}"}, MISSING, "ServiceName"),
        ("resources", {"access_key": "{key}"}, MISSING, "ServiceName"),
        ("ips", {**ECS, "page_size": 101}, INVALID, "PageSize"),
        ("events", {**ECS, "next_token": "bm9wZQ"}, INVALID, "NextToken"),
        ("info", {"access_key": NEVER}, UNKNOWN, NEVER),
        ("products", {"access_key": NEVER}, UNKNOWN, "no event"),
        ("resources", {"access_key": NEVER, "service_name": "Ecs"}, UNKNOWN, "no event"),
        ("info", {"access_key": "not a key!"}, INVALID, "AccessKey"),
    ],
)
def test_refused_calls_name_what_to_fix(
    recorded: Recorded, call: str, fields: dict[str, Any], code: str, words: str
) -> None:
    filled = {k: (recorded.key.access_key_id if v == "{key}" else v) for k, v in fields.items()}
    error = _error(lambda: _call(recorded.client, call, filled))
    assert error.code == code and words in error.message, error.message
    assert error.status_code == (404 if code.startswith("EntityNotExist") else 400)


def _call(client: Client, call: str, fields: dict[str, Any]) -> Any:
    request: Any
    if call == "info":
        request = models.GetAccessKeyLastUsedInfoRequest(**fields)
        return client.get_access_key_last_used_info(request)
    if call == "products":
        return client.get_access_key_last_used_products(
            models.GetAccessKeyLastUsedProductsRequest(**fields)
        )
    if call == "events":
        return client.get_access_key_last_used_events(
            models.GetAccessKeyLastUsedEventsRequest(**fields)
        )
    if call == "ips":
        return client.get_access_key_last_used_ips(models.GetAccessKeyLastUsedIpsRequest(**fields))
    return client.get_access_key_last_used_resources(
        models.GetAccessKeyLastUsedResourcesRequest(**fields)
    )


def test_a_ram_user_needs_the_permission(recorded: Recorded, regional: Regional) -> None:
    client = sdk_at(regional.endpoint("cn-hangzhou"), recorded.key)
    error = _error(
        lambda: client.get_access_key_last_used_info(
            models.GetAccessKeyLastUsedInfoRequest(access_key=recorded.key.access_key_id)
        )
    )
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert "actiontrail:GetAccessKeyLastUsedInfo" in error.message
