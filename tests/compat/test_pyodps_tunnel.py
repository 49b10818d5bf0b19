"""PyODPS from PyPI, unchanged, reading a delivered table through the running server's tunnel:
`open_reader` (protobuf records with their CRC32C checksums, and Arrow), `read_table`,
`to_pandas`, row ranges, columns, who may read, and the tunnel's refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pandas as pd
import pytest
import requests
from compat_support import Fixture, run_sql_job
from odps import ODPS, errors, options
from odps.accounts import AliyunAccount
from odps.tunnel import TableTunnel
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient
from trailhouse.warehouse.schema import current

ACCOUNT = "7777000012340029"
TABLE = "actiontrail_pyodps_tunnel_osprey"
COLUMNS = list(current().names)


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE, events=150)
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {"Project": made.project, "Principal": f"{ACCOUNT}/odps_reader", "Role": "Reader"},
        )
    with pyodps_state():
        retry_times = options.retry_times
        options.retry_times = 0  # a refusal is final: no need to ask four times
        try:
            yield made
        finally:
            options.retry_times = retry_times


def _sql_frame(fixture: Fixture, warehouse: Warehouse, ds: str, columns: list[str]) -> Any:
    """The partition's rows as SQL answers them, in the delivery order (by event id apart)."""
    job, names, rows = run_sql_job(
        fixture.server,
        warehouse.root,
        warehouse.project,
        f"SELECT {', '.join(columns)} FROM {TABLE} WHERE ds = '{ds}';",
    )
    assert job["Status"] == "Terminated", job
    return pd.DataFrame(rows, columns=names)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("event_id").reset_index(drop=True)


def _odps(fixture: Fixture, warehouse: Warehouse) -> ODPS:
    return client(fixture.server, warehouse.member, warehouse.project)


def test_the_tunnel_is_this_server(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    tunnel = TableTunnel(odps)
    host = running.server.url.removeprefix("http://")
    assert tunnel.tunnel_rest.endpoint == f"http://{host}/api"


def test_a_partition_read_as_records_equals_sql(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    table = odps.get_table(TABLE)
    day = warehouse.days[-1]
    expected = _sql_frame(running, warehouse, day, COLUMNS)
    with table.open_reader(partition=f"ds='{day}'") as reader:
        assert reader.count == len(expected) == table.get_partition(f"ds={day}").record_num
        records = list(reader)
    assert [r["ds"] for r in records] == [day] * len(records)  # appended by PyODPS
    read = pd.DataFrame([[r[c] for c in COLUMNS] for r in records], columns=COLUMNS)
    pd.testing.assert_frame_equal(_by_id(read), _by_id(expected))
    # read_table: the same rows, and the same order as any other read of the partition
    again = [r["event_id"] for r in odps.read_table(TABLE, partition=f"ds={day}")]
    assert again == [r["event_id"] for r in records]


def test_arrow_to_pandas_equals_sql(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    table = odps.get_table(TABLE)
    for day in warehouse.days:
        expected = _sql_frame(running, warehouse, day, COLUMNS)
        with table.open_reader(partition=f"ds={day}", arrow=True) as reader:
            frame = reader.to_pandas()
        assert list(frame.columns) == COLUMNS
        pd.testing.assert_frame_equal(_by_id(frame), _by_id(expected))
        by_table = table.to_pandas(partition=f"ds={day}")
        pd.testing.assert_frame_equal(by_table, frame)


def test_row_ranges_and_columns(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    table = odps.get_table(TABLE)
    # The middle of the three days is a whole day at any hour; the newest may be minutes old.
    day = warehouse.days[len(warehouse.days) // 2]
    with table.open_reader(partition=f"ds={day}", reopen=True) as reader:
        every = [r["event_id"] for r in reader]
        assert len(every) > 10
        middle = [r["event_id"] for r in reader.read(start=3, count=5)]
        assert middle == every[3:8]
        tail = [r["event_id"] for r in reader[len(every) - 2 :]]
        assert tail == every[-2:]
    chosen = ["event_name", "event_id"]  # not the table's order
    with table.open_reader(partition=f"ds={day}", columns=chosen) as reader:
        records = list(reader.read(start=1, count=4))
    assert [r.values for r in records] == [
        list(v) for v in _sql_rows(running, warehouse, day, chosen, every[1:5])
    ]
    for arrow in (True, False):  # to_pandas over Arrow, and over protobuf records
        with table.open_reader(partition=f"ds={day}", arrow=arrow, columns=chosen) as reader:
            frame = reader.to_pandas(start=2, count=3)
        assert list(frame.columns) == chosen
        assert list(frame["event_id"]) == every[2:5]


def _sql_rows(
    fixture: Fixture, warehouse: Warehouse, day: str, columns: list[str], ids: list[str]
) -> list[list[str]]:
    frame = _sql_frame(fixture, warehouse, day, columns).set_index("event_id", drop=False)
    return [list(frame.loc[i, columns]) for i in ids]


def test_a_ram_user_without_membership_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    odps = client(running.server, warehouse.outsider, warehouse.project)
    tunnel = TableTunnel(odps)
    with pytest.raises(errors.NoPermission, match="odps_outsider") as caught:
        tunnel.create_download_session(TABLE, partition_spec=f"ds={warehouse.days[0]}")
    assert "Reader" in str(caught.value)


def _raw(running: Fixture, warehouse: Warehouse, method: str, query: str) -> requests.Response:
    """A request signed by PyODPS's own signer with the member's key, answered as is."""
    base = endpoint(running.server)
    url = f"{base}/projects/{warehouse.project}/tables/{TABLE}?{query}"
    headers = {"Date": formatdate(usegmt=True)}
    prepared = requests.Request(method, url, headers=headers).prepare()
    AliyunAccount(warehouse.member.access_key_id, warehouse.member.access_key_secret).sign_request(
        prepared, base
    )
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


BAD_INPUT = [
    ("POST", "downloads&partition=ds%3D19990101", 404, "NoSuchPartition", "ds='19990101'"),
    ("POST", "downloads", 400, "MissingPartitionSpec", "name the partition"),
    ("POST", "downloads&partition=pt%3Dx", 400, "InvalidPartitionSpec", "ds='YYYYMMDD'"),
    ("GET", "downloadid=20260101ABCDEF&data&rowrange=(0,1)", 404, "NoSuchDownload", "open_reader"),
    ("GET", "downloadid=20260101ABCDEF", 404, "NoSuchDownload", "DownloadID"),
]


@pytest.mark.parametrize(("method", "query", "status", "code", "says"), BAD_INPUT)
def test_bad_session_input_is_refused(
    running: Fixture,
    warehouse: Warehouse,
    method: str,
    query: str,
    status: int,
    code: str,
    says: str,
) -> None:
    answer = _raw(running, warehouse, method, query)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["Code"] == code
    assert says in body["Message"]
    assert body["RequestId"] == answer.headers["x-odps-request-id"]


def test_bad_reads_are_refused(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    day = warehouse.days[0]
    session = TableTunnel(odps).create_download_session(TABLE, partition_spec=f"ds={day}")
    rows = session.count
    bad = [
        (f"rowrange=({rows},1)", "InvalidRowRange", f"holds {rows} rows"),
        (f"rowrange=(0,{rows + 1})", "InvalidRowRange", "at most"),
        ("rowrange=(-1,2)", "InvalidRowRange", "(start,count)"),
        ("rowrange=(0,1)&columns=event_id,nope_osprey", "InvalidColumnSpec", "nope_osprey"),
        ("rowrange=(0,1)&columns=ds", "InvalidColumnSpec", "partition"),
    ]
    for query, code, says in bad:
        answer = _raw(running, warehouse, "GET", f"downloadid={session.id}&data&{query}")
        assert answer.status_code == 400, answer.text
        assert answer.json()["Code"] == code, query
        assert says in answer.json()["Message"], query
    # PyODPS surfaces them as its own errors, with the code.
    with pytest.raises(errors.ODPSError) as caught, session.open_record_reader(rows, 1) as reader:
        list(reader)
    assert caught.value.code == "InvalidRowRange"


def _events(running: Fixture, warehouse: Warehouse, user: str) -> list[dict[str, Any]]:
    """The account's DownloadTable audit events by RAM user `user` (waiting for the audit
    writer's batch)."""
    deadline = time.monotonic() + 10
    keys = warehouse.root
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        while True:
            found = rpc.call(
                "LookupEvents",
                {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": "DownloadTable"},
            )["Events"]
            mine = [e for e in found if e["userIdentity"].get("userName") == user]
            if mine or time.monotonic() > deadline:
                return mine
            time.sleep(0.3)


def test_downloads_are_audited(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    with odps.get_table(TABLE).open_reader(partition=f"ds={warehouse.days[0]}") as reader:
        assert len(list(reader.read(count=1))) == 1
    mine = _events(running, warehouse, "odps_reader")
    assert mine
    assert all(e["serviceName"] == "MaxCompute" and e["eventRW"] == "Read" for e in mine)
    assert all(f"{warehouse.project}.{TABLE}" in e["resourceName"] for e in mine)
    assert any("errorCode" not in e for e in mine)
    # A refused download is an event too, with the tunnel's code.
    outsider = TableTunnel(client(running.server, warehouse.outsider, warehouse.project))
    with pytest.raises(errors.NoPermission):
        outsider.create_download_session(TABLE, partition_spec=f"ds={warehouse.days[0]}")
    refused = _events(running, warehouse, "odps_outsider")
    assert [e.get("errorCode") for e in refused][:1] == ["NoPermission"]


def test_head_and_compressed_reads(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    table = odps.get_table(TABLE)
    day = warehouse.days[-1]
    with table.open_reader(partition=f"ds={day}") as reader:
        records = [r.values for r in reader.read(count=3)]
    first = [r[COLUMNS.index("event_id")] for r in records]
    assert any(None in r for r in records)  # NULLs (no errorCode) come back as None
    assert [r.values for r in table.head(3, partition=f"ds={day}")] == records
    columns = ["event_name", "ds"]
    assert [r.values for r in table.head(2, partition=f"ds={day}", columns=columns)] == [
        [r[COLUMNS.index("event_name")], day] for r in records[:2]
    ]
    oldest = warehouse.days[0]  # no partition: the oldest partition's rows first
    assert {r["ds"] for r in table.head(2)} == {oldest}
    # compress=True asks for a compressed body; the answer is plain, and PyODPS takes it.
    rows = list(odps.read_table(TABLE, partition=f"ds={day}", limit=3, compress=True))
    assert [r["event_id"] for r in rows] == first
