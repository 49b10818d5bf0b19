"""Data event selectors and the global events storage region through the official SDK against a
real server: each action, its documented refusals (with nothing changed), LookupEvents leaving
data events out and showing global events in their storage region, and delivery taking data
events only as a trail's selector says."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, put_events, sdk_at, sql_rows, wait_delivered
from factory import make_event

from trailhouse.warehouse.model import project_name

OSS_READS = '[{"ServiceName":"Oss","ReadWriteType":"Read","EventName":{"Equals":["GetObject"]}}]'


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _setup(regional: Regional) -> tuple[Keys, Client]:
    keys = regional.new_account()
    return keys, sdk_at(regional.endpoint("cn-hangzhou"), keys)


def _trail(client: Client, keys: Keys, prefix: str = "data") -> str:
    name = _name(prefix)
    client.create_trail(
        models.CreateTrailRequest(
            name=name,
            max_compute_project_arn=f"acs:odps:cn-hangzhou:{keys.account_id}:project/"
            f"{project_name(keys.account_id)}",
        )
    )
    return name


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _put(client: Client, name: str, selectors: str, **fields: Any) -> Any:
    request = models.PutDataEventSelectorRequest(
        trail_name=name, event_selectors=selectors, **fields
    )
    return client.put_data_event_selector(request).body


def _get(client: Client, name: str) -> Any:
    request = models.GetDataEventSelectorRequest(trail_name=name)
    return client.get_data_event_selector(request).body


def test_put_get_list_delete_a_selector(regional: Regional) -> None:
    keys, client = _setup(regional)
    name = _trail(client, keys)
    arn = f"acs:actiontrail:cn-hangzhou:{keys.account_id}:trail/{name}"

    # A trail without a selector answers an empty one, not an error (Terraform reads it).
    empty = _get(client, name)
    assert (empty.data_event_selectors or "", empty.trail_arn) == ("", arn)
    assert empty.is_trail_all_region is False

    put = _put(client, name, OSS_READS, trail_region_ids="cn-hangzhou,cn-shanghai")
    assert (put.data_event_selectors, put.trail_arn) == (OSS_READS, arn)
    assert put.request_id
    got = _get(client, name)
    assert (got.data_event_selectors, got.is_trail_all_region) == (OSS_READS, False)
    assert got.sls_delivery_configs == []  # the trail names no SLS project

    listed = client.list_data_event_selectors(models.ListDataEventSelectorsRequest()).body.data
    assert [
        (i.trail_name, i.event_selectors, i.trail_arn) for i in listed.data_event_selector_infos
    ] == [(name, OSS_READS, arn)]
    assert (listed.max_results, listed.next_token) == (20, "")

    everywhere = '[{"ServiceName":"Oss"}]'
    _put(client, name, everywhere, is_trail_all_region=True)
    assert (_get(client, name).data_event_selectors, _get(client, name).is_trail_all_region) == (
        everywhere,
        True,
    )

    deleted = client.delete_data_event_selector(
        models.DeleteDataEventSelectorRequest(trail_name=name)
    ).body
    assert deleted.request_id
    assert (_get(client, name).data_event_selectors or "") == ""
    after = client.list_data_event_selectors(models.ListDataEventSelectorsRequest()).body.data
    assert after.data_event_selector_infos == []


def test_an_sls_trail_shows_one_delivery_config_per_selected_region(regional: Regional) -> None:
    keys, client = _setup(regional)
    name = _name("sls")
    sls = f"acs:log:cn-hangzhou:{keys.account_id}:project/audit"
    client.create_trail(models.CreateTrailRequest(name=name, sls_project_arn=sls))
    _put(client, name, OSS_READS, trail_region_ids="cn-shanghai,cn-hangzhou")
    configs = _get(client, name).sls_delivery_configs
    assert [(c.trail_region, c.region_sls_project_arn, c.status) for c in configs] == [
        ("cn-shanghai", sls, "success"),
        ("cn-hangzhou", sls, "success"),
    ]


@pytest.mark.parametrize(
    ("selectors", "fields", "code", "message"),
    [
        ("not json", {}, "InvalidParameter", "EventSelectors must be a JSON array"),
        ('{"ServiceName":"Oss"}', {}, "InvalidParameter", "must be a JSON array of selector"),
        (
            json.dumps([{"ServiceName": "Oss"}] * 21),
            {},
            "InvalidParameter",
            "at most 20 are allowed",
        ),
        ('[{"ServiceName":"Ecs"}]', {}, "InvalidParameter", "ServiceName must be one of Oss"),
        ("[{}]", {}, "InvalidParameter", "ServiceName must be one of Oss"),
        (
            '[{"ServiceName":"Oss","ReadWriteType":"read-only"}]',
            {},
            "InvalidParameter",
            "ReadWriteType must be Read, Write or All",
        ),
        (
            '[{"ServiceName":"Oss","EventName":{"Equals":["A"],"NotEquals":["B"]}}]',
            {},
            "InvalidParameter",
            "one of them",
        ),
        (
            '[{"ServiceName":"Oss","EventName":{"Equals":[]}}]',
            {},
            "InvalidParameter",
            "must be a list of non-empty strings",
        ),
        ('[{"ServiceName":"Oss","Bucket":"b"}]', {}, "InvalidParameter", "unknown fields Bucket"),
        (
            OSS_READS,
            {"trail_region_ids": "cn-hangzhou,mars-north-1"},
            "InvalidParameter",
            "unknown: mars-north-1",
        ),
        ("", {}, "MissingParameter", "EventSelectors is required"),
    ],
)
def test_put_refusals_change_nothing(
    regional: Regional, selectors: str, fields: dict[str, Any], code: str, message: str
) -> None:
    keys, client = _setup(regional)
    name = _trail(client, keys)
    _put(client, name, OSS_READS)
    error = _error(lambda: _put(client, name, selectors, **fields))
    assert (error.code, error.status_code) == (code, 400)
    assert message in error.message
    assert _get(client, name).data_event_selectors == OSS_READS


def test_unknown_and_missing_trails_are_refused(regional: Regional) -> None:
    _, client = _setup(regional)
    missing = _name("nosuch")
    for call in (
        lambda: _put(client, missing, OSS_READS),
        lambda: _get(client, missing),
        lambda: client.delete_data_event_selector(
            models.DeleteDataEventSelectorRequest(trail_name=missing)
        ),
    ):
        error = _error(call)
        assert (error.code, error.status_code) == ("TrailNotFoundException", 404)
        assert missing in error.message
    for call in (
        lambda: client.put_data_event_selector(
            models.PutDataEventSelectorRequest(event_selectors=OSS_READS)
        ),
        lambda: client.get_data_event_selector(models.GetDataEventSelectorRequest()),
        lambda: client.delete_data_event_selector(models.DeleteDataEventSelectorRequest()),
    ):
        error = _error(call)
        assert (error.code, error.status_code) == ("MissingParameter", 400)
        assert "TrailName" in error.message
    listed = client.list_data_event_selectors(models.ListDataEventSelectorsRequest()).body.data
    assert listed.data_event_selector_infos == []


def test_list_selectors_pages_with_next_token(regional: Regional) -> None:
    keys, client = _setup(regional)
    names = sorted(_trail(client, keys, prefix) for prefix in ("pagea", "pageb", "pagec"))
    for name in names:
        _put(client, name, OSS_READS)
    seen: list[str] = []
    token = None
    while True:
        data = client.list_data_event_selectors(
            models.ListDataEventSelectorsRequest(max_results=2, next_token=token)
        ).body.data
        assert data.max_results == 2
        seen.extend(info.trail_name for info in data.data_event_selector_infos)
        token = data.next_token or None
        if token is None:
            break
    assert seen == names
    bad = _error(
        lambda: client.list_data_event_selectors(
            models.ListDataEventSelectorsRequest(next_token="forged")
        )
    )
    assert (bad.code, bad.status_code) == ("InvalidParameter", 400)
    too_many = _error(
        lambda: client.list_data_event_selectors(
            models.ListDataEventSelectorsRequest(max_results=101)
        )
    )
    assert (too_many.code, too_many.status_code) == ("InvalidParameter", 400)
    assert "MaxResults must be from 1 to 100" in too_many.message


def test_list_data_event_services(regional: Regional) -> None:
    _, client = _setup(regional)
    data = client.list_data_event_services(models.ListDataEventServicesRequest()).body.data
    assert [info.service_name for info in data.service_infos] == ["Oss"]
    assert {"GetObject", "PutObject", "DeleteObject"} <= set(data.service_infos[0].event_names)
    assert (data.max_results, data.next_token) == (20, "")
    error = _error(
        lambda: client.list_data_event_services(models.ListDataEventServicesRequest(max_results=0))
    )
    assert (error.code, error.status_code) == ("InvalidParameter", 400)


def _lookup(client: Client, key: str, value: str) -> list[dict[str, Any]]:
    request = models.LookupEventsRequest(
        lookup_attribute=[models.LookupEventsRequestLookupAttribute(key=key, value=value)]
    )
    events: list[dict[str, Any]] = client.lookup_events(request).body.events
    return events


def _until_found(client: Client, key: str, value: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while not (found := _lookup(client, key, value)):
        assert time.monotonic() < deadline, f"{key}={value} never became searchable"
        time.sleep(0.1)
    return found


def test_lookup_events_leaves_data_events_out(regional: Regional) -> None:
    keys, client = _setup(regional)
    data_name = f"GetObject{uuid.uuid4().hex[:8]}"
    marker = f"Marker{uuid.uuid4().hex[:8]}"
    data = make_event(
        keys.account_id, 3, eventName=data_name, serviceName="Oss", eventCategory="Data"
    )
    management = make_event(keys.account_id, 2, eventName=marker)
    assert put_events(client, [data, management])["Accepted"] == 2
    _until_found(client, "EventName", marker)  # recorded after the data event, now indexed
    assert _lookup(client, "EventName", data_name) == []
    assert _lookup(client, "EventId", data["eventId"]) == []


def test_global_events_storage_region(regional: Regional) -> None:
    keys, client = _setup(regional)
    singapore = sdk_at(regional.endpoint("ap-southeast-1"), keys)
    assert client.get_global_events_storage_region().body.storage_region == "cn-hangzhou"

    global_name = f"CreateUser{uuid.uuid4().hex[:8]}"
    put_events(
        client,
        [make_event(keys.account_id, 2, eventName=global_name, serviceName="Ram", isGlobal=True)],
    )
    assert len(_until_found(client, "EventName", global_name)) == 1  # stored in cn-hangzhou
    assert _lookup(singapore, "EventName", global_name) == []

    for region, code, message in (
        ("mars-north-1", "InvalidParameter", "StorageRegion must be a region of this"),
        ("", "MissingParameter", "StorageRegion is required"),
    ):
        error = _error(
            lambda region=region: client.update_global_events_storage_region(
                models.UpdateGlobalEventsStorageRegionRequest(storage_region=region)
            )
        )
        assert (error.code, error.status_code) == (code, 400)
        assert message in error.message
        assert client.get_global_events_storage_region().body.storage_region == "cn-hangzhou"

    updated = client.update_global_events_storage_region(
        models.UpdateGlobalEventsStorageRegionRequest(storage_region="ap-southeast-1")
    ).body
    assert updated.request_id
    assert singapore.get_global_events_storage_region().body.storage_region == "ap-southeast-1"
    assert len(_lookup(singapore, "EventName", global_name)) == 1
    assert _lookup(client, "EventName", global_name) == []
    # Regional events stay where they were: the update's own audit event is in cn-hangzhou.
    assert _until_found(client, "EventName", "UpdateGlobalEventsStorageRegion")


def test_delivery_takes_data_events_only_as_the_selector_says(regional: Regional) -> None:
    keys, client = _setup(regional)
    name = _trail(client, keys, "dlv")
    client.start_logging(models.StartLoggingRequest(name=name))
    table = f"actiontrail_{name.replace('-', '_')}"
    tag = uuid.uuid4().hex[:8]

    def data_event(event_name: str, rw: str, **fields: Any) -> dict[str, Any]:
        return make_event(
            keys.account_id,
            2,
            eventName=event_name,
            eventRW=rw,
            serviceName="Oss",
            eventCategory="Data",
            resourceName=f"bucket-{tag}/{event_name}",
            **fields,
        )

    unselected = data_event("GetObject", "Read")
    management = make_event(keys.account_id, 2, eventName=f"Manage{tag}")
    put_events(client, [unselected, management])
    wait_delivered(regional.server, keys, name)

    _put(client, name, OSS_READS)
    chosen = data_event("GetObject", "Read")
    other_name = data_event("HeadObject", "Read")
    write = data_event("PutObject", "Write")
    elsewhere = data_event("GetObject", "Read", acsRegion="cn-shanghai")
    put_events(client, [chosen, other_name, write, elsewhere])
    wait_delivered(regional.server, keys, name)

    client.delete_data_event_selector(models.DeleteDataEventSelectorRequest(trail_name=name))
    after_delete = data_event("GetObject", "Read")
    put_events(client, [after_delete])
    wait_delivered(regional.server, keys, name)

    rows = sql_rows(
        regional.server,
        keys,
        f"SELECT event_id FROM {table} WHERE event_name IN "
        f"('GetObject', 'HeadObject', 'PutObject', 'Manage{tag}')",
    )
    assert sorted(r[0] for r in rows) == sorted([management["eventId"], chosen["eventId"]])


def test_a_ram_user_needs_the_actions_permission(regional: Regional) -> None:
    keys, client = _setup(regional)
    name = _trail(client, keys)
    user = regional.new_user(keys.account_id, "selector-bob")
    as_user = sdk_at(regional.endpoint("cn-hangzhou"), user)
    error = _error(lambda: _put(as_user, name, OSS_READS))
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert "actiontrail:PutDataEventSelector" in error.message
    error = _error(
        lambda: as_user.update_global_events_storage_region(
            models.UpdateGlobalEventsStorageRegionRequest(storage_region="ap-southeast-1")
        )
    )
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert (_get(client, name).data_event_selectors or "") == ""
    assert client.get_global_events_storage_region().body.storage_region == "cn-hangzhou"
