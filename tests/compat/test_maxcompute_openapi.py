"""The official MaxCompute OpenAPI SDK (`alibabacloud_maxcompute20220104`, unchanged) against
the running server's `/api/v1`: every read call it answers, in the documented shapes, the
refusals in MaxCompute's codes, and writes refused by name."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_maxcompute20220104 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, Keys
from maxcompute_openapi_support import Readable, make_readable, maxcompute

from trailhouse.client import RpcClient
from trailhouse.warehouse.schema import PARTITION, current

ACCOUNT = "7777000012340206"
TABLE = "actiontrail_openapi_osprey"
QUOTA = "osprey_quota_openapi"
SECOND = "osprey_openapi_second"


@pytest.fixture(scope="module")
def readable(running: Fixture) -> Readable:
    made = make_readable(running.server, ACCOUNT, TABLE, QUOTA)
    root = made.warehouse.root
    with RpcClient(running.server.url, root.access_key_id, root.access_key_secret) as rpc:
        rpc.call("CreateProject", {"Project": SECOND})
    return made


def _refused(call: object) -> ClientException:
    assert callable(call)
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def test_list_projects_shows_the_callers_projects(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    client = maxcompute(running.server, made.root)
    body = client.list_projects(models.ListProjectsRequest()).body
    assert body.request_id
    assert [p.name for p in body.data.projects] == sorted([made.project, SECOND])
    first = next(p for p in body.data.projects if p.name == made.project)
    assert first.owner == ACCOUNT
    assert first.region_id == "cn-hangzhou"
    assert first.status == "AVAILABLE"
    assert first.type == "managed"
    assert first.default_quota
    assert abs(first.created_time / 1000 - time.time()) < 3600
    assert int(first.cost_storage) > 0  # the delivered table's bytes
    assert body.data.marker == ""
    # prefix, and paging through maxItem and the marker it returns
    named = client.list_projects(models.ListProjectsRequest(prefix="osprey_")).body.data
    assert [p.name for p in named.projects] == [SECOND]
    pages: list[str] = []
    marker = None
    while True:
        data = client.list_projects(models.ListProjectsRequest(max_item=1, marker=marker)).body.data
        pages += [p.name for p in data.projects]
        if not data.marker:
            break
        marker = data.marker
    assert pages == sorted([made.project, SECOND])


def test_get_project(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    body = maxcompute(running.server, made.root).get_project(
        made.project, models.GetProjectRequest()
    )
    assert body.status_code == 200
    data = body.body.data
    assert data.name == made.project
    assert data.owner == ACCOUNT
    assert data.product_type == "PayAsYouGo"
    assert data.properties.timezone == "Asia/Shanghai"  # cn-hangzhou's default
    assert data.properties.type_system == "2.0"
    assert data.security_properties.using_acl is True
    assert data.three_tier_model is False
    assert body.body.http_code == 200


def test_tables_and_their_columns(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    client = maxcompute(running.server, made.root)
    data = client.list_tables(made.project, models.ListTablesRequest()).body.data
    assert [(t.name, t.type, t.schema, t.owner) for t in data.tables] == [
        (TABLE, "MANAGED_TABLE", "default", ACCOUNT)
    ]
    assert (
        client.list_tables(made.project, models.ListTablesRequest(prefix="zz")).body.data.tables
        == []
    )
    info = client.get_table_info(made.project, TABLE, models.GetTableInfoRequest()).body.data
    schema = current()
    assert [(c.name, c.type, c.comment) for c in info.native_columns] == [
        (c.name, c.odps_type, c.comment) for c in schema.columns
    ]
    assert [(c.name, c.type) for c in info.partition_columns] == [("ds", PARTITION.odps_type)]
    assert info.project_name == made.project
    assert info.size > 0
    assert info.file_num >= len(made.days)
    assert info.is_external_table is False
    assert info.creation_time <= info.last_modified_time
    assert info.create_table_ddl.startswith(f"CREATE TABLE IF NOT EXISTS {made.project}.default.")


def test_quotas(running: Fixture, readable: Readable) -> None:
    client = maxcompute(running.server, readable.warehouse.root)
    body = client.list_quotas(models.ListQuotasRequest(region="cn-hangzhou")).body
    by_name = {q.nick_name: q for q in body.data.quota_info_list}
    assert {"pay-as-you-go", QUOTA} <= set(by_name)
    bought = by_name[QUOTA]
    assert bought.billing_policy.billing_method == "subscription"
    assert bought.region_id == "cn-hangzhou"
    assert bought.tenant_id == ACCOUNT
    assert bought.parameter["minCU"] == 1
    only = client.list_quotas(models.ListQuotasRequest(billing_type="subscription")).body.data
    assert [q.nick_name for q in only.quota_info_list] == [QUOTA]
    one = client.get_quota(QUOTA, models.GetQuotaRequest()).body.data
    assert (one.nick_name, one.name, one.status) == (QUOTA, QUOTA, "ON")
    refused = _refused(lambda: client.get_quota("no_such_quota_osprey", models.GetQuotaRequest()))
    assert (refused.status_code, refused.code) == (404, "NoSuchObject")
    assert "no_such_quota_osprey" in refused.message


def test_jobs(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    client = maxcompute(running.server, made.root)
    listed = client.list_job_infos(
        models.ListJobInfosRequest(project_list=[made.project], page_size=50)
    ).body
    assert listed.http_code == 200
    assert [j.instance_id for j in listed.data.job_info_list] == [readable.job_id]
    assert listed.data.total_count == 1
    job = listed.data.job_info_list[0]
    assert (job.project, job.status, job.job_type) == (made.project, "terminated", "SQL")
    assert job.job_owner == f"ALIYUN${ACCOUNT}"
    assert job.input_bytes > 0
    assert job.submitted_at_time <= job.end_at_time
    none = client.list_job_infos(
        models.ListJobInfosRequest(project_list=[made.project], status_list=["running"])
    ).body.data
    assert (none.job_info_list, none.total_count) == ([], 0)
    info = client.get_job_info(readable.job_id).body
    assert info.http_code == 200
    assert (info.data.instance_id, info.data.status) == (readable.job_id, "terminated")
    assert info.data.quota_nickname == job.quota_nickname
    refused = _refused(lambda: client.get_job_info("20260101000000000nosuchjob"))
    assert (refused.status_code, refused.code) == (404, "NoSuchObject")


def test_unknown_names_are_no_such_object(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    client = maxcompute(running.server, made.root)
    refused = _refused(
        lambda: client.get_project("no_such_project_osprey", models.GetProjectRequest())
    )
    assert (refused.status_code, refused.code) == (404, "NoSuchObject")
    assert "no_such_project_osprey" in refused.message
    assert refused.data["errorCode"] == "NoSuchObject"
    assert refused.data["httpCode"] == 404
    assert refused.data["requestId"] == refused.request_id
    refused = _refused(
        lambda: client.get_table_info(
            made.project, "actiontrail_no_such_osprey", models.GetTableInfoRequest()
        )
    )
    assert (refused.status_code, refused.code) == (404, "NoSuchObject")
    assert "actiontrail_no_such_osprey" in refused.message
    refused = _refused(
        lambda: client.list_tables(made.project, models.ListTablesRequest(schema_name="other"))
    )
    assert (refused.status_code, refused.code) == (404, "NoSuchObject")
    refused = _refused(lambda: client.list_projects(models.ListProjectsRequest(max_item=0)))
    assert (refused.status_code, refused.code) == (400, "InvalidParameter")
    assert "maxItem" in refused.message


def test_ram_users_see_what_their_membership_allows(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    member = maxcompute(running.server, made.member)
    projects = member.list_projects(models.ListProjectsRequest()).body.data.projects
    assert [p.name for p in projects] == [made.project]
    info = member.get_table_info(made.project, TABLE, models.GetTableInfoRequest()).body.data
    assert info.name == TABLE
    # The reader sees its own jobs only: the root's job is not listed, and not shown.
    jobs = member.list_job_infos(models.ListJobInfosRequest()).body.data
    assert readable.job_id not in [j.instance_id for j in jobs.job_info_list]
    outsider = maxcompute(running.server, made.outsider)
    assert outsider.list_projects(models.ListProjectsRequest()).body.data.projects == []
    refused = _refused(lambda: outsider.get_project(made.project, models.GetProjectRequest()))
    assert (refused.status_code, refused.code) == (403, "NoPermission")
    assert "odps_outsider" in refused.message and "Reader" in refused.message
    refused = _refused(lambda: outsider.list_tables(made.project, models.ListTablesRequest()))
    assert (refused.status_code, refused.code) == (403, "NoPermission")


def test_another_accounts_project_is_invisible(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    other = maxcompute(running.server, running.other)
    listed = other.list_projects(models.ListProjectsRequest()).body.data.projects
    assert made.project not in [p.name for p in listed]
    refused = _refused(lambda: other.get_project(made.project, models.GetProjectRequest()))
    absent = _refused(lambda: other.get_project("osprey_never_made", models.GetProjectRequest()))
    assert (refused.status_code, refused.code) == (absent.status_code, absent.code)
    assert (
        refused.message.replace(made.project, "X").split(" request id")[0]
        == (absent.message.replace("osprey_never_made", "X").split(" request id")[0])
    )


@pytest.mark.parametrize(
    ("call", "action"),
    [
        (lambda c: c.create_project(models.CreateProjectRequest()), "CreateProject"),
        (lambda c: c.delete_project("osprey_x", models.DeleteProjectRequest()), "DeleteProject"),
        (
            lambda c: c.update_project_default_quota(
                "osprey_x", models.UpdateProjectDefaultQuotaRequest()
            ),
            "UpdateProjectDefaultQuota",
        ),
        (lambda c: c.kill_jobs(models.KillJobsRequest()), "KillJobs"),
    ],
)
def test_writes_are_refused_by_name(
    running: Fixture, readable: Readable, call: object, action: str
) -> None:
    client = maxcompute(running.server, readable.warehouse.root)
    assert callable(call)
    refused = _refused(lambda: call(client))
    assert (refused.status_code, refused.code) == (405, "MethodNotAllowed")
    assert action in refused.message
    assert "reads only" in refused.message


def test_the_old_roa_signature_is_refused_by_name(running: Fixture, readable: Readable) -> None:
    client = maxcompute(running.server, readable.warehouse.root, signature="v2")
    refused = _refused(lambda: client.list_projects(models.ListProjectsRequest()))
    assert (refused.status_code, refused.code) == (400, "IncompleteSignature")
    assert "ACS3-HMAC-SHA256" in refused.message


def _events(running: Fixture, keys: Keys, event_name: str, user: str) -> list[dict[str, Any]]:
    """The account's audit events of `event_name` by RAM user `user` (waiting for the audit
    writer's batch)."""
    deadline = time.monotonic() + 10
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        while True:
            found = rpc.call(
                "LookupEvents",
                {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": event_name},
            )["Events"]
            mine = [e for e in found if e["userIdentity"].get("userName") == user]
            if mine or time.monotonic() > deadline:
                return mine
            time.sleep(0.3)


def test_calls_are_audited_in_the_callers_account(running: Fixture, readable: Readable) -> None:
    made = readable.warehouse
    maxcompute(running.server, made.member).get_table_info(
        made.project, TABLE, models.GetTableInfoRequest()
    )
    mine = _events(running, made.root, "GetTableInfo", "odps_reader")
    assert mine
    event = mine[0]
    assert (event["serviceName"], event["apiVersion"]) == ("MaxCompute", "2022-01-04")
    assert event["eventRW"] == "Read"
    assert f"{made.project}.{TABLE}" in event["resourceName"]
    assert "errorCode" not in event
    outsider = maxcompute(running.server, made.outsider)
    _refused(lambda: outsider.get_table_info(made.project, TABLE, models.GetTableInfoRequest()))
    refused = _events(running, made.root, "GetTableInfo", "odps_outsider")
    assert [e["errorCode"] for e in refused][:1] == ["NoPermission"]
