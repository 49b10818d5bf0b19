"""PyODPS from PyPI, unchanged, trying every write it has on an `actiontrail_*` project: creating
and dropping tables, INSERT, partitions, truncation, tunnel uploads (`open_writer`,
`write_table`). Each is refused with MaxCompute's permission error as PyODPS raises it
(`errors.NoPermission`), for the account's own root key and for an Admin member alike, and
nothing in the warehouse changes: the same partitions, rows and files afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_support import Fixture, Keys
from odps import ODPS, errors
from odps.tunnel import TableTunnel
from pyodps_support import Warehouse, client, make_warehouse, pyodps_state

from trailhouse.client import RpcClient

ACCOUNT = "7777000012340041"
TABLE = "actiontrail_pyodps_writes_heron"
ADMIN = "odps_outsider"  # made an Admin member of the project below


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE, events=30)
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {"Project": made.project, "Principal": f"{ACCOUNT}/{ADMIN}", "Role": "Admin"},
        )
    with pyodps_state():
        yield made


def _state(running: Fixture, warehouse: Warehouse) -> tuple[object, ...]:
    """What a write would change: the table list, partitions and rows, and the files on disk."""
    odps = client(running.server, warehouse.root, warehouse.project)
    table = odps.get_table(TABLE)
    partitions = sorted((str(p), p.record_num) for p in table.partitions)
    files = sorted(
        str(path.relative_to(running.server.data_dir))
        for path in Path(running.server.data_dir).rglob("*")
        if warehouse.project in str(path) and path.is_file()
    )
    tables = sorted(t.name for t in odps.list_tables())
    return tables, partitions, files


def _writes(day: str) -> list[tuple[str, Callable[[ODPS], object]]]:
    row = [["x"] * 4]
    return [
        ("create_table", lambda o: o.create_table("heron_results", "a string, n bigint")),
        (
            "create_table if_not_exists",
            lambda o: o.create_table(TABLE, "a string", if_not_exists=True),
        ),
        ("delete_table", lambda o: o.delete_table(TABLE)),
        ("delete_table if_exists", lambda o: o.delete_table("nothing_here", if_exists=True)),
        (
            "INSERT INTO",
            lambda o: o.execute_sql(f"INSERT INTO TABLE {TABLE} SELECT * FROM {TABLE}"),
        ),
        (
            "INSERT OVERWRITE",
            lambda o: o.execute_sql(
                f"INSERT OVERWRITE TABLE {TABLE} PARTITION (ds='{day}') "
                f"SELECT event, event_id FROM {TABLE} WHERE ds='{day}'"
            ),
        ),
        ("CTAS", lambda o: o.execute_sql(f"CREATE TABLE copied AS SELECT * FROM {TABLE}")),
        ("create_partition", lambda o: o.get_table(TABLE).create_partition("ds=20990101")),
        ("delete_partition", lambda o: o.get_table(TABLE).delete_partition(f"ds={day}")),
        ("truncate", lambda o: o.get_table(TABLE).truncate()),
        ("open_writer", lambda o: o.get_table(TABLE).open_writer(partition=f"ds={day}")),
        (
            "open_writer arrow",
            lambda o: o.get_table(TABLE).open_writer(partition=f"ds={day}", arrow=True),
        ),
        ("write_table", lambda o: o.write_table(TABLE, row, partition=f"ds={day}")),
        (
            "upload session",
            lambda o: TableTunnel(o).create_upload_session(TABLE, partition_spec=f"ds={day}"),
        ),
    ]


@pytest.mark.parametrize("who", ["root", "admin"])
def test_every_pyodps_write_into_a_delivery_project_is_refused_and_changes_nothing(
    running: Fixture, warehouse: Warehouse, who: str
) -> None:
    keys: Keys = warehouse.root if who == "root" else warehouse.outsider
    before = _state(running, warehouse)
    odps = client(running.server, keys, warehouse.project)
    refused = []
    for name, write in _writes(warehouse.days[0]):
        with pytest.raises(errors.NoPermission) as caught:
            write(odps)
        message = str(caught.value)
        assert "ActionTrail delivery" in message and warehouse.project in message, (name, message)
        assert "Traceback" not in message and "duckdb" not in message.lower()
        refused.append(name)
    assert len(refused) == len(_writes(""))
    assert _state(running, warehouse) == before


def test_a_write_naming_the_delivery_project_from_another_project_is_refused(
    running: Fixture, warehouse: Warehouse
) -> None:
    """The same refusal when the current project is another one and the SQL names the
    delivery project's table by `project.table`."""
    with RpcClient(
        running.server.url, warehouse.root.access_key_id, warehouse.root.access_key_secret
    ) as rpc:
        rpc.call("CreateProject", {"Project": "heron_analysis"})
    before = _state(running, warehouse)
    odps = client(running.server, warehouse.root, "heron_analysis")
    with pytest.raises(errors.NoPermission, match="ODPS-0130013"):
        odps.execute_sql(f"DROP TABLE {warehouse.project}.{TABLE}")
    with pytest.raises(errors.NoPermission, match="ODPS-0420095"):
        odps.get_table(TABLE, project=warehouse.project).open_writer(
            partition=f"ds={warehouse.days[0]}"
        )
    assert _state(running, warehouse) == before


def _upload_events(running: Fixture, warehouse: Warehouse) -> list[dict[str, Any]]:
    """The account's UploadTable audit events (waiting for the audit writer's batch)."""
    deadline = time.monotonic() + 10
    keys = warehouse.root
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        while True:
            found = rpc.call(
                "LookupEvents",
                {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": "UploadTable"},
            )["Events"]
            if found or time.monotonic() > deadline:
                return list(found)
            time.sleep(0.3)


def test_refused_uploads_are_audited_as_writes(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.root, warehouse.project)
    with pytest.raises(errors.NoPermission):
        odps.get_table(TABLE).open_writer(partition=f"ds={warehouse.days[0]}")
    events = _upload_events(running, warehouse)
    assert events
    assert all(e["eventRW"] == "Write" and e["errorCode"] == "NoPermission" for e in events)
    assert all(f"{warehouse.project}.{TABLE}" in e["resourceName"] for e in events)


def test_uploads_into_a_project_of_ones_own_need_a_table_and_write(
    running: Fixture, warehouse: Warehouse
) -> None:
    """Into a project of the account's own (whose SQL writes test_pyodps_own_project.py runs),
    an upload into a table nobody has is NoSuchObject and a Reader member lacks Write; nothing
    is created."""
    with RpcClient(
        running.server.url, warehouse.root.access_key_id, warehouse.root.access_key_secret
    ) as rpc:
        rpc.call("CreateProject", {"Project": "heron_scratch"})
        rpc.call(
            "SetProjectMember",
            {"Project": "heron_scratch", "Principal": f"{ACCOUNT}/odps_reader", "Role": "Reader"},
        )
    odps = client(running.server, warehouse.root, "heron_scratch")
    with pytest.raises(errors.NoSuchObject):
        TableTunnel(odps).create_upload_session("kept")
    reader = client(running.server, warehouse.member, "heron_scratch")
    with pytest.raises(errors.NoPermission, match="no Write privilege"):
        TableTunnel(reader).create_upload_session("kept")
    assert [t.name for t in odps.list_tables()] == []
