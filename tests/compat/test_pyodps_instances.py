"""PyODPS from PyPI, unchanged, running SQL on the running server's MaxCompute endpoint: an
instance is a warehouse SQL job (same id, metered, audited, seen by GetSqlJob), its status and
summaries, its CSV result read without the tunnel, typed, stopping it, and MaxCompute's errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from compat_support import Fixture, Server
from odps import errors
from pyodps_support import Warehouse, client, make_warehouse, pyodps_state

from server_process import free_port
from trailhouse.client import RpcClient

ACCOUNT = "7777000012340021"
TABLE = "actiontrail_pyodps_instances_osprey"
# Five self-joins of the table: billions of rows, a job that runs until it is stopped.
LONG = (
    "SELECT SUM(LENGTH(a.event_id) + LENGTH(b.event_id) + LENGTH(c.event_id) + "
    "LENGTH(d.event_id) + LENGTH(e.event_id)) FROM {t} a CROSS JOIN {t} b CROSS JOIN {t} c "
    "CROSS JOIN {t} d CROSS JOIN {t} e"
)


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE)
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {"Project": made.project, "Principal": f"{ACCOUNT}/odps_reader", "Role": "Reader"},
        )
    with pyodps_state():
        yield made


def rpc(server: Server, warehouse: Warehouse) -> RpcClient:
    return RpcClient(server.url, warehouse.root.access_key_id, warehouse.root.access_key_secret)


def test_execute_sql_with_hints_reads_typed_rows(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    sql = (
        "SELECT event_name, COUNT(*) AS n, CAST(COUNT(*) AS DOUBLE) / 2 AS half, "
        "COUNT(*) > 1 AS many, CAST(NULL AS STRING) AS nothing, "
        "'a,b \"osprey\"' AS quoted, "
        "TO_DATE('2026-12-06 11:30:00', 'yyyy-mm-dd hh:mi:ss') AS moment "
        f"FROM {TABLE} WHERE ds >= '{warehouse.days[0]}' GROUP BY event_name ORDER BY event_name"
    )
    instance = odps.execute_sql(sql, hints={"odps.sql.allow.fullscan": "false"})
    assert instance.is_terminated() and instance.is_successful()
    assert instance.status.name == "TERMINATED"
    with instance.open_reader(tunnel=False) as reader:
        records = list(reader)
        raw = reader.raw
    assert raw.splitlines()[0] == "event_name,n,half,many,nothing,quoted,moment"
    assert "\\N" in raw  # MaxCompute's NULL
    assert sum(r["n"] for r in records) == warehouse.rows
    first = records[0]
    assert isinstance(first["n"], int) and isinstance(first["half"], float)
    assert first["half"] == first["n"] / 2
    assert first["many"] is (first["n"] > 1)
    assert first["nothing"] is None
    assert first["quoted"] == 'a,b "osprey"'
    assert first["moment"] == datetime(2026, 12, 6, 11, 30)  # a DATETIME reads back as one
    names = [r["event_name"] for r in records]
    assert names == sorted(names)
    # The instance is the warehouse job: same id, priced, and visible through the RPC API.
    with rpc(running.server, warehouse) as api:
        job = api.call("GetSqlJob", {"JobId": instance.id})["Job"]
        listed = api.call("ListSqlJobs", {"Project": warehouse.project})["Jobs"]
    assert instance.id in [j["JobId"] for j in listed]  # as `trailhouse warehouse jobs` lists
    assert job["Status"] == "Terminated" and job["Sql"] == sql + ";"  # PyODPS ends the query with ;
    assert job["InputBytes"] > 0 and job["CostUSD"] >= 0
    assert job["Project"] == warehouse.project


def test_the_hint_reaches_the_sql_engine(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    with pytest.raises(errors.ODPSError, match=r"\[1,\d+\] Semantic analysis exception") as err:
        odps.execute_sql(
            f"SELECT COUNT(*) FROM {TABLE}", hints={"odps.sql.allow.fullscan": "false"}
        )
    assert err.value.instance_id  # a failed instance, as MaxCompute reports it
    # Without the hint the same SQL runs.
    done = odps.execute_sql(f"SELECT COUNT(*) AS n FROM {TABLE}")
    with done.open_reader(tunnel=False) as reader:
        assert [r["n"] for r in reader] == [warehouse.rows]
    with pytest.raises(errors.ODPSError, match=r"unknown setting odps\.osprey\.nope"):
        odps.execute_sql(f"SELECT 1 FROM {TABLE}", hints={"odps.osprey.nope": "1"})


def test_run_sql_then_wait_status_and_summaries(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    instance = odps.run_sql(f"SELECT event_id FROM {TABLE} WHERE event_name = 'osprey_none'")
    assert len(instance.id) == 28 and instance.id[17] == "g"
    datetime.strptime(instance.id[:14], "%Y%m%d%H%M%S")
    instance.wait_for_success()
    statuses = instance.get_task_statuses()
    assert list(statuses) == ["AnonymousSQLTask"]
    task = statuses["AnonymousSQLTask"]
    assert task.status.name == "SUCCESS" and task.type == "SQL"
    assert task.start_time is not None and task.end_time is not None
    summary = instance.get_task_summary()
    assert summary["InputBytes"] > 0 and summary["Rows"] == 0
    assert "InputBytes:" in summary.summary_text
    assert instance.get_task_cost().input_size == summary["InputBytes"]
    assert instance.get_task_detail2()["Tasks"][0]["Status"] == "Success"
    assert instance.get_sql_query().startswith("SELECT event_id")
    with instance.open_reader(tunnel=False) as reader:
        assert list(reader) == []
    assert instance.get_task_result().splitlines() == ["event_id"]
    # Instances are reopened by id; the owner and times come back as MaxCompute's headers.
    again = odps.get_instance(instance.id)
    again.reload()
    assert again.owner == f"ALIYUN${ACCOUNT}" and again.end_time >= again.start_time
    link = instance.get_logview_address()
    assert link.startswith(running.server.url + "/logview/") and "aliyun.com" not in link
    assert instance.id in link
    # The link lands on the console's SQL workbench showing the job.
    with httpx.Client() as browser:
        landed = browser.get(link)
    assert landed.status_code == 303
    assert landed.headers["location"] == (
        f"/console/sql?project={warehouse.project}&job={instance.id}"
    )


def test_stop_a_long_instance(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    instance = odps.run_sql(LONG.format(t=TABLE))
    time.sleep(0.5)
    assert not instance.is_terminated()
    instance.stop()
    instance.wait_for_completion()
    task = instance.get_task_statuses()["AnonymousSQLTask"]
    assert task.status.name == "CANCELLED"
    with pytest.raises(errors.ODPSError, match="AnonymousSQLTask, status=CANCELLED"):
        instance.wait_for_success()
    with rpc(running.server, warehouse) as api:
        job = api.call("GetSqlJob", {"JobId": instance.id})["Job"]
    assert job["Status"] == "Cancelled" and job["CostUSD"] == 0


def test_a_syntax_error_is_a_parse_error_with_its_position(
    running: Fixture, warehouse: Warehouse
) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    with pytest.raises(errors.ParseError) as err:
        odps.execute_sql("SELECT event_id FROM WHERE osprey")
    assert err.value.code == "ODPS-0130161"
    assert err.value.instance_id
    assert "Parse exception" in str(err.value) and "[1," in str(err.value)
    with rpc(running.server, warehouse) as api:
        job = api.call("GetSqlJob", {"JobId": err.value.instance_id})["Job"]
    assert job["Status"] == "Failed" and job["CostUSD"] == 0


def test_a_semantic_error_names_the_column_and_where(
    running: Fixture, warehouse: Warehouse
) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    with pytest.raises(errors.ODPSError) as err:
        odps.execute_sql(f"SELECT osprey_nope FROM {TABLE}")
    assert err.value.code == "ODPS-0130071"
    assert err.value.instance_id
    assert "[1,8] Semantic analysis exception" in str(err.value)
    assert "osprey_nope" in str(err.value)
    with pytest.raises(errors.NoSuchTable):
        odps.execute_sql("SELECT 1 FROM actiontrail_osprey_missing")


def test_a_query_whose_data_fails_it_while_running_gets_maxcompute_s_runtime_code(
    running: Fixture, warehouse: Warehouse
) -> None:
    """A failure of the query's data, not of the server: MaxCompute's runtime code, so PyODPS
    raises an ODPSError with it rather than InternalServerError (ODPS-0010000)."""
    odps = client(running.server, warehouse.root, warehouse.project)
    with pytest.raises(errors.ODPSError) as err:
        # A regular expression built from the data: it fails on the first row read.
        odps.execute_sql(
            f"SELECT REGEXP_REPLACE(event_name, CONCAT('(', event_name), '') FROM {TABLE}"
        )
    assert not isinstance(err.value, errors.InternalServerError)
    assert err.value.code == "ODPS-0121095"
    assert "ODPS-0121095:Invalid argument - " in str(err.value)


def test_a_ram_user_without_membership_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    with RpcClient(
        running.server.url, warehouse.root.access_key_id, warehouse.root.access_key_secret
    ) as api:
        before = len(api.call("ListSqlJobs", {"MaxResults": "1000"})["Jobs"])
    outsider = client(running.server, warehouse.outsider, warehouse.project)
    with pytest.raises(errors.NoPermission, match="odps_outsider"):
        outsider.execute_sql(f"SELECT 1 FROM {TABLE}")
    member = client(running.server, warehouse.member, warehouse.project)
    instance = member.execute_sql(f"SELECT COUNT(*) AS n FROM {TABLE}")
    with instance.open_reader(tunnel=False) as reader:
        assert [r["n"] for r in reader] == [warehouse.rows]
    # The member's job is not another user's to read.
    with pytest.raises(errors.NoPermission, match="odps_outsider"):
        outsider.get_instance(instance.id).reload()
    with RpcClient(
        running.server.url, warehouse.root.access_key_id, warehouse.root.access_key_secret
    ) as api:
        after = len(api.call("ListSqlJobs", {"MaxResults": "1000"})["Jobs"])
    assert after == before + 1  # the member's; the refused outsider made none


def test_instances_are_audited(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    instance = odps.execute_sql(f"SELECT 'osprey_audit' AS w FROM {TABLE} LIMIT 1")
    deadline = time.time() + 20
    names: set[str] = set()
    with rpc(running.server, warehouse) as api:
        # The audit events are appended behind the answers: wait for both, not the first.
        while time.time() < deadline and not {"CreateInstance", "GetInstance"} <= names:
            found = api.call(
                "LookupEvents",
                {
                    "LookupAttribute.1.Key": "ResourceName",
                    "LookupAttribute.1.Value": instance.id,
                },
            )
            names = {e["eventName"] for e in found["Events"]}
            time.sleep(0.5)
    assert {"CreateInstance", "GetInstance"} <= names


def test_a_full_quota_queue_refuses_new_instances(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("pyodps-quota") / "data"
    server = Server(data_dir, free_port())
    server.start(env={"TRAILHOUSE_PAYG_CONCURRENCY": "1", "TRAILHOUSE_SQL_QUEUE_LIMIT": "1"})
    try:
        made = make_warehouse(server, ACCOUNT, TABLE, events=60)
        with pyodps_state():
            odps = client(server, made.root, made.project)
            running_one = odps.run_sql(LONG.format(t=TABLE))
            deadline = time.time() + 20
            while time.time() < deadline:
                task = running_one.get_task_statuses()["AnonymousSQLTask"]
                if task.status.name == "RUNNING":
                    break
                time.sleep(0.1)
            waiting = odps.run_sql(LONG.format(t=TABLE))
            with pytest.raises(errors.SlotExceeded, match="Quota exceeded"):
                odps.run_sql(f"SELECT 1 FROM {TABLE}")
            waiting.stop()
            running_one.stop()
            assert running_one.is_terminated() and waiting.is_terminated()
    finally:
        assert server.stop() == 0


def test_cost_sql_prices_through_execute_sql(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    instance = odps.execute_sql(f"COST SQL SELECT event_id FROM {TABLE}")
    with instance.open_reader(tunnel=False) as reader:
        priced = {r["Item"]: r["Value"] for r in reader}
    assert int(priced["Input"]) > 0 and priced["Cost"].endswith("USD")


def test_integer_result_types_are_maxcompute_2_types(
    running: Fixture, warehouse: Warehouse
) -> None:
    """An INT literal's sum is an INT, CAST keeps the type it names, COUNT is a BIGINT."""
    odps = client(running.server, warehouse.root, warehouse.project)
    instance = odps.execute_sql(
        "SELECT 1 + 1 AS i, CAST(2 AS SMALLINT) AS s, CAST(3 AS TINYINT) AS t, 10L AS b, "
        f"COUNT(*) AS n FROM {TABLE} WHERE ds >= '{warehouse.days[0]}'"
    )
    with instance.open_reader(tunnel=False) as reader:
        # PyODPS's CSV reader keeps the result's schema (the task result's) only here.
        types = [str(column.type).lower() for column in reader._schema.columns]
        (record,) = list(reader)
    assert types == ["int", "smallint", "tinyint", "bigint", "bigint"]
    assert [record["i"], record["s"], record["t"], record["b"]] == [2, 2, 3, 10]
