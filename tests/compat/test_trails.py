"""Trail management through the official SDK against a real server: lifecycle, listing, shadow
trails seen from other region ports, the service-linked role, RAM permissions and auditing."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, sdk_at

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.events.validation import format_event_time

ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TRAIL_RESOURCE = "ACS::ActionTrail::Trail"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _project(account_id: str, region: str = "cn-hangzhou") -> str:
    return f"acs:odps:{region}:{account_id}:project/actiontrail_{account_id}"


def _create(client: Client, keys: Keys, name: str, **fields: Any) -> Any:
    fields.setdefault("max_compute_project_arn", _project(keys.account_id))
    return client.create_trail(models.CreateTrailRequest(name=name, **fields)).body


def _describe(client: Client, **fields: Any) -> list[Any]:
    trails: list[Any] = client.describe_trails(
        models.DescribeTrailsRequest(**fields)
    ).body.trail_list
    return trails


def _one(client: Client, name: str) -> Any:
    trails = _describe(client, name_list=name)
    assert [trail.name for trail in trails] == [name]
    return trails[0]


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _rpc(endpoint: str, keys: Keys, action: str, params: dict[str, str]) -> dict[str, Any]:
    """One call through trailhouse's own client (RAM actions are not in the ActionTrail SDK)."""
    with RpcClient(f"http://{endpoint}", keys.access_key_id, keys.access_key_secret) as client:
        return client.call(action, params)


def _rpc_error(endpoint: str, keys: Keys, action: str, params: dict[str, str]) -> RequestFailed:
    with pytest.raises(RequestFailed) as raised:
        _rpc(endpoint, keys, action, params)
    return raised.value


def test_full_lifecycle_from_fresh_to_deleted(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    name = _name("life")
    before = int(time.time())

    created = _create(client, keys, name)
    assert (created.name, created.home_region, created.trail_region, created.event_rw) == (
        name,
        "cn-hangzhou",
        "All",
        "All",
    )
    assert created.max_compute_project_arn == _project(keys.account_id)

    fresh = _one(client, name)
    assert fresh.status == "Fresh"
    assert fresh.home_region == "cn-hangzhou" and fresh.region == "cn-hangzhou"
    assert fresh.trail_arn == f"acs:actiontrail:cn-hangzhou:{keys.account_id}:trail/{name}"
    assert fresh.is_organization_trail is False
    assert fresh.organization_id is None
    assert ISO_TIME.match(fresh.create_time)
    assert fresh.create_time >= format_event_time(before)
    assert fresh.start_logging_time is None and fresh.stop_logging_time is None
    status = client.get_trail_status(models.GetTrailStatusRequest(name=name)).body
    assert status.is_logging is False

    client.start_logging(models.StartLoggingRequest(name=name))
    assert _one(client, name).status == "Enable"
    status = client.get_trail_status(models.GetTrailStatusRequest(name=name)).body
    assert status.is_logging is True
    assert ISO_TIME.match(status.start_logging_time)
    assert status.start_logging_time >= fresh.create_time

    stopped = client.stop_logging(models.StopLoggingRequest(name=name))  # the SDK sends GET
    assert stopped.status_code == 200 and stopped.body.request_id
    disabled = _one(client, name)
    assert disabled.status == "Disable"
    assert ISO_TIME.match(disabled.stop_logging_time)
    status = client.get_trail_status(models.GetTrailStatusRequest(name=name)).body
    assert status.is_logging is False
    assert status.stop_logging_time == disabled.stop_logging_time

    updated = client.update_trail(models.UpdateTrailRequest(name=name, event_rw="Write")).body
    assert updated.event_rw == "Write"
    assert updated.max_compute_project_arn == _project(keys.account_id)  # kept
    after_update = _one(client, name)
    assert after_update.event_rw == "Write" and after_update.status == "Disable"

    client.delete_trail(models.DeleteTrailRequest(name=name))
    assert _describe(client) == []


def test_event_rw_defaults_to_all_and_takes_read_and_write(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    names = {rw: _name(f"rw-{rw.lower()}") for rw in ("Default", "Read", "Write")}
    for rw, name in names.items():
        _create(client, keys, name, **({} if rw == "Default" else {"event_rw": rw}))
    shown = {trail.name: trail.event_rw for trail in _describe(client)}
    assert shown == {names["Default"]: "All", names["Read"]: "Read", names["Write"]: "Write"}


def test_name_list_selects_trails_by_name(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    names = sorted(_name(f"list{index}") for index in range(3))
    for name in names:
        _create(client, keys, name)
    assert [t.name for t in _describe(client)] == names
    assert [t.name for t in _describe(client, name_list=f"{names[0]},{names[2]}")] == [
        names[0],
        names[2],
    ]
    assert [t.name for t in _describe(client, name_list=f" {names[1]} ")] == [names[1]]
    assert _describe(client, name_list="no-such-trail") == []


def test_booleans_are_accepted_in_any_case(regional: Regional) -> None:
    keys = regional.new_account()
    _create(sdk_at(regional.endpoint("cn-hangzhou"), keys), keys, _name("bools"))
    shanghai = regional.endpoint("cn-shanghai")
    for spelling in ("True", "true", "TRUE"):
        answer = _rpc(shanghai, keys, "DescribeTrails", {"IncludeShadowTrails": spelling})
        assert len(answer["TrailList"]) == 1, spelling
    for spelling in ("False", "false", "FALSE"):
        answer = _rpc(shanghai, keys, "DescribeTrails", {"IncludeShadowTrails": spelling})
        assert answer["TrailList"] == [], spelling
    error = _rpc_error(shanghai, keys, "DescribeTrails", {"IncludeShadowTrails": "yes"})
    assert (error.status, error.code) == (400, "InvalidParameter")
    assert "IncludeShadowTrails must be true or false" in error.message
    created = _rpc(
        regional.endpoint("cn-hangzhou"),
        keys,
        "CreateTrail",
        {
            "Name": _name("lowbool"),
            "IsOrganizationTrail": "false",
            "MaxComputeProjectArn": _project(keys.account_id),
        },
    )
    assert created["EventRW"] == "All"
    shadows = sdk_at(regional.endpoint("cn-shanghai"), keys)
    assert len(_describe(shadows, include_shadow_trails=True)) == 2  # the SDK sends "True"


def test_shadow_trails_appear_in_covered_regions_only_when_asked(regional: Regional) -> None:
    keys = regional.new_account()
    hangzhou = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    shanghai = sdk_at(regional.endpoint("cn-shanghai"), keys)
    everywhere, beijing_only = _name("all-regions"), _name("beijing")
    _create(hangzhou, keys, everywhere, trail_region="All")
    _create(hangzhou, keys, beijing_only, trail_region="cn-beijing")
    local = _name("local")
    created = _create(shanghai, keys, local)
    assert created.home_region == "cn-shanghai"

    assert [t.name for t in _describe(shanghai)] == [local]
    assert [t.name for t in _describe(shanghai, include_shadow_trails=False)] == [local]
    with_shadows = {t.name: t for t in _describe(shanghai, include_shadow_trails=True)}
    assert sorted(with_shadows) == sorted([everywhere, local])
    shadow = with_shadows[everywhere]
    assert shadow.home_region == "cn-hangzhou" and shadow.region == "cn-shanghai"
    assert shadow.trail_arn == f"acs:actiontrail:cn-hangzhou:{keys.account_id}:trail/{everywhere}"
    assert with_shadows[local].region == "cn-shanghai"

    assert sorted(t.name for t in _describe(hangzhou)) == sorted([everywhere, beijing_only])
    singapore = sdk_at(regional.endpoint("ap-southeast-1"), keys)
    assert sorted(t.name for t in _describe(singapore, include_shadow_trails=True)) == sorted(
        [everywhere, local]  # both cover every region; neither lives in ap-southeast-1
    )
    assert _describe(singapore) == []


def test_describe_regions_names_the_region_ports(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    regions = client.describe_regions(models.DescribeRegionsRequest()).body.regions.region
    endpoints = {region.region_id: region.region_endpoint for region in regions}
    assert endpoints["cn-hangzhou"] == regional.endpoint("cn-hangzhou")
    assert endpoints["cn-shanghai"] == regional.endpoint("cn-shanghai")
    assert endpoints["ap-southeast-1"] == regional.endpoint("ap-southeast-1")
    assert endpoints["cn-beijing"] == "actiontrail.cn-beijing.aliyuncs.com"
    names = {region.region_id: region.local_name for region in regions}
    assert names["cn-shanghai"] == "China (Shanghai)"
    assert names["ap-southeast-1"] == "Singapore"


def test_the_first_trail_creates_the_service_linked_role(regional: Regional) -> None:
    keys = regional.new_account()
    main = regional.endpoint("cn-hangzhou")
    linked = {"RoleName": "AliyunServiceRoleForActionTrail"}
    error = _rpc_error(main, keys, "GetRole", linked)
    assert (error.status, error.code) == (404, "EntityNotExist.Role")

    _create(sdk_at(regional.endpoint("cn-hangzhou"), keys), keys, _name("first"))
    role = _rpc(main, keys, "GetRole", linked)["Role"]
    assert role["RoleName"] == "AliyunServiceRoleForActionTrail"
    assert role["Arn"] == f"acs:ram::{keys.account_id}:role/aliyunserviceroleforactiontrail"
    assert "AliyunServiceRolePolicyForActionTrail" in role["AttachedPolicies"]
    assert "actiontrail.aliyuncs.com" in role["AssumeRolePolicyDocument"]

    _create(sdk_at(regional.endpoint("cn-hangzhou"), keys), keys, _name("second"))
    again = _rpc(main, keys, "GetRole", linked)["Role"]
    assert again["RoleId"] == role["RoleId"]  # created once


def test_a_ram_user_needs_a_policy_to_manage_trails(regional: Regional) -> None:
    keys = regional.new_account()
    user = regional.new_user(keys.account_id, "trail-admin")
    client = sdk_at(regional.endpoint("cn-hangzhou"), user)
    name = _name("by-user")

    error = _error(lambda: _create(client, keys, name))
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert "actiontrail:CreateTrail" in error.message
    assert _describe(sdk_at(regional.endpoint("cn-hangzhou"), keys)) == []
    # Nor may it read the account's history (ActionTrail's actiontrail:LookupEvents).
    error = _error(lambda: client.lookup_events(models.LookupEventsRequest()))
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert "actiontrail:LookupEvents" in error.message
    assert "AliyunActionTrailReadOnlyAccess" in error.message

    _rpc(
        regional.endpoint("cn-hangzhou"),
        keys,
        "AttachPolicyToUser",
        {
            "UserName": "trail-admin",
            "PolicyType": "System",
            "PolicyName": "AliyunActionTrailFullAccess",
        },
    )
    assert _create(client, keys, name).name == name
    client.start_logging(models.StartLoggingRequest(name=name))
    client.delete_trail(models.DeleteTrailRequest(name=name))


def test_the_read_only_policy_allows_describing_but_not_creating(regional: Regional) -> None:
    keys = regional.new_account()
    root = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    name = _name("ro")
    _create(root, keys, name)
    user = regional.new_user(keys.account_id, "trail-reader")
    _rpc(
        regional.endpoint("cn-hangzhou"),
        keys,
        "AttachPolicyToUser",
        {"UserName": "trail-reader", "PolicyName": "AliyunActionTrailReadOnlyAccess"},
    )
    reader = sdk_at(regional.endpoint("cn-hangzhou"), user)
    assert [t.name for t in _describe(reader)] == [name]
    assert reader.lookup_events(models.LookupEventsRequest()).body.events is not None
    assert reader.get_trail_status(models.GetTrailStatusRequest(name=name)).body.is_logging is False
    for call, action in (
        (lambda: _create(reader, keys, _name("ro-new")), "CreateTrail"),
        (lambda: reader.start_logging(models.StartLoggingRequest(name=name)), "StartLogging"),
        (lambda: reader.delete_trail(models.DeleteTrailRequest(name=name)), "DeleteTrail"),
    ):
        error = _error(call)
        assert (error.code, error.status_code) == ("NoPermission", 403)
        assert f"actiontrail:{action}" in error.message
    assert [(t.name, t.status) for t in _describe(root)] == [(name, "Fresh")]


def test_every_trail_operation_is_audited_with_the_trail_as_resource(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    name = _name("audited")
    _create(client, keys, name)
    refused = _error(lambda: _create(client, keys, name))
    assert refused.code == "TrailAlreadyExistsException"
    client.start_logging(models.StartLoggingRequest(name=name))
    client.get_trail_status(models.GetTrailStatusRequest(name=name))
    client.stop_logging(models.StopLoggingRequest(name=name))
    client.update_trail(models.UpdateTrailRequest(name=name, event_rw="Read"))
    client.delete_trail(models.DeleteTrailRequest(name=name))
    expected = {
        "CreateTrail": "Write",
        "StartLogging": "Write",
        "GetTrailStatus": "Read",
        "StopLogging": "Write",
        "UpdateTrail": "Write",
        "DeleteTrail": "Write",
    }

    events = _wait_for_events(client, name, len(expected) + 1)
    [failed] = [event for event in events if "errorCode" in event]
    assert failed["eventName"] == "CreateTrail"
    assert failed["errorCode"] == "TrailAlreadyExistsException"
    assert failed["resourceName"] == name and failed["resourceType"] == TRAIL_RESOURCE
    assert failed["requestId"] == refused.request_id
    events = [event for event in events if event is not failed]
    assert sorted(event["eventName"] for event in events) == sorted(expected)
    for event in events:
        assert event["resourceType"] == TRAIL_RESOURCE
        assert event["resourceName"] == name
        assert event["serviceName"] == "Actiontrail"
        assert event["eventRW"] == expected[event["eventName"]]
        assert event["recipientAccountId"] == keys.account_id
        assert event["userIdentity"]["accountId"] == keys.account_id
        assert "errorCode" not in event
    by_type = _lookup(client, "ResourceType", TRAIL_RESOURCE)
    assert {event["eventId"] for event in events} <= {event["eventId"] for event in by_type}


def _lookup(client: Client, key: str, value: str) -> list[dict[str, Any]]:
    request = models.LookupEventsRequest(
        start_time=format_event_time(int(time.time()) - 3600),
        max_results="50",
        lookup_attribute=[models.LookupEventsRequestLookupAttribute(key=key, value=value)],
    )
    events: list[dict[str, Any]] = client.lookup_events(request).body.events
    return events


def _wait_for_events(client: Client, name: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = _lookup(client, "ResourceName", name)
        if len(events) >= count:
            return events
        time.sleep(0.05)
    raise AssertionError(f"only {len(events)} of {count} audit events appeared: {events}")
