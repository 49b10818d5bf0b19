"""PyODPS from PyPI, unchanged, against the running server's MaxCompute endpoint (`/api`):
projects, tables with their schema, partitions, the `default` schema path, who sees what, and
how refusals surface as PyODPS's own exception classes."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from compat_support import Fixture, Keys
from odps import errors, options
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient
from trailhouse.warehouse.schema import current

ACCOUNT = "7777000012340019"
TABLE = "actiontrail_pyodps_catalog_kestrel"


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE)
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {
                "Project": made.project,
                "Principal": f"{ACCOUNT}/odps_reader",
                "Role": "Reader",
            },
        )
    with pyodps_state():
        yield made


def test_projects_are_listed_got_and_checked(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    # PyODPS asked where Logview lives on start-up: here, not at logview.aliyun.com.
    assert odps.logview_host == running.server.url
    assert [p.name for p in odps.list_projects()] == [warehouse.project]
    project = odps.get_project()
    project.reload()
    assert project.owner == f"ALIYUN${ACCOUNT}"
    assert project.region_id == "cn-hangzhou"
    assert project.status.name == "AVAILABLE"
    assert project.properties["odps.sql.timezone"] == "Asia/Shanghai"  # cn-hangzhou's default
    assert abs(project.creation_time - datetime.now()).total_seconds() < 3600
    assert odps.exist_project(warehouse.project)
    assert not odps.exist_project("no_such_project_kestrel")
    with pytest.raises(errors.NoSuchObject, match="ODPS-0420111"):
        odps.get_project("no_such_project_kestrel").reload()


def test_tables_carry_the_warehouse_schema(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    assert [t.name for t in odps.list_tables()] == [TABLE]
    assert [t.name for t in odps.list_tables(prefix="actiontrail_pyodps")] == [TABLE]
    assert list(odps.list_tables(prefix="zz")) == []
    assert odps.exist_table(TABLE)
    assert not odps.exist_table("actiontrail_no_such_table_kestrel")
    table = odps.get_table(TABLE)
    schema = current()
    assert [c.name for c in table.table_schema.simple_columns] == [c.name for c in schema.columns]
    assert [str(c.type).upper() for c in table.table_schema.simple_columns] == [
        c.odps_type for c in schema.columns
    ]
    assert [c.comment for c in table.table_schema.simple_columns] == [
        c.comment for c in schema.columns
    ]
    assert [(p.name, str(p.type)) for p in table.table_schema.partitions] == [("ds", "STRING")]
    assert table.record_num == warehouse.rows
    assert table.size > 0
    assert table.type.name == "MANAGED_TABLE"
    assert table.comment
    assert table.creation_time <= table.last_data_modified_time
    assert table.file_num >= len(warehouse.days)  # `?extended`
    assert table.physical_size == table.size
    with pytest.raises(errors.NoSuchObject, match="ODPS-0130131"):
        odps.get_table("actiontrail_no_such_table_kestrel").reload()


def test_partitions_are_the_delivered_days(running: Fixture, warehouse: Warehouse) -> None:
    table = client(running.server, warehouse.root, warehouse.project).get_table(TABLE)
    listed = list(table.partitions)
    assert [p.partition_spec["ds"] for p in listed] == list(warehouse.days)
    assert sum(p.record_num for p in listed) == warehouse.rows
    newest = warehouse.days[-1]
    assert next(p.partition_spec["ds"] for p in table.iterate_partitions(reverse=True)) == newest
    assert table.exist_partition(f"ds={newest}")
    assert not table.exist_partition("ds=19990101")
    got = table.get_partition(f"ds={newest}")
    assert got.record_num == next(p.record_num for p in listed if p.partition_spec["ds"] == newest)
    assert got.size > 0
    assert got.file_num >= 1 and got.physical_size == got.size  # `?extended`
    assert table.exist_partitions()
    assert table.get_max_partition().partition_spec["ds"] == newest
    with pytest.raises(errors.NoSuchPartition):
        table.get_partition("ds=19990101").reload()
    with pytest.raises(errors.InvalidArgument, match="one partition column, ds"):
        client(running.server, warehouse.root, warehouse.project).rest.get(
            f"{endpoint(running.server)}/projects/{warehouse.project}/tables/{TABLE}",
            params={"partition": "pt='1'"},
        )


def test_pages_follow_the_marker(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    url = f"{endpoint(running.server)}/projects/{warehouse.project}/tables/{TABLE}"
    seen: list[str] = []
    marker = ""
    for _ in range(len(warehouse.days) + 1):
        params = {"partitions": "", "expectmarker": "true", "maxitems": "1"}
        if marker:
            params["marker"] = marker
        answer = odps.rest.get(url, params=params).content
        page = ET.fromstring(answer)  # noqa: S314 (the test server's own answer)
        seen += [c.get("Value", "") for c in page.iter("Column")]
        marker = page.findtext("Marker") or ""
        if not marker:
            break
    assert seen == list(warehouse.days)
    with pytest.raises(errors.InvalidArgument, match="maxitems"):
        odps.rest.get(url, params={"partitions": "", "maxitems": "0"})


BAD_INPUT = [
    # (method, path after the project, parameters, PyODPS's class, code, status, message part)
    ("GET", f"/tables/{TABLE}", {"partition": "pt='1'"}, "InvalidArgument", 400, "ds="),
    (
        "GET",
        f"/tables/{TABLE}",
        {"partitions": "", "maxitems": "0"},
        "InvalidArgument",
        400,
        "maxitems",
    ),
    ("GET", "/tables", {"marker": "%%%"}, "InvalidArgument", 400, "Marker of the previous"),
    ("GET", f"/tables/{TABLE}", {"partition": "ds='x'"}, "NoSuchPartition", 404, "ds='x'"),
    ("GET", f"/tables/{TABLE}", {"curr_schema": "nope"}, "NoSuchObject", 404, "one schema"),
    ("GET", "/instances", {}, "MethodNotAllowed", 405, "docs/pyodps.md"),
    ("POST", "/tables", {}, "NoPermission", 403, "ActionTrail delivery"),
    ("POST", "/instances", {}, "InvalidArgument", 400, "not well-formed XML"),
    ("DELETE", f"/tables/{TABLE}", {}, "NoPermission", 403, "ODPS-0420095:Access Denied"),
    ("PUT", "/tables/nope", {}, "NoPermission", 403, "ActionTrail delivery"),
    ("POST", f"/tables/{TABLE}", {"uploads": ""}, "NoPermission", 403, "upload into table"),
]


@pytest.mark.parametrize(("method", "path", "params", "name", "status", "says"), BAD_INPUT)
def test_bad_input_gets_maxcompute_codes(
    running: Fixture,
    warehouse: Warehouse,
    method: str,
    path: str,
    params: dict[str, str],
    name: str,
    status: int,
    says: str,
) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    url = f"{endpoint(running.server)}/projects/{warehouse.project}{path}"
    with pytest.raises(errors.ODPSError) as refused:
        odps.rest.request(url, method, params=params)
    assert type(refused.value).__name__ == name
    assert refused.value.status_code == status
    assert says in str(refused.value)
    assert "Traceback" not in str(refused.value) and "trailhouse." not in str(refused.value)
    assert odps.get_table(TABLE).record_num == warehouse.rows  # nothing changed


def test_the_default_schema_path_answers_the_same(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    base = f"{endpoint(running.server)}/projects/{warehouse.project}"
    two_tier = odps.rest.get(f"{base}/tables/{TABLE}").content
    three_tier = odps.rest.get(f"{base}/schemas/default/tables/{TABLE}").content
    assert two_tier == three_tier
    listed = odps.rest.get(f"{base}/schemas/default/tables").content
    assert f"<Name>{TABLE}</Name>".encode() in listed
    with pytest.raises(errors.NoSuchObject, match="one schema"):
        odps.rest.get(f"{base}/schemas/other/tables/{TABLE}")
    options.enable_schema = True
    try:
        schemaful = client(running.server, warehouse.root, warehouse.project)
        assert [t.name for t in schemaful.list_tables()] == [TABLE]
        assert schemaful.exist_table(f"default.{TABLE}")
        assert schemaful.get_table(TABLE).table_schema.partitions[0].name == "ds"
        assert schemaful.exist_schema("default")
        assert not schemaful.exist_schema("other")
    finally:
        options.enable_schema = False


def test_v4_signatures_are_accepted(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project, region_name="cn-hangzhou")
    assert [t.name for t in odps.list_tables()] == [TABLE]
    assert odps.rest.endpoint not in type(odps.rest)._endpoints_without_v4_sign


def test_a_member_ram_user_sees_its_project(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.member, warehouse.project)
    assert [p.name for p in odps.list_projects()] == [warehouse.project]
    assert odps.exist_table(TABLE)
    assert odps.get_table(TABLE).record_num == warehouse.rows


def test_a_ram_user_without_membership_sees_nothing(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.outsider, warehouse.project)
    assert list(odps.list_projects()) == []
    # The project exists: exist_* raise the refusal instead of answering False.
    with pytest.raises(errors.NoPermission, match="odps_outsider") as refused:
        odps.exist_project(warehouse.project)
    assert refused.value.status_code == 403
    with pytest.raises(errors.NoPermission):
        odps.exist_table(TABLE)
    with pytest.raises(errors.NoPermission):
        list(odps.list_tables())


def test_an_unknown_key_is_invalid_credentials(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(
        running.server,
        type(warehouse.root)(ACCOUNT, "LTAIkestrelNoSuchKey00", "x" * 30),
        warehouse.project,
    )
    with pytest.raises(errors.InvalidParameter, match="ODPS-0410051") as refused:
        odps.exist_project(warehouse.project)
    assert (refused.value.code, refused.value.status_code) == ("InvalidParameter", 401)


def test_a_wrong_secret_is_signature_not_match(running: Fixture, warehouse: Warehouse) -> None:
    wrong = type(warehouse.root)(ACCOUNT, warehouse.root.access_key_id, "not-the-secret")
    odps = client(running.server, wrong, warehouse.project)
    with pytest.raises(errors.SignatureNotMatch, match="ODPS-0410042") as refused:
        odps.exist_table(TABLE)
    assert refused.value.status_code == 401
    assert refused.value.request_id


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


def test_catalog_calls_are_audited(running: Fixture, warehouse: Warehouse) -> None:
    client(running.server, warehouse.member, warehouse.project).get_table(TABLE).reload()
    mine = _events(running, warehouse.root, "GetTable", "odps_reader")
    assert mine
    event = mine[0]
    assert event["serviceName"] == "MaxCompute"
    assert event["eventRW"] == "Read"
    assert f"{warehouse.project}.{TABLE}" in event["resourceName"]
    assert "errorCode" not in event


def test_refused_catalog_calls_are_audited_with_their_code(
    running: Fixture, warehouse: Warehouse
) -> None:
    with pytest.raises(errors.NoPermission):
        client(running.server, warehouse.outsider, warehouse.project).get_project().reload()
    mine = _events(running, warehouse.root, "GetProject", "odps_outsider")
    assert [e["errorCode"] for e in mine][:1] == ["NoPermission"]
    assert "ODPS-0130013" in mine[0]["errorMessage"]
